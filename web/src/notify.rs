//! The notifier: works off the outbox (`notifications`), sending each row to the sinks of its
//! run's workflow (`[notify]`, from the run's stored snapshot) and of the user's file.
//!
//! Every devflow process that drives runs has one: `run`, `approve`, `reject` and `resume` for
//! the run they drive (and, before they exit, they send what became due, for a bounded time),
//! `serve` for every run. Delivery is at least once. A row is claimed before it is sent (so two
//! processes never send it at once) and each sink that took it is recorded the moment it did,
//! so after a crash only the sink being sent to when devflow died can get it twice — the
//! window between the sink's answer and one commit. Every notification carries its event's
//! idempotency key (`id` in the JSON, `Idempotency-Key` on a webhook) for a receiver to drop
//! such a duplicate. A failing sink is retried with backoff and given up after
//! [`Settings::attempts_max`] tries, its error kept on the row; a sink that hangs is stopped at
//! its timeout. None of this blocks a run or changes how it ends.

mod body;
mod sinks;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use devflow_core::Error;
use devflow_db::{Db, NotificationRow, NotificationState, now_ms};
use devflow_phase::Workflow;
use devflow_phase::notify::{Notify, Topic};
use tokio_util::sync::CancellationToken;

use sinks::Sink;

/// Which rows a notifier sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every run's (`devflow serve`).
    Every,
    /// One run's: the one this process drives.
    Run(String),
}

impl Scope {
    fn run_id(&self) -> Option<&str> {
        match self {
            Scope::Every => None,
            Scope::Run(id) => Some(id),
        }
    }
}

/// Timeouts, retries and polling.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long one sink may take (a command to exit, a webhook to answer).
    pub sink_timeout_ms: u64,
    /// Tries before a notification is given up.
    pub attempts_max: u32,
    /// The wait before the first retry; it doubles each time, up to `backoff_max_ms`.
    pub backoff_first_ms: i64,
    pub backoff_max_ms: i64,
    /// How often the outbox is looked at.
    pub poll_ms: u64,
    /// A notification older than this when first tried is not sent: it is news no more.
    pub stale_ms: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sink_timeout_ms: 10_000,
            attempts_max: 8,
            backoff_first_ms: 1_000,
            backoff_max_ms: 300_000,
            poll_ms: 500,
            stale_ms: 24 * 3_600_000,
        }
    }
}

#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    scope: Scope,
    /// The user's own file, read once when the notifier starts.
    user: Option<Notify>,
    owner: String,
    settings: Settings,
}

impl Notifier {
    pub fn new(db: Db, scope: Scope, user: Option<Notify>) -> Notifier {
        Notifier::with_settings(db, scope, user, Settings::default())
    }

    pub fn with_settings(
        db: Db,
        scope: Scope,
        user: Option<Notify>,
        settings: Settings,
    ) -> Notifier {
        let owner = format!("notifier:{}:{}", std::process::id(), devflow_db::new_id());
        Notifier { inner: Arc::new(Inner { db, scope, user, owner, settings }) }
    }

    /// Sends the rows due now, one after another.
    pub async fn pass(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let scope = inner.scope.run_id().map(str::to_owned);
        let due = inner
            .db
            .read(move |tx| {
                Box::pin(async move { tx.due_notifications(now_ms(), scope.as_deref()).await })
            })
            .await?;
        for row in due {
            inner.send(row).await?;
        }
        Ok(())
    }

    /// Sends in the background, every `poll_ms`, until [`Running::finish`].
    pub fn spawn(self) -> Running {
        let stop = CancellationToken::new();
        let (notifier, stopped) = (self.clone(), stop.clone());
        let task = tokio::spawn(async move {
            loop {
                if let Err(error) = notifier.pass().await {
                    tracing::warn!(%error, "sending notifications failed; trying again");
                }
                let wait = Duration::from_millis(notifier.inner.settings.poll_ms);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stopped.cancelled() => return,
                }
            }
        });
        Running { notifier: self, stop, task }
    }

    /// The scope's notifications not sent yet.
    pub async fn pending(&self) -> Result<usize, Error> {
        let scope = self.inner.scope.run_id().map(str::to_owned);
        let rows = self
            .inner
            .db
            .read(move |tx| {
                Box::pin(async move { tx.due_notifications(i64::MAX, scope.as_deref()).await })
            })
            .await?;
        Ok(rows.len())
    }
}

/// A notifier sending in the background.
pub struct Running {
    notifier: Notifier,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the background loop, then sends what is due for at most `max_wait`, and says how
    /// many of the scope's notifications are left for a later process (retries not due yet, a
    /// sink still failing).
    pub async fn finish(self, max_wait: Duration) -> usize {
        self.stop.cancel();
        let _ = self.task.await;
        let started = Instant::now();
        while started.elapsed() < max_wait {
            if let Err(error) = self.notifier.pass().await {
                tracing::warn!(%error, "sending notifications failed");
            }
            let scope = self.notifier.inner.scope.run_id().map(str::to_owned);
            let due = self
                .notifier
                .inner
                .db
                .read(move |tx| {
                    Box::pin(async move { tx.due_notifications(now_ms(), scope.as_deref()).await })
                })
                .await
                .map_or(0, |rows| rows.len());
            if due == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.notifier.pending().await.unwrap_or(0)
    }
}

impl Inner {
    /// Claims the row, sends it to each sink that does not have it yet, and records what came
    /// of it. Only a database error is returned; a sink's failure is the row's.
    async fn send(&self, row: NotificationRow) -> Result<(), Error> {
        let now = now_ms();
        let claim_ms = self.claim_ms();
        let (id, owner) = (row.id, self.owner.clone());
        let claimed = self
            .db
            .write(move |tx| {
                Box::pin(
                    async move { tx.claim_notification(id, &owner, now, now + claim_ms).await },
                )
            })
            .await?;
        if !claimed {
            return Ok(());
        }
        if row.attempts == 0
            && row.delivered.is_empty()
            && now - row.created_at > self.settings.stale_ms
        {
            return self
                .failed(&row, "older than a day when first seen: not sent".to_owned(), true)
                .await;
        }
        let Some(context) = body::Context::load(&self.db, &row).await? else {
            return self
                .failed(&row, "its event or run is not in the database".to_owned(), true)
                .await;
        };
        let sinks = self.sinks(&context.run.definition, &row.topic);
        let document = context.document(&row);
        let mut delivered = row.delivered.clone();
        for sink in
            sinks.iter().filter(|sink| !row.delivered.iter().any(|name| name == sink.name()))
        {
            let timeout = Duration::from_millis(self.settings.sink_timeout_ms);
            if let Err(error) = sink.send(&document, &row.event_key, timeout).await {
                let give_up = row.attempts + 1 >= self.settings.attempts_max;
                return self.failed(&row, format!("{}: {error}", sink.name()), give_up).await;
            }
            delivered.push(sink.name().to_owned());
            let all_sent =
                sinks.iter().all(|sink| delivered.iter().any(|name| name == sink.name()));
            if !self.delivered(row.id, &delivered, all_sent).await? {
                return Ok(());
            }
        }
        if delivered.len() == row.delivered.len() {
            // Nothing was left to send (no sinks, or all had it): the row is done.
            self.delivered(row.id, &delivered, true).await?;
        }
        Ok(())
    }

    /// A claim outlives every sink's timeout, so a live notifier never loses its row.
    fn claim_ms(&self) -> i64 {
        (self.settings.sink_timeout_ms as i64) * 4 + 10_000
    }

    /// The sinks for a row: its run's workflow's, then the user's, each if it wants the topic.
    fn sinks(&self, definition: &serde_json::Value, topic: &str) -> Vec<Sink> {
        let Some(topic) = Topic::parse(topic) else { return Vec::new() };
        let workflow =
            Workflow::from_definition(definition).ok().and_then(|workflow| workflow.notify);
        let mut sinks = Vec::new();
        for (origin, notify) in [("workflow", workflow.as_ref()), ("user", self.user.as_ref())] {
            if let Some(notify) = notify.filter(|notify| notify.wants(topic)) {
                sinks.extend(Sink::of(origin, notify));
            }
        }
        let mut seen = std::collections::HashSet::new();
        sinks.retain(|sink| seen.insert(sink.name().to_owned()));
        sinks
    }

    async fn delivered(
        &self,
        id: i64,
        delivered: &[String],
        all_sent: bool,
    ) -> Result<bool, Error> {
        let (owner, delivered) = (self.owner.clone(), delivered.to_vec());
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    tx.notification_delivered(id, &owner, &delivered, all_sent).await
                })
            })
            .await
    }

    async fn failed(
        &self,
        row: &NotificationRow,
        error: String,
        give_up: bool,
    ) -> Result<(), Error> {
        let retry_at = (!give_up).then(|| now_ms() + self.backoff_ms(row.attempts));
        let state = if give_up { NotificationState::Failed } else { NotificationState::Pending };
        tracing::warn!(notification = %row.event_key, %error, state = state.as_str(), "a notification was not sent");
        let (id, owner) = (row.id, self.owner.clone());
        self.db
            .write(move |tx| {
                Box::pin(async move { tx.notification_failed(id, &owner, &error, retry_at).await })
            })
            .await
    }

    /// `backoff_first_ms`, doubled for each failure so far, at most `backoff_max_ms`.
    fn backoff_ms(&self, failures: u32) -> i64 {
        let doubled = self.settings.backoff_first_ms.saturating_mul(1 << failures.min(20));
        doubled.min(self.settings.backoff_max_ms)
    }
}
