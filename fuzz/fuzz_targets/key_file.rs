//! `KeyFile::parse` on any bytes: it never panics; a refusal is `backup_key_invalid`; a
//! parsed key file serialises and parses back to itself, and unlocking it without a
//! passphrase (which never runs argon2: a wrapped key stops at `passphrase_required`)
//! answers a key or a coded, non-internal error.
#![no_main]

use api_spec::ErrorCode;
use coffer::archive::keys::KeyFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = match KeyFile::parse(data) {
        Ok(file) => file,
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::BackupKeyInvalid, "{e:?}");
            return;
        }
    };
    let text = serde_json::to_vec(&file).expect("a key file serialises");
    let back = KeyFile::parse(&text).expect("a serialised key file parses");
    assert_eq!(back, file);
    if let Err(e) = file.unlock(None, coffer::archive::keys::KdfLimits::FORMAT) {
        assert_ne!(e.code(), ErrorCode::Internal, "{e:?}");
    }
});
