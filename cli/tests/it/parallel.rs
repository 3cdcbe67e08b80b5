//! Phases that run at once (issue 14): a fan-out of three implementers, each with an agent of
//! its own in real tmux, after a plan and before a review; killed while they work and resumed.

use std::time::Duration;

use serde_json::Value;

use crate::support::{PLAN_SCHEMA, World, eventually, finish, instructions};

/// plan → implement a, b, c (one role, an agent per phase, `work_ms` each) → review.
fn fan_out(world: &World, work_ms: u64, plan_gate: bool) -> std::path::PathBuf {
    let wf = world.worktree().parent().unwrap().join("wf");
    std::fs::write(wf.join("plan.schema.json"), PLAN_SCHEMA).unwrap();
    let role = |name: &str, work_ms: u64, agent: &str| {
        format!(
            "[roles.{name}]\ncommand = [\"devflow\", \"agent-sim\", \"--work-ms\", \"{work_ms}\"]\nagent = \"{agent}\"\n"
        )
    };
    let mut text = String::from("name = \"fan-out\"\nmax_parallel = 3\n");
    text += &role("planner", 60, "shared");
    text += &role("implementer", work_ms, "per_phase");
    let phase = |key: &str, role: &str, needs: &str, extra: &str, gate: bool| {
        let instructions = instructions(key, "ok", "ok", extra);
        let gate = if gate { "approval_gate = \"plan_review\"\n" } else { "" };
        format!(
            "\n[[phases]]\nkey = \"{key}\"\nrole = \"{role}\"\nneeds = [{needs}]\nartifact = \"out/{key}.json\"\nschema = \"plan.schema.json\"\n{gate}instructions = '''\n{instructions}'''\n[phases.wait]\ntimeout_ms = 60000\nstable_ms = 150\npoll_ms = 20\n"
        )
    };
    text += &phase("plan", "planner", "", "", plan_gate);
    for key in ["a", "b", "c"] {
        text += &phase(key, "implementer", "\"plan\"", "Follow {{needs.plan.artifact}}.", false);
    }
    text += &phase("review", "planner", "\"a\", \"b\", \"c\"", "", false);
    let path = wf.join("fan-out.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The index in `events` of the first event of `kind` for `phase`.
fn first(events: &[Value], kind: &str, phase: &str) -> usize {
    events
        .iter()
        .position(|event| event["type"] == kind && event["phase_key"] == phase)
        .unwrap_or_else(|| panic!("no {kind} for {phase}"))
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|event| event["type"] == kind).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_implementers_work_at_once_each_with_its_own_agent_and_every_prompt_once() {
    for (backend, world) in World::on_every_backend().await {
        let workflow = fan_out(&world, 4_000, false);
        let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "fan"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        assert_eq!(world.status("fan")["state"], "completed", "{backend}");
        let events = world.events("fan");
        // Every implementer had its prompt before any of them finished.
        let last_sent = ["a", "b", "c"].map(|key| first(&events, "prompt.sent", key));
        let first_done = ["a", "b", "c"].map(|key| first(&events, "artifact.validated", key));
        assert!(
            last_sent.iter().max() < first_done.iter().min(),
            "{backend}: sent at {last_sent:?}, done at {first_done:?}"
        );
        // The review started only after all three completed.
        let review = first(&events, "phase.started", "review");
        for key in ["a", "b", "c"] {
            assert!(first(&events, "phase.completed", key) < review, "{backend}: {key}");
        }
        assert_eq!(count(&events, "prompt.sent"), 5, "{backend}");
        assert_eq!(count(&events, "run.completed"), 1, "{backend}");
        let prompts = world.prompts();
        assert_eq!(prompts.len(), 5, "{backend}: each prompt exactly once: {prompts:#?}");
        // Each implementer is an agent of its own: three sessions of the role, a window each.
        let sessions: Vec<String> = events
            .iter()
            .filter(|event| event["type"] == "session.created")
            .map(|event| event["payload"]["roleId"].as_str().unwrap_or_default().to_owned())
            .collect();
        for agent in ["implementer/a", "implementer/b", "implementer/c"] {
            assert!(sessions.iter().any(|role| role == agent), "{backend}: {sessions:?}");
        }
        // A prompt names the artifact of a phase it needs at its path in the worktree.
        let plan_path = world.worktree().canonicalize().unwrap().join("out/plan.json");
        let a_prompt = prompts.iter().find(|prompt| prompt.contains("Write the a plan")).unwrap();
        assert!(a_prompt.contains(&format!("Follow {}.", plan_path.display())), "{a_prompt}");
        for key in ["a", "b", "c", "review"] {
            assert_eq!(world.artifact(key)["title"], key, "{backend}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_three_implementers_work_then_resume_completes_with_each_prompt_once() {
    for (backend, world) in World::on_every_backend().await {
        let workflow = fan_out(&world, 6_000, false);
        let mut child = world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", "k9fan"]);
        eventually("three implementers waiting", Duration::from_secs(60), || {
            let run = world.devflow(&["events", "k9fan", "--json"]);
            run.code == 0 && run.stdout.matches("\"artifact.expected\"").count() >= 4
        });
        // Seen as it happens: every running phase, each with what it needs.
        let status = world.status("k9fan");
        assert_eq!(status["phases"][1]["needs"], serde_json::json!(["plan"]), "{backend}");
        assert_eq!(status["phases"][4]["needs"], serde_json::json!(["a", "b", "c"]), "{backend}");
        assert_eq!(status["phases"][2]["agent"], "implementer/b", "{backend}");
        let runs = world.devflow(&["status", "--json"]);
        let runs: Value = serde_json::from_str(&runs.stdout).unwrap();
        assert_eq!(runs[0]["current_phases"], serde_json::json!(["a", "b", "c"]), "{backend}");
        child.kill().unwrap(); // SIGKILL
        let killed = finish(child, &["run"]);
        assert_ne!(killed.code, 0);
        let panes_before = world.panes();

        let run = world.devflow(&["resume", "k9fan"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        assert_eq!(world.status("k9fan")["state"], "completed", "{backend}");
        let events = world.events("k9fan");
        assert_eq!(count(&events, "prompt.sent"), 5, "{backend}");
        assert_eq!(count(&events, "run.completed"), 1, "{backend}");
        let prompts = world.prompts();
        assert_eq!(prompts.len(), 5, "{backend}: each prompt exactly once: {prompts:#?}");
        // The implementers' agents were adopted, not started again.
        let created = events.iter().filter(|event| event["type"] == "session.created").count();
        assert_eq!(created, 4, "{backend}: a planner and three implementers");
        assert!(panes_before.len() >= 4, "{backend}: {panes_before:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_gate_on_the_plan_holds_its_dependants_until_approved() {
    let world = World::new();
    let workflow = fan_out(&world, 60, true);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "held"]);
    assert_eq!(run.code, 3, "{run:?}");
    let events = world.events("held");
    assert_eq!(count(&events, "prompt.sent"), 1, "only the plan's prompt before the approval");
    let approved = world.devflow(&["approve", "held"]);
    assert_eq!(approved.code, 0, "{approved:?}");
    assert_eq!(world.status("held")["state"], "completed");
    assert_eq!(world.prompts().len(), 5);
}
