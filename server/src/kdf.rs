//! The threads that run memory-hard key derivation (argon2id).
//!
//! One argon2id hash with the default parameters takes 19 MiB and tens of milliseconds of a
//! core. Run on tokio's blocking pool, a crowd of logins became as many threads (up to 512),
//! each holding its 19 MiB at once — 400 clients logging in took the server to a 1.7 GiB
//! peak — and glibc kept most of it in the threads' arenas after they left (976 MiB). Here
//! the work runs on a fixed set of threads, one per core by default: at most that many
//! hashes hold memory at once, the memory lives in that many arenas only, and the cores are
//! shared fairly, since a queue rather than the scheduler decides who hashes next.
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// Queued derivations beyond the running ones; senders wait (asynchronously) beyond this.
const QUEUE: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of KDF threads; cloning shares it. The threads end when the last clone goes.
#[derive(Clone)]
pub struct KdfPool {
    jobs: mpsc::Sender<Job>,
    threads: usize,
    _workers: Arc<Workers>,
}

/// Joins nothing on drop: closing the queue (the last sender going) ends each thread after
/// its current job, and a server that stops does not wait for a hash nobody awaits.
struct Workers(#[allow(dead_code)] Vec<JoinHandle<()>>);

impl KdfPool {
    /// A pool of `threads` threads (0: one per core).
    pub fn new(threads: usize) -> Result<Self> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let worker = std::thread::Builder::new()
                .name(format!("coffer-kdf-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(mut queue) => queue.blocking_recv(),
                            Err(_) => None,
                        };
                        match job {
                            Some(job) => job(),
                            None => return,
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("kdf thread: {e}")))?;
            workers.push(worker);
        }
        Ok(Self {
            jobs,
            threads,
            _workers: Arc::new(Workers(workers)),
        })
    }

    /// How many derivations run at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` on one of the pool's threads and returns its result. A panic in `work`
    /// is an internal error here, and the thread lives on.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(Error::Internal("key derivation panicked".into())));
            let _ = tx.send(result);
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| Error::Internal("key derivation pool stopped".into()))?;
        rx.await
            .map_err(|_| Error::Internal("key derivation dropped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_its_threads_run_at_once() {
        let pool = KdfPool::new(2).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (pool, running, most) = (pool.clone(), Arc::clone(&running), Arc::clone(&most));
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(now)
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_the_pool_lives_on() {
        let pool = KdfPool::new(1).unwrap();
        let err = pool
            .run(|| -> Result<()> {
                if pool_size_is_one() {
                    panic!("inside the kdf");
                }
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Internal(_)));
        assert_eq!(pool.run(|| Ok(5)).await.unwrap(), 5);
    }

    fn pool_size_is_one() -> bool {
        true
    }
}
