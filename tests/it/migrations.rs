//! The schema migrates up, down and up again on the test database.
use migration::{Migrator, MigratorTrait};
use sea_orm::Database;
use tests::TestServer;
use tests::server::{PG_URL_VAR, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_down_up() {
    let dir = tempfile::tempdir().unwrap();
    let pg = match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(TestDb::create(&url).await),
        _ => None,
    };
    let url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
    };
    let db = Database::connect(&url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    Migrator::down(&db, None).await.unwrap();
    assert_eq!(
        Migrator::get_applied_migrations(&db).await.unwrap().len(),
        0
    );
    Migrator::up(&db, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_on_the_same_data_keeps_the_bootstrap() {
    // A second start on the same database neither re-creates nor duplicates `default`.
    let server = TestServer::start().await;
    let state = server.state().clone();
    let tenants = coffer::storage::tenants::list(&state.db).await.unwrap();
    assert_eq!(tenants.len(), 1);
    coffer::services::bootstrap::ensure_default_tenant(&state.db, &state.hasher, &state.config)
        .await
        .unwrap();
    assert_eq!(
        coffer::storage::tenants::list(&state.db)
            .await
            .unwrap()
            .len(),
        1
    );
}
