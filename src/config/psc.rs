//! `[psc]`: Pro Santé Connect. The section is `clavis_federation::PscConfig`,
//! which checks itself; the binary adds that credential files are absolute
//! and that an enabled PSC has a public URL it can send people back to.

/// Adds the problems of a read `[psc]` section.
pub(super) fn check(
    psc: &clavis_federation::PscConfig,
    public_url: Option<&str>,
    problems: &mut Vec<(String, String)>,
) {
    problems.extend(psc.problems());
    if !psc.enabled {
        return;
    }
    for (key, file) in [
        ("psc.client_secret_file", &psc.client_secret_file),
        ("psc.private_key_file", &psc.private_key_file),
        ("psc.tls_client_cert_file", &psc.tls_client_cert_file),
        ("psc.tls_client_key_file", &psc.tls_client_key_file),
        ("psc.ca_file", &psc.ca_file),
    ] {
        if let Some(f) = file
            && !f.is_absolute()
        {
            problems.push((key.into(), "must be an absolute path".into()));
        }
    }
    if public_url.is_none() {
        problems.push((
            "server.public_url".into(),
            "required when psc.enabled: PSC sends people back to <public_url>/psc/callback".into(),
        ));
    }
}
