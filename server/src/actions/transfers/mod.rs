pub mod download_file;
pub mod upload_file;

use serde::Serialize;
use serde_json::json;

use crate::actions::Call;
use crate::connection::Outgoing;
use crate::error::{Error, Result};

/// Sends the `transfer_file` control message that opens a transfer (it carries the
/// request's `request_id`, and no `code`: it is not the reply).
async fn control(call: &Call, data: &impl Serialize) -> Result<()> {
    let mut message = json!({"action": "transfer_file", "data": data});
    if let Some(id) = &call.request_id {
        message["request_id"] = id.clone();
    }
    call.conn
        .outgoing
        .send(Outgoing::Text(message.to_string()))
        .await
        .map_err(|_| Error::Internal("connection closed".into()))
}
