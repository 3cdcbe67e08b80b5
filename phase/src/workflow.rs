//! Workflows: the TOML file a person writes, checked and resolved into the snapshot a run keeps.
//!
//! [`Workflow::load`] reads the file, checks it (`check`), and resolves everything a run needs
//! later — instructions text, schema JSON, wait settings — into a [`Workflow`] that serializes to
//! `runs.definition`. `resume`, `approve` and `reject` rebuild the run's prompts from that
//! snapshot alone, so editing the files during a run changes nothing for it.

mod bounds;
mod check;
pub(crate) mod file;
mod graph;
pub(crate) mod managed;
mod prompt;
mod reserved;
mod role;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use devflow_core::{Code, Error, Schema};
use devflow_session::AgentCommand;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifact::WaitSettings;

pub use managed::{DEFAULT_BASE, phase_branch, run_branch, run_worktree, worktrees_folder};
pub use prompt::{SentBack, phase_instructions};

/// A workflow resolved from its file: what a run stores and is driven from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The file it was loaded from, as given.
    pub source: String,
    /// Leave the run's agents running when it ends (by default they are stopped).
    #[serde(default)]
    pub keep_agents: bool,
    /// Any devflow may move the run's agents to its own host when they live on another
    /// (`agents_may_move`): the run is taken over there with fresh agents instead of waiting at
    /// the `agents_elsewhere` gate. Workers read it from the stored snapshot when they claim
    /// (`Tx::claim_next_run`), so its name there is part of the snapshot's format.
    #[serde(default)]
    pub agents_may_move: bool,
    /// How many phases may run at once.
    #[serde(default = "default_max_parallel")]
    pub max_parallel: u32,
    pub roles: BTreeMap<String, Role>,
    pub phases: Vec<PhaseDef>,
    /// devflow makes the run's git worktrees (`[worktree]`, or `devflow run --repo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<Managed>,
    /// Where to tell a person about the run (`[notify]`); absent in runs stored before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<crate::notify::Notify>,
}

/// An agent role: how its agent is launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub command: RoleCommand,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The preset named in the file; `None`: the adapter chooses one by the program's name.
    #[serde(default)]
    pub preset: Option<String>,
    /// The first-run dialogs devflow may answer for this role.
    #[serde(default)]
    pub answer_dialogs: Vec<String>,
    /// One agent for all the role's phases, or one for each phase.
    #[serde(default)]
    pub agent: Agents,
}

/// `[worktree]`, resolved: the run works in a worktree of `repo` on branch `devflow/<run>`,
/// made from `base`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Managed {
    /// The repository's folder, absolute (empty in a file's `[worktree]` without `repo` until
    /// the run's folder fills it in: [`Workflow::with_repo_default`]).
    pub repo: String,
    /// The base as written (`HEAD` unless said); a run stores the commit it resolved to.
    pub base: String,
    /// Untracked files of the repository copied into each new worktree (never committed).
    #[serde(default)]
    pub include: Vec<String>,
    /// Run once in each new worktree (`sh -c`); its failure stops the phase at a gate.
    #[serde(default)]
    pub setup: Option<String>,
}

/// What a phase is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An agent writes an artifact (the runner's phase).
    #[default]
    Agent,
    /// The branches of what it needs are merged into the run's branch, in the order of `needs`.
    Merge,
}

/// Where a phase works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseWorktree {
    /// In the run's worktree (or, without `[worktree]`, the run's folder).
    #[default]
    Run,
    /// In a worktree of its own, branched from the run's branch when it starts.
    Own,
}

/// How many agents a role has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agents {
    /// One agent takes the role's phases one after another (two never run at once).
    #[default]
    Shared,
    /// Each phase of the role has an agent (a tmux window) of its own.
    PerPhase,
}

/// Phases that may run at once when the workflow file does not say.
pub const DEFAULT_MAX_PARALLEL: u32 = 4;

fn default_max_parallel() -> u32 {
    DEFAULT_MAX_PARALLEL
}

/// An argv list, or one string run by `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleCommand {
    Argv(Vec<String>),
    Shell(String),
}

impl RoleCommand {
    pub fn to_agent_command(&self) -> AgentCommand {
        match self {
            RoleCommand::Argv(argv) => AgentCommand::Argv(argv.clone()),
            RoleCommand::Shell(line) => AgentCommand::Shell(line.clone()),
        }
    }

    /// The program a shell would look up: `argv[0]`, or the first word of the shell line.
    pub fn program(&self) -> Option<&str> {
        match self {
            RoleCommand::Argv(argv) => argv.first().map(String::as_str),
            RoleCommand::Shell(line) => line.split_whitespace().next(),
        }
    }
}

/// One phase, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseDef {
    pub key: String,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default)]
    pub worktree: PhaseWorktree,
    pub role: String,
    /// The phases that complete before this one starts (`runs` stored before the graph: filled
    /// in as the chain they ran as).
    pub needs: Vec<String>,
    /// Relative to the worktree, never escaping it.
    pub artifact: String,
    /// The schema file as written in the workflow; the schema's id everywhere.
    pub schema_id: String,
    pub schema: Value,
    /// The instructions text (inline, or the file's contents).
    pub instructions: String,
    pub approval_gate: Option<String>,
    pub wait: Wait,
}

/// Per-phase wait settings, with the defaults a real agent needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    pub timeout_ms: u64,
    pub poll_ms: u64,
    pub stable_ms: u64,
    pub max_hung_ms: u64,
    pub max_artifact_bytes: u64,
}

impl Default for Wait {
    /// Ten minutes for an artifact, a 25 ms poll, 500 ms of stability, five minutes to hang.
    fn default() -> Wait {
        Wait {
            timeout_ms: 600_000,
            poll_ms: 25,
            stable_ms: 500,
            max_hung_ms: 300_000,
            max_artifact_bytes: WaitSettings::default().max_artifact_bytes,
        }
    }
}

impl From<Wait> for WaitSettings {
    fn from(wait: Wait) -> WaitSettings {
        WaitSettings {
            timeout_ms: wait.timeout_ms,
            poll_ms: wait.poll_ms,
            stable_ms: wait.stable_ms,
            max_hung_ms: wait.max_hung_ms,
            max_artifact_bytes: wait.max_artifact_bytes,
        }
    }
}

impl Workflow {
    /// Reads, checks and resolves a workflow file. Every mistake is an `invalid_input` (or
    /// `schema_invalid`, `artifact_outside_worktree`) error naming the file, line and column.
    pub fn load(path: &Path) -> Result<Workflow, Error> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::new(
                Code::InvalidInput,
                format!("cannot read workflow file {}: {error}", path.display()),
            )
            .with_hint("pass the path of a workflow TOML file (`devflow init` writes one)")
        })?;
        Workflow::parse(path, &text)
    }

    /// Checks and resolves workflow text; `path` names it and anchors its relative files. A
    /// leading byte order mark is dropped (places are counted without it, as editors do).
    pub fn parse(path: &Path, text: &str) -> Result<Workflow, Error> {
        let text = text.strip_prefix(check::UTF8_BOM).unwrap_or(text);
        let parsed = file::parse(path, text)?;
        check::resolve(path, text, parsed)
    }

    /// The snapshot stored in `runs.definition`.
    pub fn to_definition(&self) -> Value {
        serde_json::to_value(self).expect("a workflow serializes")
    }

    /// The workflow a run was created with. A run stored before phases had `needs` ran them as
    /// one chain, and reads back as that chain.
    pub fn from_definition(definition: &Value) -> Result<Workflow, Error> {
        let mut definition = definition.clone();
        if let Some(phases) = definition.get_mut("phases").and_then(Value::as_array_mut) {
            let mut previous: Option<Value> = None;
            for phase in phases.iter_mut().filter_map(Value::as_object_mut) {
                let key = phase.get("key").cloned();
                phase
                    .entry("needs")
                    .or_insert_with(|| Value::Array(previous.into_iter().collect()));
                previous = key;
            }
        }
        serde_json::from_value(definition).map_err(|error| {
            Error::corruption(format!("the run's stored workflow does not parse: {error}"))
        })
    }

    /// The name of the agent that does `phase`: its role's, or for a role with an agent per
    /// phase `role/phase` (a session row's `role_id`).
    pub fn agent_of(&self, phase: &PhaseDef) -> String {
        match self.roles.get(&phase.role).map(|role| role.agent) {
            Some(Agents::PerPhase) => format!("{}/{}", phase.role, phase.key),
            _ => phase.role.clone(),
        }
    }

    pub fn phase(&self, key: &str) -> Option<&PhaseDef> {
        self.phases.iter().find(|phase| phase.key == key)
    }

    /// Every phase's schema, compiled, in phase order.
    pub fn compile_schemas(&self) -> Result<Vec<Arc<Schema>>, Error> {
        self.phases
            .iter()
            .map(|phase| Schema::compile(&phase.schema_id, &phase.schema).map(Arc::new))
            .collect()
    }
}
