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

use crate::error::QueryResultExt;

/// SQLite through diesel's sync connection, run on tokio's blocking pool.
pub(crate) type Lite = SyncConnectionWrapper<SqliteConnection>;

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
    pub(crate) conn: Conn,
}

/// `on_conn!(tx, |c| body)` expands `body` twice, once with `c: &mut Lite` and once with
/// `c: &mut AsyncPgConnection`. The second form takes one body per backend, for the few places
/// where the dialects differ (`FOR UPDATE`).
macro_rules! on_conn {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.conn {
            $crate::conn::Conn::Sqlite(object) => {
                let $c: &mut $crate::conn::Lite = &mut **object;
                $body
            }
            $crate::conn::Conn::Postgres(object) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut **object;
                $body
            }
        }
    };
    ($tx:expr, sqlite |$s:ident| $sqlite:expr, postgres |$p:ident| $postgres:expr $(,)?) => {
        match &mut $tx.conn {
            $crate::conn::Conn::Sqlite(object) => {
                let $s: &mut $crate::conn::Lite = &mut **object;
                $sqlite
            }
            $crate::conn::Conn::Postgres(object) => {
                let $p: &mut ::diesel_async::AsyncPgConnection = &mut **object;
                $postgres
            }
        }
    };
}
pub(crate) use on_conn;

impl Tx {
    /// Opens a write transaction. SQLite must take the write lock up front (`BEGIN IMMEDIATE`):
    /// a deferred `BEGIN` that later upgrades to a writer fails with "database is locked" under
    /// contention, whatever the busy timeout. PostgreSQL's plain `BEGIN` is enough because every
    /// step then locks its run row.
    pub(crate) async fn begin_write(&mut self) -> Result<()> {
        on_conn!(
            self,
            sqlite
                | c
                | c.spawn_blocking(|inner| {
                    diesel::connection::AnsiTransactionManager::begin_transaction_sql(
                        inner,
                        "BEGIN IMMEDIATE",
                    )
                })
                .await,
            postgres
                | c
                | <AsyncPgConnection as AsyncConnection>::TransactionManager::begin_transaction(c)
                    .await,
        )
        .or_db("begin write transaction")
    }

    pub(crate) async fn commit(&mut self) -> Result<()> {
        on_conn!(self, |c| commit_on(c).await).or_db("commit")
    }

    /// Rolls back. If this fails the transaction manager marks the connection broken and the
    /// pool discards it rather than hand out a connection with an open transaction.
    pub(crate) async fn rollback(&mut self) -> Result<()> {
        on_conn!(self, |c| rollback_on(c).await).or_db("roll back")
    }
}

async fn commit_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::commit_transaction(c).await
}

async fn rollback_on<C: AsyncConnection>(c: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::rollback_transaction(c).await
}
