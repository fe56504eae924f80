//! argon2id password hashing, run off the async reactor (a hash takes tens of milliseconds
//! by design and would otherwise stall every connection on the worker) on the bounded
//! [`KdfPool`] (each hash also takes `argon2_memory_kib` of memory: a crowd of logins must
//! not take that many times over).
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::OnceCell;

use api_spec::ErrorCode;

use crate::error::{Error, Result, field_error};
use crate::kdf::KdfPool;

/// Hashes and verifies passwords with fixed argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasherPool {
    params: Params,
    threads: KdfPool,
    /// Hash of a random password, verified against when the user does not exist, so a
    /// login for an unknown user costs the same time as one with a wrong password.
    dummy: Arc<OnceCell<String>>,
}

impl PasswordHasherPool {
    /// Hashes with these parameters on `threads`.
    pub fn new(memory_kib: u32, iterations: u32, threads: KdfPool) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            params,
            threads,
            dummy: Arc::new(OnceCell::new()),
        })
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// The PHC string of a fresh salted hash.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params.clone();
        let password = zeroize::Zeroizing::new(password.to_owned());
        self.threads
            .run(move || {
                let salt = SaltString::generate(&mut OsRng);
                Self::argon2(params)
                    .hash_password(password.as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| Error::Internal(format!("argon2 hash: {e}")))
            })
            .await
    }

    /// Whether `password` matches `phc`. A malformed stored hash is an internal error.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        let params = self.params.clone();
        let password = zeroize::Zeroizing::new(password.to_owned());
        let phc = phc.to_owned();
        self.threads
            .run(move || {
                let parsed = PasswordHash::new(&phc)
                    .map_err(|e| Error::Internal(format!("stored hash: {e}")))?;
                Ok(Self::argon2(params)
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            })
            .await
    }

    /// Spends the time of one verification without a user (see `dummy`).
    pub async fn verify_dummy(&self, password: &str) -> Result<()> {
        let dummy = self
            .dummy
            .get_or_try_init(|| async { self.hash(&crate::auth::token::generate()).await })
            .await?
            .clone();
        self.verify(password, &dummy).await.map(|_| ())
    }
}

/// The password policy: 8–256 characters, not equal to the username.
pub fn check_policy(username: &str, password: &str, field: &str) -> Result<()> {
    let len = password.chars().count();
    if !(8..=256).contains(&len) || password == username {
        return Err(field_error(ErrorCode::WeakPassword, field));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let pool = PasswordHasherPool::new(64, 1, KdfPool::new(1).unwrap()).unwrap();
        let phc = pool.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(pool.verify("correct horse", &phc).await.unwrap());
        assert!(!pool.verify("wrong horse", &phc).await.unwrap());
        pool.verify_dummy("anything").await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_wait_for_a_free_kdf_thread() {
        let threads = KdfPool::new(1).unwrap();
        let pool = PasswordHasherPool::new(64, 1, threads.clone()).unwrap();
        let phc = pool.hash("correct horse").await.unwrap();
        let busy = tokio::spawn({
            let threads = threads.clone();
            async move {
                threads
                    .run(|| {
                        std::thread::sleep(std::time::Duration::from_millis(300));
                        Ok(())
                    })
                    .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        assert!(pool.verify("correct horse", &phc).await.unwrap());
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(200),
            "a verification ran beside the pool's only thread's work: {:?}",
            started.elapsed()
        );
        busy.await.unwrap().unwrap();
    }

    #[test]
    fn policy() {
        assert!(check_policy("bob", "short", "p").is_err());
        assert!(check_policy("longusername", "longusername", "p").is_err());
        assert!(check_policy("bob", "long enough", "p").is_ok());
        assert!(check_policy("bob", &"x".repeat(257), "p").is_err());
    }
}
