//! Builds the generated artefacts: `openapi.json` (HTTP routes, plus every envelope, action,
//! error and event schema under `components`) and `actions.md` (the action catalogue).
use utoipa::openapi::{ComponentsBuilder, OpenApi as OpenApiDoc};
use utoipa::{OpenApi, ToSchema};

use crate::catalogue::{AUTH_ERRORS, Access, ActionSpec, ActionVisitor, PROTOCOL_ERRORS};
use crate::{ErrorCode, catalogue, events};

/// Liveness and readiness answers of `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when healthy; otherwise what is wrong.
    pub status: String,
}

#[allow(dead_code)]
mod http {
    use super::Health;

    /// Liveness: the process is up and serving HTTP.
    #[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
    fn healthz() {}

    /// Readiness: the database answers. 503 with the reason otherwise.
    #[utoipa::path(get, path = "/readyz", responses(
        (status = 200, body = Health), (status = 503, body = Health)))]
    fn readyz() {}

    /// Metrics in the Prometheus text format (0.0.4): each tenant's backup health (by slug),
    /// jobs by kind and status, bytes exported, imported and verified, WebSocket
    /// connections, action latency (README, *Metrics*). With `metrics_token` configured,
    /// `Authorization: Bearer <token>` is needed.
    #[utoipa::path(get, path = "/metrics", responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "metrics_token is set and the request does not carry it"),
        (status = 503, description = "The database did not answer")))]
    fn metrics() {}

    /// Uploads a transfer task's bytes (the body, streamed). `Content-Range: bytes
    /// START-END/TOTAL` sends a part (202 until the last part arrives); `X-Coffer-Sha256`
    /// declares the whole file's hash. `Authorization: Bearer <token>` of the task's user.
    /// The status is always the reply's `code`. A body slower than the server's minimum
    /// transfer rate ends with 408 `transfer_timeout`, its bytes kept for a resume.
    #[utoipa::path(put, path = "/api/transfers/{task_id}",
        params(("task_id" = String, Path, description = "The upload task")),
        request_body(content = Vec<u8>, content_type = "application/octet-stream"),
        responses(
            (status = 200, description = "Upload complete: a Reply with UploadFileResponse data. A `PUT` to the caller's document upload that already completed (within `task_ttl_secs` of its finishing) declaring that file's size and `X-Coffer-Sha256` (sent again after its reply was lost) answers the reply the upload had, from the task's record, without reading the body or publishing anything", body = crate::Reply),
            (status = 202, description = "Part stored; `data.received` bytes held", body = crate::Reply),
            (status = 400, description = "size_mismatch, hash_mismatch, invalid_field; invalid_offset (a Content-Range that does not match the body, or starts past what the server holds; `data.received` tells where to resume); task_not_usable (the task is not an upload, is done and this request declares another size or hash or none, or is still held by an earlier attempt the server has not yet seen drop: ask again)", body = crate::Reply),
            (status = 401, description = "authentication_required, invalid_token", body = crate::Reply),
            (status = 404, description = "task_not_found", body = crate::Reply),
            (status = 408, description = "task_expired; transfer_timeout (the body stalled or fell below the minimum rate; `data.received` bytes kept)", body = crate::Reply),
            (status = 413, description = "too_large", body = crate::Reply)))]
    fn put_transfer() {}

    /// Downloads a transfer task's bytes; one `Range: bytes=START-[END]` (or `bytes=-N`)
    /// answers 206 with `Content-Range`, an end past the file meaning "to the end". As RFC
    /// 9110 allows, several ranges, another unit, or an empty file are ignored (200, the
    /// whole file). `Authorization: Bearer <token>` of the task's user. The answer names the
    /// whole file's SHA-256 in `X-Coffer-Sha256` (and as its `ETag`), for the client to check
    /// what it received.
    #[utoipa::path(get, path = "/api/transfers/{task_id}",
        params(("task_id" = String, Path, description = "The download task")),
        responses(
            (status = 200, description = "The whole file", content_type = "application/octet-stream", body = Vec<u8>),
            (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
            (status = 401, description = "authentication_required, invalid_token", body = crate::Reply),
            (status = 404, description = "task_not_found", body = crate::Reply),
            (status = 408, description = "task_expired", body = crate::Reply),
            (status = 416, description = "range_not_satisfiable: the range starts at or past the end, or is malformed; `Content-Range: bytes */SIZE`", body = crate::Reply)))]
    fn get_transfer() {}

    /// The WebSocket endpoint: one JSON `Request` per text message; `Reply` and `Event`
    /// messages back (see the action catalogue, `actions.md`).
    /// A connection idle (no request) for `idle_timeout_secs` closes with 1000; a message over
    /// `max_frame_bytes`, whole or fragmented, closes with 1009 as soon as a frame header
    /// declares it. A request with an `Origin` header (a browser's) is upgraded only when
    /// that origin names the host and port the request's `Host` header names (whatever the
    /// scheme; a default port counts as none) or is one of `allowed_origins`.
    #[utoipa::path(get, path = "/ws", responses(
        (status = 101, description = "Switching Protocols"),
        (status = 403, description = "origin_not_allowed: a browser page of another origin", body = crate::Reply),
        (status = 429, description = "too_many_connections: the address holds `max_connections_per_address` connections", body = crate::Reply)))]
    fn ws() {}

    /// The web console's page (README, *Web console*): HTML that loads the console's
    /// modules and style from `/console/…`. Every console response carries a strict
    /// `Content-Security-Policy` (this origin's scripts, styles and connections only; no
    /// inline script or style; no frames).
    #[utoipa::path(get, path = "/", responses(
        (status = 200, description = "The console", content_type = "text/html; charset=utf-8", body = String)))]
    fn console() {}

    /// One of the web console's files (ES modules, CSS, the icon), embedded in the binary.
    #[utoipa::path(get, path = "/console/{name}",
        params(("name" = String, Path, description = "The file, e.g. `app.js`")),
        responses(
            (status = 200, description = "The file", body = String),
            (status = 404, description = "No such file")))]
    fn console_file() {}
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coffer",
        description = "Coffer's HTTP routes and WebSocket message schemas. \
        The WebSocket actions are listed in api-spec/actions.md."
    ),
    paths(
        http::healthz,
        http::readyz,
        http::metrics,
        http::ws,
        http::put_transfer,
        http::get_transfer,
        http::console,
        http::console_file
    )
)]
struct HttpRoutes;

/// `builder` with `T`'s schema and every schema `T` refers to (`schema_from` adds only `T`,
/// which left `$ref`s to nested types such as `TimedPermission` pointing nowhere).
fn with<T: ToSchema>(builder: ComponentsBuilder) -> ComponentsBuilder {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    builder.schema_from::<T>().schemas_from_iter(nested)
}

/// The complete OpenAPI document.
pub fn openapi() -> OpenApiDoc {
    struct Schemas(ComponentsBuilder);
    impl ActionVisitor for Schemas {
        fn visit<A: ActionSpec>(&mut self) {
            let builder = std::mem::take(&mut self.0);
            self.0 = with::<A::Response>(with::<A::Request>(builder));
        }
    }
    let mut base = ComponentsBuilder::new();
    base = with::<crate::Request>(base);
    base = with::<crate::Reply>(base);
    base = with::<crate::Event>(base);
    base = with::<crate::ErrorData>(base);
    base = with::<Health>(base);
    base = with::<events::UserChanged>(base);
    base = with::<events::GroupChanged>(base);
    base = with::<events::DocumentChanged>(base);
    base = with::<events::DirectoryChanged>(base);
    base = with::<events::BackupJobEvent>(base);
    base = with::<events::BackupVerifyFailed>(base);
    base = with::<crate::actions::TransferReady>(base);
    base = with::<crate::actions::UploadHeader>(base);
    base = with::<crate::actions::DownloadHeader>(base);
    let mut schemas = Schemas(base);
    catalogue::visit_actions(&mut schemas);
    let mut doc = HttpRoutes::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.components = Some(schemas.0.build());
    doc
}

/// The pretty-printed `openapi.json`, ending in a newline.
pub fn openapi_json() -> String {
    // Serialising a document built from derives cannot fail; an empty string would make the
    // drift test fail loudly rather than panic here.
    let mut json = openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

fn codes(list: &[ErrorCode]) -> String {
    let names: Vec<String> = list
        .iter()
        .map(|c| {
            format!(
                "`{}`",
                serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        })
        .collect();
    if names.is_empty() {
        "—".to_owned()
    } else {
        names.join(", ")
    }
}

/// The action catalogue as Markdown.
pub fn actions_markdown() -> String {
    let mut out = String::from(
        "# Coffer action catalogue\n\n\
         Generated by `cargo run -p api-spec --bin coffer-spec`; do not edit by hand.\n\
         Each request and response schema is listed field by field under \"Schemas\" below\n\
         (and in `openapi.json` under `components.schemas`).\n\n",
    );
    out.push_str(&format!(
        "Every request can answer: {}.\n",
        codes(PROTOCOL_ERRORS)
    ));
    out.push_str(&format!(
        "Every non-public action can also answer: {}.\n\n",
        codes(AUTH_ERRORS)
    ));
    out.push_str("| action | request | response | access | audited | errors |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for row in catalogue::catalogue() {
        let mut access = match row.access {
            Access::Public => "public".to_owned(),
            Access::Authenticated => "authenticated".to_owned(),
            Access::Permission(p) => format!("permission `{p}`"),
        };
        if !row.note.is_empty() {
            access.push_str(&format!("; {}", row.note));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            row.name,
            schema_link(&row.request),
            schema_link(&row.response),
            access,
            if row.audited { "yes" } else { "no" },
            codes(row.errors)
        ));
    }
    out.push_str(
        "\n## Events\n\n| event | payload | delivered to listeners of the tenant with |\n|---|---|---|\n",
    );
    for (name, schema, audience) in events::CATALOGUE {
        let audience = if *audience == events::READERS {
            audience.to_string()
        } else {
            format!("permission `{audience}`")
        };
        out.push_str(&format!("| `{name}` | `{schema}` | {audience} |\n"));
    }
    out.push_str("\n## Error codes\n\n| code | status | default message |\n|---|---|---|\n");
    for code in ErrorCode::ALL {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            codes(&[*code]),
            code.status(),
            code.message()
        ));
    }
    out.push_str(&schemas_markdown());
    out
}

/// A schema name as a link to its section under "Schemas".
fn schema_link(name: &str) -> String {
    format!("[`{name}`](#{})", name.to_ascii_lowercase())
}

/// A property's type, as the tables show it: `string`, `integer?` (may be null), a link to
/// another schema, `[T]` for an array, or one of a fixed set of values.
fn type_of(schema: &serde_json::Value) -> String {
    use serde_json::Value;
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return schema_link(reference.rsplit('/').next().unwrap_or(reference));
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema.get(combinator).and_then(Value::as_array) {
            let names: Vec<String> = parts
                .iter()
                .filter(|p| p.get("type") != Some(&Value::from("null")))
                .map(type_of)
                .collect();
            let nullable = parts.len() > names.len();
            return format!("{}{}", names.join(" or "), if nullable { "?" } else { "" });
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return format!("one of {}", values.join(", "));
    }
    let (ty, nullable) = match schema.get("type") {
        Some(Value::String(t)) => (t.clone(), false),
        Some(Value::Array(types)) => {
            let named: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            (named.join(" or "), named.len() < types.len())
        }
        _ => ("any".to_owned(), false),
    };
    let ty = if ty == "array" {
        format!(
            "[{}]",
            schema
                .get("items")
                .map_or_else(|| "any".to_owned(), type_of)
        )
    } else {
        ty
    };
    format!("{ty}{}", if nullable { "?" } else { "" })
}

/// Every schema of `openapi.json`, field by field.
fn schemas_markdown() -> String {
    use serde_json::Value;
    let doc: Value = serde_json::from_str(&openapi_json()).unwrap_or_default();
    let mut out = String::from(
        "\n## Schemas\n\nA `?` after a type: the field may be `null`. Required fields must be \
         present; the others may be left out.\n",
    );
    let Some(schemas) = doc["components"]["schemas"].as_object() else {
        return out;
    };
    let mut names: Vec<&String> = schemas.keys().collect();
    names.sort();
    for name in names {
        let schema = &schemas[name];
        out.push_str(&format!("\n### {name}\n\n"));
        if let Some(description) = schema["description"].as_str() {
            out.push_str(&format!("{}\n\n", description.replace('\n', " ")));
        }
        let Some(properties) = schema["properties"].as_object() else {
            out.push_str(&format!("Type: {}\n", type_of(schema)));
            continue;
        };
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str("| field | type | required | description |\n|---|---|---|---|\n");
        for (field, property) in properties {
            out.push_str(&format!(
                "| `{field}` | {} | {} | {} |\n",
                type_of(property),
                if required.contains(&field.as_str()) {
                    "yes"
                } else {
                    "no"
                },
                description_of(property)
                    .replace('\n', " ")
                    .replace('|', "\\|")
            ));
        }
    }
    out
}

/// A property's description: its own, or (an optional reference is a `oneOf` of the
/// reference and null) its reference's.
fn description_of(property: &serde_json::Value) -> &str {
    property["description"]
        .as_str()
        .or_else(|| {
            let variants = property["oneOf"].as_array()?;
            variants.iter().find_map(|v| v["description"].as_str())
        })
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn checked_in(name: &str) -> String {
        std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_default()
    }

    #[test]
    fn openapi_json_matches_checked_in_file() {
        assert!(
            checked_in("openapi.json") == openapi_json(),
            "api-spec/openapi.json is stale: run `cargo run -p api-spec --bin coffer-spec`"
        );
    }

    #[test]
    fn actions_md_lists_the_fields_of_every_schema_an_action_names() {
        let md = actions_markdown();
        for row in catalogue::catalogue() {
            for schema in [&row.request, &row.response] {
                assert!(
                    md.contains(&format!("\n### {schema}\n")),
                    "{schema} of {} has no section",
                    row.name
                );
            }
        }
        assert!(
            md.contains("\n### TaskData\n"),
            "task_data's schema is defined"
        );
        assert!(md.contains("| `task_id` | string | yes |"));
    }

    #[test]
    fn actions_md_matches_checked_in_file() {
        assert!(
            checked_in("actions.md") == actions_markdown(),
            "api-spec/actions.md is stale: run `cargo run -p api-spec --bin coffer-spec`"
        );
    }

    #[test]
    fn action_names_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for row in catalogue::catalogue() {
            assert!(seen.insert(row.name), "duplicate action {}", row.name);
            assert!(
                row.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                row.name
            );
        }
    }

    #[test]
    fn every_schema_named_in_the_catalogue_is_a_component() {
        let doc = openapi();
        let components = doc.components.unwrap_or_default();
        for row in catalogue::catalogue() {
            for schema in [&row.request, &row.response] {
                assert!(components.schemas.contains_key(schema), "{schema} missing");
            }
        }
        for (_, schema, _) in events::CATALOGUE {
            assert!(components.schemas.contains_key(*schema), "{schema} missing");
        }
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let text = openapi_json();
        let names: HashSet<String> = openapi()
            .components
            .unwrap_or_default()
            .schemas
            .into_keys()
            .collect();
        let prefix = "\"$ref\": \"#/components/schemas/";
        for (at, _) in text.match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                names.contains(name),
                "$ref to {name}, which is not a component"
            );
        }
    }

    #[test]
    fn error_codes_serialise_as_snake_case_and_have_error_statuses() {
        for code in ErrorCode::ALL {
            let text = serde_json::to_value(code).unwrap();
            let text = text.as_str().unwrap();
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert!(code.status() >= 400, "{text}");
            let back: ErrorCode = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(back, *code);
        }
    }

    #[test]
    fn permission_names_are_unique() {
        let set: HashSet<_> = crate::permissions::ALL.iter().collect();
        assert_eq!(set.len(), crate::permissions::ALL.len());
    }
}
