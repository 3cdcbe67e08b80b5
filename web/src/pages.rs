//! The pages, rendered on the server with maud, which escapes every value it splices into
//! text or an attribute: names, notes, payloads, artifacts and transcripts come from workflow
//! files and agents, and agents are untrusted. Nothing is spliced unescaped but the drawing
//! (itself maud) and JSON shown inside `<pre>` after escaping. `run` has a run's page.

pub(crate) mod run;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use devflow_core::{Code, Error, StateMachine};
use devflow_db::{PhaseRow, RunRow, now_ms};
use devflow_phase::view::{self, time};
use maud::{DOCTYPE, Markup, html};

use crate::App;

/// The frame every page shares; `live` names the parts' URL and the event stream to follow.
pub(crate) fn layout(title: &str, live: Option<(&str, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · devflow" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header.top { a href="/" { "devflow" } }
                @match live {
                    Some((fragment, stream)) => main id="live" data-fragment=(fragment) data-stream=(stream) { (body) },
                    None => main { (body) },
                }
                @if live.is_some() { script src="/static/live.js" defer {} }
            }
        }
    }
}

/// `GET /`: the runs, those waiting for a person first, then the newest.
pub(crate) async fn runs(State(app): State<Arc<App>>) -> Response {
    match view::load_runs(&app.db).await {
        Ok(runs) => {
            let body = html! { h1 { "Runs" } (runs_table(&runs)) };
            layout("Runs", Some(("/parts/runs", "/live")), body).into_response()
        }
        Err(error) => failure(&error),
    }
}

/// `GET /parts/runs`: the runs page's parts, for the live update.
pub(crate) async fn runs_parts(State(app): State<Arc<App>>) -> Response {
    match view::load_runs(&app.db).await {
        Ok(runs) => runs_table(&runs).into_response(),
        Err(error) => failure(&error),
    }
}

fn runs_table(runs: &[(RunRow, Vec<PhaseRow>)]) -> Markup {
    let now = now_ms();
    html! {
        section id="runs" {
            @if runs.is_empty() {
                p.muted { "No runs yet: " code { "devflow run WORKFLOW" } " starts one; it shows here at once." }
            } @else {
                table {
                    thead { tr { th { "Run" } th { "Workflow" } th { "State" } th { "Phase" } th { "Created" } th { "Updated" } } }
                    tbody {
                        @for (run, phases) in runs {
                            @let waiting = view::waits_for_a_person(run.state);
                            tr class=[waiting.then_some("waiting")] data-run=(run.id) data-state=(run.state.as_str()) {
                                td { a href={"/runs/" (segment(&run.id))} { (run.id) } }
                                td { (run.workflow) }
                                td { (state(run.state.as_str())) @if waiting { " " strong { "waiting for you" } } }
                                td { (view::current_phase_keys(phases).unwrap_or_else(|| "-".to_owned())) }
                                td { (when(now, run.created_at)) }
                                td { (time::age(now, run.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A state as a badge.
pub(crate) fn state(name: &str) -> Markup {
    html! { span class={"state " (name)} { (name) } }
}

/// `2026-12-02 16:39:05` with its age beside it.
pub(crate) fn when(now: i64, epoch_ms: i64) -> Markup {
    html! { (time::local(epoch_ms)) " " span.muted { "(" (time::age(now, epoch_ms)) ")" } }
}

/// A path segment with everything but unreserved characters percent-encoded.
pub(crate) fn segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// What went wrong, as a page: the message and the hint, and that nothing was changed when
/// the error is a refusal.
pub(crate) fn refusal(error: &Error, back: Option<&str>) -> Response {
    refusal_as(status_of(error.code()), error, back)
}

/// [`refusal`] with a status of the caller's choosing.
pub(crate) fn refusal_as(status: StatusCode, error: &Error, back: Option<&str>) -> Response {
    let body = html! {
        h1 { "Not done" }
        div.error-box {
            p { (error.message()) " " span.muted { "[" (error.code().as_str()) "]" } }
            @if let Some(hint) = error.recovery_hint() { p { "hint: " (hint) } }
            @if status.is_client_error() { p { "Nothing was changed." } }
        }
        @if let Some(back) = back { p { a href=(back) { "Back to the run" } } }
    };
    (status, layout("Not done", None, body)).into_response()
}

/// A failure to read what a page shows.
pub(crate) fn failure(error: &Error) -> Response {
    refusal(error, None)
}

/// The HTTP status of an error: a refusal is the asker's (4xx), a failure the server's (5xx).
pub(crate) fn status_of(code: Code) -> StatusCode {
    match code {
        Code::RunNotFound => StatusCode::NOT_FOUND,
        // The run or its artifact is not as the page showed it: a decision on it is refused
        // and nothing is decided (the artifact changed since it was validated, another
        // process drives the run, or the run moved on).
        Code::RunLeased | Code::RunStateChanged | Code::ArtifactChanged => StatusCode::CONFLICT,
        Code::InvalidInput
        | Code::SchemaInvalid
        | Code::ArtifactOutsideWorktree
        | Code::WorkspacePermissions
        | Code::TmuxMissing => StatusCode::BAD_REQUEST,
        Code::DatabaseBusy | Code::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub(crate) fn not_found(run_id: &str) -> Error {
    Error::new(Code::RunNotFound, format!("run {run_id} does not exist in this database"))
        .with_hint("the runs page lists the runs")
}
