//! `clavis.toml`: loading, environment overrides, validation with every
//! problem reported by key path and line.
//!
//! The file is optional: without one, Clavis runs on its embedded default
//! (SQLite under `./clavis-data`, listening on 127.0.0.1:8080).

use clavis_directory::{DirectoryConfig, SourceConfig};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The documented example, also shipped as `packaging/clavis.toml`.
pub const EXAMPLE: &str = include_str!("../packaging/clavis.toml");

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The URL users reach Clavis at (behind the reverse proxy). Default
    /// `http://<listen>`.
    #[serde(default)]
    pub public_url: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
        }
    }
}

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

/// The whole, validated configuration. Immutable once loaded.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Clavis keeps its state (SQLite database…).
    pub state_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub directory: DirectoryConfig,
    pub sso: clavis_sso::SsoConfig,
    pub authn: clavis_authn::AuthnConfig,
    pub oidc: clavis_oidc::OidcConfig,
    pub badge: clavis_authn::BadgeConfig,
}

impl Config {
    /// The built-in default (no file).
    pub fn embedded_default() -> Self {
        Config {
            state_dir: PathBuf::from("./clavis-data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            directory: DirectoryConfig::default(),
            sso: clavis_sso::SsoConfig::default(),
            authn: clavis_authn::AuthnConfig::default(),
            oidc: clavis_oidc::OidcConfig::default(),
            badge: clavis_authn::BadgeConfig::default(),
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

    /// The URL users reach. Default: `http://localhost:PORT` (WebAuthn
    /// accepts localhost, never a bare IP address).
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

    pub fn public_url(&self) -> String {
        self.server.public_url.clone().unwrap_or_else(|| {
            let port = self.server.listen.rsplit(':').next().unwrap_or("8080");
            format!("http://localhost:{port}")
        })
    }
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`directory.sources[0].url`), or empty for syntax.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (false, Some(l)) => write!(f, "{} (line {l}): {}", self.path, self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
            (true, Some(l)) => write!(f, "line {l}: {}", self.message),
            (true, None) => write!(f, "{}", self.message),
        }
    }
}

/// Every problem of a configuration file.
#[derive(Debug)]
pub struct ConfigErrors {
    /// The file.
    pub file: String,
    /// The problems, in file order where known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} problem(s)", self.file, self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Finds the line of a dotted key path like `directory.sources[1].url`.
fn line_for_path(doc: &toml_edit::Document<String>, text: &str, path: &str) -> Option<usize> {
    let mut item: Option<&toml_edit::Item> = None;
    let mut best: Option<usize> = None;
    for seg in path.split('.') {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        let table_like: Option<&dyn toml_edit::TableLike> = match item {
            None => Some(doc.as_table() as &dyn toml_edit::TableLike),
            Some(i) => i.as_table_like(),
        };
        let Some(t) = table_like else { break };
        let Some((k, next)) = t.get_key_value(key) else {
            break;
        };
        if let Some(s) = k.span() {
            best = Some(s.start);
        }
        item = Some(next);
        if let Some(idx) = index {
            match next.as_array_of_tables().and_then(|a| a.get(idx)) {
                Some(tbl) => {
                    if let Some(s) = tbl.span() {
                        best = Some(s.start);
                    }
                    // Re-wrap the table as an item for the next segment.
                    return line_for_rest(tbl, text, path, seg).or(best.map(|b| line_of(text, b)));
                }
                None => break,
            }
        }
    }
    best.map(|b| line_of(text, b))
}

fn line_for_rest(tbl: &toml_edit::Table, text: &str, path: &str, seg: &str) -> Option<usize> {
    let rest = path
        .split_once(seg)
        .map(|(_, r)| r.trim_start_matches('.'))?;
    let mut t: &dyn toml_edit::TableLike = tbl;
    let mut best = tbl.span().map(|s| s.start);
    for key in rest.split('.').filter(|k| !k.is_empty()) {
        let Some((k, next)) = t.get_key_value(key) else {
            break;
        };
        if let Some(s) = k.span() {
            best = Some(s.start);
        }
        match next.as_table_like() {
            Some(n) => t = n,
            None => break,
        }
    }
    best.map(|b| line_of(text, b))
}

fn de_section<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    prefix: &str,
    problems: &mut Vec<(String, String)>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let path = if inner == "." || inner.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{inner}")
            };
            problems.push((path, e.into_inner().to_string()));
            None
        }
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
    let sso: Option<clavis_sso::SsoConfig> = de_section(take(&mut table, "sso"), "sso", &mut raw);
    let authn: Option<clavis_authn::AuthnConfig> =
        de_section(take(&mut table, "authn"), "authn", &mut raw);
    let oidc: Option<clavis_oidc::OidcConfig> =
        de_section(take(&mut table, "oidc"), "oidc", &mut raw);
    let badge: Option<clavis_authn::BadgeConfig> =
        de_section(take(&mut table, "badge"), "badge", &mut raw);
    let mut dir_value = take(&mut table, "directory");
    let sources_value = dir_value.as_table_mut().and_then(|t| t.remove("sources"));
    let mut directory: Option<DirectoryConfig> = de_section(dir_value, "directory", &mut raw);
    let mut sources = Vec::new();
    match sources_value {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                if let Some(s) =
                    de_section::<SourceConfig>(item, &format!("directory.sources[{i}]"), &mut raw)
                {
                    sources.push(s);
                }
            }
        }
        Some(_) => raw.push((
            "directory.sources".into(),
            "must be an array of tables ([[directory.sources]])".into(),
        )),
    }
    for key in table.keys() {
        raw.push((
            key.clone(),
            "unknown key (expected state_dir, server, database, log, directory, sso, authn, oidc or badge)"
                .into(),
        ));
    }
    if let Some(d) = directory.as_mut() {
        d.sources = sources;
        for p in d.validate() {
            raw.push((p.path, p.message));
        }
    }
    if let Some(s) = &server {
        if s.listen.parse::<std::net::SocketAddr>().is_err() {
            raw.push((
                "server.listen".into(),
                format!("{:?} is not an address:port", s.listen),
            ));
        }
        if let Some(u) = &s.public_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            raw.push((
                "server.public_url".into(),
                format!("{u:?} must be an http(s) URL"),
            ));
        }
    }
    if let Some(d) = &database {
        if let Some(u) = &d.url
            && let Err(e) = clavis_store::Db::open(u, 1)
        {
            raw.push(("database.url".into(), e.to_string()));
        }
        if d.max_connections == Some(0) {
            raw.push((
                "database.max_connections".into(),
                "must be at least 1".into(),
            ));
        }
    }
    if let Some(l) = &log {
        if !matches!(l.format.as_str(), "text" | "json") {
            raw.push((
                "log.format".into(),
                format!("{:?} must be \"text\" or \"json\"", l.format),
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&l.level).is_err() {
            raw.push((
                "log.level".into(),
                format!("{:?} is not a log level or filter", l.level),
            ));
        }
    }
    if let Some(s) = &sso {
        if !(5..=24 * 3600).contains(&s.session_lifetime_secs) {
            raw.push((
                "sso.session_lifetime_secs".into(),
                "must be between 5 and 86400".into(),
            ));
        }
        if s.idle_timeout_secs < 0 {
            raw.push((
                "sso.idle_timeout_secs".into(),
                "must be 0 (off) or positive".into(),
            ));
        }
    }
    if let Some(a) = &authn {
        if a.attestation == clavis_authn::AttestationPolicy::AllowList
            && a.allowed_models.is_empty()
        {
            raw.push((
                "authn.allowed_models".into(),
                "attestation = \"allow_list\" needs at least one model".into(),
            ));
        }
        for (i, m) in a.allowed_models.iter().enumerate() {
            if uuid::Uuid::parse_str(&m.aaguid).is_err() {
                raw.push((
                    format!("authn.allowed_models[{i}].aaguid"),
                    format!("{:?} is not an AAGUID", m.aaguid),
                ));
            }
            if !m.ca_file.is_file() {
                raw.push((
                    format!("authn.allowed_models[{i}].ca_file"),
                    format!("{} cannot be read", m.ca_file.display()),
                ));
            }
        }
        if a.fido2_amr.is_empty() {
            raw.push((
                "authn.fido2_amr".into(),
                "must list at least one method".into(),
            ));
        }
    }
    if let Some(o) = &oidc {
        for (key, v) in [
            ("oidc.code_ttl_secs", o.code_ttl_secs),
            ("oidc.access_token_ttl_secs", o.access_token_ttl_secs),
            ("oidc.id_token_ttl_secs", o.id_token_ttl_secs),
        ] {
            if v <= 0 {
                raw.push((key.into(), "must be positive".into()));
            }
        }
        if let Some(i) = &o.issuer
            && !(i.starts_with("https://") || i.starts_with("http://localhost"))
        {
            raw.push((
                "oidc.issuer".into(),
                format!("{i:?} must be an https URL (http only for localhost)"),
            ));
        }
        if o.backchannel.max_attempts < 1 {
            raw.push((
                "oidc.backchannel.max_attempts".into(),
                "must be at least 1".into(),
            ));
        }
    }
    if let Some(b) = &badge {
        raw.extend(b.problems());
        if let Some(f) = &b.transport_key_file
            && !f.is_absolute()
        {
            raw.push((
                "badge.transport_key_file".into(),
                "must be an absolute path".into(),
            ));
        }
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
        directory: directory.unwrap_or_default(),
        sso: sso.unwrap_or_default(),
        authn: authn.unwrap_or_default(),
        oidc: oidc.unwrap_or_default(),
        badge: badge.unwrap_or_default(),
    })
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
    fn the_documented_example_is_valid() {
        let c = parse(EXAMPLE, "clavis.toml").expect("example is valid");
        assert_eq!(c.server.listen, "127.0.0.1:8080");
    }

    #[test]
    fn every_problem_is_reported_with_path_and_line() {
        let text = r#"
[server]
listen = "nowhere"

[directory]
batch_size = 0

[[directory.sources]]
name = "rh"
kind = "ldap"
role = "hr"
attributes = { external_id = "employeeNumber" }

[[directory.sources]]
name = "ad"
kind = "ldapp"
role = "ad"
attributes = { external_id = "objectGUID" }
"#;
        let e = parse(text, "t.toml").expect_err("invalid");
        let shown: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        let has = |needle: &str| shown.iter().any(|s| s.contains(needle));
        assert!(has("server.listen (line 3)"), "{shown:#?}");
        assert!(has("directory.batch_size (line 6)"), "{shown:#?}");
        assert!(has("directory.sources[0].url"), "{shown:#?}");
        assert!(has("directory.sources[0].base_dn"), "{shown:#?}");
        assert!(has("directory.sources[1].kind"), "{shown:#?}");
        assert!(e.problems.len() >= 5, "{shown:#?}");
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let e = parse("[server]\nlisten = \n", "t.toml").expect_err("syntax");
        assert_eq!(e.problems[0].line, Some(2), "{}", e);
    }

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

    #[test]
    fn unknown_keys_are_refused() {
        let e =
            parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n", "t.toml").expect_err("typo");
        assert!(e.to_string().contains("lisen"), "{e}");
    }
}
