pub mod change_user_groups;
pub mod create_user;
pub mod delete_user;
pub mod get_user_info;
pub mod list_users;

use api_spec::events::{Change, USER_CHANGED, UserChanged};
use api_spec::permissions::LIST_USERS;

use crate::app::write::Write;
use crate::auth::AuthContext;
use crate::events::Audience;

/// Announces a committed change to a user.
fn announce(w: &mut Write<'_>, auth: &AuthContext, username: &str, change: Change) {
    let payload = UserChanged {
        username: username.to_owned(),
        change,
    };
    w.publish(
        auth.scope().tenant_id(),
        Audience::Permission(LIST_USERS),
        USER_CHANGED,
        &payload,
    );
}
