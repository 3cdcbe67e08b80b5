//! The commands that watch and check rather than drive: `events --follow`, `doctor`, and what
//! every command does when its reader goes away.

use std::time::{Duration, Instant};

use crate::support::{Phase, World, finish};

#[test]
fn events_follow_streams_until_the_run_ends() {
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "fo"]);
    assert_eq!(run.code, 3, "{run:?}");

    let mut follow = world.spawn(&["events", "fo", "--json", "--follow"]);
    // The run waits for approval: following goes on until it ends.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_millis(500) {
        assert!(follow.try_wait().unwrap().is_none(), "--follow ended while the run was waiting");
        std::thread::sleep(Duration::from_millis(50));
    }
    let approve = world.devflow(&["approve", "fo"]);
    assert_eq!(approve.code, 0, "{approve:?}");

    let followed = finish(follow, &["events", "--follow"]);
    assert_eq!(followed.code, 0, "{followed:?}");
    let types: Vec<String> = followed
        .stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("run.created"));
    assert!(types.iter().any(|kind| kind == "approval.decided"), "{types:?}");
    assert_eq!(types.last().map(String::as_str), Some("run.completed"), "{types:?}");
}

#[test]
fn a_reader_that_stops_reading_ends_devflow_quietly() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "bp"]);
    assert_eq!(run.code, 0, "{run:?}");
    for args in [&["events", "bp"][..], &["events", "bp", "--json"], &["status", "bp"]] {
        let mut child = world.spawn(args);
        drop(child.stdout.take()); // like `| head` that has read enough
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn doctor_checks_tmux_the_database_and_each_role_command() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let doctor = world.devflow(&["doctor", workflow.to_str().unwrap()]);
    assert_eq!(doctor.code, 0, "{doctor:?}");
    for expected in ["ok    tmux", "ok    database", "ok    role agent"] {
        assert!(doctor.stdout.contains(expected), "no {expected:?} in {}", doctor.stdout);
    }

    let text = std::fs::read_to_string(&workflow)
        .unwrap()
        .replace("\"devflow\", \"agent-sim\"", "\"no-such-agent-cli\"");
    std::fs::write(&workflow, text).unwrap();
    let doctor = world.devflow(&["doctor", workflow.to_str().unwrap()]);
    assert_ne!(doctor.code, 0, "{doctor:?}");
    assert!(doctor.stdout.contains("FAIL  role agent"), "{}", doctor.stdout);
}
