//! Login, tokens, throttling, password changes.
use api_spec::ErrorCode;
use api_spec::actions::{
    CreateUser, CreateUserRequest, GetUserInfo, ListUsers, Login, LoginRequest, Logout,
    LogoutRequest, RefreshToken, SetPasswd, SetPasswdRequest, UsernameRequest,
};
use api_spec::envelope::Empty;
use tests::server::ADMIN_PASSWORD;
use tests::{Client, TestServer};

fn login_req(username: &str, password: &str, tenant: Option<&str>) -> LoginRequest {
    LoginRequest {
        username: username.into(),
        password: password.into(),
        tenant: tenant.map(Into::into),
    }
}

async fn create_plain_user(admin: &mut Client, username: &str, password: &str) {
    let req = CreateUserRequest {
        username: username.into(),
        password: password.into(),
        nickname: Some("Plain".into()),
        permissions: vec![],
        groups: vec![],
    };
    admin.call::<CreateUser>(&req).await.expect("create user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_logs_in_with_every_permission() {
    let server = TestServer::start().await;
    let c = server.client().await;
    let res = c
        .call::<Login>(&login_req("admin", ADMIN_PASSWORD, None))
        .await
        .unwrap();
    assert_eq!(res.tenant, "default");
    assert_eq!(res.groups, vec!["sysop"]);
    for p in api_spec::permissions::ALL {
        assert!(res.permissions.iter().any(|q| q == p), "admin lacks {p}");
    }
    assert_eq!(res.token.len(), 43);
    assert!(res.exp > api_spec_now() + 3000.0);
}

fn api_spec_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_and_unknown_tenant_look_the_same() {
    let server = TestServer::start().await;
    let c = server.client().await;
    for req in [
        login_req("admin", "wrong-password", None),
        login_req("nobody", ADMIN_PASSWORD, None),
        login_req("admin", ADMIN_PASSWORD, Some("no-such-tenant")),
    ] {
        let err = c.call::<Login>(&req).await.unwrap_err();
        assert_eq!((err.code, err.error), (401, ErrorCode::InvalidCredentials));
        assert_eq!(err.message, "Invalid credentials");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_without_blocking_others() {
    let server = TestServer::start_with(|c| c.login_max_failures = 3).await;
    let c = server.client().await;
    for _ in 0..3 {
        let err = c
            .call::<Login>(&login_req("admin", "bad-password", None))
            .await
            .unwrap_err();
        assert_eq!(err.error, ErrorCode::InvalidCredentials);
    }
    // Even the right password is refused while locked, with a retry hint.
    let started = std::time::Instant::now();
    let err = c
        .call::<Login>(&login_req("admin", ADMIN_PASSWORD, None))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.error), (429, ErrorCode::TooManyAttempts));
    assert!(err.data["retry_after"].as_u64().unwrap() > 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "throttling must not sleep"
    );
    // Other accounts and anonymous actions keep working.
    let other = server.client().await;
    assert!(
        other
            .call::<api_spec::actions::ServerInfo>(&Empty {})
            .await
            .is_ok()
    );
}

/// Sends `per_connection` logins as `admin` with `password` on each of `connections` fresh
/// connections, all before reading any reply (so they run at once), and returns each
/// reply's (code, error) and one of the connections.
async fn login_burst(
    server: &TestServer,
    password: &str,
    (connections, per_connection): (usize, usize),
) -> (Vec<(u16, Option<String>)>, Client) {
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(server.client().await);
    }
    let login = serde_json::json!({"username": "admin", "password": password});
    // Every connection sends its logins at once, pipelined (each reply finds its request by
    // `request_id`).
    let replies = futures_util::future::join_all(
        clients
            .iter()
            .flat_map(|c| (0..per_connection).map(|_| c.request("login", login.clone()))),
    )
    .await;
    let outcomes = replies
        .into_iter()
        .map(|reply| {
            let error = reply.data["error"].as_str().map(str::to_owned);
            (reply.code, error)
        })
        .collect();
    (outcomes, clients.remove(0))
}

/// Parallel connections get no more guesses than sequential ones: 40 wrong-password logins
/// for one user, 10 pipelined on each of 4 connections, are checked against the password at
/// most `login_max_failures` (5) times; every other one is refused with 429 before its
/// check, and so is the right password afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_get_no_more_guesses_than_sequential_ones() {
    let server = TestServer::start().await;
    let (outcomes, c) = login_burst(&server, "wrong-password", (4, 10)).await;
    let count = |code: u16, error: &str| {
        outcomes
            .iter()
            .filter(|(c, e)| *c == code && e.as_deref() == Some(error))
            .count()
    };
    let (checked, throttled) = (
        count(401, "invalid_credentials"),
        count(429, "too_many_attempts"),
    );
    assert_eq!(
        (checked, throttled),
        (5, 35),
        "wrong passwords checked in parallel: {outcomes:?}"
    );
    let err = c
        .call::<Login>(&login_req("admin", ADMIN_PASSWORD, None))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.error), (429, ErrorCode::TooManyAttempts));
}

/// The budget bounds failures, not logins: 40 right-password logins for one account at once
/// (a service's workers starting together) all succeed — beyond the places left they wait for
/// one in flight to end rather than being refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_right_passwords_all_log_in() {
    let server = TestServer::start().await;
    let (outcomes, _) = login_burst(&server, ADMIN_PASSWORD, (4, 10)).await;
    assert!(
        outcomes.iter().all(|(code, _)| *code == 200),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_must_match_its_user() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_plain_user(&mut admin, "bob", "bob-password-1").await;
    // The admin's token presented under bob's name is refused.
    let token = admin.token().unwrap();
    admin.act_as(Some("bob"), &token);
    let err = admin
        .call::<GetUserInfo>(&UsernameRequest {
            username: "bob".into(),
        })
        .await
        .unwrap_err();
    assert_eq!((err.code, err.error), (401, ErrorCode::InvalidToken));
    // Without a name, the token alone names its session: the admin's.
    admin.act_as(None, &token);
    let users = admin
        .call::<ListUsers>(&Empty {})
        .await
        .expect("token alone");
    assert!(users.users.iter().any(|u| u.username == "bob"));
    admin.act_as(None, "forged");
    let err = admin.call::<ListUsers>(&Empty {}).await.unwrap_err();
    assert_eq!((err.code, err.error), (401, ErrorCode::InvalidToken));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_the_token() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let old = c.token().unwrap();
    let res = c.call::<RefreshToken>(&Empty {}).await.unwrap();
    assert_ne!(res.token, old);
    c.act_as(Some("admin"), &res.token);
    assert!(c.call::<ListUsers>(&Empty {}).await.is_ok());
    c.act_as(Some("admin"), &old);
    assert_eq!(
        c.call::<ListUsers>(&Empty {}).await.unwrap_err().error,
        ErrorCode::InvalidToken
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_this_token_or_all() {
    let server = TestServer::start().await;
    let a = server.admin().await;
    let b = server.admin().await;
    let c = server.admin().await;
    a.call::<Logout>(&LogoutRequest { all: false })
        .await
        .unwrap();
    assert_eq!(
        a.call::<ListUsers>(&Empty {}).await.unwrap_err().error,
        ErrorCode::InvalidToken
    );
    assert!(
        b.call::<ListUsers>(&Empty {}).await.is_ok(),
        "other sessions survive a plain logout"
    );
    b.call::<Logout>(&LogoutRequest { all: true })
        .await
        .unwrap();
    assert_eq!(
        c.call::<ListUsers>(&Empty {}).await.unwrap_err().error,
        ErrorCode::InvalidToken
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire() {
    let server = TestServer::start_with(|c| c.token_ttl_secs = 1).await;
    let c = server.admin().await;
    assert!(c.call::<ListUsers>(&Empty {}).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(
        c.call::<ListUsers>(&Empty {}).await.unwrap_err().error,
        ErrorCode::InvalidToken
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_password_change_needs_the_old_one_and_revokes_tokens() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_plain_user(&mut admin, "carol", "carol-password-1").await;
    let mut carol = server.client().await;
    carol
        .login("carol", "carol-password-1", None)
        .await
        .unwrap();
    let mut carol2 = server.client().await;
    carol2
        .login("carol", "carol-password-1", None)
        .await
        .unwrap();

    let me = UsernameRequest {
        username: "carol".into(),
    };
    // carol2's session is in use (so remembered) when the password changes.
    assert!(carol2.call::<GetUserInfo>(&me).await.is_ok());
    let change = |old: Option<&str>, new: &str| SetPasswdRequest {
        username: "carol".into(),
        old_passwd: old.map(Into::into),
        new_passwd: new.into(),
    };
    let err = carol
        .call::<SetPasswd>(&change(None, "carol-password-2"))
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::MissingField);
    let err = carol
        .call::<SetPasswd>(&change(Some("wrong-old-pass"), "carol-password-2"))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.error), (403, ErrorCode::WrongPassword));
    let err = carol
        .call::<SetPasswd>(&change(Some("carol-password-1"), "short"))
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::WeakPassword);
    let err = carol
        .call::<SetPasswd>(&change(Some("carol-password-1"), "carol-password-1"))
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::PasswordUnchanged);
    carol
        .call::<SetPasswd>(&change(Some("carol-password-1"), "carol-password-2"))
        .await
        .unwrap();

    assert_eq!(
        carol2.call::<GetUserInfo>(&me).await.unwrap_err().error,
        ErrorCode::InvalidToken
    );
    let mut fresh = server.client().await;
    assert!(
        fresh
            .login("carol", "carol-password-1", None)
            .await
            .is_err()
    );
    fresh
        .login("carol", "carol-password-2", None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_users_passwords_need_super_set_passwd() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_plain_user(&mut admin, "dave", "dave-password-1").await;
    create_plain_user(&mut admin, "erin", "erin-password-1").await;
    let mut dave = server.client().await;
    dave.login("dave", "dave-password-1", None).await.unwrap();
    let req = |user: &str| SetPasswdRequest {
        username: user.into(),
        old_passwd: None,
        new_passwd: "new-password-9".into(),
    };
    // Without the permission, existing and missing users look the same.
    assert_eq!(
        dave.call::<SetPasswd>(&req("erin"))
            .await
            .unwrap_err()
            .error,
        ErrorCode::PermissionDenied
    );
    assert_eq!(
        dave.call::<SetPasswd>(&req("ghost"))
            .await
            .unwrap_err()
            .error,
        ErrorCode::PermissionDenied
    );
    // The admin resets without the old password.
    admin.call::<SetPasswd>(&req("erin")).await.unwrap();
    assert_eq!(
        admin
            .call::<SetPasswd>(&req("ghost"))
            .await
            .unwrap_err()
            .error,
        ErrorCode::UserNotFound
    );
    let mut erin = server.client().await;
    erin.login("erin", "new-password-9", None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissionless_users_are_denied_admin_actions() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_plain_user(&mut admin, "frank", "frank-password-1").await;
    let mut frank = server.client().await;
    frank
        .login("frank", "frank-password-1", None)
        .await
        .unwrap();
    let err = frank.call::<ListUsers>(&Empty {}).await.unwrap_err();
    assert_eq!((err.code, err.error), (403, ErrorCode::PermissionDenied));
    // Their own info needs no permission; someone else's does.
    assert!(
        frank
            .call::<GetUserInfo>(&UsernameRequest {
                username: "frank".into()
            })
            .await
            .is_ok()
    );
    let err = frank
        .call::<GetUserInfo>(&UsernameRequest {
            username: "admin".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_updates_last_login() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let info = admin
        .call::<GetUserInfo>(&UsernameRequest {
            username: "admin".into(),
        })
        .await
        .unwrap();
    assert!(info.last_login.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_sees_a_revocation_within_its_auth_cache_time() {
    let server = TestServer::start().await;
    let mut config = server.config_for_another_instance();
    config.auth_cache_ms = 300;
    let other = coffer::start(config, coffer::server::Signals::Ignore)
        .await
        .unwrap();
    let here = server.admin().await;
    let mut there = Client::connect(&format!("ws://{}/ws", other.addr())).await;
    there.share_session(&here);
    // The other instance authenticates the session, and remembers it.
    assert!(there.call::<ListUsers>(&Empty {}).await.is_ok());
    here.call::<Logout>(&LogoutRequest { all: false })
        .await
        .unwrap();
    assert_eq!(
        here.call::<ListUsers>(&Empty {}).await.unwrap_err().error,
        ErrorCode::InvalidToken,
        "the instance that revoked forgets at once"
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        there.call::<ListUsers>(&Empty {}).await.unwrap_err().error,
        ErrorCode::InvalidToken,
        "the other instance asks the database again after auth_cache_ms"
    );
    drop(there);
    other.stop().await.unwrap();
}
