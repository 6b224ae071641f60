//! `[server]`: where Clavis listens, and the URL users reach it at.

use serde::Deserialize;

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

/// Adds the problems of a read `[server]` section.
pub(super) fn check(server: &ServerConfig, problems: &mut Vec<(String, String)>) {
    if server.listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push((
            "server.listen".into(),
            format!("{:?} is not an address:port", server.listen),
        ));
    }
    if let Some(u) = &server.public_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        problems.push((
            "server.public_url".into(),
            format!("{u:?} must be an http(s) URL"),
        ));
    }
}
