//! `notifications`: the outbox of what tells a person something, one row per causing event,
//! written in that event's step and worked off by a notifier (claim, deliver, retry, give up).

use devflow_core::{Result, canonical_json};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::cached::cached;
use crate::conn::{Tx, on_conn, write_or_defer};
use crate::error::QueryResultExt;
use crate::records::{NotificationRecord, convert_all};
use crate::schema::notifications;
use crate::{NewNotification, NotificationRow, NotificationState, now_ms};

impl Tx {
    /// Writes the notification of an event, once: a replayed step finds it there and adds
    /// nothing. Deferred on PostgreSQL, like the event it goes with.
    pub async fn record_notification(&mut self, new: &NewNotification<'_>) -> Result<()> {
        let (run_id, event_key, topic) =
            (new.run_id.to_owned(), new.event_key.to_owned(), new.topic.to_owned());
        let now = now_ms();
        macro_rules! insert {
            ($c:expr) => {
                diesel::insert_into(notifications::table)
                    .values((
                        notifications::run_id.eq(&run_id),
                        notifications::event_key.eq(&event_key),
                        notifications::topic.eq(&topic),
                        notifications::state.eq(NotificationState::Pending.as_str()),
                        notifications::attempts.eq(0),
                        notifications::next_attempt_at.eq(now),
                        notifications::delivered.eq("[]"),
                        notifications::created_at.eq(now),
                    ))
                    .on_conflict(notifications::event_key)
                    .do_nothing()
                    .execute($c)
                    .await
                    .or_db("record notification")
                    .map(drop)
            };
        }
        write_or_defer!(
            self,
            sqlite = |c| insert!(c),
            postgres = |conn| {
                let mut handle = conn;
                insert!(&mut handle)
            },
        )
    }

    /// Pending notifications due at `now_ms` that no live claim holds, oldest first: the
    /// run's, or every run's.
    pub async fn due_notifications(
        &mut self,
        now_ms: i64,
        run_id: Option<&str>,
    ) -> Result<Vec<NotificationRow>> {
        let due = notifications::table
            .filter(notifications::state.eq(NotificationState::Pending.as_str()))
            .filter(notifications::next_attempt_at.le(now_ms))
            .filter(
                notifications::claimed_until.is_null().or(notifications::claimed_until.lt(now_ms)),
            )
            .order(notifications::id.asc());
        let records: Vec<NotificationRecord> = match run_id {
            Some(id) => {
                let query = due.filter(notifications::run_id.eq(id));
                on_conn!(self, |c| query.load(c).await)
            }
            None => on_conn!(self, |c| due.load(c).await),
        }
        .or_db("list due notifications")?;
        convert_all(records)
    }

    /// The run's notifications, oldest first.
    pub async fn notifications(&mut self, run_id: &str) -> Result<Vec<NotificationRow>> {
        let query = notifications::table
            .filter(notifications::run_id.eq(run_id))
            .order(notifications::id.asc());
        let records: Vec<NotificationRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list notifications")?;
        convert_all(records)
    }

    /// Claims a pending notification for `owner` until `until_ms`, unless another live claim
    /// holds it. Returns whether `owner` holds it now.
    pub async fn claim_notification(
        &mut self,
        id: i64,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let target = notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::state.eq(NotificationState::Pending.as_str()))
            .filter(
                notifications::claimed_until
                    .is_null()
                    .or(notifications::claimed_until.lt(now_ms))
                    .or(notifications::claimed_by.eq(owner)),
            );
        let changes =
            (notifications::claimed_by.eq(owner), notifications::claimed_until.eq(until_ms));
        let updated =
            on_conn!(self, |c| cached(diesel::update(target).set(changes)).execute(c).await)
                .or_db("claim notification")?;
        Ok(updated == 1)
    }

    /// Records the sinks that have the notification; with `all_sent` it is sent and its claim
    /// let go. Returns whether `owner` still held it (a claim that ran out and was taken over
    /// is the other notifier's now).
    pub async fn notification_delivered(
        &mut self,
        id: i64,
        owner: &str,
        delivered: &[String],
        all_sent: bool,
    ) -> Result<bool> {
        let target = notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::claimed_by.eq(owner));
        let list = canonical_json(&serde_json::json!(delivered));
        let updated = if all_sent {
            let changes = (
                notifications::delivered.eq(&list),
                notifications::state.eq(NotificationState::Sent.as_str()),
                notifications::sent_at.eq(Some(now_ms())),
                notifications::claimed_by.eq(None::<String>),
                notifications::claimed_until.eq(None::<i64>),
            );
            on_conn!(self, |c| cached(diesel::update(target).set(changes)).execute(c).await)
        } else {
            let changes = notifications::delivered.eq(&list);
            on_conn!(self, |c| cached(diesel::update(target).set(changes)).execute(c).await)
        }
        .or_db("record notification delivered")?;
        Ok(updated == 1)
    }

    /// A failed send: one attempt more, its error, and the next try at `retry_at_ms` — or,
    /// without one, the notification given up. The claim is let go either way.
    pub async fn notification_failed(
        &mut self,
        id: i64,
        owner: &str,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<()> {
        let target = notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::claimed_by.eq(owner));
        let state = match retry_at_ms {
            Some(_) => NotificationState::Pending,
            None => NotificationState::Failed,
        };
        let changes = (
            notifications::attempts.eq(notifications::attempts + 1),
            notifications::last_error.eq(Some(error)),
            notifications::state.eq(state.as_str()),
            notifications::next_attempt_at.eq(retry_at_ms.unwrap_or_else(now_ms)),
            notifications::claimed_by.eq(None::<String>),
            notifications::claimed_until.eq(None::<i64>),
        );
        on_conn!(self, |c| cached(diesel::update(target).set(changes)).execute(c).await)
            .or_db("record notification failure")?;
        Ok(())
    }
}
