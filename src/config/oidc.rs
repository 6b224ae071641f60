//! `[oidc]`: token lifetimes, the issuer URL, back-channel logout retries. The section
//! is `clavis_oidc::OidcConfig`.

/// Adds the problems of a read `[oidc]` section.
pub(super) fn check(oidc: &clavis_oidc::OidcConfig, problems: &mut Vec<(String, String)>) {
    for (key, v) in [
        ("oidc.code_ttl_secs", oidc.code_ttl_secs),
        ("oidc.access_token_ttl_secs", oidc.access_token_ttl_secs),
        ("oidc.id_token_ttl_secs", oidc.id_token_ttl_secs),
    ] {
        if v <= 0 {
            problems.push((key.into(), "must be positive".into()));
        }
    }
    if let Some(i) = &oidc.issuer
        && !(i.starts_with("https://") || i.starts_with("http://localhost"))
    {
        problems.push((
            "oidc.issuer".into(),
            format!("{i:?} must be an https URL (http only for localhost)"),
        ));
    }
    if oidc.backchannel.max_attempts < 1 {
        problems.push((
            "oidc.backchannel.max_attempts".into(),
            "must be at least 1".into(),
        ));
    }
}
