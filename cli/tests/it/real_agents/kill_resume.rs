//! `kill -9` of devflow while it waits for an artifact, then `devflow resume`: the run
//! completes, and the model received every recorded prompt exactly once and no other. The
//! plan's first answer writes nothing (`Model-Script: none, ok`), so the wait lasts until its
//! timeout; devflow is killed during it, after the model received the prompt.

use std::time::{Duration, Instant};

use super::RUN_DEADLINE;
use super::world::{AgentWorld, Cli, Config, Phase, finish_within};

#[test]
fn claude_code_completes_after_kill_9_mid_wait_and_resume() {
    kill_9_mid_wait_then_resume(Cli::ClaudeCode);
}

#[test]
fn codex_completes_after_kill_9_mid_wait_and_resume() {
    kill_9_mid_wait_then_resume(Cli::Codex);
}

#[test]
fn gemini_completes_after_kill_9_mid_wait_and_resume() {
    kill_9_mid_wait_then_resume(Cli::Gemini);
}

#[test]
fn aider_completes_after_kill_9_mid_wait_and_resume() {
    kill_9_mid_wait_then_resume(Cli::Aider);
}

fn kill_9_mid_wait_then_resume(cli: Cli) {
    let Some(world) = AgentWorld::new(cli, Config::Complete) else { return };
    let plan = Phase { timeout_ms: 20_000, ..Phase::new("plan", "planner", "none, ok") };
    let workflow = world.workflow(&[plan, Phase::new("review", "reviewer", "ok")]);
    let mut child = world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", "k9"]);
    let plan_path = format!("{}/out/plan.json", world.worktree().display());
    let started = Instant::now();
    let waiting = loop {
        let received = world.received().iter().any(|r| r["artifact"] == plan_path.as_str());
        let awaiting = received && world.status("k9")["phases"][0]["state"] == "awaiting_artifact";
        if awaiting || child.try_wait().unwrap().is_some() || started.elapsed() > RUN_DEADLINE {
            break awaiting;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Mid-wait: the model has the prompt and wrote nothing; the timeout is seconds away.
    std::thread::sleep(Duration::from_secs(1));
    let _ = child.kill(); // SIGKILL
    let killed = finish_within(child, &["run"], Duration::from_secs(10));
    let report = world.report("k9", &killed);
    assert!(
        waiting,
        "{cli:?}: devflow never waited for the plan with the prompt received\n{report}"
    );

    let resumed = world.devflow(&["resume", "k9"], RUN_DEADLINE);
    let report = world.report("k9", &resumed);
    assert_eq!(resumed.code, 0, "{cli:?}: the resumed run did not complete\n{report}");
    assert_eq!(world.status("k9")["state"], "completed", "{report}");
    world.assert_model_saw_each_recorded_prompt_once("k9", &report);
    let plan_prompts =
        world.received().iter().filter(|r| r["artifact"] == plan_path.as_str()).count();
    assert_eq!(plan_prompts, 2, "{cli:?}: the plan's prompt and its repair, each once\n{report}");
}
