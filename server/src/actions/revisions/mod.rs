pub mod get_revision;
pub mod list_revisions;
pub mod set_current_revision;
