//! Plain HTTP routes: liveness, readiness, metrics, the WebSocket, transfers and the web
//! console.
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use api_spec::spec::Health;

use crate::app::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/ws", web::get().to(super::ws::upgrade))
        .configure(super::transfers::routes)
        .configure(super::console::routes);
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

/// The metrics (`crate::metrics`), behind `metrics_token` when one is configured.
async fn metrics(req: HttpRequest, state: web::Data<Arc<AppState>>) -> HttpResponse {
    if let Some(token) = &state.config.metrics_token {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let expected = token.expose_secret().as_bytes();
        let ok = given.is_some_and(|g| {
            use subtle::ConstantTimeEq;
            g.len() == expected.len() && bool::from(g.as_bytes().ct_eq(expected))
        });
        if !ok {
            return HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer"))
                .finish();
        }
    }
    match crate::metrics::render(&state).await {
        Ok(text) => HttpResponse::Ok()
            .content_type(prometheus_client::encoding::prometheus_text::CONTENT_TYPE)
            .body(text),
        Err(e) => {
            tracing::warn!(error = %e, "metrics failed");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}
