//! The archive's bytes (BACKUP_IMPORT.md §1.2–§1.4): header, and sealing/opening segments.
use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::Mac;
use rand::RngCore;
use uuid::Uuid;

use api_spec::ErrorCode;

use super::keys::{DerivedKeys, hmac};
use crate::error::{Result, fail};

pub const MAGIC: &[u8; 8] = b"COFFERBK";
/// A full backup's format (BACKUP_IMPORT.md §1): readable by every reader.
pub const FORMAT_VERSION: u16 = 1;
/// An incremental backup's format: a link of a chain (BACKUP_IMPORT.md §1.9). Its
/// `min_reader_version` is this too, so a reader of version 1 alone refuses it.
pub const CHAIN_FORMAT_VERSION: u16 = 2;
/// The newest `min_reader_version` this code can read.
pub const READER_VERSION: u16 = CHAIN_FORMAT_VERSION;
pub const HEADER_LEN: usize = 96;
pub const FLAG_ZSTD: u32 = 1;
pub const DEFAULT_SEGMENT_SIZE: u32 = 1024 * 1024;
pub const MIN_SEGMENT_SIZE: u32 = 64 * 1024;
pub const MAX_SEGMENT_SIZE: u32 = 16 * 1024 * 1024;
/// Room a compressed or padded segment may need beyond `segment_size`.
pub const SEGMENT_SLACK: u32 = 64 * 1024;
/// Bytes of a segment besides its ciphertext: len, final, iv, tag.
pub const SEGMENT_OVERHEAD: usize = 4 + 1 + 16 + 32;
const HEADER_CONTEXT: &[u8] = b"coffer-backup-v1 header";

type Encryptor = cbc::Encryptor<Aes256>;
type Decryptor = cbc::Decryptor<Aes256>;

/// The parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// [`FORMAT_VERSION`] or [`CHAIN_FORMAT_VERSION`]; also the header's `min_reader_version`.
    pub version: u16,
    pub flags: u32,
    pub segment_size: u32,
    pub key_id: [u8; 16],
    pub backup_id: Uuid,
    pub created_at: i64,
    pub mac: [u8; 32],
}

impl Header {
    pub fn compressed(&self) -> bool {
        self.flags & FLAG_ZSTD != 0
    }

    /// Whether this is a link of a chain (an incremental backup).
    pub fn is_link(&self) -> bool {
        self.version == CHAIN_FORMAT_VERSION
    }

    /// The 96 header bytes, MAC'd with `keys`, of format `version`.
    pub fn seal(
        keys: &DerivedKeys,
        version: u16,
        flags: u32,
        segment_size: u32,
        backup_id: Uuid,
        created_at: i64,
    ) -> Result<(Self, [u8; HEADER_LEN])> {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0..8].copy_from_slice(MAGIC);
        bytes[8..10].copy_from_slice(&version.to_be_bytes());
        bytes[10..12].copy_from_slice(&version.to_be_bytes());
        bytes[12..16].copy_from_slice(&flags.to_be_bytes());
        bytes[16..20].copy_from_slice(&segment_size.to_be_bytes());
        bytes[20..36].copy_from_slice(&keys.key_id);
        bytes[36..52].copy_from_slice(backup_id.as_bytes());
        bytes[52..60].copy_from_slice(&created_at.to_be_bytes());
        let mut mac = hmac(&keys.mac)?;
        mac.update(HEADER_CONTEXT);
        mac.update(&bytes[..64]);
        let tag: [u8; 32] = mac.finalize().into_bytes().into();
        bytes[64..96].copy_from_slice(&tag);
        let header = Header {
            version,
            flags,
            segment_size,
            key_id: keys.key_id,
            backup_id,
            created_at,
            mac: tag,
        };
        Ok((header, bytes))
    }

    /// Parses the fields that need no key (to find and check the key).
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self> {
        if &bytes[0..8] != MAGIC {
            return Err(fail(ErrorCode::BackupNotAnArchive));
        }
        let u16_at = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let (version, min_reader) = (u16_at(8), u16_at(10));
        if min_reader > READER_VERSION {
            return Err(fail(ErrorCode::BackupUnsupportedVersion));
        }
        // Every version this reader knows needs a reader of its own version.
        if version != min_reader {
            return Err(fail(ErrorCode::BackupHeaderInvalid));
        }
        let flags = u32_at(12);
        let segment_size = u32_at(16);
        let reserved = u32_at(60);
        if flags & !FLAG_ZSTD != 0
            || !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size)
            || reserved != 0
        {
            return Err(fail(ErrorCode::BackupHeaderInvalid));
        }
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&bytes[20..36]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[36..52]);
        let mut created = [0u8; 8];
        created.copy_from_slice(&bytes[52..60]);
        let mut mac = [0u8; 32];
        mac.copy_from_slice(&bytes[64..96]);
        Ok(Header {
            version,
            flags,
            segment_size,
            key_id,
            backup_id: Uuid::from_bytes(id),
            created_at: i64::from_be_bytes(created),
            mac,
        })
    }

    /// Checks the key and then the header MAC.
    pub fn authenticate(&self, bytes: &[u8; HEADER_LEN], keys: &DerivedKeys) -> Result<()> {
        if self.key_id != keys.key_id {
            return Err(fail(ErrorCode::BackupWrongKey));
        }
        let mut mac = hmac(&keys.mac)?;
        mac.update(HEADER_CONTEXT);
        mac.update(&bytes[..64]);
        mac.verify_slice(&bytes[64..96])
            .map_err(|_| fail(ErrorCode::BackupHeaderInvalid))
    }
}

fn segment_tag(
    keys: &DerivedKeys,
    header_mac: &[u8; 32],
    index: u64,
    last: bool,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<hmac::Hmac<sha2::Sha256>> {
    let mut mac = hmac(&keys.mac)?;
    mac.update(header_mac);
    mac.update(&index.to_be_bytes());
    mac.update(&[u8::from(last)]);
    mac.update(&(ciphertext.len() as u32).to_be_bytes());
    mac.update(iv);
    mac.update(ciphertext);
    Ok(mac)
}

/// Encrypts and MACs one segment body; returns the whole segment's bytes.
pub fn seal_segment(
    keys: &DerivedKeys,
    header_mac: &[u8; 32],
    index: u64,
    last: bool,
    body: &[u8],
) -> Result<Vec<u8>> {
    let mut iv = [0u8; 16];
    rand::rng().fill_bytes(&mut iv);
    let ciphertext =
        Encryptor::new(&keys.enc.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(body);
    let tag = segment_tag(keys, header_mac, index, last, &iv, &ciphertext)?
        .finalize()
        .into_bytes();
    let mut out = Vec::with_capacity(SEGMENT_OVERHEAD + ciphertext.len());
    out.extend_from_slice(&(ciphertext.len() as u32).to_be_bytes());
    out.push(u8::from(last));
    out.extend_from_slice(&iv);
    out.extend_from_slice(&ciphertext);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// A segment as read, before verification.
pub struct RawSegment {
    pub last: bool,
    pub iv: [u8; 16],
    pub ciphertext: Vec<u8>,
    pub tag: [u8; 32],
}

/// Verifies a segment's tag at `index` (telling a moved segment from a corrupt one) and
/// decrypts it. `lookaround`: how many other positions to try when the tag fails.
pub fn open_segment(
    keys: &DerivedKeys,
    header_mac: &[u8; 32],
    index: u64,
    raw: &RawSegment,
    lookaround: u64,
) -> Result<Vec<u8>> {
    let verifies = |i: u64| -> Result<bool> {
        Ok(
            segment_tag(keys, header_mac, i, raw.last, &raw.iv, &raw.ciphertext)?
                .verify_slice(&raw.tag)
                .is_ok(),
        )
    };
    if !verifies(index)? {
        let others = index.saturating_sub(lookaround)..index + lookaround;
        for other in others.filter(|i| *i != index) {
            if verifies(other)? {
                return Err(fail(ErrorCode::BackupSegmentOutOfOrder));
            }
        }
        return Err(fail(ErrorCode::BackupMacMismatch));
    }
    Decryptor::new(&keys.enc.into(), &raw.iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&raw.ciphertext)
        // A verified segment with bad padding was written wrongly, not tampered with.
        .map_err(|_| fail(ErrorCode::BackupMacMismatch))
}
