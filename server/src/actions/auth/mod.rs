pub mod login;
pub mod logout;
pub mod refresh_token;
pub mod set_passwd;
