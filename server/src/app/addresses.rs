//! How many WebSocket connections each client address holds, so that one address cannot
//! take every connection the server can keep (`max_connections_per_address`).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per address, shared by every worker.
#[derive(Default)]
pub struct AddressCounts {
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One admitted connection; dropping it gives the place back.
pub struct AddressSlot {
    counts: Arc<AddressCounts>,
    address: IpAddr,
}

impl AddressCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open now, from every address.
    pub fn total(&self) -> u64 {
        self.lock().values().map(|n| u64::from(*n)).sum()
    }

    /// Connections `address` holds now.
    pub fn open(&self, address: IpAddr) -> u32 {
        self.lock().get(&address).copied().unwrap_or(0)
    }

    /// Admits one more connection from `address` unless it holds `limit` already (0: no
    /// limit).
    pub fn admit(self: &Arc<Self>, address: IpAddr, limit: u32) -> Option<AddressSlot> {
        let mut open = self.lock();
        let n = open.entry(address).or_insert(0);
        if limit > 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            counts: Arc::clone(self),
            address,
        })
    }

    fn release(&self, address: IpAddr) {
        let mut open = self.lock();
        if let Some(n) = open.get_mut(&address) {
            *n -= 1;
            if *n == 0 {
                open.remove(&address);
            }
        }
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        self.counts.release(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_release_on_drop_and_forget_empty_addresses() {
        let counts = Arc::new(AddressCounts::default());
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let first = counts.admit(a, 2).expect("first");
        let second = counts.admit(a, 2).expect("second");
        assert!(counts.admit(a, 2).is_none(), "a third is over the limit");
        let other = counts
            .admit(b, 2)
            .expect("another address has its own count");
        assert!(counts.admit(a, 0).is_some(), "0 means no limit");
        drop(first);
        assert_eq!(counts.open(a), 1);
        let again = counts.admit(a, 2).expect("a place was given back");
        drop((second, again, other));
        assert!(
            counts.lock().is_empty(),
            "addresses with nothing open are forgotten"
        );
    }
}
