//! Notifications end to end: a command hook and a webhook (a listener on 127.0.0.1 in the
//! test) hear a gate open and the run complete, each exactly once, through a `kill -9` of the
//! driver and `devflow resume`; an agent that asks for input and a run that fails are told too;
//! a hook that fails never stops a run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Phase, World, eventually, finish, instructions};

/// A webhook receiver: every POST's `Idempotency-Key` and JSON body.
struct Hook {
    port: u16,
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Hook {
    fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&received);
        // Ends with the test's process; it only ever answers on loopback.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let (mut key, mut length) = (String::new(), 0usize);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("idempotency-key:") {
                        key = line["idempotency-key:".len()..].trim().to_owned();
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    store.lock().unwrap().push((key, body));
                }
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Hook { port, received }
    }

    fn topics(&self) -> Vec<String> {
        let received = self.received.lock().unwrap();
        received.iter().map(|(_, body)| body["topic"].as_str().unwrap_or("?").to_owned()).collect()
    }
}

/// The topics of the JSON documents the command hook appended, one per line.
fn command_topics(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["topic"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn with_notify(workflow: &Path, table: &str) {
    let mut text = std::fs::read_to_string(workflow).unwrap();
    text += table;
    std::fs::write(workflow, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_and_a_webhook_hear_each_event_once_across_kill_9_and_resume() {
    for (backend, world) in World::on_every_backend().await {
        let hook = Hook::start();
        let log = world.worktree().join("hook.jsonl");
        let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
        let build = Phase {
            role: "builder",
            instructions: instructions("build", "slow", "ok", "Slow-Ms: 4500"),
            stable_ms: 2_000,
            ..Phase::new("build", "slow")
        };
        let workflow = world.workflow(&[plan, build]);
        with_notify(
            &workflow,
            &format!(
                "\n[notify]\ncommand = [\"sh\", \"-c\", \"cat >> '{}'; echo >> '{}'\"]\nwebhook = \"http://127.0.0.1:{}/hook\"\n",
                log.display(),
                log.display(),
                hook.port
            ),
        );
        let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "nt"]);
        assert_eq!(run.code, 3, "{backend}: {run:?}");
        // Sent before `run` exited.
        assert_eq!(hook.topics(), ["gate_opened"], "{backend}");
        assert_eq!(command_topics(&log), ["gate_opened"], "{backend}");

        let mut child = world.spawn(&["approve", "nt"]);
        eventually("the build's artifact wait", Duration::from_secs(60), || {
            let status = world.devflow(&["status", "nt", "--json"]);
            status.code == 0
                && serde_json::from_str::<Value>(&status.stdout).unwrap()["phases"][1]["state"]
                    == "awaiting_artifact"
        });
        child.kill().unwrap(); // SIGKILL
        assert_ne!(finish(child, &["approve"]).code, 0);
        let run = world.devflow(&["resume", "nt"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");

        assert_eq!(hook.topics(), ["gate_opened", "run_completed"], "{backend}: each once");
        assert_eq!(command_topics(&log), ["gate_opened", "run_completed"], "{backend}: each once");
        let received = hook.received.lock().unwrap();
        for (key, body) in received.iter() {
            assert_eq!(
                body["id"].as_str(),
                Some(key.as_str()),
                "{backend}: the key is the body's id"
            );
            assert_eq!(body["run"]["id"], "nt", "{backend}");
        }
        assert_ne!(received[0].0, received[1].0, "{backend}");
        assert_eq!(received[0].1["gate"]["gate_key"], "plan_review", "{backend}");
        assert_eq!(received[0].1["event"]["type"], "approval.requested", "{backend}");
    }
}

#[test]
fn a_hook_that_fails_never_stops_a_run() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    with_notify(
        &workflow,
        &format!(
            "\n[notify]\ncommand = [\"sh\", \"-c\", \"echo no >&2; exit 3\"]\nwebhook = \"http://127.0.0.1:{closed}/\"\n"
        ),
    );
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "bad-hook"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(world.status("bad-hook")["state"], "completed");
    assert!(run.stderr.contains("1 notification(s) of run bad-hook not sent yet"), "{run:?}");
}

/// The other two topics: an agent's dialog stops its run at a gate (`agent_needs_input`) and a
/// run fails (`run_failed`); the command hook gets each event's notification once, as JSON.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_asks_for_input_and_a_run_that_fails_are_told_once_each() {
    for (backend, world) in World::on_every_backend().await {
        told_once_each(&world, &backend);
    }
}

/// One world's two runs: the failing one, then the one whose agent asks.
fn told_once_each(world: &World, backend: &str) {
    let log = world.worktree().join("hook.jsonl");
    let hook = format!(
        "\n[notify]\ncommand = [\"sh\", \"-c\", \"cat >> '{}'; echo >> '{}'\"]\n",
        log.display(),
        log.display()
    );

    // The artifact's folder links out of the worktree: the phase is refused, the run fails.
    let failing = world.workflow(&[Phase::new("plan", "ok")]);
    with_notify(&failing, &hook);
    let outside = tempfile::tempdir().unwrap();
    let folder = world.worktree().join("out");
    std::os::unix::fs::symlink(outside.path(), &folder).unwrap();
    let run = world.devflow(&["run", failing.to_str().unwrap(), "--run-id", "fails"]);
    assert_eq!(run.code, 1, "{backend}: {run:?}");
    assert_eq!(world.status("fails")["state"], "failed", "{backend}");
    assert_eq!(command_topics(&log), ["run_failed"], "{backend}");
    std::fs::remove_file(&folder).unwrap();

    // agent-sim shows a dialog devflow never answers: a gate for a person.
    let asking = failing.with_file_name("asking.toml");
    let text = std::fs::read_to_string(&failing).unwrap();
    let dialog = text
        .replace("\"--work-ms\", \"60\"]", "\"--work-ms\", \"60\", \"--dialog\", \"telemetry\"]");
    assert_ne!(dialog, text, "the role command was found");
    std::fs::write(&asking, dialog).unwrap();
    let run = world.devflow(&["run", asking.to_str().unwrap(), "--run-id", "asks"]);
    assert_eq!(run.code, 3, "{backend}: {run:?}");
    assert_eq!(world.status("asks")["gates"][0]["gate_key"], "agent_needs_input", "{backend}");
    assert_eq!(command_topics(&log), ["run_failed", "agent_needs_input"], "{backend}: each once");

    let text = std::fs::read_to_string(&log).unwrap();
    let told: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let (failed, asked) = (&told[0], &told[1]);
    assert_eq!(
        (failed["run"]["id"].as_str(), failed["event"]["type"].as_str()),
        (Some("fails"), Some("run.failed")),
        "{backend}: {failed}"
    );
    assert_eq!(
        (asked["run"]["id"].as_str(), asked["event"]["type"].as_str()),
        (Some("asks"), Some("approval.requested")),
        "{backend}: {asked}"
    );
    assert_eq!(asked["gate"]["gate_key"], "agent_needs_input", "{backend}: {asked}");
}

/// The user's own `notify.toml` tells of runs whose workflow has no `[notify]`; one that does
/// not parse is said on stderr and left out, and the run goes on.
#[test]
fn the_users_own_notify_file_tells_of_every_run_and_a_broken_one_stops_none() {
    let world = World::new();
    let log = world.worktree().join("hook.jsonl");
    let file = world.config_dir().join("devflow/notify.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        format!(
            "command = [\"sh\", \"-c\", \"cat >> '{}'; echo >> '{}'\"]\non = [\"run_completed\"]\n",
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "mine"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(command_topics(&log), Vec::<String>::new(), "only the topics it asks for");
    let approve = world.devflow(&["approve", "mine"]);
    assert_eq!(approve.code, 0, "{approve:?}");
    assert_eq!(command_topics(&log), ["run_completed"]);

    std::fs::write(&file, "command = \"not a list\"\n").unwrap();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "broken"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("notifications of your own file are off"), "{}", run.stderr);
    assert!(run.stderr.contains(&file.display().to_string()), "names the file: {}", run.stderr);
    assert_eq!(command_topics(&log), ["run_completed"], "nothing more was sent");
}
