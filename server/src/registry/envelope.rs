//! Reading a request's envelope without building its JSON.
//!
//! A message may be as large as `max_frame_bytes` (1 MiB by default), and JSON parsed into a
//! `serde_json::Value` tree costs many times its size: a 1 MiB array of zeros is 16 MiB of
//! `Value`s, and a connection may have `max_in_flight` of them at once — a fuzzer's frames
//! took the server from 47 MiB to 995 MiB. So the envelope is read field by field from the
//! text: unknown top-level fields are skipped unparsed, `data` stays raw text that the
//! action's own type reads directly (refusing the first field it does not expect), and
//! nothing is allocated in proportion to what the server will not use.
use std::borrow::Cow;
use std::fmt;

use api_spec::ErrorCode;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, fail, field_error};

/// A request as the server reads it: the envelope's fields, with `data` still JSON text.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub action: String,
    /// The action's arguments; `None` when absent or `null`.
    pub data: Option<&'a RawValue>,
    pub username: Option<String>,
    pub token: Option<String>,
    /// The client's correlation id, when it is a string or a number (to be echoed).
    pub request_id: Option<Value>,
}

/// Why a message is not a request, and the `request_id` to echo if it had one.
#[derive(Debug)]
pub struct Refusal {
    pub error: Error,
    pub request_id: Option<Value>,
}

/// Reads the envelope of one text message.
pub fn parse(text: &str) -> Result<Envelope<'_>, Refusal> {
    let refuse = |error, request_id| Refusal { error, request_id };
    // Syntax first, without building anything, so a broken message is `malformed_json`
    // whatever its shape.
    if serde_json::from_str::<IgnoredAny>(text).is_err() {
        return Err(refuse(fail(ErrorCode::MalformedJson), None));
    }
    let Ok(fields) = serde_json::from_str::<Fields<'_>>(text) else {
        return Err(refuse(fail(ErrorCode::NotAnObject), None));
    };
    let request_id = fields.request_id.and_then(echoable);
    let Some(action) = fields.action else {
        return Err(refuse(fail(ErrorCode::MissingAction), request_id));
    };
    let invalid = |field| field_error(ErrorCode::InvalidEnvelope, field);
    if let Some(name) = fields.unknown {
        return Err(refuse(invalid(&name), request_id));
    }
    let Ok(action) = serde_json::from_str::<String>(action.get()) else {
        return Err(refuse(invalid("action"), request_id));
    };
    let text_field = |raw: Option<&RawValue>, name| match raw {
        None => Ok(None),
        Some(raw) => match serde_json::from_str::<Option<String>>(raw.get()) {
            Ok(Some(text)) if text.contains('\0') => Err(invalid(name)),
            Ok(text) => Ok(text),
            Err(_) => Err(invalid(name)),
        },
    };
    let username = match text_field(fields.username, "username") {
        Ok(u) => u,
        Err(e) => return Err(refuse(e, request_id)),
    };
    let token = match text_field(fields.token, "token") {
        Ok(t) => t,
        Err(e) => return Err(refuse(e, request_id)),
    };
    Ok(Envelope {
        action,
        data: fields.data.filter(|d| d.get() != "null"),
        username,
        token,
        request_id,
    })
}

/// The top-level field of `data` (raw JSON text) whose key or value holds a NUL character,
/// if any. PostgreSQL cannot store or even compare text containing NUL, so such a request
/// would fail inside the database as an internal error; no name, id, query or password may
/// hold one, on either backend. JSON can carry NUL only as the escape `\u0000`, so text
/// without one is passed at once; otherwise the top level is walked without parsing values.
pub fn field_with_nul(data: &str) -> Option<String> {
    if !escapes_nul(data) {
        return None;
    }
    let Ok(Entries(entries)) = serde_json::from_str::<Entries<'_>>(data) else {
        // Not an object: the action's own type refuses it.
        return None;
    };
    entries
        .into_iter()
        .find(|(key, value)| key.contains('\0') || escapes_nul(value.get()))
        .map(|(key, _)| truncate(&key, 64).to_owned())
}

/// Whether JSON text holds the escape `\u0000` (not an escaped backslash followed by
/// `u0000`).
fn escapes_nul(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1..i + 6) == Some(b"u0000".as_slice()) {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// An object's entries, keys decoded and values left raw.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some(Key(key)) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// The `request_id` as echoed: strings and numbers only (anything else is accepted but not
/// echoed), parsed only once it is known to be one — a megabyte-long array is never built.
fn echoable(raw: &RawValue) -> Option<Value> {
    let text = raw.get();
    let first = text.as_bytes().first()?;
    if *first == b'"' || *first == b'-' || first.is_ascii_digit() {
        serde_json::from_str(text).ok()
    } else {
        None
    }
}

/// The envelope's top-level fields, each kept as raw text; the first unknown field's name.
#[derive(Default)]
struct Fields<'a> {
    action: Option<&'a RawValue>,
    data: Option<&'a RawValue>,
    username: Option<&'a RawValue>,
    token: Option<&'a RawValue>,
    request_id: Option<&'a RawValue>,
    unknown: Option<String>,
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(Key(key)) = map.next_key()? {
            let slot = match key.as_ref() {
                "action" => &mut fields.action,
                "data" => &mut fields.data,
                "username" => &mut fields.username,
                "token" => &mut fields.token,
                "request_id" => &mut fields.request_id,
                other => {
                    if fields.unknown.is_none() {
                        fields.unknown = Some(truncate(other, 64).to_owned());
                    }
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(fields)
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// At most `max_chars` characters of `s`.
pub fn truncate(s: &str, max_chars: usize) -> &str {
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use api_spec::{Reply, Request};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::registry::error_reply;

    /// The codes the envelope stage may answer with.
    const ENVELOPE_CODES: [ErrorCode; 4] = [
        ErrorCode::MalformedJson,
        ErrorCode::NotAnObject,
        ErrorCode::MissingAction,
        ErrorCode::InvalidEnvelope,
    ];

    fn reply_of(refusal: Refusal) -> Reply {
        error_reply(&refusal.error, None, refusal.request_id)
    }

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
            proptest::option::of("[^\\x00]{0,16}"),
            proptest::option::of("[^\\x00]{0,16}"),
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

    /// The client-side request an envelope stands for (`data` parsed, `null` when absent).
    fn as_request(e: &Envelope<'_>) -> Result<Request, TestCaseError> {
        let data = match e.data {
            Some(raw) => {
                serde_json::from_str(raw.get()).map_err(|e| TestCaseError::fail(e.to_string()))?
            }
            None => Value::Null,
        };
        Ok(Request {
            action: e.action.clone(),
            data,
            username: e.username.clone(),
            token: e.token.clone(),
            request_id: e.request_id.clone(),
        })
    }

    fn check_any(text: &str) -> Result<(), TestCaseError> {
        match parse(text) {
            Err(refusal) => {
                let reply = reply_of(refusal);
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
                let request = as_request(&parsed)?;
                let again = serde_json::to_string(&request)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back = parse(&again)
                    .map_err(|r| TestCaseError::fail(format!("{again} refused: {r:?}")))?;
                prop_assert_eq!(as_request(&back)?, request);
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
            let parsed = parse(&text)
                .map_err(|r| TestCaseError::fail(format!("{text} refused: {r:?}")))?;
            prop_assert_eq!(as_request(&parsed)?, request);
        }
    }

    #[test]
    fn a_bad_envelope_still_echoes_its_request_id() {
        let text = json!({"action": 42, "request_id": "r1"}).to_string();
        let reply = reply_of(parse(&text).unwrap_err());
        assert_eq!(reply.request_id, Some(json!("r1")));
        assert_eq!(reply.data["error"], "invalid_envelope");
        assert_eq!(reply.data["field"], "action");
        let reply = reply_of(parse(r#"{"request_id": {"x": 1}}"#).unwrap_err());
        assert_eq!(reply.request_id, None);
        assert_eq!(reply.data["error"], "missing_action");
    }

    fn refused(text: &str) -> (ErrorCode, Option<String>, Option<Value>) {
        let r = parse(text).unwrap_err();
        let data = r.error.to_reply_data();
        (data.error, data.field, r.request_id)
    }

    #[test]
    fn a_request_is_read_with_data_left_raw() {
        let e = parse(
            r#"{"action":"x","data":{"a":[1,2]},"username":"u","token":null,"request_id":7}"#,
        )
        .unwrap();
        assert_eq!(e.action, "x");
        assert_eq!(e.data.unwrap().get(), r#"{"a":[1,2]}"#);
        assert_eq!(e.username.as_deref(), Some("u"));
        assert_eq!(e.token, None);
        assert_eq!(e.request_id, Some(Value::from(7)));
        let e = parse(r#"{"action":"x","data":null}"#).unwrap();
        assert!(e.data.is_none());
    }

    #[test]
    fn each_broken_envelope_gets_its_code_and_field() {
        assert_eq!(refused("{not json").0, ErrorCode::MalformedJson);
        assert_eq!(refused("[1, 2").0, ErrorCode::MalformedJson);
        assert_eq!(refused("[1,2]").0, ErrorCode::NotAnObject);
        assert_eq!(refused("\"x\"").0, ErrorCode::NotAnObject);
        assert_eq!(
            refused(r#"{"data":{},"request_id":"r"}"#),
            (ErrorCode::MissingAction, None, Some(Value::from("r")))
        );
        assert_eq!(
            refused(r#"{"action":42}"#),
            (ErrorCode::InvalidEnvelope, Some("action".into()), None)
        );
        assert_eq!(
            refused(r#"{"action":"x","extra":[1],"request_id":1}"#),
            (
                ErrorCode::InvalidEnvelope,
                Some("extra".into()),
                Some(Value::from(1))
            )
        );
        assert_eq!(
            refused(r#"{"action":"x","token":5}"#),
            (ErrorCode::InvalidEnvelope, Some("token".into()), None)
        );
    }

    #[test]
    fn a_nul_anywhere_in_data_names_its_top_level_field() {
        assert_eq!(
            field_with_nul(r#"{"a":"x","b":"y\u0000z"}"#).as_deref(),
            Some("b")
        );
        assert_eq!(
            field_with_nul(r#"{"a":{"deep":["\u0000"]}}"#).as_deref(),
            Some("a")
        );
        assert_eq!(field_with_nul(r#"{"k\u0000":1}"#).as_deref(), Some("k\0"));
        // An escaped backslash followed by the letters u0000 is no NUL.
        assert_eq!(field_with_nul(r#"{"a":"\\u0000"}"#), None);
        assert_eq!(field_with_nul(r#"{"a":"plain"}"#), None);
        assert_eq!(
            refused(r#"{"action":"x","username":"a\u0000b"}"#)
                .1
                .as_deref(),
            Some("username")
        );
    }

    #[test]
    fn escaped_keys_are_read_and_request_ids_of_other_types_are_not_echoed() {
        let e = parse(r#"{"\u0061ction":"x","request_id":{"big":[1,2,3]}}"#).unwrap();
        assert_eq!(e.action, "x");
        assert_eq!(e.request_id, None);
    }
}
