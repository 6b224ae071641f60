//! A throwaway OpenLDAP `slapd` for tests.
//!
//! Started from the Debian `slapd` package on a free loopback port with a
//! private config and data directory. The tree has a service account
//! (`cn=clavis,ou=services,…`) that is subject to the size limit, like the
//! read-only account a hospital gives Clavis; `cn=admin` loads fixtures.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The suffix of the test tree.
pub const SUFFIX: &str = "dc=chu-test,dc=fr";
/// The fixture-loading account.
pub const ADMIN_DN: &str = "cn=admin,dc=chu-test,dc=fr";
/// Its password.
pub const ADMIN_PW: &str = "admin-secret";
/// The read-only account Clavis binds with.
pub const SERVICE_DN: &str = "cn=clavis,ou=services,dc=chu-test,dc=fr";
/// Its password.
pub const SERVICE_PW: &str = "clavis-secret";
/// Entries a non-admin search may return without paging.
pub const SIZE_LIMIT: usize = 50;

/// HR and AD-like attributes (private OID arc, test only).
const SCHEMA: &str = r#"
attributetype ( 1.3.6.1.4.1.99999.7.1.1 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.2 NAME 'employeeID' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.3 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.4 NAME 'uSNChanged' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.5 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.7.2.1 NAME 'adUser' SUP top AUXILIARY MAY ( sAMAccountName $ employeeID $ userAccountControl $ uSNChanged $ userPrincipalName ) )
attributetype ( 1.3.6.1.4.1.99999.7.1.10 NAME 'birthName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.11 NAME 'birthDate' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.12 NAME 'birthPlace' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.13 NAME 'birthCountry' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.14 NAME 'sexCode' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.15 NAME 'rppsNumber' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.16 NAME 'adeliNumber' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.17 NAME 'contractType' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.18 NAME 'arrivalDate' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.19 NAME 'departureDate' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.20 NAME 'leaverFlag' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.21 NAME 'professionCode' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.3.6.1.4.1.99999.7.1.22 NAME 'serviceCode' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.23 NAME 'ufCode' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.7.1.24 NAME 'finessCode' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.7.2.2 NAME 'hrAgent' SUP top AUXILIARY MAY ( birthName $ birthDate $ birthPlace $ birthCountry $ sexCode $ rppsNumber $ adeliNumber $ contractType $ arrivalDate $ departureDate $ leaverFlag $ professionCode $ serviceCode $ ufCode $ finessCode ) )
"#;

/// A running slapd. Killed on drop.
#[derive(Debug)]
pub struct Slapd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// `ldap://127.0.0.1:PORT`.
    pub url: String,
}

fn sbin(name: &str) -> PathBuf {
    for d in ["/usr/sbin", "/usr/bin", "/usr/local/sbin"] {
        let p = PathBuf::from(d).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

impl Slapd {
    /// Starts slapd with the base tree (`ou=hr`, `ou=ad`, `ou=services`)
    /// loaded. Panics with slapd's log if it does not come up.
    pub fn start() -> Slapd {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("db")).expect("db dir");
        std::fs::write(d.join("clavis-test.schema"), SCHEMA).expect("schema");
        let conf = format!(
            r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include {dir}/clavis-test.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
sizelimit size.soft={lim} size.hard={lim} size.prtotal=unlimited
database mdb
maxsize 1073741824
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PW}
directory {dir}/db
index objectClass,entryCSN,entryUUID eq
index modifyTimestamp eq
overlay syncprov
syncprov-checkpoint 100 10
syncprov-sessionlog 1000
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"#,
            dir = d.display(),
            lim = SIZE_LIMIT,
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("conf");
        let port = crate::free_port();
        let mut s = Slapd {
            dir,
            child: None,
            port,
            url: format!("ldap://127.0.0.1:{port}"),
        };
        s.launch();
        s.add(&format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: chu-test\no: CHU Test\n\n\
             dn: ou=hr,{SUFFIX}\nobjectClass: organizationalUnit\nou: hr\n\n\
             dn: ou=ad,{SUFFIX}\nobjectClass: organizationalUnit\nou: ad\n\n\
             dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n\n\
             dn: {SERVICE_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: clavis\nsn: clavis\nuserPassword: {SERVICE_PW}\n"
        ));
        s
    }

    fn launch(&mut self) {
        // Another test may grab the same free port between our probe and
        // slapd's bind: then our slapd exits, and we retry on a new port.
        for _attempt in 0..5 {
            if self.try_launch() {
                return;
            }
            self.port = crate::free_port();
            self.url = format!("ldap://127.0.0.1:{}", self.port);
        }
        let log = std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default();
        panic!("slapd did not come up:\n{log}");
    }

    fn try_launch(&mut self) -> bool {
        let d = self.dir.path().to_path_buf();
        let _ = std::fs::remove_file(d.join("slapd.pid"));
        let log = std::fs::File::create(d.join("slapd.log")).expect("log file");
        let mut child = Command::new(sbin("slapd"))
            .args(["-h", &format!("ldap://127.0.0.1:{}/", self.port), "-f"])
            .arg(d.join("slapd.conf"))
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("slapd is installed (scripts/test installs it)");
        let pid = child.id().to_string();
        let port = self.port;
        let mut exited = false;
        // Ready = our own process wrote its pid file (it does so once its
        // listener is open) and the port answers.
        let up = crate::wait_until(Duration::from_secs(15), || {
            if matches!(child.try_wait(), Ok(Some(_))) {
                exited = true;
                return true;
            }
            std::fs::read_to_string(d.join("slapd.pid")).is_ok_and(|p| p.trim() == pid)
                && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up || exited {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        self.child = Some(child);
        true
    }

    /// Stops the server (the data stays: [`Slapd::restart`] brings it back).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let port = self.port;
        crate::wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        });
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn ldap_tool(&self, tool: &str, extra: &[&str], input: &str) {
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.url, "-D", ADMIN_DN, "-w", ADMIN_PW])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool} (ldap-utils) must be installed: {e}"));
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes())
            .expect("write ldif");
        let out = child.wait_with_output().expect("ldap tool runs");
        assert!(
            out.status.success(),
            "{tool} failed: {}\n--- input ---\n{input}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds entries (LDIF).
    pub fn add(&self, ldif: &str) {
        self.ldap_tool("ldapadd", &[], ldif);
    }

    /// Applies an LDIF change set (`changetype: modify` …).
    pub fn modify(&self, ldif: &str) {
        self.ldap_tool("ldapmodify", &[], ldif);
    }

    /// Deletes entries by DN.
    pub fn delete(&self, dns: &[&str]) {
        self.ldap_tool("ldapdelete", dns, "");
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
