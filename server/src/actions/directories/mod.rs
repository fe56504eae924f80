pub mod create_directory;
pub mod delete_directory;
pub mod get_directory_access_rules;
pub mod get_directory_info;
pub mod list_directory;
pub mod move_directory;
pub mod rename_directory;
pub mod set_directory_rules;
