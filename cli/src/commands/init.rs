//! `devflow init [--agent NAME]`: `.devflow/` in the worktree, with the example workflow for
//! that agent CLI (examples/agents/NAME.toml; agent-sim's is examples/feature) and its schemas.

use std::path::Path;

use devflow_core::{Code, Error};

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};

/// The example's schemas, written under `.devflow/schemas/`.
const SCHEMAS: &[(&str, &str)] = &[
    (
        "schemas/plan.schema.json",
        include_str!("../../../examples/feature/schemas/plan.schema.json"),
    ),
    (
        "schemas/implementation.schema.json",
        include_str!("../../../examples/feature/schemas/implementation.schema.json"),
    ),
    (
        "schemas/review.schema.json",
        include_str!("../../../examples/feature/schemas/review.schema.json"),
    ),
    (".gitignore", "devflow.db*\ntmux*\n"),
];

/// agent-sim's prompts: its workflow reads them from files, with their `Scenario:` lines.
const SIM_PROMPTS: &[(&str, &str)] = &[
    ("prompts/plan.md", include_str!("../../../examples/feature/prompts/plan.md")),
    ("prompts/implement.md", include_str!("../../../examples/feature/prompts/implement.md")),
    ("prompts/review.md", include_str!("../../../examples/feature/prompts/review.md")),
];

/// Each agent `--agent` knows, and its workflow as in examples/.
pub const AGENTS: &[(&str, &str)] = &[
    ("claude-code", include_str!("../../../examples/agents/claude-code.toml")),
    ("codex", include_str!("../../../examples/agents/codex.toml")),
    ("gemini", include_str!("../../../examples/agents/gemini.toml")),
    ("aider", include_str!("../../../examples/agents/aider.toml")),
    ("agent-sim", include_str!("../../../examples/feature/workflow.toml")),
];

const DEFAULT_AGENT: &str = "agent-sim";

pub async fn run(agent: Option<&str>, place: &Place) -> Result<Status, Error> {
    let agent = agent.unwrap_or(DEFAULT_AGENT);
    let workflow = workflow_for(agent)?;
    let context = Context::new(place)?;
    let dir = context.devflow_dir();
    write_new(&dir.join("workflow.toml"), &workflow)?;
    let prompts = if agent == DEFAULT_AGENT { SIM_PROMPTS } else { &[] };
    for (name, text) in SCHEMAS.iter().chain(prompts) {
        write_new(&dir.join(name), text)?;
    }
    let db = context.connect().await?;
    let file = dir.join("workflow.toml");
    out!("initialized {} for {agent} (database {})", dir.display(), db.url());
    if agent != DEFAULT_AGENT {
        out!("check the agent's setup: devflow doctor {}", file.display());
    }
    out!("next: devflow run {}", file.display());
    Ok(exit::COMPLETED)
}

/// The workflow for `agent`, its paths made relative to `.devflow/` (where the schemas go); an
/// unknown name is refused with the known ones.
pub fn workflow_for(agent: &str) -> Result<String, Error> {
    let Some((_, text)) = AGENTS.iter().find(|(name, _)| *name == agent) else {
        let known: Vec<&str> = AGENTS.iter().map(|(name, _)| *name).collect();
        return Err(Error::new(Code::InvalidInput, format!("there is no agent {agent:?}"))
            .with_hint(format!("--agent is one of: {}", known.join(", "))));
    };
    Ok(text.replace("\"../feature/", "\""))
}

/// Writes `text` unless the file exists (a person's edits are kept).
fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    if path.exists() {
        out!("kept     {}", path.display());
        return Ok(());
    }
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, text));
    written.map_err(|error| {
        Error::new(Code::WorkspacePermissions, format!("cannot write {}: {error}", path.display()))
    })?;
    out!("created  {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use devflow_phase::Workflow;
    use devflow_phase::workflow::RoleCommand;
    use devflow_session::preset;

    /// Each example's roles start with the argv of the preset they name (or are chosen for),
    /// so the examples, `init` and the presets cannot drift apart.
    #[test]
    fn every_agents_workflow_loads_and_uses_its_presets_argv() {
        for (agent, _) in AGENTS {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("workflow.toml"), workflow_for(agent).unwrap()).unwrap();
            for (name, text) in SCHEMAS.iter().chain(SIM_PROMPTS) {
                let path = dir.path().join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            let workflow = Workflow::load(&dir.path().join("workflow.toml"))
                .unwrap_or_else(|e| panic!("{agent}: {e}"));
            for (role, def) in &workflow.roles {
                let RoleCommand::Argv(argv) = &def.command else { panic!("{agent} {role}") };
                let chosen = preset::for_command(&def.command.to_agent_command());
                assert_eq!(chosen.name, *agent, "{agent} {role}: the preset its program picks");
                assert_eq!(def.preset.as_deref().unwrap_or(agent), *agent);
                let default: Vec<&str> = chosen.default_argv.to_vec();
                assert_eq!(&argv[..default.len()], &default[..], "{agent} {role}");
            }
        }
    }

    #[test]
    fn an_unknown_agent_is_refused_with_the_known_ones() {
        let error = workflow_for("claude").unwrap_err();
        assert!(error.is(Code::InvalidInput), "{error}");
        let hint = error.recovery_hint().unwrap_or_default();
        for known in ["claude-code", "codex", "gemini", "aider", "agent-sim"] {
            assert!(hint.contains(known), "{hint}");
        }
    }
}
