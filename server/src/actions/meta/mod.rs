pub mod register_listener;
pub mod server_info;
