//! Live updates: one task polls the event log for new event ids (SQLite has no notifications;
//! one cheap query per poll, and none of the event rows while nobody watches) and hands each
//! new event to every open page as a server-sent event. A page then fetches the part of
//! itself that changed; the stream carries only ids, runs and event types.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use devflow_db::Db;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::App;

/// How often the log is looked at.
const POLL_MS: u64 = 200;
/// New events a slow page may fall behind by before it is told to fetch everything again.
const BACKLOG_EVENTS: usize = 1024;

/// One new event, as a page hears of it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Change {
    pub id: i64,
    pub run: String,
    #[serde(rename = "type")]
    pub kind: String,
}

pub(crate) struct Live {
    sender: broadcast::Sender<Change>,
}

impl Live {
    /// Starts the poller; it stops with `shutdown`.
    pub fn start(db: Db, shutdown: CancellationToken) -> Live {
        let (sender, _) = broadcast::channel(BACKLOG_EVENTS);
        tokio::spawn(poll(db, sender.clone(), shutdown));
        Live { sender }
    }
}

async fn poll(db: Db, sender: broadcast::Sender<Change>, shutdown: CancellationToken) {
    let mut last = None;
    loop {
        let next = match last {
            // Nobody watches: keep up with the newest id only.
            Some(after) if sender.receiver_count() > 0 => db
                .read(move |tx| Box::pin(async move { tx.events_since(after).await }))
                .await
                .map(|events| {
                    for event in &events {
                        let change = Change {
                            id: event.id,
                            run: event.run_id.clone(),
                            kind: event.kind.clone(),
                        };
                        let _ = sender.send(change);
                    }
                    events.last().map_or(after, |event| event.id)
                }),
            _ => db.read(|tx| Box::pin(async move { tx.latest_event_id().await })).await,
        };
        match next {
            Ok(id) => last = Some(id),
            Err(error) => tracing::warn!(%error, "reading new events for the live pages failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(POLL_MS)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Filter {
    /// Only this run's events (a run's page); every run's without it (the runs page).
    run: Option<String>,
}

/// `GET /live[?run=ID]`: a `change` event for each new event; `resync` after falling behind.
pub(crate) async fn stream(
    State(app): State<Arc<App>>,
    Query(filter): Query<Filter>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = app.live.sender.subscribe();
    let shutdown = app.shutdown.clone();
    let state = (receiver, filter.run, shutdown);
    let events = futures_util::stream::unfold(state, |(mut receiver, run, shutdown)| async move {
        loop {
            let received = tokio::select! {
                received = receiver.recv() => received,
                () = shutdown.cancelled() => return None,
            };
            let event = match received {
                Ok(change) if run.as_ref().is_some_and(|run| run != &change.run) => continue,
                Ok(change) => Event::default()
                    .event("change")
                    .id(change.id.to_string())
                    .data(serde_json::to_string(&change).unwrap_or_default()),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Event::default().event("resync").data("{}")
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            return Some((Ok(event), (receiver, run, shutdown)));
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
