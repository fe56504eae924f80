//! Plain HTTP routes.
use tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer_ok() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let res = reqwest::get(server.http_url(path)).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_a_closed_database() {
    let server = TestServer::start().await;
    server.state().db.clone().close().await.unwrap();
    let res = reqwest::get(server.http_url("/readyz")).await.unwrap();
    assert_eq!(res.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stops_gracefully() {
    let mut server = TestServer::start().await;
    let addr = server.addr;
    server.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening after stop"
    );
}
