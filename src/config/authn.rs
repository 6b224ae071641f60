//! `[authn]`: the FIDO2 attestation policy, the allowed authenticator models and their
//! CA files, the AMR values of a FIDO2 login. The section is `clavis_authn::AuthnConfig`.

/// Adds the problems of a read `[authn]` section.
pub(super) fn check(authn: &clavis_authn::AuthnConfig, problems: &mut Vec<(String, String)>) {
    if authn.attestation == clavis_authn::AttestationPolicy::AllowList
        && authn.allowed_models.is_empty()
    {
        problems.push((
            "authn.allowed_models".into(),
            "attestation = \"allow_list\" needs at least one model".into(),
        ));
    }
    for (i, m) in authn.allowed_models.iter().enumerate() {
        if uuid::Uuid::parse_str(&m.aaguid).is_err() {
            problems.push((
                format!("authn.allowed_models[{i}].aaguid"),
                format!("{:?} is not an AAGUID", m.aaguid),
            ));
        }
        if !m.ca_file.is_file() {
            problems.push((
                format!("authn.allowed_models[{i}].ca_file"),
                format!("{} cannot be read", m.ca_file.display()),
            ));
        }
    }
    if authn.fido2_amr.is_empty() {
        problems.push((
            "authn.fido2_amr".into(),
            "must list at least one method".into(),
        ));
    }
}
