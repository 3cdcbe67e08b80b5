//! Two phases, the first repaired once: its first artifact is invalid, its repair valid.

use super::RUN_DEADLINE;
use super::world::{AgentWorld, Cli, Config, Phase};

#[test]
fn claude_code_runs_two_phases_with_one_repair() {
    two_phases_with_one_repair(Cli::ClaudeCode);
}

#[test]
fn codex_runs_two_phases_with_one_repair() {
    two_phases_with_one_repair(Cli::Codex);
}

#[test]
fn gemini_runs_two_phases_with_one_repair() {
    two_phases_with_one_repair(Cli::Gemini);
}

#[test]
fn aider_runs_two_phases_with_one_repair() {
    two_phases_with_one_repair(Cli::Aider);
}

fn two_phases_with_one_repair(cli: Cli) {
    let Some(world) = AgentWorld::new(cli, Config::Complete) else { return };
    let workflow = world.workflow(&[
        Phase::new("plan", "planner", "invalid, ok"),
        Phase::new("review", "reviewer", "ok"),
    ]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "real"], RUN_DEADLINE);
    let report = world.report("real", &run);
    assert_eq!(run.code, 0, "{cli:?}: the run did not complete\n{report}");
    let events = world.events("real");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in ["artifact.invalid", "prompt.repaired", "artifact.validated", "run.completed"] {
        assert!(kinds.contains(&kind), "{cli:?}: no {kind} in {kinds:?}\n{report}");
    }
    world.assert_model_saw_each_recorded_prompt_once("real", &report);
}
