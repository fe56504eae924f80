//! HTTP transfers with resume (`PUT`/`GET /api/transfers/{task}`): a file streams from or to
//! disk, never whole in memory; a dropped connection or a stalled transfer resumes from what
//! the other side holds; the SHA-256 is declared on upload and checked on download before
//! the file takes its name.
use std::path::{Path, PathBuf};

use api_spec::Reply;
use api_spec::actions::UploadFileResponse;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{Client, ClientError, Result};

/// Attempts per transfer before the last error is returned.
const ATTEMPTS: usize = 5;
const READ_CHUNK: usize = 256 * 1024;

/// Called with the bytes done so far.
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> ClientError {
    let what = format!("{what} {}", path.display());
    move |e| ClientError::Io(format!("{what}: {e}"))
}

/// SHA-256 of a file, read in chunks.
pub async fn sha256_of(path: &Path) -> Result<String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(io("opening", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(io("reading", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What one `PUT` ended with.
enum Put {
    Done(UploadFileResponse),
    /// The server holds this many bytes; send the rest.
    Resume(u64),
}

impl Client {
    fn transfer_url(&self, task_id: &str) -> String {
        format!("{}/api/transfers/{task_id}", self.endpoint.http)
    }

    /// Uploads `path` to upload task `task_id`, resuming after a dropped connection or a
    /// stall from what the server holds.
    pub async fn upload(
        &self,
        task_id: &str,
        path: &Path,
        progress: Progress,
    ) -> Result<UploadFileResponse> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(io("reading", path))?
            .len();
        let sha256 = sha256_of(path).await?;
        let mut offset = 0;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let outcome = match self
                .put(task_id, path, offset, size, &sha256, progress.clone())
                .await
            {
                Ok(outcome) => outcome,
                // After a broken attempt the server may still hold the task for it (it has
                // not noticed the drop yet): wait for it as after the drop itself.
                Err(e)
                    if last.is_some() && e.code() == Some(api_spec::ErrorCode::TaskNotUsable) =>
                {
                    self.held_after_a_drop(task_id, path, size, &sha256).await?
                }
                Err(e @ ClientError::Api { .. }) => return Err(e),
                Err(e) => {
                    // The connection broke: ask where the server stands.
                    last = Some(e);
                    self.held_after_a_drop(task_id, path, size, &sha256).await?
                }
            };
            match outcome {
                Put::Done(done) => return Ok(done),
                Put::Resume(held) => offset = held,
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Transport("the upload did not complete".into())))
    }

    async fn put(
        &self,
        task_id: &str,
        path: &Path,
        offset: u64,
        size: u64,
        sha256: &str,
        progress: Progress,
    ) -> Result<Put> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(io("opening", path))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(io("reading", path))?;
        let mut sent = offset;
        let body =
            tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK).map(move |chunk| {
                if let Ok(bytes) = &chunk {
                    sent += bytes.len() as u64;
                    progress(sent);
                }
                chunk
            });
        let mut req = self
            .http()
            .put(self.transfer_url(task_id))
            .bearer_auth(self.bearer()?)
            .header("x-coffer-sha256", sha256)
            .header(reqwest::header::CONTENT_LENGTH, size - offset)
            .body(reqwest::Body::wrap_stream(body));
        if offset > 0 {
            req = req.header(
                reqwest::header::CONTENT_RANGE,
                format!("bytes {offset}-{}/{size}", size - 1),
            );
        }
        let res = req.send().await.map_err(ClientError::transport)?;
        put_outcome(reply_of(res).await?)
    }

    /// [`Client::held`], after a dropped connection: the server may not have noticed the drop
    /// yet and still hold the task for the broken attempt (`task_not_usable`), so ask again
    /// a few times before giving up.
    async fn held_after_a_drop(
        &self,
        task_id: &str,
        path: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<Put> {
        // Long enough for the server to notice a silent drop: its default minimum rate fails
        // a silent upload within its 10 s window.
        const TRIES: u32 = 60;
        let mut tries = 0;
        loop {
            match self.held(task_id, path, size, sha256).await {
                Err(e)
                    if tries < TRIES
                        && (e.code() == Some(api_spec::ErrorCode::TaskNotUsable)
                            || matches!(e, ClientError::Transport(_))) =>
                {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                other => return other,
            }
        }
    }

    /// How many bytes the server holds of an upload: a one-byte part at the very end is
    /// refused with `received` unless everything before it is held — and then it completes
    /// the upload, which is as good.
    async fn held(&self, task_id: &str, path: &Path, size: u64, sha256: &str) -> Result<Put> {
        if size == 0 {
            return Ok(Put::Resume(0));
        }
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(io("opening", path))?;
        file.seek(std::io::SeekFrom::Start(size - 1))
            .await
            .map_err(io("reading", path))?;
        let mut last = [0u8; 1];
        file.read_exact(&mut last)
            .await
            .map_err(io("reading", path))?;
        let res = self
            .http()
            .put(self.transfer_url(task_id))
            .bearer_auth(self.bearer()?)
            // Should the probe complete the upload, the server checks the whole file's hash.
            .header("x-coffer-sha256", sha256)
            .header(
                reqwest::header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", size - 1, size - 1),
            )
            .body(last.to_vec())
            .send()
            .await
            .map_err(ClientError::transport)?;
        put_outcome(reply_of(res).await?)
    }

    /// Downloads task `task_id` into `dest`: bytes go to `dest` + `.part` (resumed from its
    /// length after a dropped connection) and take the name `dest` once their SHA-256 is the
    /// server's. Returns the size. The file's mode is what the process's umask gives.
    pub async fn download(&self, task_id: &str, dest: &Path, progress: Progress) -> Result<u64> {
        self.fetch(task_id, dest, None, progress).await
    }

    /// [`Client::download`] of a secret (a backup's key file): the file is its owner's only
    /// (mode 0600) from the moment it is created, whatever the umask, and keeps that mode
    /// when it takes the name `dest`.
    pub async fn download_private(
        &self,
        task_id: &str,
        dest: &Path,
        progress: Progress,
    ) -> Result<u64> {
        self.fetch(task_id, dest, Some(0o600), progress).await
    }

    async fn fetch(
        &self,
        task_id: &str,
        dest: &Path,
        mode: Option<u32>,
        progress: Progress,
    ) -> Result<u64> {
        let part = part_path(dest);
        // A part left by an earlier run may have a wider mode: never append to it.
        let _ = tokio::fs::remove_file(&part).await;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.get_into(task_id, &part, mode, progress.clone()).await {
                Ok((size, sha256)) => {
                    let got = sha256_of(&part).await?;
                    if sha256.as_deref().is_some_and(|want| want != got) {
                        let _ = tokio::fs::remove_file(&part).await;
                        return Err(ClientError::Transport(format!(
                            "the download's SHA-256 is {got}, the server's is {}",
                            sha256.unwrap_or_default()
                        )));
                    }
                    tokio::fs::rename(&part, dest)
                        .await
                        .map_err(io("naming", dest))?;
                    return Ok(size);
                }
                Err(e @ ClientError::Api { .. }) => {
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err(e);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Transport("the download did not complete".into())))
    }

    /// One `GET` appending to `part` from its current length; the total size and SHA-256.
    async fn get_into(
        &self,
        task_id: &str,
        part: &Path,
        mode: Option<u32>,
        progress: Progress,
    ) -> Result<(u64, Option<String>)> {
        let mut options = tokio::fs::OpenOptions::new();
        options.create(true).append(true);
        if let Some(mode) = mode {
            options.mode(mode);
        }
        let mut file = options.open(part).await.map_err(io("writing", part))?;
        let mut have = file.metadata().await.map_err(io("reading", part))?.len();
        let res = loop {
            let mut req = self
                .http()
                .get(self.transfer_url(task_id))
                .bearer_auth(self.bearer()?);
            if have > 0 {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let res = req.send().await.map_err(ClientError::transport)?;
            match res.status().as_u16() {
                200 | 206 => break res,
                // Every byte had arrived when the connection broke (or the part is not this
                // file's): the hash and the rename still need a full answer, so start over.
                416 if have > 0 => {
                    file.set_len(0).await.map_err(io("writing", part))?;
                    have = 0;
                }
                _ => return Err(ClientError::from_reply(&reply_of(res).await?)),
            }
        };
        let status = res.status().as_u16();
        let sha256 = res
            .headers()
            .get("x-coffer-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut done = have;
        if status == 200 && have > 0 {
            // The server sent the whole file: start over.
            file.set_len(0).await.map_err(io("writing", part))?;
            done = 0;
        }
        let mut body = res.bytes_stream();
        let streamed = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(ClientError::transport)?;
                file.write_all(&chunk).await.map_err(io("writing", part))?;
                done += chunk.len() as u64;
                progress(done);
            }
            Ok(())
        }
        .await;
        // Flushed on every path: a tokio file may still be writing the last chunk when it is
        // dropped, and the next attempt resumes from the part file's length — read before
        // that write landed, it would fetch those bytes twice.
        file.flush().await.map_err(io("writing", part))?;
        streamed.map(|()| (done, sha256))
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Done on 200; resume from `received` when the reply tells it (a part stored, a stall, an
/// offset past what the server holds); otherwise the server's error.
fn put_outcome(reply: Reply) -> Result<Put> {
    if reply.code == 200 {
        return serde_json::from_value(reply.data)
            .map(Put::Done)
            .map_err(ClientError::transport);
    }
    let resumable = reply.code == 202
        || matches!(
            reply.data["error"].as_str(),
            Some("invalid_offset" | "transfer_timeout")
        );
    match reply.data["received"].as_u64() {
        Some(held) if resumable => Ok(Put::Resume(held)),
        _ => Err(ClientError::from_reply(&reply)),
    }
}

/// The reply JSON an HTTP transfer answered with.
async fn reply_of(res: reqwest::Response) -> Result<Reply> {
    let status = res.status();
    let body = res.bytes().await.map_err(ClientError::transport)?;
    serde_json::from_slice(&body).map_err(|_| {
        ClientError::Transport(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    })
}
