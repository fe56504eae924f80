use api_spec::actions::CreateUserRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::accounts;

pub async fn run(call: Call, req: CreateUserRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let mut w = call.state.write().await?;
    accounts::create_user(auth.scope(), w.txn(), &call.state.hasher, &req).await?;
    super::announce(&mut w, auth, &req.username, Change::Created);
    w.commit().await?;
    Ok(Empty {})
}
