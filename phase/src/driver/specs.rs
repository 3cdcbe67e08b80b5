//! The runner's input for a phase, built from the run's stored workflow and its rows.

use std::path::PathBuf;
use std::sync::Arc;

use devflow_core::{Error, PhaseState};
use devflow_db::{ApprovalRow, ApprovalState, PhaseRow, RunRow};
use devflow_session::AgentCommand;

use super::Driver;
use super::merge::MERGE_CONFLICT_GATE;
use crate::runner::{AgentLaunch, ApprovalGate, PhaseSpec, Restart, RunEnd};
use crate::workflow::{Kind, PhaseDef, Role, SentBack, Workflow, phase_instructions};

/// The run's workflow, with its schemas compiled.
pub(crate) struct Loaded {
    pub workflow: Arc<Workflow>,
    pub schemas: Vec<Arc<devflow_core::Schema>>,
}

impl Loaded {
    pub fn from_run(run: &RunRow) -> Result<Loaded, Error> {
        let workflow = Workflow::from_definition(&run.definition)?;
        let schemas = workflow.compile_schemas()?;
        Ok(Loaded { workflow: Arc::new(workflow), schemas })
    }

    pub fn def(&self, row: &PhaseRow) -> Result<(usize, &PhaseDef), Error> {
        self.workflow
            .phases
            .iter()
            .enumerate()
            .find(|(_, def)| def.key == row.phase_key)
            .ok_or_else(|| {
                Error::corruption(format!("phase {} is not in the run's workflow", row.phase_key))
            })
    }
}

impl Driver {
    /// The spec for `row`: fresh, re-entered, or restarted after a gate or a rejection.
    pub(crate) fn spec(
        &self,
        run: &RunRow,
        loaded: &Loaded,
        row: &PhaseRow,
        approvals: &[ApprovalRow],
    ) -> Result<PhaseSpec, Error> {
        let (index, def) = loaded.def(row)?;
        let restart = match row.state {
            PhaseState::AwaitingApproval => Some(Restart::Rejected),
            PhaseState::Failed => Some(Restart::AfterGate),
            _ => None,
        };
        let agent = match def.kind {
            // A merge phase has no agent of its own; its spec is what its gate is written from.
            Kind::Merge => AgentLaunch::of(AgentCommand::Argv(Vec::new()), Vec::new()),
            Kind::Agent => self.launch(loaded.workflow.roles.get(&def.role).ok_or_else(|| {
                Error::corruption(format!("role {} is not in the run's workflow", def.role))
            })?),
        };
        let workdir = super::worktrees::workdir(run, &loaded.workflow, def);
        let artifact_path = match def.kind {
            // Never written: a merge phase validates no artifact.
            Kind::Merge => PathBuf::from(format!(".devflow/merge-{}.json", def.key)),
            Kind::Agent => PathBuf::from(&def.artifact),
        };
        Ok(PhaseSpec {
            run_id: run.id.clone(),
            phase_id: row.id.clone(),
            phase_key: def.key.clone(),
            role_id: loaded.workflow.agent_of(def),
            worktree: workdir.clone(),
            artifact_path,
            schema: Arc::clone(&loaded.schemas[index]),
            instructions: loaded
                .workflow
                .render_needs(&phase_instructions(def, sent_back(def, row, approvals)), &workdir),
            agent,
            wait: def.wait.into(),
            approval_gate: def.approval_gate.clone().map(|key| ApprovalGate { key, payload: None }),
            // A managed run completes once its last phase's work is committed (`drive.rs`).
            run_end: match loaded.workflow.worktree {
                Some(_) => RunEnd::ByTheDriver,
                None => RunEnd::WithTheLastPhase,
            },
            restart,
        })
    }

    fn launch(&self, role: &Role) -> AgentLaunch {
        let mut command = role.command.to_agent_command();
        if let (AgentCommand::Argv(argv), Some(exe)) = (&mut command, &self.devflow_exe)
            && argv.first().map(String::as_str) == Some("devflow")
        {
            argv[0] = exe.to_string_lossy().into_owned();
        }
        AgentLaunch {
            command,
            env: role.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            preset: role.preset.clone(),
            answer_dialogs: role.answer_dialogs.clone(),
        }
    }
}

/// Why the phase's agent is asked again, if it was sent back: the note of the phase's latest
/// request of its workflow gate that a reviewer rejected, or of the merge that conflicted with
/// its branch. Every attempt after it (until a newer request) carries it, so re-entry rebuilds
/// the same prompt.
fn sent_back<'a>(
    def: &PhaseDef,
    row: &PhaseRow,
    approvals: &'a [ApprovalRow],
) -> Option<SentBack<'a>> {
    let latest = approvals.iter().rev().find(|request| {
        request.phase_id == row.id
            && (Some(request.gate_key.as_str()) == def.approval_gate.as_deref()
                || request.gate_key == MERGE_CONFLICT_GATE)
    })?;
    if latest.state != ApprovalState::Rejected {
        return None;
    }
    let note = latest.decision_note.as_deref().unwrap_or("(no note given)");
    Some(match latest.gate_key.as_str() {
        MERGE_CONFLICT_GATE => SentBack::MergeConflict(note),
        _ => SentBack::Rejected(note),
    })
}
