//! `clavis.toml`: loading, environment overrides, validation with every
//! problem reported by key path and line.
//!
//! The file is optional: without one, Clavis runs on its embedded default
//! (SQLite under `./clavis-data`, listening on 127.0.0.1:8080).
//!
//! Here: the whole [`Config`], [`parse`] and [`load`]. One file per section for the
//! rest: `server.rs`, `database.rs`, `log.rs`, `metrics.rs` and `traces.rs` define the sections the binary owns;
//! `directory.rs` reads `[directory]` with its `[[directory.sources]]`; `sso.rs`,
//! `authn.rs`, `oidc.rs` and `badge.rs` check the sections whose types their crates
//! define. `problems.rs` turns what is wrong into [`Problem`]s with key path and line.

mod authn;
mod badge;
mod database;
mod directory;
mod log;
mod metrics;
mod oidc;
mod problems;
mod psc;
mod server;
mod sso;
mod traces;

use clavis_directory::DirectoryConfig;
use std::path::{Path, PathBuf};

pub use database::DatabaseConfig;
pub use log::LogConfig;
pub use metrics::MetricsConfig;
pub use problems::{ConfigErrors, Problem};
pub use server::ServerConfig;
pub use traces::TracesConfig;

use problems::{de_section, line_for_path, line_of};

/// The documented example, also shipped as `packaging/clavis.toml`.
pub const EXAMPLE: &str = include_str!("../../packaging/clavis.toml");

/// The whole, validated configuration. Immutable once loaded.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Clavis keeps its state (SQLite database…).
    pub state_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub traces: TracesConfig,
    pub directory: DirectoryConfig,
    pub sso: clavis_sso::SsoConfig,
    pub authn: clavis_authn::AuthnConfig,
    pub oidc: clavis_oidc::OidcConfig,
    pub badge: clavis_authn::BadgeConfig,
    pub psc: clavis_federation::PscConfig,
}

impl Config {
    /// The built-in default (no file).
    pub fn embedded_default() -> Self {
        Config {
            state_dir: PathBuf::from("./clavis-data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            traces: TracesConfig::default(),
            directory: DirectoryConfig::default(),
            sso: clavis_sso::SsoConfig::default(),
            authn: clavis_authn::AuthnConfig::default(),
            oidc: clavis_oidc::OidcConfig::default(),
            badge: clavis_authn::BadgeConfig::default(),
            psc: clavis_federation::PscConfig::default(),
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        if let Ok(u) = std::env::var("CLAVIS_DATABASE_URL")
            && !u.is_empty()
        {
            return u;
        }
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.state_dir.join("clavis.db").display()))
    }

    /// The OpenID issuer: `oidc.issuer`, else the public URL.
    pub fn issuer(&self) -> String {
        self.oidc
            .issuer
            .clone()
            .unwrap_or_else(|| self.public_url())
            .trim_end_matches('/')
            .to_string()
    }

    /// The master key file: `oidc.master_key_file`, else
    /// `<state_dir>/master.key`.
    pub fn master_key_file(&self) -> PathBuf {
        self.oidc
            .master_key_file
            .clone()
            .unwrap_or_else(|| self.state_dir.join("master.key"))
    }

    /// The URL users reach. Default: `http://localhost:PORT`, `https://`
    /// when Clavis terminates TLS itself (WebAuthn accepts localhost, never
    /// a bare IP address).
    pub fn public_url(&self) -> String {
        self.server.public_url.clone().unwrap_or_else(|| {
            let port = self.server.listen.rsplit(':').next().unwrap_or("8080");
            let scheme = match self.server.tls_files() {
                Some(_) => "https",
                None => "http",
            };
            format!("{scheme}://localhost:{port}")
        })
    }
}

/// Parses and validates configuration text. `file` names it in messages.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    let fail = |problems| ConfigErrors {
        file: file.to_string(),
        problems,
    };
    let mut table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let line = e.span().map(|s| line_of(text, s.start));
            return Err(fail(vec![Problem {
                path: String::new(),
                line,
                message: e.message().to_string(),
            }]));
        }
    };
    let doc = toml_edit::Document::parse(text.to_string()).ok();
    let mut raw: Vec<(String, String)> = Vec::new();

    let state_dir = match table.remove("state_dir") {
        None => PathBuf::from("./clavis-data"),
        Some(toml::Value::String(s)) if !s.is_empty() => PathBuf::from(s),
        Some(_) => {
            raw.push(("state_dir".into(), "must be a non-empty path".into()));
            PathBuf::from("./clavis-data")
        }
    };
    let take = |t: &mut toml::Table, k: &str| {
        t.remove(k)
            .unwrap_or_else(|| toml::Value::Table(Default::default()))
    };
    let server: Option<ServerConfig> = de_section(take(&mut table, "server"), "server", &mut raw);
    let database: Option<DatabaseConfig> =
        de_section(take(&mut table, "database"), "database", &mut raw);
    let log: Option<LogConfig> = de_section(take(&mut table, "log"), "log", &mut raw);
    let metrics: Option<MetricsConfig> =
        de_section(take(&mut table, "metrics"), "metrics", &mut raw);
    let traces: Option<TracesConfig> = de_section(take(&mut table, "traces"), "traces", &mut raw);
    let sso: Option<clavis_sso::SsoConfig> = de_section(take(&mut table, "sso"), "sso", &mut raw);
    let authn: Option<clavis_authn::AuthnConfig> =
        de_section(take(&mut table, "authn"), "authn", &mut raw);
    let oidc: Option<clavis_oidc::OidcConfig> =
        de_section(take(&mut table, "oidc"), "oidc", &mut raw);
    let badge: Option<clavis_authn::BadgeConfig> =
        de_section(take(&mut table, "badge"), "badge", &mut raw);
    let psc: Option<clavis_federation::PscConfig> =
        de_section(take(&mut table, "psc"), "psc", &mut raw);
    let directory = directory::read(take(&mut table, "directory"), &mut raw);
    for key in table.keys() {
        raw.push((
            key.clone(),
            "unknown key (expected state_dir, server, database, log, metrics, traces, directory, sso, authn, oidc, badge or psc)"
                .into(),
        ));
    }
    if let Some(d) = &directory {
        directory::check(d, &mut raw);
    }
    if let Some(s) = &server {
        server::check(s, &mut raw);
    }
    if let Some(d) = &database {
        database::check(d, &mut raw);
    }
    if let Some(l) = &log {
        log::check(l, &mut raw);
    }
    if let Some(m) = &metrics {
        metrics::check(m, server.as_ref().map(|s| s.listen.as_str()), &mut raw);
    }
    if let Some(t) = &traces {
        traces::check(t, &mut raw);
    }
    if let Some(s) = &sso {
        sso::check(s, &mut raw);
    }
    if let Some(a) = &authn {
        authn::check(a, &mut raw);
    }
    if let Some(o) = &oidc {
        oidc::check(o, &mut raw);
    }
    if let Some(b) = &badge {
        badge::check(b, &mut raw);
    }
    if let Some(p) = &psc {
        psc::check(
            p,
            server.as_ref().and_then(|s| s.public_url.as_deref()),
            &mut raw,
        );
    }
    if !raw.is_empty() {
        let mut problems: Vec<Problem> = raw
            .into_iter()
            .map(|(path, message)| Problem {
                line: doc.as_ref().and_then(|d| line_for_path(d, text, &path)),
                path,
                message,
            })
            .collect();
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        return Err(fail(problems));
    }
    Ok(Config {
        state_dir,
        server: server.unwrap_or_default(),
        database: database.unwrap_or_default(),
        log: log.unwrap_or_default(),
        metrics: metrics.unwrap_or_default(),
        traces: traces.unwrap_or_default(),
        directory: directory.unwrap_or_default(),
        sso: sso.unwrap_or_default(),
        authn: authn.unwrap_or_default(),
        oidc: oidc.unwrap_or_default(),
        badge: badge.unwrap_or_default(),
        psc: psc.unwrap_or_default(),
    })
}

/// The configuration the packages install.
pub const PACKAGED: &str = "/etc/clavis/clavis.toml";

/// `packaged` when it exists: without `--config` (or `CLAVIS_CONFIG`), a
/// command on a machine where the package is installed reads the service's
/// configuration, rather than the embedded default that would write a
/// database of its own under `./clavis-data` wherever it was typed.
pub fn installed(packaged: &Path) -> Option<std::path::PathBuf> {
    packaged.is_file().then(|| packaged.to_path_buf())
}

/// Loads `path`, or the embedded default when `path` is `None`.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    match path {
        None => Ok(Config::embedded_default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| ConfigErrors {
                file: p.display().to_string(),
                problems: vec![Problem {
                    path: String::new(),
                    line: None,
                    message: format!("cannot read the file: {e}"),
                }],
            })?;
            parse(&text, &p.display().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_config_the_installed_one_is_read_when_the_package_put_it_there() {
        let dir = tempfile::tempdir().expect("dir");
        let packaged = dir.path().join("clavis.toml");
        assert_eq!(
            installed(&packaged),
            None,
            "no package: the embedded default"
        );
        std::fs::write(&packaged, EXAMPLE).expect("write");
        assert_eq!(installed(&packaged), Some(packaged.clone()));
        assert!(load(installed(&packaged).as_deref()).is_ok());
    }

    #[test]
    fn the_documented_example_is_valid() {
        let c = parse(EXAMPLE, "clavis.toml").expect("example is valid");
        assert_eq!(c.server.listen, "127.0.0.1:8080");
    }

    #[test]
    fn the_default_public_url_is_https_when_clavis_terminates_tls() {
        let plain = parse("[server]\nlisten = \"127.0.0.1:8443\"\n", "t.toml").expect("valid");
        assert_eq!(plain.public_url(), "http://localhost:8443");
        let tls = parse(
            "[server]\nlisten = \"127.0.0.1:8443\"\ntls_cert_file = \"/c.pem\"\ntls_key_file = \"/k.pem\"\n",
            "t.toml",
        )
        .expect("valid");
        assert_eq!(tls.public_url(), "https://localhost:8443");
        assert_eq!(tls.issuer(), "https://localhost:8443");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e =
            parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n", "t.toml").expect_err("typo");
        assert!(e.to_string().contains("lisen"), "{e}");
    }
}
