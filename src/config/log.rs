//! `[log]`: the level (or tracing filter) and format of the logs.

use serde::Deserialize;

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or a tracing filter. Default `info`.
    #[serde(default = "default_level")]
    pub level: String,
    /// `text` or `json`. Default `text`.
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_level() -> String {
    "info".into()
}
fn default_format() -> String {
    "text".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: default_format(),
        }
    }
}

/// Adds the problems of a read `[log]` section.
pub(super) fn check(log: &LogConfig, problems: &mut Vec<(String, String)>) {
    if !matches!(log.format.as_str(), "text" | "json") {
        problems.push((
            "log.format".into(),
            format!("{:?} must be \"text\" or \"json\"", log.format),
        ));
    }
    if tracing_subscriber::EnvFilter::try_new(&log.level).is_err() {
        problems.push((
            "log.level".into(),
            format!("{:?} is not a log level or filter", log.level),
        ));
    }
}
