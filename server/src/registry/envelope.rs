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
    use super::*;

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
        assert_eq!(field_with_nul(r#"{"a":"x","b":"y\u0000z"}"#).as_deref(), Some("b"));
        assert_eq!(field_with_nul(r#"{"a":{"deep":["\u0000"]}}"#).as_deref(), Some("a"));
        assert_eq!(field_with_nul(r#"{"k\u0000":1}"#).as_deref(), Some("k\0"));
        // An escaped backslash followed by the letters u0000 is no NUL.
        assert_eq!(field_with_nul(r#"{"a":"\\u0000"}"#), None);
        assert_eq!(field_with_nul(r#"{"a":"plain"}"#), None);
        assert_eq!(
            refused(r#"{"action":"x","username":"a\u0000b"}"#).1.as_deref(),
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
