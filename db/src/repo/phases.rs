//! `run_phases`: the phases of a run, their attempts and their states.

use devflow_core::{Error, PhaseState, Result, StateMachine};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::cached::cached;
use crate::conn::{Tx, checked, found, on_conn, write_or_defer};
use crate::error::QueryResultExt;
use crate::records::{PhaseRecord, convert_all};
use crate::schema::run_phases;
use crate::{NewPhase, PhaseRow, now_ms};

impl Tx {
    /// Inserts a phase in state `pending` with no attempts.
    pub async fn insert_phase(&mut self, phase: &NewPhase) -> Result<()> {
        let values = (
            run_phases::id.eq(&phase.id),
            run_phases::run_id.eq(&phase.run_id),
            run_phases::phase_key.eq(&phase.phase_key),
            run_phases::ordinal.eq(phase.ordinal),
            run_phases::state.eq(PhaseState::Pending.as_str()),
            run_phases::attempts.eq(0),
        );
        on_conn!(self, |c| diesel::insert_into(run_phases::table).values(values).execute(c).await)
            .or_db("insert phase")?;
        Ok(())
    }

    pub async fn phase(&mut self, id: &str) -> Result<Option<PhaseRow>> {
        let query = run_phases::table.filter(run_phases::id.eq(id));
        let record: Option<PhaseRecord> =
            on_conn!(self, |c| query.get_result(c).await).optional().or_db("read phase")?;
        record.map(PhaseRow::try_from).transpose()
    }

    /// The run's phases in workflow order.
    pub async fn phases(&mut self, run_id: &str) -> Result<Vec<PhaseRow>> {
        let query = run_phases::table
            .filter(run_phases::run_id.eq(run_id))
            .order((run_phases::ordinal.asc(), run_phases::id.asc()));
        let records: Vec<PhaseRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list phases")?;
        convert_all(records)
    }

    /// Starts the next attempt of a phase whose state is one of `allowed`: attempts + 1, state
    /// `running`, started_at now, no artifact recorded yet. Returns the new attempt number, or None if no row matched
    /// (another state, or no such phase).
    pub async fn try_start_phase(
        &mut self,
        run_id: &str,
        phase_id: &str,
        allowed: &[PhaseState],
    ) -> Result<Option<u32>> {
        let allowed: Vec<&str> = allowed.iter().map(|state| state.as_str()).collect();
        let target = run_phases::table
            .filter(run_phases::id.eq(phase_id))
            .filter(run_phases::run_id.eq(run_id))
            .filter(run_phases::state.eq_any(allowed));
        let changes = (
            run_phases::attempts.eq(run_phases::attempts + 1),
            run_phases::state.eq(PhaseState::Running.as_str()),
            run_phases::started_at.eq(now_ms()),
            run_phases::artifact_id.eq(None::<String>),
        );
        let attempts: Option<i32> = on_conn!(self, |c| cached(
            diesel::update(target).set(changes).returning(run_phases::attempts)
        )
        .get_result(c)
        .await)
        .optional()
        .or_db("start phase")?;
        attempts
            .map(|attempts| {
                u32::try_from(attempts).map_err(|_| {
                    Error::corruption(format!("run_phases.attempts is negative: {attempts}"))
                })
            })
            .transpose()
    }

    /// Sets the phase's state; ended_at = now when it is completed or failed. Deferred on
    /// PostgreSQL; a phase that does not exist fails the step.
    pub async fn set_phase_state(
        &mut self,
        run_id: &str,
        phase_id: &str,
        state: PhaseState,
    ) -> Result<()> {
        let (run_id, phase_id) = (run_id.to_owned(), phase_id.to_owned());
        let ended_at = matches!(state, PhaseState::Completed | PhaseState::Failed).then(now_ms);
        let missing = Error::corruption(format!("phase {phase_id} of run {run_id} does not exist"))
            .in_phase(&run_id, &phase_id);
        write_or_defer!(
            self,
            sqlite = |c| {
                let target = run_phases::table
                    .filter(run_phases::id.eq(&phase_id))
                    .filter(run_phases::run_id.eq(&run_id));
                let state_is = run_phases::state.eq(state.as_str());
                match ended_at {
                    Some(at) => {
                        let changes = (state_is, run_phases::ended_at.eq(at));
                        cached(diesel::update(target).set(changes)).execute(c).await
                    }
                    None => cached(diesel::update(target).set(state_is)).execute(c).await,
                }
                .or_db("set phase state")
                .and_then(|updated| found(updated, missing))
            },
            postgres = |conn| {
                let mut handle = conn;
                let outcome = cached(
                    diesel::sql_query(SET_PHASE_STATE_PG)
                        .bind::<Text, _>(state.as_str())
                        .bind::<Nullable<BigInt>, _>(ended_at)
                        .bind::<Text, _>(&phase_id)
                        .bind::<Text, _>(&run_id)
                        .bind::<Text, _>(missing.message()),
                )
                .execute(&mut handle)
                .await;
                checked("set phase state", outcome, |_| missing.clone())
            },
        )
    }
}

impl Tx {
    /// Records `artifact_id` as the artifact of the phase's current attempt (`None`: none yet).
    /// Deferred on PostgreSQL; a phase that does not exist fails the step.
    pub async fn set_phase_artifact(
        &mut self,
        run_id: &str,
        phase_id: &str,
        artifact_id: Option<&str>,
    ) -> Result<()> {
        let (run_id, phase_id, artifact_id) =
            (run_id.to_owned(), phase_id.to_owned(), artifact_id.map(str::to_owned));
        let missing = Error::corruption(format!("phase {phase_id} of run {run_id} does not exist"))
            .in_phase(&run_id, &phase_id);
        write_or_defer!(
            self,
            sqlite = |c| {
                let target = run_phases::table
                    .filter(run_phases::id.eq(&phase_id))
                    .filter(run_phases::run_id.eq(&run_id));
                cached(diesel::update(target).set(run_phases::artifact_id.eq(&artifact_id)))
                    .execute(c)
                    .await
                    .or_db("set phase artifact")
                    .and_then(|updated| found(updated, missing))
            },
            postgres = |conn| {
                let mut handle = conn;
                let outcome = cached(
                    diesel::sql_query(SET_PHASE_ARTIFACT_PG)
                        .bind::<Nullable<Text>, _>(&artifact_id)
                        .bind::<Text, _>(&phase_id)
                        .bind::<Text, _>(&run_id)
                        .bind::<Text, _>(missing.message()),
                )
                .execute(&mut handle)
                .await;
                checked("set phase artifact", outcome, |_| missing.clone())
            },
        )
    }
}

/// The phase's current artifact, set on PostgreSQL in one checked statement.
const SET_PHASE_ARTIFACT_PG: &str = "WITH updated AS (UPDATE run_phases \
     SET artifact_id = $1 WHERE id = $2 AND run_id = $3 RETURNING 1) \
     SELECT CASE WHEN EXISTS (SELECT 1 FROM updated) THEN true ELSE devflow_check(false, $4) END";

/// A phase's deferred update on PostgreSQL, checked in the same statement: the phase exists.
const SET_PHASE_STATE_PG: &str = "WITH updated AS (UPDATE run_phases \
     SET state = $1, ended_at = coalesce($2, ended_at) WHERE id = $3 AND run_id = $4 RETURNING 1) \
     SELECT CASE WHEN EXISTS (SELECT 1 FROM updated) THEN true ELSE devflow_check(false, $5) END";
