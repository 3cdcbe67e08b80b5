//! devflow as a process: signals, colour on stderr, the socket folder, a reader that goes away.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Phase, World, eventually, finish, instructions};

/// A run whose only phase is slow: its driver waits for the artifact for a long while.
fn slow_run(world: &World, run_id: &str) -> std::process::Child {
    let plan = Phase {
        instructions: instructions("plan", "slow", "ok", "Slow-Ms: 30000"),
        timeout_ms: 120_000,
        stable_ms: 20_000,
        ..Phase::new("plan", "slow")
    };
    let workflow = world.workflow(&[plan]);
    world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", run_id])
}

fn status(world: &World, run_id: &str) -> Option<Value> {
    let run = world.devflow(&["status", run_id, "--json"]);
    (run.code == 0).then(|| serde_json::from_str(&run.stdout).unwrap())
}

/// The lease is in the database: released on either backend.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_sighup_release_the_lease_as_ctrl_c_does() {
    for (backend, world) in World::on_every_backend().await {
        for (round, signal) in ["-TERM", "-HUP"].into_iter().enumerate() {
            let child =
                if round == 0 { slow_run(&world, "sig") } else { world.spawn(&["resume", "sig"]) };
            eventually("the driver waits for the artifact", Duration::from_secs(60), || {
                status(&world, "sig").is_some_and(|s| {
                    s["phases"][0]["state"] == "awaiting_artifact" && !s["lease_owner"].is_null()
                })
            });
            // The handlers are installed before the lease is taken; give the driver its wait.
            std::thread::sleep(Duration::from_millis(300));
            let kill = std::process::Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(kill.success());
            let stopped = finish(child, &["run"]);
            assert_eq!(stopped.code, 1, "{backend} {signal}: {stopped:?}");
            assert!(
                stopped.stderr.contains("interrupted; run sig stays where it was"),
                "{backend}: {}",
                stopped.stderr
            );
            let after = status(&world, "sig").unwrap();
            assert_eq!(after["state"], "executing", "{backend} {signal}");
            assert!(
                after["lease_owner"].is_null() && after["lease_expires_at"].is_null(),
                "{backend} {signal}: {after}"
            );
        }
    }
}

#[test]
fn log_lines_carry_no_colour_when_stderr_is_not_a_terminal() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let mut run = world.command(&["run", workflow.to_str().unwrap(), "--run-id", "log"]);
    run.env_remove("NO_COLOR").env("RUST_LOG", "devflow_phase=info");
    let run = finish(run.spawn().unwrap(), &["run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("driving phase"), "no log lines: {}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "colour codes in a file: {:?}", run.stderr);
}

#[test]
fn the_fallback_socket_folder_must_be_private_and_this_users() {
    let world = World::new();
    // Too long a path for `<worktree>/.devflow/tmux.sock`: the socket goes to the fallback.
    let worktree = world.worktree().join("w".repeat(100));
    std::fs::create_dir_all(&worktree).unwrap();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let uid =
        std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap();
    let folder =
        world.worktree().parent().unwrap().join("tmux-tmpdir").join(format!("devflow-{uid}"));
    let args = ["run", workflow.to_str().unwrap(), "--worktree", worktree.to_str().unwrap()];

    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), &folder).unwrap();
    refused(&world, &args, "is a symbolic link");
    std::fs::remove_file(&folder).unwrap();

    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    refused(&world, &args, "can be reached by group or others (mode 755)");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    match std::os::unix::fs::chown(&folder, Some(12345), None) {
        Ok(()) => refused(&world, &args, "belongs to uid 12345"),
        Err(error) => eprintln!("*** SKIPPED: the owner check needs root to chown ({error}) ***"),
    }
    std::fs::remove_dir(&folder).unwrap();
    assert!(!worktree.join(".devflow").exists(), "a refused run wrote something");

    let doctor = world.devflow(&["doctor", "--worktree", worktree.to_str().unwrap()]);
    assert_eq!(doctor.code, 0, "{doctor:?}");
    assert!(doctor.stdout.contains(&folder.display().to_string()), "{}", doctor.stdout);
    let mode = std::fs::symlink_metadata(&folder).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "created with mode {mode:o}");
}

fn refused(world: &World, args: &[&str], says: &str) {
    let run = world.devflow(args);
    assert_eq!(run.code, 2, "{says}: {run:?}");
    assert!(run.stderr.contains(says), "no {says:?} in {}", run.stderr);
}

#[test]
fn a_reader_that_goes_away_ends_events_follow_with_status_0() {
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "hd"]);
    assert_eq!(run.code, 3, "{run:?}");
    // The run waits at its gate: only the closed stdout can end the follow.
    let mut follow = world.spawn(&["events", "hd", "--follow"]);
    drop(follow.stdout.take());
    let ended = finish(follow, &["events", "--follow"]);
    assert_eq!(ended.code, 0, "{ended:?}");
    assert!(ended.stderr.is_empty(), "{}", ended.stderr);
}
