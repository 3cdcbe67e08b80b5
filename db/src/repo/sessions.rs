//! `tui_sessions`: one row per agent session of a run, written before and after each side effect.

use devflow_core::{Code, Error, Move, Result, SessionState, StateMachine};
use diesel::sql_types::{Array, BigInt, Text};
use diesel::{AsChangeset, ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::cached::cached;
use crate::conn::{Tx, checked_write, found, on_conn, write_or_defer};
use crate::error::QueryResultExt;
use crate::records::{SessionRecord, convert_all, from_count};
use crate::schema::tui_sessions;
use crate::{NewSession, SessionRow, SessionUpdate, now_ms};

/// `SessionUpdate` in column form; diesel leaves the `None` fields out of the `SET`.
#[derive(AsChangeset)]
#[diesel(table_name = tui_sessions)]
struct SessionChanges<'a> {
    state: Option<&'static str>,
    cwd: Option<&'a str>,
    expected_artifact_path: Option<&'a str>,
    expected_schema: Option<&'a str>,
    last_prompt_hash: Option<&'a str>,
    last_prompt_at: Option<i64>,
    recovery_attempts: Option<i32>,
    last_capture_seq: Option<i64>,
    last_known_pane_pid: Option<i64>,
    tmux_session: Option<&'a str>,
    tmux_window: Option<&'a str>,
    tmux_pane: Option<&'a str>,
    artifact_baseline: Option<&'a str>,
}

impl Tx {
    /// `INSERT .. ON CONFLICT (id) DO NOTHING`; returns whether a row was inserted.
    pub async fn insert_session_if_absent(&mut self, session: &NewSession<'_>) -> Result<bool> {
        let values = (
            tui_sessions::id.eq(session.id),
            tui_sessions::run_id.eq(session.run_id),
            tui_sessions::role_id.eq(session.role_id),
            tui_sessions::backend.eq(session.backend),
            tui_sessions::cwd.eq(session.cwd),
            tui_sessions::expected_artifact_path.eq(session.expected_artifact_path),
            tui_sessions::expected_schema.eq(session.expected_schema),
            tui_sessions::state.eq(session.state.as_str()),
            tui_sessions::recovery_attempts.eq(0),
            tui_sessions::last_capture_seq.eq(0_i64),
            tui_sessions::created_at.eq(now_ms()),
        );
        let inserted = on_conn!(self, |c| diesel::insert_into(tui_sessions::table)
            .values(values)
            .on_conflict(tui_sessions::id)
            .do_nothing()
            .execute(c)
            .await)
        .or_db("insert session")?;
        Ok(inserted == 1)
    }

    /// The role's session in the run; when it has none, `session` is inserted and the answer is
    /// `None`. On PostgreSQL the look-up and the guarded insert go out together, in one round
    /// trip. Neither depends on which of them the server runs first: the look-up passes over
    /// `session`'s own id, and the insert happens only if the role has no session at all.
    pub async fn claim_role_session(
        &mut self,
        session: &NewSession<'_>,
    ) -> Result<Option<SessionRow>> {
        let others = tui_sessions::table
            .filter(tui_sessions::run_id.eq(session.run_id))
            .filter(tui_sessions::role_id.eq(session.role_id))
            .filter(tui_sessions::id.ne(session.id))
            .order((tui_sessions::created_at.desc(), tui_sessions::id.desc()));
        if !self.is_postgres() {
            let existing: Option<SessionRecord> = on_conn!(self, |c| others.get_result(c).await)
                .optional()
                .or_db("read session for role")?;
            if existing.is_none() {
                self.insert_session_if_absent(session).await?;
            }
            return existing.map(SessionRow::try_from).transpose();
        }
        let insert = cached(
            diesel::sql_query(CLAIM_INSERT_PG)
                .bind::<Text, _>(session.id)
                .bind::<Text, _>(session.run_id)
                .bind::<Text, _>(session.role_id)
                .bind::<Text, _>(session.backend)
                .bind::<Text, _>(session.cwd)
                .bind::<Text, _>(session.expected_artifact_path)
                .bind::<Text, _>(session.expected_schema)
                .bind::<Text, _>(session.state.as_str())
                .bind::<BigInt, _>(now_ms()),
        );
        let (existing, _inserted) = on_conn!(
            self,
            sqlite = |_c| unreachable!("SQLite claims in two statements above"),
            postgres = |c| {
                let shared: &diesel_async::AsyncPgConnection = c;
                let (found, inserted) = tokio::join!(
                    async {
                        let mut handle = shared;
                        others.get_result::<SessionRecord>(&mut handle).await
                    },
                    async {
                        let mut handle = shared;
                        insert.execute(&mut handle).await
                    },
                );
                found.optional().and_then(|found| Ok((found, inserted?)))
            },
        )
        .or_db("claim the role's session")?;
        existing.map(SessionRow::try_from).transpose()
    }

    pub async fn session(&mut self, id: &str) -> Result<Option<SessionRow>> {
        let query = tui_sessions::table.filter(tui_sessions::id.eq(id));
        let record: Option<SessionRecord> =
            on_conn!(self, |c| query.get_result(c).await).optional().or_db("read session")?;
        record.map(SessionRow::try_from).transpose()
    }

    /// The session's row; `session_not_found` if it has none.
    pub async fn require_session(&mut self, id: &str) -> Result<SessionRow> {
        self.session(id).await?.ok_or_else(|| session_not_found(id))
    }

    /// The role's session in the run (the newest, should there ever be several).
    pub async fn session_for_role(
        &mut self,
        run_id: &str,
        role_id: &str,
    ) -> Result<Option<SessionRow>> {
        let query = tui_sessions::table
            .filter(tui_sessions::run_id.eq(run_id))
            .filter(tui_sessions::role_id.eq(role_id))
            .order((tui_sessions::created_at.desc(), tui_sessions::id.desc()));
        let record: Option<SessionRecord> = on_conn!(self, |c| query.get_result(c).await)
            .optional()
            .or_db("read session for role")?;
        record.map(SessionRow::try_from).transpose()
    }

    /// The run's sessions, oldest first.
    pub async fn sessions(&mut self, run_id: &str) -> Result<Vec<SessionRow>> {
        let query = tui_sessions::table
            .filter(tui_sessions::run_id.eq(run_id))
            .order((tui_sessions::created_at.asc(), tui_sessions::id.asc()));
        let records: Vec<SessionRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list sessions")?;
        convert_all(records)
    }

    /// Updates only the fields that are `Some`. A missing session is `InternalStateCorruption`:
    /// callers update sessions they have read or inserted in this same step. Deferred on
    /// PostgreSQL.
    pub async fn update_session(&mut self, id: &str, update: &SessionUpdate) -> Result<()> {
        if *update == SessionUpdate::default() {
            // diesel refuses an UPDATE with nothing to set; all that is left is the existence check.
            return match self.session(id).await? {
                Some(_) => Ok(()),
                None => Err(Error::corruption(format!("session {id} does not exist"))),
            };
        }
        // A deferred write must not fail in the client once its COMMIT is on its way: what can
        // (a count out of range) is checked now.
        SessionChanges::of(update)?;
        let (id, update) = (id.to_owned(), update.clone());
        let missing = Error::corruption(format!("session {id} does not exist"));
        write_or_defer!(
            self,
            sqlite = |c| {
                let changes = SessionChanges::of(&update)?;
                let target = tui_sessions::table.filter(tui_sessions::id.eq(&id));
                cached(diesel::update(target).set(&changes))
                    .execute(c)
                    .await
                    .or_db("update session")
                    .and_then(|updated| found(updated, missing))
            },
            postgres = |conn| {
                let (mut write_on, mut check_on) = (conn, conn);
                let changes = SessionChanges::of(&update)?;
                let target = tui_sessions::table.filter(tui_sessions::id.eq(&id));
                let write = cached(diesel::update(target).set(&changes)).execute(&mut write_on);
                let check = cached(
                    diesel::sql_query(SESSION_EXISTS_PG)
                        .bind::<Text, _>(&id)
                        .bind::<Text, _>(missing.message()),
                )
                .execute(&mut check_on);
                checked_write("update session", write, check, false, |_| missing.clone()).await
            },
        )
    }

    /// Moves the session to `to` by `rule` (the session machine's), with the other fields of
    /// `update`; deferred on PostgreSQL. A session in a state the rule does not move from fails
    /// the step with the machine's error, a missing one with `session_not_found`.
    pub async fn move_session(
        &mut self,
        id: &str,
        to: SessionState,
        rule: Move,
        update: SessionUpdate,
    ) -> Result<()> {
        let update = SessionUpdate { state: Some(to), ..update };
        let session_id = id.to_owned();
        self.move_session_from(id, &rule.sources(to), &update, move |state| match state {
            None => session_not_found(&session_id),
            Some(from) => rule.check(from, to).err().unwrap_or_else(|| {
                Error::corruption(format!(
                    "session {session_id} in state {from} was not moved to {to}"
                ))
            }),
        })
        .await
    }

    /// `update_session_from` for a step that needs no row back; deferred on PostgreSQL. If no
    /// session is in a state of `from`, the step fails with what `refused` makes of the
    /// session as it is (`None`: there is no such session).
    async fn move_session_from(
        &mut self,
        id: &str,
        from: &[SessionState],
        update: &SessionUpdate,
        refused: impl FnOnce(Option<SessionState>) -> Error + Send + 'static,
    ) -> Result<()> {
        // A deferred write must not fail in the client once its COMMIT is on its way: what can
        // (a count out of range) is checked now.
        SessionChanges::of(update)?;
        let (id, update) = (id.to_owned(), update.clone());
        let from: Vec<&'static str> = from.iter().map(|state| state.as_str()).collect();
        write_or_defer!(
            self,
            sqlite = |c| {
                let changes = SessionChanges::of(&update)?;
                let target = tui_sessions::table
                    .filter(tui_sessions::id.eq(&id))
                    .filter(tui_sessions::state.eq_any(&from));
                let updated = cached(diesel::update(target).set(&changes))
                    .execute(c)
                    .await
                    .or_db("update session")?;
                if updated == 1 {
                    return Ok(());
                }
                let record: Option<SessionRecord> = tui_sessions::table
                    .filter(tui_sessions::id.eq(&id))
                    .get_result(c)
                    .await
                    .optional()
                    .or_db("read session")?;
                let row = record.map(SessionRow::try_from).transpose()?;
                Err(refused(row.map(|row| row.state)))
            },
            postgres = |conn| {
                let (mut write_on, mut check_on) = (conn, conn);
                let changes = SessionChanges::of(&update)?;
                let target = tui_sessions::table
                    .filter(tui_sessions::id.eq(&id))
                    .filter(tui_sessions::state.eq_any(&from));
                let write = cached(diesel::update(target).set(&changes)).execute(&mut write_on);
                let check = cached(
                    diesel::sql_query(SESSION_IN_STATES_PG)
                        .bind::<Text, _>(&id)
                        .bind::<Array<Text>, _>(&from),
                )
                .execute(&mut check_on);
                // The check raises with the session's state as it is ("" when there is none).
                let refusal = |state: &str| refused(SessionState::parse(state).ok());
                checked_write("update session", write, check, true, refusal).await
            },
        )
    }

    /// A guarded update in one statement: applies `update` (which must set something) only if
    /// the session is in one of the states `from`, and returns the row as updated; `None` if
    /// there is no such session in such a state.
    pub async fn update_session_from(
        &mut self,
        id: &str,
        from: &[SessionState],
        update: &SessionUpdate,
    ) -> Result<Option<SessionRow>> {
        let changes = SessionChanges::of(update)?;
        let from: Vec<&str> = from.iter().map(|state| state.as_str()).collect();
        let target = tui_sessions::table
            .filter(tui_sessions::id.eq(id))
            .filter(tui_sessions::state.eq_any(from));
        let record: Option<SessionRecord> = on_conn!(self, |c| cached(
            diesel::update(target).set(&changes).returning(tui_sessions::all_columns)
        )
        .get_result(c)
        .await)
        .optional()
        .or_db("update session")?;
        record.map(SessionRow::try_from).transpose()
    }
}

fn session_not_found(id: &str) -> Error {
    Error::new(Code::SessionNotFound, format!("session {id} has no row"))
}

/// After a session's deferred update on PostgreSQL: the session exists.
const SESSION_EXISTS_PG: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM tui_sessions WHERE id = $1) THEN true \
     ELSE devflow_check(false, $2) END";

/// Before a session's deferred guarded move on PostgreSQL: the session is in one of the states
/// `$2`; otherwise the check raises with the state it is in (`""`: no such session).
const SESSION_IN_STATES_PG: &str = "SELECT CASE WHEN state = ANY($2) THEN true ELSE devflow_check(false, coalesce(state, '')) END \
     FROM (SELECT (SELECT state FROM tui_sessions WHERE id = $1) AS state) AS session";

/// The insert half of `claim_role_session` on PostgreSQL: diesel writes no `INSERT .. SELECT
/// .. WHERE NOT EXISTS`.
const CLAIM_INSERT_PG: &str = "INSERT INTO tui_sessions (id, run_id, role_id, backend, cwd, \
     expected_artifact_path, expected_schema, state, recovery_attempts, last_capture_seq, created_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, 0, 0, $9 \
     WHERE NOT EXISTS (SELECT 1 FROM tui_sessions WHERE run_id = $2 AND role_id = $3) \
     ON CONFLICT (id) DO NOTHING";

impl<'a> SessionChanges<'a> {
    fn of(update: &'a SessionUpdate) -> Result<SessionChanges<'a>> {
        Ok(SessionChanges {
            state: update.state.map(SessionState::as_str),
            cwd: update.cwd.as_deref(),
            expected_artifact_path: update.expected_artifact_path.as_deref(),
            expected_schema: update.expected_schema.as_deref(),
            last_prompt_hash: update.last_prompt_hash.as_deref(),
            last_prompt_at: update.last_prompt_at,
            recovery_attempts: update
                .recovery_attempts
                .map(|count| from_count("recovery_attempts", count))
                .transpose()?,
            last_capture_seq: update.last_capture_seq,
            last_known_pane_pid: update.last_known_pane_pid,
            tmux_session: update.tmux_session.as_deref(),
            tmux_window: update.tmux_window.as_deref(),
            tmux_pane: update.tmux_pane.as_deref(),
            artifact_baseline: update.artifact_baseline.as_deref(),
        })
    }
}
