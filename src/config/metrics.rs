//! `[metrics]`: the Prometheus endpoint (`/metrics`), served on a listener
//! of its own so that the public listener never shows it.

use serde::Deserialize;

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether `/metrics` is served. Default true.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Address and port of the metrics listener. Default `127.0.0.1:9464`
    /// (loopback: a Prometheus elsewhere needs it opened on purpose).
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_enabled() -> bool {
    true
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            listen: default_listen(),
        }
    }
}

/// Adds the problems of a read `[metrics]` section.
pub(super) fn check(
    metrics: &MetricsConfig,
    server_listen: Option<&str>,
    problems: &mut Vec<(String, String)>,
) {
    if !metrics.enabled {
        return;
    }
    let Ok(addr) = metrics.listen.parse::<std::net::SocketAddr>() else {
        problems.push((
            "metrics.listen".into(),
            format!("{:?} is not an address:port", metrics.listen),
        ));
        return;
    };
    if server_listen.and_then(|s| s.parse::<std::net::SocketAddr>().ok()) == Some(addr) {
        problems.push((
            "metrics.listen".into(),
            format!("{addr} is server.listen: the metrics need a listener of their own"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_listener_is_an_address_of_its_own() {
        let mut problems = Vec::new();
        check(
            &MetricsConfig::default(),
            Some("127.0.0.1:8080"),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let bad = MetricsConfig {
            enabled: true,
            listen: "9464".into(),
        };
        check(&bad, None, &mut problems);
        let same = MetricsConfig {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
        };
        check(&same, Some("127.0.0.1:8080"), &mut problems);
        let off = MetricsConfig {
            enabled: false,
            listen: "nonsense".into(),
        };
        check(&off, None, &mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|(k, _)| k == "metrics.listen"));
        assert!(problems[0].1.contains("\"9464\""), "{problems:?}");
    }
}
