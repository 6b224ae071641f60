//! Reading the master key ([`clavis_core::master_key::MasterKey`]) at
//! start-up: from the systemd credential `clavis-master-key` when the
//! process has one, else from `oidc.master_key_file` (by default
//! `master.key` in the state directory: 64 hexadecimal digits, mode 0600).
//!
//! Only `clavis serve` creates it, on its first start
//! ([`load_for_service`]). Every other command reads the key the service
//! uses or refuses ([`load_for_command`]): a command that made its own key
//! would seal PINs and signing keys the service can never open.

use anyhow::{Context, Result, bail};
use clavis_core::master_key::MasterKey;
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

/// The key for `clavis serve`: read from [`location`], created there
/// (mode 0600) on the first start.
pub fn load_for_service(configured: &Path) -> Result<MasterKey> {
    load(&location(configured), true)
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
            "Une commande ne crée jamais de clé maître : seul `clavis serve` la crée, à son premier \
             démarrage. Lancez d'abord le service, ou donnez à la commande la clé qu'il utilise : \
             oidc.master_key_file dans la configuration, ou, si le service la reçoit par \
             LoadCredential=clavis-master-key:FICHIER, `systemd-run --pipe --wait -p User=clavis \
             -p LoadCredential=clavis-master-key:FICHIER clavis …`.",
            "A command never creates a master key: only `clavis serve` does, on its first start. \
             Start the service first, or give the command the key it uses: oidc.master_key_file in \
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

    #[test]
    fn a_command_never_creates_the_key_and_says_where_it_looked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/master.key");
        let e = load_for_command(&path).expect_err("refused");
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("clavis serve"), "{text}");
        assert!(!path.exists(), "no key was created");
        let created = load_for_service(&path).expect("the service creates it");
        let read = load_for_command(&path).expect("the command reads it");
        assert_eq!(created.derive("x"), read.derive("x"));
    }
}
