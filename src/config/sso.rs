//! `[sso]`: bounds of the session lifetimes. The section is `clavis_sso::SsoConfig`.

/// Adds the problems of a read `[sso]` section.
pub(super) fn check(sso: &clavis_sso::SsoConfig, problems: &mut Vec<(String, String)>) {
    if !(5..=24 * 3600).contains(&sso.session_lifetime_secs) {
        problems.push((
            "sso.session_lifetime_secs".into(),
            "must be between 5 and 86400".into(),
        ));
    }
    if sso.idle_timeout_secs < 0 {
        problems.push((
            "sso.idle_timeout_secs".into(),
            "must be 0 (off) or positive".into(),
        ));
    }
}
