//! The blob-store contract, run against every implementation: the local filesystem and a
//! real S3-protocol server (s3s-fs).
use bytes::Bytes;
use coffer::storage::blobs::{BlobStore, LocalStore, S3Store, blob_key};
use futures_util::TryStreamExt;
use tests::s3::S3Server;
use uuid::Uuid;

async fn read_all(store: &dyn BlobStore, key: &str, offset: u64, len: u64) -> Vec<u8> {
    let chunks: Vec<Bytes> = store
        .read(key, offset, len)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

async fn exercise(store: &dyn BlobStore, scratch: &std::path::Path) {
    // Larger than one S3 multipart part (8 MiB), so multipart assembly is covered.
    let content: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
    let key = blob_key(Uuid::nil(), &"ab".repeat(32));
    assert!(!store.exists(&key).await.unwrap());
    // A store that holds nothing yet has nothing to make durable.
    store.sync().await.unwrap();
    let file = scratch.join("upload.part");
    std::fs::write(&file, &content).unwrap();
    store.put_file(&key, &file).await.unwrap();
    assert!(!file.exists(), "put_file consumes the staged file");
    store.sync().await.unwrap();
    assert!(store.exists(&key).await.unwrap());
    assert!(read_all(store, &key, 0, content.len() as u64).await == content);
    assert_eq!(read_all(store, &key, 1000, 5000).await, content[1000..6000]);
    if let Some(path) = store.local_path(&key) {
        assert_eq!(
            std::fs::read(path).unwrap(),
            content,
            "local_path names the blob"
        );
    }
    assert_eq!(
        read_all(store, &key, content.len() as u64, 0).await,
        Vec::<u8>::new()
    );
    // Empty blobs are blobs too.
    let empty_key = blob_key(Uuid::nil(), &"e3".repeat(32));
    std::fs::write(&file, b"").unwrap();
    store.put_file(&empty_key, &file).await.unwrap();
    assert!(store.exists(&empty_key).await.unwrap());
    assert_eq!(read_all(store, &empty_key, 0, 0).await, Vec::<u8>::new());
    store.delete(&key).await.unwrap();
    assert!(!store.exists(&key).await.unwrap());
    store.delete(&key).await.unwrap();
    store.delete(&empty_key).await.unwrap();
    listing(store, scratch).await;
}

/// `list` gives every key under a prefix of whole path segments, at any depth, and nothing
/// of a prefix beside it.
async fn listing(store: &dyn BlobStore, scratch: &std::path::Path) {
    assert!(store.list("imports/").await.unwrap().is_empty());
    let job = Uuid::now_v7().simple().to_string();
    let keys = [
        format!("imports/{job}/a-1"),
        format!("imports/{job}/b-2"),
        format!("imports/{job}/deeper/c-3"),
        format!("import-keys/{job}/d-4"),
    ];
    for key in &keys {
        let file = scratch.join("object.part");
        std::fs::write(&file, key.as_bytes()).unwrap();
        store.put_file(key, &file).await.unwrap();
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(store.list("imports/").await.unwrap()), keys[..3]);
    assert_eq!(
        sorted(store.list(&format!("imports/{job}/")).await.unwrap()),
        keys[..3]
    );
    assert_eq!(store.list("import-keys/").await.unwrap(), keys[3..]);
    assert!(store.list("import/").await.unwrap().is_empty());
    for key in &keys {
        store.delete(key).await.unwrap();
    }
    assert!(store.list("imports/").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&LocalStore::new(dir.path().join("blobs")), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_meets_the_contract() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let s3 = S3Server::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let mut config = coffer::Config::default();
    s3.configure(&mut config);
    let url = config.storage.clone().unwrap();
    let (bucket, prefix) = url.trim_start_matches("s3://").split_once('/').unwrap();
    let store = S3Store::new(bucket, prefix, &config.s3_settings(&url)).unwrap();
    exercise(&store, scratch.path()).await;
}
