//! Request data from an action's schema in `openapi.json`, with plausible values for fields
//! whose name says what they hold (so that some requests get past validation to the database).
use serde_json::{Map, Value, json};

use super::Generator;

impl Generator {
    /// A value for field `key` of `schema`: by field name when the name says what it holds,
    /// else by the schema's type.
    pub(super) fn instance(&mut self, schema: &Value, key: &str, depth: usize) -> Value {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.contains(&"array")
            && self.chance(85)
            && let Some(value) = self.by_name(key)
        {
            return value;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or_default();
            return match self.schemas.get(name).cloned() {
                Some(schema) => self.instance(&schema, key, depth),
                None => self.by_type_name(name),
            };
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            return self.pick(options);
        }
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let chosen = self.pick(options);
            return self.instance(&chosen, key, depth);
        }
        let non_null: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
        let ty = if types.contains(&"null") && (non_null.is_empty() || self.chance(15)) {
            "null"
        } else if non_null.is_empty() {
            "object"
        } else {
            self.pick(&non_null)
        };
        match ty {
            "null" => Value::Null,
            "boolean" => json!(self.chance(50)),
            // One in five integers is at or past the edge of i64/u64, in an otherwise valid
            // request: where a database binding or an overflow would show.
            "integer" if self.chance(20) => self.pick(&[
                json!(-1),
                json!(i64::MAX),
                json!(i64::MIN),
                json!(9_223_372_036_854_775_808_u64),
                json!(u64::MAX),
            ]),
            "integer" => json!(self.pick(&[0, 1, 2, 10, 50, 100, 3600])),
            "number" if self.chance(20) => json!(self.pick(&[-1.0, 1e300, -1e300, 9.3e18])),
            "number" => json!(self.pick(&[0.0, 1.5, 1_700_000_000.0, 4_102_444_800.0])),
            "string" => json!(self.word()),
            "array" if depth < 4 => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                // Items of a named type are built from that type, not from the field's name.
                let key = if items.get("$ref").is_some() { "" } else { key };
                let n = self.below(3);
                Value::Array(
                    (0..n)
                        .map(|_| self.instance(&items, key, depth + 1))
                        .collect(),
                )
            }
            "object" if depth < 4 => {
                let required: Vec<Value> =
                    schema["required"].as_array().cloned().unwrap_or_default();
                let mut out = Map::new();
                if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                    for (name, property) in properties.clone() {
                        if required.contains(&json!(name)) || self.chance(50) {
                            let value = self.instance(&property, &name, depth + 1);
                            out.insert(name, value);
                        }
                    }
                }
                Value::Object(out)
            }
            _ => Value::Null,
        }
    }

    /// Plausible values for fields whose name says what they hold. The names of the users
    /// the fuzzing logs in as, and the witness's, are deliberately absent.
    fn by_name(&mut self, key: &str) -> Option<Value> {
        let value = match key {
            "access_rules" => self.pick(&[
                json!({}),
                json!({"read": [{"match": "all", "match_groups":
                    [{"groups": {"match": "all", "require": ["fuzzers"]}}]}]}),
                json!({"write": [{"match": "any", "match_groups": []}]}),
            ]),
            "username" | "entity_identifier" => {
                let word = self.word();
                json!(self.pick(&["victim", "nobody", "fuzzers", "sysop", &word]))
            }
            "group_name" | "groups" => {
                let word = self.word();
                json!(self.pick(&["fuzzers", "sysop", "no-such-group", &word]))
            }
            "permission" | "permissions" => {
                let mut known: Vec<&str> = api_spec::permissions::ALL.to_vec();
                known.push("no_such_permission");
                json!(self.pick(&known))
            }
            "access_types" => json!(self.pick(&["read", "write", "move", "manage", "own"])),
            "password" | "new_passwd" | "old_passwd" | "admin_password" | "passphrase" => {
                json!(self.pick(&["fuzz-password-1", "short", "victim"]))
            }
            "tenant" => {
                let slug = format!("fz{}", self.below(1000));
                json!(self.pick(&["default", "no-such-tenant", "-bad-", &slug]))
            }
            "compression" => json!(self.pick(&["zstd", "none", "gzip"])),
            "mode" => json!(self.pick(&["restore", "merge", "replace"])),
            "on_conflict" => json!(self.pick(&["rename", "skip", "fail", "merge"])),
            "sort_by" => json!(self.pick(&["name", "created_time", "last_modified", "size"])),
            "sort_order" => json!(self.pick(&["asc", "desc", "up"])),
            "events" | "filters" => {
                let mut names: Vec<&str> =
                    api_spec::events::CATALOGUE.iter().map(|e| e.0).collect();
                names.extend(["login", "create_user", "no_such_name"]);
                json!(self.pick(&names))
            }
            "timeout_seconds" => json!(self.pick(&[60, 3600, 86_400, 59, 86_401])),
            "start_time" | "end_time" => json!(self.pick(&[0.0, -5.0, 1e12, 1_700_000_000.5])),
            k if k.ends_with("_id") || k.ends_with("_identifier") => {
                let mut ids = self.ids.clone();
                let unknown = uuid::Uuid::from_u64_pair(self.next(), self.next());
                ids.extend([unknown.to_string(), "not-an-id".into(), String::new()]);
                json!(self.pick(&ids))
            }
            _ => return None,
        };
        Some(value)
    }

    /// Values of the types a `$ref` names that `openapi.json` does not define.
    fn by_type_name(&mut self, name: &str) -> Value {
        match name {
            "EntityType" => json!(self.pick(&["user", "group"])),
            "TargetType" => json!(self.pick(&["document", "directory"])),
            "ObjectType" => json!(self.pick(&["user", "group", "document", "directory"])),
            "TimedPermission" => json!({"permission": self.by_name("permission")}),
            "TimedMembership" => json!({"group_name": self.by_name("group_name")}),
            _ => json!({}),
        }
    }
}
