//! HTTP transfers, the fast path for large files and for curl: `PUT /api/transfers/{task}`
//! (body streamed; `Content-Range: bytes START-END/TOTAL` resumes) and
//! `GET /api/transfers/{task}` (`Range: bytes=START-[END]` supported), authorised by
//! `Authorization: Bearer <token>`. The task must belong to the token's tenant and user;
//! any other task is `task_not_found`. Replies are the WebSocket reply JSON.
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use api_spec::actions::UploadHeader;
use api_spec::{ErrorCode, Reply};
use futures_util::StreamExt;
use serde_json::json;

use crate::app::AppState;
use crate::auth::AuthContext;
use crate::auth::context::authenticate_token;
use crate::error::{Error, Result, fail, field_error};
use crate::registry::error_reply;
use crate::services::{transfers, upload};
use crate::storage::tasks;
use crate::time::now_secs;

/// Header a client may set to have the upload's SHA-256 checked.
pub const SHA256_HEADER: &str = "x-coffer-sha256";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/transfers/{task_id}", web::put().to(put))
        .route("/api/transfers/{task_id}", web::get().to(get));
}

fn respond(status: u16, data: serde_json::Value, message: &str) -> HttpResponse {
    let reply = Reply {
        code: status,
        message: message.to_owned(),
        data,
        timestamp: now_secs(),
        request_id: None,
    };
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK)).json(reply)
}

fn failure(err: &Error) -> HttpResponse {
    let reply = error_reply(err, None, None);
    let status = if reply.data["error"] == json!("invalid_offset") && reply.code == 400 {
        416
    } else {
        reply.code
    };
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .json(reply)
}

async fn bearer(req: &HttpRequest, state: &AppState) -> Result<AuthContext> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| fail(ErrorCode::AuthenticationRequired))?;
    authenticate_token(&state.auth_cache, &state.db, token.trim()).await
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `bytes START-END/TOTAL` → (START, END inclusive, TOTAL).
fn content_range(value: &str) -> Option<(u64, u64, u64)> {
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    Some((start.parse().ok()?, end.parse().ok()?, total.parse().ok()?))
}

/// `bytes=START-[END]` or `bytes=-SUFFIX` against a file of `size` → (start, end exclusive).
fn range(value: &str, size: u64) -> Option<(u64, u64)> {
    let (start, end) = value.strip_prefix("bytes=")?.split_once('-')?;
    match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            Some((size.saturating_sub(n), size))
        }
        (start, "") => Some((start.parse().ok()?, size)),
        (start, end) => {
            let (s, e): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            (s <= e).then_some((s, (e + 1).min(size)))
        }
    }
}

async fn put(
    req: HttpRequest,
    payload: web::Payload,
    task_id: web::Path<String>,
    state: web::Data<Arc<AppState>>,
) -> HttpResponse {
    match put_inner(&req, payload, &task_id, &state).await {
        Ok(response) => response,
        Err(e) => failure(&e),
    }
}

async fn put_inner(
    req: &HttpRequest,
    mut payload: web::Payload,
    task_id: &str,
    state: &Arc<AppState>,
) -> Result<HttpResponse> {
    let auth = bearer(req, state).await?;
    let task = transfers::open_task(&auth, &state.db, task_id, tasks::UPLOAD).await?;
    let headers = req.headers();
    // The declared size comes first, so the length must be known up front: a body without
    // Content-Length is either empty or chunked (refused: the size could not be checked).
    let length: u64 = match header_str(headers, header::CONTENT_LENGTH) {
        Some(v) => v
            .parse()
            .map_err(|_| field_error(ErrorCode::InvalidField, "Content-Length"))?,
        None if headers.contains_key(header::TRANSFER_ENCODING) => {
            return Err(field_error(ErrorCode::InvalidField, "Content-Length"));
        }
        None => 0,
    };
    let (offset, total) = match header_str(headers, header::CONTENT_RANGE) {
        None => (0, length),
        Some(value) => {
            let (start, end, total) =
                content_range(value).ok_or_else(|| fail(ErrorCode::InvalidOffset))?;
            if end < start || end - start + 1 != length || end >= total {
                return Err(fail(ErrorCode::InvalidOffset));
            }
            (start, total)
        }
    };
    let header = UploadHeader {
        file_size: total,
        sha256: header_str(headers, SHA256_HEADER).map(str::to_owned),
        offset: Some(offset),
    };
    let mut upload = upload::begin_upload(state, task, &header).await?;
    let end = offset + length;
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(bytes) if upload.received() + bytes.len() as u64 <= end => {
                upload.write(&bytes).await?
            }
            Ok(_) => return Err(fail(ErrorCode::SizeMismatch)),
            Err(_) => {
                // The client went away: keep what arrived for a resume.
                let held = upload.suspend().await;
                return Err(Error::Transfer {
                    code: ErrorCode::TransferTimeout,
                    received: held,
                });
            }
        }
    }
    if upload.remaining() > 0 {
        // A ranged part of a larger upload: stored, waiting for the rest.
        let held = upload.suspend().await;
        return Ok(respond(
            202,
            json!({"task_id": task_id, "received": held}),
            "Part received; send the rest",
        ));
    }
    let done = upload.finish(state, &auth).await?;
    Ok(respond(
        200,
        serde_json::to_value(done).unwrap_or_default(),
        "File received successfully",
    ))
}

async fn get(
    req: HttpRequest,
    task_id: web::Path<String>,
    state: web::Data<Arc<AppState>>,
) -> HttpResponse {
    match get_inner(&req, &task_id, &state).await {
        Ok(response) => response,
        Err(e) => failure(&e),
    }
}

async fn get_inner(
    req: &HttpRequest,
    task_id: &str,
    state: &Arc<AppState>,
) -> Result<HttpResponse> {
    let auth = bearer(req, state).await?;
    // Size first (a zero-length read), so the range can be resolved against it.
    let probe = transfers::begin_download(state, &auth, task_id, 0, Some(0)).await?;
    let size = probe.size;
    let requested = header_str(req.headers(), header::RANGE);
    let (start, end) = match requested {
        None => (0, size),
        Some(value) => match range(value, size) {
            Some((s, e)) if s < e || (s == 0 && size == 0) => (s, e),
            _ => return Err(fail(ErrorCode::InvalidOffset)),
        },
    };
    let download = transfers::begin_download(state, &auth, task_id, start, Some(end)).await?;
    let mut response = if requested.is_some() {
        let mut r = HttpResponse::PartialContent();
        r.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", end.saturating_sub(1)),
        ));
        r
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::ETAG, format!("\"{}\"", download.sha256)))
        .insert_header((SHA256_HEADER, download.sha256.clone()))
        .content_type("application/octet-stream");
    Ok(response.no_chunking(end - start).streaming(download.stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(content_range("bytes 0-99/200"), Some((0, 99, 200)));
        assert_eq!(content_range("bytes 0-99"), None);
        assert_eq!(range("bytes=10-", 100), Some((10, 100)));
        assert_eq!(range("bytes=10-19", 100), Some((10, 20)));
        assert_eq!(range("bytes=10-1000", 100), Some((10, 100)));
        assert_eq!(range("bytes=-5", 100), Some((95, 100)));
        assert_eq!(range("bytes=20-10", 100), None);
        assert_eq!(range("items=1-2", 100), None);
    }
}
