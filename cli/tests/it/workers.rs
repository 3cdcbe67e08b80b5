//! Workers through the real binary: `devflow submit` queues runs, `devflow worker` claims and
//! drives them in real tmux, `devflow workers` lists the live ones; two workers share twelve
//! runs while one of them is killed with `kill -9`; a run whose drivers keep dying stops at a
//! gate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Phase, World, eventually, finish, instructions, kill_tmux};

/// Runs each in a worktree of its own under the world's (the agents of one would overwrite
/// another's artifacts), all on the world's database.
fn worktrees(world: &World, count: usize) -> Vec<PathBuf> {
    (1..=count)
        .map(|n| {
            let dir = world.worktree().join("runs").join(format!("q{n:02}"));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        })
        .collect()
}

fn submit(world: &World, workflow: &Path, worktree: &Path, run_id: &str) {
    let args = [
        "submit",
        workflow.to_str().unwrap(),
        "--run-id",
        run_id,
        "--worktree",
        worktree.to_str().unwrap(),
    ];
    let submitted = world.devflow(&args);
    assert_eq!(submitted.code, 0, "{submitted:?}");
    assert_eq!(submitted.stdout.trim(), run_id, "submit prints the run's id alone");
}

fn sent_prompts(world: &World, run_id: &str) -> usize {
    world.events(run_id).iter().filter(|event| event["type"] == "prompt.sent").count()
}

#[tokio::test(flavor = "multi_thread")]
async fn submitted_runs_are_queued_until_a_worker_drives_them_all_and_exits_when_idle() {
    for (backend, world) in World::on_every_backend().await {
        let plan = Phase::new("plan", "ok");
        let build = Phase { role: "builder", ..Phase::new("build", "ok") };
        let workflow = world.workflow(&[plan, build]);
        let dirs = worktrees(&world, 3);
        for (n, dir) in dirs.iter().enumerate() {
            submit(&world, &workflow, dir, &format!("q{n}"));
        }
        assert_eq!(world.status("q0")["state"], "queued", "{backend}: nothing drives it yet");
        let none = world.devflow(&["workers"]);
        assert!(none.stdout.contains("no live workers"), "{backend}: {none:?}");

        let worked = world.devflow(&["worker", "--exit-when-idle", "--concurrency", "2"]);
        assert_eq!(worked.code, 0, "{backend}: {worked:?}");
        assert!(worked.stderr.contains("3 completed"), "{backend}: {}", worked.stderr);
        for n in 0..3 {
            let run_id = format!("q{n}");
            assert_eq!(world.status(&run_id)["state"], "completed", "{backend}: {run_id}");
            assert_eq!(sent_prompts(&world, &run_id), 2, "{backend}: {run_id}: each prompt once");
            let kinds = world.event_kinds(&run_id);
            assert_eq!(kinds.iter().filter(|kind| *kind == "run.claimed").count(), 1, "{kinds:?}");
        }
        assert_eq!(world.prompts().len(), 6, "{backend}: the agents were given six prompts");
        let after = world.devflow(&["workers", "--json"]);
        assert_eq!(after.stdout.trim(), "[]", "{backend}: a stopped worker is not listed");
        dirs.iter().for_each(|dir| kill_tmux(dir));
    }
}

/// The newcomer's way: one worktree, the embedded SQLite default, submit then a worker.
#[test]
fn submit_and_a_worker_on_the_default_database() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let submitted = world.devflow(&["submit", workflow.to_str().unwrap()]);
    assert_eq!(submitted.code, 0, "{submitted:?}");
    let run_id = submitted.stdout.trim().to_owned();
    assert!(world.worktree().join(".devflow/devflow.db").is_file());
    let worked = world.devflow(&["worker", "--exit-when-idle"]);
    assert_eq!(worked.code, 0, "{worked:?}");
    assert_eq!(world.status(&run_id)["state"], "completed");
    assert_eq!(world.artifact("plan")["title"], "plan");
}

/// A worker on a machine without tmux refuses to start, before it claims anything.
#[test]
fn a_worker_without_tmux_claims_nothing() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let submitted = world.devflow(&["submit", workflow.to_str().unwrap()]);
    let run_id = submitted.stdout.trim().to_owned();
    let args = ["worker", "--exit-when-idle"];
    let mut command = world.command(&args);
    command.env("PATH", "/nonexistent");
    let refused = finish(command.spawn().unwrap(), &args);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("tmux not found"), "{refused:?}");
    assert!(refused.stderr.contains("apt-get install tmux"), "{refused:?}");
    let status = world.status(&run_id);
    assert_eq!(status["state"], "queued", "not claimed");
    assert_eq!(status["lease_epoch"], 0, "not claimed");
}

/// A submitted run that reaches an approval gate gives its lease back; `approve` records the
/// decision without driving, and a worker drives the run on.
#[test]
fn an_approved_submitted_run_is_driven_on_by_a_worker() {
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let workflow = world.workflow(&[plan, Phase::new("build", "ok")]);
    let submitted = world.devflow(&["submit", workflow.to_str().unwrap(), "--run-id", "gated"]);
    assert_eq!(submitted.code, 0, "{submitted:?}");
    let worked = world.devflow(&["worker", "--exit-when-idle"]);
    assert!(worked.stderr.contains("1 waiting for a person"), "{worked:?}");
    assert_eq!(world.status("gated")["state"], "awaiting_approval");
    assert_eq!(world.status("gated")["lease_owner"], Value::Null, "the gate gave the lease back");

    let approved = world.devflow(&["approve", "gated"]);
    assert_eq!(approved.code, 0, "{approved:?}");
    assert!(approved.stdout.contains("a worker drives it on"), "{approved:?}");
    assert_eq!(world.status("gated")["state"], "executing", "recorded, not driven");
    assert_eq!(world.prompts().len(), 1, "approve sent nothing");

    let worked = world.devflow(&["worker", "--exit-when-idle"]);
    assert!(worked.stderr.contains("1 completed"), "{worked:?}");
    assert_eq!(world.status("gated")["state"], "completed");
    assert_eq!(world.prompts().len(), 2);
}

fn worker(world: &World, concurrency: &str) -> Child {
    world.spawn(&["worker", "--concurrency", concurrency])
}

/// Twelve queued runs, two workers, one killed with `kill -9` while it drives: the other takes
/// the dead one's runs over at once (it sees the process gone), every run completes, and no
/// prompt is delivered twice — which it would be if two workers ever drove one run at once.
#[tokio::test(flavor = "multi_thread")]
async fn two_workers_share_twelve_runs_and_one_killed_loses_nothing() {
    const RUNS: usize = 12;
    for (backend, world) in World::on_every_backend().await {
        let plan = Phase {
            instructions: instructions("plan", "slow", "ok", "Slow-Ms: 2500"),
            // 0.8 s between chunks; twelve agents at once starve some on two cores.
            stable_ms: 3_000,
            ..Phase::new("plan", "slow")
        };
        let workflow = world.workflow(&[plan, Phase::new("build", "ok")]);
        let dirs = worktrees(&world, RUNS);
        let ids: Vec<String> = (0..RUNS).map(|n| format!("r{n:02}")).collect();
        for (id, dir) in ids.iter().zip(&dirs) {
            submit(&world, &workflow, dir, id);
        }
        let doomed = worker(&world, "6");
        let survivor = worker(&world, "6");
        let doomed_pid = doomed.id();
        eventually("the doomed worker to hold runs", Duration::from_secs(60), || {
            let listed = world.devflow(&["workers", "--json"]);
            let workers: Value = serde_json::from_str(&listed.stdout).unwrap_or(Value::Null);
            workers.as_array().is_some_and(|all| {
                all.iter()
                    .any(|w| w["pid"] == doomed_pid && w["runs"].as_array().unwrap().len() > 1)
            })
        });
        let mut doomed = doomed;
        doomed.kill().unwrap(); // SIGKILL
        let killed = finish(doomed, &["worker"]);
        assert_ne!(killed.code, 0, "{backend}");

        eventually("every run completed", Duration::from_secs(240), || {
            ids.iter().all(|id| world.status(id)["state"] == "completed")
        });
        let stopped = Command::new("kill").arg("-TERM").arg(survivor.id().to_string()).status();
        assert!(stopped.unwrap().success());
        let survived = finish(survivor, &["worker"]);
        assert_eq!(survived.code, 0, "{backend}: {survived:?}");

        let mut taken_over = 0;
        for id in &ids {
            assert_eq!(sent_prompts(&world, id), 2, "{backend}: {id}: each prompt once");
            let events = world.events(id);
            let claims: Vec<&Value> =
                events.iter().filter(|event| event["type"] == "run.claimed").collect();
            taken_over += claims.iter().filter(|c| c["payload"]["takeovers"] == 1).count();
            let epochs: Vec<i64> =
                claims.iter().map(|c| c["payload"]["epoch"].as_i64().unwrap()).collect();
            assert!(epochs.windows(2).all(|pair| pair[0] < pair[1]), "{backend}: {epochs:?}");
        }
        assert!(taken_over >= 2, "{backend}: the dead worker's runs were taken over");
        assert_eq!(world.prompts().len(), 2 * RUNS, "{backend}: no prompt twice");
        dirs.iter().for_each(|dir| kill_tmux(dir));
    }
}

/// A run whose driver is killed every time it is resumed: the fourth take-over in a row stops
/// at a `recovery_limit` gate instead of going round again; `resume` by a person goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_drivers_keep_dying_stops_at_a_gate() {
    for (backend, world) in World::on_every_backend().await {
        let plan = Phase {
            instructions: instructions("plan", "slow", "ok", "Slow-Ms: 30000"),
            stable_ms: 12_000,
            timeout_ms: 120_000,
            ..Phase::new("plan", "slow")
        };
        let workflow = world.workflow(&[plan]);
        let mut args = vec!["run".to_owned(), workflow.to_str().unwrap().to_owned()];
        args.extend(["--run-id".to_owned(), "doomed".to_owned()]);
        for epoch in 1..=4 {
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut child = world.spawn(&argv);
            eventually("the driver to hold the run", Duration::from_secs(60), || {
                let status = world.devflow(&["status", "doomed", "--json"]);
                let status: Value = serde_json::from_str(&status.stdout).unwrap_or(Value::Null);
                status["lease_epoch"] == epoch
                    && status["phases"][0]["state"] == "awaiting_artifact"
            });
            child.kill().unwrap();
            finish(child, &argv);
            args = vec!["resume".to_owned(), "doomed".to_owned()];
        }
        let stopped = world.devflow(&["resume", "doomed"]);
        assert_eq!(stopped.code, 3, "{backend}: {stopped:?}");
        assert!(stopped.stdout.contains("recovery_limit"), "{backend}: {stopped:?}");
        assert!(stopped.stderr.contains("taking the run over"), "{backend}: {}", stopped.stderr);
        assert!(
            !stopped.stderr.contains("waiting up to"),
            "{backend}: a dead holder is not waited out"
        );
        assert_eq!(world.status("doomed")["state"], "paused", "{backend}");
        assert_eq!(world.prompts().len(), 1, "{backend}: the gate sent nothing");

        let events = world.events("doomed");
        let takeovers: Vec<&Value> = events
            .iter()
            .filter(|event| event["type"] == "run.claimed")
            .map(|event| &event["payload"]["takeovers"])
            .collect();
        assert_eq!(takeovers, [1, 2, 3, 4], "{backend}: one claim event per take-over");
        kill_tmux(&world.worktree());
    }
}

/// A run a worker cannot drive (its worktree is gone) is tried a bounded number of times and
/// then left alone: the worker neither spins on it nor starves the runs behind it.
#[test]
fn a_run_the_worker_cannot_drive_is_left_after_a_few_tries() {
    let mut world = World::new();
    // One database for the runs of both worktrees.
    world.db_url = Some(format!("sqlite://{}/shared.db", world.worktree().display()));
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let dirs = worktrees(&world, 2);
    submit(&world, &workflow, &dirs[0], "lost");
    submit(&world, &workflow, &dirs[1], "fine");
    std::fs::remove_dir_all(&dirs[0]).unwrap();
    let worked = world.devflow(&["worker", "--exit-when-idle"]);
    assert_eq!(worked.code, 1, "a run it could not drive is an error: {worked:?}");
    assert!(worked.stderr.contains("does not exist any more"), "{}", worked.stderr);
    assert!(worked.stderr.contains("failed 3 times in this worker"), "{}", worked.stderr);
    assert!(
        worked.stderr.contains("1 completed"),
        "the run behind it was driven: {}",
        worked.stderr
    );
    assert_eq!(world.status("fine")["state"], "completed");
    assert_eq!(world.status("lost")["state"], "queued", "left as it was, for a person");
    assert_eq!(world.status("lost")["lease_owner"], Value::Null, "its lease given back");
    kill_tmux(&dirs[1]);
}
