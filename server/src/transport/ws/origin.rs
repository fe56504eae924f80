//! Which pages may open a WebSocket. Browsers send `Origin` with every upgrade and let any
//! page connect anywhere, so a page of another site could otherwise use a session of the
//! person viewing it (cross-site WebSocket hijacking). Clients that are not browsers send
//! no `Origin` and are not asked.
use actix_web::HttpRequest;
use actix_web::http::header;

/// Whether the upgrade `req` may proceed: no `Origin`; an origin whose host (and port) is
/// the one the `Host` header names — the server's own, whatever the scheme, which a server
/// behind a TLS-terminating proxy cannot know; or one of `allowed` (compared without case
/// or a trailing `/`). A default port (80 for http, 443 for https) counts as no port on
/// either side.
pub fn allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let (origin_host, default_port) = if let Some(rest) = origin.strip_prefix("http://") {
        (rest, ":80")
    } else if let Some(rest) = origin.strip_prefix("https://") {
        (rest, ":443")
    } else {
        return false;
    };
    let without_default = |h: &str| -> String {
        h.strip_suffix(default_port)
            .unwrap_or(h)
            .to_ascii_lowercase()
    };
    !origin_host.is_empty() && without_default(origin_host) == without_default(host)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::allowed;

    fn req(origin: Option<&str>, host: &str) -> actix_web::HttpRequest {
        let mut r = TestRequest::get().insert_header(("host", host));
        if let Some(o) = origin {
            r = r.insert_header(("origin", o));
        }
        r.to_http_request()
    }

    #[test]
    fn own_origin_listed_ones_and_non_browsers_pass() {
        let none: &[String] = &[];
        assert!(allowed(&req(None, "127.0.0.1:5104"), none));
        assert!(allowed(
            &req(Some("http://127.0.0.1:5104"), "127.0.0.1:5104"),
            none
        ));
        assert!(allowed(
            &req(Some("https://Docs.Example.com"), "docs.example.com"),
            none
        ));
        let listed = ["https://docs.example.com".to_owned()];
        assert!(allowed(
            &req(Some("https://docs.example.com"), "10.0.0.5:5104"),
            &listed
        ));
    }

    #[test]
    fn other_sites_null_and_lookalikes_are_refused() {
        let none: &[String] = &[];
        assert!(!allowed(
            &req(Some("http://evil.example"), "127.0.0.1:5104"),
            none
        ));
        assert!(!allowed(&req(Some("null"), "127.0.0.1:5104"), none));
        assert!(!allowed(
            &req(Some("http://127.0.0.1:5105"), "127.0.0.1:5104"),
            none
        ));
        assert!(!allowed(
            &req(Some("http://127.0.0.1:5104.evil"), "127.0.0.1:5104"),
            none
        ));
        assert!(!allowed(
            &req(Some("ftp://127.0.0.1:5104"), "127.0.0.1:5104"),
            none
        ));
        assert!(!allowed(&req(Some("http://"), ""), none));
        assert!(!allowed(
            &req(Some("http://[::1]:5105"), "[::1]:5104"),
            none
        ));
        assert!(!allowed(
            &req(Some("https://docs.example.com"), "docs.example.com:8443"),
            none
        ));
    }
}
