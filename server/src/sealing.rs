//! The server's master key (`master_key_file`), which seals the backup key files the server
//! holds: they are kept in the database sealed (XChaCha20-Poly1305, bound to their tenant and
//! backup), never in a store beside the archives. Reading the backup store alone opens
//! nothing; reading the database alone holds no archive. Lose the master key and the keys it
//! sealed are gone: README tells the operator to keep a copy apart from the server.
use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// What a sealed value starts with: its format.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The first line of a master key file the server writes.
const HEADER: &str = "# Coffer master key: it seals the backup keys this server holds. \
Lose it and they are gone; keep a copy apart from the server and its backups.";

pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    /// Names the key without revealing it: what sealed values record.
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// The key in `path`, made there (32 random bytes, mode 0600) when there is no such file
    /// and `may_create`. A file others may read is used, with a warning.
    pub fn load_or_create(path: &Path, may_create: bool) -> Result<Self> {
        let io =
            |e: std::io::Error| Error::Internal(format!("master_key_file {}: {e}", path.display()));
        if !path.exists() {
            if !may_create {
                return Err(Error::Internal(format!(
                    "master_key_file {} does not exist, and the database holds backup keys sealed with a master key: give this server that key file (every instance the same one)",
                    path.display()
                )));
            }
            Self::create(path).map_err(io)?;
        }
        warn_if_shared(path);
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(line, key.as_mut_slice()).map_err(|_| {
            Error::Internal(format!(
                "master_key_file {} does not hold a key (64 hex digits)",
                path.display()
            ))
        })?;
        Ok(Self::from_bytes(&key))
    }

    /// A key of these bytes (tests).
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"coffer master key id\0")
            .chain_update(key)
            .finalize();
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
            id: hex::encode(&digest[..8]),
        }
    }

    /// Writes a new key to `path`, readable by its owner only; an existing file (another
    /// instance made one meanwhile) is left as it is. Written whole beside it first, then
    /// linked into place, so that no reader sees a part of it.
    fn create(path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut_slice());
        let temp = dir.join(format!(".{}.master-key", Uuid::new_v4().simple()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = (|| {
            let mut file = options.open(&temp)?;
            let text = Zeroizing::new(format!("{HEADER}\n{}\n", hex::encode(key.as_slice())));
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::hard_link(&temp, path)
        })();
        let _ = std::fs::remove_file(&temp);
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            other => other?,
        }
        tracing::warn!(path = %path.display(),
            "made a new master key: back it up apart from the server (without it, the backup keys it seals cannot be opened)");
        Ok(())
    }

    /// Names this key (as sealed values record it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plain`, sealed for tenant `tenant`'s backup `backup`.
    pub fn seal(&self, tenant: Uuid, backup: Uuid, plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = aad(tenant, backup);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Internal("sealing a backup key failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// What `seal` sealed for this tenant and backup; `None` if it is not such a value of
    /// this key (another key sealed it, or it was altered or moved).
    pub fn open(&self, tenant: Uuid, backup: Uuid, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let aad = aad(tenant, backup);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

fn aad(tenant: Uuid, backup: Uuid) -> Vec<u8> {
    let mut aad = b"coffer backup key\0".to_vec();
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(backup.as_bytes());
    aad
}

/// Warns when others than the owner may read the key file.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
                "master_key_file may be read by others than its owner: chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_master_key_tenant_and_backup() {
        let master = MasterKey::from_bytes(&[7; 32]);
        let (tenant, backup) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = master.seal(tenant, backup, b"key file").unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"key file"));
        assert_eq!(&*master.open(tenant, backup, &sealed).unwrap(), b"key file");
        assert!(master.open(tenant, Uuid::now_v7(), &sealed).is_none());
        assert!(master.open(Uuid::now_v7(), backup, &sealed).is_none());
        let other = MasterKey::from_bytes(&[8; 32]);
        assert!(other.open(tenant, backup, &sealed).is_none());
        assert_ne!(master.id(), other.id());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(master.open(tenant, backup, &altered).is_none());
    }

    #[test]
    fn a_new_master_key_file_is_private_and_reads_back_as_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("master.key");
        assert!(MasterKey::load_or_create(&path, false).is_err());
        let first = MasterKey::load_or_create(&path, true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = MasterKey::load_or_create(&path, false).unwrap();
        assert_eq!(first.id(), again.id());
        std::fs::write(&path, "not a key\n").unwrap();
        let e = MasterKey::load_or_create(&path, true).unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
    }
}
