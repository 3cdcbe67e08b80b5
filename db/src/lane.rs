//! Where a SQLite statement runs: inline while its connection holds the write lock, on tokio's
//! blocking pool otherwise.
//!
//! diesel-async runs every statement of a sync connection through `spawn_blocking`, a handoff
//! to another thread and back that costs tens of microseconds, more than most statements
//! themselves. Only two kinds of statement can really block: taking the write lock (`BEGIN
//! IMMEDIATE` waits out `busy_timeout` under contention) and `COMMIT` (fsync, checkpoints).
//! Between the two, the connection owns the only write lock of a WAL database and nothing it
//! does waits for another connection, so a step runs its statements on the calling thread;
//! `Db`'s steps mark that stretch with [`inline`]. Reads, the lock and the commit are marked
//! [`blocking`] and still go to the blocking pool.

use std::error::Error as StdError;
use std::pin::Pin;
use std::task::{Context, Poll};

use diesel_async::sync_connection_wrapper::SpawnBlocking;
use tokio::runtime::Handle;
use tokio::task::{JoinError, JoinHandle};

use crate::BoxFuture;

tokio::task_local! {
    /// True while the current task's step holds SQLite's write lock on the connection its
    /// statements use.
    static HOLDS_WRITE_LOCK: bool;
}

/// Runs `body` with its SQLite statements inline (see the module docs). The caller must hold
/// SQLite's write lock for as long as `body` runs; on PostgreSQL this changes nothing.
pub(crate) async fn inline<F: Future>(body: F) -> F::Output {
    HOLDS_WRITE_LOCK.scope(true, body).await
}

/// Runs `body` with its SQLite statements on the blocking pool, even inside a step: taking the
/// lock, committing, and any other connection's work (a read that a step's body would start)
/// may wait.
pub(crate) async fn blocking<F: Future>(body: F) -> F::Output {
    HOLDS_WRITE_LOCK.scope(false, body).await
}

/// The `SpawnBlocking` of devflow's SQLite connections.
pub(crate) struct Lane(Handle);

impl SpawnBlocking for Lane {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn StdError + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        if HOLDS_WRITE_LOCK.try_with(|holds| *holds).unwrap_or(false) {
            return Box::pin(std::future::ready(Ok(task())));
        }
        let blocking = Blocking { join: self.0.spawn_blocking(task) };
        Box::pin(async move { blocking.await.map_err(Box::from) })
    }

    /// devflow opens its connections inside its runtime (`Db::connect` is async).
    fn get_runtime() -> Self {
        Lane(Handle::current())
    }
}

/// A statement on the blocking pool. Dropping its future leaves the statement to finish on its
/// own thread; the `Tx` whose future was dropped halfway never returns its connection to the
/// pool (`Tx`'s `Drop`), so no one can find the connection still shared. (Waiting for it here,
/// as diesel-async's own runtime does, needs `block_in_place`, which panics on a current-thread
/// runtime.)
struct Blocking<R> {
    join: JoinHandle<R>,
}

impl<R> Future for Blocking<R> {
    type Output = Result<R, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().join).poll(cx)
    }
}
