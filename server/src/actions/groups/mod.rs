pub mod change_group_permissions;
pub mod create_group;
pub mod delete_group;
pub mod list_groups;

use api_spec::events::{Change, GROUP_CHANGED, GroupChanged};
use api_spec::permissions::LIST_GROUPS;

use crate::app::write::Write;
use crate::auth::AuthContext;
use crate::events::Audience;

/// Announces a committed change to a group.
fn announce(w: &mut Write<'_>, auth: &AuthContext, group_name: &str, change: Change) {
    let payload = GroupChanged {
        group_name: group_name.to_owned(),
        change,
    };
    w.publish(
        auth.scope().tenant_id(),
        Audience::Permission(LIST_GROUPS),
        GROUP_CHANGED,
        &payload,
    );
}
