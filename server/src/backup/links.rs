//! The earlier links of an incremental backup's chain, read from the object store with the
//! keys their key files hold: what `coffer_archive::chain` verifies and a restore reads.
use std::io::Read;
use std::sync::Arc;

use tokio::runtime::Handle;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::blob_reader::BlobReader;
use crate::app::AppState;
use crate::archive::chain::Links;
use crate::archive::error::{Error as ArchiveError, Result as ArchiveResult};
use crate::archive::keys::{BoundKey, KeyFile};
use crate::error::Error;
use crate::layout::{KEY_FILE_LIMIT, archive_object, key_object};

/// A tenant's stored backups as the links of a chain. A link's key file is opened as the
/// newest's was: alone when the server holds the key, else with the same passphrase or
/// identity. Runs on a blocking thread (it drives the store through `rt`).
pub struct StoreLinks {
    pub state: Arc<AppState>,
    pub rt: Handle,
    pub tenant: Uuid,
    pub passphrase: Option<String>,
    pub identity: Option<String>,
}

fn caller(e: Error) -> ArchiveError {
    ArchiveError::Caller(Box::new(e))
}

impl Links for StoreLinks {
    fn open(&mut self, id: Uuid) -> ArchiveResult<Option<(Box<dyn Read + Send>, BoundKey)>> {
        let blobs = self.state.blobs.as_ref();
        let object = archive_object(self.tenant, id);
        let Some(size) = self.rt.block_on(blobs.size(&object)).map_err(caller)? else {
            return Ok(None);
        };
        let key_object = key_object(self.tenant, id);
        let key_file = crate::storage::blobs::read_small(blobs, &key_object, KEY_FILE_LIMIT);
        let Some(bytes) = self.rt.block_on(key_file).map_err(caller)? else {
            return Ok(None);
        };
        // A key file that is not one is the link's damage.
        let file =
            KeyFile::parse(&bytes).map_err(|_| ArchiveError::ChainBroken { backup_id: id })?;
        let secret = file
            .pick_secret(self.passphrase.clone(), self.identity.clone())
            .map(Zeroizing::new);
        let unlock = self.state.unlocker.unlock(self.tenant, file, secret);
        let key = self.rt.block_on(unlock).map_err(caller)?;
        let reader = BlobReader::open(&self.rt, blobs, &object, size).map_err(caller)?;
        Ok(Some((
            Box::new(std::io::BufReader::with_capacity(1 << 20, reader)),
            key,
        )))
    }
}
