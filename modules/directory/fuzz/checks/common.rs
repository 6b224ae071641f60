//! What both directory targets share: the attribute maps of an HR source
//! (every field mapped) and of an AD source, and the checks every mapped
//! entry must pass.

use clavis_directory::config::AttributeMap;
use clavis_directory::mapping::{MappedRecord, RawEntry, Rejection, map_entry};
use clavis_directory::{SourceConfig, SourceKind, SourceRole};

/// An HR source mapping every field (the column or attribute names are
/// lower case, as sources report them).
pub fn hr(kind: SourceKind) -> SourceConfig {
    SourceConfig::new(
        "rh",
        kind,
        SourceRole::Hr,
        AttributeMap {
            external_id: "matricule".into(),
            join_key: Some("cle".into()),
            birth_family_name: Some("nom".into()),
            used_family_name: Some("nom_usage".into()),
            birth_given_names: Some("prenoms".into()),
            birth_date: Some("naissance".into()),
            birth_place: Some("lieu".into()),
            birth_country: Some("pays".into()),
            sex: Some("sexe".into()),
            email: Some("mail".into()),
            phone: Some("tel".into()),
            rpps: Some("rpps".into()),
            adeli: Some("adeli".into()),
            contract_type: Some("contrat".into()),
            arrival_date: Some("arrivee".into()),
            departure_date: Some("depart".into()),
            leaver: Some("sortant".into()),
            suspended: Some("suspendu".into()),
            professions: Some("professions".into()),
            service: Some("service".into()),
            uf: Some("uf".into()),
            finess: Some("finess".into()),
            login: None,
            account_control: None,
        },
    )
}

/// An Active Directory source, with the names AD uses (mixed case, as
/// configurations spell them).
pub fn ad(kind: SourceKind) -> SourceConfig {
    SourceConfig::new(
        "ad",
        kind,
        SourceRole::Ad,
        AttributeMap {
            external_id: "objectGUID".into(),
            join_key: Some("employeeID".into()),
            email: Some("mail".into()),
            phone: Some("telephoneNumber".into()),
            login: Some("sAMAccountName".into()),
            account_control: Some("userAccountControl".into()),
            ..AttributeMap::default()
        },
    )
}

/// Maps `raw` with `source` and checks what a mapped record promises the
/// reconciliation; returns the outcome.
pub fn map_and_check(source: &SourceConfig, raw: &RawEntry) -> Result<MappedRecord, Rejection> {
    let out = map_entry(source, raw);
    match &out {
        Ok(m) => {
            assert_eq!(m.entry_ref, raw.entry_ref);
            assert!(!m.external_id.is_empty() && m.external_id.len() <= 256);
            assert_eq!(m.external_id, m.external_id.trim());
            assert!(!raw.attrs.contains_key("__malformed"));
            let f = &m.fields;
            if let (Some(a), Some(d)) = (f.arrival_date, f.departure_date) {
                assert!(a <= d, "departure before arrival accepted");
            }
            assert!(f.sex.as_deref().is_none_or(|s| s == "M" || s == "F"));
            assert!(f.birth_given_names.iter().all(|n| !n.trim().is_empty()));
            assert!(f.professions.iter().all(|p| !p.trim().is_empty()));
            if source.role == SourceRole::Hr && source.creates_identities() {
                assert!(f.birth_family_name.is_some() && f.birth_date.is_some());
                assert!(!f.birth_given_names.is_empty());
            }
            // What is stored and compared between runs must survive JSON.
            let json = serde_json::to_string(f).expect("fields serialise");
            let back: clavis_directory::mapping::SourceFields =
                serde_json::from_str(&json).expect("fields deserialise");
            assert_eq!(&back, f);
        }
        Err(r) => {
            assert_eq!(r.entry, raw.entry_ref);
            assert!(!r.field.is_empty() && !r.message.is_empty());
        }
    }
    out
}
