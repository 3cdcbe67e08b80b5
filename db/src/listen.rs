//! Wake-ups for workers: on PostgreSQL, `NOTIFY devflow_runs` is sent (at commit) whenever a
//! run may have become claimable — a run queued, a lease given back — and a worker `LISTEN`s on
//! a connection of its own, so it claims at once instead of at its next poll. SQLite has no such
//! channel: workers poll. Polling stays the fallback on both (an expired lease sends nothing).

use std::sync::Arc;

use devflow_core::{Code, Error, Result};
use diesel_async::RunQueryDsl;
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::Db;
use crate::conn::Pools;
use crate::error::QueryResultExt;

/// The channel a run that may be claimable is announced on.
pub(crate) const CHANNEL: &str = "devflow_runs";

/// A listening connection: `notified` wakes on each announcement. Dropping it stops listening.
pub struct Wakeups {
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Wakeups {
    /// Resolves at the next announcement (or at once if one came since the last call).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Db {
    /// Listens for runs that may have become claimable; `None` on SQLite. The connection is
    /// taken from the pool for as long as the `Wakeups` lives; if it drops, the wake-ups stop
    /// and polling alone finds the work.
    pub async fn listen_for_runs(&self) -> Result<Option<Wakeups>> {
        let Pools::Postgres(pool) = &self.inner.pools else { return Ok(None) };
        let mut conn = pool.get().await.map_err(|error| {
            let error = crate::url::scrub(&error.to_string(), &self.inner.secrets);
            Error::new(Code::DatabaseUnavailable, format!("cannot listen for runs: {error}"))
        })?;
        diesel::sql_query(format!("LISTEN {CHANNEL}"))
            .execute(&mut *conn)
            .await
            .or_db("listen for runs")?;
        let notify = Arc::new(Notify::new());
        let woken = Arc::clone(&notify);
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(conn.notifications_stream());
            while let Some(Ok(_)) = stream.next().await {
                woken.notify_one();
            }
            tracing::warn!("the connection listening for runs closed; polling only");
        });
        Ok(Some(Wakeups { notify, task }))
    }
}
