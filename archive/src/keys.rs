//! Backup keys and key files (BACKUP_IMPORT.md §1.1, §1.5). Key material is never `Clone`,
//! `Debug`-printable or serialisable as such, and is zeroed on drop.
use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use api_spec::ErrorCode;

use super::format::Header;
use crate::error::{Error, Result, fail};

const INFO_ENC: &[u8] = b"coffer-backup-v1 enc";
const INFO_MAC: &[u8] = b"coffer-backup-v1 mac";
const INFO_KEY_ID: &[u8] = b"coffer-backup-v1 key-id";
const INFO_WRAP: &[u8] = b"coffer-backup-v1 wrap";
const WRAP_CHECK: &[u8] = b"coffer-backup-v1 wrap-check";

pub const KEY_FILE_FORMAT: &str = "coffer-backup-key";
pub const ALGORITHM: &str = "AES-256-CBC+HMAC-SHA256";

/// A backup's 256-bit key.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BackupKey([u8; 32]);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

/// The keys derived from a [`BackupKey`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DerivedKeys {
    pub enc: [u8; 32],
    pub mac: [u8; 32],
    #[zeroize(skip)]
    pub key_id: [u8; 16],
}

impl std::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedKeys")
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

fn hkdf_expand<const N: usize>(ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    // N ≤ 255 × 32, so expansion cannot fail; a zero key would then fail every MAC check.
    let _ = Hkdf::<Sha256>::new(None, ikm).expand(info, &mut out);
    out
}

impl BackupKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }

    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn derive(&self) -> DerivedKeys {
        DerivedKeys {
            enc: hkdf_expand(&self.0, INFO_ENC),
            mac: hkdf_expand(&self.0, INFO_MAC),
            key_id: hkdf_expand(&self.0, INFO_KEY_ID),
        }
    }
}

/// A key unlocked from its key file, still bound to the backup that file names. The segment
/// reader opens an archive only with one of these, and only an archive whose header names the
/// same backup (`check`): so every path that pairs a key file with an archive — `verify_backup`,
/// `coffer backup verify`, an import — refuses a key file edited or written for another
/// backup, instead of each having to remember to compare.
#[derive(Debug)]
pub struct BoundKey {
    key: BackupKey,
    backup_id: String,
    created_at: i64,
}

impl BoundKey {
    pub fn key(&self) -> &BackupKey {
        &self.key
    }

    pub fn derive(&self) -> DerivedKeys {
        self.key.derive()
    }

    /// The backup the key file names, as it spells it.
    pub fn backup_id(&self) -> &str {
        &self.backup_id
    }

    /// `backup_key_invalid` unless `header` (already authenticated with this key) is of the
    /// backup the key file names. The key id needs no comparison here: `unlock` matched the
    /// file's against the key, and `Header::authenticate` the header's. The file's `backup_id`
    /// must be spelled as the writer spells it (lower-case, hyphenated): a key file is not
    /// typed by hand, so another spelling is an edit.
    pub fn check(&self, header: &Header) -> Result<()> {
        if self.backup_id != header.backup_id.to_string() || self.created_at != header.created_at {
            return Err(fail(ErrorCode::BackupKeyInvalid));
        }
        Ok(())
    }
}

/// argon2id parameters and salt of a wrapped key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wrapped {
    pub kdf: String,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub salt: String,
    pub ciphertext: String,
    pub check: String,
}

/// The key file, as stored and as handed to the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub format: String,
    pub version: u32,
    pub algorithm: String,
    pub key_id: String,
    pub backup_id: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped: Option<Wrapped>,
    /// Version 2, a write-only backup: the key encrypted to X25519 recipients, as a binary
    /// age file in base64. Only an identity of one of them opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<String>,
}

/// `age1…` public keys, parsed; `backup_key_invalid` for anything else.
pub fn parse_recipients(texts: &[String]) -> Result<Vec<age::x25519::Recipient>> {
    texts
        .iter()
        .map(|t| {
            t.trim()
                .parse::<age::x25519::Recipient>()
                .map_err(|_| fail(ErrorCode::BackupKeyInvalid))
        })
        .collect()
}

/// Every `AGE-SECRET-KEY-1…` line of an identity file's text (an identity file may hold
/// several); `backup_wrong_identity` if it holds none.
pub fn parse_identities(text: &str) -> Result<Vec<age::x25519::Identity>> {
    let identities: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .filter_map(|l| l.parse::<age::x25519::Identity>().ok())
        .collect();
    if identities.is_empty() {
        return Err(fail(ErrorCode::BackupWrongIdentity));
    }
    Ok(identities)
}

/// argon2id cost of passphrase wrapping.
#[derive(Debug, Clone, Copy)]
pub struct WrapParams {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for WrapParams {
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
        }
    }
}

/// The most argon2id work one unlock may ask for: a wrapped key file names its own cost, and
/// whoever made it may name up to 4 GiB and 64 iterations (the format's bounds, [`KdfLimits::
/// FORMAT`]) — about 14 s of a core and 4 GiB for a single unlock. A server pays only up to
/// its configured limits ([`KdfLimits::server`]); the offline CLI may be given more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfLimits {
    pub max_memory_kib: u32,
    pub max_iterations: u32,
}

impl KdfLimits {
    /// What the format allows at all; beyond it a key file is `backup_key_invalid`.
    pub const FORMAT: KdfLimits = KdfLimits {
        max_memory_kib: 4 * 1024 * 1024,
        max_iterations: 64,
    };

    /// A server's limits: the configured ones, raised to its own wrapping cost (`own`), so
    /// that it always opens the key files it writes.
    pub fn server(max_memory_kib: u32, max_iterations: u32, own: WrapParams) -> Self {
        KdfLimits {
            max_memory_kib: max_memory_kib.max(own.memory_kib),
            max_iterations: max_iterations.max(own.iterations),
        }
    }

    /// `key_cost_too_high` (naming these limits) when `wrapped` asks for more.
    fn check(self, wrapped: &Wrapped) -> Result<()> {
        if wrapped.memory_kib > self.max_memory_kib || wrapped.iterations > self.max_iterations {
            return Err(Error::KeyCost {
                max_memory_kib: self.max_memory_kib,
                max_iterations: self.max_iterations,
            });
        }
        Ok(())
    }
}

fn kek(
    passphrase: &str,
    salt: &[u8],
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
) -> Result<Zeroizing<[u8; 32]>> {
    let bad = || fail(ErrorCode::BackupKeyInvalid);
    check_params(memory_kib, iterations, parallelism)?;
    let params = Params::new(memory_kib, iterations, parallelism, Some(32)).map_err(|_| bad())?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|_| bad())?;
    Ok(out)
}

/// `backup_key_invalid` unless the parameters are within the format's bounds.
fn check_params(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<()> {
    let format = KdfLimits::FORMAT;
    if !(8 * 1024..=format.max_memory_kib).contains(&memory_kib)
        || !(1..=format.max_iterations).contains(&iterations)
        || !(1..=16).contains(&parallelism)
    {
        return Err(fail(ErrorCode::BackupKeyInvalid));
    }
    Ok(())
}

/// An HMAC-SHA256 instance (HMAC accepts keys of any length, so this cannot fail).
pub fn hmac(key: &[u8]) -> Result<Hmac<Sha256>> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| Error::Internal("hmac key".into()))
}

fn wrap_check(kek: &[u8; 32], ciphertext: &[u8]) -> Result<Hmac<Sha256>> {
    let mut mac = hmac(kek)?;
    mac.update(WRAP_CHECK);
    mac.update(ciphertext);
    Ok(mac)
}

impl KeyFile {
    /// The key file for `key`, wrapped with `passphrase` when given. CPU-heavy with a
    /// passphrase (argon2id): call it off the async reactor.
    pub fn new(
        key: &BackupKey,
        backup_id: uuid::Uuid,
        created_at: i64,
        passphrase: Option<&str>,
        params: WrapParams,
    ) -> Result<Self> {
        let key_id = hex::encode(key.derive().key_id);
        let (plain, wrapped) = match passphrase {
            None => (Some(hex::encode(key.expose_secret())), None),
            Some(pass) => {
                let mut salt = [0u8; 16];
                rand::rng().fill_bytes(&mut salt);
                let kek = kek(pass, &salt, params.memory_kib, params.iterations, 1)?;
                let pad: Zeroizing<[u8; 32]> = Zeroizing::new(hkdf_expand(kek.as_ref(), INFO_WRAP));
                let mut ciphertext = [0u8; 32];
                for (i, b) in ciphertext.iter_mut().enumerate() {
                    *b = key.expose_secret()[i] ^ pad[i];
                }
                let check: [u8; 32] = wrap_check(&kek, &ciphertext)?
                    .finalize()
                    .into_bytes()
                    .into();
                let wrapped = Wrapped {
                    kdf: "argon2id".into(),
                    memory_kib: params.memory_kib,
                    iterations: params.iterations,
                    parallelism: 1,
                    salt: hex::encode(salt),
                    ciphertext: hex::encode(ciphertext),
                    check: hex::encode(check),
                };
                (None, Some(wrapped))
            }
        };
        Ok(Self {
            format: KEY_FILE_FORMAT.into(),
            version: 1,
            algorithm: ALGORITHM.into(),
            key_id,
            backup_id: backup_id.to_string(),
            created_at,
            key: plain,
            wrapped,
            recipients: None,
        })
    }

    /// The key file of a write-only backup (version 2): `key` encrypted to `recipients` (at
    /// least one), so that only their identities open it.
    pub fn for_recipients(
        key: &BackupKey,
        backup_id: uuid::Uuid,
        created_at: i64,
        recipients: &[age::x25519::Recipient],
    ) -> Result<Self> {
        use base64::Engine;
        use std::io::Write;
        let wrap_err = |e: String| Error::Internal(format!("wrapping to recipients: {e}"));
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| wrap_err(e.to_string()))?;
        let mut sealed = Vec::new();
        let mut writer = encryptor
            .wrap_output(&mut sealed)
            .map_err(|e| wrap_err(e.to_string()))?;
        writer
            .write_all(key.expose_secret())
            .and_then(|()| writer.finish().map(|_| ()))
            .map_err(|e| wrap_err(e.to_string()))?;
        Ok(Self {
            format: KEY_FILE_FORMAT.into(),
            version: 2,
            algorithm: ALGORITHM.into(),
            key_id: hex::encode(key.derive().key_id),
            backup_id: backup_id.to_string(),
            created_at,
            key: None,
            wrapped: None,
            recipients: Some(base64::engine::general_purpose::STANDARD.encode(sealed)),
        })
    }

    /// Whether opening it needs a secret the server does not keep: a passphrase or an
    /// identity.
    pub fn needs_secret(&self) -> bool {
        self.wrapped.is_some() || self.recipients.is_some()
    }

    /// Of a passphrase and an identity given, the one this key file takes: the identity for
    /// a write-only backup's, the passphrase otherwise.
    pub fn pick_secret<T>(&self, passphrase: Option<T>, identity: Option<T>) -> Option<T> {
        if self.recipients.is_some() {
            identity
        } else {
            passphrase
        }
    }

    /// Parses and checks a key file's shape.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let file: KeyFile =
            serde_json::from_slice(bytes).map_err(|_| fail(ErrorCode::BackupKeyInvalid))?;
        let shape = match file.version {
            1 => file.recipients.is_none() && file.key.is_some() != file.wrapped.is_some(),
            2 => file.recipients.is_some() && file.key.is_none() && file.wrapped.is_none(),
            _ => false,
        };
        if file.format != KEY_FILE_FORMAT || file.algorithm != ALGORITHM || !shape {
            return Err(fail(ErrorCode::BackupKeyInvalid));
        }
        Ok(file)
    }

    /// `key_cost_too_high` if unwrapping this key would ask argon2id for more than `limits`
    /// (nothing is allocated or derived). [`KeyFile::unlock`] checks it first; this lets a
    /// caller refuse before queueing for a KDF thread.
    pub fn check_cost(&self, limits: KdfLimits) -> Result<()> {
        match &self.wrapped {
            Some(w) => limits.check(w),
            None => Ok(()),
        }
    }

    /// The key: raw, unwrapped with `passphrase` at a cost within `limits`, or — for a
    /// write-only backup — opened with the identity `passphrase` then holds (an identity
    /// file's text); bound to this file's backup. CPU- and memory-heavy when wrapped (up to
    /// `limits`).
    pub fn unlock(&self, passphrase: Option<&str>, limits: KdfLimits) -> Result<BoundKey> {
        if let Some(sealed) = &self.recipients {
            let identity = passphrase.ok_or_else(|| fail(ErrorCode::BackupIdentityRequired))?;
            let key = open_sealed(sealed, &parse_identities(identity)?)?;
            return self.bind(key);
        }
        let bad = || fail(ErrorCode::BackupKeyInvalid);
        let decode32 = |h: &str| -> Result<Zeroizing<[u8; 32]>> {
            let v = Zeroizing::new(hex::decode(h).map_err(|_| bad())?);
            let arr: [u8; 32] = v.as_slice().try_into().map_err(|_| bad())?;
            Ok(Zeroizing::new(arr))
        };
        let key = match (&self.key, &self.wrapped) {
            (Some(raw), None) => BackupKey(*decode32(raw)?),
            (None, Some(w)) => {
                if w.kdf != "argon2id" {
                    return Err(bad());
                }
                // Beyond the format it is a broken file; within it but above the limits, a
                // cost refused before any of it is paid (passphrase or not).
                check_params(w.memory_kib, w.iterations, w.parallelism)?;
                limits.check(w)?;
                let pass = passphrase.ok_or_else(|| fail(ErrorCode::BackupPassphraseRequired))?;
                let salt = hex::decode(&w.salt).map_err(|_| bad())?;
                if salt.len() < 16 {
                    return Err(bad());
                }
                let kek = kek(pass, &salt, w.memory_kib, w.iterations, w.parallelism)?;
                let ciphertext = decode32(&w.ciphertext)?;
                let check = decode32(&w.check)?;
                if wrap_check(&kek, ciphertext.as_ref())?
                    .verify_slice(check.as_ref())
                    .is_err()
                {
                    return Err(fail(ErrorCode::BackupWrongPassphrase));
                }
                let pad: Zeroizing<[u8; 32]> = Zeroizing::new(hkdf_expand(kek.as_ref(), INFO_WRAP));
                let mut k = [0u8; 32];
                for (i, b) in k.iter_mut().enumerate() {
                    *b = ciphertext[i] ^ pad[i];
                }
                BackupKey(k)
            }
            _ => return Err(bad()),
        };
        self.bind(key)
    }

    /// `key`, bound to this file's backup, if it is the key this file names.
    fn bind(&self, key: BackupKey) -> Result<BoundKey> {
        if hex::encode(key.derive().key_id) != self.key_id {
            return Err(fail(ErrorCode::BackupKeyInvalid));
        }
        Ok(BoundKey {
            key,
            backup_id: self.backup_id.clone(),
            created_at: self.created_at,
        })
    }
}

/// The 32-byte key a version-2 key file seals, opened with one of `identities`.
fn open_sealed(sealed: &str, identities: &[age::x25519::Identity]) -> Result<BackupKey> {
    use base64::Engine;
    use std::io::Read;
    let bad = || fail(ErrorCode::BackupKeyInvalid);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| bad())?;
    let decryptor = age::Decryptor::new_buffered(&bytes[..]).map_err(|_| bad())?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => fail(ErrorCode::BackupWrongIdentity),
            _ => bad(),
        })?;
    let mut key = Zeroizing::new(Vec::new());
    reader
        .by_ref()
        .take(33)
        .read_to_end(&mut key)
        .map_err(|_| bad())?;
    let key: [u8; 32] = key.as_slice().try_into().map_err(|_| bad())?;
    Ok(BackupKey(key))
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("json: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const LIGHT: WrapParams = WrapParams {
        memory_kib: 8 * 1024,
        iterations: 1,
    };

    #[test]
    fn raw_key_files_round_trip() {
        let key = BackupKey::generate();
        let file = KeyFile::new(&key, uuid::Uuid::nil(), 1, None, LIGHT).unwrap();
        let parsed = KeyFile::parse(&serde_json::to_vec(&file).unwrap()).unwrap();
        assert_eq!(
            parsed
                .unlock(None, KdfLimits::FORMAT)
                .unwrap()
                .key()
                .expose_secret(),
            key.expose_secret()
        );
        assert!(!format!("{key:?}").contains(&hex::encode(key.expose_secret())));
    }

    #[test]
    fn wrapped_key_files_need_the_right_passphrase() {
        let key = BackupKey::generate();
        let file = KeyFile::new(&key, uuid::Uuid::nil(), 1, Some("correct horse"), LIGHT).unwrap();
        assert!(file.key.is_none());
        let text = serde_json::to_string(&file).unwrap();
        assert!(!text.contains(&hex::encode(key.expose_secret())));
        assert_eq!(
            file.unlock(Some("correct horse"), KdfLimits::FORMAT)
                .unwrap()
                .key()
                .expose_secret(),
            key.expose_secret()
        );
        assert_eq!(
            file.unlock(Some("wrong horse"), KdfLimits::FORMAT)
                .unwrap_err()
                .code(),
            ErrorCode::BackupWrongPassphrase
        );
        assert_eq!(
            file.unlock(None, KdfLimits::FORMAT).unwrap_err().code(),
            ErrorCode::BackupPassphraseRequired
        );
    }

    #[test]
    fn write_only_key_files_open_only_with_an_identity_of_a_recipient() {
        use age::secrecy::ExposeSecret;
        let key = BackupKey::generate();
        let (alice, bob, eve) = (
            age::x25519::Identity::generate(),
            age::x25519::Identity::generate(),
            age::x25519::Identity::generate(),
        );
        let recipients = [alice.to_public(), bob.to_public()];
        let file = KeyFile::for_recipients(&key, uuid::Uuid::nil(), 1, &recipients).unwrap();
        let text = serde_json::to_string(&file).unwrap();
        assert!(!text.contains(&hex::encode(key.expose_secret())));
        let parsed = KeyFile::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.version, 2);
        assert!(parsed.needs_secret());
        for who in [&alice, &bob] {
            // An identity file's text, comments and all.
            let identity = format!("# a comment\n{}\n", who.to_string().expose_secret());
            let bound = parsed.unlock(Some(&identity), KdfLimits::FORMAT).unwrap();
            assert_eq!(bound.key().expose_secret(), key.expose_secret());
        }
        let code =
            |secret: Option<&str>| parsed.unlock(secret, KdfLimits::FORMAT).unwrap_err().code();
        assert_eq!(code(None), ErrorCode::BackupIdentityRequired);
        let eve = eve.to_string();
        assert_eq!(
            code(Some(eve.expose_secret())),
            ErrorCode::BackupWrongIdentity
        );
        assert_eq!(code(Some("correct horse")), ErrorCode::BackupWrongIdentity);
        // A file holding several identities opens it with whichever is a recipient's.
        let several = format!(
            "{}\n{}\n",
            eve.expose_secret(),
            bob.to_string().expose_secret()
        );
        let bound = parsed.unlock(Some(&several), KdfLimits::FORMAT).unwrap();
        assert_eq!(bound.key().expose_secret(), key.expose_secret());
        // Version 2 holds only recipients; version 1 never does.
        let mut mixed = file.clone();
        mixed.key = Some(hex::encode(key.expose_secret()));
        assert!(KeyFile::parse(&serde_json::to_vec(&mixed).unwrap()).is_err());
        let mut old = file.clone();
        old.version = 1;
        assert!(KeyFile::parse(&serde_json::to_vec(&old).unwrap()).is_err());
    }

    #[test]
    fn tampered_or_malformed_key_files_are_refused() {
        let key = BackupKey::generate();
        let mut file = KeyFile::new(&key, uuid::Uuid::nil(), 1, None, LIGHT).unwrap();
        file.key_id = "00".repeat(16);
        assert_eq!(
            file.unlock(None, KdfLimits::FORMAT).unwrap_err().code(),
            ErrorCode::BackupKeyInvalid
        );
        assert_eq!(
            KeyFile::parse(b"{\"key\": \"00\"}").unwrap_err().code(),
            ErrorCode::BackupKeyInvalid
        );
        let derived = key.derive();
        assert_ne!(derived.enc, derived.mac);
    }

    #[test]
    fn a_key_opens_only_the_backup_its_file_names() {
        let key = BackupKey::generate();
        let id = uuid::Uuid::new_v4();
        let file = KeyFile::new(&key, id, 1_795_514_343_054, None, LIGHT).unwrap();
        let (header, _) = Header::seal(
            &key.derive(),
            crate::format::FORMAT_VERSION,
            0,
            64 * 1024,
            id,
            1_795_514_343_054,
        )
        .unwrap();
        file.unlock(None, KdfLimits::FORMAT)
            .unwrap()
            .check(&header)
            .unwrap();
        type Change = fn(&mut KeyFile);
        let edits: [(&str, Change); 6] = [
            ("empty backup_id", |f| f.backup_id = String::new()),
            ("another backup_id", |f| {
                f.backup_id = uuid::Uuid::new_v4().to_string();
            }),
            ("upper-case backup_id", |f| {
                f.backup_id = f.backup_id.to_uppercase();
            }),
            ("created_at 0", |f| f.created_at = 0),
            ("created_at -1", |f| f.created_at = -1),
            ("created_at off by one", |f| f.created_at += 1),
        ];
        for (case, edit) in edits {
            let mut edited = file.clone();
            edit(&mut edited);
            let reparsed = KeyFile::parse(&serde_json::to_vec(&edited).unwrap()).unwrap();
            let bound = reparsed.unlock(None, KdfLimits::FORMAT).unwrap();
            assert_eq!(
                bound.check(&header).unwrap_err().code(),
                ErrorCode::BackupKeyInvalid,
                "{case}"
            );
        }
    }

    /// Any string, or the one value the parser accepts.
    fn or_valid(valid: &'static str) -> impl Strategy<Value = String> {
        prop_oneof![Just(valid.to_owned()), any::<String>()]
    }

    /// Key files with arbitrary field values, mostly of the accepted shape.
    fn key_files() -> impl Strategy<Value = KeyFile> {
        let wrapped = (
            any::<(String, u32, u32, u32)>(),
            any::<(String, String, String)>(),
        )
            .prop_map(
                |((kdf, memory_kib, iterations, parallelism), (salt, ciphertext, check))| Wrapped {
                    kdf,
                    memory_kib,
                    iterations,
                    parallelism,
                    salt,
                    ciphertext,
                    check,
                },
            );
        (
            (
                or_valid(KEY_FILE_FORMAT),
                prop_oneof![Just(1u32), any::<u32>()],
            ),
            (
                or_valid(ALGORITHM),
                any::<String>(),
                any::<String>(),
                any::<i64>(),
            ),
            (
                proptest::option::of(any::<String>()),
                proptest::option::of(wrapped),
            ),
        )
            .prop_map(
                |(
                    (format, version),
                    (algorithm, key_id, backup_id, created_at),
                    (key, wrapped),
                )| {
                    KeyFile {
                        format,
                        version,
                        algorithm,
                        key_id,
                        backup_id,
                        created_at,
                        key,
                        wrapped,
                        recipients: None,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the bytes, parsing answers a key file or `backup_key_invalid`.
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Err(e) = KeyFile::parse(&bytes) {
                prop_assert_eq!(e.code(), ErrorCode::BackupKeyInvalid);
            }
        }

        /// A real key file with some bytes changed: still only a key file or `backup_key_invalid`.
        #[test]
        fn edited_key_files_never_panic_the_parser(
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let file = KeyFile::new(&BackupKey::generate(), uuid::Uuid::new_v4(), 1, None, LIGHT).unwrap();
            let mut bytes = serde_json::to_vec_pretty(&file).unwrap();
            for (at, byte) in edits {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            if let Err(e) = KeyFile::parse(&bytes).and_then(|f| f.unlock(None, KdfLimits::FORMAT).map(|_| ())) {
                prop_assert_eq!(e.code(), ErrorCode::BackupKeyInvalid);
            }
        }

        /// parse(serialize(k)) == k for every key file of the accepted shape; anything else is
        /// `backup_key_invalid`.
        #[test]
        fn key_files_round_trip(file in key_files()) {
            let valid = file.format == KEY_FILE_FORMAT
                && file.version == 1
                && file.algorithm == ALGORITHM
                && file.key.is_some() != file.wrapped.is_some();
            match KeyFile::parse(&serde_json::to_vec(&file).unwrap()) {
                Ok(parsed) => prop_assert!(valid && parsed == file),
                Err(e) => prop_assert!(!valid && e.code() == ErrorCode::BackupKeyInvalid),
            }
        }
    }
}
