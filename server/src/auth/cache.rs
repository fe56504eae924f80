//! Authenticated sessions remembered between requests, so that a request costs no query to
//! learn who sent it (authentication was six of the queries of every small action).
//!
//! An entry is used only while all of these hold:
//! * nothing that can change a session, user, group, membership or grant has committed on
//!   this instance since the entry was computed — such actions call
//!   `AppState::forget_authentications` after their commit, which calls
//!   [`AuthCache::invalidate`] (bumping a generation every entry is checked against) here and,
//!   through the event bus, on every other instance sharing a PostgreSQL database;
//! * the clock has not reached `until`: the session's expiry or the next start or end of a
//!   membership or grant window of the user, whichever is first;
//! * the entry is younger than the configured `auth_cache_ms`, which bounds how long a change
//!   the bus failed to bring goes unseen here (0 turns the cache off).
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::AuthContext;

/// Entries kept at most; a full cache is emptied (entries are cheap to recompute).
const MAX_ENTRIES: usize = 65_536;

struct Entry {
    auth: AuthContext,
    generation: u64,
    until: i64,
}

pub struct AuthCache {
    ttl_ms: i64,
    generation: AtomicU64,
    /// By token digest.
    entries: Mutex<HashMap<String, Entry>>,
}

impl AuthCache {
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            ttl_ms: i64::try_from(ttl_ms).unwrap_or(i64::MAX),
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The generation to pass to [`AuthCache::put`]; read it *before* loading what is put.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The session of `digest` as computed earlier, if that computation still holds at `now`.
    pub fn get(&self, digest: &str, now: i64) -> Option<AuthContext> {
        let generation = self.generation();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(digest)
            .filter(|e| e.generation == generation && now < e.until)
            .map(|e| e.auth.clone())
    }

    /// Remembers `auth`, computed at `now` from data read after `generation` was taken, as
    /// valid until `until` at the latest.
    pub fn put(&self, digest: String, auth: AuthContext, generation: u64, now: i64, until: i64) {
        // Computed before a change that has since committed: it could never be served.
        if self.ttl_ms == 0 || generation != self.generation() {
            return;
        }
        let until = until.min(now.saturating_add(self.ttl_ms));
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            digest,
            Entry {
                auth,
                generation,
                until,
            },
        );
    }

    /// Forgets every entry. Call after committing any change to sessions, users, groups,
    /// memberships or grants.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
