//! HTTP transfer helpers (`PUT`/`GET /api/transfers/{task}`).
use serde_json::Value;

/// An HTTP answer: status, headers of interest, and body.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_range: Option<String>,
    pub sha256: Option<String>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The body as the reply JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

async fn answer(res: reqwest::Response) -> HttpAnswer {
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_range = header("content-range");
    let sha256 = header("x-coffer-sha256");
    let body = res.bytes().await.expect("body").to_vec();
    HttpAnswer {
        status,
        content_range,
        sha256,
        body,
    }
}

/// `PUT` a body (optionally with `Content-Range` and a declared SHA-256).
pub async fn put(
    base: &str,
    token: Option<&str>,
    task_id: &str,
    body: Vec<u8>,
    content_range: Option<String>,
    sha256: Option<&str>,
) -> HttpAnswer {
    let mut req = reqwest::Client::new()
        .put(format!("{base}/api/transfers/{task_id}"))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(r) = content_range {
        req = req.header("content-range", r);
    }
    if let Some(h) = sha256 {
        req = req.header("x-coffer-sha256", h);
    }
    answer(req.send().await.expect("PUT")).await
}

/// `GET` a task's bytes (optionally a `Range`).
pub async fn get(
    base: &str,
    token: Option<&str>,
    task_id: &str,
    range: Option<&str>,
) -> HttpAnswer {
    let mut req = reqwest::Client::new().get(format!("{base}/api/transfers/{task_id}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(r) = range {
        req = req.header("range", r);
    }
    answer(req.send().await.expect("GET")).await
}
