//! Backups on the server (BACKUP_IMPORT.md): the export, import, verify and copy jobs, and
//! where archives and key files are kept. The format itself, with its keys, is `crate::archive`;
//! what a tenant's policy makes of its backups (schedules, retention, prune, drills) is
//! `crate::lifecycle`, which these jobs reach only through `app::jobs::Lifecycle`.
mod blob_reader;
pub mod check;
pub mod copy;
pub mod export;
pub mod import;
pub mod links;
pub mod snapshot;
pub mod stored;
pub mod writer;

use std::sync::Arc;

use std::sync::atomic::AtomicBool;

use entity::job;

use crate::app::AppState;
use crate::app::jobs::{Kind, Pending};
use crate::error::Result;
use crate::storage::jobs::JobKind;

/// The kinds of job backups run, for `jobs` (the server registers them at start-up).
pub fn job_kinds() -> Vec<Arc<dyn Kind>> {
    vec![
        Arc::new(ExportJobs),
        Arc::new(ImportJobs),
        Arc::new(VerifyJobs),
        Arc::new(CopyJobs),
    ]
}

struct CopyJobs;

impl Kind for CopyJobs {
    fn kind(&self) -> JobKind {
        JobKind::Copy
    }

    fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        job: &'a job::Model,
        cancel: &'a Arc<AtomicBool>,
    ) -> Pending<'a, Result<()>> {
        Box::pin(copy::run(state, job, cancel))
    }

    // A run keeps nothing between attempts (its scratch goes with it), and what a
    // destination holds is checked before it is written again.
    fn reset<'a>(&'a self, _: &'a AppState, _: &'a job::Model) -> Pending<'a, ()> {
        Box::pin(async {})
    }

    fn discard<'a>(&'a self, _: &'a AppState, _: &'a job::Model) -> Pending<'a, ()> {
        Box::pin(async {})
    }

    fn sweep<'a>(&'a self, state: &'a AppState) -> Pending<'a, Result<usize>> {
        Box::pin(async { Ok(copy::sweep(state)) })
    }
}

struct ExportJobs;

impl Kind for ExportJobs {
    fn kind(&self) -> JobKind {
        JobKind::Export
    }

    fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        job: &'a job::Model,
        cancel: &'a Arc<AtomicBool>,
    ) -> Pending<'a, Result<()>> {
        Box::pin(export::run(state, job, cancel))
    }

    fn reset<'a>(&'a self, state: &'a AppState, job: &'a job::Model) -> Pending<'a, ()> {
        Box::pin(export::reset(state, job))
    }

    fn discard<'a>(&'a self, state: &'a AppState, job: &'a job::Model) -> Pending<'a, ()> {
        Box::pin(export::discard(state, job))
    }

    fn sweep<'a>(&'a self, state: &'a AppState) -> Pending<'a, Result<usize>> {
        // Scratch of runs that stopped with their process (another instance discarded the
        // rest of them, but cannot reach this disk).
        Box::pin(stored::sweep(state))
    }
}

struct ImportJobs;

impl Kind for ImportJobs {
    fn kind(&self) -> JobKind {
        JobKind::Import
    }

    fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        job: &'a job::Model,
        cancel: &'a Arc<AtomicBool>,
    ) -> Pending<'a, Result<()>> {
        Box::pin(import::run(state, job, cancel))
    }

    fn reset<'a>(&'a self, state: &'a AppState, job: &'a job::Model) -> Pending<'a, ()> {
        Box::pin(import::reset(state, job))
    }

    fn discard<'a>(&'a self, state: &'a AppState, job: &'a job::Model) -> Pending<'a, ()> {
        Box::pin(import::discard(state, job))
    }

    fn sweep<'a>(&'a self, state: &'a AppState) -> Pending<'a, Result<usize>> {
        Box::pin(import::sweep(state))
    }
}

struct VerifyJobs;

impl Kind for VerifyJobs {
    fn kind(&self) -> JobKind {
        JobKind::Verify
    }

    fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        job: &'a job::Model,
        cancel: &'a Arc<AtomicBool>,
    ) -> Pending<'a, Result<()>> {
        Box::pin(check::run(state, job, cancel))
    }

    /// A verification writes nothing but its outcome: a run cut short leaves nothing.
    fn reset<'a>(&'a self, _: &'a AppState, _: &'a job::Model) -> Pending<'a, ()> {
        Box::pin(async {})
    }

    fn discard<'a>(&'a self, _: &'a AppState, _: &'a job::Model) -> Pending<'a, ()> {
        Box::pin(async {})
    }

    fn sweep<'a>(&'a self, state: &'a AppState) -> Pending<'a, Result<usize>> {
        Box::pin(async { Ok(copy::sweep(state)) })
    }
}
