use api_spec::ErrorCode;
use api_spec::actions::{GrantAccessRequest, GrantAccessResponse};

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::{Result, field_error};
use crate::services::{access, validate};
use crate::storage::rules::insert_entry;

pub async fn run(call: Call, req: GrantAccessRequest) -> Result<GrantAccessResponse> {
    let auth = call.auth()?;
    let types: Vec<AccessType> = req
        .access_types
        .iter()
        .map(|t| {
            AccessType::parse(t).ok_or_else(|| field_error(ErrorCode::InvalidRules, "access_types"))
        })
        .collect::<Result<_>>()?;
    let window = validate::window(req.start_time, req.end_time, "end_time")?;
    let w = call.state.write().await?;
    let entity = super::entity(auth, w.txn(), req.entity_type, &req.entity_identifier).await?;
    let object = super::object(auth, w.txn(), req.target_type, &req.target_identifier).await?;
    let mut entry_ids = Vec::new();
    for t in types {
        // Nobody hands out access they do not have.
        access::require(auth, w.txn(), object, t).await?;
        entry_ids.push(
            insert_entry(auth.scope(), w.txn(), entity, object, t, window)
                .await?
                .id
                .to_string(),
        );
    }
    w.commit().await?;
    Ok(GrantAccessResponse { entry_ids })
}
