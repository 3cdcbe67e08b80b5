//! What an error leads to — decided here, in one place, from where it happened and the
//! error's class and code: retried, handed on, a human gate, or a failed run. The reference
//! runner repeats this ladder at every call site. `gate.rs` carries the gates out.
//!
//! | error                                  | outcome                                             |
//! |----------------------------------------|-----------------------------------------------------|
//! | `run_state_changed`, cancelled         | propagate (transcript captured where there is an agent) |
//! | a database that is busy                | the leaf again, within the site's budget (every leaf re-enters) |
//! | a database unreachable, corrupt state  | propagate: nothing more can be written safely      |
//! | recoverable, at a site that retries    | the call again, within the budget, then as below   |
//! | artifact wait/read failure             | the run fails                                       |
//! | stale artifact not removable           | the run fails                                       |
//! | other fatal                            | the run fails, its sessions are disposed            |
//! | recoverable or human_required          | a human gate: the phase fails, the run pauses       |
//! | a driver's step (decision, create, claim) | busy: again, within the budget; else the caller's |
//! | the human gate's own step              | busy: again; lost lease or database: propagate; else the run fails (`approval_request_failed`) |

use std::time::Duration;

use devflow_core::{Class, Code, Error, Result, Validation};
use devflow_db::ArtifactRow;
use rand::Rng;
use serde_json::{Value, json};

use super::budget::RetryPolicy;
use super::context::Ctx;
use super::repair::validation_problems;

/// Where in the phase an error happened. `repair`: in the phase's repair attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// Removing a stale artifact before a prompt.
    StaleArtifact,
    SessionStart,
    /// Re-adopting the role's existing session.
    SessionResume,
    PromptSend {
        repair: bool,
    },
    /// Waiting for, reading or recording the artifact.
    ArtifactWait {
        repair: bool,
    },
    /// Probing and restarting the agent after a timeout.
    TimeoutRecovery,
    /// Beginning an attempt, or ending the phase well.
    Flow,
    /// The human gate's own step (`gate.rs`): the request written, the run paused.
    HumanGateStep,
    /// A driver's durable step outside a phase (`driver/`): a person's decision, the run's
    /// creation, a claim of its lease. Each is one transaction, so a busy database rolled it
    /// back whole and it is taken again within the budget; any other error is the caller's.
    DriverStep,
}

/// What the site table says of one site.
struct Rule {
    /// The phase's failure reason, if an error fails it.
    reason: &'static str,
    /// The code a recoverable error that exhausted its retries becomes at a gate; `None`: the
    /// site never gates.
    gate: Option<Code>,
    /// The site's retry budget: how many calls a recoverable failure of its call gets in all
    /// (1: it is not retried).
    calls_max: u32,
    /// How many times in all the site's leaf is taken while the database is busy (every leaf
    /// re-enters from what the database holds, so taking it again is safe).
    busy_takes_max: u32,
    /// Whether the gate marks the session `CRASHED` first (a failed send or resume).
    mark_crashed: bool,
    /// Whether the gate's request names the expected artifact path.
    with_path: bool,
}

/// The site table, with each site's retry budget drawn from the runner's `budget`.
fn rule(site: Site, budget: &RetryPolicy) -> Rule {
    let (send, timeout) = (Some(Code::PromptSendExhausted), Some(Code::ArtifactTimeoutExhausted));
    let (once, budgeted) = (1, budget.attempts_max.max(1));
    let rule = |reason, gate, retried: bool, mark_crashed, with_path| Rule {
        reason,
        gate,
        calls_max: if retried { budgeted } else { once },
        busy_takes_max: budgeted,
        mark_crashed,
        with_path,
    };
    match site {
        Site::StaleArtifact => rule("stale_artifact_remove_failed", None, false, false, false),
        Site::ArtifactWait { repair: false } => {
            rule("artifact_validation_failed", None, false, false, false)
        }
        Site::ArtifactWait { repair: true } => {
            rule("artifact_repair_failed", None, false, false, false)
        }
        Site::SessionStart => rule("session_start_failed", send, false, false, false),
        Site::SessionResume => rule("session_resume_failed", send, true, true, false),
        Site::PromptSend { repair } => rule("prompt_send_failed", send, true, true, repair),
        Site::TimeoutRecovery => {
            rule("artifact_timeout_recovery_failed", timeout, true, false, true)
        }
        Site::Flow => rule("phase_step_failed", None, false, false, false),
        Site::HumanGateStep => rule("approval_request_failed", None, false, false, false),
        Site::DriverStep => rule("driver_step_failed", None, false, false, false),
    }
}

/// A human gate: the phase fails with `reason`, and a pending approval request keyed by
/// `error`'s code carries `payload`, the error's recovery hint and, `with_path`, the expected
/// artifact path. `mark_crashed`: the session is marked `CRASHED` first (a failed send or
/// resume). `keeps_agent`: the agent is not failed — a person answers its dialog, and `resume`
/// re-adopts it — where otherwise `resume` replaces a failed agent with a fresh one. The caller
/// gets `error`.
#[derive(Debug)]
pub(crate) struct HumanGate {
    pub reason: &'static str,
    pub error: Error,
    pub payload: Value,
    pub mark_crashed: bool,
    pub with_path: bool,
    pub keeps_agent: bool,
}

impl HumanGate {
    /// No artifact came, even after recovery, or the agent's readiness cannot be known.
    pub fn timed_out(hint: String) -> HumanGate {
        let message = "no valid artifact appeared in time, even after recovery";
        let error = Error::new(Code::ArtifactTimeoutExhausted, message).with_hint(hint);
        HumanGate::of_flow("artifact_timeout", error, json!({}))
    }

    /// The artifact stayed invalid after its one repair: the gate says what is wrong with it
    /// and what a person can do.
    pub fn invalid(artifact: Option<&ArtifactRow>, path: &str, run_id: &str) -> HumanGate {
        let message = "the artifact remained invalid after its repair";
        let stored = artifact.and_then(|row| Validation::from_stored(false, &row.validation_error));
        let problems =
            stored.map(|validation| validation_problems(&validation)).unwrap_or_default();
        let hint = format!(
            "{path} is still invalid: {}. Fix the file and `devflow resume {run_id}` takes it as it \
             is; or `devflow resume {run_id}` with the file removed asks a fresh agent again",
            problems.join("; ")
        );
        let error = Error::new(Code::ArtifactInvalidAfterRepair, message).with_hint(hint);
        let artifact_id = artifact.map(|row| row.id.as_str());
        let payload = json!({ "artifactId": artifact_id, "problems": problems });
        HumanGate::of_flow("artifact_invalid", error, payload)
    }

    /// The run's lease was taken over from a driver that died `takeovers` times in a row:
    /// something kills devflow while it drives this run, and going round again would not help.
    /// The agent is failed like a crashed one's, so `resume` starts a fresh one.
    pub fn recovery_limit(takeovers: i64, run_id: &str) -> HumanGate {
        let message = format!(
            "run {run_id} was taken over from a devflow that died {takeovers} times in a row; \
             it is not taken over again until a person looks"
        );
        let hint = format!(
            "something stops devflow while it drives this run (killed, out of memory, a crash): \
             `devflow events {run_id}` shows where each driver got to; once the cause is fixed, \
             `devflow resume {run_id}`"
        );
        let error = Error::new(Code::RecoveryLimit, message).with_hint(hint);
        HumanGate {
            reason: "recovery_limit",
            error,
            payload: json!({ "takeovers": takeovers }),
            mark_crashed: false,
            with_path: false,
            keeps_agent: false,
        }
    }

    /// The run's agents live in tmux on `agent_host`, which this driver (on `here`) cannot
    /// reach: a person resumes the run there, where its agents are adopted again, or moves
    /// them here. Nothing is stopped or marked: the agents on `agent_host` may be working.
    pub fn agents_elsewhere(agent_host: &str, here: &str, run_id: &str) -> HumanGate {
        let message = format!(
            "run {run_id}'s agents run in tmux on host {agent_host}; this devflow is on {here} \
             and cannot reach them"
        );
        let hint = format!(
            "on {agent_host}, `devflow resume {run_id}` adopts its agents again; or, here, \
             `devflow resume {run_id} --move-agents` starts fresh agents on {here} in this \
             machine's checkout of the worktree (the agents on {agent_host} are not stopped); \
             `devflow worker --move-agents`, or `agents_may_move = true` in the workflow, lets \
             a worker do so on its own"
        );
        let error = Error::new(Code::AgentsElsewhere, message).with_hint(hint);
        HumanGate {
            reason: "agents_elsewhere",
            error,
            payload: json!({ "agentHost": agent_host, "host": here }),
            mark_crashed: false,
            with_path: false,
            keeps_agent: true,
        }
    }

    /// A managed worktree's git or setup failed, or a merge conflicts: a person fixes it in the
    /// worktree the error names, and `resume` takes the step again. The agent is kept.
    pub fn worktree(error: Error) -> HumanGate {
        let payload = json!({ "code": error.code().as_str() });
        HumanGate {
            reason: error.code().as_str(),
            error,
            payload,
            mark_crashed: false,
            with_path: false,
            keeps_agent: true,
        }
    }

    /// A gate of the flow itself: its session is not marked crashed, its request names the path.
    fn of_flow(reason: &'static str, error: Error, payload: Value) -> HumanGate {
        HumanGate {
            reason,
            error,
            payload,
            mark_crashed: false,
            with_path: true,
            keeps_agent: false,
        }
    }
}

/// What the runner does with an error.
#[derive(Debug)]
pub(crate) enum Disposition {
    /// Hand the error to the caller unchanged.
    Propagate,
    /// Take the same leaf again after this long: it re-enters from what the database holds.
    Retry { wait_ms: u64 },
    /// Pause the run at this human gate, and return its error.
    Gate(HumanGate),
    /// Fail the phase and the run, and return the original error.
    FailRun { reason: &'static str },
}

/// What `error` at `site` leads to; `retries` is how often this leaf was taken again already.
pub(crate) fn decide(site: Site, error: &Error, retries: u32, budget: &RetryPolicy) -> Disposition {
    let rule = rule(site, budget);
    match error.code() {
        Code::RunStateChanged | Code::ActivityCancelled => return Disposition::Propagate,
        Code::DatabaseBusy if retries + 1 < rule.busy_takes_max => {
            return Disposition::Retry { wait_ms: backoff_ms(budget, retries + 1) };
        }
        Code::DatabaseBusy
        | Code::DatabaseUnavailable
        | Code::DatabaseFailed
        | Code::InternalStateCorruption
        | Code::LeaseLost => return Disposition::Propagate,
        _ => {}
    }
    // An agent waiting for a person at its own dialog, or not ready yet, was handed nothing:
    // it is kept for the person (and `resume`) as it is.
    let keeps_agent = matches!(error.code(), Code::AgentNeedsInput | Code::AgentNotReady);
    match rule.gate {
        Some(code) if error.class() != Class::Fatal => Disposition::Gate(HumanGate {
            reason: rule.reason,
            error: human_required(error, code),
            payload: json!({ "errorCode": error.code().as_str() }),
            mark_crashed: rule.mark_crashed && !keeps_agent,
            with_path: rule.with_path,
            keeps_agent,
        }),
        _ => Disposition::FailRun { reason: rule.reason },
    }
}

/// The error a gate carries: a human_required error as it is (with a hint), or a recoverable
/// one that exhausted its retries turned into `code`.
fn human_required(error: &Error, code: Code) -> Error {
    let hint = error.recovery_hint().unwrap_or(error.message()).to_owned();
    if error.class() == Class::HumanRequired {
        return error.clone().with_hint(hint);
    }
    let message = format!("{} after retries: {}", error.code(), error.message());
    let mut gate = Error::new(code, message).with_hint(hint).with_source(error.clone());
    if let (Some(run_id), Some(phase_id)) = (error.run_id(), error.phase_id()) {
        gate = gate.in_phase(run_id, phase_id);
    }
    gate
}

/// The wait before retry number `retry`, with jitter so that parallel runs do not retry in
/// lockstep.
fn backoff_ms(budget: &RetryPolicy, retry: u32) -> u64 {
    budget.backoff_ms(retry, rand::rng().random_range(-1.0..=1.0))
}

impl Ctx {
    /// Runs the site's call `op`, again after a recoverable failure while the site's budget
    /// lasts; the last error is returned for [`decide`].
    pub(crate) async fn retrying<T, F, Fut>(&self, site: Site, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        retrying(site, &self.retry, op).await
    }
}

/// Takes a driver's durable step `op` (`Site::DriverStep`) again while the database is busy
/// and the budget lasts; any other error, or a busy one past the budget, is returned.
pub(crate) async fn busy_retried<T, F, Fut>(budget: &RetryPolicy, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut retries = 0;
    loop {
        let error = match op().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        match decide(Site::DriverStep, &error, retries, budget) {
            Disposition::Retry { wait_ms } => {
                tracing::warn!(retries, wait_ms, %error, "taking the driver's step again");
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                retries += 1;
            }
            _ => return Err(error),
        }
    }
}

/// Calls `op` until it succeeds, fails with an error that is not recoverable, or the calls the
/// site table gives `site` are spent; the last error is returned unchanged.
async fn retrying<T, F, Fut>(site: Site, budget: &RetryPolicy, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let calls_max = rule(site, budget).calls_max;
    let mut call = 1;
    loop {
        match op().await {
            Err(error) if error.class() == Class::Recoverable && call < calls_max => {
                let wait_ms = backoff_ms(budget, call);
                tracing::warn!(?site, call, calls_max, wait_ms, %error, "retrying");
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                call += 1;
            }
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests;
