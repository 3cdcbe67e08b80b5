//! A run's agents belong to the host whose tmux runs them: a devflow on another host leaves
//! them alone and stops the run at a gate that names their host; `resume --move-agents` there
//! starts fresh agents instead. Two hosts on one machine: `DEVFLOW_HOST` names each.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Phase, World, eventually, finish, instructions, kill_tmux};

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_agents_are_on_another_host_waits_at_a_gate_naming_it_until_they_are_moved() {
    for (backend, world) in World::on_every_backend().await {
        let plan = Phase {
            // Slow writes its artifact in chunks: the wait takes it only once it held still.
            instructions: instructions("plan", "slow", "ok", "Slow-Ms: 3000"),
            stable_ms: 2_500,
            ..Phase::new("plan", "slow")
        };
        let workflow = world.workflow(&[plan]);
        let args = ["run", workflow.to_str().unwrap(), "--run-id", "moved"];
        let mut on_a = world.command(&args);
        on_a.env("DEVFLOW_HOST", "host-a");
        let mut child = on_a.spawn().unwrap();
        eventually("the plan to be waited for on host-a", Duration::from_secs(60), || {
            let status = world.devflow(&["status", "moved", "--json"]);
            let status: Value = serde_json::from_str(&status.stdout).unwrap_or(Value::Null);
            status["phases"][0]["state"] == "awaiting_artifact"
        });
        child.kill().unwrap();
        finish(child, &args);
        assert_eq!(world.status("moved")["agent_host"], "host-a", "{backend}");
        // Host A's agents are out of reach from here: its tmux is gone with it (on one machine
        // they would otherwise go on writing into the same checkout).
        kill_tmux(&world.worktree());

        let on_b = |args: &[&str]| {
            let mut command = world.command(args);
            command.env("DEVFLOW_HOST", "host-b");
            finish(command.spawn().unwrap(), args)
        };
        let stopped = on_b(&["resume", "moved"]);
        assert_eq!(stopped.code, 3, "{backend}: {stopped:?}");
        let said = format!("{}{}", stopped.stdout, stopped.stderr);
        assert!(said.contains("agents_elsewhere"), "{backend}: {said}");
        assert!(said.contains("host-a") && said.contains("--move-agents"), "{backend}: {said}");
        let status = world.status("moved");
        assert_eq!(status["state"], "paused", "{backend}");
        assert_eq!(status["agent_host"], "host-a", "{backend}: nothing moved");
        let kinds = world.event_kinds("moved");
        assert!(!kinds.iter().any(|kind| kind == "session.failed"), "{backend}: {kinds:?}");
        assert_eq!(world.prompts().len(), 1, "{backend}: nothing sent from host-b");

        let moved = on_b(&["resume", "moved", "--move-agents"]);
        assert_eq!(moved.code, 0, "{backend}: {moved:?}");
        let status = world.status("moved");
        assert_eq!(
            (&status["state"], &status["agent_host"]),
            (&"completed".into(), &"host-b".into())
        );
        let events = world.events("moved");
        let moves: Vec<&Value> =
            events.iter().filter(|event| event["type"] == "run.agents_moved").collect();
        assert_eq!(moves.len(), 1, "{backend}: {moves:?}");
        assert_eq!(moves[0]["payload"]["from"], "host-a", "{backend}");
        assert_eq!(moves[0]["payload"]["to"], "host-b", "{backend}");
        assert_eq!(moves[0]["payload"]["sessions"].as_array().unwrap().len(), 1, "{backend}");
        assert_eq!(world.prompts().len(), 2, "{backend}: one prompt to each host's agent");
        kill_tmux(&world.worktree());
    }
}
