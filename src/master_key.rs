//! Reading the master key ([`clavis_core::master_key::MasterKey`]) at
//! start-up: from the systemd credential `clavis-master-key` when the
//! service has one, else from `oidc.master_key_file` (by default
//! `master.key` in the state directory: 64 hexadecimal digits, mode 0600,
//! created on the first start).

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

/// Reads the key (64 hex digits) from `path`, creating it (mode 0600)
/// with a new random key when `create` and the file does not exist.
pub fn load(path: &Path, create: bool) -> Result<MasterKey> {
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
}
