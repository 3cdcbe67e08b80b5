//! A run's page: its summary, the timeline, its gates (with Approve and Reject where one is
//! pending), phases, artifacts with their validation, notifications, the latest events, and
//! each role's transcript. Each part has an id, so the live update swaps only what changed.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use devflow_core::text::neutralize;
use devflow_core::{Error, RunState, StateMachine};
use devflow_db::{
    ApprovalRow, ApprovalState, ArtifactRow, Db, EventRow, NotificationRow, SessionRow, now_ms,
};
use devflow_phase::view::{self, RunView, time};
use maud::{Markup, html};

use super::{layout, not_found, refusal, segment, state, when};
use crate::App;
use crate::timeline::{Timeline, svg};

/// The newest events the page lists.
const EVENTS_SHOWN: usize = 200;
/// The end of a role's transcript the page shows; `devflow transcript` prints all of it.
const TRANSCRIPT_BYTES_SHOWN: usize = 64 * 1024;

/// Everything the page shows, read in one go.
pub(crate) struct RunPage {
    pub view: RunView,
    events: Vec<EventRow>,
    artifacts: Vec<ArtifactRow>,
    transcripts: Vec<(SessionRow, String)>,
    notifications: Vec<NotificationRow>,
    timeline: Timeline,
}

impl RunPage {
    pub async fn load(db: &Db, run_id: &str) -> Result<Option<RunPage>, Error> {
        let Some(view) = RunView::load(db, run_id).await? else { return Ok(None) };
        let id = run_id.to_owned();
        let (events, artifacts, transcripts, notifications) = db
            .read(move |tx| {
                Box::pin(async move {
                    let events = tx.events(&id, 0).await?;
                    let artifacts = tx.artifacts(&id).await?;
                    let mut transcripts = Vec::new();
                    for session in tx.sessions(&id).await? {
                        let chunks = tx.transcripts(&session.id).await?;
                        let text: String = chunks.iter().map(|chunk| chunk.text.as_str()).collect();
                        transcripts.push((session, text));
                    }
                    let notifications = tx.notifications(&id).await?;
                    Ok((events, artifacts, transcripts, notifications))
                })
            })
            .await?;
        let timeline = Timeline::build(&view.run, &view.phases, &events, now_ms());
        Ok(Some(RunPage { view, events, artifacts, transcripts, notifications, timeline }))
    }
}

/// `GET /runs/{id}`.
pub(crate) async fn page(State(app): State<Arc<App>>, Path(run_id): Path<String>) -> Response {
    match RunPage::load(&app.db, &run_id).await {
        Ok(Some(page)) => {
            let id = segment(&run_id);
            let (fragment, stream) = (format!("/parts/runs/{id}"), format!("/live?run={id}"));
            let body = parts(&page, app.guard.csrf().expose());
            layout(&format!("Run {run_id}"), Some((&fragment, &stream)), body).into_response()
        }
        Ok(None) => refusal(&not_found(&run_id), None),
        Err(error) => refusal(&error, None),
    }
}

/// `GET /parts/runs/{id}`: the page's parts, for the live update.
pub(crate) async fn parts_only(
    State(app): State<Arc<App>>,
    Path(run_id): Path<String>,
) -> Response {
    match RunPage::load(&app.db, &run_id).await {
        Ok(Some(page)) => parts(&page, app.guard.csrf().expose()).into_response(),
        Ok(None) => refusal(&not_found(&run_id), None),
        Err(error) => refusal(&error, None),
    }
}

fn parts(page: &RunPage, csrf: &str) -> Markup {
    let now = now_ms();
    html! {
        (summary(page, now))
        section id="timeline-part" { h2 { "Timeline" } (svg(&page.timeline)) }
        (gates(page, csrf, now))
        (phases(page, now))
        (artifacts(page, now))
        (notifications(page, now))
        (events(page))
        (transcripts(page))
    }
}

fn summary(page: &RunPage, now: i64) -> Markup {
    let run = &page.view.run;
    html! {
        section id="summary" data-state=(run.state.as_str()) {
            h1 { "Run " (run.id) " " (state(run.state.as_str())) }
            p {
                "workflow " strong { (run.workflow) }
                @if let Some(phases) = page.view.current_phase_keys() { " · phase " strong id="current-phase" { (phases) } }
                " · created " (when(now, run.created_at)) " · updated " (time::age(now, run.updated_at))
                @if let Some(ended) = run.ended_at { " · ended " (when(now, ended)) }
            }
            p.muted { "worktree " code { (run.worktree) } }
        }
    }
}

fn gates(page: &RunPage, csrf: &str, now: i64) -> Markup {
    let run = &page.view.run;
    html! {
        section id="gates" {
            h2 { "Gates" }
            @if page.view.gates.is_empty() { p.muted { "No gate yet." } }
            @for gate in page.view.gates.iter().rev() {
                @let pending = gate.state == ApprovalState::Pending;
                div class={"gate " (gate.state.as_str())} data-gate=(gate.gate_key) data-state=(gate.state.as_str()) {
                    strong { (gate.gate_key) } " on phase " (page.view.phase_key(&gate.phase_id)) " " (state(gate.state.as_str()))
                    " · opened " (when(now, gate.created_at))
                    @if let Some(by) = &gate.decided_by { " · decided by " strong { (by) } }
                    @if let Some(note) = &gate.decision_note { " · note: " em { (note) } }
                    @if let Some(hint) = gate.payload.get("recoveryHint").and_then(|hint| hint.as_str()) {
                        p { "hint: " (hint) }
                    }
                    details { summary { "payload" } pre { (pretty(&gate.payload)) } }
                    @if pending && matches!(run.state, RunState::AwaitingApproval | RunState::Paused) {
                        (decision_form(run, gate, csrf))
                    }
                }
            }
        }
    }
}

/// Approve and Reject, as `devflow approve` and `reject` (a human gate is approved by resuming
/// the run, and is not rejected).
fn decision_form(run: &devflow_db::RunRow, gate: &ApprovalRow, csrf: &str) -> Markup {
    let human = run.state == RunState::Paused;
    html! {
        form method="post" action={"/runs/" (segment(&run.id)) "/decide"} class="decide" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="gate" value=(gate.gate_key);
            input type="hidden" name="request" value=(gate.id);
            textarea name="note" placeholder=(if human { "a note (optional)" } else { "a note (needed to reject)" }) {}
            button.approve type="submit" name="action" value="approve" { (if human { "Approve and resume" } else { "Approve" }) }
            @if !human { button.reject type="submit" name="action" value="reject" { "Reject" } }
        }
    }
}

fn phases(page: &RunPage, now: i64) -> Markup {
    html! {
        section id="phases" {
            h2 { "Phases" }
            table {
                thead { tr { th { "Phase" } th { "State" } th { "Attempts" } th { "Started" } th { "Took" } } }
                tbody {
                    @for phase in &page.view.phases {
                        tr data-phase=(phase.phase_key) data-state=(phase.state.as_str()) {
                            td { (phase.phase_key) }
                            td { (state(phase.state.as_str())) }
                            td { (phase.attempts) }
                            td { @if let Some(start) = phase.started_at { (time::local(start)) } @else { "-" } }
                            td { @match (phase.started_at, phase.ended_at) {
                                (Some(start), Some(end)) => (time::duration(end - start)),
                                (Some(start), None) => { (time::duration(now - start)) " so far" },
                                _ => "-",
                            } }
                        }
                    }
                }
            }
        }
    }
}

fn artifacts(page: &RunPage, now: i64) -> Markup {
    html! {
        section id="artifacts" {
            h2 { "Artifacts" }
            @if page.artifacts.is_empty() { p.muted { "None recorded yet." } }
            @else {
                table {
                    thead { tr { th { "Phase" } th { "Path" } th { "Result" } th { "SHA-256" } th { "Recorded" } } }
                    tbody {
                        @for artifact in &page.artifacts {
                            tr data-valid=(artifact.valid) {
                                td { (page.view.phase_key(&artifact.phase_id)) }
                                td { code { (artifact.path) } }
                                td {
                                    @if artifact.valid { span.valid { "valid" } } @else { span.invalid { "invalid" } }
                                    @for problem in problems(&artifact.validation_error) { div { (problem) } }
                                }
                                td { code { (artifact.hash.get(..12).unwrap_or(&artifact.hash)) } }
                                td { (when(now, artifact.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Each validation error as `at /path: message`.
fn problems(validation: &serde_json::Value) -> Vec<String> {
    let errors = validation.get("errors").and_then(|errors| errors.as_array());
    errors
        .into_iter()
        .flatten()
        .map(|error| {
            let at = error.get("instancePath").and_then(|v| v.as_str()).unwrap_or("");
            let message = error.get("message").and_then(|v| v.as_str()).unwrap_or("");
            format!("at {}: {message}", if at.is_empty() { "/" } else { at })
        })
        .collect()
}

fn notifications(page: &RunPage, now: i64) -> Markup {
    html! {
        section id="notifications" {
            h2 { "Notifications" }
            @if page.notifications.is_empty() { p.muted { "None." } }
            @else {
                table {
                    thead { tr { th { "Topic" } th { "State" } th { "Sent to" } th { "Tries failed" } th { "Last error" } th { "Since" } } }
                    tbody {
                        @for note in &page.notifications {
                            tr {
                                td { (note.topic) }
                                td { (state(note.state.as_str())) }
                                td { (note.delivered.join(", ")) }
                                td { (note.attempts) }
                                td { (note.last_error.as_deref().unwrap_or("")) }
                                td { (when(now, note.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn events(page: &RunPage) -> Markup {
    let keys = view::phase_keys(&page.view.phases);
    html! {
        section id="events" data-count=(page.events.len()) {
            h2 { "Events " span.muted { "(" (page.events.len()) ", newest first)" } }
            table {
                thead { tr { th { "#" } th { "Time" } th { "Type" } th { "Phase" } th { "Payload" } } }
                tbody {
                    @for event in page.events.iter().rev().take(EVENTS_SHOWN) {
                        tr data-type=(event.kind) {
                            td { (event.id) }
                            td { (time::local(event.created_at)) }
                            td { (event.kind) }
                            td { (view::event_phase_key(event, &keys).unwrap_or_default()) }
                            td { code { (event.payload.to_string()) } }
                        }
                    }
                }
            }
        }
    }
}

fn transcripts(page: &RunPage) -> Markup {
    html! {
        section id="transcripts" {
            h2 { "Transcripts" }
            @if page.transcripts.is_empty() { p.muted { "No agent has started yet." } }
            @for (session, text) in &page.transcripts {
                @let (shown, cut) = tail(text, TRANSCRIPT_BYTES_SHOWN);
                details data-role=(session.role_id) {
                    summary { "role " (session.role_id) " " span.muted { "(" (session.state.as_str()) ", session " (session.id) ")" } }
                    @if cut { p.muted { "… the start is cut: " code { "devflow transcript " (page.view.run.id) " --role " (session.role_id) } " prints it all" } }
                    pre { (neutralize(shown)) }
                }
            }
        }
    }
}

/// The last `bytes` of `text` (at a character boundary), and whether anything was cut.
fn tail(text: &str, bytes: usize) -> (&str, bool) {
    if text.len() <= bytes {
        return (text, false);
    }
    let mut start = text.len() - bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    (&text[start..], true)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
