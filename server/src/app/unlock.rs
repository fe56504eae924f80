//! Unlocking uploaded and stored key files on the server, at a bounded cost and fairly.
//!
//! A passphrase-wrapped key file names its own argon2id cost, up to 4 GiB and 64 iterations.
//! Three bounds keep one tenant's key from costing the server, or other tenants, without end:
//! * the cost: a key asking for more than [`KdfLimits`] (configured, with a default near the
//!   server's own wrapping cost) is refused with `key_cost_too_high` before anything is
//!   allocated or queued;
//! * the threads: unlocks run on their own [`KdfPool`] of one thread, so at most one unlock's
//!   memory (at most the limit) is held at once, and the login pool's threads are never held
//!   by a backup key (a key at the default limit takes ~1.8 s, ~60× a login's hash; sharing
//!   that pool would make logins wait behind it);
//! * the turn: each tenant has at most one unlock queued or running — its next waits for it
//!   outside the pool's queue — so that queue holds at most one unlock per tenant, and one
//!   tenant starting many imports delays another tenant's unlock by at most one of its own.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::archive::keys::{BoundKey, KdfLimits, KeyFile};
use crate::error::Result;
use crate::kdf::KdfPool;

/// Runs key-file unlocks for the server (see the module docs).
pub struct Unlocker {
    limits: KdfLimits,
    pool: KdfPool,
    /// Per tenant, the lock whose holder may unlock; entries go when nobody holds or waits.
    turns: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

/// A tenant's turn; dropping it lets the tenant's next unlock in.
struct Turn<'a> {
    unlocker: &'a Unlocker,
    tenant: Uuid,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut turns = self.unlocker.turns();
        // Only the map holds it: nobody of this tenant waits.
        if turns
            .get(&self.tenant)
            .is_some_and(|t| Arc::strong_count(t) == 1)
        {
            turns.remove(&self.tenant);
        }
    }
}

impl Unlocker {
    /// Unlocks at most `limits` on one thread of its own.
    pub fn new(limits: KdfLimits) -> Result<Self> {
        Ok(Self {
            limits,
            pool: KdfPool::new(1)?,
            turns: Mutex::new(HashMap::new()),
        })
    }

    /// The limits this server unlocks within.
    pub fn limits(&self) -> KdfLimits {
        self.limits
    }

    fn turns(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>> {
        self.turns.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn turn(&self, tenant: Uuid) -> Turn<'_> {
        let lock = Arc::clone(self.turns().entry(tenant).or_default());
        let mut turn = Turn {
            unlocker: self,
            tenant,
            guard: None,
        };
        turn.guard = Some(lock.lock_owned().await);
        turn
    }

    /// `file` unlocked with `passphrase` for `tenant`: `key_cost_too_high` at once if it asks
    /// for more than the limits, otherwise after the tenant's earlier unlocks and in the
    /// pool's order.
    pub async fn unlock(
        &self,
        tenant: Uuid,
        file: KeyFile,
        passphrase: Option<Zeroizing<String>>,
    ) -> Result<BoundKey> {
        file.check_cost(self.limits)?;
        if file.wrapped.is_none() {
            // A raw key costs nothing to read, nor one an identity opens (X25519).
            return Ok(file.unlock(passphrase.as_deref().map(String::as_str), self.limits)?);
        }
        let _turn = self.turn(tenant).await;
        let limits = self.limits;
        self.pool
            .run(move || Ok(file.unlock(passphrase.as_deref().map(String::as_str), limits)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::archive::keys::{BackupKey, WrapParams};

    const LIGHT: WrapParams = WrapParams {
        memory_kib: 8 * 1024,
        iterations: 1,
    };

    fn wrapped(params: WrapParams) -> KeyFile {
        let key = BackupKey::generate();
        KeyFile::new(&key, Uuid::nil(), 1, Some("correct horse"), params).unwrap()
    }

    #[tokio::test]
    async fn a_costly_key_is_refused_before_any_work() {
        let unlocker = Unlocker::new(KdfLimits::server(64 * 1024, 3, LIGHT)).unwrap();
        let mut file = wrapped(LIGHT);
        let w = file.wrapped.as_mut().unwrap();
        (w.memory_kib, w.iterations) = (4 * 1024 * 1024, 64);
        let started = Instant::now();
        let e = unlocker
            .unlock(
                Uuid::nil(),
                file,
                Some(Zeroizing::new("correct horse".into())),
            )
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(100));
        let data = e.to_reply_data();
        assert_eq!(data.error, api_spec::ErrorCode::KeyCostTooHigh);
        assert_eq!(
            (data.max_memory_kib, data.max_iterations),
            (Some(65536), Some(3))
        );
        let pass = Some(Zeroizing::new("correct horse".to_owned()));
        assert!(
            unlocker
                .unlock(Uuid::nil(), wrapped(LIGHT), pass)
                .await
                .is_ok()
        );
        assert!(unlocker.turns().is_empty(), "turns are forgotten when done");
    }

    #[test]
    fn a_server_always_opens_what_it_wraps() {
        let own = WrapParams {
            memory_kib: 512 * 1024,
            iterations: 12,
        };
        let limits = KdfLimits::server(256 * 1024, 8, own);
        assert_eq!(
            (limits.max_memory_kib, limits.max_iterations),
            (512 * 1024, 12)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_tenant_waits_for_its_own_unlocks_not_for_all_of_anothers() {
        let unlocker = Arc::new(Unlocker::new(KdfLimits::FORMAT).unwrap());
        let light = WrapParams {
            memory_kib: 8 * 1024,
            iterations: 6,
        };
        // A's first unlock is slow enough (hundreds of ms) that everything else is queued
        // while it runs, however loaded the machine is.
        let slow = WrapParams {
            memory_kib: 64 * 1024,
            iterations: 8,
        };
        // Tenant A queues four unlocks; tenant B's one, queued after them, runs second.
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let order = Arc::new(Mutex::new(Vec::new()));
        let files: Vec<(Uuid, KeyFile)> =
            [(a, slow), (a, light), (a, light), (a, light), (b, light)]
                .into_iter()
                .map(|(t, cost)| (t, wrapped(cost)))
                .collect();
        let mut tasks = Vec::new();
        for (tenant, file) in files {
            let (unlocker, order) = (Arc::clone(&unlocker), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let pass = Some(Zeroizing::new("correct horse".to_owned()));
                unlocker.unlock(tenant, file, pass).await.unwrap();
                order.lock().unwrap().push(tenant);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let b_at = order.iter().position(|t| *t == b).unwrap();
        assert!(
            b_at <= 1,
            "tenant B waited for all of A's unlocks: {order:?}"
        );
    }
}
