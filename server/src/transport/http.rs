//! Plain HTTP routes: liveness and readiness.
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use api_spec::spec::Health;

use crate::app::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/ws", web::get().to(super::ws::upgrade))
        .configure(super::transfers::routes);
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
    })
}

/// Ready when the database answers.
async fn readyz(state: web::Data<Arc<AppState>>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(Health {
            status: "ok".to_owned(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(Health {
                status: "database unavailable".to_owned(),
            })
        }
    }
}
