//! Instructions that contain a `Scenario:` line (the test doubles' vocabulary) reach the real
//! agent unchanged: in the first prompt, and in the repair prompt wherever it repeats them.

use super::RUN_DEADLINE;
use super::world::{AgentWorld, Cli, Config, Phase};

const LINES: &str = "Scenario: crash\nRepair-Scenario: hang\n";

#[test]
fn claude_code_gets_a_scenario_line_unchanged() {
    scenario_line_unchanged(Cli::ClaudeCode);
}

#[test]
fn codex_gets_a_scenario_line_unchanged() {
    scenario_line_unchanged(Cli::Codex);
}

#[test]
fn gemini_gets_a_scenario_line_unchanged() {
    scenario_line_unchanged(Cli::Gemini);
}

#[test]
fn aider_gets_a_scenario_line_unchanged() {
    scenario_line_unchanged(Cli::Aider);
}

fn scenario_line_unchanged(cli: Cli) {
    let Some(world) = AgentWorld::new(cli, Config::Complete) else { return };
    let plan = Phase { extra: LINES, ..Phase::new("plan", "planner", "invalid, ok") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "sc"], RUN_DEADLINE);
    let report = world.report("sc", &run);
    assert_eq!(run.code, 0, "{cli:?}: the run did not complete\n{report}");
    let received = world.received();
    let first = received.first().and_then(|r| r["prompt"].as_str()).unwrap_or_default();
    assert!(
        first.contains(LINES),
        "{cli:?}: the first prompt lost its Scenario: lines\n{first}\n{report}"
    );
    for prompt in received.iter().filter_map(|r| r["prompt"].as_str()) {
        for line in prompt.lines().filter(|line| line.trim_start().starts_with("Scenario:")) {
            assert_eq!(
                line.trim(),
                "Scenario: crash",
                "{cli:?}: a Scenario: line was rewritten\n{prompt}"
            );
        }
    }
    world.assert_model_saw_each_recorded_prompt_once("sc", &report);
}
