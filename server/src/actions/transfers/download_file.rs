//! WebSocket download: `transfer_file` control message, the bytes in binary frames, then
//! the reply.
use api_spec::actions::{DownloadFileRequest, DownloadFileResponse, DownloadHeader};
use futures_util::StreamExt;

use crate::actions::Call;
use crate::connection::Outgoing;
use crate::error::{Error, Result};
use crate::services::transfers::{self, DOWNLOAD_CHUNK};

pub async fn run(call: Call, req: DownloadFileRequest) -> Result<DownloadFileResponse> {
    let auth = call.auth()?;
    let offset = req.offset.unwrap_or(0);
    let mut download =
        transfers::begin_download(&call.state, auth, &req.task_id, offset, None).await?;
    let header = DownloadHeader {
        file_size: download.size,
        sha256: download.sha256.clone(),
        chunk_size: DOWNLOAD_CHUNK as u64,
        offset,
    };
    super::control(&call, &header).await?;
    let mut sent = 0u64;
    while let Some(chunk) = download.stream.next().await {
        let chunk = chunk.map_err(|e| Error::Internal(format!("reading blob: {e}")))?;
        // Frames of at most DOWNLOAD_CHUNK, whatever the store's read size.
        for piece in chunk.chunks(DOWNLOAD_CHUNK) {
            sent += piece.len() as u64;
            call.conn
                .outgoing
                .send(Outgoing::Binary(chunk.slice_ref(piece)))
                .await
                .map_err(|_| Error::Internal("connection closed".into()))?;
        }
    }
    Ok(DownloadFileResponse {
        task_id: req.task_id,
        sent,
    })
}
