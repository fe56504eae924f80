//! HTTP transfers, the fast path for large files and for curl: `PUT /api/transfers/{task}`
//! (body streamed; `Content-Range: bytes START-END/TOTAL` resumes) and
//! `GET /api/transfers/{task}` (one `Range: bytes=…` served as 206), authorised by
//! `Authorization: Bearer <token>`. The task must belong to the token's tenant and user;
//! any other task is `task_not_found`. Replies are the WebSocket reply JSON, and the HTTP
//! status is always the reply's `code`.
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use api_spec::actions::{UploadFileResponse, UploadHeader};
use api_spec::{ErrorCode, Reply};
use futures_util::StreamExt;
use serde_json::json;

use crate::app::AppState;
use crate::auth::AuthContext;
use crate::auth::context::authenticate_token;
use crate::error::{Error, Result, fail, field_error};
use crate::registry::error_reply;
use crate::services::pace::{Pace, TooSlow};
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
    HttpResponse::build(
        StatusCode::from_u16(reply.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    )
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

/// What a `Range` header asks of a file (RFC 9110 §14).
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// No range, or one the server ignores, as RFC 9110 allows: another unit (which it
    /// must ignore), several ranges (served whole rather than as multipart), an empty file.
    Whole,
    /// Bytes `start..end` (end exclusive), non-empty.
    Part(u64, u64),
    /// A `bytes` range that is malformed or starts at or past the end: 416.
    Unsatisfiable,
}

/// Reads `value` against a file of `size` bytes. An end past the file means "to the end".
fn wanted(value: &str, size: u64) -> Wanted {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return Wanted::Unsatisfiable;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') || size == 0 {
        return Wanted::Whole;
    }
    let Some((first, last)) = set.split_once('-') else {
        return Wanted::Unsatisfiable;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let range = match (first.trim(), last.trim()) {
        ("", suffix) => number(suffix)
            .filter(|&n| n > 0)
            .map(|n| (size.saturating_sub(n), size)),
        (first, "") => number(first).map(|s| (s, size)),
        (first, last) => number(first)
            .zip(number(last))
            .filter(|(s, e)| s <= e)
            .map(|(s, e)| (s, e.saturating_add(1).min(size))),
    };
    match range {
        Some((start, end)) if start < end => Wanted::Part(start, end),
        _ => Wanted::Unsatisfiable,
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
            let span = end.checked_sub(start).and_then(|d| d.checked_add(1));
            if span != Some(length) || end >= total {
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
    let task = match transfers::open_task(&auth, &state.db, task_id, tasks::TaskMode::Upload).await
    {
        Err(e) if e.code() == ErrorCode::TaskNotUsable => {
            let sha256 = header.sha256.as_deref();
            return match upload::completed_with(state, &auth, task_id, total, sha256).await? {
                Some(done) => Ok(received(&done)),
                None => Err(e),
            };
        }
        opened => opened?,
    };
    let mut upload = upload::begin_upload(state, task, &header).await?;
    let end = offset + length;
    let mut pace = Pace::new(&state.config);
    loop {
        let bytes = match pace.wait(payload.next()).await {
            Ok(None) => break,
            Ok(Some(Ok(bytes))) => bytes,
            // The client went away or trickles: keep what arrived for a resume.
            Ok(Some(Err(_))) | Err(TooSlow) => {
                return Err(upload.stop(ErrorCode::TransferTimeout).await);
            }
        };
        if upload.received() + bytes.len() as u64 > end {
            return Err(fail(ErrorCode::SizeMismatch));
        }
        pace.record(bytes.len());
        upload.write(&bytes).await?;
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
    Ok(received(&done))
}

fn received(done: &UploadFileResponse) -> HttpResponse {
    respond(
        200,
        serde_json::to_value(done).unwrap_or_default(),
        "File received successfully",
    )
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
    let (start, end, partial) = match header_str(req.headers(), header::RANGE) {
        None => (0, size, false),
        Some(value) => match wanted(value, size) {
            Wanted::Whole => (0, size, false),
            Wanted::Part(start, end) => (start, end, true),
            Wanted::Unsatisfiable => {
                let reply = error_reply(&fail(ErrorCode::RangeNotSatisfiable), None, None);
                return Ok(HttpResponse::RangeNotSatisfiable()
                    .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                    .json(reply));
            }
        },
    };
    let download = transfers::begin_download(state, &auth, task_id, start, Some(end)).await?;
    let mut response = if partial {
        let mut r = HttpResponse::PartialContent();
        r.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", end - 1),
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
        use Wanted::{Part, Unsatisfiable, Whole};
        assert_eq!(content_range("bytes 0-99/200"), Some((0, 99, 200)));
        assert_eq!(content_range("bytes 0-99"), None);
        assert_eq!(wanted("bytes=10-", 100), Part(10, 100));
        assert_eq!(wanted("bytes=10-19", 100), Part(10, 20));
        assert_eq!(wanted("bytes=10-1000", 100), Part(10, 100));
        assert_eq!(wanted("bytes=-5", 100), Part(95, 100));
        assert_eq!(wanted("bytes=-500", 100), Part(0, 100));
        assert_eq!(wanted("BYTES = 0-0", 100), Part(0, 1));
        // An end past the file, however large, means "to the end".
        assert_eq!(wanted("bytes=5-18446744073709551615", 100), Part(5, 100));
        assert_eq!(wanted("bytes=99-99", 100), Part(99, 100));
        assert_eq!(wanted("bytes=100-", 100), Unsatisfiable);
        assert_eq!(wanted("bytes=-0", 100), Unsatisfiable);
        assert_eq!(wanted("bytes=20-10", 100), Unsatisfiable);
        assert_eq!(wanted("bytes=x-1", 100), Unsatisfiable);
        assert_eq!(wanted("bytes=18446744073709551616-", 100), Unsatisfiable);
        assert_eq!(wanted("bytes", 100), Unsatisfiable);
        // Ignored: another unit, several ranges, an empty file.
        assert_eq!(wanted("items=1-2", 100), Whole);
        assert_eq!(wanted("bytes=0-1,5-6", 100), Whole);
        assert_eq!(wanted("bytes=0-", 0), Whole);
    }
}
