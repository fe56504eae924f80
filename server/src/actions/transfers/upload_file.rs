//! WebSocket upload: `transfer_file` control message, one text header, then exactly the
//! declared number of bytes in binary frames; the reply ends it.
use std::time::Duration;

use api_spec::ErrorCode;
use api_spec::actions::{TransferReady, UploadFileRequest, UploadFileResponse, UploadHeader};

use crate::actions::Call;
use crate::connection::Frame;
use crate::error::{Error, Result, fail, field_error};
use crate::services::pace::{Pace, TooSlow};
use crate::services::{transfers, upload};
use crate::storage::tasks;

/// Frames queued between the socket reader and the file writer.
const FRAME_QUEUE: usize = 8;

pub async fn run(call: Call, req: UploadFileRequest) -> Result<UploadFileResponse> {
    let auth = call.auth()?;
    let task =
        transfers::open_task(auth, &call.state.db, &req.task_id, tasks::TaskMode::Upload).await?;
    let mut claim = call
        .conn
        .claim_frames(FRAME_QUEUE)
        .ok_or_else(|| fail(ErrorCode::TaskNotUsable))?;
    let received = transfers::received(&call.state, task.id).await;
    let ready = TransferReady {
        task_id: task.id.to_string(),
        received,
        max_chunk: call.state.config.max_frame_bytes as u64,
    };
    super::control(&call, &ready).await?;
    let stall = Duration::from_secs(call.state.config.transfer_stall_secs);
    let stalled = || Error::Transfer {
        code: ErrorCode::TransferTimeout,
        received,
    };
    let header = match tokio::time::timeout(stall, claim.rx.recv()).await {
        Ok(Some(Frame::Text(text))) => serde_json::from_str::<UploadHeader>(&text)
            .map_err(|_| field_error(ErrorCode::InvalidField, "header"))?,
        Ok(Some(Frame::Binary(_))) => return Err(field_error(ErrorCode::InvalidField, "header")),
        Ok(None) | Err(_) => return Err(stalled()),
    };
    let mut upload = upload::begin_upload(&call.state, task, &header).await?;
    let mut pace = Pace::new(&call.state.config);
    while upload.remaining() > 0 {
        match pace.wait(claim.rx.recv()).await {
            Ok(Some(Frame::Binary(bytes))) => {
                pace.record(bytes.len());
                upload.write(&bytes).await?;
            }
            Ok(Some(Frame::Text(_))) => return Err(upload.stop(ErrorCode::InvalidField).await),
            // The client went away, stopped or trickles: keep what arrived for a resume.
            Ok(None) | Err(TooSlow) => {
                return Err(upload.stop(ErrorCode::TransferTimeout).await);
            }
        }
    }
    drop(claim);
    upload.finish(&call.state, auth).await
}
