//! The frame generator: a seeded splitmix64 (no dependency whose output could change under a
//! version bump), request data built from each action's schema (`data.rs`) with plausible
//! values by field name, and the mutations that break it.
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as RawFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

mod data;

/// Stand-ins for the connection's credentials, replaced when the frame is sent (the token is
/// known only then); a mutation may cut them, which is one more broken envelope.
const USER: &str = "@@username@@";
const TOKEN: &str = "@@token@@";

/// What the server must do with a frame.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Answer once, echoing this `request_id` (none when the envelope has no string or number
    /// id, or is not an object at all).
    Reply(Option<Value>),
    /// Nothing (a ping, answered by a pong).
    Nothing,
    /// Close the connection with this code.
    Close(u16),
}

#[derive(Clone)]
pub struct Frame {
    pub message: Message,
    pub expect: Expect,
    /// Which mutations made it.
    note: String,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The reply a text frame earns, as the server's envelope parser decides it: the syntax is
/// checked without building values (a number beyond `f64` elsewhere in the message is
/// still JSON), the top level must be an object, and its last `request_id` is echoed when it
/// is a string or a number.
fn expect_for(text: &str) -> Expect {
    use serde_json::value::RawValue;
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return Expect::Reply(None);
    }
    // A map keeps the last of repeated keys, as the server does.
    let Ok(fields) = serde_json::from_str::<std::collections::HashMap<String, Box<RawValue>>>(text)
    else {
        return Expect::Reply(None);
    };
    let echoed = fields.get("request_id").and_then(|raw| {
        let text = raw.get();
        let first = text.as_bytes().first()?;
        let echoable = *first == b'"' || *first == b'-' || first.is_ascii_digit();
        echoable.then(|| serde_json::from_str::<Value>(text).ok())?
    });
    Expect::Reply(echoed)
}

impl Frame {
    fn text(text: String, note: String) -> Self {
        Self {
            expect: expect_for(&text),
            message: Message::text(text),
            note,
        }
    }

    /// The frame with the stand-ins replaced by `credentials` (forged ones when none).
    pub fn with_credentials(self, credentials: Option<&(String, String)>) -> Self {
        let Message::Text(text) = &self.message else {
            return self;
        };
        let (user, token) = credentials.map_or(("nobody", "forged"), |(u, t)| (u, t));
        let text = text.as_str().replace(USER, user).replace(TOKEN, token);
        Self::text(text, self.note)
    }

    /// The frame for a failure message: its note and (the start of) its bytes.
    pub fn describe(&self) -> String {
        let body = match &self.message {
            Message::Text(t) => t.as_str().chars().take(400).collect::<String>(),
            other => format!("{other:?}").chars().take(400).collect(),
        };
        format!("[{}] {body}", self.note)
    }
}

pub struct Generator {
    state: u64,
    schemas: Map<String, Value>,
    /// (action, request schema name), from the catalogue.
    actions: Vec<(String, String)>,
    /// Ids of real objects, so that some requests reach past "not found".
    ids: Vec<String>,
    next_request: u64,
}

impl Generator {
    pub fn new(seed: u64, ids: Vec<String>) -> Self {
        let spec: Value =
            serde_json::from_str(&api_spec::spec::openapi_json()).expect("openapi.json parses");
        let schemas = spec["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let actions = api_spec::catalogue::catalogue()
            .into_iter()
            .map(|row| (row.name.to_owned(), row.request))
            .collect();
        Self {
            state: seed,
            schemas,
            actions,
            ids,
            next_request: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn word(&mut self) -> String {
        let len = 1 + self.below(12);
        (0..len)
            .map(|_| self.pick(&['a', 'b', 'z', '0', '-', '_', '.', 'Q', 'é', ' ']))
            .collect()
    }

    /// One frame, for a connection that is logged in or not.
    pub fn frame(&mut self, logged_in: bool) -> Frame {
        match self.below(200) {
            0..=5 => {
                let bytes: Vec<u8> = (0..self.below(64)).map(|_| self.next() as u8).collect();
                Frame {
                    message: Message::binary(bytes),
                    expect: Expect::Reply(None),
                    note: "binary".into(),
                }
            }
            6 => Frame {
                message: Message::Ping(vec![1, 2, 3].into()),
                expect: Expect::Nothing,
                note: "ping".into(),
            },
            7 => {
                // Invalid UTF-8 in a text frame is a protocol error: close 1002.
                let bytes = vec![b'{', 0xff, 0xfe, b'}'];
                Frame {
                    message: Message::Frame(RawFrame::message(
                        bytes,
                        OpCode::Data(Data::Text),
                        true,
                    )),
                    expect: Expect::Close(1002),
                    note: "invalid utf-8 text".into(),
                }
            }
            8..=19 => {
                let text = self.garbage();
                Frame::text(text, "garbage".into())
            }
            _ => self.request(logged_in),
        }
    }

    /// Text that is not an envelope at all, or barely one.
    fn garbage(&mut self) -> String {
        let depth = 100 + self.below(100);
        let options = [
            String::new(),
            " ".into(),
            "null".into(),
            "[]".into(),
            "\"text\"".into(),
            "1e999".into(),
            "-".into(),
            "\u{feff}{}".into(),
            "{".repeat(depth),
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
            r#"{"action":"login""#.into(),
            r#"{"action":"server_info","action":"list_users"}"#.into(),
            r#"{"action":"\ud800"}"#.into(),
            self.word(),
        ];
        self.pick(&options)
    }

    fn request(&mut self, logged_in: bool) -> Frame {
        let mut notes = Vec::new();
        let (action, schema_name) = if self.chance(95) {
            let i = self.below(self.actions.len());
            self.actions[i].clone()
        } else {
            notes.push("random action");
            (self.word(), String::new())
        };
        let schema = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let mut data = self.instance(&schema, "", 0);
        if self.chance(60) {
            notes.push("data mutated");
            for _ in 0..1 + self.below(3) {
                self.mutate(&mut data, 0);
            }
        }
        self.next_request += 1;
        let id = if self.chance(50) {
            json!(format!("f{}", self.next_request))
        } else {
            json!(self.next_request)
        };
        let mut envelope = json!({"action": action, "data": data, "request_id": id});
        // Ending a session would leave the rest of this connection's frames unauthenticated.
        let ends_session = action == "logout" || action == "refresh_token";
        if (logged_in && !ends_session && self.chance(92)) || self.chance(10) {
            envelope["username"] = json!(USER);
            envelope["token"] = json!(if ends_session { "forged" } else { TOKEN });
        }
        if self.chance(10) {
            notes.push("envelope mutated");
            self.mutate_envelope(&mut envelope);
        }
        let mut text = envelope.to_string();
        if self.chance(6) {
            notes.push("text mutated");
            text = self.mutate_text(text);
        }
        Frame::text(text, notes.join(", "))
    }

    /// A value no schema asks for.
    fn hostile(&mut self) -> Value {
        match self.below(22) {
            0 => json!(9_223_372_036_854_775_808_u64),
            1 => json!(u64::MAX),
            2 => json!(i64::MIN),
            3 => json!(i64::MAX),
            4 => json!(-1),
            5 => json!(4_294_967_296_u64),
            6 => json!(1e308),
            7 => json!(-0.5),
            8 => json!(""),
            9 => json!("\u{0}"),
            10 => json!("a\u{0}b"),
            11 => json!("🦀".repeat(300)),
            12 => json!("\u{202e}txt.exe"),
            13 => json!("x".repeat(20_000)),
            14 => json!("../../etc/passwd"),
            15 => json!("'); DROP TABLE users; --"),
            16 => json!("名前 ñ \u{fffd}"),
            17 => Value::Null,
            18 => json!(true),
            19 => json!([]),
            20 => json!({}),
            _ => {
                // Nesting up to 110 levels: inside `data` it may or may not pass the JSON
                // parser's depth limit (128), and both must be answered.
                let mut nested = json!(1);
                for _ in 0..1 + self.below(110) {
                    nested = if self.chance(50) {
                        json!([nested])
                    } else {
                        json!({"a": nested})
                    };
                }
                nested
            }
        }
    }

    /// Breaks `value` somewhere: a node replaced, a field dropped or added, an item added.
    fn mutate(&mut self, value: &mut Value, depth: usize) {
        let descend = depth < 6 && self.chance(60);
        match value {
            Value::Object(map) if descend && !map.is_empty() => {
                let keys: Vec<String> = map.keys().cloned().collect();
                let key = self.pick(&keys);
                if let Some(child) = map.get_mut(&key) {
                    self.mutate(child, depth + 1);
                }
            }
            Value::Array(items) if descend && !items.is_empty() => {
                let i = self.below(items.len());
                self.mutate(&mut items[i], depth + 1);
            }
            Value::Object(map) if self.chance(50) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                if !keys.is_empty() && self.chance(50) {
                    let key = self.pick(&keys);
                    map.remove(&key);
                } else {
                    map.insert("unknown_field".into(), self.hostile());
                }
            }
            Value::Array(items) if self.chance(50) => items.push(self.hostile()),
            _ => *value = self.hostile(),
        }
    }

    fn mutate_envelope(&mut self, envelope: &mut Value) {
        let Some(map) = envelope.as_object_mut() else {
            return;
        };
        match self.below(7) {
            0 => {
                map.remove("action");
            }
            1 => {
                map.insert("action".into(), self.hostile());
            }
            2 => {
                map.insert("username".into(), self.hostile());
                map.insert("token".into(), json!(TOKEN));
            }
            3 => {
                map.insert("token".into(), self.hostile());
            }
            4 => {
                map.insert("data".into(), self.hostile());
            }
            5 => {
                map.insert("extra".into(), self.hostile());
            }
            _ => {
                let id = self.pick(&[Value::Null, json!(true), json!([1]), json!({"id": 1})]);
                map.insert("request_id".into(), id);
            }
        }
    }

    /// Cuts, garbles or wraps the text of an envelope.
    fn mutate_text(&mut self, text: String) -> String {
        let chars: Vec<char> = text.chars().collect();
        let at = self.below(chars.len() + 1);
        let insert = self.pick(&['{', '}', '[', '"', ':', ',', '\\', '\u{0}', 'é', '🦀', '9']);
        match self.below(5) {
            0 => chars[..at].iter().collect(),
            1 => {
                let mut chars = chars;
                chars.insert(at, insert);
                chars.into_iter().collect()
            }
            2 => {
                let mut chars = chars;
                if at < chars.len() {
                    chars.remove(at);
                }
                chars.into_iter().collect()
            }
            3 => format!("[{text}]"),
            _ => format!("{text}{text}"),
        }
    }
}
