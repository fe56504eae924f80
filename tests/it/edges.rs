//! Edge integers: every numeric field of every action's request — found by walking the
//! catalogue's request schemas, not listed by hand — gets −1, 0, 2^31, 2^53+1, 2^63, 2^64−1,
//! 1.5 and "1", inside an otherwise well-formed request sent by an admin, and each must get a
//! coded reply (never a 500, never silence). An integer field must refuse what a database
//! column cannot hold (and what is not an integer) with `invalid_field` naming the field.
use std::collections::BTreeMap;

use api_spec::ErrorCode;
use serde_json::{Map, Value, json};
use tests::TestServer;

use crate::support::{mkdir, mkdoc};

/// A numeric field: where it sits in the request, and whether it must be an integer.
#[derive(Debug)]
struct Field {
    path: Vec<Step>,
    integer: bool,
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    /// The first element of an array.
    First,
}

/// How serde_path_to_error names the path (`groups[0].start_time`).
fn path_name(path: &[Step]) -> String {
    let mut name = String::new();
    for step in path {
        match step {
            Step::Key(k) if name.is_empty() => name.push_str(k),
            Step::Key(k) => name.push_str(&format!(".{k}")),
            Step::First => name.push_str("[0]"),
        }
    }
    name
}

struct Schemas<'a>(&'a Map<String, Value>);

impl<'a> Schemas<'a> {
    /// The schema itself, with `$ref` and `Option`'s one-of-null resolved.
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        if let Some(name) = schema["$ref"].as_str() {
            let name = name.rsplit('/').next().unwrap_or_default();
            return self.resolve(&self.0[name]);
        }
        for alternatives in ["oneOf", "anyOf", "allOf"] {
            if let Some(list) = schema[alternatives].as_array()
                && let Some(real) = list.iter().find(|s| s["type"] != "null")
            {
                return self.resolve(real);
            }
        }
        schema
    }

    fn types(schema: &Value) -> Vec<&str> {
        match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Every numeric field under `schema`, through objects and arrays of objects.
    fn numeric_fields(&self, schema: &'a Value, at: Vec<Step>, found: &mut Vec<Field>) {
        let schema = self.resolve(schema);
        let types = Self::types(schema);
        if types.contains(&"integer") || types.contains(&"number") {
            found.push(Field {
                path: at,
                integer: types.contains(&"integer"),
            });
        } else if types.contains(&"array") {
            let mut deeper = at;
            deeper.push(Step::First);
            self.numeric_fields(&schema["items"], deeper, found);
        } else if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                let mut deeper = at.clone();
                deeper.push(Step::Key(name.clone()));
                self.numeric_fields(property, deeper, found);
            }
        }
    }

    /// A well-formed value for `schema`: required properties only, strings from `known` by
    /// field name where the fixture has one.
    fn example(&self, schema: &'a Value, name: &str, known: &BTreeMap<&str, String>) -> Value {
        let schema = self.resolve(schema);
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        let types = Self::types(schema);
        if types.contains(&"object") || schema["properties"].is_object() {
            let mut object = Map::new();
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap_or_default();
                let value = self.example(&schema["properties"][key], key, known);
                object.insert(key.to_owned(), value);
            }
            Value::Object(object)
        } else if types.contains(&"array") {
            json!([])
        } else if types.contains(&"boolean") {
            json!(false)
        } else if types.contains(&"integer") || types.contains(&"number") {
            json!(1)
        } else {
            json!(
                known
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "edge".to_owned())
            )
        }
    }

    /// `base` with `value` placed at `path`, making the containers on the way.
    fn place(
        &self,
        schema: &'a Value,
        base: &mut Value,
        path: &[Step],
        value: Value,
        known: &BTreeMap<&str, String>,
    ) {
        let schema = self.resolve(schema);
        let Some((step, rest)) = path.split_first() else {
            *base = value;
            return;
        };
        match step {
            Step::Key(k) => {
                let property = &schema["properties"][k.as_str()];
                let slot = base
                    .as_object_mut()
                    .expect("an object on the path")
                    .entry(k.clone())
                    .or_insert_with(|| self.example(property, k, known));
                self.place(property, slot, rest, value, known);
            }
            Step::First => {
                let items = &schema["items"];
                let array = base.as_array_mut().expect("an array on the path");
                if array.is_empty() {
                    array.push(self.example(items, "", known));
                }
                self.place(items, &mut array[0], rest, value, known);
            }
        }
    }
}

/// The edge values, as JSON (serde_json keeps 2^64−1 and 2^53+1 exact).
fn edges() -> Vec<Value> {
    vec![
        json!(-1),
        json!(0),
        json!(1u64 << 31),
        json!((1u64 << 53) + 1),
        json!(1u64 << 63),
        json!(u64::MAX),
        json!(1.5),
        json!("1"),
    ]
}

/// Whether an integer field must refuse `value` outright.
fn not_storable_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.as_i64().is_none_or(|v| v < 0),
        _ => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_numeric_field_of_every_action_answers_edge_values_with_a_code() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let folder = mkdir(&mut admin, "edges", None).await;
    let doc = mkdoc(&mut admin, "edge.txt", Some(&folder), b"edge content").await;
    let download = admin
        .call::<api_spec::actions::GetDocument>(&crate::support::doc_id(&doc))
        .await
        .expect("get_document")
        .task_data
        .task_id;
    let known: BTreeMap<&str, String> = [
        ("task_id", download),
        ("document_id", doc.clone()),
        ("folder_id", folder.clone()),
        ("parent_id", folder.clone()),
        ("target_identifier", doc),
        ("entity_identifier", "admin".to_owned()),
        ("query", "edge".to_owned()),
    ]
    .into_iter()
    .collect();
    let spec: Value = serde_json::from_str(&api_spec::spec::openapi_json()).expect("spec");
    let schemas = Schemas(spec["components"]["schemas"].as_object().expect("schemas"));
    let mut checked = Vec::new();
    for action in api_spec::catalogue::catalogue() {
        let request = &schemas.0[action.request.as_str()];
        let mut fields = Vec::new();
        schemas.numeric_fields(request, Vec::new(), &mut fields);
        for field in fields {
            let name = path_name(&field.path);
            for value in edges() {
                let mut data = schemas.example(request, "", &known);
                schemas.place(request, &mut data, &field.path, value.clone(), &known);
                let reply = admin.request(action.name, data.clone()).await;
                let what = format!("{} {data}: {reply:?}", action.name);
                assert_ne!(reply.code, 500, "{what}");
                let code: ErrorCode = if reply.code == 200 {
                    ErrorCode::Internal
                } else {
                    serde_json::from_value(reply.data["error"].clone())
                        .unwrap_or_else(|_| panic!("a known error code: {what}"))
                };
                if field.integer && not_storable_integer(&value) || value.is_string() {
                    assert_eq!(code, ErrorCode::InvalidField, "{what}");
                    assert_eq!(reply.data["field"], name.as_str(), "{what}");
                }
            }
            checked.push(format!("{}.{name}", action.name));
        }
    }
    // The walk must have found the fields that motivated it, and the ones nested in arrays.
    for must in [
        "view_audit_logs.offset",
        "view_audit_logs.count",
        "download_file.offset",
        "initiate_backup_import.timeout_seconds",
        "search.limit",
        "create_user.permissions[0].start_time",
    ] {
        assert!(
            checked.iter().any(|c| c == must),
            "{must} not found in {checked:?}"
        );
    }
    // The server is still whole: the same connection answers.
    let reply = admin.request("server_info", json!({})).await;
    assert_eq!(reply.code, 200);
}
