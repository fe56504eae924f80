//! HTTP transfers streamed from and to files, so a 1 GiB upload never sits in memory (and
//! never inflates the RSS figures).
use std::path::Path;

use futures_util::{StreamExt, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 1024 * 1024;

fn url(base: &str, task_id: &str) -> String {
    format!("{base}/api/transfers/{task_id}")
}

/// `PUT`s a file's bytes (with its `Content-Length`); returns the status and body.
pub async fn put_file(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    task_id: &str,
    path: &Path,
) -> Result<(u16, String), String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file.metadata().await.map_err(|e| e.to_string())?.len();
    let chunks = stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let res = http
        .put(url(base, task_id))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_LENGTH, len)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .map_err(|e| format!("PUT: {e}"))?;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    Ok((status, body))
}

/// `GET`s a task's bytes into a file; returns the status and the bytes written.
pub async fn get_file(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    task_id: &str,
    path: &Path,
) -> Result<(u16, u64), String> {
    let res = http
        .get(url(base, task_id))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET: {e}"))?;
    let status = res.status().as_u16();
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut written = 0u64;
    let mut body = res.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("GET body: {e}"))?;
        written += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(|e| e.to_string())?;
    }
    out.flush().await.map_err(|e| e.to_string())?;
    Ok((status, written))
}
