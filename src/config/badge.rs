//! `[badge]`: the DESFire badge settings. The section is `clavis_authn::BadgeConfig`,
//! which checks most of itself; the binary adds that the transport key file is absolute.

/// Adds the problems of a read `[badge]` section.
pub(super) fn check(badge: &clavis_authn::BadgeConfig, problems: &mut Vec<(String, String)>) {
    problems.extend(badge.problems());
    if let Some(f) = &badge.transport_key_file
        && !f.is_absolute()
    {
        problems.push((
            "badge.transport_key_file".into(),
            "must be an absolute path".into(),
        ));
    }
}
