//! Carrying a trace from one request to the next.
//!
//! A login (its start, then its answer) and an OpenID flow (the
//! authorisation that issues a code, then the token exchange) span several
//! HTTP requests, each its own `request` span. To make each flow one trace,
//! the first request stores its trace context with the flow's own state
//! ([`current`]: a W3C `traceparent`, in the code's row or the sealed login)
//! and the later one does its work in a span that continues it
//! ([`continued`]), linked to the later request's own span and carrying its
//! `request.id`.
//!
//! When traces are off (no OpenTelemetry layer), or the flow was not
//! sampled, there is nothing to store and the span is an ordinary child of
//! the request: the same code runs either way.
//!
//! Spans made for the traces only (a transaction, a
//! signature) have the target [`TARGET`]: the logs leave them out, so a log
//! line names the request (and its id) as before, and when traces are off
//! no layer wants them and they cost next to nothing.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of the spans made for the traces only (see above).
pub const TARGET: &str = "clavis::trace";

/// The current span's trace as a W3C `traceparent`
/// (`00-<trace id>-<span id>-01`), when it is sent to a collector (traces
/// on and this trace sampled).
pub fn current() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    (sc.is_valid() && sc.is_sampled()).then(|| format!("00-{}-{}-01", sc.trace_id(), sc.span_id()))
}

/// `span` (not yet entered), made to continue the trace `parent` stored by
/// an earlier request ([`current`]) when there is one and it is well
/// formed; linked to the current request's span and given its
/// `request.id`. Without a parent it is returned as it is: a child of the
/// current span.
pub fn continued(span: tracing::Span, parent: Option<&str>) -> tracing::Span {
    let Some(remote) = parent.and_then(parse) else {
        return span;
    };
    let here = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .clone();
    let cx = opentelemetry::Context::new().with_remote_span_context(remote);
    if span.set_parent(cx).is_ok() {
        if here.is_valid() {
            span.add_link(here);
        }
        if let Ok(id) = crate::REQUEST_ID.try_with(Clone::clone) {
            span.set_attribute("request.id", id);
        }
    }
    span
}

/// A sampled `traceparent` of version 00, or nothing.
fn parse(tp: &str) -> Option<SpanContext> {
    let mut parts = tp.split('-');
    let (Some("00"), Some(t), Some(s), Some(f), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if t.len() != 32 || s.len() != 16 || f.len() != 2 {
        return None;
    }
    let trace_id = TraceId::from_hex(t).ok()?;
    let span_id = SpanId::from_hex(s).ok()?;
    let flags = u8::from_str_radix(f, 16).ok()?;
    let sc = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    (sc.is_valid() && sc.is_sampled()).then_some(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sampled_version_00_traceparent_is_carried_on() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse(tp).expect("a valid traceparent");
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_remote());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn without_traces_nothing_is_stored_and_the_span_stays_as_it_is() {
        // No OpenTelemetry layer here: no trace context to store.
        assert_eq!(current(), None);
        let span = tracing::info_span!("x");
        let same = continued(span.clone(), None);
        assert_eq!(same.id(), span.id());
    }
}
