use api_spec::ErrorCode;
use api_spec::actions::RevokeAccessRequest;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::{Result, fail};
use crate::services::names;
use crate::storage::rules::delete_entry;

pub async fn run(call: Call, req: RevokeAccessRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.entry_id, ErrorCode::EntryNotFound)?;
    let w = call.state.write().await?;
    if !delete_entry(auth.scope(), w.txn(), id).await? {
        return Err(fail(ErrorCode::EntryNotFound));
    }
    w.commit().await?;
    Ok(Empty {})
}
