//! `workers`: the worker processes that are alive, each heartbeating by the database's clock.

use devflow_core::Result;
use diesel::{ExpressionMethods, QueryDsl, Queryable};
use diesel_async::RunQueryDsl;

use crate::conn::{Tx, on_conn};
use crate::error::QueryResultExt;
use crate::schema::workers;

/// A worker as it registered, and when it last said it was alive.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct WorkerRow {
    /// The lease owner it claims runs as.
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// The devflow version it runs.
    pub version: String,
    /// How many runs it drives at once at most.
    pub concurrency: i64,
    pub started_at: i64,
    /// The database's time of its last heartbeat, epoch milliseconds.
    pub heartbeat_at: i64,
}

impl Tx {
    /// Records a worker as alive now (by the database's clock); a row of the same id is
    /// replaced.
    pub async fn register_worker(&mut self, worker: &WorkerRow) -> Result<()> {
        let now = self.db_now_ms().await?;
        self.remove_worker(&worker.id).await?;
        let values = (
            workers::id.eq(&worker.id),
            workers::host.eq(&worker.host),
            workers::pid.eq(worker.pid),
            workers::version.eq(&worker.version),
            workers::concurrency.eq(worker.concurrency),
            workers::started_at.eq(now),
            workers::heartbeat_at.eq(now),
        );
        on_conn!(self, |c| diesel::insert_into(workers::table).values(values).execute(c).await)
            .or_db("register worker")?;
        Ok(())
    }

    /// Says the worker is alive now. `false`: its row is gone (it was taken for dead and
    /// removed): it registers again.
    pub async fn heartbeat_worker(&mut self, id: &str) -> Result<bool> {
        let now = self.db_now_ms().await?;
        let row = workers::table.filter(workers::id.eq(id));
        let updated = on_conn!(self, |c| {
            diesel::update(row).set(workers::heartbeat_at.eq(now)).execute(c).await
        })
        .or_db("heartbeat worker")?;
        Ok(updated == 1)
    }

    pub async fn remove_worker(&mut self, id: &str) -> Result<()> {
        let row = workers::table.filter(workers::id.eq(id));
        on_conn!(self, |c| diesel::delete(row).execute(c).await).or_db("remove worker")?;
        Ok(())
    }

    /// The workers heard from within the last `ttl_ms` (by the database's clock), oldest
    /// first.
    pub async fn live_workers(&mut self, ttl_ms: i64) -> Result<Vec<WorkerRow>> {
        let since = self.db_now_ms().await? - ttl_ms;
        let query = workers::table
            .filter(workers::heartbeat_at.ge(since))
            .order((workers::started_at, workers::id));
        let rows: Vec<WorkerRow> = on_conn!(self, |c| query.load(c).await).or_db("list workers")?;
        Ok(rows)
    }

    /// Forgets the workers silent for longer than `ttl_ms`: they are dead.
    pub async fn remove_dead_workers(&mut self, ttl_ms: i64) -> Result<()> {
        let since = self.db_now_ms().await? - ttl_ms;
        let dead = workers::table.filter(workers::heartbeat_at.lt(since));
        on_conn!(self, |c| diesel::delete(dead).execute(c).await).or_db("remove dead workers")?;
        Ok(())
    }
}
