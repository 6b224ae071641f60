//! Configuration of the directory: its sources and reconciliation rules.
//!
//! This is the `[directory]` section of `clavis.toml`. Key names are part of
//! the operators' contract: keep them stable.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[directory]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Full runs of an HR source that must miss a person before they are
    /// considered departed. Default 3.
    #[serde(default = "default_missing_runs")]
    pub missing_runs_before_departure: u32,
    /// Entries written per transaction. Default 500.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Safety catch: when a full run misses more than this percentage of
    /// the people a source listed (at least 10), disappearances are not
    /// counted for that run and the report says why (a truncated export or
    /// a wrong base DN must not make the hospital leave). Default 5.
    #[serde(default = "default_max_missing_percent")]
    pub max_missing_percent: u32,
    /// The sources, in precedence order: for a field owned by a role, the
    /// first listed source of that role wins.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Who the compliance indicators count (`[directory.compliance]`).
    #[serde(default)]
    pub compliance: ComplianceConfig,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            missing_runs_before_departure: default_missing_runs(),
            batch_size: default_batch_size(),
            max_missing_percent: default_max_missing_percent(),
            sources: Vec::new(),
            compliance: ComplianceConfig::default(),
        }
    }
}

/// `[directory.compliance]`: the population of the RIE and HospiConnect
/// indicators (`crate::compliance`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceConfig {
    /// `all` (every member of staff, the default) or `rpps_professions`
    /// (people with one of [`Self::rpps_professions`]).
    #[serde(default)]
    pub scope: ComplianceScope,
    /// The profession codes (TRE_G15) registered in the RPPS. Default:
    /// médecin 10, pharmacien 21, chirurgien-dentiste 40, sage-femme 50,
    /// infirmier 60, masseur-kinésithérapeute 70, pédicure-podologue 80.
    #[serde(default = "default_rpps_professions")]
    pub rpps_professions: Vec<String>,
    /// A reconciliation case open longer than this many days is reported.
    /// Default 30.
    #[serde(default = "default_case_age_days")]
    pub case_age_days: u32,
}

/// Who the compliance indicators count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceScope {
    /// Every member of staff.
    #[default]
    All,
    /// Professionals of an RPPS profession.
    RppsProfessions,
}

fn default_rpps_professions() -> Vec<String> {
    ["10", "21", "40", "50", "60", "70", "80"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn default_case_age_days() -> u32 {
    30
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        Self {
            scope: ComplianceScope::All,
            rpps_professions: default_rpps_professions(),
            case_age_days: default_case_age_days(),
        }
    }
}

fn default_missing_runs() -> u32 {
    3
}
fn default_batch_size() -> usize {
    500
}
fn default_max_missing_percent() -> u32 {
    5
}
fn default_page_size() -> i32 {
    500
}
fn default_filter() -> String {
    "(objectClass=*)".to_string()
}
fn default_timeout() -> u64 {
    30
}
fn default_full_interval() -> u64 {
    86_400
}
fn default_delimiter() -> String {
    ";".to_string()
}

/// How a source is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// An LDAP directory (OpenLDAP, Active Directory, an SI-RH's LDAP).
    Ldap,
    /// A `;`-separated export file.
    Csv,
}

/// What a source is authoritative for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceRole {
    /// HR: identity traits, national ids, contract, dates, professions,
    /// assignments.
    Hr,
    /// Active Directory: logins, email, phone, enabled flag.
    Ad,
}

/// The change marker used for incremental LDAP runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum CursorAttribute {
    /// Standard operational attribute (OpenLDAP, most directories).
    #[serde(rename = "modifyTimestamp")]
    ModifyTimestamp,
    /// Active Directory's update sequence number.
    #[serde(rename = "uSNChanged")]
    UsnChanged,
    /// RFC 4533 content synchronisation (OpenLDAP `syncprov`): the server
    /// keeps the position as a cookie.
    #[serde(rename = "syncrepl")]
    Syncrepl,
    /// No incremental runs: every run is full.
    #[serde(rename = "none")]
    None,
}

/// Text encoding of a CSV export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CsvEncoding {
    /// UTF-8 if the file is valid UTF-8, Latin-1 (Windows-1252) otherwise.
    Auto,
    /// UTF-8 (a BOM is accepted).
    #[serde(rename = "utf-8")]
    Utf8,
    /// ISO-8859-1 / Windows-1252.
    #[serde(rename = "latin-1")]
    Latin1,
}

/// One `[[directory.sources]]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name, used in the CLI, reports and audit.
    pub name: String,
    /// `ldap` or `csv`.
    pub kind: SourceKind,
    /// `hr` or `ad`.
    pub role: SourceRole,
    /// Whether an entry matching no identity creates one. Default: true for
    /// `hr`, false for `ad` (service accounts are not people).
    #[serde(default)]
    pub creates_identities: Option<bool>,
    /// Seconds between automatic runs while `serve` runs; 0 = manual only.
    #[serde(default)]
    pub interval_secs: u64,
    /// Seconds between full runs (which detect disappearances) when runs are
    /// automatic. Default 86400.
    #[serde(default = "default_full_interval")]
    pub full_sync_interval_secs: u64,

    /// LDAP: `ldap://host:port` or `ldaps://host:port`.
    #[serde(default)]
    pub url: Option<String>,
    /// LDAP: upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// LDAP: PEM file of the CA that signed the server certificate (default:
    /// the system roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// LDAP: the DN Clavis binds as (read-only account).
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// LDAP: file holding the bind password (mode 0600).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// LDAP: environment variable holding the bind password.
    #[serde(default)]
    pub bind_password_env: Option<String>,
    /// LDAP: where to search.
    #[serde(default)]
    pub base_dn: Option<String>,
    /// LDAP: which entries are people.
    #[serde(default = "default_filter")]
    pub filter: String,
    /// LDAP: entries per page (AD caps pages at 1000).
    #[serde(default = "default_page_size")]
    pub page_size: i32,
    /// LDAP: seconds allowed to connect and per operation.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// LDAP: change marker for incremental runs. Default `modifyTimestamp`
    /// for `hr`, `uSNChanged` for `ad`.
    #[serde(default)]
    pub cursor_attribute: Option<CursorAttribute>,

    /// CSV: the export file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// CSV: field separator (one character). Default `;`.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// CSV: `auto`, `utf-8` or `latin-1`. Default `auto`.
    #[serde(default = "default_encoding")]
    pub encoding: CsvEncoding,

    /// Identity field = source attribute (LDAP attribute or CSV column).
    pub attributes: AttributeMap,
}

fn default_encoding() -> CsvEncoding {
    CsvEncoding::Auto
}

impl SourceConfig {
    /// A source with every optional key at its documented default (what a
    /// `[[directory.sources]]` table holding only these keys gives).
    pub fn new(name: &str, kind: SourceKind, role: SourceRole, attributes: AttributeMap) -> Self {
        SourceConfig {
            name: name.to_string(),
            kind,
            role,
            creates_identities: None,
            interval_secs: 0,
            full_sync_interval_secs: default_full_interval(),
            url: None,
            starttls: false,
            ca_file: None,
            bind_dn: None,
            bind_password_file: None,
            bind_password_env: None,
            base_dn: None,
            filter: default_filter(),
            page_size: default_page_size(),
            timeout_secs: default_timeout(),
            cursor_attribute: None,
            path: None,
            delimiter: default_delimiter(),
            encoding: default_encoding(),
            attributes,
        }
    }

    /// Whether unmatched entries of this source create identities.
    pub fn creates_identities(&self) -> bool {
        self.creates_identities
            .unwrap_or(self.role == SourceRole::Hr)
    }

    /// The attribute that says whether an account is enabled: the mapped
    /// `account_control`, else `userAccountControl` for an Active
    /// Directory source read over LDAP (every AD has it).
    pub fn account_control_attribute(&self) -> Option<&str> {
        match (&self.attributes.account_control, self.kind, self.role) {
            (Some(a), _, _) => Some(a.as_str()),
            (None, SourceKind::Ldap, SourceRole::Ad) => Some("userAccountControl"),
            _ => None,
        }
    }

    /// The incremental change marker in effect.
    pub fn cursor(&self) -> CursorAttribute {
        match (self.kind, self.cursor_attribute) {
            (SourceKind::Csv, _) => CursorAttribute::None,
            (_, Some(c)) => c,
            (_, None) if self.role == SourceRole::Ad => CursorAttribute::UsnChanged,
            _ => CursorAttribute::ModifyTimestamp,
        }
    }
}

/// Identity field = source attribute. Unmapped fields are simply not
/// provided by the source.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMap {
    /// The source's own stable id for the person (required).
    pub external_id: String,
    /// A key shared with another source (e.g. HR `employeeNumber` = AD
    /// `employeeID`): equal values link the records.
    #[serde(default)]
    pub join_key: Option<String>,
    /// Nom de naissance.
    #[serde(default)]
    pub birth_family_name: Option<String>,
    /// Nom d'usage.
    #[serde(default)]
    pub used_family_name: Option<String>,
    /// Prénoms de naissance, all, in order (multi-valued, or one value
    /// separated by commas).
    #[serde(default)]
    pub birth_given_names: Option<String>,
    /// Date de naissance.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// Lieu de naissance (INSEE code).
    #[serde(default)]
    pub birth_place: Option<String>,
    /// Pays de naissance (INSEE code).
    #[serde(default)]
    pub birth_country: Option<String>,
    /// Sexe (`M`/`F`, `1`/`2`).
    #[serde(default)]
    pub sex: Option<String>,
    /// Professional email.
    #[serde(default)]
    pub email: Option<String>,
    /// Professional phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// RPPS number (11 digits, Luhn checked).
    #[serde(default)]
    pub rpps: Option<String>,
    /// ADELI number (9 digits).
    #[serde(default)]
    pub adeli: Option<String>,
    /// Contract type (CDI, CDD, intérim, vacataire, interne, étudiant…).
    #[serde(default)]
    pub contract_type: Option<String>,
    /// Arrival date.
    #[serde(default)]
    pub arrival_date: Option<String>,
    /// Departure (end of contract) date.
    #[serde(default)]
    pub departure_date: Option<String>,
    /// A flag HR sets on leavers (true/1/oui/yes/o/y).
    #[serde(default)]
    pub leaver: Option<String>,
    /// A flag HR sets on suspended staff (true/1/oui/yes/o/y).
    #[serde(default)]
    pub suspended: Option<String>,
    /// Profession codes (TRE_G15), multi-valued.
    #[serde(default)]
    pub professions: Option<String>,
    /// Service.
    #[serde(default)]
    pub service: Option<String>,
    /// Unité fonctionnelle.
    #[serde(default)]
    pub uf: Option<String>,
    /// FINESS of the site.
    #[serde(default)]
    pub finess: Option<String>,
    /// Login name (sAMAccountName).
    #[serde(default)]
    pub login: Option<String>,
    /// AD `userAccountControl` (bit 0x2 = disabled).
    #[serde(default)]
    pub account_control: Option<String>,
}

impl AttributeMap {
    /// (field name, source attribute) for every mapped field.
    pub fn mapped(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![("external_id", self.external_id.as_str())];
        let opt = [
            ("join_key", &self.join_key),
            ("birth_family_name", &self.birth_family_name),
            ("used_family_name", &self.used_family_name),
            ("birth_given_names", &self.birth_given_names),
            ("birth_date", &self.birth_date),
            ("birth_place", &self.birth_place),
            ("birth_country", &self.birth_country),
            ("sex", &self.sex),
            ("email", &self.email),
            ("phone", &self.phone),
            ("rpps", &self.rpps),
            ("adeli", &self.adeli),
            ("contract_type", &self.contract_type),
            ("arrival_date", &self.arrival_date),
            ("departure_date", &self.departure_date),
            ("leaver", &self.leaver),
            ("suspended", &self.suspended),
            ("professions", &self.professions),
            ("service", &self.service),
            ("uf", &self.uf),
            ("finess", &self.finess),
            ("login", &self.login),
            ("account_control", &self.account_control),
        ];
        for (k, a) in opt {
            if let Some(a) = a {
                v.push((k, a.as_str()));
            }
        }
        v
    }
}

/// A problem found while validating the directory configuration: the key
/// path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key path, e.g. `directory.sources[1].url`.
    pub path: String,
    /// What is wrong, for an operator.
    pub message: String,
}

impl DirectoryConfig {
    /// Checks what serde cannot: unique names, fields each kind needs,
    /// readable values. Returns every problem, not only the first.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut p = |path: String, message: String| out.push(ConfigProblem { path, message });
        if self.batch_size == 0 || self.batch_size > 10_000 {
            p(
                "directory.batch_size".into(),
                "must be between 1 and 10000".into(),
            );
        }
        if !(1..=100).contains(&self.max_missing_percent) {
            p(
                "directory.max_missing_percent".into(),
                "must be between 1 and 100".into(),
            );
        }
        if self.missing_runs_before_departure == 0 {
            p(
                "directory.missing_runs_before_departure".into(),
                "must be at least 1 (a single missed run must never make someone leave)".into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let at = |k: &str| format!("directory.sources[{i}].{k}");
            if s.name.trim().is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                p(
                    at("name"),
                    format!("{:?} must be non-empty letters, digits, '-' or '_'", s.name),
                );
            }
            if !names.insert(s.name.clone()) {
                p(at("name"), format!("duplicate source name {:?}", s.name));
            }
            if s.name == crate::manual::MANUAL_SOURCE {
                p(
                    at("name"),
                    "\"manual\" is the built-in source of identities added by hand: choose another name".into(),
                );
            }
            if s.attributes.external_id.trim().is_empty() {
                p(
                    at("attributes.external_id"),
                    "must name the attribute holding the source's id".into(),
                );
            }
            match s.kind {
                SourceKind::Ldap => {
                    match &s.url {
                        None => p(at("url"), "required for an ldap source".into()),
                        Some(u) if !(u.starts_with("ldap://") || u.starts_with("ldaps://")) => p(
                            at("url"),
                            format!("{u:?} must start with ldap:// or ldaps://"),
                        ),
                        Some(u) if u.starts_with("ldaps://") && s.starttls => p(
                            at("starttls"),
                            "cannot be combined with an ldaps:// url".into(),
                        ),
                        _ => {}
                    }
                    if s.base_dn.as_deref().is_none_or(|b| b.trim().is_empty()) {
                        p(at("base_dn"), "required for an ldap source".into());
                    }
                    if s.bind_dn.is_some()
                        && s.bind_password_file.is_none()
                        && s.bind_password_env.is_none()
                    {
                        p(
                            at("bind_dn"),
                            "needs bind_password_file or bind_password_env".into(),
                        );
                    }
                    if s.bind_password_file.is_some() && s.bind_password_env.is_some() {
                        p(
                            at("bind_password_env"),
                            "set bind_password_file or bind_password_env, not both".into(),
                        );
                    }
                    if !(1..=1000).contains(&s.page_size) {
                        p(
                            at("page_size"),
                            "must be between 1 and 1000 (AD serves at most 1000 per page)".into(),
                        );
                    }
                    if !s.filter.starts_with('(') || !s.filter.ends_with(')') {
                        p(
                            at("filter"),
                            format!("{:?} is not an LDAP filter in parentheses", s.filter),
                        );
                    }
                    if s.path.is_some() {
                        p(at("path"), "only for csv sources".into());
                    }
                }
                SourceKind::Csv => {
                    if s.path.is_none() {
                        p(at("path"), "required for a csv source".into());
                    }
                    if s.delimiter.chars().count() != 1 || !s.delimiter.is_ascii() {
                        p(
                            at("delimiter"),
                            format!("{:?} must be one ASCII character", s.delimiter),
                        );
                    }
                    if s.url.is_some() {
                        p(at("url"), "only for ldap sources".into());
                    }
                    if s.interval_secs > 0 && s.full_sync_interval_secs == 0 {
                        p(at("full_sync_interval_secs"), "must be positive".into());
                    }
                }
            }
            if s.role == SourceRole::Hr && s.creates_identities() {
                for (field, v) in [
                    ("birth_family_name", &s.attributes.birth_family_name),
                    ("birth_given_names", &s.attributes.birth_given_names),
                    ("birth_date", &s.attributes.birth_date),
                ] {
                    if v.is_none() {
                        p(
                            at(&format!("attributes.{field}")),
                            "an hr source that creates identities must map it (identity traits)"
                                .into(),
                        );
                    }
                }
            }
        }
        out
    }

    /// A source by name: a configured one, or the built-in source of
    /// manual identities ([`crate::manual::MANUAL_SOURCE`]), whose records
    /// must count whenever their identity is computed again.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources
            .iter()
            .find(|s| s.name == name)
            .or_else(|| (name == crate::manual::MANUAL_SOURCE).then(|| &*crate::manual::BUILT_IN))
    }

    /// The position of a source in precedence order.
    pub fn precedence(&self, name: &str) -> usize {
        self.sources
            .iter()
            .position(|s| s.name == name)
            .unwrap_or(usize::MAX)
    }
}
