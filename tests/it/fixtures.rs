//! People, LDAP entries and source configurations for the tests.

use clavis_core::{Clock, FixedClock};
use clavis_directory::config::{
    AttributeMap, CursorAttribute, SourceConfig, SourceKind, SourceRole,
};
use clavis_directory::lifecycle::{LifecycleEvent, LifecycleSubscriber, SubscriberError};
use clavis_directory::{DirectoryConfig, SyncEngine};
use clavis_store::DbConn;
use clavis_testkit::slapd::{SERVICE_DN, SERVICE_PW, SUFFIX, Slapd};
use std::sync::{Arc, Mutex};

/// An HR entry.
#[derive(Debug, Clone)]
pub struct Hr {
    pub id: String,
    pub birth_name: String,
    pub used_name: String,
    pub given: Vec<String>,
    pub birth_date: String,
    pub birth_place: String,
    pub rpps: Option<String>,
    pub arrival: String,
    pub departure: Option<String>,
    pub leaver: bool,
    pub service: String,
    pub profession: String,
}

impl Hr {
    pub fn new(id: &str, name: &str, given: &str, birth_date: &str) -> Hr {
        Hr {
            id: id.into(),
            birth_name: name.into(),
            used_name: name.into(),
            given: given.split(',').map(|g| g.trim().to_string()).collect(),
            birth_date: birth_date.into(),
            birth_place: "75056".into(),
            rpps: None,
            arrival: "2020-01-01".into(),
            departure: None,
            leaver: false,
            service: "URG".into(),
            profession: "60".into(),
        }
    }

    pub fn dn(&self) -> String {
        format!("uid={},ou=hr,{SUFFIX}", self.id)
    }

    pub fn ldif(&self) -> String {
        let mut s = format!(
            "dn: {}\nobjectClass: inetOrgPerson\nobjectClass: hrAgent\nuid: {}\ncn: {} {}\nsn: {}\nbirthName: {}\nemployeeNumber: {}\nbirthDate: {}\nbirthPlace: {}\narrivalDate: {}\nserviceCode: {}\nprofessionCode: {}\ncontractType: CDI\n",
            self.dn(),
            self.id,
            self.given[0],
            self.used_name,
            self.used_name,
            self.birth_name,
            self.id,
            self.birth_date,
            self.birth_place,
            self.arrival,
            self.service,
            self.profession
        );
        for g in &self.given {
            s.push_str(&format!("givenName: {g}\n"));
        }
        if let Some(r) = &self.rpps {
            s.push_str(&format!("rppsNumber: {r}\n"));
        }
        if let Some(d) = &self.departure {
            s.push_str(&format!("departureDate: {d}\n"));
        }
        if self.leaver {
            s.push_str("leaverFlag: TRUE\n");
        }
        s.push('\n');
        s
    }
}

/// An AD-like account entry.
pub fn ad_ldif(login: &str, employee_id: &str, uac: u32, usn: u64) -> String {
    let emp = if employee_id.is_empty() {
        String::new()
    } else {
        format!("employeeID: {employee_id}\n")
    };
    format!(
        "dn: uid={login},ou=ad,{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: adUser\nuid: {login}\ncn: {login}\nsn: {login}\nsAMAccountName: {login}\n{emp}userAccountControl: {uac}\nuSNChanged: {usn}\nmail: {login}@chu-test.fr\n\n"
    )
}

pub fn ad_dn(login: &str) -> String {
    format!("uid={login},ou=ad,{SUFFIX}")
}

fn password_file() -> std::path::PathBuf {
    // One file per call: tests run in parallel and must never read a file
    // another test is rewriting.
    let dir = std::env::temp_dir().join("clavis-it-secrets");
    std::fs::create_dir_all(&dir).expect("secrets dir");
    let p = dir.join(format!("ldap-pw-{}", clavis_core::ids::new_record_id()));
    std::fs::write(&p, format!("{SERVICE_PW}\n")).expect("pw file");
    p
}

fn ldap_source(
    name: &str,
    role: SourceRole,
    slapd: &Slapd,
    ou: &str,
    attributes: AttributeMap,
) -> SourceConfig {
    SourceConfig {
        url: Some(slapd.url.clone()),
        bind_dn: Some(SERVICE_DN.into()),
        bind_password_file: Some(password_file()),
        base_dn: Some(format!("ou={ou},{SUFFIX}")),
        filter: "(objectClass=inetOrgPerson)".into(),
        page_size: 10,
        timeout_secs: 10,
        ..SourceConfig::new(name, SourceKind::Ldap, role, attributes)
    }
}

pub fn hr_source(slapd: &Slapd) -> SourceConfig {
    ldap_source(
        "rh",
        SourceRole::Hr,
        slapd,
        "hr",
        AttributeMap {
            external_id: "employeeNumber".into(),
            join_key: Some("employeeNumber".into()),
            birth_family_name: Some("birthName".into()),
            used_family_name: Some("sn".into()),
            birth_given_names: Some("givenName".into()),
            birth_date: Some("birthDate".into()),
            birth_place: Some("birthPlace".into()),
            rpps: Some("rppsNumber".into()),
            contract_type: Some("contractType".into()),
            arrival_date: Some("arrivalDate".into()),
            departure_date: Some("departureDate".into()),
            leaver: Some("leaverFlag".into()),
            professions: Some("professionCode".into()),
            service: Some("serviceCode".into()),
            uf: Some("ufCode".into()),
            finess: Some("finessCode".into()),
            ..AttributeMap::default()
        },
    )
}

pub fn ad_source(slapd: &Slapd) -> SourceConfig {
    let mut s = ldap_source(
        "ad",
        SourceRole::Ad,
        slapd,
        "ad",
        AttributeMap {
            external_id: "uid".into(),
            join_key: Some("employeeID".into()),
            login: Some("sAMAccountName".into()),
            email: Some("mail".into()),
            account_control: Some("userAccountControl".into()),
            ..AttributeMap::default()
        },
    );
    s.cursor_attribute = Some(CursorAttribute::UsnChanged);
    s
}

pub fn csv_source(path: &std::path::Path) -> SourceConfig {
    SourceConfig {
        path: Some(path.to_path_buf()),
        ..SourceConfig::new(
            "rh-csv",
            SourceKind::Csv,
            SourceRole::Hr,
            AttributeMap {
                external_id: "Matricule".into(),
                birth_family_name: Some("Nom de naissance".into()),
                birth_given_names: Some("Prénoms".into()),
                birth_date: Some("Date de naissance".into()),
                birth_place: Some("Lieu de naissance".into()),
                rpps: Some("RPPS".into()),
                ..AttributeMap::default()
            },
        )
    }
}

/// Records lifecycle events, to prove subscribers are called.
#[derive(Debug, Default)]
pub struct Recorder(pub Mutex<Vec<LifecycleEvent>>);

#[async_trait::async_trait]
impl LifecycleSubscriber for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    async fn on_event(
        &self,
        _conn: &mut DbConn,
        event: &LifecycleEvent,
    ) -> Result<(), SubscriberError> {
        self.0.lock().expect("lock").push(event.clone());
        Ok(())
    }
}

/// The instant tests start at.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    "2026-11-22T08:00:00Z".parse().expect("valid instant")
}

/// An engine over `db` with these sources, a clock pinned at [`t0`] and a
/// recording subscriber.
pub fn engine(
    db: &clavis_store::Db,
    sources: Vec<SourceConfig>,
    batch: usize,
) -> (SyncEngine, FixedClock, Arc<Recorder>) {
    let clock = FixedClock::at(t0());
    let recorder = Arc::new(Recorder::default());
    let cfg = DirectoryConfig {
        missing_runs_before_departure: 2,
        batch_size: batch,
        max_missing_percent: 5,
        sources,
        ..DirectoryConfig::default()
    };
    let c: Arc<dyn Clock> = Arc::new(clock.clone());
    (
        SyncEngine::new(db.clone(), Arc::new(cfg), c, vec![recorder.clone()]),
        clock,
        recorder,
    )
}
