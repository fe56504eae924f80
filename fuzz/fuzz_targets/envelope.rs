//! The request envelope (`coffer::registry::parse_envelope`) on any text: it never panics;
//! a refusal is a coded reply (`code`, `message`, `data.error` of that status, and a
//! `data.field` only when the message has that field); what parses serialises and parses
//! back to the same request.
#![no_main]

use api_spec::ErrorCode;
use coffer::registry::parse_envelope;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // A WebSocket text message is UTF-8 by the time it reaches the dispatcher.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_envelope(text) {
        Err(reply) => {
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
            let again = serde_json::to_string(&parsed.request).expect("a request serialises");
            let back = match parse_envelope(&again) {
                Ok(back) => back,
                Err(reply) => panic!("{again} (from {text}) refused: {reply:?}"),
            };
            assert_eq!(back.request, parsed.request, "{text}");
            assert_eq!(back.echo, parsed.echo, "{text}");
        }
    }
});
