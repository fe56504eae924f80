use api_spec::actions::CreateUserRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::accounts;

pub async fn run(call: Call, req: CreateUserRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let (_turn, txn) = call.state.begin_write().await?;
    accounts::create_user(auth.scope(), &txn, &call.state.hasher, &req).await?;
    txn.commit().await?;
    super::announce(&call, auth, &req.username, Change::Created);
    Ok(Empty {})
}
