//! `runs`: creating runs, reading them, moving their state, and the one-driver-per-run lease.

use devflow_core::{Code, Error, Result, RunState, StateMachine, canonical_json};
use diesel::sql_types::Text;
use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::cached::cached;
use crate::conn::{Tx, checked_write, on_conn, write_or_defer};
use crate::error::QueryResultExt;
use crate::records::{RunRecord, convert_all};
use crate::schema::runs;
use crate::{NewRun, RunRow, now_ms};

impl Tx {
    pub async fn insert_run(&mut self, run: &NewRun) -> Result<()> {
        let now = now_ms();
        let values = (
            runs::id.eq(&run.id),
            runs::workflow.eq(&run.workflow),
            runs::state.eq(run.state.as_str()),
            runs::worktree.eq(&run.worktree),
            runs::definition.eq(canonical_json(&run.definition)),
            runs::created_at.eq(now),
            runs::updated_at.eq(now),
        );
        on_conn!(self, |c| diesel::insert_into(runs::table)
            .values(values)
            .execute(c)
            .await)
        .or_db("insert run")?;
        Ok(())
    }

    pub async fn run(&mut self, id: &str) -> Result<Option<RunRow>> {
        let query = runs::table.filter(runs::id.eq(id));
        let record: Option<RunRecord> = on_conn!(self, |c| query.get_result(c).await)
            .optional()
            .or_db("read run")?;
        record.map(RunRow::try_from).transpose()
    }

    /// Every run, newest first.
    pub async fn runs(&mut self) -> Result<Vec<RunRow>> {
        let query = runs::table.order((runs::created_at.desc(), runs::id.desc()));
        let records: Vec<RunRecord> = on_conn!(self, |c| query.load(c).await).or_db("list runs")?;
        convert_all(records)
    }

    /// Sets state and updated_at; ended_at when the new state is terminal; current_phase_id and
    /// paused_from_state exactly as given (None clears them). Deferred on PostgreSQL; a run
    /// that does not exist fails the step.
    pub async fn set_run_state(
        &mut self,
        id: &str,
        state: RunState,
        current_phase_id: Option<&str>,
        paused_from_state: Option<RunState>,
    ) -> Result<()> {
        let (id, current_phase_id) = (id.to_owned(), current_phase_id.map(str::to_owned));
        let now = now_ms();
        let missing = run_not_found(&id);
        write_or_defer!(
            self,
            sqlite = |c| {
                let updated =
                    update_run_state!(c, &id, state, &current_phase_id, paused_from_state, now)
                        .await
                        .or_db("set run state")?;
                if updated == 0 {
                    return Err(missing);
                }
                Ok(())
            },
            postgres = |conn| {
                let (mut write_on, mut check_on) = (conn, conn);
                let write = update_run_state!(
                    &mut write_on,
                    &id,
                    state,
                    &current_phase_id,
                    paused_from_state,
                    now
                );
                let check = cached(
                    diesel::sql_query(RUN_EXISTS_PG)
                        .bind::<Text, _>(&id)
                        .bind::<Text, _>(missing.message()),
                )
                .execute(&mut check_on);
                checked_write("set run state", write, check, false, |_| missing.clone()).await
            },
        )
    }

    /// Takes the run's lease if it is free, expired, or already `owner`'s, and (re)sets its
    /// expiry to `now_ms + ttl_ms`. Returns whether `owner` holds it.
    pub async fn try_lease_run(
        &mut self,
        id: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool> {
        let target = runs::table.filter(runs::id.eq(id)).filter(
            runs::lease_owner
                .is_null()
                .or(runs::lease_expires_at.le(now_ms))
                .or(runs::lease_owner.eq(owner)),
        );
        let changes = (
            runs::lease_owner.eq(owner),
            runs::lease_expires_at.eq(now_ms.saturating_add(ttl_ms)),
        );
        let updated = on_conn!(self, |c| cached(diesel::update(target).set(changes))
            .execute(c)
            .await)
        .or_db("lease run")?;
        if updated == 0 && self.run(id).await?.is_none() {
            return Err(run_not_found(id));
        }
        Ok(updated == 1)
    }

    /// Gives the lease up, if `owner` holds it; someone else's lease is left alone.
    pub async fn release_run_lease(&mut self, id: &str, owner: &str) -> Result<()> {
        let target = runs::table
            .filter(runs::id.eq(id))
            .filter(runs::lease_owner.eq(owner));
        let changes = (
            runs::lease_owner.eq(None::<String>),
            runs::lease_expires_at.eq(None::<i64>),
        );
        on_conn!(self, |c| cached(diesel::update(target).set(changes))
            .execute(c)
            .await)
        .or_db("release run lease")?;
        Ok(())
    }
}

/// The one error for a run id this database does not hold.
/// After a run's deferred update on PostgreSQL: the run exists.
const RUN_EXISTS_PG: &str = "SELECT devflow_check(EXISTS (SELECT 1 FROM runs WHERE id = $1), $2)";

/// The state columns of a run, and `ended_at` when the state is terminal: a macro, because
/// it is written once for a connection of either backend (see `on_conn!`).
macro_rules! update_run_state {
    ($c:expr, $id:expr, $state:expr, $current_phase_id:expr, $paused_from_state:expr, $now:expr) => {
        async {
            let target = runs::table.filter(runs::id.eq($id));
            let changes = (
                runs::state.eq($state.as_str()),
                runs::current_phase_id.eq($current_phase_id),
                runs::paused_from_state.eq($paused_from_state.map(RunState::as_str)),
                runs::updated_at.eq($now),
            );
            if $state.is_terminal() {
                let ended = (changes, runs::ended_at.eq($now));
                cached(diesel::update(target).set(ended)).execute($c).await
            } else {
                cached(diesel::update(target).set(changes))
                    .execute($c)
                    .await
            }
        }
    };
}
use update_run_state;

pub(crate) fn run_not_found(id: &str) -> Error {
    Error::new(Code::RunNotFound, format!("run {id} does not exist"))
        .with_run(id)
        .with_hint("`devflow status` lists the runs of this database; pass --db or --worktree if it lives elsewhere")
}
