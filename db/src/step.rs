//! Durable steps (DESIGN §4): write transactions that lock their run first, and plain reads.
//!
//! Commit on `Ok`, roll back on `Err`. No future here is raced against another (`select!`):
//! a transaction dropped halfway leaves its connection mid-statement. If a caller drops a step
//! anyway, `Tx`'s `Drop` closes that connection instead of returning it to the pool, which
//! rolls the transaction back and frees the run's lock at once.

use std::sync::atomic::Ordering;

use devflow_core::{Code, Error, Result, StateMachine};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::conn::{Conn, Pools, Tx, on_conn};
use crate::error::QueryResultExt;
use crate::lane::{blocking, inline};
use crate::records::RunRecord;
use crate::repo::phase_rows::{PhaseKey, PhaseRows};
use crate::schema::runs;
use crate::{Db, RunRow, StepFuture};

impl Db {
    /// A durable step: one write transaction that first locks the run (SQLite: `BEGIN
    /// IMMEDIATE`; PostgreSQL: `BEGIN` + `SELECT .. FOR UPDATE`), loads it, checks the fence
    /// of a fenced handle (`lease_lost`), and hands the run to `body`. A missing run is `Code::RunNotFound`. The body decides whether the run's state
    /// allows it.
    pub async fn step<'a, T: Send + 'static>(
        &self,
        run_id: &str,
        body: impl for<'t> FnOnce(&'t mut Tx, RunRow) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<T> {
        self.step_then(run_id, None, body).await.map(|(value, _)| value)
    }

    /// A step that also reads, last in its transaction, the rows of `phase` (`PhaseRows`):
    /// what the step leaves behind, at no round trip of its own (see `repo/phase_rows.rs`).
    /// A body that fails reads nothing; a read that fails leaves the rows `None`, and the step
    /// committed.
    pub async fn step_reading<'a, T: Send + 'static>(
        &self,
        run_id: &str,
        phase: &PhaseKey<'_>,
        body: impl for<'t> FnOnce(&'t mut Tx, RunRow) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<(T, Option<PhaseRows>)> {
        self.step_then(run_id, Some(phase), body).await
    }

    async fn step_then<'a, T: Send + 'static>(
        &self,
        run_id: &str,
        read: Option<&PhaseKey<'_>>,
        body: impl for<'t> FnOnce(&'t mut Tx, RunRow) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<(T, Option<PhaseRows>)> {
        let mut tx = self.begin_write().await?;
        let outcome = inline(async {
            let run = tx.lock_run(run_id).await?;
            if let Some(fence) = &self.fence {
                fence.check(&run)?;
            }
            body(&mut tx, run).await
        })
        .await;
        self.finish(tx, outcome, read).await
    }

    /// Like `step`, but fails with `Code::RunStateChanged` (hint `run_state=<state>`) unless
    /// the run is planning or executing: phases change only while their run is active.
    pub async fn mutate_phase<'a, T: Send + 'static>(
        &self,
        run_id: &str,
        body: impl for<'t> FnOnce(&'t mut Tx, RunRow) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<T> {
        self.step(run_id, move |tx, run| match phase_mutation_allowed(&run) {
            Ok(()) => body(tx, run),
            Err(refused) => Box::pin(std::future::ready(Err(refused))),
        })
        .await
    }

    /// A write transaction bound to no run (creating a run with its phases, the lease itself).
    /// Not on a fenced handle: whatever a fenced driver writes goes through its run's steps.
    pub async fn write<'a, T: Send + 'static>(
        &self,
        body: impl for<'t> FnOnce(&'t mut Tx) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<T> {
        assert!(self.fence.is_none(), "a fenced Db writes only through its run's steps");
        let mut tx = self.begin_write().await?;
        let outcome = inline(body(&mut tx)).await;
        self.finish(tx, outcome, None).await.map(|(value, _)| value)
    }

    /// Reads, outside any write transaction. Each statement sees the latest committed data.
    pub async fn read<'a, T: Send + 'static>(
        &self,
        body: impl for<'t> FnOnce(&'t mut Tx) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<T> {
        blocking(async {
            let mut tx = self.checkout().await?;
            tx.set_reading(true);
            let read = body(&mut tx).await;
            tx.set_reading(false);
            read
        })
        .await
    }

    pub(crate) async fn checkout(&self) -> Result<Tx> {
        let conn = match &self.inner.pools {
            Pools::Sqlite(pool) => pool.get().await.map(Conn::Sqlite),
            Pools::Postgres(pool) => pool.get().await.map(Conn::Postgres),
        }
        .map_err(|error| {
            if let Some(file) = self.inner.file.as_ref().filter(|file| !file.unchanged()) {
                return file.gone(None);
            }
            let error = crate::url::scrub(&error.to_string(), &self.inner.secrets);
            Error::new(
                Code::DatabaseUnavailable,
                format!("cannot get a connection to {}: {error}", self.inner.url),
            )
            .with_hint("check that the database is reachable, then `devflow resume`")
        })?;
        Ok(Tx::new(conn))
    }

    async fn begin_write(&self) -> Result<Tx> {
        blocking(async {
            let mut tx = self.checkout().await?;
            tx.begin_write().await?;
            Ok(tx)
        })
        .await
    }

    /// Commits a step whose body succeeded, rolls back one that failed. A SQLite file that was
    /// deleted or replaced since the pool opened it is never committed to (see `file`).
    async fn finish<T>(
        &self,
        mut tx: Tx,
        outcome: Result<T>,
        read: Option<&PhaseKey<'_>>,
    ) -> Result<(T, Option<PhaseRows>)> {
        let file_lost = outcome.is_ok() && self.inner.file.as_ref().is_some_and(|f| !f.unchanged());
        let ended = blocking(async {
            match &outcome {
                Ok(_) if !file_lost => tx.commit(read).await,
                _ => tx.rollback().await.map(|()| None),
            }
        })
        .await;
        self.inner.transactions.fetch_add(1, Ordering::Relaxed);
        if let (true, Some(file)) = (file_lost, &self.inner.file) {
            return Err(file.lost(&mut tx).await);
        }
        match (outcome, ended) {
            (Ok(value), Ok(rows)) => Ok((value, rows)),
            (Ok(_), Err(error)) => Err(error),
            // The body's error is the one worth reporting; after a failed rollback the Tx is
            // still marked open, so dropping it closes the connection.
            (Err(error), ended) => {
                if let Err(rollback) = ended {
                    tracing::warn!(%rollback, "rollback failed after {error}");
                }
                Err(error)
            }
        }
    }
}

/// `Code::RunStateChanged` (hint `run_state=<state>`) unless the run is planning or executing:
/// phases change only while their run is active.
pub fn phase_mutation_allowed(run: &RunRow) -> Result<()> {
    if run.state.allows_phase_mutation() {
        return Ok(());
    }
    let refused = Error::new(
        Code::RunStateChanged,
        format!("run is {} and its phases can no longer change", run.state),
    )
    .with_run(&run.id)
    .with_hint(format!("run_state={}", run.state.as_str()));
    Err(refused)
}

impl Tx {
    /// Loads the run and holds its lock until the transaction ends. On SQLite `BEGIN
    /// IMMEDIATE` already holds the one write lock; PostgreSQL locks the row.
    async fn lock_run(&mut self, run_id: &str) -> Result<RunRow> {
        let query = runs::table.filter(runs::id.eq(run_id));
        let record: Option<RunRecord> = on_conn!(
            self,
            sqlite = |c| query.get_result(c).await,
            postgres = |c| query.for_update().get_result(c).await,
        )
        .optional()
        .or_db("lock run")?;
        match record {
            Some(record) => RunRow::try_from(record),
            None => Err(crate::repo::runs::run_not_found(run_id)),
        }
    }
}
