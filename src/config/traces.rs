//! `[traces]`: OpenTelemetry traces sent over OTLP (HTTP, protobuf) to the
//! hospital's collector. Off by default.

use serde::Deserialize;

/// `[traces]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// Whether traces are sent. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// The collector's OTLP/HTTP traces URL. Default
    /// `http://127.0.0.1:4318/v1/traces` (a collector on the same machine).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// The share of traces kept, from 0.0 to 1.0. Default 0.1: a tenth
    /// shows where time goes at any load and costs next to nothing; every
    /// trace (1.0) costs about 15 % more CPU per OpenID flow at full load
    /// (docs/operations.md, "Traces").
    /// A trace carried on from an earlier request (the token exchange of a
    /// code, the end of a login) follows the decision taken at its start.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// The `service.name` the traces carry. Default `clavis`; a cluster
    /// can tell its nodes apart with `service.instance.id` (the host name,
    /// sent too).
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// How long one export may take, in seconds. Default 10.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_endpoint() -> String {
    "http://127.0.0.1:4318/v1/traces".into()
}
fn default_sample_ratio() -> f64 {
    0.1
}
fn default_service_name() -> String {
    "clavis".into()
}
fn default_timeout_secs() -> u64 {
    10
}

impl Default for TracesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: default_endpoint(),
            sample_ratio: default_sample_ratio(),
            service_name: default_service_name(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

/// Adds the problems of a read `[traces]` section.
pub(super) fn check(traces: &TracesConfig, problems: &mut Vec<(String, String)>) {
    match url::Url::parse(&traces.endpoint) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => problems.push((
            "traces.endpoint".into(),
            // Not repeated: it holds a credential.
            "must not hold a user or password (they would be logged with every export error)"
                .into(),
        )),
        Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
        Ok(u) if u.scheme() == "http" && is_loopback(&u) => {}
        Ok(u) if u.scheme() == "http" => problems.push((
            "traces.endpoint".into(),
            format!(
                "{:?}: plain http only to this machine (a collector on 127.0.0.1); another host needs https",
                traces.endpoint
            ),
        )),
        _ => problems.push((
            "traces.endpoint".into(),
            format!(
                "{:?} is not an http(s) URL (e.g. http://127.0.0.1:4318/v1/traces)",
                traces.endpoint
            ),
        )),
    }
    if !(0.0..=1.0).contains(&traces.sample_ratio) {
        problems.push((
            "traces.sample_ratio".into(),
            format!("{} must be between 0.0 and 1.0", traces.sample_ratio),
        ));
    }
    if traces.service_name.trim().is_empty() {
        problems.push(("traces.service_name".into(), "must not be empty".into()));
    }
    if !(1..=300).contains(&traces.timeout_secs) {
        problems.push((
            "traces.timeout_secs".into(),
            format!("{} must be between 1 and 300", traces.timeout_secs),
        ));
    }
}

/// Whether `u` names this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_value_is_named() {
        let mut problems = Vec::new();
        check(&TracesConfig::default(), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let bad = TracesConfig {
            enabled: true,
            endpoint: "127.0.0.1:4318".into(),
            sample_ratio: 1.5,
            service_name: " ".into(),
            timeout_secs: 0,
        };
        check(&bad, &mut problems);
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "traces.endpoint",
                "traces.sample_ratio",
                "traces.service_name",
                "traces.timeout_secs"
            ]
        );
        assert!(problems[0].1.contains("\"127.0.0.1:4318\""), "{problems:?}");
    }

    #[test]
    fn plain_http_only_to_this_machine_and_never_a_credential() {
        let with = |endpoint: &str| {
            let mut problems = Vec::new();
            check(
                &TracesConfig {
                    endpoint: endpoint.into(),
                    ..TracesConfig::default()
                },
                &mut problems,
            );
            problems
        };
        for ok in [
            "http://127.0.0.1:4318/v1/traces",
            "http://localhost:4318/v1/traces",
            "http://[::1]:4318/v1/traces",
            "https://otel.chu-exemple.fr/v1/traces",
        ] {
            assert!(with(ok).is_empty(), "{ok}: {:?}", with(ok));
        }
        let remote = with("http://otel.chu-exemple.fr:4318/v1/traces");
        assert!(
            remote[0].1.contains("another host needs https"),
            "{remote:?}"
        );
        let secret = with("https://clavis:s3cr3t@otel.chu-exemple.fr/v1/traces");
        assert_eq!(secret.len(), 1);
        assert!(!secret[0].1.contains("s3cr3t"), "{secret:?}");
    }
}
