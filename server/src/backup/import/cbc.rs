//! Streaming AES-256-CBC decryption of `IV(16) ‖ CBC(PKCS7(plain))`, the legacy CFMS
//! archive layout: blocks are decrypted as they arrive, and the last one is held back until
//! the end to strip its padding. Nothing here is authenticated.
use std::io::Read;

use aes::Aes256;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use api_spec::ErrorCode;

use crate::archive::stream::{coded, serve};
use crate::error::{Result, fail};

/// Decrypts `IV ‖ CBC(PKCS7(plain))` as a stream, holding back the last block until the end
/// to strip the padding.
pub struct CbcReader<R> {
    inner: R,
    cipher: cbc::Decryptor<Aes256>,
    /// Ciphertext read but not yet decrypted (always less than one block, or the held-back
    /// last block).
    pending: Vec<u8>,
    plain: Vec<u8>,
    pos: usize,
    done: bool,
}

const BLOCK: usize = 16;
const CHUNK: usize = 256 * 1024;

impl<R: Read> CbcReader<R> {
    pub fn new(mut inner: R, key: &[u8; 32]) -> Result<Self> {
        let mut iv = [0u8; BLOCK];
        inner
            .read_exact(&mut iv)
            .map_err(|_| fail(ErrorCode::BackupNotAnArchive))?;
        Ok(Self {
            inner,
            cipher: cbc::Decryptor::<Aes256>::new(key.into(), &iv.into()),
            pending: Vec::new(),
            plain: Vec::new(),
            pos: 0,
            done: false,
        })
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut buf = vec![0u8; CHUNK];
        let n = self.inner.read(&mut buf)?;
        self.plain.clear();
        self.pos = 0;
        if n == 0 {
            self.done = true;
            // The end: exactly one held-back block, whose padding is PKCS#7.
            if self.pending.len() != BLOCK {
                return Err(coded(ErrorCode::BackupTruncated));
            }
            let mut last = std::mem::take(&mut self.pending);
            self.cipher
                .decrypt_block_mut(GenericArray::from_mut_slice(&mut last));
            let pad = last[BLOCK - 1] as usize;
            if pad == 0 || pad > BLOCK || last[BLOCK - pad..].iter().any(|&b| b as usize != pad) {
                // Unauthenticated CBC: bad padding is all a wrong key shows.
                return Err(coded(ErrorCode::BackupWrongKey));
            }
            last.truncate(BLOCK - pad);
            self.plain = last;
            return Ok(());
        }
        self.pending.extend_from_slice(&buf[..n]);
        // Keep the last full block (it may be the padded one) and any partial block.
        let keep = match self.pending.len() % BLOCK {
            0 => BLOCK,
            r => r,
        };
        let ready = self.pending.len().saturating_sub(keep);
        let mut rest = self.pending.split_off(ready);
        std::mem::swap(&mut rest, &mut self.pending);
        for block in rest.chunks_exact_mut(BLOCK) {
            self.cipher
                .decrypt_block_mut(GenericArray::from_mut_slice(block));
        }
        self.plain = rest;
        Ok(())
    }
}

impl<R: Read> Read for CbcReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.fill()?;
        }
        Ok(serve(&self.plain, &mut self.pos, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(key: &[u8; 32], iv: [u8; 16], plain: &[u8]) -> Vec<u8> {
        use aes::cipher::BlockEncryptMut;
        use aes::cipher::block_padding::Pkcs7;
        let mut out = iv.to_vec();
        out.extend(
            cbc::Encryptor::<Aes256>::new(key.into(), &iv.into())
                .encrypt_padded_vec_mut::<Pkcs7>(plain),
        );
        out
    }

    #[test]
    fn streaming_decryption_matches_for_every_length() {
        let key = [7u8; 32];
        for len in [
            0,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK + 5,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let archive = encrypt(&[7u8; 32], [3u8; 16], &plain);
            let mut got = Vec::new();
            CbcReader::new(archive.as_slice(), &key)
                .unwrap()
                .read_to_end(&mut got)
                .unwrap();
            assert_eq!(got, plain, "length {len}");
        }
    }

    #[test]
    fn truncation_and_a_wrong_key_are_errors() {
        let plain = vec![1u8; 100];
        let archive = encrypt(&[7u8; 32], [3u8; 16], &plain);
        let wrong = [8u8; 32];
        let mut sink = Vec::new();
        // Unauthenticated: a wrong key fails the padding check or yields other bytes.
        let outcome = CbcReader::new(archive.as_slice(), &wrong)
            .unwrap()
            .read_to_end(&mut sink);
        assert!(outcome.is_err() || sink != plain);
        let key = [7u8; 32];
        let cut = &archive[..archive.len() - 5];
        assert!(
            CbcReader::new(cut, &key)
                .unwrap()
                .read_to_end(&mut Vec::new())
                .is_err()
        );
    }
}
