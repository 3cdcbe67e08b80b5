//! `run_events`: the append-only event log, idempotent by key.

use devflow_core::{Error, Result, canonical_json};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::cached::cached;
use crate::conn::{Conn, Tx, checked, on_conn};
use crate::error::QueryResultExt;
use crate::records::{EventRecord, convert_all};
use crate::schema::run_events;
use crate::{Appended, EventRow, NewEvent, now_ms};

/// An event ready to insert: owned, so that a deferred insert can carry it, with its payload
/// already canonical.
struct Pending {
    run_id: String,
    phase_id: Option<String>,
    kind: String,
    payload: String,
    key: String,
    created_at: i64,
}

/// The insertable columns of a [`Pending`] event.
type EventValues<'a> = (
    diesel::dsl::Eq<run_events::run_id, &'a String>,
    diesel::dsl::Eq<run_events::phase_id, &'a Option<String>>,
    diesel::dsl::Eq<run_events::kind, &'a String>,
    diesel::dsl::Eq<run_events::payload, &'a String>,
    diesel::dsl::Eq<run_events::idempotency_key, &'a String>,
    diesel::dsl::Eq<run_events::created_at, i64>,
);

impl Pending {
    fn of(event: &NewEvent<'_>) -> Pending {
        Pending {
            run_id: event.run_id.to_owned(),
            phase_id: event.phase_id.map(str::to_owned),
            kind: event.kind.to_owned(),
            payload: canonical_json(event.payload),
            key: event.idempotency_key.to_owned(),
            created_at: now_ms(),
        }
    }

    fn values(&self) -> EventValues<'_> {
        (
            run_events::run_id.eq(&self.run_id),
            run_events::phase_id.eq(&self.phase_id),
            run_events::kind.eq(&self.kind),
            run_events::payload.eq(&self.payload),
            run_events::idempotency_key.eq(&self.key),
            run_events::created_at.eq(self.created_at),
        )
    }

    /// Two different steps claimed one idempotency key.
    fn replay_differs(&self) -> Error {
        Error::corruption(format!(
            "event {} replayed with another run, phase, type or payload than stored",
            self.key
        ))
        .with_run(&self.run_id)
    }

    /// The stored row as inserted now, or as found under the key (a replay, which must match).
    fn outcome(&self, inserted: bool, stored: Option<EventRecord>) -> Result<Appended> {
        let stored = stored.ok_or_else(|| {
            Error::corruption(format!("event {} conflicted on insert but is not stored", self.key))
        })?;
        let row = EventRow::try_from(stored)?;
        if inserted {
            return Ok(Appended::Inserted(row));
        }
        let same = row.run_id == self.run_id
            && row.phase_id == self.phase_id
            && row.kind == self.kind
            && canonical_json(&row.payload) == self.payload;
        if !same {
            return Err(self.replay_differs());
        }
        Ok(Appended::Replayed(row))
    }
}

/// An event's deferred insert on PostgreSQL, checked in the same statement: the event is new,
/// or the one stored under its key is a replay of the same run, phase, type and canonical
/// payload. (The outer `SELECT` sees the table as it was before the insert.)
const RECORD_EVENT_PG: &str = "WITH inserted AS (\
     INSERT INTO run_events (run_id, phase_id, type, payload, idempotency_key, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1) \
     SELECT CASE WHEN EXISTS (SELECT 1 FROM inserted) OR EXISTS (SELECT 1 FROM run_events \
     WHERE idempotency_key = $5 AND run_id = $1 AND phase_id IS NOT DISTINCT FROM $2 \
     AND type = $3 AND payload = $4) THEN true ELSE devflow_check(false, $7) END";

/// `INSERT .. ON CONFLICT DO NOTHING RETURNING`, and on a conflict the row stored under the
/// key: `(inserted, row)`. Written once for a connection `$c` of either backend.
macro_rules! insert_or_find {
    ($c:expr, $event:expr) => {
        async {
            let event: &Pending = $event;
            let values = event.values();
            // ON CONFLICT DO NOTHING returns no row for a duplicate on both backends.
            let inserted: Option<EventRecord> = diesel::insert_into(run_events::table)
                .values(values)
                .on_conflict(run_events::idempotency_key)
                .do_nothing()
                .returning(run_events::all_columns)
                .get_result(&mut *$c)
                .await
                .optional()?;
            match inserted {
                Some(record) => Ok((true, Some(record))),
                None => run_events::table
                    .filter(run_events::idempotency_key.eq(&event.key))
                    .get_result::<EventRecord>(&mut *$c)
                    .await
                    .optional()
                    .map(|stored| (false, stored)),
            }
        }
        .await
    };
}

/// `record_event` on SQLite: the insert, and on a conflict the stored event's columns (a
/// payload is stored as its canonical text, so comparing texts compares payloads), without
/// reading back and parsing the row that `append_event` returns.
async fn record_on_sqlite(c: &mut crate::conn::Lite, event: &Pending) -> Result<()> {
    let inserted = diesel::insert_into(run_events::table)
        .values(event.values())
        .on_conflict(run_events::idempotency_key)
        .do_nothing()
        .execute(&mut *c)
        .await
        .or_db("append event")?;
    if inserted == 1 {
        return Ok(());
    }
    let stored: Option<(String, Option<String>, String, String)> = run_events::table
        .filter(run_events::idempotency_key.eq(&event.key))
        .select((run_events::run_id, run_events::phase_id, run_events::kind, run_events::payload))
        .get_result(c)
        .await
        .optional()
        .or_db("append event")?;
    match stored {
        Some((run_id, phase_id, kind, payload))
            if run_id == event.run_id
                && phase_id == event.phase_id
                && kind == event.kind
                && payload == event.payload =>
        {
            Ok(())
        }
        _ => Err(event.replay_differs()),
    }
}

impl Tx {
    /// Inserts the event, or finds the one already stored under its idempotency key. A stored
    /// event that differs in run, phase, type or canonical payload means two different steps
    /// claimed one key: `InternalStateCorruption`.
    pub async fn append_event(&mut self, event: &NewEvent<'_>) -> Result<Appended> {
        let event = Pending::of(event);
        let (inserted, stored) =
            on_conn!(self, |c| insert_or_find!(c, &event)).or_db("append event")?;
        event.outcome(inserted, stored)
    }

    /// `append_event` for a caller that needs no row back. On PostgreSQL the insert is deferred:
    /// it goes out with the step's next statement or before its commit, and its check fails
    /// the step then.
    pub async fn record_event(&mut self, event: &NewEvent<'_>) -> Result<()> {
        let event = Pending::of(event);
        if let Conn::Sqlite(c) = self.conn_mut() {
            return record_on_sqlite(c, &event).await;
        }
        self.defer(Box::new(move |conn| {
            Box::pin(async move {
                let mut handle = conn;
                let refusal = event.replay_differs().message().to_owned();
                let outcome = cached(
                    diesel::sql_query(RECORD_EVENT_PG)
                        .bind::<Text, _>(&event.run_id)
                        .bind::<Nullable<Text>, _>(&event.phase_id)
                        .bind::<Text, _>(&event.kind)
                        .bind::<Text, _>(&event.payload)
                        .bind::<Text, _>(&event.key)
                        .bind::<BigInt, _>(event.created_at)
                        .bind::<Text, _>(&refusal),
                )
                .execute(&mut handle)
                .await;
                checked("append event", outcome, |_| event.replay_differs())
            })
        }));
        Ok(())
    }

    pub async fn event_by_key(&mut self, idempotency_key: &str) -> Result<Option<EventRow>> {
        let query = run_events::table.filter(run_events::idempotency_key.eq(idempotency_key));
        let record: Option<EventRecord> =
            on_conn!(self, |c| query.get_result(c).await).optional().or_db("read event")?;
        record.map(EventRow::try_from).transpose()
    }

    /// The run's events with id > `after_id`, oldest first (`after_id` 0 for all of them).
    pub async fn events(&mut self, run_id: &str, after_id: i64) -> Result<Vec<EventRow>> {
        let query = run_events::table
            .filter(run_events::run_id.eq(run_id))
            .filter(run_events::id.gt(after_id))
            .order(run_events::id.asc());
        let records: Vec<EventRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list events")?;
        convert_all(records)
    }

    /// Every run's events with id > `after_id`, oldest first: what a live view has not seen.
    pub async fn events_since(&mut self, after_id: i64) -> Result<Vec<EventRow>> {
        let query =
            run_events::table.filter(run_events::id.gt(after_id)).order(run_events::id.asc());
        let records: Vec<EventRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list new events")?;
        convert_all(records)
    }

    /// The id of the newest event of any run (0 when there is none).
    pub async fn latest_event_id(&mut self) -> Result<i64> {
        let query = run_events::table.select(diesel::dsl::max(run_events::id));
        let id: Option<i64> =
            on_conn!(self, |c| query.get_result(c).await).or_db("read the newest event id")?;
        Ok(id.unwrap_or(0))
    }

    /// How many events of `kind` the run has.
    pub async fn count_events(&mut self, run_id: &str, kind: &str) -> Result<u64> {
        let query = run_events::table
            .filter(run_events::run_id.eq(run_id))
            .filter(run_events::kind.eq(kind))
            .count();
        let count: i64 = on_conn!(self, |c| query.get_result(c).await).or_db("count events")?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// The phase's events of one type, oldest first.
    pub async fn phase_events(
        &mut self,
        run_id: &str,
        phase_id: &str,
        kind: &str,
    ) -> Result<Vec<EventRow>> {
        let query = run_events::table
            .filter(run_events::run_id.eq(run_id))
            .filter(run_events::phase_id.eq(phase_id))
            .filter(run_events::kind.eq(kind))
            .order(run_events::id.asc());
        let records: Vec<EventRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list phase events")?;
        convert_all(records)
    }
}
