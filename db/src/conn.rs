//! The two concrete backends behind one enum, the macro that writes a query once for both, and
//! the begin/commit/rollback of write transactions.
//!
//! diesel-async's `MultiConnection` does not work in the released versions, and generic code over
//! `AsyncConnection` drowns in trait bounds; an enum of the two concrete pooled connections plus
//! `on_conn!` type-checks each query body once per backend with no bounds at all.

use devflow_core::Result;
use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, TransactionManager};

use crate::cached::cached;
use crate::error::QueryResultExt;
use crate::lane::{Lane, inline};
use crate::repo::phase_rows::{self, PhaseKey, PhaseRows};

/// SQLite through diesel's sync connection, its statements placed by [`Lane`].
pub(crate) type Lite = SyncConnectionWrapper<SqliteConnection, Lane>;

pub(crate) enum Pools {
    Sqlite(Pool<Lite>),
    Postgres(Pool<AsyncPgConnection>),
}

// A `Tx` is made once per step and moved a couple of times; boxing the larger PostgreSQL
// connection would cost an allocation per step to save a few hundred bytes of stack.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Conn {
    Sqlite(Object<Lite>),
    Postgres(Object<AsyncPgConnection>),
}

/// The connection inside a transaction (or a plain connection for `Db::read`). The repositories
/// are its methods, so a caller can only reach the database through a step, a write or a read.
pub struct Tx {
    /// Always `Some` until the Tx is dropped.
    conn: Option<Conn>,
    /// A write transaction is open on `conn` (begun, and not yet committed or rolled back).
    open: bool,
    /// A read is under way on `conn` (`Db::read`): dropped halfway, a statement may still run.
    reading: bool,
    /// PostgreSQL writes not sent yet (see [`Deferred`]).
    deferred: Vec<Deferred>,
}

/// A write whose only outcome is success or an error (an event append, say). On PostgreSQL it
/// waits in the `Tx` and goes out together with the step's next statement, or with its
/// COMMIT: diesel-async pipelines futures polled together on one connection, so several
/// statements cost one round trip. Its check (a replay that differs, a row that is missing)
/// is a statement in the same pipeline ([`checked_write`]) that aborts the transaction, so
/// a failed check undoes the whole step even when the COMMIT was already on its way. For the
/// same reason a deferred write must not fail in the client before its statement is sent:
/// whatever can fail there is checked when the write is queued.
pub(crate) type Deferred =
    Box<dyn for<'c> FnOnce(&'c AsyncPgConnection) -> crate::BoxFuture<'c, Result<()>> + Send>;

/// `on_conn!(tx, |c| body)` expands `body` twice, once with `c: &mut Lite` and once with
/// `c: &mut &AsyncPgConnection` (a shared handle, so that the statement is polled beside the
/// step's deferred writes; the first of those to fail returns from the enclosing function).
/// The second form takes one body per backend, for the few places where the dialects differ
/// (`FOR UPDATE`).
macro_rules! on_conn {
    ($tx:expr, |$c:ident| $body:expr) => {
        on_conn!($tx, sqlite = |$c| $body, postgres = |$c| $body)
    };
    ($tx:expr, sqlite = |$s:ident| $sqlite:expr, postgres = |$p:ident| $postgres:expr $(,)?) => {{
        let deferred = $tx.take_deferred();
        match $tx.conn_mut() {
            $crate::conn::Conn::Sqlite(object) => {
                let $s: &mut $crate::conn::Lite = &mut **object;
                $sqlite
            }
            // The statement goes out right after the step's deferred writes, in one round trip.
            $crate::conn::Conn::Postgres(object) => {
                let shared: &::diesel_async::AsyncPgConnection = &**object;
                let (sent, outcome) =
                    ::tokio::join!($crate::conn::send_deferred(shared, deferred), async {
                        let mut handle = shared;
                        let $p = &mut handle;
                        $postgres
                    });
                sent?;
                outcome
            }
        }
    }};
}
pub(crate) use on_conn;

/// `write_or_defer!(tx, sqlite = |c| body, postgres = |c| body)`: a write (a `Result<()>`,
/// owning what it uses) that runs now on SQLite, with its checks in the client, and is
/// deferred on PostgreSQL, where its checks must be statements of the pipeline
/// ([`checked_write`]). `c` is `&mut Lite`, or the shared `&AsyncPgConnection`.
macro_rules! write_or_defer {
    ($tx:expr, sqlite = |$s:ident| $sqlite:expr, postgres = |$p:ident| $postgres:expr $(,)?) => {
        match $tx.conn_mut() {
            $crate::conn::Conn::Sqlite(object) => {
                let $s: &mut $crate::conn::Lite = &mut **object;
                $sqlite
            }
            $crate::conn::Conn::Postgres(_) => {
                $tx.defer(Box::new(move |$p| Box::pin(async move { $postgres })));
                Ok(())
            }
        }
    };
}
pub(crate) use write_or_defer;

/// What a failed `devflow_check` raises starts with this (see the PostgreSQL migration
/// `pipelined_checks`).
const CHECK_FAILED: &str = "devflow_check: ";

/// A deferred PostgreSQL write and the statement that checks it, pipelined: `check` is a
/// `SELECT CASE WHEN condition THEN true ELSE devflow_check(false, message) END` (the
/// plpgsql function is called only to raise). When the condition does not hold it raises,
/// which aborts the transaction and turns its pipelined COMMIT into a rollback. A check that
/// the client made after reading the write's outcome could not stop that COMMIT. The check
/// goes after the write (what the write must leave behind), or before it with `check_first`
/// (what the row must be in for the write to apply). A failed check's message becomes
/// `failure(message)`; any other error is the query's. A write that diesel's DSL need not
/// build is better one statement, its check in a `WITH` ([`checked`]).
pub(crate) async fn checked_write(
    what: &str,
    write: impl std::future::Future<Output = diesel::QueryResult<usize>>,
    check: impl std::future::Future<Output = diesel::QueryResult<usize>>,
    check_first: bool,
    failure: impl FnOnce(&str) -> devflow_core::Error,
) -> Result<()> {
    if check_first {
        let (checked_outcome, written) = tokio::join!(check, write);
        checked(what, checked_outcome, failure)?;
        written.or_db(what).map(drop)
    } else {
        let (written, checked_outcome) = tokio::join!(write, check);
        written.or_db(what)?;
        checked(what, checked_outcome, failure)
    }
}

/// An update's row count as the outcome of a write that must find its row: `missing` if it
/// found none.
pub(crate) fn found(updated: usize, missing: devflow_core::Error) -> Result<()> {
    if updated == 0 {
        return Err(missing);
    }
    Ok(())
}

/// The outcome of a statement that calls `devflow_check`: a failed check becomes
/// `failure(message)`, any other error is the query's.
pub(crate) fn checked(
    what: &str,
    outcome: diesel::QueryResult<usize>,
    failure: impl FnOnce(&str) -> devflow_core::Error,
) -> Result<()> {
    match outcome {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().starts_with(CHECK_FAILED) =>
        {
            Err(failure(&info.message()[CHECK_FAILED.len()..]))
        }
        Err(error) => Err(crate::error::query_error(what, error)),
    }
}

impl Tx {
    pub(crate) fn new(conn: Conn) -> Tx {
        Tx { conn: Some(conn), open: false, reading: false, deferred: Vec::new() }
    }

    /// Queues a PostgreSQL write (see [`Deferred`]).
    pub(crate) fn defer(&mut self, write: Deferred) {
        self.deferred.push(write);
    }

    /// Marks a read under way (`true`) or done.
    pub(crate) fn set_reading(&mut self, reading: bool) {
        self.reading = reading;
    }

    pub(crate) fn take_deferred(&mut self) -> Vec<Deferred> {
        std::mem::take(&mut self.deferred)
    }

    pub(crate) fn is_postgres(&mut self) -> bool {
        matches!(self.conn_mut(), Conn::Postgres(_))
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("a Tx holds its connection until it is dropped")
    }

    /// Opens a write transaction. SQLite must take the write lock up front (`BEGIN IMMEDIATE`):
    /// a deferred `BEGIN` that later upgrades to a writer fails with "database is locked" under
    /// contention, whatever the busy timeout. PostgreSQL's plain `BEGIN` is enough because every
    /// step then locks its run row.
    pub(crate) async fn begin_write(&mut self) -> Result<()> {
        // Set before the BEGIN is sent: if this future is dropped while it is in flight, the
        // connection may be inside a transaction, and must be discarded.
        self.open = true;
        let begun = match self.conn_mut() {
            Conn::Sqlite(object) => {
                object
                    .spawn_blocking(|inner| {
                        diesel::connection::AnsiTransactionManager::begin_transaction_sql(
                            inner,
                            "BEGIN IMMEDIATE",
                        )
                    })
                    .await
            }
            Conn::Postgres(object) => transaction_statement(&mut **object, "BEGIN").await,
        }
        .or_db("begin write transaction");
        // A BEGIN that failed (SQLite busy past its timeout) left no transaction behind.
        self.open = begun.is_ok();
        begun
    }

    /// Commits. On PostgreSQL the COMMIT goes out in one pipeline behind the deferred writes
    /// and their checks: if one of them fails, the server has aborted the transaction, the
    /// COMMIT rolls it back, and the step gets that write's error. If the commit itself fails,
    /// `open` stays set and the connection is discarded on drop. With `read`, the rows of that
    /// phase are read last in the transaction, on PostgreSQL in the same pipeline, between the
    /// deferred writes and the COMMIT (`repo/phase_rows.rs`); a read that fails fails nothing
    /// (its rows are `None`, and the caller reads them itself).
    pub(crate) async fn commit(
        &mut self,
        read: Option<&PhaseKey<'_>>,
    ) -> Result<Option<PhaseRows>> {
        let deferred = self.take_deferred();
        let rows = match self.conn_mut() {
            Conn::Sqlite(object) => {
                // The write lock is still held: the reads run inline, even inside `blocking`.
                let rows = match read {
                    Some(key) => Some(inline(phase_rows::on_sqlite(object, key)).await),
                    None => None,
                };
                commit_on(&mut **object).await.or_db("commit")?;
                rows.and_then(read_back)
            }
            Conn::Postgres(object) => {
                let shared: &AsyncPgConnection = object;
                let (sent, records, committed) = tokio::join!(
                    send_deferred(shared, deferred),
                    async {
                        match read {
                            Some(key) => Some(phase_rows::on_postgres(shared, key).await),
                            None => None,
                        }
                    },
                    async {
                        let mut handle = shared;
                        transaction_statement(&mut handle, "COMMIT").await
                    }
                );
                // A failed deferred write aborted the transaction, and the COMMIT that
                // followed it rolled it back: the step reports that write's error. If the
                // COMMIT failed too, the connection's state is unknown and `open` stays set.
                let committed = committed.or_db("commit");
                if committed.is_ok() {
                    self.open = false;
                }
                sent?;
                committed?;
                records.and_then(read_back)
            }
        };
        self.open = false;
        Ok(rows)
    }

    /// Rolls back; deferred writes are dropped unsent. If this fails, `open` stays set and the
    /// connection is discarded on drop.
    pub(crate) async fn rollback(&mut self) -> Result<()> {
        self.deferred.clear();
        match self.conn_mut() {
            Conn::Sqlite(object) => rollback_on(&mut **object).await,
            Conn::Postgres(object) => transaction_statement(&mut **object, "ROLLBACK").await,
        }
        .or_db("roll back")?;
        self.open = false;
        Ok(())
    }
}

/// The rows a commit read back, or `None` when their read failed: the step committed all the
/// same, and the caller reads them again.
fn read_back(records: phase_rows::Records) -> Option<PhaseRows> {
    phase_rows::rows_of(records)
        .inspect_err(|error| tracing::warn!(%error, "the rows read with a commit are read again"))
        .ok()
}

/// A Tx dropped with its transaction open (a step future dropped halfway, or a failed commit
/// or rollback) must not go back to the pool: it would sit there holding SQLite's write lock
/// or the run's row lock until someone happened to check it out again. Taking it out of the
/// pool and closing it makes SQLite or the server roll the transaction back now. A read dropped
/// halfway may leave a SQLite statement running on the blocking pool (`lane.rs`): its
/// connection is closed too, rather than handed to someone while still in use.
impl Drop for Tx {
    fn drop(&mut self) {
        if !self.open && !self.reading {
            return;
        }
        match self.conn.take() {
            Some(Conn::Sqlite(object)) => drop(Object::take(object)),
            Some(Conn::Postgres(object)) => drop(Object::take(object)),
            None => {}
        }
    }
}

/// Sends `deferred` together (one round trip on PostgreSQL) and returns the first failure.
pub(crate) async fn send_deferred(conn: &AsyncPgConnection, deferred: Vec<Deferred>) -> Result<()> {
    if deferred.is_empty() {
        return Ok(());
    }
    let outcomes =
        futures_util::future::join_all(deferred.into_iter().map(|write| write(conn))).await;
    outcomes.into_iter().collect()
}

/// `BEGIN`, `COMMIT` or `ROLLBACK` on PostgreSQL, as a kept prepared statement. The
/// transaction manager of diesel-async is not used there: its commit takes the connection
/// exclusively, and ours shares it with the deferred writes it pipelines.
async fn transaction_statement<C>(c: &mut C, sql: &'static str) -> diesel::QueryResult<()>
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    use diesel_async::RunQueryDsl;
    cached(diesel::sql_query(sql)).execute(c).await.map(drop)
}

async fn commit_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::commit_transaction(c).await
}

async fn rollback_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::rollback_transaction(c).await
}
