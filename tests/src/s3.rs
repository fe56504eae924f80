//! A real S3-protocol server for tests: `s3s-fs` (the library behind the `s3s-fs` binary,
//! which checks SigV4) serving a temp directory on a free 127.0.0.1 port, inside the test
//! process. Dropping it stops it.
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tempfile::TempDir;
use tokio::task::JoinHandle;

pub const ACCESS_KEY: &str = "coffer-test";
pub const SECRET_KEY: &str = "coffer-test-secret";
pub const BUCKET: &str = "coffer";

pub struct S3Server {
    task: JoinHandle<()>,
    pub endpoint: String,
    pub root: TempDir,
}

impl S3Server {
    /// Starts the server with one bucket. Panics (failing the test) if it cannot.
    pub async fn start() -> Self {
        let root = tempfile::tempdir().expect("s3 root");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket dir");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs over the temp dir");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind s3");
        let endpoint = format!("http://{}", listener.local_addr().expect("s3 addr"));
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Self {
            task,
            endpoint,
            root,
        }
    }

    /// Points a server configuration at this S3 server.
    pub fn configure(&self, config: &mut coffer::Config) {
        config.storage = Some(format!("s3://{BUCKET}/blobs"));
        config.s3_endpoint = Some(self.endpoint.clone());
        config.s3_access_key_id = Some(ACCESS_KEY.to_owned());
        config.s3_secret_access_key =
            Some(coffer::secret::SecretString::new(SECRET_KEY.to_owned()));
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
