//! `workers`: the worker processes that are alive, each heartbeating by the database's clock.

use devflow_core::Result;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use crate::conn::{Tx, on_conn};
use crate::error::QueryResultExt;

/// A worker as it registered, and when it last said it was alive.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct WorkerRow {
    /// The lease owner it claims runs as.
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub host: String,
    #[diesel(sql_type = BigInt)]
    pub pid: i64,
    /// The devflow version it runs.
    #[diesel(sql_type = Text)]
    pub version: String,
    /// How many runs it drives at once at most.
    #[diesel(sql_type = BigInt)]
    pub concurrency: i64,
    #[diesel(sql_type = BigInt)]
    pub started_at: i64,
    /// The database's time of its last heartbeat, epoch milliseconds.
    #[diesel(sql_type = BigInt)]
    pub heartbeat_at: i64,
}

impl Tx {
    /// Records a worker as alive now (by the database's clock); a row of the same id is
    /// replaced.
    pub async fn register_worker(&mut self, worker: &WorkerRow) -> Result<()> {
        let now = self.db_now_ms().await?;
        self.remove_worker(&worker.id).await?;
        let WorkerRow { id, host, pid, version, concurrency, .. } = worker;
        on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query("INSERT INTO workers VALUES (?, ?, ?, ?, ?, ?, ?)")
                    .bind::<Text, _>(id)
                    .bind::<Text, _>(host)
                    .bind::<BigInt, _>(*pid)
                    .bind::<Text, _>(version)
                    .bind::<BigInt, _>(*concurrency)
                    .bind::<BigInt, _>(now)
                    .bind::<BigInt, _>(now)
                    .execute(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query("INSERT INTO workers VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind::<Text, _>(id)
                    .bind::<Text, _>(host)
                    .bind::<BigInt, _>(*pid)
                    .bind::<Text, _>(version)
                    .bind::<BigInt, _>(*concurrency)
                    .bind::<BigInt, _>(now)
                    .bind::<BigInt, _>(now)
                    .execute(c)
                    .await
            },
        )
        .or_db("register worker")?;
        Ok(())
    }

    /// Says the worker is alive now. `false`: its row is gone (it was taken for dead and
    /// removed): it registers again.
    pub async fn heartbeat_worker(&mut self, id: &str) -> Result<bool> {
        let now = self.db_now_ms().await?;
        let updated = on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query("UPDATE workers SET heartbeat_at = ? WHERE id = ?")
                    .bind::<BigInt, _>(now)
                    .bind::<Text, _>(id)
                    .execute(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query("UPDATE workers SET heartbeat_at = $1 WHERE id = $2")
                    .bind::<BigInt, _>(now)
                    .bind::<Text, _>(id)
                    .execute(c)
                    .await
            },
        )
        .or_db("heartbeat worker")?;
        Ok(updated == 1)
    }

    pub async fn remove_worker(&mut self, id: &str) -> Result<()> {
        on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query("DELETE FROM workers WHERE id = ?")
                    .bind::<Text, _>(id)
                    .execute(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query("DELETE FROM workers WHERE id = $1")
                    .bind::<Text, _>(id)
                    .execute(c)
                    .await
            },
        )
        .or_db("remove worker")?;
        Ok(())
    }

    /// The workers heard from within the last `ttl_ms` (by the database's clock), oldest
    /// first.
    pub async fn live_workers(&mut self, ttl_ms: i64) -> Result<Vec<WorkerRow>> {
        let since = self.db_now_ms().await? - ttl_ms;
        let rows: Vec<WorkerRow> = on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query(
                    "SELECT * FROM workers WHERE heartbeat_at >= ? ORDER BY started_at, id",
                )
                .bind::<BigInt, _>(since)
                .load(c)
                .await
            },
            postgres = |c| {
                diesel::sql_query(
                    "SELECT * FROM workers WHERE heartbeat_at >= $1 ORDER BY started_at, id",
                )
                .bind::<BigInt, _>(since)
                .load(c)
                .await
            },
        )
        .or_db("list workers")?;
        Ok(rows)
    }

    /// Forgets the workers silent for longer than `ttl_ms`: they are dead.
    pub async fn remove_dead_workers(&mut self, ttl_ms: i64) -> Result<()> {
        let since = self.db_now_ms().await? - ttl_ms;
        on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query("DELETE FROM workers WHERE heartbeat_at < ?")
                    .bind::<BigInt, _>(since)
                    .execute(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query("DELETE FROM workers WHERE heartbeat_at < $1")
                    .bind::<BigInt, _>(since)
                    .execute(c)
                    .await
            },
        )
        .or_db("remove dead workers")?;
        Ok(())
    }
}
