//! `[database]`: the database URL and pool size. `Debug` never shows the URL (it may
//! carry a password).

use serde::Deserialize;
use std::fmt;

/// `[database]`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` or `sqlite://PATH`. Default: `clavis.db` in the state
    /// directory. Override with `CLAVIS_DATABASE_URL` (keeps passwords out
    /// of the file).
    #[serde(default)]
    pub url: Option<String>,
    /// Pool size. Default 8.
    #[serde(default)]
    pub max_connections: Option<usize>,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_ref().map(|_| "[redacted]"))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Adds the problems of a read `[database]` section.
pub(super) fn check(database: &DatabaseConfig, problems: &mut Vec<(String, String)>) {
    if let Some(u) = &database.url
        && let Err(e) = clavis_store::Db::open(u, 1)
    {
        problems.push(("database.url".into(), e.to_string()));
    }
    if database.max_connections == Some(0) {
        problems.push((
            "database.max_connections".into(),
            "must be at least 1".into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    #[test]
    fn debug_output_never_shows_the_database_password() {
        let c = parse(
            "[database]\nurl = \"postgres://clavis:s3cret@db/clavis\"\n",
            "t.toml",
        )
        .expect("valid");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
