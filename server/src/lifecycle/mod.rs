//! What a tenant's backup policy makes of its backups: schedules and the scheduler, drills
//! (`policy`), which backups retention keeps (`retention`, pure) and retention applied
//! (`prune`). Above the backup jobs: it starts exports and verifications; the jobs tell it
//! of their outcomes through [`Lifecycle`](crate::app::jobs::Lifecycle), which [`Policies`]
//! implements and the server registers at start-up.
pub mod policy;
pub mod prune;
pub mod retention;

use uuid::Uuid;

use crate::app::AppState;
use crate::app::jobs::{Lifecycle, Pending};
use crate::auth::TenantScope;

/// The lifecycle the server registers.
pub struct Policies;

impl Lifecycle for Policies {
    fn completed<'a>(
        &'a self,
        state: &'a AppState,
        scope: &'a TenantScope,
        owner: Uuid,
        backup: Uuid,
    ) -> Pending<'a, ()> {
        Box::pin(after_completion(state, scope, owner, backup))
    }

    fn verified_after_backup<'a>(
        &'a self,
        state: &'a AppState,
        scope: &'a TenantScope,
    ) -> Pending<'a, ()> {
        Box::pin(prune::after_backup(state, scope))
    }
}

/// What follows a completed backup by its tenant's policy: a verification first when the
/// policy says `verify_after` (the backup counts as good once verified, and retention
/// follows that), retention at once otherwise.
async fn after_completion(state: &AppState, scope: &TenantScope, owner: Uuid, backup: Uuid) {
    let verify_after = match crate::storage::policies::get(scope, &state.db).await {
        Ok(policy) => policy.is_some_and(|p| p.verify_after),
        Err(e) => {
            tracing::warn!(error = %e, "could not read a backup policy");
            false
        }
    };
    if verify_after {
        let cause = api_spec::jobs::VerifyCause::AfterBackup;
        if let Err(e) = crate::backup::check::queue(state, scope, owner, backup, cause).await {
            tracing::warn!(%backup, error = %e, "could not queue a verification");
        }
    } else {
        prune::after_backup(state, scope).await;
    }
}
