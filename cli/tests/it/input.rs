//! Bad input refused before anything is written; one driver per run; every example parses.

use std::time::Duration;

use devflow_phase::Workflow;

use crate::support::{PLAN_SCHEMA, Phase, World, finish, instructions, repo_root};

/// Writes `text` as a workflow (with a schema, a bad schema and a prompt beside it) and runs it.
fn refused(text: &str, line: usize, says: &str) {
    let world = World::new();
    let dir = world.worktree().join("flow");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plan.schema.json"), PLAN_SCHEMA).unwrap();
    std::fs::write(dir.join("bad.schema.json"), r#"{"type": "no-such-type"}"#).unwrap();
    std::fs::write(dir.join("plan.md"), "Plan.").unwrap();
    std::fs::write(dir.join("workflow.toml"), text).unwrap();
    let run = world.devflow(&["run", "flow/workflow.toml", "--run-id", "bad"]);
    assert_eq!(run.code, 2, "{run:?}");
    let expected = format!("workflow.toml:{line}:");
    assert!(
        run.stderr.contains("error: ") && run.stderr.contains(&expected),
        "no {expected} in {}",
        run.stderr
    );
    assert!(run.stderr.contains(says), "no {says:?} in {}", run.stderr);
    assert!(run.stderr.contains("  hint: "), "{}", run.stderr);
    assert!(!world.worktree().join(".devflow").exists(), "nothing is written for a bad workflow");
}

const HEAD: &str = "name = \"bad\"\n[roles.a]\ncommand = [\"devflow\", \"agent-sim\"]\n";

fn phase(key: &str, body: &str) -> String {
    format!(
        "[[phases]]\nkey = \"{key}\"\nrole = \"a\"\nartifact = \"out/{key}.json\"\nschema = \"plan.schema.json\"\n{body}\n"
    )
}

#[test]
fn a_bad_workflow_file_exits_2_naming_the_line() {
    let ok = "instructions = \"Plan.\"";
    refused(
        &format!("{HEAD}{}", phase("p", &format!("{ok}\ncolour = \"red\""))),
        10,
        "unknown field `colour`",
    );
    refused(
        &format!("{HEAD}{}", phase("p", ok).replace("role = \"a\"", "role = \"ghost\"")),
        6,
        "role \"ghost\"",
    );
    refused(
        &format!("{HEAD}{}", phase("p", ok).replace("plan.schema.json", "bad.schema.json")),
        8,
        "does not compile",
    );
    refused(
        &format!("{HEAD}{}", phase("p", ok).replace("out/p.json", "../p.json")),
        7,
        "escapes the worktree",
    );
    refused(
        &format!("{HEAD}{}", phase("p", ok).replace("out/p.json", "/tmp/p.json")),
        7,
        "escapes the worktree",
    );
    refused(
        &format!("{HEAD}{}{}", phase("p", ok), phase("p", ok).replace("out/p.json", "out/q.json")),
        11,
        "duplicate phase key",
    );
    refused(
        &format!("{HEAD}{}{}", phase("p", ok), phase("q", ok).replace("out/q.json", "out/p.json")),
        13,
        "same artifact path",
    );
    refused(
        &format!("{HEAD}{}", phase("p", "instructions_file = \"missing.md\"")),
        9,
        "cannot read",
    );
    refused(&HEAD.replace("[roles.a]", "phases = []\n[roles.a]"), 2, "no phases");
}

#[test]
fn a_cycle_or_an_unknown_name_in_needs_exits_2_naming_the_line() {
    let ok = "instructions = \"Plan.\"";
    let needs = |list: &str| format!("needs = [{list}]\n{ok}");
    refused(
        &format!("{HEAD}{}{}", phase("p", &needs("\"q\"")), phase("q", &needs("\"p\""))),
        16,
        "need each other in a cycle",
    );
    refused(
        &format!("{HEAD}{}{}", phase("p", ok), phase("q", &needs("\"p\", \"r\""))),
        15,
        "needs \"r\", which is not a phase",
    );
    refused(
        &format!("max_parallel = 0\n{HEAD}{}", phase("p", ok)),
        1,
        "max_parallel must be at least 1",
    );
}

#[test]
fn an_artifact_path_in_devflow_s_folder_or_git_is_refused_naming_the_line() {
    let ok = "instructions = \"Plan.\"";
    for (path, says) in [
        (".devflow/devflow.db", "devflow's own folder"),
        (".devflow/tmux.sock", "devflow's own folder"),
        (".git/config", "inside a .git folder"),
        ("vendor/lib/.git/HEAD", "inside a .git folder"),
    ] {
        refused(&format!("{HEAD}{}", phase("p", ok).replace("out/p.json", path)), 7, says);
    }
}

#[test]
fn wait_numbers_that_cannot_be_stored_or_mean_nothing_are_refused_naming_the_line() {
    let wait = |line: &str| {
        format!("{HEAD}{}[phases.wait]\n{line}\n", phase("p", "instructions = \"Plan.\""))
    };
    for (line, says) in [
        (
            "timeout_ms = 18446744073709551615",
            "timeout_ms = 18446744073709551615 is over 604800000",
        ),
        ("timeout_ms = 0", "timeout_ms must be at least 1"),
        ("timeout_ms = -1", "timeout_ms must be at least 1"),
        ("timeout_ms = 1.5", "timeout_ms must be a whole number, not 1.5"),
        ("poll_ms = \"fast\"", "poll_ms must be a whole number, not \"fast\""),
        ("timeout_ms = 604800001", "timeout_ms = 604800001 is over 604800000"),
        ("poll_ms = 0", "poll_ms must be at least 1"),
        ("max_hung_ms = 10", "max_hung_ms must be at least 1000"),
        ("max_artifact_bytes = 0", "max_artifact_bytes must be at least 1"),
        ("max_artifact_bytes = 9223372036854775807", "is over 1073741824"),
    ] {
        refused(&wait(line), 11, says);
    }
    refused(&wait("timeout_ms = 1000\nstable_ms = 1001"), 12, "stable_ms = 1001 is over 1000");
}

#[test]
fn an_artifact_path_that_is_the_database_file_is_refused_before_it_is_opened() {
    let world = World::new();
    let dir = world.worktree().join("flow");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plan.schema.json"), PLAN_SCHEMA).unwrap();
    for artifact in ["data/run.db", "data/run.db-wal", "data/run.db-journal"] {
        let text = format!(
            "{HEAD}{}",
            phase("p", "instructions = \"Plan.\"").replace("out/p.json", artifact)
        );
        std::fs::write(dir.join("workflow.toml"), text).unwrap();
        let url = format!("sqlite://{}", world.worktree().join("data/run.db").display());
        let run = world.devflow(&["run", "flow/workflow.toml", "--db", &url]);
        assert_eq!(run.code, 2, "{artifact}: {run:?}");
        assert!(run.stderr.contains("is the database file"), "{}", run.stderr);
        assert!(run.stderr.contains("phase \"p\""), "{}", run.stderr);
        assert!(run.stderr.contains("  hint: "), "{}", run.stderr);
        assert!(!world.worktree().join("data").exists(), "the database was never opened");
    }
}

#[test]
fn a_second_driver_of_an_active_run_is_refused() {
    let world = World::new();
    let plan = Phase {
        instructions: instructions("plan", "slow", "ok", "Slow-Ms: 2400"),
        // Chunks 800 ms apart; a loaded CI machine once stalled the agent past a 1.5 s
        // stability window, and devflow rightly validated half an artifact (a repair prompt).
        stable_ms: 3_000,
        ..Phase::new("plan", "slow")
    };
    let workflow = world.workflow(&[plan]);
    let workflow = workflow.to_str().unwrap();
    let first = world.spawn(&["run", workflow, "--run-id", "one"]);
    // The first prompt is out: the run exists and its driver is waiting for the slow artifact.
    crate::support::eventually("the first prompt", Duration::from_secs(60), || {
        world.prompts().len() == 1
    });
    for args in
        [vec!["resume", "one"], vec!["approve", "one"], vec!["run", workflow, "--run-id", "one"]]
    {
        let second = world.devflow(&args);
        assert_eq!(second.code, 2, "{args:?}: {second:?}");
        assert!(
            second.stderr.contains("being driven by another devflow process"),
            "{args:?}: {}",
            second.stderr
        );
        assert!(second.stderr.contains("lease expires in"), "{}", second.stderr);
    }
    let first = finish(first, &["run"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(world.prompts().len(), 1);
}

#[test]
fn every_example_workflow_parses() {
    let mut found = 0;
    let mut dirs = vec![repo_root().join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "toml") {
                Workflow::load(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                found += 1;
            }
        }
    }
    assert!(found >= 5, "the feature example and the four agents: found {found}");
}

#[test]
fn processes_opening_a_new_database_at_once_all_succeed() {
    // Each `devflow migrate` opens the file and applies the migrations; without the
    // migration lock the losers of the race failed with "table runs already exists".
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("devflow.db").display());
        let children: Vec<_> = (0..6)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
                    .args(["migrate", "--db", &url])
                    .current_dir(dir.path())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "round {round}: {output:?}");
        }
    }
}

#[test]
fn a_locked_database_is_refused_with_exit_2_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("devflow.db");
    let url = format!("sqlite://{}", db.display());
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
        .args(["migrate", "--db", &url])
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    // Another program holds the write lock (as a second writer or a stuck process would).
    let mut holder = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)"])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let busy = format!("{url}?busy_timeout_ms=200");
    let workflow = crate::support::repo_root().join("examples/feature/workflow.toml");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
        .args(["run", workflow.to_str().unwrap(), "--db", &busy])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("locked") && stderr.contains("hint:"), "{stderr}");
    // Nothing was written: once the lock is gone, the database holds no run.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
        .args(["status", "--json", "--db", &url])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout).trim(), "[]", "{status:?}");
}
