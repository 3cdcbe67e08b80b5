//! What the phase runner decides its next step on, read together: the phase's row, which events
//! it has (their keys, and the newest event that began an attempt, whole), its role's session
//! and the artifact its current attempt recorded ([`PhaseRows`]).
//!
//! The runner reads these after every step, so the read is shaped for that: two statements —
//! the phase's row joined with the rest, and its events' keys (a phase's log grows with each
//! step, and the runner only asks whether an event is in) — that need no answer of each other,
//! so that on PostgreSQL they go out in one pipeline; and [`Db::step_reading`] puts them into
//! the step's own transaction, in the pipeline of its COMMIT, so that reading what a step left
//! behind costs no round trip of its own. On SQLite, inside a step, they run under the write
//! lock on the calling thread (`lane.rs`).
//!
//! [`Db::step_reading`]: crate::Db::step_reading

use devflow_core::{Error, Result};
use diesel::dsl::max;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, NullableExpressionMethods,
    OptionalExtension, QueryDsl,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::conn::{Conn, Lite, Tx, send_deferred};
use crate::error::QueryResultExt;
use crate::lane::inline;
use crate::records::{ArtifactRecord, EventRecord, PhaseRecord, SessionRecord};
use crate::schema::{artifacts, run_events, run_phases, tui_sessions};
use crate::{ArtifactRow, Db, EventRow, PhaseRow, SessionRow};

/// Which phase's rows to read: the phase of a run, the role its agent plays, and the kind of
/// the event that begins each of its attempts.
#[derive(Debug, Clone, Copy)]
pub struct PhaseKey<'a> {
    pub run_id: &'a str,
    pub phase_id: &'a str,
    pub role_id: &'a str,
    pub attempt_kind: &'a str,
}

/// The rows of one phase as one read found them.
#[derive(Debug, Clone)]
pub struct PhaseRows {
    pub phase: PhaseRow,
    /// The idempotency keys of all of the phase's events.
    pub event_keys: Vec<String>,
    /// The phase's newest event of the key's `attempt_kind`.
    pub attempt_event: Option<EventRow>,
    /// The role's newest session in the run.
    pub session: Option<SessionRow>,
    /// The artifact the phase's row points at (its current attempt's).
    pub artifact: Option<ArtifactRow>,
}

/// The statements, written once for both backends: `queries!(key)` is the phase's row joined
/// with its artifact, its role's newest session and its newest attempt event, and the keys of
/// its events.
macro_rules! queries {
    ($key:expr) => {{
        let key: &PhaseKey = $key;
        // Bound by value: diesel asks a join with an aliased subquery for `'static` binds.
        let (run_id, phase_id) = (key.run_id.to_owned(), key.phase_id.to_owned());
        let (role_id, attempt_kind) = (key.role_id.to_owned(), key.attempt_kind.to_owned());
        // The events under another name in the subquery, which must not read the joined row.
        let attempts = diesel::alias!(run_events as attempt_events);
        let newest_attempt = attempts
            .filter(attempts.field(run_events::run_id).eq(run_id.clone()))
            .filter(attempts.field(run_events::phase_id).eq(phase_id.clone()))
            .filter(attempts.field(run_events::kind).eq(attempt_kind))
            .select(max(attempts.field(run_events::id)))
            .single_value();
        // One row per session of the role (nearly always one), the newest first: `get_result`
        // takes it. (No `LIMIT`: SQLite re-prepares a statement with a bound one each time.)
        let rows = run_phases::table
            .left_join(artifacts::table.on(artifacts::id.nullable().eq(run_phases::artifact_id)))
            .left_join(tui_sessions::table.on(
                tui_sessions::run_id.eq(run_phases::run_id).and(tui_sessions::role_id.eq(role_id)),
            ))
            .left_join(run_events::table.on(run_events::id.nullable().eq(newest_attempt)))
            .filter(run_phases::id.eq(phase_id.clone()))
            .order((tui_sessions::created_at.desc(), tui_sessions::id.desc()));
        let keys = run_events::table
            .filter(run_events::run_id.eq(run_id))
            .filter(run_events::phase_id.eq(phase_id))
            .select(run_events::idempotency_key);
        (rows, keys)
    }};
}

/// The joined row: the phase, its artifact, its role's session, its attempt event.
type Joined = (PhaseRecord, Option<ArtifactRecord>, Option<SessionRecord>, Option<EventRecord>);

/// The statements' raw outcomes.
pub(crate) type Records = (diesel::QueryResult<Option<Joined>>, diesel::QueryResult<Vec<String>>);

impl Db {
    /// Reads the rows of `key`'s phase outside any step. They are a few indexed rows, which a
    /// WAL reader never waits for: on SQLite the statements run on the calling thread, as a
    /// step's do, without the handoffs to the blocking pool that other reads take (`lane.rs`).
    pub async fn read_phase_rows(&self, key: &PhaseKey<'_>) -> Result<PhaseRows> {
        let mut tx = self.checkout().await?;
        tx.set_reading(true);
        let rows = inline(tx.phase_rows(key)).await;
        tx.set_reading(false);
        rows
    }
}

impl Tx {
    /// Reads the rows of `key`'s phase (see the module docs).
    pub async fn phase_rows(&mut self, key: &PhaseKey<'_>) -> Result<PhaseRows> {
        let deferred = self.take_deferred();
        let records = match self.conn_mut() {
            Conn::Sqlite(object) => on_sqlite(object, key).await,
            Conn::Postgres(object) => {
                let shared: &AsyncPgConnection = object;
                let (sent, records) =
                    tokio::join!(send_deferred(shared, deferred), on_postgres(shared, key));
                sent?;
                records
            }
        };
        rows_of(records)
    }
}

/// The statements one after another on SQLite's one connection.
pub(crate) async fn on_sqlite(c: &mut Lite, key: &PhaseKey<'_>) -> Records {
    let (rows, keys) = queries!(key);
    let rows = rows.get_result(c).await.optional();
    (rows, keys.load(c).await)
}

/// The statements pipelined on PostgreSQL: polled together, they go out in one round trip.
pub(crate) async fn on_postgres(shared: &AsyncPgConnection, key: &PhaseKey<'_>) -> Records {
    let (rows, keys) = queries!(key);
    let (mut c1, mut c2) = (shared, shared);
    let (rows, keys) = tokio::join!(rows.get_result(&mut c1), keys.load(&mut c2));
    (rows.optional(), keys)
}

/// The rows, or the first statement's error.
pub(crate) fn rows_of(records: Records) -> Result<PhaseRows> {
    let (rows, keys) = records;
    let rows = rows.or_db("read phase")?;
    let (phase, artifact, session, attempt_event) =
        rows.ok_or_else(|| Error::corruption("run phase does not exist"))?;
    Ok(PhaseRows {
        phase: PhaseRow::try_from(phase)?,
        event_keys: keys.or_db("list phase event keys")?,
        attempt_event: attempt_event.map(EventRow::try_from).transpose()?,
        session: session.map(SessionRow::try_from).transpose()?,
        artifact: artifact.map(ArtifactRow::try_from).transpose()?,
    })
}
