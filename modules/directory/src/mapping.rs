//! From a raw source entry to typed, validated fields.
//!
//! Untrusted input enters here (LDAP attribute values, CSV cells). Every
//! problem becomes a [`Rejection`] naming the entry and the field; nothing
//! panics and nothing half-valid goes further.

use crate::config::{AttributeMap, SourceConfig, SourceRole};
use chrono::NaiveDate;
use clavis_core::dates::parse_source_date;
use clavis_core::{Adeli, ContractType, Rpps};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One entry as a source returned it: attribute names lower-cased, values
/// as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawEntry {
    /// Where it is: an LDAP DN or `file:line`.
    pub entry_ref: String,
    /// Lower-cased attribute name → values.
    pub attrs: HashMap<String, Vec<String>>,
}

impl RawEntry {
    fn values(&self, attr: &str) -> &[String] {
        self.attrs
            .get(&attr.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn first(&self, attr: Option<&String>) -> Option<String> {
        let attr = attr?;
        self.values(attr)
            .iter()
            .map(|v| v.trim())
            .find(|v| !v.is_empty())
            .map(str::to_string)
    }
}

/// An entry refused, with where and why. Shown to operators in run reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The DN or `file:line`.
    pub entry: String,
    /// The identity field concerned.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// The source's id of the entry, when it could be read: a rejected entry
    /// is still listed by its source and must not count as disappeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// What one source says about one person, typed. Stored as JSON in
/// `source_records.attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFields {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub birth_family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub used_family_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub birth_given_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub birth_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub birth_place: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub birth_country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rpps: Option<Rpps>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub adeli: Option<Adeli>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub contract_type: Option<ContractType>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arrival_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub departure_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub leaver: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub suspended: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub professions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finess: Option<String>,
    /// Lower-cased login.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub login: Option<String>,
    /// `Some(false)` when AD marks the account disabled.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account_enabled: Option<bool>,
}

/// A mapped entry ready for reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRecord {
    /// The source's id for the person.
    pub external_id: String,
    /// DN or `file:line`.
    pub entry_ref: String,
    /// Cross-source join key.
    pub join_key: Option<String>,
    /// The typed fields.
    pub fields: SourceFields,
}

fn is_truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "vrai" | "oui" | "yes" | "o" | "y" | "x"
    )
}

/// Maps one raw entry of `source`. The first problem found rejects it.
pub fn map_entry(source: &SourceConfig, raw: &RawEntry) -> Result<MappedRecord, Rejection> {
    let a: &AttributeMap = &source.attributes;
    let listed_as = raw.first(Some(&a.external_id));
    let reject = |field: &str, message: String| Rejection {
        entry: raw.entry_ref.clone(),
        field: field.to_string(),
        message,
        external_id: listed_as.clone(),
    };
    if let Some(problem) = raw.attrs.get("__malformed") {
        return Err(reject("(line)", problem.join("; ")));
    }
    let external_id = raw.first(Some(&a.external_id)).ok_or_else(|| {
        reject(
            "external_id",
            format!("attribute {:?} is missing or empty", a.external_id),
        )
    })?;
    if external_id.len() > 256 {
        return Err(reject("external_id", "longer than 256 characters".into()));
    }
    let date = |field: &str, attr: Option<&String>| -> Result<Option<NaiveDate>, Rejection> {
        match raw.first(attr) {
            None => Ok(None),
            Some(v) => parse_source_date(&v).map(Some).ok_or_else(|| {
                reject(
                    field,
                    format!("{v:?} is not a date (expected YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD)"),
                )
            }),
        }
    };
    let mut f = SourceFields {
        birth_family_name: raw.first(a.birth_family_name.as_ref()),
        used_family_name: raw.first(a.used_family_name.as_ref()),
        birth_place: raw.first(a.birth_place.as_ref()),
        birth_country: raw.first(a.birth_country.as_ref()),
        sex: raw.first(a.sex.as_ref()),
        email: raw.first(a.email.as_ref()).map(|e| e.to_lowercase()),
        phone: raw.first(a.phone.as_ref()),
        service: raw.first(a.service.as_ref()),
        uf: raw.first(a.uf.as_ref()),
        finess: raw.first(a.finess.as_ref()),
        login: raw.first(a.login.as_ref()).map(|l| l.to_lowercase()),
        leaver: raw.first(a.leaver.as_ref()).is_some_and(|v| is_truthy(&v)),
        suspended: raw
            .first(a.suspended.as_ref())
            .is_some_and(|v| is_truthy(&v)),
        birth_date: date("birth_date", a.birth_date.as_ref())?,
        arrival_date: date("arrival_date", a.arrival_date.as_ref())?,
        departure_date: date("departure_date", a.departure_date.as_ref())?,
        ..SourceFields::default()
    };
    if let Some(attr) = &a.birth_given_names {
        let vals = raw.values(attr);
        let names: Vec<String> = if vals.len() == 1 {
            vals[0]
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        } else {
            vals.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        f.birth_given_names = names;
    }
    if let Some(attr) = &a.professions {
        let mut codes: Vec<String> = raw
            .values(attr)
            .iter()
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        codes.dedup();
        f.professions = codes;
    }
    if let Some(v) = raw.first(a.rpps.as_ref()) {
        f.rpps = Some(Rpps::parse(&v).map_err(|e| reject("rpps", e.to_string()))?);
    }
    if let Some(v) = raw.first(a.adeli.as_ref()) {
        f.adeli = Some(Adeli::parse(&v).map_err(|e| reject("adeli", e.to_string()))?);
    }
    if let Some(v) = raw.first(a.contract_type.as_ref()) {
        f.contract_type = Some(
            ContractType::parse_source(&v)
                .ok_or_else(|| reject("contract_type", format!("unknown contract type {v:?}")))?,
        );
    }
    let account_control = source.account_control_attribute().map(str::to_string);
    if let Some(v) = raw.first(account_control.as_ref()) {
        let bits: u32 = v.trim().parse().map_err(|_| {
            reject(
                "account_control",
                format!("{v:?} is not a userAccountControl number"),
            )
        })?;
        f.account_enabled = Some(bits & 0x2 == 0);
    }
    if let Some(sex) = &f.sex {
        let norm = match sex.to_ascii_uppercase().as_str() {
            "M" | "1" | "H" => "M",
            "F" | "2" => "F",
            _ => return Err(reject("sex", format!("{sex:?} is not M/F (or 1/2)"))),
        };
        f.sex = Some(norm.to_string());
    }
    if let (Some(arr), Some(dep)) = (f.arrival_date, f.departure_date)
        && dep < arr
    {
        return Err(reject(
            "departure_date",
            format!("{dep} is before the arrival date {arr}"),
        ));
    }
    // What a source that creates identities must provide.
    if source.role == SourceRole::Hr && source.creates_identities() {
        if f.birth_family_name.is_none() {
            return Err(reject(
                "birth_family_name",
                "missing (required to identify a person)".into(),
            ));
        }
        if f.birth_given_names.is_empty() {
            return Err(reject(
                "birth_given_names",
                "missing (required to identify a person)".into(),
            ));
        }
        if f.birth_date.is_none() {
            return Err(reject(
                "birth_date",
                "missing (required to identify a person)".into(),
            ));
        }
    }
    if source.role == SourceRole::Ad && a.login.is_some() && f.login.is_none() {
        return Err(reject("login", "missing login name".into()));
    }
    Ok(MappedRecord {
        external_id,
        entry_ref: raw.entry_ref.clone(),
        join_key: raw.first(a.join_key.as_ref()).map(|k| k.to_lowercase()),
        fields: f,
    })
}

#[cfg(test)]
pub(crate) mod tests_support {
    use crate::config::{AttributeMap, SourceConfig, SourceKind, SourceRole};

    pub(crate) fn hr_source() -> SourceConfig {
        SourceConfig {
            path: Some("x.csv".into()),
            ..SourceConfig::new(
                "rh",
                SourceKind::Csv,
                SourceRole::Hr,
                AttributeMap {
                    external_id: "matricule".into(),
                    birth_family_name: Some("nom".into()),
                    birth_given_names: Some("prenoms".into()),
                    birth_date: Some("naissance".into()),
                    rpps: Some("rpps".into()),
                    contract_type: Some("contrat".into()),
                    ..AttributeMap::default()
                },
            )
        }
    }

    pub(crate) fn ldap_source() -> SourceConfig {
        SourceConfig {
            kind: SourceKind::Ldap,
            url: Some("ldap://127.0.0.1:1".into()),
            base_dn: Some("ou=hr,dc=chu-test,dc=fr".into()),
            filter: "(objectClass=inetOrgPerson)".into(),
            path: None,
            ..hr_source()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::hr_source;
    use super::*;
    use proptest::prelude::*;

    fn raw(pairs: &[(&str, &str)]) -> RawEntry {
        RawEntry {
            entry_ref: "rh.csv:2".into(),
            attrs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect(),
        }
    }

    #[test]
    fn a_complete_entry_maps_every_field() {
        let r = map_entry(
            &hr_source(),
            &raw(&[
                ("matricule", "A1"),
                ("nom", "Dupont"),
                ("prenoms", "Marie, Anne"),
                ("naissance", "07/03/1985"),
                ("rpps", "10001045367"),
                ("contrat", "CDD"),
            ]),
        )
        .expect("valid");
        assert_eq!(r.external_id, "A1");
        assert_eq!(r.fields.birth_given_names, vec!["Marie", "Anne"]);
        assert_eq!(r.fields.birth_date, NaiveDate::from_ymd_opt(1985, 3, 7));
        assert_eq!(r.fields.contract_type, Some(ContractType::FixedTerm));
    }

    #[test]
    fn rejections_name_the_entry_and_the_field() {
        let base = [
            ("matricule", "A1"),
            ("nom", "Dupont"),
            ("prenoms", "Marie"),
            ("naissance", "1985-03-07"),
        ];
        let mut missing_birth = base.to_vec();
        missing_birth.retain(|(k, _)| *k != "naissance");
        let e = map_entry(&hr_source(), &raw(&missing_birth)).expect_err("no birth date");
        assert_eq!(
            (e.entry.as_str(), e.field.as_str()),
            ("rh.csv:2", "birth_date")
        );

        let mut bad_rpps = base.to_vec();
        bad_rpps.push(("rpps", "10001045368"));
        let e = map_entry(&hr_source(), &raw(&bad_rpps)).expect_err("bad luhn");
        assert_eq!(e.field, "rpps");
        assert!(e.message.contains("Luhn"), "{}", e.message);

        let mut bad_date = base.to_vec();
        bad_date[3] = ("naissance", "1985-13-45");
        let e = map_entry(&hr_source(), &raw(&bad_date)).expect_err("bad date");
        assert_eq!(e.field, "birth_date");
        assert!(e.message.contains("1985-13-45"));

        let e = map_entry(&hr_source(), &raw(&base[1..])).expect_err("no id");
        assert_eq!(e.field, "external_id");
    }

    proptest! {
        #[test]
        fn arbitrary_attribute_values_never_panic(
            values in proptest::collection::vec(".{0,40}", 6)
        ) {
            let keys = ["matricule", "nom", "prenoms", "naissance", "rpps", "contrat"];
            let entry = RawEntry {
                entry_ref: "x".into(),
                attrs: keys.iter().zip(values.iter()).map(|(k, v)| (k.to_string(), vec![v.clone()])).collect(),
            };
            let _ = map_entry(&hr_source(), &entry);
        }
    }
}
