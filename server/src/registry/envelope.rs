//! The envelope stage of dispatch: one text message to a typed [`Request`], or the coded
//! error reply it earns. It is pure (no state, no I/O) so that the `envelope` fuzz target and
//! the property test below can drive it without a server; `dispatch` uses it unchanged.
use api_spec::{ErrorCode, Reply, Request};
use serde_json::Value;

use super::dispatch::error_reply;
use crate::error::{fail, field_error};

/// A request whose envelope parsed.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub request: Request,
    /// The `request_id` a reply echoes: the request's, when it is a string or a number.
    pub echo: Option<Value>,
}

/// Parses `text` as a request envelope. Parsing is two-stage: JSON first, so that even a
/// request with a bad envelope gets its `request_id` echoed, then the typed [`Request`].
/// Every error is a reply carrying one of `malformed_json`, `not_an_object`,
/// `missing_action` or `invalid_envelope`.
pub fn parse_envelope(text: &str) -> Result<Parsed, Reply> {
    let raw: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Err(error_reply(&fail(ErrorCode::MalformedJson), None, None)),
    };
    let Value::Object(object) = raw else {
        return Err(error_reply(&fail(ErrorCode::NotAnObject), None, None));
    };
    let echo = object
        .get("request_id")
        .filter(|v| v.is_string() || v.is_number())
        .cloned();
    if !object.contains_key("action") {
        return Err(error_reply(&fail(ErrorCode::MissingAction), None, echo));
    }
    // The field an error is about, named from the message itself: serde's type errors quote
    // the value, not the field, and a field name may hold a backtick.
    let field = unknown_field(&object).or_else(|| wrongly_typed(&object).map(str::to_owned));
    match serde_json::from_value(Value::Object(object)) {
        Ok(request) => Ok(Parsed { request, echo }),
        Err(_) => {
            let err = match field {
                Some(field) => field_error(ErrorCode::InvalidEnvelope, &field),
                None => fail(ErrorCode::InvalidEnvelope),
            };
            Err(error_reply(&err, None, echo))
        }
    }
}

/// The envelope's fields; any other is refused.
const FIELDS: [&str; 5] = ["action", "data", "username", "token", "request_id"];

/// The first field of the message the envelope does not have.
fn unknown_field(object: &serde_json::Map<String, Value>) -> Option<String> {
    object
        .keys()
        .find(|k| !FIELDS.contains(&k.as_str()))
        .cloned()
}

/// The first string field of the envelope holding something else (`action` must be a
/// string; `username` and `token` may also be null).
fn wrongly_typed(object: &serde_json::Map<String, Value>) -> Option<&'static str> {
    ["action", "username", "token"]
        .into_iter()
        .find(|key| match object.get(*key) {
            None | Some(Value::String(_)) => false,
            Some(Value::Null) => *key == "action",
            Some(_) => true,
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// The codes the envelope stage may answer with.
    const ENVELOPE_CODES: [ErrorCode; 4] = [
        ErrorCode::MalformedJson,
        ErrorCode::NotAnObject,
        ErrorCode::MissingAction,
        ErrorCode::InvalidEnvelope,
    ];

    /// Checks the invariant of an error reply: its JSON has an integer `code`, a `message`, a
    /// `timestamp`, and a `data.error` that is an envelope code sent with that status.
    fn check_error(reply: &Reply) -> Result<(), TestCaseError> {
        let value = serde_json::to_value(reply).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(value["code"].is_u64(), "{value}");
        prop_assert!(value["message"].as_str().is_some_and(|m| !m.is_empty()));
        prop_assert!(value["timestamp"].is_number());
        let code: ErrorCode = serde_json::from_value(value["data"]["error"].clone())
            .map_err(|e| TestCaseError::fail(format!("data.error of {value}: {e}")))?;
        prop_assert!(ENVELOPE_CODES.contains(&code), "{code:?}");
        prop_assert_eq!(reply.code, code.status());
        Ok(())
    }

    /// JSON values without floats (whose text form need not parse back bit-exactly).
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A request a client may send: `request_id` is a string or a number, as documented.
    fn request() -> impl Strategy<Value = Request> {
        let id = prop_oneof![
            ".{0,10}".prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
        ];
        (
            ".{0,24}",
            json_value(),
            proptest::option::of(".{0,16}"),
            proptest::option::of(".{0,16}"),
            proptest::option::of(id),
        )
            .prop_map(|(action, data, username, token, request_id)| Request {
                action,
                data,
                username,
                token,
                request_id,
            })
    }

    /// Text that is mostly JSON-shaped: envelopes with fields of any type, cut short or not.
    fn envelope_text() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            Just("action"),
            Just("data"),
            Just("username"),
            Just("token"),
            Just("request_id"),
            Just("extra"),
            Just("`ex`tra`"),
        ];
        (
            prop::collection::vec((field, json_value()), 0..6),
            any::<usize>(),
        )
            .prop_map(|(fields, cut)| {
                let object: serde_json::Map<String, Value> =
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                let text = Value::Object(object).to_string();
                // Sometimes a prefix: truncated JSON, on a character boundary.
                let cut = cut % (text.len() + 8);
                match text.char_indices().nth(cut) {
                    Some((i, _)) if cut.is_multiple_of(3) => text[..i].to_owned(),
                    _ => text,
                }
            })
    }

    fn check_any(text: &str) -> Result<(), TestCaseError> {
        match parse_envelope(text) {
            Err(reply) => {
                check_error(&reply)?;
                // A named field is one the message has (never a quoted value).
                if let Some(field) = reply.data.get("field").and_then(Value::as_str) {
                    let object: Value = serde_json::from_str(text)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert!(object.get(field).is_some(), "field {field:?} of {text}");
                }
                Ok(())
            }
            Ok(parsed) => {
                // Whatever parsed serialises and parses back to itself.
                let again = serde_json::to_string(&parsed.request)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back = parse_envelope(&again)
                    .map_err(|r| TestCaseError::fail(format!("{again} refused: {r:?}")))?;
                prop_assert_eq!(back.request, parsed.request);
                prop_assert_eq!(back.echo, parsed.echo);
                Ok(())
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_text_parses_or_gets_a_coded_envelope_error(text in ".{0,64}") {
            check_any(&text)?;
        }

        #[test]
        fn envelope_shaped_text_parses_or_gets_a_coded_envelope_error(text in envelope_text()) {
            check_any(&text)?;
        }

        #[test]
        fn valid_requests_round_trip(request in request()) {
            let text = serde_json::to_string(&request).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let parsed = parse_envelope(&text)
                .map_err(|r| TestCaseError::fail(format!("{text} refused: {r:?}")))?;
            prop_assert_eq!(&parsed.echo, &request.request_id);
            prop_assert_eq!(parsed.request, request);
        }
    }

    #[test]
    fn a_bad_envelope_still_echoes_its_request_id() {
        let text = json!({"action": 42, "request_id": "r1"}).to_string();
        let reply = parse_envelope(&text).unwrap_err();
        assert_eq!(reply.request_id, Some(json!("r1")));
        assert_eq!(reply.data["error"], "invalid_envelope");
        assert_eq!(reply.data["field"], "action");
        let reply = parse_envelope(r#"{"action": "a", "token": 12345}"#).unwrap_err();
        assert_eq!(reply.data["field"], "token");
        let reply = parse_envelope(r#"{"action": "a", "extra": 1}"#).unwrap_err();
        assert_eq!(reply.data["field"], "extra");
        // Found by the envelope fuzz target: a backtick in the name cut it short.
        let reply = parse_envelope(r#"{"action": "a", "`ata": 1}"#).unwrap_err();
        assert_eq!(reply.data["field"], "`ata");
        let reply = parse_envelope(r#"{"request_id": {"x": 1}}"#).unwrap_err();
        assert_eq!(reply.request_id, None);
        assert_eq!(reply.data["error"], "missing_action");
    }
}
