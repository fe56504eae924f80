//! The request envelope (`coffer::registry::envelope::parse`) on any text: it never panics;
//! a refusal is a coded reply (`code`, `message`, `data.error` of that status, and a
//! `data.field` only when the message has that field); what parses serialises and parses
//! back to the same request.
#![no_main]

use api_spec::{ErrorCode, Request};
use coffer::registry::envelope::{Envelope, parse};
use coffer::registry::error_reply;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The client-side request an envelope stands for (`data` parsed, `null` when absent).
fn as_request(e: &Envelope<'_>) -> Request {
    Request {
        action: e.action.clone(),
        data: e
            .data
            .map(|raw| serde_json::from_str(raw.get()).expect("raw data is JSON"))
            .unwrap_or(Value::Null),
        username: e.username.clone(),
        token: e.token.clone(),
        request_id: e.request_id.clone(),
    }
}

fuzz_target!(|data: &[u8]| {
    // A WebSocket text message is UTF-8 by the time it reaches the dispatcher.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Err(refusal) => {
            let reply = error_reply(&refusal.error, None, refusal.request_id);
            let json = serde_json::to_value(&reply).expect("a reply serialises");
            assert!(
                json["code"].is_u64() && json["message"].is_string(),
                "{json}"
            );
            assert!(json["timestamp"].is_number(), "{json}");
            let code: ErrorCode =
                serde_json::from_value(json["data"]["error"].clone()).expect("data.error");
            assert_eq!(reply.code, code.status(), "{json}");
            assert_ne!(code, ErrorCode::Internal, "{json}");
            if let Some(field) = json["data"].get("field").and_then(Value::as_str) {
                let object: Value = serde_json::from_str(text).expect("a named field's JSON");
                assert!(object.get(field).is_some(), "field {field:?} of {text}");
            }
        }
        Ok(parsed) => {
            let request = as_request(&parsed);
            let again = serde_json::to_string(&request).expect("a request serialises");
            let back = match parse(&again) {
                Ok(back) => back,
                Err(refusal) => panic!("{again} (from {text}) refused: {refusal:?}"),
            };
            assert_eq!(as_request(&back), request, "{text}");
        }
    }
});
