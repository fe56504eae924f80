//! Deep folder trees (issue 15, item 2): folders nest at most 256 deep. A tree at the limit,
//! built by importing a generated archive (creating 256 folders one by one would be slow),
//! imports, and every action on it answers correctly and in bounded time — the access check
//! reads a chain's ancestors in one query, not three per level. An archive one level deeper
//! is refused with `depth_limit_exceeded` and changes nothing; create and move refuse to go
//! deeper too.
use api_spec::jobs::ImportMode;
use std::time::{Duration, Instant};

use api_spec::Reply;
use entity::folder;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{Client, TestServer};

use crate::backups::{download, export, listener, plain};
use crate::hostile::{index, reseal};
use crate::imports::{census, import, no_import_leftovers, tenant_id};
use crate::support::{members_of, mkdir, mkdoc};

/// The server's limit.
const MAX_DEPTH: usize = 256;
/// Longest any one action may take here (a debug build, a busy machine). Each takes 5–40 ms
/// with the ancestor walk in one query (`delete_directory` of the whole chain ~140 ms); walking
/// level by level, as on main, `get_document_info` took 0.25–0.45 s at this depth and the
/// search matching all 256 folders 1.7 s. The bound leaves room for a loaded machine, so it
/// catches that search but not a single slow check; on main the limit's refusals fail too.
const FAST: Duration = Duration::from_secs(1);

/// Exports the `default` tenant, which holds one document (`leaf.txt`), and rewrites the
/// archive so the document lies at the bottom of a chain of `levels` folders: `level-1` at
/// the top, readable by `sysop` members only, every other folder inheriting from its parent.
async fn chain_archive(server: &TestServer, levels: usize) -> (Vec<u8>, Vec<u8>) {
    let mut c = server.admin().await;
    let mut l = listener(server).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("chain")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let archive = reseal(&archive, &key, |list| {
        let folders: Vec<String> = (1..=levels)
            .map(|i| {
                let rules = if i == 1 {
                    json!({"read": members_of("sysop")})
                } else {
                    json!({})
                };
                let parent = (i > 1).then(|| format!("f{}", i - 1));
                json!({"id": format!("f{i}"), "parent_id": parent, "name": format!("level-{i}"),
                    "inherit": true, "created_at": 1, "last_modified": 1, "rules": rules})
                .to_string()
            })
            .collect();
        let at = index(list, "folders.jsonl");
        list[at].data = format!("{}\n", folders.join("\n")).into_bytes();
        let at = index(list, "documents.jsonl");
        let mut doc: Value = serde_json::from_slice(&list[at].data).unwrap();
        doc["folder_id"] = json!(format!("f{levels}"));
        list[at].data = format!("{doc}\n").into_bytes();
        let at = index(list, "metadata.json");
        let mut meta: Value = serde_json::from_slice(&list[at].data).unwrap();
        meta["counts"]["folders"] = json!(levels);
        list[at].data = serde_json::to_vec(&meta).unwrap();
    });
    (archive, key)
}

/// A server whose `default` tenant holds one document, and a tenant `deep` to import into.
async fn setup() -> (TestServer, Client, Client) {
    let server = crate::backups::server().await;
    let mut c = server.admin().await;
    mkdoc(&mut c, "leaf.txt", None, b"at the bottom").await;
    let (deep, deep_listener) = crate::imports::tenant(&server, "deep").await;
    (server, deep, deep_listener)
}

/// The ids of the imported chain's folders, top first.
async fn chain_ids(server: &TestServer, slug: &str) -> Vec<String> {
    let t = tenant_id(server, slug).await;
    let folders = folder::Entity::find()
        .filter(folder::Column::TenantId.eq(t))
        .all(&server.state().db)
        .await
        .unwrap();
    let mut chain = Vec::new();
    let mut parent = None;
    while let Some(next) = folders
        .iter()
        .find(|f| f.parent_id == parent && f.name.starts_with("level-"))
    {
        chain.push(next.id.to_string());
        parent = Some(next.id);
    }
    chain
}

/// Sends one request and checks that it answered within [`FAST`].
async fn timed(c: &mut Client, action: &str, data: Value) -> Reply {
    let started = Instant::now();
    let reply = c.request(action, data).await;
    let took = started.elapsed();
    assert!(took < FAST, "{action} took {took:?}");
    reply
}

fn error_of(reply: &Reply) -> (u16, &str) {
    (reply.code, reply.data["error"].as_str().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_at_the_depth_limit_imports_and_answers_every_action_fast() {
    let (server, mut v, mut vl) = setup().await;
    let (archive, key) = chain_archive(&server, MAX_DEPTH).await;
    let (event, status) = import(&mut v, &mut vl, &archive, &key, |_| {}).await;
    assert_eq!(event["status"], "completed", "{status:?}");
    let chain = chain_ids(&server, "deep").await;
    assert_eq!(chain.len(), MAX_DEPTH);
    let bottom = chain[MAX_DEPTH - 1].clone();
    let listing = timed(&mut v, "list_directory", json!({"folder_id": bottom})).await;
    assert_eq!(listing.code, 200, "{listing:?}");
    let doc = listing.data["documents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let info = timed(&mut v, "get_document_info", json!({"document_id": doc})).await;
    assert_eq!(
        (info.code, &info.data["parent_id"]),
        (200, &json!(bottom)),
        "{info:?}"
    );
    let got = timed(&mut v, "get_document", json!({"document_id": doc})).await;
    assert_eq!(got.code, 200, "{got:?}");
    let found = timed(&mut v, "search", json!({"query": "leaf"})).await;
    assert_eq!(found.data["documents"][0]["id"], json!(doc), "{found:?}");
    let found = timed(&mut v, "search", json!({"query": "level-256"})).await;
    assert_eq!(
        found.data["directories"][0]["id"],
        json!(bottom),
        "{found:?}"
    );
    // Every folder of the chain matches: all hits are checked together.
    let found = timed(&mut v, "search", json!({"query": "level-", "limit": 1000})).await;
    assert_eq!(found.data["total_count"], json!(MAX_DEPTH), "{found:?}");
    let dir = timed(
        &mut v,
        "get_directory_info",
        json!({"directory_id": bottom}),
    )
    .await;
    assert_eq!(dir.code, 200, "{dir:?}");

    // The rule on `level-1` decides for everything below it: a user outside `sysop` reads
    // nothing down there, 256 levels below the rule.
    let mut admin = server.client().await;
    admin
        .login("admin", "tenant-admin-pw", Some("deep"))
        .await
        .unwrap();
    admin
        .request(
            "create_user",
            json!({"username": "outsider", "password": "outsider-pw-1"}),
        )
        .await;
    let mut outsider = server.client().await;
    outsider
        .login("outsider", "outsider-pw-1", Some("deep"))
        .await
        .unwrap();
    let denied = timed(
        &mut outsider,
        "get_document_info",
        json!({"document_id": doc}),
    )
    .await;
    assert_eq!(error_of(&denied), (403, "access_denied"), "{denied:?}");
    let hidden = timed(
        &mut outsider,
        "search",
        json!({"query": "l", "limit": 1000}),
    )
    .await;
    assert_eq!(
        (hidden.code, &hidden.data["total_count"]),
        (200, &json!(0)),
        "{hidden:?}"
    );

    // Nothing goes deeper: no folder below the bottom, nor a subtree moved to where its
    // bottom would lie below it. Documents add no level.
    let refused = timed(
        &mut v,
        "create_directory",
        json!({"name": "too deep", "parent_id": bottom}),
    )
    .await;
    assert_eq!(
        error_of(&refused),
        (400, "depth_limit_exceeded"),
        "{refused:?}"
    );
    assert_eq!(refused.data["max_depth"], json!(MAX_DEPTH));
    let made = timed(
        &mut v,
        "create_directory",
        json!({"name": "just fits", "parent_id": chain[MAX_DEPTH - 2]}),
    )
    .await;
    assert_eq!(made.code, 200, "{made:?}");
    let made = timed(
        &mut v,
        "create_document",
        json!({"title": "also at the bottom", "folder_id": bottom}),
    )
    .await;
    assert_eq!(made.code, 200, "{made:?}");
    let two_levels = mkdir(&mut v, "two levels", None).await;
    mkdir(&mut v, "inner", Some(&two_levels)).await;
    let leaf_dir = mkdir(&mut v, "one level", None).await;
    let moved =
        |folder: &str, target: &str| json!({"folder_id": folder, "target_folder_id": target});
    let refused = timed(
        &mut v,
        "move_directory",
        moved(&two_levels, &chain[MAX_DEPTH - 2]),
    )
    .await;
    assert_eq!(
        error_of(&refused),
        (400, "depth_limit_exceeded"),
        "{refused:?}"
    );
    let ok = timed(
        &mut v,
        "move_directory",
        moved(&leaf_dir, &chain[MAX_DEPTH - 2]),
    )
    .await;
    assert_eq!(ok.code, 200, "{ok:?}");
    let ok = timed(
        &mut v,
        "move_directory",
        moved(&two_levels, &chain[MAX_DEPTH - 3]),
    )
    .await;
    assert_eq!(ok.code, 200, "{ok:?}");
    let cycle = timed(&mut v, "move_directory", moved(&chain[0], &bottom)).await;
    assert_eq!(error_of(&cycle), (400, "move_cycle"), "{cycle:?}");

    let deleted = timed(&mut v, "delete_document", json!({"document_id": doc})).await;
    assert_eq!(deleted.code, 200, "{deleted:?}");
    let deleted = timed(&mut v, "delete_directory", json!({"folder_id": chain[0]})).await;
    assert_eq!(deleted.code, 200, "{deleted:?}");
    assert_eq!(census(&server, "deep").await, [0, 0, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_deeper_than_the_limit_is_refused_and_changes_nothing() {
    let (server, mut v, mut vl) = setup().await;
    mkdir(&mut v, "keep me", None).await;
    let (archive, key) = chain_archive(&server, MAX_DEPTH + 1).await;
    let before = census(&server, "deep").await;
    let blobs = server.blob_files().len();
    let (event, status) = import(&mut v, &mut vl, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
    })
    .await;
    assert_eq!(event["status"], "failed", "{status:?}");
    assert_eq!(event["error"], "depth_limit_exceeded", "{status:?}");
    assert_eq!(census(&server, "deep").await, before);
    assert_eq!(server.blob_files().len(), blobs);
    assert!(no_import_leftovers(&server));
}
