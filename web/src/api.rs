//! The JSON API under `/api/`: the runs, a run, its events — the documents of `status --json`
//! and `events --json`, built by `devflow_phase::view` for both, so the two cannot drift.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use devflow_core::Error;
use devflow_phase::view::{self, RunView};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::pages::{not_found, status_of};

/// `GET /api/runs`: `status --json` (newest first).
pub(crate) async fn runs(State(app): State<Arc<App>>) -> Response {
    let loaded = view::load_runs(&app.db).await.map(|mut runs| {
        runs.sort_by_key(|(run, _)| std::cmp::Reverse((run.created_at, run.id.clone())));
        let list: Vec<Value> =
            runs.iter().map(|(run, phases)| view::run_summary_json(run, phases)).collect();
        Value::Array(list)
    });
    answer(loaded)
}

/// `GET /api/runs/{id}`: `status RUN --json`.
pub(crate) async fn run(State(app): State<Arc<App>>, Path(run_id): Path<String>) -> Response {
    let loaded = RunView::load(&app.db, &run_id)
        .await
        .and_then(|view| view.map(|view| view.to_json()).ok_or_else(|| not_found(&run_id)));
    answer(loaded)
}

#[derive(Debug, Deserialize)]
pub(crate) struct After {
    /// Only events with a greater id.
    #[serde(default)]
    after: i64,
}

/// `GET /api/runs/{id}/events[?after=ID]`: the lines of `events RUN --json`, as an array.
pub(crate) async fn events(
    State(app): State<Arc<App>>,
    Path(run_id): Path<String>,
    Query(after): Query<After>,
) -> Response {
    let id = run_id.clone();
    let loaded = app
        .db
        .read(move |tx| {
            Box::pin(async move {
                let Some(_) = tx.run(&id).await? else { return Err(not_found(&id)) };
                let keys = view::phase_keys(&tx.phases(&id).await?);
                let events = tx.events(&id, after.after).await?;
                Ok(Value::Array(
                    events.iter().map(|event| view::event_json(event, &keys)).collect(),
                ))
            })
        })
        .await;
    answer(loaded)
}

fn answer(loaded: Result<Value, Error>) -> Response {
    match loaded {
        Ok(document) => Json(document).into_response(),
        Err(error) => {
            let body = json!({
                "error": { "code": error.code().as_str(), "message": error.message(), "hint": error.recovery_hint() },
            });
            (status_of(error.code()), Json(body)).into_response()
        }
    }
}
