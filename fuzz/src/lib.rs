//! What the fuzz targets share: a fixed backup key and the sealing of archives with it,
//! through the server's own public format functions (so a sealed archive is exactly what an
//! export writes, and every tag verifies).
use coffer::archive::format::{
    self, FLAG_ZSTD, FORMAT_VERSION, HEADER_LEN, Header, MIN_SEGMENT_SIZE,
};
use coffer::archive::keys::{BoundKey, DerivedKeys, KeyFile};

/// A raw key file for the key 00 01 … 1f. Fixed, so that a crash found in one run reproduces
/// in the next; `key()` proves the key id matches by unlocking it.
const KEY_FILE: &str = r#"{"format":"coffer-backup-key","version":1,
    "algorithm":"AES-256-CBC+HMAC-SHA256","key_id":"65513e1c1e5d0353739ad049d34b723a",
    "backup_id":"00000000-0000-0000-0000-000000000000","created_at":0,
    "key":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}"#;

/// The backup id every sealed archive carries.
pub const BACKUP_ID: uuid::Uuid = uuid::Uuid::nil();

/// Segment size of sealed archives: the smallest allowed, so small inputs span segments.
pub const SEGMENT_SIZE: u32 = MIN_SEGMENT_SIZE;

/// The fixed key, bound to the backup id and time every sealed archive carries.
pub fn key() -> BoundKey {
    match KeyFile::parse(KEY_FILE.as_bytes())
        .and_then(|f| f.unlock(None, coffer::archive::keys::KdfLimits::FORMAT))
    {
        Ok(key) => key,
        Err(e) => panic!("the fixed key file is broken: {e:?}"),
    }
}

/// A header sealed with `keys`.
pub fn header(keys: &DerivedKeys, flags: u32, segment_size: u32) -> (Header, [u8; HEADER_LEN]) {
    match Header::seal(keys, FORMAT_VERSION, flags, segment_size, BACKUP_ID, 0) {
        Ok(sealed) => sealed,
        Err(e) => panic!("sealing a header failed: {e:?}"),
    }
}

/// One segment, as the writer seals it: `plain` compressed first when `compress`.
pub fn segment(
    keys: &DerivedKeys,
    header: &Header,
    index: u64,
    last: bool,
    plain: &[u8],
) -> Vec<u8> {
    let body = if header.compressed() {
        match zstd::bulk::compress(plain, 1) {
            Ok(body) => body,
            Err(e) => panic!("zstd: {e}"),
        }
    } else {
        plain.to_vec()
    };
    match format::seal_segment(keys, &header.mac, index, last, &body) {
        Ok(sealed) => sealed,
        Err(e) => panic!("sealing a segment failed: {e:?}"),
    }
}

/// A well-formed archive of `plain`: header, then segments of `SEGMENT_SIZE`, the last one
/// marked final (an empty plaintext is one empty final segment, as the writer makes it).
pub fn seal(keys: &DerivedKeys, plain: &[u8], compress: bool) -> Vec<u8> {
    let flags = if compress { FLAG_ZSTD } else { 0 };
    let (header, bytes) = header(keys, flags, SEGMENT_SIZE);
    let mut out = bytes.to_vec();
    let chunks: Vec<&[u8]> = if plain.is_empty() {
        vec![plain]
    } else {
        plain.chunks(SEGMENT_SIZE as usize).collect()
    };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        out.extend(segment(keys, &header, i as u64, i == last, chunk));
    }
    out
}
