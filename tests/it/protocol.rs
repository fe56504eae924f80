//! The envelope: every kind of bad request gets its own 400 code on a connection that stays
//! usable; request ids are echoed; pipelined requests are answered; limits close the socket
//! with the right close code.
use api_spec::ErrorCode;
use api_spec::actions::ServerInfo;
use api_spec::envelope::Empty;
use serde_json::{Value, json};
use tests::TestServer;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn error_of(reply: &api_spec::Reply) -> ErrorCode {
    serde_json::from_value(reply.data["error"].clone()).expect("data.error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_info_needs_no_login() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let info = c.call::<ServerInfo>(&Empty {}).await.unwrap();
    assert_eq!(info.protocol_version, api_spec::PROTOCOL_VERSION);
    assert_eq!(info.server_name, "Coffer");
    assert!(!info.version.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_request_gets_its_own_code_and_the_connection_survives() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    let cases: &[(&str, ErrorCode)] = &[
        ("{not json", ErrorCode::MalformedJson),
        ("[1,2,3]", ErrorCode::NotAnObject),
        ("\"text\"", ErrorCode::NotAnObject),
        (r#"{"data": {}}"#, ErrorCode::MissingAction),
        (r#"{"action": 42}"#, ErrorCode::InvalidEnvelope),
        (
            r#"{"action": "server_info", "extra": 1}"#,
            ErrorCode::InvalidEnvelope,
        ),
        (r#"{"action": "no_such_action"}"#, ErrorCode::UnknownAction),
        (
            r#"{"action": "server_info", "data": {"x": 1}}"#,
            ErrorCode::UnknownField,
        ),
        (
            r#"{"action": "login", "data": {"username": "admin"}}"#,
            ErrorCode::MissingField,
        ),
        (
            r#"{"action": "login", "data": {"username": 5, "password": "x"}}"#,
            ErrorCode::InvalidField,
        ),
        (
            r#"{"action": "list_users"}"#,
            ErrorCode::AuthenticationRequired,
        ),
        (
            r#"{"action": "list_users", "username": "admin", "token": "forged"}"#,
            ErrorCode::InvalidToken,
        ),
    ];
    for (text, expected) in cases {
        c.send_text(*text).await;
        let reply = c.next_reply().await;
        assert_eq!(error_of(&reply), *expected, "for {text}: {reply:?}");
        assert_eq!(reply.code, expected.status(), "for {text}");
        assert!(!reply.message.is_empty());
    }
    // Still usable afterwards.
    assert!(c.call::<ServerInfo>(&Empty {}).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_errors_name_the_field() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.send_text(r#"{"action": "server_info", "data": {"bogus": true}}"#)
        .await;
    let reply = c.next_reply().await;
    assert_eq!(reply.data["field"], "bogus");
    c.send_text(r#"{"action": "login", "data": {"password": "x"}}"#)
        .await;
    assert_eq!(c.next_reply().await.data["field"], "username");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_request_data_is_an_invalid_field_on_every_backend() {
    // Found by the WebSocket fuzz test: PostgreSQL refuses text holding NUL, which made these
    // requests internal errors there.
    let server = TestServer::start().await;
    let mut admin = server.raw_admin().await;
    admin
        .request(
            "create_group",
            json!({"group_name": "staff", "permissions": []}),
        )
        .await;
    let cases = [
        ("get_user_info", json!({"username": "a\u{0}b"}), "username"),
        ("delete_user", json!({"username": "admin\u{0}"}), "username"),
        (
            "set_passwd",
            json!({"username": "\u{0}admin", "new_passwd": "long-enough-1"}),
            "username",
        ),
        (
            "set_passwd",
            json!({"username": "admin", "old_passwd": "x\u{0}", "new_passwd": "long-enough-1"}),
            "old_passwd",
        ),
        ("search", json!({"query": "x\u{0}"}), "query"),
        (
            "change_user_groups",
            json!({"username": "admin", "groups": ["\u{0}"]}),
            "groups",
        ),
        (
            "change_user_groups",
            json!({"username": "ad\u{0}min", "groups": []}),
            "username",
        ),
        (
            "delete_group",
            json!({"group_name": "staff\u{0}"}),
            "group_name",
        ),
        (
            "change_group_permissions",
            json!({"group_name": "st\u{0}aff", "permissions": []}),
            "group_name",
        ),
        (
            "change_group_permissions",
            json!({"group_name": "staff", "permissions": ["read\u{0}"]}),
            "permissions",
        ),
        (
            "create_user",
            json!({"username": "new\u{0}", "password": "long-enough-1"}),
            "username",
        ),
    ];
    for (action, data, field) in cases {
        let reply = admin.request(action, data).await;
        assert_eq!(
            error_of(&reply),
            ErrorCode::InvalidField,
            "{action}: {reply:?}"
        );
        assert_eq!(reply.data["field"], field, "{action}");
    }
    // Nothing was changed: the group and the admin are as they were.
    let groups = admin.request("list_groups", json!({})).await;
    assert_eq!(groups.code, 200);
    assert!(
        groups.data["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "staff")
    );
    let mut anonymous = server.raw().await;
    for (data, field) in [
        (
            json!({"username": "admin\u{0}", "password": "x"}),
            "username",
        ),
        (
            json!({"username": "admin", "password": "x\u{0}"}),
            "password",
        ),
    ] {
        let reply = anonymous.request("login", data).await;
        assert_eq!(error_of(&reply), ErrorCode::InvalidField, "{reply:?}");
        assert_eq!(reply.data["field"], field, "{reply:?}");
    }
    let mut anonymous = server.raw().await;
    let login = json!({"username": "admin", "password": "x", "tenant": "\u{0}"});
    let reply = anonymous.request("login", login).await;
    assert_eq!(reply.data["field"], "tenant", "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_data_means_no_arguments() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.send_text(r#"{"action": "server_info", "data": null}"#)
        .await;
    assert_eq!(c.next_reply().await.code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_even_on_errors_and_pipelining_works() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    for i in 0..20 {
        c.send_text(json!({"action": "server_info", "request_id": format!("r{i}")}).to_string())
            .await;
    }
    c.send_text(r#"{"action": "nope", "request_id": 7}"#).await;
    let mut seen = Vec::new();
    for _ in 0..21 {
        let reply = c.next_reply().await;
        seen.push(reply.request_id.clone().expect("request_id echoed"));
    }
    for i in 0..20 {
        assert!(
            seen.contains(&Value::String(format!("r{i}"))),
            "r{i} missing"
        );
    }
    assert!(seen.contains(&json!(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_outside_an_upload_is_refused_but_harmless() {
    let server = TestServer::start().await;
    let mut c = server.raw().await;
    c.send_message(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(error_of(&c.next_reply().await), ErrorCode::NotAnObject);
    assert!(c.call::<ServerInfo>(&Empty {}).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_close_with_1009() {
    let server = TestServer::start_with(|c| c.max_frame_bytes = 4096).await;
    let mut c = server.raw().await;
    let big = json!({"action": "server_info", "data": {"pad": "x".repeat(10_000)}}).to_string();
    c.send_text(big).await;
    let frame = c.wait_closed().await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_close_is_answered_promptly() {
    let server = TestServer::start().await;
    let c = server.raw().await;
    let started = std::time::Instant::now();
    c.close().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "close took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let server = TestServer::start_with(|c| {
        c.heartbeat_secs = 1;
        c.idle_timeout_secs = 1;
    })
    .await;
    let mut c = server.raw().await;
    // tungstenite answers pings only while it is read from; a silent client is idle.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let frame = c.wait_closed().await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Normal);
    assert_eq!(frame.reason.as_str(), "idle timeout");
}
