//! The runner's input for a phase, built from the run's stored workflow and its rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devflow_core::{Error, PhaseState};
use devflow_db::{ApprovalRow, ApprovalState, PhaseRow, RunRow};
use devflow_session::AgentCommand;

use super::Driver;
use crate::runner::{AgentLaunch, ApprovalGate, PhaseSpec, Restart};
use crate::workflow::{PhaseDef, Role, Workflow, phase_instructions};

/// The run's workflow, with its schemas compiled.
pub(crate) struct Loaded {
    pub workflow: Workflow,
    pub schemas: Vec<Arc<devflow_core::Schema>>,
}

impl Loaded {
    pub fn from_run(run: &RunRow) -> Result<Loaded, Error> {
        let workflow = Workflow::from_definition(&run.definition)?;
        let schemas = workflow.compile_schemas()?;
        Ok(Loaded { workflow, schemas })
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
        let role = loaded.workflow.roles.get(&def.role).ok_or_else(|| {
            Error::corruption(format!("role {} is not in the run's workflow", def.role))
        })?;
        Ok(PhaseSpec {
            run_id: run.id.clone(),
            phase_id: row.id.clone(),
            phase_key: def.key.clone(),
            role_id: loaded.workflow.agent_of(def),
            worktree: PathBuf::from(&run.worktree),
            artifact_path: PathBuf::from(&def.artifact),
            schema: Arc::clone(&loaded.schemas[index]),
            instructions: loaded.workflow.render_needs(
                &phase_instructions(def, rejection_note(def, row, approvals).as_deref()),
                Path::new(&run.worktree),
            ),
            agent: self.launch(role),
            wait: def.wait.into(),
            approval_gate: def.approval_gate.clone().map(|key| ApprovalGate { key, payload: None }),
            completes_run: false,
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

/// The note of the phase's latest workflow-gate request, if a reviewer rejected it: every
/// attempt after a rejection (until a new request) carries it, so re-entry rebuilds the same
/// prompt.
fn rejection_note(def: &PhaseDef, row: &PhaseRow, approvals: &[ApprovalRow]) -> Option<String> {
    let gate = def.approval_gate.as_deref()?;
    let latest = approvals
        .iter()
        .rev()
        .find(|request| request.phase_id == row.id && request.gate_key == gate)?;
    (latest.state == ApprovalState::Rejected)
        .then(|| latest.decision_note.clone().unwrap_or_else(|| "(no note given)".to_owned()))
}
