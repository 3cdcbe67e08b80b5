//! devflow-db: the schema, the repositories and durable steps, on SQLite and PostgreSQL alike.
//!
//! Only this crate writes SQL. Every change of state goes through a durable step (`Db::step`,
//! `Db::mutate_phase`, `Db::write`): one write transaction that locks the run first, so two
//! drivers of one run serialize instead of interleaving. Repositories are methods of [`Tx`], the
//! connection a step hands its body. Payloads are stored as canonical JSON text, ids as UUIDv7
//! text and times as epoch milliseconds, so that one `table!` schema serves both backends.

mod cached;
mod conn;
mod connect;
mod error;
mod file;
mod lane;
mod listen;
mod migrate;
mod records;
mod repo;
mod rows;
mod schema;
mod step;
#[cfg(feature = "test-support")]
pub mod testing;
mod url;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use conn::Tx;
pub use devflow_core::{Error, Result};
pub use listen::Wakeups;
pub use repo::lease::Lease;
pub use repo::phase_rows::{PhaseKey, PhaseRows};
pub use repo::workers::WorkerRow;
pub use rows::{
    Appended, ApprovalRow, ApprovalState, ArtifactRow, EventRow, NewApproval, NewArtifact,
    NewEvent, NewNotification, NewPhase, NewRun, NewSession, NotificationRow, NotificationState,
    PhaseRow, RunRow, SessionRow, SessionUpdate, TranscriptRow,
};
pub use step::phase_mutation_allowed;
pub use url::{redact_url, resolve_sqlite, sqlite_path};

/// A boxed, sendable future borrowing for `'a`.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the body of a step returns: a future that uses the transaction for `'t` and may borrow
/// the caller's data for `'a`, so that a body reads its caller's values instead of cloning
/// them. The bound `&'t &'a ()` tells the compiler that `'a` outlives every transaction `'t` the
/// body can be handed (the trick of the scoped-futures crate); `Box::pin(async move { .. })`
/// coerces to it.
pub type StepFuture<'a, 't, T> = std::pin::Pin<Box<dyn Scoped<'a, 't, Result<T>> + 't>>;

/// A future that lives for `'t` inside a scope `'a` (see [`StepFuture`]).
pub trait Scoped<'a, 't, T, Bound = &'t &'a ()>: Future<Output = T> + Send + 't {}

impl<'a, 't, T, F: Future<Output = T> + Send + 't> Scoped<'a, 't, T> for F {}

pub use devflow_core::clock::now_ms;

/// A new time-ordered id (UUIDv7, hyphenated lowercase text).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pool of connections to one database. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
    /// The lease every step of this handle checks under the run's lock (`Db::fenced`).
    fence: Option<Arc<Lease>>,
}

struct Inner {
    pools: conn::Pools,
    /// The URL with any password redacted, for error messages.
    url: String,
    /// The URL's passwords, hidden from any message about it (see `url::scrub`).
    secrets: Vec<String>,
    /// The SQLite file and its identity (`None` on PostgreSQL).
    file: Option<Arc<file::DbFile>>,
    transactions: AtomicU64,
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self.inner.pools {
            conn::Pools::Sqlite(_) => Backend::Sqlite,
            conn::Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// Number of write transactions committed or rolled back through this Db so far (for benchmarks).
    pub fn transactions(&self) -> u64 {
        self.inner.transactions.load(Ordering::Relaxed)
    }

    /// This pool, for a driver that holds `lease`: every step checks, under the run's lock and
    /// before its body runs, that the run's lease is still `lease` (owner and epoch), and fails
    /// with `lease_lost` otherwise, writing nothing. A fenced handle steps only on its run.
    pub fn fenced(&self, lease: Lease) -> Db {
        Db { inner: Arc::clone(&self.inner), fence: Some(Arc::new(lease)) }
    }

    /// The lease this handle is fenced with.
    pub fn fence(&self) -> Option<&Lease> {
        self.fence.as_deref()
    }

    /// The database URL, password redacted.
    pub fn url(&self) -> &str {
        &self.inner.url
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend())
            .field("url", &self.inner.url)
            .finish()
    }
}
