//! A run's agents belong to the host whose tmux runs them: a devflow on another host leaves
//! them alone and stops the run at a gate that names their host; `resume --move-agents` there
//! starts fresh agents instead, and so does a worker started with `--move-agents`, or any
//! devflow when the run's workflow says `agents_may_move`. Two hosts on one machine:
//! `DEVFLOW_HOST` names each.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::{Phase, Run, World, eventually, finish, instructions, kill_tmux};

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

/// devflow on host `host` (spawned, for the caller to wait for or kill).
fn spawn_on(world: &World, host: &str, args: &[&str]) -> Child {
    let mut command: Command = world.command(args);
    command.env("DEVFLOW_HOST", host);
    command.spawn().unwrap()
}

/// devflow on host `host`, to its end.
fn on(world: &World, host: &str, args: &[&str]) -> Run {
    finish(spawn_on(world, host, args), args)
}

/// A one-phase workflow whose agent takes a few seconds over its artifact (so a driver can be
/// stopped while it waits), with `head` as its first lines (a top-level setting).
fn slow_workflow(world: &World, head: &str) -> PathBuf {
    let plan = Phase {
        // Slow writes its artifact in chunks: the wait takes it only once it held still.
        instructions: instructions("plan", "slow", "ok", "Slow-Ms: 3000"),
        stable_ms: 2_500,
        ..Phase::new("plan", "slow")
    };
    let path = world.workflow(&[plan]);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{head}{text}")).unwrap();
    path
}

/// `driver` (on host-a) waits for run `run_id`'s agent; then host-a goes away: the driver is
/// killed with `kill -9`, so its lease is left to run out, and its tmux with it (on one machine
/// the agents would otherwise go on writing into the same checkout).
fn host_a_goes_away_while_it_waits(world: &World, worktree: &Path, run_id: &str, driver: Child) {
    let mut driver = driver;
    eventually("the plan to be waited for on host-a", Duration::from_secs(60), || {
        let status = world.devflow(&["status", run_id, "--json"]);
        let status: Value = serde_json::from_str(&status.stdout).unwrap_or(Value::Null);
        status["phases"][0]["state"] == "awaiting_artifact"
    });
    driver.kill().unwrap();
    finish(driver, &["the driver on host-a"]);
    kill_tmux(worktree);
    assert_eq!(world.status(run_id)["agent_host"], "host-a");
}

/// Waits until the run's lease has run out by the clock (the database's is this machine's).
fn lease_runs_out(world: &World, run_id: &str) {
    eventually("the dead driver's lease to run out", Duration::from_secs(30), || {
        let expires = world.status(run_id)["lease_expires_at"].as_i64().unwrap_or(0);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
        i128::try_from(now).unwrap() > i128::from(expires) + 200
    });
}

/// The run's `run.agents_moved` events.
fn moves(world: &World, run_id: &str) -> Vec<Value> {
    let events = world.events(run_id);
    events.into_iter().filter(|event| event["type"] == "run.agents_moved").collect()
}

/// The run completed on host-b after one move from host-a by `moved_by` (a prefix of it),
/// without a gate: its phase failed once for the move and started again with a fresh agent.
fn completed_moved_once(world: &World, backend: &str, run_id: &str, moved_by: &str) {
    let status = world.status(run_id);
    assert_eq!((&status["state"], &status["agent_host"]), (&"completed".into(), &"host-b".into()));
    let moves = moves(world, run_id);
    assert_eq!(moves.len(), 1, "{backend}: {moves:?}");
    let moved = &moves[0]["payload"];
    assert_eq!((&moved["from"], &moved["to"]), (&"host-a".into(), &"host-b".into()), "{backend}");
    assert_eq!(moved["sessions"].as_array().unwrap().len(), 1, "{backend}: {moved}");
    let by = moved["movedBy"].as_str().unwrap();
    assert!(by.starts_with(moved_by), "{backend}: moved by {by}, not {moved_by}");
    let events = world.events(run_id);
    let failed: Vec<&Value> = events.iter().filter(|e| e["type"] == "phase.failed").collect();
    assert_eq!(failed.len(), 1, "{backend}: {failed:?}");
    assert_eq!(failed[0]["payload"]["reason"], "agents_moved", "{backend}");
    let gates = events.iter().filter(|e| e["type"] == "approval.requested").count();
    assert_eq!(gates, 0, "{backend}: an allowed move opens no gate and tells no one");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_may_move_agents_takes_over_a_run_whose_host_died_and_a_plain_one_leaves_it()
{
    for (backend, world) in World::on_every_backend().await {
        let workflow = slow_workflow(&world, "");
        let submitted = world.devflow(&["submit", workflow.to_str().unwrap(), "--run-id", "far"]);
        assert_eq!(submitted.code, 0, "{backend}: {submitted:?}");
        let worker_a = spawn_on(&world, "host-a", &["worker"]);
        host_a_goes_away_while_it_waits(&world, &world.worktree(), "far", worker_a);
        lease_runs_out(&world, "far");

        // Free to claim by its lease, but its agents are on host-a: a plain worker leaves it.
        let (before, events_before) = (world.status("far"), world.events("far").len());
        let plain = on(&world, "host-b", &["worker", "--exit-when-idle"]);
        assert_eq!(plain.code, 0, "{backend}: {plain:?}");
        assert!(plain.stderr.contains("stopped: 0 completed"), "{backend}: {}", plain.stderr);
        let status = world.status("far");
        assert_eq!(status["state"], "executing", "{backend}");
        assert_eq!(status["agent_host"], "host-a", "{backend}: nothing moved");
        for unclaimed in ["lease_owner", "lease_epoch"] {
            assert_eq!(status[unclaimed], before[unclaimed], "{backend}: not claimed");
        }
        assert_eq!(world.events("far").len(), events_before, "{backend}: no event");
        assert_eq!(world.prompts().len(), 1, "{backend}: nothing sent from host-b");

        let mover = on(&world, "host-b", &["worker", "--exit-when-idle", "--move-agents"]);
        assert_eq!(mover.code, 0, "{backend}: {mover:?}");
        assert!(mover.stderr.contains("1 completed"), "{backend}: {}", mover.stderr);
        completed_moved_once(&world, &backend, "far", "worker host-b:");
        assert_eq!(world.prompts().len(), 2, "{backend}: one prompt to each host's agent");
        kill_tmux(&world.worktree());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_that_lets_agents_move_is_taken_over_by_a_plain_worker_and_by_resume() {
    for (backend, world) in World::on_every_backend().await {
        let workflow = slow_workflow(&world, "agents_may_move = true\n");
        let submitted = world.devflow(&["submit", workflow.to_str().unwrap(), "--run-id", "free"]);
        assert_eq!(submitted.code, 0, "{backend}: {submitted:?}");
        let worker_a = spawn_on(&world, "host-a", &["worker"]);
        host_a_goes_away_while_it_waits(&world, &world.worktree(), "free", worker_a);
        lease_runs_out(&world, "free");
        let plain = on(&world, "host-b", &["worker", "--exit-when-idle"]);
        assert_eq!(plain.code, 0, "{backend}: {plain:?}");
        assert!(plain.stderr.contains("1 completed"), "{backend}: {}", plain.stderr);
        completed_moved_once(&world, &backend, "free", "worker host-b:");
        assert_eq!(world.prompts().len(), 2, "{backend}");

        // A run of `devflow run` in a worktree of its own: `resume` without --move-agents.
        let dir = world.worktree().join("runs").join("resumed");
        std::fs::create_dir_all(&dir).unwrap();
        let args = ["run", workflow.to_str().unwrap(), "--run-id", "again"];
        let in_dir = ["--worktree", dir.to_str().unwrap()];
        let run_a = spawn_on(&world, "host-a", &[&args[..], &in_dir[..]].concat());
        host_a_goes_away_while_it_waits(&world, &dir, "again", run_a);
        let resumed = on(&world, "host-b", &["resume", "again"]);
        assert_eq!(resumed.code, 0, "{backend}: {resumed:?}");
        completed_moved_once(&world, &backend, "again", "tester");
        assert_eq!(world.prompts().len(), 4, "{backend}");
        kill_tmux(&dir);
        kill_tmux(&world.worktree());
    }
}

/// devflow copies no worktree between hosts: a run whose recorded worktree is not on the new
/// host is refused there with a clear error, and nothing is moved.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_worktree_is_not_on_the_new_host_is_not_moved_and_says_why() {
    for (backend, world) in World::on_every_backend().await {
        let workflow = slow_workflow(&world, "");
        let dir = world.worktree().join("runs").join("away");
        std::fs::create_dir_all(&dir).unwrap();
        let args = ["submit", workflow.to_str().unwrap(), "--run-id", "away"];
        let submitted =
            world.devflow(&[&args[..], &["--worktree", dir.to_str().unwrap()]].concat());
        assert_eq!(submitted.code, 0, "{backend}: {submitted:?}");
        let worker_a = spawn_on(&world, "host-a", &["worker"]);
        eventually("host-a to claim the run", Duration::from_secs(60), || {
            world.status("away")["agent_host"] == "host-a"
        });
        // Stopped (SIGTERM): it gives the lease back, so the run is free to claim at once.
        let pid = worker_a.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        finish(worker_a, &["the worker on host-a"]);
        kill_tmux(&dir);
        // Host-a's agent outlives its pane for a moment and may still write into the worktree,
        // which would make the path again: it goes first.
        eventually("host-a's agent to be gone", Duration::from_secs(30), || {
            !any_process_works_in(&dir)
        });
        // Host-b has no checkout at the run's path.
        std::fs::rename(&dir, dir.with_file_name("elsewhere")).unwrap();

        let mover = on(&world, "host-b", &["worker", "--exit-when-idle", "--move-agents"]);
        assert_eq!(mover.code, 1, "{backend}: a run it could not drive is an error: {mover:?}");
        let said = &mover.stderr;
        assert!(
            said.contains("does not exist any more on this host (host-b)"),
            "{backend}: {said}"
        );
        assert!(said.contains("shared folder or a clone at the same path"), "{backend}: {said}");
        assert!(said.contains("failed 3 times in this worker"), "{backend}: {said}");
        let status = world.status("away");
        assert_eq!(status["agent_host"], "host-a", "{backend}: nothing moved");
        assert_eq!(status["lease_owner"], Value::Null, "{backend}: its lease given back");
        assert!(moves(&world, "away").is_empty(), "{backend}");
        kill_tmux(&dir.with_file_name("elsewhere"));
    }
}

/// A submitted run is driven by workers, not by `resume`: `resume --move-agents` moves its
/// agents to this host in its own step, and this host's workers (plain ones) drive it on.
#[tokio::test(flavor = "multi_thread")]
async fn resume_move_agents_hands_a_submitted_run_to_the_workers_of_this_host() {
    for (backend, world) in World::on_every_backend().await {
        let workflow = slow_workflow(&world, "");
        let submitted =
            world.devflow(&["submit", workflow.to_str().unwrap(), "--run-id", "handed"]);
        assert_eq!(submitted.code, 0, "{backend}: {submitted:?}");
        let worker_a = spawn_on(&world, "host-a", &["worker"]);
        host_a_goes_away_while_it_waits(&world, &world.worktree(), "handed", worker_a);

        // It waits out the dead driver's lease, then moves the agents and leaves the driving.
        let moved = on(&world, "host-b", &["resume", "handed", "--move-agents"]);
        assert_eq!(moved.code, 0, "{backend}: {moved:?}");
        assert!(moved.stdout.contains("queued"), "{backend}: {moved:?}");
        let status = world.status("handed");
        assert_eq!(
            (&status["state"], &status["agent_host"]),
            (&"executing".into(), &"host-b".into())
        );
        assert_eq!(moves(&world, "handed").len(), 1, "{backend}");

        let worked = on(&world, "host-b", &["worker", "--exit-when-idle"]);
        assert_eq!(worked.code, 0, "{backend}: {worked:?}");
        assert!(worked.stderr.contains("1 completed"), "{backend}: {}", worked.stderr);
        completed_moved_once(&world, &backend, "handed", "tester");
        assert_eq!(world.prompts().len(), 2, "{backend}: one prompt to each host's agent");
        kill_tmux(&world.worktree());
    }
}

/// Whether a process has its working folder in `dir` (an agent of a run there, its tap).
fn any_process_works_in(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.filter_map(Result::ok).any(|entry| {
        std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
    })
}
