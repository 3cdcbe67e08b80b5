//! Decisions from the browser: `POST /runs/{id}/decide` approves or rejects a pending gate by
//! calling the same [`Driver`](devflow_phase::Driver) method as `devflow approve` / `reject`
//! — same events, same idempotency, same refusals (a gate already decided, a run driven
//! elsewhere, an artifact changed since it was validated); a form whose request was decided
//! already is refused before that. The call runs in a task of the server, which then drives the
//! run on; the request waits only until the decision is recorded (or refused) and goes back to
//! the page.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use devflow_core::{Code, Error};
use devflow_db::ApprovalState;
use devflow_phase::{Decision, Outcome};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::App;
use crate::pages::{refusal, refusal_as, segment};

/// How long a request waits for its decision to be recorded before it goes back to the page
/// (the decision then shows there when it is).
const RECORDED_WAIT_MS: u64 = 20_000;
const RECORDED_POLL_MS: u64 = 40;

#[derive(Debug, Deserialize)]
pub(crate) struct DecisionForm {
    csrf: String,
    action: String,
    gate: String,
    /// The request the page showed; the decision counts as made once it is decided.
    request: String,
    #[serde(default)]
    note: String,
}

pub(crate) async fn decide(
    State(app): State<Arc<App>>,
    Path(run_id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let back = format!("/runs/{}", segment(&run_id));
    if !app.guard.csrf().matches(&form.csrf) {
        let error = Error::new(Code::InvalidInput, "the form's CSRF token is not this server's")
            .with_hint("reload the run's page and decide again");
        return refusal_as(StatusCode::FORBIDDEN, &error, Some(&back));
    }
    let approve = match form.action.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            let error = Error::new(Code::InvalidInput, format!("unknown action {other:?}"));
            return refusal(&error, Some(&back));
        }
    };
    let note = Some(form.note.trim().to_owned()).filter(|note| !note.is_empty());
    if !approve && note.is_none() {
        let error = Error::new(Code::InvalidInput, "reject needs a note saying what to change")
            .with_hint("write the note, then Reject");
        return refusal(&error, Some(&back));
    }
    let driver = match (app.drivers)(&run_id).await {
        Ok(driver) => driver,
        Err(error) => return refusal(&error, Some(&back)),
    };
    if let Err(error) = still_pending(&app, &run_id, &form.request).await {
        return refusal(&error, Some(&back));
    }
    let decision = Decision { gate_key: Some(form.gate), note, decided_by: app.decided_by.clone() };
    let (told, outcome) = oneshot::channel();
    let cancel = app.shutdown.child_token();
    let id = run_id.clone();
    {
        let mut driving = app.driving.lock().expect("driving tasks");
        // Drives that ended are let go of here; `Server::run` waits for the others.
        while driving.try_join_next().is_some() {}
        driving.spawn(async move {
            let driven = if approve {
                driver.approve(&id, decision, cancel).await
            } else {
                driver.reject(&id, decision, cancel).await
            };
            log_outcome(&id, &driven);
            let _ = told.send(driven);
        });
    }
    match recorded(&app, &run_id, &form.request, outcome).await {
        Ok(()) => back_to(&back),
        Err(error) => refusal(&error, Some(&back)),
    }
}

/// The request the page showed must still wait for a decision. A form posted again (a second
/// click, a page left open while someone decided elsewhere) is refused, and not taken for a
/// newer request of the same gate that the person has not seen; nor is a decision already
/// recorded under this server's name mistaken for this one (`recorded` looks for it).
async fn still_pending(app: &App, run_id: &str, request_id: &str) -> Result<(), Error> {
    let (run, id) = (run_id.to_owned(), request_id.to_owned());
    let request = app
        .db
        .read(move |tx| {
            Box::pin(async move {
                Ok(tx.approvals(&run).await?.into_iter().find(|request| request.id == id))
            })
        })
        .await?;
    let Some(request) = request else {
        let error = Error::new(Code::InvalidInput, format!("run {run_id} has no such request"))
            .with_hint("reload the run's page and decide there");
        return Err(error);
    };
    if request.state == ApprovalState::Pending {
        return Ok(());
    }
    let by = request.decided_by.as_deref().unwrap_or("someone");
    let message = format!(
        "gate {} was {} by {by} already: this decision was not taken",
        request.gate_key,
        request.state.as_str()
    );
    let hint = "the run's page shows where the run is now";
    Err(Error::new(Code::RunStateChanged, message).with_hint(hint))
}

/// Waits until the request is decided (the drive goes on in its task) or the drive ends; an
/// error before the decision was recorded is the refusal.
async fn recorded(
    app: &App,
    run_id: &str,
    request_id: &str,
    mut outcome: oneshot::Receiver<Result<Outcome, Error>>,
) -> Result<(), Error> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(RECORDED_WAIT_MS) {
        tokio::select! {
            driven = &mut outcome => return match driven {
                Ok(Err(error)) => Err(error),
                _ => Ok(()),
            },
            () = tokio::time::sleep(Duration::from_millis(RECORDED_POLL_MS)) => {}
        }
        if decided(app, run_id, request_id).await? {
            return Ok(());
        }
    }
    Ok(())
}

async fn decided(app: &App, run_id: &str, request_id: &str) -> Result<bool, Error> {
    let (run_id, id, by) = (run_id.to_owned(), request_id.to_owned(), app.decided_by.clone());
    app.db
        .read(move |tx| {
            Box::pin(async move {
                let requests = tx.approvals(&run_id).await?;
                Ok(requests.iter().any(|request| {
                    request.id == id
                        && request.state != ApprovalState::Pending
                        && request.decided_by.as_deref() == Some(by.as_str())
                }))
            })
        })
        .await
}

fn back_to(page: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, page.to_owned())]).into_response()
}

fn log_outcome(run_id: &str, driven: &Result<Outcome, Error>) {
    match driven {
        Ok(outcome) => {
            tracing::info!(run = %run_id, ?outcome, "driven after a decision from the browser")
        }
        Err(error) => {
            tracing::warn!(run = %run_id, %error, "a decision from the browser ended in an error")
        }
    }
}
