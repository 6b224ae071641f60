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
    /// `http://localhost:<port>` (`https://` with `tls_cert_file`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The reverse proxies whose `X-Forwarded-For` is believed (addresses
    /// or CIDR ranges, e.g. `127.0.0.1`, `10.1.2.0/28`). From any other
    /// peer the header is ignored and the peer itself is the client.
    /// Default: none.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Logins (FIDO2 or badge) one client address may start per minute;
    /// 0: no limit. Default 60.
    #[serde(default = "default_starts_per_minute")]
    pub login_starts_per_minute: u32,
    /// Unfinished badge transactions and key enrolments kept at most (a
    /// key login stores nothing until it is finished); 0: no cap. Default
    /// 20000.
    #[serde(default = "default_max_in_progress")]
    pub max_logins_in_progress: i64,
    /// PEM certificate chain (the server's own first): Clavis then serves
    /// HTTPS itself (TLS 1.2+) on `listen`. Read again on SIGHUP and when
    /// it changes. Default: none (plain HTTP, behind a reverse proxy).
    #[serde(default)]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key of `tls_cert_file` (PKCS#8, RSA or EC). Default: none.
    #[serde(default)]
    pub tls_key_file: Option<std::path::PathBuf>,
}

fn default_starts_per_minute() -> u32 {
    clavis_web::limits::DEFAULT_STARTS_PER_MINUTE
}

fn default_max_in_progress() -> i64 {
    clavis_web::limits::DEFAULT_MAX_IN_PROGRESS
}

impl ServerConfig {
    /// The certificate and key files, when Clavis terminates TLS itself.
    pub fn tls_files(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(c), Some(k)) => Some((c, k)),
            _ => None,
        }
    }

    /// The trusted proxies as ranges (a bare address is a /32 or /128).
    /// Entries that do not parse are left out here and reported by
    /// `check-config`.
    pub fn trusted_proxy_ranges(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| parse_range(p))
            .collect()
    }
}

fn parse_range(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            trusted_proxies: Vec::new(),
            login_starts_per_minute: default_starts_per_minute(),
            max_logins_in_progress: default_max_in_progress(),
            tls_cert_file: None,
            tls_key_file: None,
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
    for p in &server.trusted_proxies {
        if parse_range(p).is_none() {
            problems.push((
                "server.trusted_proxies".into(),
                format!("{p:?} is not an IP address or CIDR range (10.1.2.0/28)"),
            ));
        }
    }
    if server.max_logins_in_progress < 0 {
        problems.push((
            "server.max_logins_in_progress".into(),
            "must be 0 (no cap) or more".into(),
        ));
    }
    match (&server.tls_cert_file, &server.tls_key_file) {
        (Some(_), None) => problems.push((
            "server.tls_key_file".into(),
            "required with server.tls_cert_file".into(),
        )),
        (None, Some(_)) => problems.push((
            "server.tls_cert_file".into(),
            "required with server.tls_key_file".into(),
        )),
        _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_addresses_or_ranges_and_anything_else_is_named() {
        let server = ServerConfig {
            trusted_proxies: vec![
                "127.0.0.1".into(),
                "10.1.2.0/28".into(),
                "::1".into(),
                "proxy.chu".into(),
            ],
            ..ServerConfig::default()
        };
        let ranges = server.trusted_proxy_ranges();
        assert_eq!(ranges.len(), 3);
        assert!(ranges[0].contains(&"127.0.0.1".parse::<std::net::IpAddr>().expect("ip")));
        assert!(ranges[1].contains(&"10.1.2.15".parse::<std::net::IpAddr>().expect("ip")));
        assert!(!ranges[1].contains(&"10.1.2.16".parse::<std::net::IpAddr>().expect("ip")));
        let mut problems = Vec::new();
        check(&server, &mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "server.trusted_proxies");
        assert!(problems[0].1.contains("proxy.chu"), "{:?}", problems[0]);
    }
}
