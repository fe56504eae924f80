//! `GET /metrics` in the Prometheus text format (0.0.4, through `prometheus-client`). What
//! the database knows — each tenant's backups, the jobs — is read at each scrape, so every
//! instance shows the same; what happens in this process — bytes exported, imported and
//! verified, failed verifications, WebSocket connections, action latency — is counted here.
//! Tenants appear by slug only, never anything of their documents.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::storage::{backups, jobs, tenants};
use crate::time::to_secs;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerificationLabels {
    tenant: String,
    verification: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    status: String,
}

type Timestamp = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Everything, as a scrape reads it.
pub async fn render(state: &AppState) -> Result<String> {
    let mut registry = Registry::with_prefix("coffer");
    registry.register(
        "bytes",
        "Bytes backup jobs of this instance exported, imported or verified",
        state.metrics.bytes_family(),
    );
    registry.register(
        "action_duration_seconds",
        "Time to answer an action, by action",
        state.metrics.latency_family(),
    );
    let connections: Gauge = Gauge::default();
    connections.set(state.addresses.total() as i64);
    registry.register(
        "websocket_connections",
        "Open WebSocket connections to this instance",
        connections,
    );
    let shares: Gauge = Gauge::default();
    shares.set(i64::from(state.backup_placement.shares_data));
    registry.register(
        "backup_store_shares_data",
        "1 when the backup store shares a disk or bucket with the data (losing one loses both)",
        shares,
    );
    let jobs: Family<JobLabels, Gauge> = Family::default();
    for (kind, status, count) in jobs::census(&state.db).await? {
        jobs.get_or_create(&JobLabels { kind, status }).set(count);
    }
    registry.register("jobs", "Jobs by kind and status", jobs);
    copies(state, &mut registry).await?;
    tenants(state, &mut registry).await?;
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .map_err(|e| Error::Internal(format!("encoding metrics: {e}")))?;
    Ok(text)
}

/// Per destination of `backup_copies`: how old its newest good copy is, and the bytes of
/// the archives waiting to be copied there.
async fn copies(state: &AppState, registry: &mut Registry) -> Result<()> {
    let age: Family<DestinationLabels, Gauge<f64, std::sync::atomic::AtomicU64>> =
        Family::default();
    let waiting: Family<DestinationLabels, Gauge> = Family::default();
    let census = crate::storage::backup_copies::census(&state.db).await?;
    let now = state.clock.now_ms();
    for copy in &state.copies {
        let labels = DestinationLabels {
            destination: copy.name.clone(),
        };
        let (newest, bytes) = census.get(&copy.name).copied().unwrap_or_default();
        if let Some(at) = newest {
            age.get_or_create(&labels).set(to_secs(now - at).max(0.0));
        }
        waiting.get_or_create(&labels).set(bytes);
    }
    registry.register(
        "backup_copy_newest_age_seconds",
        "Seconds since the newest good copy at each destination was made",
        age,
    );
    registry.register(
        "backup_copy_waiting_bytes",
        "Bytes of backups not yet copied to each destination",
        waiting,
    );
    Ok(())
}

/// Each tenant's backup health.
async fn tenants(state: &AppState, registry: &mut Registry) -> Result<()> {
    let health = Health::default();
    let failures = state.metrics.verify_failures();
    for tenant in tenants::list(&state.db).await? {
        health.add(state, &tenant, failures.get(&tenant.id)).await?;
    }
    health.register(registry);
    Ok(())
}

/// The backup-health metrics, one series per tenant.
#[derive(Default)]
struct Health {
    last_success: Family<TenantLabels, Timestamp>,
    last_failure: Family<TenantLabels, Timestamp>,
    last_size: Family<TenantLabels, Gauge>,
    stored: Family<TenantLabels, Gauge>,
    last_duration: Family<TenantLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    by_verification: Family<VerificationLabels, Gauge>,
    verify_failures: Family<TenantLabels, Counter>,
}

impl Health {
    /// Adds `tenant`'s series; `failures`: its failed verifications on this instance.
    async fn add(
        &self,
        state: &AppState,
        tenant: &entity::tenant::Model,
        failures: Option<&u64>,
    ) -> Result<()> {
        let labels = TenantLabels {
            tenant: tenant.slug.clone(),
        };
        let scope = crate::auth::TenantScope::system(tenant.id);
        let all = backups::list(&scope, &state.db).await?;
        let completed = all
            .iter()
            .filter(|b| b.status == backups::BackupStatus::Completed);
        // Good as retention counts it: never one whose verification failed, and under
        // `verify_after` only one verified.
        let verified_only = crate::storage::policies::get(&scope, &state.db)
            .await?
            .is_some_and(|p| p.verify_after);
        let good = all
            .iter()
            .filter(|b| crate::lifecycle::prune::is_good(b, verified_only))
            .filter_map(|b| b.completed_at)
            .max();
        if let Some(at) = good {
            self.last_success.get_or_create(&labels).set(to_secs(at));
        }
        let failed_backup = all
            .iter()
            .filter(|b| b.status == backups::BackupStatus::Failed)
            .filter_map(|b| b.completed_at);
        let failed_verify = all
            .iter()
            .filter(|b| b.verify_state == backups::Verification::Failed)
            .filter_map(|b| b.verified_at);
        if let Some(at) = failed_backup.chain(failed_verify).max() {
            self.last_failure.get_or_create(&labels).set(to_secs(at));
        }
        if let Some(last) = completed.clone().max_by_key(|b| b.completed_at) {
            self.last_size
                .get_or_create(&labels)
                .set(last.archive_size.unwrap_or(0));
            if let Some(job) = jobs::find(&scope, &state.db, last.job_id).await?
                && let (Some(started), Some(finished)) = (job.started_at, job.finished_at)
            {
                let secs = (finished - started).max(0) as f64 / 1000.0;
                self.last_duration.get_or_create(&labels).set(secs);
            }
        }
        let stored: i64 = completed.clone().filter_map(|b| b.archive_size).sum();
        self.stored.get_or_create(&labels).set(stored);
        for b in completed {
            self.by_verification
                .get_or_create(&VerificationLabels {
                    tenant: tenant.slug.clone(),
                    verification: b.verify_state.as_str().to_owned(),
                })
                .inc();
        }
        if let Some(n) = failures {
            self.verify_failures.get_or_create(&labels).inc_by(*n);
        }
        Ok(())
    }

    fn register(self, registry: &mut Registry) {
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When the tenant's newest good backup completed",
            self.last_success,
        );
        registry.register(
            "backup_last_failure_timestamp_seconds",
            "When the tenant's latest backup or verification failed",
            self.last_failure,
        );
        registry.register(
            "backup_last_size_bytes",
            "Size of the tenant's newest completed backup",
            self.last_size,
        );
        registry.register(
            "backup_stored_bytes",
            "Bytes of all the tenant's stored backup archives (every link of every chain)",
            self.stored,
        );
        registry.register(
            "backup_last_duration_seconds",
            "How long the tenant's newest completed backup took to write",
            self.last_duration,
        );
        registry.register(
            "backups",
            "The tenant's completed backups by verification state",
            self.by_verification,
        );
        registry.register(
            "backup_verify_failures",
            "Verifications of the tenant's stored backups that failed on this instance",
            self.verify_failures,
        );
    }
}
