//! The phase runner: carries one phase from `pending` (or from where a crash left it) to
//! `completed`, to `awaiting_approval`, or to a human gate, as the reference runner does.
//!
//! One loop: read what the database and the disk hold (`facts`), ask the transition table for
//! the next step (`next`), take that leaf — one durable step, or one side effect and the step
//! that records it — and read again. Re-entry after a crash is the same loop started from
//! wherever the rows say the phase is. An error goes to the policy (`policy`), which says what
//! it leads to; `gate` carries out human gates and failed runs.
//!
//! The files, in reading order (a file imports only files below it): `runner.rs`, `next`,
//! the leaves (`begin`, `session`, `prompt`, `wait`, `recovery`, `finish`), `facts`,
//! `attempt`, `gate`, `policy`, `transcript`, `writes`, `repair`, `report`, `context`,
//! `budget`, `spec`, `crash` (ARCHITECTURE.md's order, which a tidy test holds).

mod attempt;
mod begin;
mod budget;
mod context;
pub(crate) mod crash;
mod facts;
mod finish;
mod gate;
mod next;
mod policy;
mod prompt;
mod recovery;
mod repair;
mod report;
mod session;
mod spec;
mod transcript;
mod wait;
mod writes;

use std::sync::Arc;

use devflow_core::{Clock, Error, PhaseState, Result, SessionState, SystemClock};
use devflow_db::Db;
use devflow_session::SessionAdapter;
use tokio_util::sync::CancellationToken;

use context::Ctx;
use facts::Known;
use gate::At;
use next::{FlowGate, Step, next};

/// Every arm of the transition table (see `devflow_phase::testing::arms`).
#[cfg(feature = "test-support")]
pub(crate) const ARMS: &[&str] = Step::ARMS;
use policy::{Disposition, HumanGate, Site, decide};

pub use budget::RetryPolicy;
pub(crate) use finish::complete_in;
pub(crate) use policy::busy_retried;
pub use repair::repair_instructions;
pub use report::{Ending, PhaseReport};
pub(crate) use spec::Phase;
pub use spec::{AgentLaunch, ApprovalGate, PhaseSpec, Restart, RunEnd};

/// Runs phases against one database with one session backend.
#[derive(Clone)]
pub struct PhaseRunner {
    db: Db,
    adapter: Arc<dyn SessionAdapter>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl PhaseRunner {
    pub fn new(db: Db, adapter: Arc<dyn SessionAdapter>) -> PhaseRunner {
        PhaseRunner { db, adapter, retry: RetryPolicy::default(), clock: Arc::new(SystemClock) }
    }

    /// The clock the runner reads the time from (tests pass one of their own).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> PhaseRunner {
        self.clock = clock;
        self
    }

    /// The same runner over another handle of the database (a driver's fenced one).
    pub(crate) fn on(&self, db: Db) -> PhaseRunner {
        PhaseRunner { db, ..self.clone() }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> PhaseRunner {
        self.retry = retry;
        self
    }

    /// The retry budget, which the driver's own steps are taken again within too.
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Runs (or re-enters) one phase. `Err` carries a `human_required` error when the run
    /// waits at a human gate or left its active state, and a `fatal` one when the run failed.
    pub async fn run(&self, spec: PhaseSpec, cancel: CancellationToken) -> Result<PhaseReport> {
        let ctx = self.ctx(spec, cancel)?;
        ctx.run().await.map_err(|error| error.in_phase(ctx.phase.run_id(), ctx.phase.phase_id()))
    }

    /// Stops the phase at a human gate, before anything else, for a reason the driver found
    /// about the whole run (`stop`). Returns the gate's error.
    pub(crate) async fn stop_at(
        &self,
        spec: PhaseSpec,
        stop: RunStop,
        cancel: CancellationToken,
    ) -> Error {
        let ctx = match self.ctx(spec, cancel) {
            Ok(ctx) => ctx,
            Err(error) => return error,
        };
        let known = match ctx.known(None).await {
            Ok(known) => known,
            Err(error) => return error,
        };
        let at = At {
            attempt: known.phase.attempts,
            session_id: known.session.as_ref().map(|row| row.id.as_str()),
            running: None,
        };
        let run_id = ctx.phase.run_id();
        let gate = match stop {
            RunStop::RecoveryLimit { takeovers } => HumanGate::recovery_limit(takeovers, run_id),
            RunStop::AgentsElsewhere { agent_host, here } => {
                HumanGate::agents_elsewhere(&agent_host, &here, run_id)
            }
            RunStop::Worktree(error) => HumanGate::worktree(error),
        };
        ctx.human_gate(at, gate).await.in_phase(ctx.phase.run_id(), ctx.phase.phase_id())
    }

    fn ctx(&self, spec: PhaseSpec, cancel: CancellationToken) -> Result<Ctx> {
        let phase = Arc::new(spec::Phase::resolve(spec)?);
        let (db, adapter, retry) = (self.db.clone(), Arc::clone(&self.adapter), self.retry.clone());
        let clock = Arc::clone(&self.clock);
        Ok(Ctx { db, adapter, retry, clock, phase, cancel, fresh: Arc::default() })
    }
}

/// Why the driver stops a run at a gate before its phase goes on.
#[derive(Debug, Clone)]
pub(crate) enum RunStop {
    /// Its lease was taken over from a dead driver `takeovers` times in a row.
    RecoveryLimit { takeovers: i64 },
    /// Its agents live in tmux on `agent_host`, and this driver is on `here`.
    AgentsElsewhere { agent_host: String, here: String },
    /// The phase's managed worktree could not be made or set up, or its merge conflicts: the
    /// error says what, and the files (`merge_conflict`) are in its hint.
    Worktree(Error),
}

/// How a leaf ended, when it did not fail.
enum Taken {
    /// Read the facts again and go on.
    Continue,
    Done(PhaseReport),
    /// The flow stopped at a gate it raised itself; the gate's error.
    Stopped(Error),
}

impl Ctx {
    async fn run(&self) -> Result<PhaseReport> {
        let mut known = self.known(None).await?;
        let mut retries = 0;
        loop {
            let step = next(&known.facts);
            tracing::debug!(phase = %self.phase.spec.phase_key, ?step, "next step");
            self.fresh.forget();
            match self.take(step, &known).await {
                Ok(Taken::Continue) => retries = 0,
                Ok(Taken::Done(report)) => return Ok(report),
                Ok(Taken::Stopped(error)) => return Err(error),
                Err(error) => {
                    self.on_error(step, error, retries).await?;
                    retries += 1;
                }
            }
            known = self.known(known.attempt.take()).await?;
        }
    }

    /// Takes one leaf.
    async fn take(&self, step: Step, known: &Known) -> Result<Taken> {
        match step {
            Step::StartAttempt(from) => self.start_attempt(from).await?,
            Step::Adopt | Step::Validate => self.validate().await?,
            Step::FinishAdopted => return self.finish_adopted(known).await.map(Taken::Done),
            Step::RemoveStale => self.remove_stale_artifact().await?,
            Step::StartSession => drop(self.start_session(known).await?),
            Step::ResumeSession => self.resume_session(known).await?,
            Step::MarkBusy => self.mark_busy(known).await?,
            Step::Deliver => self.deliver(known).await?,
            Step::ExpectArtifact => self.expect_artifact(known).await?,
            Step::Wait => self.wait(known).await?,
            Step::MarkIdle => self.mark_idle(known).await?,
            Step::Complete => return self.complete(known).await.map(Taken::Done),
            Step::RequestApproval => return self.request_approval(known).await.map(Taken::Done),
            Step::Repair(of) => self.start_repair(known, of).await?,
            Step::Recover => {
                if let Some(hint) = self.recover(known).await? {
                    return Ok(Taken::Stopped(self.stop(known, HumanGate::timed_out(hint)).await));
                }
            }
            Step::Gate(gate) => {
                let gate = match gate {
                    FlowGate::TimedOut => HumanGate::timed_out(self.phase.artifact.clone()),
                    FlowGate::InvalidAfterRepair => {
                        let (artifact, path) = (known.artifact.as_ref(), &self.phase.artifact);
                        HumanGate::invalid(artifact, path, self.phase.run_id())
                    }
                };
                return Ok(Taken::Stopped(self.stop(known, gate).await));
            }
            Step::Refuse => return Err(cannot_enter(known.facts.phase)),
        }
        Ok(Taken::Continue)
    }

    /// Does what the policy says for `error`, which `step` failed with: `Ok` to take the step
    /// again; otherwise the error for the caller. The policy acts on what the database holds
    /// after the failure (a failed start has reserved its session's row, say).
    async fn on_error(&self, step: Step, error: Error, retries: u32) -> Result<()> {
        let error = error.in_phase(self.phase.run_id(), self.phase.phase_id());
        self.fresh.forget();
        let known = self.known(None).await.map_err(|_| error.clone())?;
        let repair = known.attempt.as_ref().is_some_and(|attempt| attempt.repair);
        let handle = known.session.as_ref().map(|row| self.handle(row));
        let at = at(&known, step, handle.as_ref());
        match decide(site_of(step, repair), &error, retries, &self.retry) {
            Disposition::Retry { wait_ms } => {
                tracing::warn!(?step, retries, wait_ms, %error, "taking the step again");
                tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
                Ok(())
            }
            Disposition::Propagate => {
                Err(self.capture_running(at.running).await.err().unwrap_or(error))
            }
            Disposition::Gate(gate) => Err(self.human_gate(at, gate).await),
            Disposition::FailRun { reason } => {
                let failed = self.fail_run(at.attempt, reason, at.running).await;
                Err(failed.err().unwrap_or(error))
            }
        }
    }

    /// Stops at a gate the flow raised.
    async fn stop(&self, known: &Known, gate: HumanGate) -> Error {
        let handle = known.session.as_ref().map(|row| self.handle(row));
        self.human_gate(at(known, Step::Gate(FlowGate::TimedOut), handle.as_ref()), gate).await
    }
}

/// Where a step happens, for the policy's site table.
fn site_of(step: Step, repair: bool) -> Site {
    match step {
        Step::RemoveStale => Site::StaleArtifact,
        Step::StartSession => Site::SessionStart,
        Step::ResumeSession => Site::SessionResume,
        Step::MarkBusy | Step::Deliver => Site::PromptSend { repair },
        Step::Adopt | Step::ExpectArtifact | Step::Wait | Step::Validate => {
            Site::ArtifactWait { repair }
        }
        Step::Recover => Site::TimeoutRecovery,
        _ => Site::Flow,
    }
}

/// The attempt, the session and its agent a gate or a failure at `step` concerns. An agent
/// counts as running once its session was started or re-adopted; a failed start or
/// re-adoption has none to capture or dispose.
fn at<'a>(
    known: &'a Known,
    step: Step,
    handle: Option<&'a devflow_session::SessionHandle>,
) -> At<'a> {
    let attempt = known.attempt.as_ref().map_or(known.phase.attempts, |attempt| attempt.number);
    let session = known.session.as_ref();
    let starting = matches!(step, Step::StartSession | Step::ResumeSession);
    let live = session.is_some_and(|row| {
        !matches!(row.state, SessionState::Created | SessionState::FailedNeedsHuman)
    });
    let running = handle.filter(|_| live && !starting);
    At { attempt, session_id: session.map(|row| row.id.as_str()), running }
}

fn cannot_enter(state: PhaseState) -> Error {
    Error::corruption("cannot enter the phase from its current state")
        .with_hint(format!("phase_state={state}"))
}
