//! Name search: case-insensitive substring, literal wildcards, sorting, per-kind limits,
//! kind switches and argument checks. (That hits are only readable objects is in
//! `access.rs`.)
use api_spec::ErrorCode;
use api_spec::actions::SortBy;
use api_spec::actions::SortOrder;
use api_spec::actions::TargetType;
use api_spec::actions::{
    RenameDocument, RenameDocumentRequest, Search, SearchRequest, SearchResponse,
};
use tests::{Client, TestServer};

use crate::support::{expect_error, mkdir, mkdoc, refused_field};
use serde_json::json;

fn req(query: &str) -> SearchRequest {
    SearchRequest {
        query: query.into(),
        limit: None,
        sort_by: None,
        sort_order: None,
        search_documents: true,
        search_directories: true,
    }
}

async fn run(c: &mut Client, r: SearchRequest) -> SearchResponse {
    c.call::<Search>(&r).await.expect("search")
}

fn names(hits: &[api_spec::actions::SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.name.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_matches_names_case_insensitively_sorted_and_limited() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let archive = mkdir(&mut c, "Report archive", None).await;
    let misc = mkdir(&mut c, "misc", None).await;
    let year = mkdir(&mut c, "reports 2025", Some(&misc)).await;
    let top_doc = mkdoc(&mut c, "report.txt", None, b"r").await;
    let annual = mkdoc(&mut c, "annual REPORT.pdf", Some(&misc), b"a").await;
    mkdoc(&mut c, "notes.txt", None, b"n").await;
    mkdoc(&mut c, "100% done", Some(&archive), b"p").await;
    mkdoc(&mut c, "a_b", None, b"u").await;

    let res = run(&mut c, req("rEpOrT")).await;
    assert_eq!(res.query, "rEpOrT");
    assert_eq!(names(&res.directories), ["Report archive", "reports 2025"]);
    assert_eq!(names(&res.documents), ["annual REPORT.pdf", "report.txt"]);
    assert_eq!(res.total_count, 4);
    assert!(
        res.directories
            .iter()
            .all(|h| h.kind == TargetType::Directory)
    );
    assert!(res.documents.iter().all(|h| h.kind == TargetType::Document));
    assert_eq!(res.directories[0].id, archive);
    assert_eq!(res.directories[0].parent_id, None);
    assert_eq!(res.directories[1].id, year);
    assert_eq!(res.directories[1].parent_id.as_deref(), Some(misc.as_str()));
    assert_eq!(res.documents[0].id, annual);
    assert_eq!(res.documents[0].parent_id.as_deref(), Some(misc.as_str()));
    assert_eq!(res.documents[1].id, top_doc);

    let desc = run(
        &mut c,
        SearchRequest {
            sort_order: Some(SortOrder::Desc),
            ..req("report")
        },
    )
    .await;
    assert_eq!(names(&desc.directories), ["reports 2025", "Report archive"]);
    assert_eq!(names(&desc.documents), ["report.txt", "annual REPORT.pdf"]);

    // The limit applies per kind, after sorting; total_count counts every hit.
    let one = run(
        &mut c,
        SearchRequest {
            limit: Some(1),
            sort_order: Some(SortOrder::Desc),
            ..req("report")
        },
    )
    .await;
    assert_eq!(names(&one.directories), ["reports 2025"]);
    assert_eq!(names(&one.documents), ["report.txt"]);
    assert_eq!(one.total_count, 4);

    let docs_only = run(
        &mut c,
        SearchRequest {
            search_directories: false,
            ..req("report")
        },
    )
    .await;
    assert!(docs_only.directories.is_empty());
    assert_eq!((docs_only.documents.len(), docs_only.total_count), (2, 2));
    let dirs_only = run(
        &mut c,
        SearchRequest {
            search_documents: false,
            ..req("report")
        },
    )
    .await;
    assert!(dirs_only.documents.is_empty());
    assert_eq!((dirs_only.directories.len(), dirs_only.total_count), (2, 2));

    // LIKE wildcards match only themselves; surrounding blanks are trimmed.
    assert_eq!(names(&run(&mut c, req("%")).await.documents), ["100% done"]);
    assert_eq!(names(&run(&mut c, req("_")).await.documents), ["a_b"]);
    let trimmed = run(&mut c, req("  notes ")).await;
    assert_eq!(
        (trimmed.query.as_str(), names(&trimmed.documents)),
        ("notes", vec!["notes.txt"])
    );
    assert_eq!(run(&mut c, req("nothing like it")).await.total_count, 0);

    // By time: renaming stamps last_modified, so the renamed document sorts last (asc).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    c.call::<RenameDocument>(&RenameDocumentRequest {
        document_id: annual.clone(),
        new_title: "annual report v2.pdf".into(),
    })
    .await
    .unwrap();
    let by_modified = run(
        &mut c,
        SearchRequest {
            sort_by: Some(SortBy::LastModified),
            ..req("report")
        },
    )
    .await;
    assert_eq!(
        names(&by_modified.documents),
        ["report.txt", "annual report v2.pdf"]
    );
    let by_created = run(
        &mut c,
        SearchRequest {
            sort_by: Some(SortBy::CreatedTime),
            sort_order: Some(SortOrder::Desc),
            ..req("e")
        },
    )
    .await;
    assert!(by_created.documents.len() >= 4);
    assert!(
        by_created
            .documents
            .windows(2)
            .all(|w| w[0].created_time >= w[1].created_time),
        "{:?}",
        by_created.documents
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_rejects_bad_arguments() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let long = "q".repeat(256);
    let cases = [
        (req(""), "query"),
        (req("   "), "query"),
        (req(&long), "query"),
        (
            SearchRequest {
                limit: Some(0),
                ..req("a")
            },
            "limit",
        ),
        (
            SearchRequest {
                limit: Some(1001),
                ..req("a")
            },
            "limit",
        ),
    ];
    for (r, field) in cases {
        let e = expect_error(c.call::<Search>(&r).await, 400, ErrorCode::InvalidField);
        assert_eq!(e.data["field"], field, "{e:?}");
    }
    for (bad, field) in [
        (json!({"query": "a", "sort_by": "size"}), "sort_by"),
        (json!({"query": "a", "sort_order": "up"}), "sort_order"),
    ] {
        refused_field(&c, "search", bad, field).await;
    }
    // The edges of the ranges are fine.
    run(
        &mut c,
        SearchRequest {
            limit: Some(1000),
            ..req(&"q".repeat(255))
        },
    )
    .await;
}
