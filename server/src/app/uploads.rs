//! The uploads under way in this process (one writer per part file).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::AppState;

/// Upload tasks with an attempt in progress in this process: one writer per part file.
#[derive(Default)]
pub struct ActiveUploads(pub(crate) Mutex<HashSet<Uuid>>);

/// Holds a task's upload slot until dropped.
pub struct UploadSlot {
    pub(crate) uploads: Arc<AppState>,
    pub(crate) task_id: Uuid,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.uploads
            .uploads
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.task_id);
    }
}
