//! A run's agents belong to one host: they run in a tmux server on the machine of the first
//! driver that claimed the run (`runs.agent_host`). A driver on another host can neither reach
//! nor stop them, so by default it leaves them alone: the run stops at an `agents_elsewhere`
//! gate that names their host. A person then resumes the run on that host, where its agents are
//! adopted again, or moves them (`devflow resume RUN --move-agents`). A driver that may move
//! them on its own — a worker started with `--move-agents`, or any driver of a run whose
//! workflow says `agents_may_move` — takes the run over at once instead, with no gate. A move
//! fails the sessions, and each phase under way starts again with a fresh agent on this host,
//! in this machine's checkout of the run's worktree: the worktree path the run recorded, which
//! must be a shared folder or a clone at the same place (devflow copies no worktree).

use devflow_core::{Error, PhaseState, SessionState, StateMachine};
use devflow_db::{RunRow, SessionUpdate, Tx};

use super::Driver;
use super::lease::Held;
use super::owner::hostname;
use crate::event::kind::RUN_AGENTS_MOVED;
use crate::event::{Event, RunAgentsMoved};
use crate::runner::RunStop;
use crate::workflow::{Kind, Workflow};

/// The `phase.failed` reason of a phase whose agent was moved to another host.
const AGENTS_MOVED: &str = "agents_moved";

impl Driver {
    /// Why this driver must not drive the run here: its agents are on another host, some of
    /// them may be alive, and it may not move them. A run whose agents all failed (or that has
    /// none) is simply taken here; one it may move is taken over here (`take_over_in`).
    pub(crate) async fn host_stop(&self, held: &Held) -> Result<Option<RunStop>, Error> {
        let here = hostname();
        // Nearly always the agents are here: one read, no step.
        let id = held.lease.run_id.clone();
        let run = self.db.read(move |tx| Box::pin(async move { tx.run(&id).await })).await?;
        if run.and_then(|run| run.agent_host).is_none_or(|host| host == here) {
            return Ok(None);
        }
        let driver = self;
        held.db
            .step(&held.lease.run_id, move |tx, run| {
                Box::pin(async move {
                    let Some(agent_host) = run.agent_host.clone().filter(|host| *host != here)
                    else {
                        return Ok(None);
                    };
                    if live_sessions(tx, &run).await?.is_empty() {
                        move_agents_in(tx, &run, &here, "devflow (no live agent to move)").await?;
                        return Ok(None);
                    }
                    if driver.moves_agents || may_move(&run)? {
                        take_over_in(tx, &run, &here, &driver.acting_for).await?;
                        return Ok(None);
                    }
                    Ok(Some(RunStop::AgentsElsewhere { agent_host, here }))
                })
            })
            .await
    }
}

/// Whether the run's own workflow lets any devflow move its agents (`agents_may_move`).
fn may_move(run: &RunRow) -> Result<bool, Error> {
    Ok(Workflow::from_definition(&run.definition)?.agents_may_move)
}

/// Moves the run's agents to `here` (`move_agents_in`) and, in the same step, fails every
/// agent phase that was under way with one of them (`phase.failed`, reason `agents_moved`): in
/// an executing run a failed phase starts again, as after a person's resume
/// (`Restart::AfterGate`), with a fresh agent here. No gate opens and no one is told: the move
/// was allowed. Nothing happens when the agents are here already, or nowhere yet.
pub(crate) async fn take_over_in(
    tx: &mut Tx,
    run: &RunRow,
    here: &str,
    moved_by: &str,
) -> Result<(), Error> {
    if run.agent_host.as_deref().is_none_or(|host| host == here) {
        return Ok(());
    }
    move_agents_in(tx, run, here, moved_by).await?;
    let workflow = Workflow::from_definition(&run.definition)?;
    let agent_phase =
        |key: &str| workflow.phases.iter().any(|def| def.key == key && def.kind == Kind::Agent);
    for row in tx.phases(&run.id).await? {
        let under_way = matches!(
            row.state,
            PhaseState::Running | PhaseState::AwaitingArtifact | PhaseState::Validating
        );
        if !under_way || !agent_phase(&row.phase_key) {
            continue;
        }
        row.state.assert_transition(PhaseState::Failed)?;
        tx.set_phase_state(&run.id, &row.id, PhaseState::Failed).await?;
        Event::phase_row_failed(&row, AGENTS_MOVED).emit(tx).await?;
    }
    Ok(())
}

/// Moves the run's agents to `here`: each session that may still be alive on the old host is
/// failed (the phase's restart gives its role a fresh agent here), and `run.agents_moved` says
/// so. Nothing happens when they are here already.
pub(crate) async fn move_agents_in(
    tx: &mut Tx,
    run: &RunRow,
    here: &str,
    moved_by: &str,
) -> Result<(), Error> {
    let from = run.agent_host.clone().unwrap_or_default();
    if from == here {
        return Ok(());
    }
    let sessions = live_sessions(tx, run).await?;
    for id in &sessions {
        let row = tx.require_session(id).await?;
        if row.state.can_transition(SessionState::FailedNeedsHuman) {
            tx.update_session(id, &SessionUpdate::to(SessionState::FailedNeedsHuman)).await?;
        }
    }
    tx.set_agent_host(&run.id, here).await?;
    let moves = tx.count_events(&run.id, RUN_AGENTS_MOVED).await?;
    let moved =
        RunAgentsMoved { from, to: here.to_owned(), sessions, moved_by: moved_by.to_owned() };
    Event::run_agents_moved(&run.id, moved, moves + 1).emit(tx).await
}

/// The run's sessions whose agent may still be running.
async fn live_sessions(tx: &mut Tx, run: &RunRow) -> Result<Vec<String>, Error> {
    let sessions = tx.sessions(&run.id).await?;
    Ok(sessions
        .into_iter()
        .filter(|row| row.state != SessionState::FailedNeedsHuman)
        .map(|row| row.id)
        .collect())
}
