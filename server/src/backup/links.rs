//! The earlier links of an incremental backup's chain, as a job reads them: from the links
//! uploaded with an import, else from the tenant's stored backups — each archive with the key
//! its key file holds. What `coffer_archive::chain` verifies and a restore reads; the chain
//! checks each link against what the link after it names, so a link found anywhere is used
//! only if it is the one named.
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use tokio::runtime::Handle;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::blob_reader::BlobReader;
use crate::app::AppState;
use crate::archive::chain::Links;
use crate::archive::error::{Error as ArchiveError, Result as ArchiveResult};
use crate::archive::format::{HEADER_LEN, Header};
use crate::archive::keys::{BoundKey, KeyFile};
use crate::error::{Error, Result};
use crate::layout::{KEY_FILE_LIMIT, archive_object, key_object};
use crate::storage::blobs::read_small;

/// A tenant's stored backups, and the links uploaded with an import (`uploaded`), as the
/// links of a chain. A link's key file is opened as the newest's was: alone when it holds
/// the key, else with the same passphrase or identity. Runs on a blocking thread (it drives
/// the store through `rt`).
pub struct StoreLinks {
    pub state: Arc<AppState>,
    pub rt: Handle,
    pub tenant: Uuid,
    pub passphrase: Option<String>,
    pub identity: Option<String>,
    /// Uploaded archives and key files (object keys), not yet told apart.
    pub uploaded: (Vec<String>, Vec<String>),
    /// The uploaded links by backup id.
    found: Option<HashMap<Uuid, Uploaded>>,
}

/// An uploaded link's archive and key file objects, as far as they were found.
#[derive(Debug, Clone, Default)]
struct Uploaded {
    archive: Option<String>,
    key_file: Option<String>,
}

fn caller(e: Error) -> ArchiveError {
    ArchiveError::Caller(Box::new(e))
}

impl StoreLinks {
    pub fn new(state: &Arc<AppState>, rt: Handle, tenant: Uuid) -> Self {
        Self {
            state: Arc::clone(state),
            rt,
            tenant,
            passphrase: None,
            identity: None,
            uploaded: (Vec::new(), Vec::new()),
            found: None,
        }
    }

    /// Tells the uploaded links apart: each archive by its header's backup, each key file by
    /// the backup it names. One that is neither is passed over (the chain then finds the
    /// link it needs missing).
    fn index(&mut self) -> Result<&HashMap<Uuid, Uploaded>> {
        if self.found.is_none() {
            let mut found: HashMap<Uuid, Uploaded> = HashMap::new();
            for object in &self.uploaded.0 {
                if let Some(id) = self.header_backup(object)? {
                    found.entry(id).or_default().archive = Some(object.clone());
                }
            }
            for object in &self.uploaded.1 {
                let bytes = self.read_key_file(object)?.unwrap_or_default();
                if let Some(id) = KeyFile::parse(&bytes)
                    .ok()
                    .and_then(|f| f.backup_id.parse().ok())
                {
                    found.entry(id).or_default().key_file = Some(object.clone());
                }
            }
            self.found = Some(found);
        }
        Ok(self.found.get_or_insert_with(HashMap::new))
    }

    /// The backup an uploaded archive's header names (`None`: not an archive).
    fn header_backup(&self, object: &str) -> Result<Option<Uuid>> {
        let blobs = self.state.blobs.as_ref();
        let Some(size) = self.rt.block_on(blobs.size(object))? else {
            return Ok(None);
        };
        let mut bytes = [0u8; HEADER_LEN];
        let mut reader = BlobReader::open(&self.rt, blobs, object, size)?;
        if size < HEADER_LEN as u64 || reader.read_exact(&mut bytes).is_err() {
            return Ok(None);
        }
        Ok(Header::parse(&bytes).ok().map(|h| h.backup_id))
    }

    fn read_key_file(&self, object: &str) -> Result<Option<Vec<u8>>> {
        if let Some((tenant, backup)) = crate::layout::stored_key(object) {
            let read = super::stored::find_key_file(&self.state, tenant, backup);
            return Ok(self.rt.block_on(read)?.map(|bytes| bytes.to_vec()));
        }
        self.rt.block_on(read_small(
            self.state.store_of(object).as_ref(),
            object,
            KEY_FILE_LIMIT,
        ))
    }

    /// Where link `id` is: uploaded with the import, else stored by the tenant (its key
    /// file named as `key_object`, sealed in the database).
    fn objects(&mut self, id: Uuid) -> Result<(String, String)> {
        let (tenant, uploaded) = (self.tenant, self.index()?.get(&id).cloned());
        Ok(match uploaded {
            Some(Uploaded {
                archive: Some(archive),
                key_file: Some(key),
            }) => (archive, key),
            _ => (archive_object(tenant, id), key_object(tenant, id)),
        })
    }
}

impl Links for StoreLinks {
    fn open(&mut self, id: Uuid) -> ArchiveResult<Option<(Box<dyn Read + Send>, BoundKey)>> {
        let (archive, key_file) = self.objects(id).map_err(caller)?;
        let blobs = self.state.store_of(&archive).as_ref();
        let Some(size) = self.rt.block_on(blobs.size(&archive)).map_err(caller)? else {
            return Ok(None);
        };
        let Some(bytes) = self.read_key_file(&key_file).map_err(caller)? else {
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
        let reader = BlobReader::open(&self.rt, blobs, &archive, size).map_err(caller)?;
        Ok(Some((
            Box::new(std::io::BufReader::with_capacity(1 << 20, reader)),
            key,
        )))
    }
}
