//! `runs`: creating runs, reading them, moving their state (the lease is `lease.rs`).

use devflow_core::{Code, Error, Result, RunState, StateMachine, canonical_json};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::cached::cached;
use crate::conn::{Tx, checked, found, on_conn, write_or_defer};
use crate::error::QueryResultExt;
use crate::records::{RunRecord, convert_all};
use crate::schema::runs;
use crate::{NewRun, RunRow, now_ms};

impl Tx {
    /// Inserts the run. A run inserted `queued` is a submitted one (`submitted_at`): workers
    /// drive it.
    pub async fn insert_run(&mut self, run: &NewRun) -> Result<()> {
        let now = now_ms();
        let submitted_at = (run.state == RunState::Queued).then_some(now);
        let values = (
            runs::id.eq(&run.id),
            runs::workflow.eq(&run.workflow),
            runs::state.eq(run.state.as_str()),
            runs::worktree.eq(&run.worktree),
            runs::definition.eq(canonical_json(&run.definition)),
            runs::created_at.eq(now),
            runs::updated_at.eq(now),
            runs::submitted_at.eq(submitted_at),
        );
        on_conn!(self, |c| diesel::insert_into(runs::table).values(values).execute(c).await)
            .or_db("insert run")?;
        if submitted_at.is_some() {
            self.announce_claimable(&run.id).await?;
        }
        Ok(())
    }

    /// Tells listening workers (PostgreSQL; `listen.rs`) that run `id` may be claimable, when
    /// this transaction commits. SQLite's workers poll.
    pub(crate) async fn announce_claimable(&mut self, id: &str) -> Result<()> {
        let query = diesel::sql_query("SELECT pg_notify($1, $2)");
        on_conn!(
            self,
            sqlite = |_c| Ok(0),
            postgres = |c| {
                query.bind::<Text, _>(crate::listen::CHANNEL).bind::<Text, _>(id).execute(c).await
            },
        )
        .or_db("announce a claimable run")?;
        Ok(())
    }

    pub async fn run(&mut self, id: &str) -> Result<Option<RunRow>> {
        let query = runs::table.filter(runs::id.eq(id));
        let record: Option<RunRecord> =
            on_conn!(self, |c| query.get_result(c).await).optional().or_db("read run")?;
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
        let ended_at = state.is_terminal().then_some(now);
        write_or_defer!(
            self,
            sqlite = |c| {
                let target = runs::table.filter(runs::id.eq(&id));
                let changes = (
                    runs::state.eq(state.as_str()),
                    runs::current_phase_id.eq(&current_phase_id),
                    runs::paused_from_state.eq(paused_from_state.map(RunState::as_str)),
                    runs::updated_at.eq(now),
                );
                match ended_at {
                    Some(at) => {
                        let ended = (changes, runs::ended_at.eq(at));
                        cached(diesel::update(target).set(ended)).execute(c).await
                    }
                    None => cached(diesel::update(target).set(changes)).execute(c).await,
                }
                .or_db("set run state")
                .and_then(|updated| found(updated, missing))
            },
            postgres = |conn| {
                let mut handle = conn;
                let outcome = cached(
                    diesel::sql_query(SET_RUN_STATE_PG)
                        .bind::<Text, _>(state.as_str())
                        .bind::<Nullable<Text>, _>(&current_phase_id)
                        .bind::<Nullable<Text>, _>(paused_from_state.map(RunState::as_str))
                        .bind::<BigInt, _>(now)
                        .bind::<Nullable<BigInt>, _>(ended_at)
                        .bind::<Text, _>(&id)
                        .bind::<Text, _>(missing.message()),
                )
                .execute(&mut handle)
                .await;
                checked("set run state", outcome, |_| missing.clone())
            },
        )
    }
}

impl Tx {
    /// Records that the run's agents live on `host` from now on: they were moved there.
    pub async fn set_agent_host(&mut self, run_id: &str, host: &str) -> Result<()> {
        let row = runs::table.filter(runs::id.eq(run_id));
        let updated = on_conn!(self, |c| {
            diesel::update(row).set(runs::agent_host.eq(host)).execute(c).await
        })
        .or_db("set agent host")?;
        found(updated, run_not_found(run_id))
    }
}

/// The one error for a run id this database does not hold.
/// A run's deferred update on PostgreSQL, checked in the same statement: the run exists.
const SET_RUN_STATE_PG: &str = "WITH updated AS (UPDATE runs SET state = $1, current_phase_id = $2, \
     paused_from_state = $3, updated_at = $4, ended_at = coalesce($5, ended_at) WHERE id = $6 \
     RETURNING 1) SELECT CASE WHEN EXISTS (SELECT 1 FROM updated) THEN true \
     ELSE devflow_check(false, $7) END";

pub(crate) fn run_not_found(id: &str) -> Error {
    Error::new(Code::RunNotFound, format!("run {id} does not exist"))
        .with_run(id)
        .with_hint("`devflow status` lists the runs of this database; pass --db or --worktree if it lives elsewhere")
}
