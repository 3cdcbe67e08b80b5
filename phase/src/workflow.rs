//! Workflows: the TOML file a person writes, checked and resolved into the snapshot a run keeps.
//!
//! [`Workflow::load`] reads the file, checks it (`check`), and resolves everything a run needs
//! later — instructions text, schema JSON, wait settings — into a [`Workflow`] that serializes to
//! `runs.definition`. `resume`, `approve` and `reject` rebuild the run's prompts from that
//! snapshot alone, so editing the files during a run changes nothing for it.

mod bounds;
mod check;
pub(crate) mod file;
mod prompt;
mod reserved;
mod role;
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

pub use prompt::phase_instructions;

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
    pub roles: BTreeMap<String, Role>,
    pub phases: Vec<PhaseDef>,
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
    pub role: String,
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

    /// The workflow a run was created with.
    pub fn from_definition(definition: &Value) -> Result<Workflow, Error> {
        serde_json::from_value(definition.clone()).map_err(|error| {
            Error::corruption(format!("the run's stored workflow does not parse: {error}"))
        })
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
