//! The example workflow end to end, and the approval gate: approve and reject.

use devflow_core::Schema;
use serde_json::Value;

use crate::support::{Phase, World, instructions, repo_root};

#[tokio::test(flavor = "multi_thread")]
async fn example_stops_at_the_plan_gate_and_completes_after_approve() {
    for (backend, world) in World::on_every_backend().await {
        let workflow = repo_root().join("examples/feature/workflow.toml");
        let workflow = workflow.to_str().unwrap();
        let run = world.devflow(&["run", workflow, "--run-id", "ex-1"]);
        assert_eq!(run.code, 3, "{backend}: {run:?}");
        assert!(
            run.stdout.contains("waiting for approval at gate plan_review"),
            "{backend}: {run:?}"
        );

        let status = world.status("ex-1");
        assert_eq!(status["state"], "awaiting_approval", "{backend}");
        assert_eq!(status["gates"][0]["gate_key"], "plan_review");
        assert_eq!(status["gates"][0]["phase_key"], "plan");
        assert_eq!(status["gates"][0]["state"], "pending");
        assert!(status["created_at"].as_i64().unwrap() > 1_000_000_000_000, "JSON keeps epoch ms");

        // Tables show local times and ages, not epoch milliseconds.
        let table = world.devflow(&["status"]);
        assert_eq!(table.code, 0, "{table:?}");
        let row = table.stdout.lines().find(|line| line.starts_with("ex-1")).unwrap();
        assert!(row.contains("awaiting_approval") && row.contains(" plan "), "{row}");
        assert!(row.ends_with("(just now)") || row.ends_with(" s ago)"), "{row}");
        let digits_run = row.split(|c: char| !c.is_ascii_digit()).map(str::len).max();
        assert!(digits_run < Some(5), "no epoch milliseconds in a table: {row}");

        let run = world.devflow(&["approve", "ex-1", "--note", "fine"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        let status = world.status("ex-1");
        assert_eq!(status["state"], "completed", "{backend}");
        let phases: Vec<(&str, &str, u64)> = status["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap(),
                    p["state"].as_str().unwrap(),
                    p["attempts"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            phases,
            [("plan", "completed", 1), ("implement", "completed", 1), ("review", "completed", 1)]
        );
        assert_eq!(status["gates"][0]["state"], "approved");
        assert_eq!(status["gates"][0]["decided_by"], "tester");

        for (artifact, schema) in
            [("plan", "plan"), ("implementation", "implementation"), ("review", "review")]
        {
            let schema_path =
                repo_root().join(format!("examples/feature/schemas/{schema}.schema.json"));
            let schema: Value =
                serde_json::from_slice(&std::fs::read(schema_path).unwrap()).unwrap();
            let schema = Schema::compile(artifact, &schema).unwrap();
            let bytes =
                std::fs::read(world.worktree().join(format!("artifacts/{artifact}.json"))).unwrap();
            assert!(schema.validate_bytes(&bytes).is_valid(), "{backend}: {artifact} is not valid");
        }
        let prompts = world.prompts();
        assert_eq!(prompts.len(), 3, "{backend}: one prompt per phase: {prompts:#?}");
        for prompt in &prompts {
            assert!(
                prompt
                    .contains("\n\nThe artifact must validate against this JSON Schema (schemas/")
                    && prompt.contains("):\n\n```json\n{\n  \"$schema\""),
                "the schema travels with the prompt, in an ordinary json block: {prompt}"
            );
            assert!(prompt.contains(&format!(
                "Artifact: {}/artifacts/",
                world.worktree().canonicalize().unwrap().display()
            )));
        }
        let events = world.events("ex-1");
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds.first(), Some(&"run.created"));
        assert_eq!(kinds.last(), Some(&"run.completed"));
        assert_eq!(kinds.iter().filter(|k| **k == "prompt.sent").count(), 3);
        assert!(events.iter().any(|e| e["type"] == "approval.decided" && e["phase_key"] == "plan"));
        for event in &events {
            for field in ["type", "phase_key", "idempotency_key", "payload", "created_at"] {
                assert!(event.get(field).is_some(), "event without {field}: {event}");
            }
        }
    }
}

#[test]
fn reject_sends_the_note_to_the_agent_and_approve_finishes() {
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let build = Phase {
        role: "builder",
        instructions: instructions("build", "ok", "ok", ""),
        ..Phase::new("build", "ok")
    };
    let workflow = world.workflow(&[plan, build]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "rj"]);
    assert_eq!(run.code, 3, "{run:?}");

    let run = world.devflow(&["reject", "rj", "--note", "Add a rollback step"]);
    assert_eq!(run.code, 3, "the rejected phase comes back to the gate: {run:?}");
    let prompts = world.prompts();
    assert_eq!(prompts.len(), 2, "{prompts:#?}");
    assert!(!prompts[0].contains("A reviewer rejected"));
    assert!(
        prompts[1].contains("A reviewer rejected the previous artifact: Add a rollback step"),
        "{}",
        prompts[1]
    );
    let status = world.status("rj");
    assert_eq!(status["phases"][0]["attempts"], 2);
    let gates: Vec<&str> =
        status["gates"].as_array().unwrap().iter().map(|g| g["state"].as_str().unwrap()).collect();
    assert_eq!(gates, ["rejected", "pending"]);

    let run = world.devflow(&["approve", "rj", "--gate", "plan_review"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(world.status("rj")["state"], "completed");
    assert_eq!(world.prompts().len(), 3);
    assert_eq!(world.artifact("build")["title"], "build");
}

/// Issue 17, defect 6: `approve` completed a phase on bytes no one checked.
#[tokio::test(flavor = "multi_thread")]
async fn an_artifact_changed_behind_its_gate_is_not_approved() {
    for (backend, world) in World::on_every_backend().await {
        let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
        let build = Phase { role: "builder", ..Phase::new("build", "ok") };
        let workflow = world.workflow(&[plan, build]);
        let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "chg"]);
        assert_eq!(run.code, 3, "{backend}: {run:?}");
        let path = world.worktree().join("out/plan.json");
        let validated = std::fs::read(&path).unwrap();
        std::fs::write(&path, br#"{"title": "swapped", "steps": []}"#).unwrap();

        let run = world.devflow(&["approve", "chg"]);
        assert_eq!(run.code, 2, "{backend}: {run:?}");
        assert!(run.stderr.contains("changed (sha256"), "{backend}: {run:?}");
        assert!(run.stderr.contains("nothing was approved"), "{backend}: {run:?}");
        let status = world.status("chg");
        assert_eq!(status["state"], "awaiting_approval", "{backend}");
        assert_eq!(status["gates"][0]["state"], "pending", "{backend}: nothing was decided");
        assert!(!world.event_kinds("chg").iter().any(|kind| kind == "approval.decided"));

        std::fs::remove_file(&path).unwrap();
        let run = world.devflow(&["approve", "chg"]);
        assert_eq!(run.code, 2, "{backend}: {run:?}");
        assert!(run.stderr.contains("is gone since it was validated"), "{backend}: {run:?}");

        std::fs::write(&path, &validated).unwrap();
        let run = world.devflow(&["approve", "chg"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        assert_eq!(world.status("chg")["state"], "completed", "{backend}");
    }
}
