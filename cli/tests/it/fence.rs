//! The lease as a fence, with real processes: a driver frozen (SIGSTOP) past its lease while
//! `devflow resume` takes the run over, then woken (SIGCONT), writes nothing and sends nothing.

use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Phase, World, eventually, finish, instructions};

/// Sends `signal` to the process `pid` (a child this test started).
fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// Kills a child by its pid if the test ends before it did (a stopped child never exits).
struct Reaper(u32);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.0.to_string()]).status();
    }
}

fn status(world: &World, run_id: &str) -> Option<Value> {
    let run = world.devflow(&["status", run_id, "--json"]);
    (run.code == 0).then(|| serde_json::from_str(&run.stdout).unwrap())
}

fn event_keys(world: &World, run_id: &str) -> Vec<String> {
    let events = world.events(run_id);
    events.iter().map(|event| event["idempotency_key"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_stopped_past_its_lease_and_woken_after_a_take_over_writes_and_sends_nothing() {
    for (backend, world) in World::on_every_backend().await {
        // Three chunks over 24 s: the plan's agent is still writing when the driver wakes.
        let plan = Phase {
            instructions: instructions("plan", "slow", "ok", "Slow-Ms: 24000"),
            stable_ms: 9_000,
            timeout_ms: 120_000,
            ..Phase::new("plan", "slow")
        };
        let build = Phase { role: "builder", ..Phase::new("build", "ok") };
        let workflow = world.workflow(&[plan, build]);
        let frozen: Child = world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", "fz"]);
        let _reaper = Reaper(frozen.id());
        eventually("the plan's artifact wait", Duration::from_secs(60), || {
            status(&world, "fz").is_some_and(|s| s["phases"][0]["state"] == "awaiting_artifact")
        });
        let first = status(&world, "fz").unwrap();
        assert_eq!(first["lease_epoch"], 1, "{backend}: {first}");
        signal(frozen.id(), "-STOP");

        // `resume` refuses while the lease runs, then takes the run over once it expired.
        std::thread::sleep(Duration::from_millis(16_500));
        let mut taker = world.spawn(&["resume", "fz"]);
        eventually("the take-over", Duration::from_secs(30), || {
            status(&world, "fz")
                .is_some_and(|s| s["lease_epoch"] == 2 && s["lease_owner"] != first["lease_owner"])
        });
        let before_wake = event_keys(&world, "fz");
        let prompts_before_wake = world.prompts();

        signal(frozen.id(), "-CONT");
        let woken = finish(frozen, &["run"]);
        assert_eq!(woken.code, 1, "{backend}: the fenced driver stops with an error: {woken:?}");
        assert!(
            woken.stderr.contains("lost run fz's lease") && woken.stderr.contains("[lease_lost]"),
            "{backend}: says it was fenced out: {}",
            woken.stderr
        );
        assert_eq!(
            event_keys(&world, "fz"),
            before_wake,
            "{backend}: the woken driver wrote no event (the agent is still writing meanwhile)"
        );
        assert_eq!(world.prompts(), prompts_before_wake, "{backend}: and sent no prompt");

        assert!(taker.try_wait().unwrap().is_none(), "{backend}: the taker still drives");
        let taken = finish(taker, &["resume"]);
        assert_eq!(taken.code, 0, "{backend}: {taken:?}");
        let done = status(&world, "fz").unwrap();
        assert_eq!(done["state"], "completed", "{backend}");
        let prompts = world.prompts();
        assert_eq!(prompts.len(), 2, "{backend}: each prompt delivered exactly once: {prompts:#?}");
        let sent = world.events("fz").iter().filter(|e| e["type"] == "prompt.sent").count();
        assert_eq!(sent, 2, "{backend}");
        assert_eq!(world.artifact("plan")["title"], "plan");
    }
}
