//! Reading the master key ([`clavis_core::master_key::MasterKey`]) at
//! start-up: from the systemd credential `clavis-master-key` when the
//! process has one, else from `oidc.master_key_file` (by default
//! `master.key` in the state directory: 64 hexadecimal digits, mode 0600).
//!
//! Only `clavis serve` (on its first start) and `clavis admin init` create
//! it, and only while the database holds nothing sealed yet
//! ([`load_for_service`]). Every other
//! command reads the key the service uses or refuses ([`load_for_command`]):
//! a command that made its own key would seal PINs and signing keys the
//! service can never open.
//!
//! Whichever key is used is checked against the database ([`check`]): the
//! first process records the key's fingerprint there (`master_key_check`),
//! every later one — another node, a command, a restart with another key
//! file — compares its own and refuses on a difference.

use anyhow::{Context, Result, bail};
use clavis_core::master_key::MasterKey;
use clavis_store::Db;
use clavis_store::models::{MasterKeyCheck, OidcKeyRow};
use std::path::{Path, PathBuf};

/// Name of the systemd credential holding the master key
/// (`LoadCredential=clavis-master-key:…`).
pub const CREDENTIAL_NAME: &str = "clavis-master-key";

/// Where the master key is read from: the systemd credential when the
/// service has one, else `configured`.
pub fn location(configured: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let p = Path::new(&dir).join(CREDENTIAL_NAME);
        if p.exists() {
            return p;
        }
    }
    configured.to_path_buf()
}

/// The key for `clavis serve`: read from [`location`]; created there
/// (mode 0600) on the first start only, while the database holds nothing
/// sealed under a master key (no fingerprint recorded, no signing key).
/// Over sealed data a missing key is an error saying to restore it, never
/// a new key. Then [`check`]ed.
pub async fn load_for_service(configured: &Path, db: &Db, now: i64) -> Result<MasterKey> {
    let path = location(configured);
    let sealed = {
        let mut conn = db.conn().await?;
        MasterKeyCheck::find(&mut conn).await?.is_some()
            || !OidcKeyRow::published(&mut conn, i64::MIN).await?.is_empty()
    };
    if sealed && !path.exists() {
        bail!(
            "{} {}
{}",
            crate::cli::t("clé maître introuvable :", "master key not found:"),
            path.display(),
            crate::cli::t(
                "La base de données contient des clés de signature et des codes PIN scellés par une \
                 clé maître : Clavis n'en crée pas une autre, qui ne les ouvrirait pas. Restaurez la \
                 clé de votre sauvegarde à cet emplacement (mode 0600, propriétaire clavis), ou \
                 indiquez où elle est (oidc.master_key_file, ou LoadCredential=clavis-master-key:…).",
                "The database holds signing keys and PINs sealed under a master key: Clavis does not \
                 create another one, which would not open them. Restore the key from your backup at \
                 this place (mode 0600, owned by clavis), or say where it is (oidc.master_key_file, \
                 or LoadCredential=clavis-master-key:…)."
            )
        );
    }
    let master = load(&path, !sealed)?;
    check(db, &master, &path, now).await?;
    Ok(master)
}

/// The fingerprint of `master` kept in the database: an HMAC under the key
/// (it tells nothing of the key).
pub fn fingerprint(master: &MasterKey) -> String {
    hex::encode(master.derive("master key fingerprint"))
}

/// Checks that `master` (read from `path`) is the key this database was
/// sealed under: the same fingerprint as the one recorded, or, when none
/// is yet, a key that opens the signing keys stored (if any), whose
/// fingerprint is then recorded for every later process.
pub async fn check(db: &Db, master: &MasterKey, path: &Path, now: i64) -> Result<()> {
    let mine = fingerprint(master);
    let mut conn = db.conn().await?;
    let recorded = match MasterKeyCheck::find(&mut conn).await? {
        Some(r) => r,
        None => {
            if let Err(e) = clavis_oidc::keys::KeyRing::load(&mut conn, master, now, now).await {
                return Err(not_the_key(path)).context(e.to_string());
            }
            MasterKeyCheck::record(&mut conn, &mine, now).await?;
            MasterKeyCheck::find(&mut conn)
                .await?
                .context("master_key_check: recorded, then not found")?
        }
    };
    if !clavis_core::secret::constant_time_eq(recorded.fingerprint.as_bytes(), mine.as_bytes()) {
        return Err(not_the_key(path));
    }
    Ok(())
}

fn not_the_key(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} {}
{}",
        crate::cli::t(
            "la clé maître lue ici n'est pas celle de cette base de données :",
            "the master key read here is not this database's:"
        ),
        path.display(),
        crate::cli::t(
            "Tous les nœuds et toutes les commandes doivent utiliser la même clé maître, celle qui a \
             scellé les clés de signature et les codes PIN. Donnez-leur la clé du service (la même \
             sur chaque nœud) ; rien n'a été écrit.",
            "Every node and every command must use the same master key, the one that sealed the \
             signing keys and the PINs. Give them the service's key (the same on every node); \
             nothing was written."
        )
    )
}

/// The key for every command but `serve`: the one the service uses, read
/// from the systemd credential when this process has one, else from
/// `configured`. Never created: when neither exists, the error names where
/// it looked and what to do.
pub fn load_for_command(configured: &Path) -> Result<MasterKey> {
    let path = location(configured);
    if path.exists() {
        return load(&path, false);
    }
    let credential = match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => format!(
            "{} ({})",
            Path::new(&dir).join(CREDENTIAL_NAME).display(),
            crate::cli::t("absent", "missing")
        ),
        None => crate::cli::t(
            "identifiant systemd clavis-master-key (CREDENTIALS_DIRECTORY non défini)",
            "systemd credential clavis-master-key (CREDENTIALS_DIRECTORY not set)",
        )
        .to_string(),
    };
    bail!(
        "{}\n  - {credential}\n  - {} ({})\n{}",
        crate::cli::t(
            "clé maître introuvable ; cherchée dans :",
            "master key not found; looked in:"
        ),
        configured.display(),
        crate::cli::t("absent", "missing"),
        crate::cli::t(
            "Une commande ne crée jamais de clé maître : seuls `clavis serve`, à son premier \
             démarrage, et `clavis admin init` la créent. Lancez d'abord l'un d'eux, ou donnez à la commande la clé qu'il utilise : \
             oidc.master_key_file dans la configuration, ou, si le service la reçoit par \
             LoadCredential=clavis-master-key:FICHIER, `systemd-run --pipe --wait -p User=clavis \
             -p LoadCredential=clavis-master-key:FICHIER clavis …`.",
            "A command never creates a master key: only `clavis serve`, on its first start, and \
             `clavis admin init` do. Run one of them first, or give the command the key it uses: oidc.master_key_file in \
             the configuration or, if the service gets it through \
             LoadCredential=clavis-master-key:FILE, `systemd-run --pipe --wait -p User=clavis \
             -p LoadCredential=clavis-master-key:FILE clavis …`."
        )
    )
}

/// Reads the key (64 hex digits) from `path`, creating it (mode 0600)
/// with a new random key when `create` and the file does not exist.
fn load(path: &Path, create: bool) -> Result<MasterKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes: Option<[u8; 32]> = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok());
            let Some(bytes) = bytes else {
                bail!(
                    "master key: {}: expected 64 hexadecimal digits (32 bytes)",
                    path.display()
                );
            };
            Ok(MasterKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let bytes = MasterKey::generate_bytes().context("master key")?;
            write_private(path, &format!("{}\n", hex::encode(bytes)))
                .with_context(|| format!("master key: {}", path.display()))?;
            tracing::warn!(path = %path.display(), "created a new master key: back it up, signing keys cannot be read without it");
            Ok(MasterKey::from_bytes(&bytes))
        }
        Err(e) => Err(e).with_context(|| format!("master key: {}", path.display())),
    }
}

/// Writes a new file readable by its owner only; never replaces one.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/master.key");
        assert!(load(&path, false).is_err(), "not created unless asked");
        let created = load(&path, true).expect("created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load(&path, true).expect("read back");
        assert_eq!(created.derive("x"), again.derive("x"));
        std::fs::write(&path, "not hex\n").expect("write");
        let e = load(&path, false).expect_err("refused");
        assert!(e.to_string().contains("64 hexadecimal digits"), "{e}");
    }

    /// `e` says `fr` or `en` (the language is the environment's).
    fn says(e: &anyhow::Error, fr: &str, en: &str) {
        let text = format!("{e:#}");
        assert!(text.contains(fr) || text.contains(en), "{text}");
    }

    /// A migrated SQLite database in `dir`.
    async fn database(dir: &Path) -> Db {
        let db = Db::open(&dir.join("clavis.db").display().to_string(), 2).expect("db");
        clavis_store::migrate::run_pending(&db)
            .await
            .expect("migrated");
        db
    }

    #[tokio::test]
    async fn a_command_never_creates_the_key_and_says_where_it_looked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = database(dir.path()).await;
        let path = dir.path().join("state/master.key");
        let e = load_for_command(&path).expect_err("refused");
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("clavis serve"), "{text}");
        assert!(!path.exists(), "no key was created");
        let created = load_for_service(&path, &db, 0)
            .await
            .expect("the service creates it");
        let read = load_for_command(&path).expect("the command reads it");
        assert_eq!(created.derive("x"), read.derive("x"));
        check(&db, &read, &path, 0).await.expect("the same key");
    }

    /// Once a key has sealed this database, another key is refused (a
    /// command, another node) and a missing one is never replaced by a new
    /// one, even before any signing key exists.
    #[tokio::test]
    async fn another_or_a_missing_key_is_refused_over_a_sealed_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = database(dir.path()).await;
        let path = dir.path().join("state/master.key");
        let first = load_for_service(&path, &db, 0).await.expect("created");
        // Another key file: refused by a command and by serve.
        let other = dir.path().join("other.key");
        let stranger = load(&other, true).expect("another key");
        let e = check(&db, &stranger, &other, 0).await.expect_err("refused");
        says(&e, "n'est pas celle de cette base", "not this database's");
        let e = load_for_service(&other, &db, 0).await.expect_err("refused");
        says(&e, "n'est pas celle de cette base", "not this database's");
        // The key lost: serve refuses to make a new one.
        let backup = std::fs::read_to_string(&path).expect("backup");
        std::fs::remove_file(&path).expect("rm");
        let e = load_for_service(&path, &db, 0).await.expect_err("refused");
        says(&e, "Restaurez la clé", "Restore the key");
        assert!(!path.exists(), "no new key was created over sealed data");
        // Restored: accepted again.
        std::fs::write(
            &path,
            format!("{}\n", hex::encode(first.derive("never used"))),
        )
        .expect("w");
        let e = load_for_service(&path, &db, 0)
            .await
            .expect_err("a wrong restore");
        says(&e, "n'est pas celle de cette base", "not this database's");
        std::fs::write(&path, backup).expect("restore");
        let back = load_for_service(&path, &db, 0)
            .await
            .expect("the right key");
        assert_eq!(back.derive("x"), first.derive("x"));
    }
}
