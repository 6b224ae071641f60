//! The agent's configuration file (`/etc/clavis-agent/agent.toml`).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `agent.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Clavis's public URL (https; http only on a loopback address).
    pub clavis_url: String,
    /// This workstation's id (`clavis workstation add` prints it).
    pub workstation_id: String,
    /// File holding this workstation's credential (mode 0600).
    pub credential_file: PathBuf,
    /// Where the page reaches the agent; a loopback address. Default
    /// 127.0.0.1:4655.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Origins allowed to call the agent. Default: Clavis's origin.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Part of the reader's name to use (several readers). Default: the
    /// first reader.
    #[serde(default)]
    pub reader: Option<String>,
    /// How long a page's read waits for a card, seconds. Default 60.
    #[serde(default = "default_wait")]
    pub card_wait_secs: u64,
    /// PEM file of the CA that issued Clavis's certificate, if not in the
    /// system store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4655))
}
fn default_wait() -> u64 {
    60
}

impl AgentConfig {
    /// Reads and checks a configuration file; errors name the file and
    /// the key.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cfg: AgentConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let problems = cfg.problems();
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(format!("{}: {}", path.display(), problems.join("; ")))
        }
    }

    /// Problems with the values.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match url::Url::parse(&self.clavis_url) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && is_loopback(&u) => {}
            Ok(_) => p.push(format!(
                "clavis_url: https is required (http only on a loopback address), got {:?}",
                self.clavis_url
            )),
            Err(e) => p.push(format!("clavis_url: {e}")),
        }
        if !self.listen.ip().is_loopback() {
            p.push(format!(
                "listen: must be a loopback address, got {}",
                self.listen
            ));
        }
        if self.workstation_id.is_empty() {
            p.push("workstation_id: empty".into());
        }
        if !(1..=600).contains(&self.card_wait_secs) {
            p.push("card_wait_secs: 1 to 600".into());
        }
        p
    }

    /// The origins allowed to call the agent.
    pub fn origins(&self) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.clone();
        }
        url::Url::parse(&self.clavis_url)
            .map(|u| vec![u.origin().ascii_serialization()])
            .unwrap_or_default()
    }

    /// The credential: the systemd credential `clavis-agent-credential`
    /// when the service has one, else `credential_file`.
    pub fn credential(&self) -> Result<String, String> {
        let path = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|d| Path::new(&d).join("clavis-agent-credential"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| self.credential_file.clone());
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let c = text.trim().to_string();
        if c.is_empty() {
            return Err(format!("{}: empty", path.display()));
        }
        Ok(c)
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}
