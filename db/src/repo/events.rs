//! `run_events`: the append-only event log, idempotent by key.

use devflow_core::{Error, Result, canonical_json};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::conn::{Tx, on_conn};
use crate::error::QueryResultExt;
use crate::records::{EventRecord, convert_all};
use crate::schema::run_events;
use crate::{Appended, EventRow, NewEvent, now_ms};

impl Tx {
    /// Inserts the event, or finds the one already stored under its idempotency key. A stored
    /// event that differs in run, phase, type or canonical payload means two different steps
    /// claimed one key: `InternalStateCorruption`.
    pub async fn append_event(&mut self, event: &NewEvent<'_>) -> Result<Appended> {
        let payload = canonical_json(event.payload);
        let values = (
            run_events::run_id.eq(event.run_id),
            run_events::phase_id.eq(event.phase_id),
            run_events::kind.eq(event.kind),
            run_events::payload.eq(&payload),
            run_events::idempotency_key.eq(event.idempotency_key),
            run_events::created_at.eq(now_ms()),
        );
        // ON CONFLICT DO NOTHING returns no row for a duplicate on both backends.
        let inserted: Option<EventRecord> =
            on_conn!(self, |c| diesel::insert_into(run_events::table)
                .values(values)
                .on_conflict(run_events::idempotency_key)
                .do_nothing()
                .returning(run_events::all_columns)
                .get_result(c)
                .await)
            .optional()
            .or_db("append event")?;
        if let Some(record) = inserted {
            return Ok(Appended::Inserted(EventRow::try_from(record)?));
        }
        let stored = self
            .event_by_key(event.idempotency_key)
            .await?
            .ok_or_else(|| {
                Error::corruption(format!(
                    "event {} conflicted on insert but is not stored",
                    event.idempotency_key
                ))
            })?;
        let same = stored.run_id == event.run_id
            && stored.phase_id.as_deref() == event.phase_id
            && stored.kind == event.kind
            && canonical_json(&stored.payload) == payload;
        if !same {
            return Err(Error::corruption(format!(
                "event {} replayed with another run, phase, type or payload than stored",
                event.idempotency_key
            ))
            .with_run(event.run_id));
        }
        Ok(Appended::Replayed(stored))
    }

    pub async fn event_by_key(&mut self, idempotency_key: &str) -> Result<Option<EventRow>> {
        let query = run_events::table.filter(run_events::idempotency_key.eq(idempotency_key));
        let record: Option<EventRecord> = on_conn!(self, |c| query.get_result(c).await)
            .optional()
            .or_db("read event")?;
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
