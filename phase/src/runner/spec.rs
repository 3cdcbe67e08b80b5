//! What one phase is asked to do: the runner's input, checked and canonicalized before any write.

use std::path::PathBuf;
use std::sync::Arc;

use devflow_core::{Code, Error, Result, Schema};
use devflow_db::PhaseKey;
use devflow_session::AgentCommand;
use serde_json::Value;

use crate::artifact::{self, ArtifactFile, WaitSettings};

/// A workflow approval gate on a phase: pause for a person once the artifact is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalGate {
    pub key: String,
    /// What the approval request carries; by default the artifact id, path and schema id.
    pub payload: Option<Value>,
}

/// How the role's agent is started when the phase needs a new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLaunch {
    pub command: AgentCommand,
    pub env: Vec<(String, String)>,
    /// The preset the workflow names; `None`: chosen by the program's name.
    pub preset: Option<String>,
    /// The first-run dialogs devflow may answer for this agent.
    pub answer_dialogs: Vec<String>,
}

impl AgentLaunch {
    /// `command` with its environment, its preset chosen by its program.
    pub fn of(command: AgentCommand, env: Vec<(String, String)>) -> AgentLaunch {
        AgentLaunch { command, env, preset: None, answer_dialogs: Vec::new() }
    }
}

/// The runner's input for one phase.
#[derive(Debug, Clone)]
pub struct PhaseSpec {
    pub run_id: String,
    pub phase_id: String,
    pub phase_key: String,
    /// The role's agent that does the phase: the role's name, or `role/phase` for a role with
    /// an agent per phase. Sessions are found and named by it.
    pub role_id: String,
    pub worktree: PathBuf,
    /// Relative to the worktree, or absolute inside it.
    pub artifact_path: PathBuf,
    /// The compiled schema; its id is the `expected_schema` recorded everywhere.
    pub schema: Arc<Schema>,
    pub instructions: String,
    pub agent: AgentLaunch,
    pub wait: WaitSettings,
    pub approval_gate: Option<ApprovalGate>,
    /// What completing this phase does to the run.
    pub run_end: RunEnd,
    /// Set by the driver when a person sends the phase round again (`None` otherwise).
    pub restart: Option<Restart>,
}

/// Whether the step that completes a phase completes its run too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// It does, whatever the run's other phases' states: a caller that runs phases one by one
    /// and knows this is its last.
    WithThisPhase,
    /// It does when this is the last of the run's phases to complete, decided in the step
    /// under the run's lock, so of two phases that complete at once exactly one ends it.
    WithTheLastPhase,
    /// It never does: the driver completes the run itself once what follows a phase (its
    /// commit in a managed worktree) is done too.
    ByTheDriver,
}

/// A new attempt of a phase that ended at a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// `devflow resume` after a human gate: the phase starts again from `failed`, and a
    /// session left `FAILED_NEEDS_HUMAN` is replaced by a fresh agent.
    AfterGate,
    /// `devflow reject`: the phase starts again from `awaiting_approval` with the same agent;
    /// the driver puts the reviewer's note into the instructions.
    Rejected,
}

/// A spec whose paths are canonical: what every step works with.
#[derive(Debug, Clone)]
pub struct Phase {
    pub spec: PhaseSpec,
    /// The canonical worktree root.
    pub worktree: PathBuf,
    /// The canonical absolute artifact path, as recorded in events and rows.
    pub artifact: String,
    /// The artifact on disk: every file operation goes through it.
    pub file: ArtifactFile,
}

impl Phase {
    /// Canonicalizes the worktree as the reference does, and refuses an artifact path that
    /// leaves it. The artifact path is taken as written (`.` and `..` folded), never through
    /// what is on disk: a symbolic link on it is refused by each file operation when it acts.
    pub fn resolve(spec: PhaseSpec) -> Result<Phase> {
        let in_phase = |error: Error| error.in_phase(&spec.run_id, &spec.phase_id);
        let worktree = spec.worktree.canonicalize().map_err(|error| {
            let message = format!("cannot open worktree {}: {error}", spec.worktree.display());
            let error = Error::new(Code::WorkspacePermissions, message);
            in_phase(error.with_hint("pass an existing directory as the worktree"))
        })?;
        let relative = artifact::relative_inside(&spec.worktree, &worktree, &spec.artifact_path);
        let file = ArtifactFile::new(&worktree, &relative.map_err(in_phase)?).map_err(in_phase)?;
        let artifact = file.path().to_string_lossy().into_owned();
        Ok(Phase { artifact, file, worktree, spec })
    }

    pub fn schema_id(&self) -> &str {
        self.spec.schema.id()
    }

    pub fn run_id(&self) -> &str {
        &self.spec.run_id
    }

    pub fn phase_id(&self) -> &str {
        &self.spec.phase_id
    }

    pub fn role_id(&self) -> &str {
        &self.spec.role_id
    }

    /// Which rows the facts are read from.
    pub fn rows_key(&self) -> PhaseKey<'_> {
        let (run_id, phase_id, role_id) = (self.run_id(), self.phase_id(), self.role_id());
        PhaseKey { run_id, phase_id, role_id, attempt_kind: crate::event::kind::PHASE_STARTED }
    }
}
