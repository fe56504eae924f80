use api_spec::PROTOCOL_VERSION;
use api_spec::actions::ServerInfoResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;

pub async fn run(call: Call, _: Empty) -> Result<ServerInfoResponse> {
    Ok(ServerInfoResponse {
        server_name: call.state.config.server_name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol_version: PROTOCOL_VERSION,
    })
}
