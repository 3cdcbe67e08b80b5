//! The database as a person names it: no password printed, a database a newer devflow wrote
//! refused, read-only commands that create nothing, relative paths under the worktree.

use std::path::Path;

use crate::support::{Phase, World};

/// Every command that opens the database, with a run id and a workflow where it needs them.
fn database_commands(workflow: &str) -> Vec<Vec<String>> {
    let commands: [&[&str]; 10] = [
        &["status"],
        &["status", "r1"],
        &["run", workflow, "--run-id", "r2"],
        &["migrate"],
        &["events", "r1"],
        &["transcript", "r1"],
        &["approve", "r1"],
        &["reject", "r1", "--note", "again"],
        &["resume", "r1"],
        &["abort", "r1"],
    ];
    commands.iter().map(|args| args.iter().map(|arg| arg.to_string()).collect()).collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn no_password_is_printed_by_any_command() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let workflow = workflow.to_str().unwrap();
    for url in ["postgres://u:s3cret@127.0.0.1:1/x", "postgresql://u@127.0.0.1:1/x?password=s3cret"]
    {
        let mut commands = database_commands(workflow);
        commands.push(vec!["doctor".into(), workflow.into()]);
        for args in commands {
            // Named on the command line, and through the environment.
            let mut given = strs(&args);
            given.extend(["--db", url]);
            let mut by_env = world.command(&strs(&args));
            by_env.env("DEVFLOW_DATABASE_URL", url);
            for run in
                [world.devflow(&given), crate::support::finish(by_env.spawn().unwrap(), &given)]
            {
                assert_ne!(run.code, 0, "{args:?}: {run:?}");
                let shown = format!("{}{}", run.stdout, run.stderr);
                assert!(!shown.contains("s3cret"), "{args:?} printed the password: {shown}");
                assert!(shown.contains("***"), "{args:?}: {shown}");
            }
        }
        let mut help = world.command(&["status", "--help"]);
        help.env("DEVFLOW_DATABASE_URL", url);
        let help = crate::support::finish(help.spawn().unwrap(), &["--help"]);
        assert_eq!(help.code, 0, "{help:?}");
        assert!(!help.stdout.contains("s3cret"), "--help shows the password: {}", help.stdout);
    }
}

/// The same with a PostgreSQL server that answers (it trusts 127.0.0.1, so any password is
/// taken): a run to its gate, its approval and the commands that read it, every log line on
/// (`RUST_LOG=debug`), print the password nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn no_password_reaches_a_log_line_of_commands_that_work() {
    for (backend, mut world) in World::on_every_backend().await {
        let Some(url) = world.db_url.clone().filter(|url| url.starts_with("postgres")) else {
            continue;
        };
        let (user, place) = url.split_once('@').expect("the test URL names its user");
        if user["postgres://".len()..].contains(':') {
            eprintln!(
                "*** SKIPPED ({backend}): the test database's URL has a password already ***"
            );
            continue;
        }
        world.db_url = Some(format!("{user}:s3cret-pw@{place}"));
        let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
        let workflow = world.workflow(&[plan]);
        let commands: [(&[&str], i32); 5] = [
            (&["run", workflow.to_str().unwrap(), "--run-id", "pw"], 3),
            (&["status", "pw"], 0),
            (&["events", "pw"], 0),
            (&["approve", "pw"], 0),
            (&["doctor", workflow.to_str().unwrap()], 0),
        ];
        for (args, expected) in commands {
            let mut command = world.command(args);
            command.env("RUST_LOG", "debug");
            let run = crate::support::finish(command.spawn().unwrap(), args);
            assert_eq!(run.code, expected, "{backend}: {args:?}: {run:?}");
            assert!(run.stderr.contains("DEBUG"), "{backend}: {args:?}: the log lines are on");
            let shown = format!("{}{}", run.stdout, run.stderr);
            assert!(!shown.contains("s3cret-pw"), "{backend}: {args:?} printed it: {shown}");
        }
        assert_eq!(world.status("pw")["state"], "completed", "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_written_by_a_newer_devflow_is_refused_by_every_command() {
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let workflow = world.workflow(&[plan]);
    let workflow = workflow.to_str().unwrap();
    let run = world.devflow(&["run", workflow, "--run-id", "r1"]);
    assert_eq!(run.code, 3, "{run:?}");
    let file = world.worktree().join(".devflow/devflow.db");
    let url = format!("sqlite://{}", file.display());
    devflow_db::testing::add_unknown_migration(&url, "29991231235959").await;
    let bytes = std::fs::read(&file).unwrap();
    for args in database_commands(workflow) {
        let run = world.devflow(&strs(&args));
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(
                "this database was written by a newer devflow (migration 29991231235959 is unknown to this one): use a newer devflow, or another database"
            ),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "{args:?} changed the database");
    }
    let doctor = world.devflow(&["doctor"]);
    assert_ne!(doctor.code, 0, "{doctor:?}");
    assert!(doctor.stdout.contains("FAIL  database"), "{}", doctor.stdout);
}

/// Nothing in `dir`, nor below it.
fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn commands_about_runs_never_create_a_database() {
    let world = World::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let absolute = elsewhere.path().join("sub/devflow.db");
    let worktree = world.worktree().canonicalize().unwrap();
    let cases = [
        (None, worktree.join(".devflow/devflow.db")),
        (Some("sqlite://rel/x.db".to_owned()), worktree.join("rel/x.db")),
        (Some(format!("sqlite://{}", absolute.display())), absolute.clone()),
    ];
    let commands: [&[&str]; 8] = [
        &["status"],
        &["status", "r1", "--json"],
        &["events", "r1"],
        &["transcript", "r1"],
        &["approve", "r1"],
        &["resume", "r1"],
        &["abort", "r1"],
        &["reject", "r1", "--note", "n"],
    ];
    for (url, path) in &cases {
        for args in commands {
            let mut args = args.to_vec();
            if let Some(url) = url {
                args.extend(["--db", url]);
            }
            let run = world.devflow(&args);
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            let expected = format!(
                "no devflow database at {} (run `devflow run` or `devflow migrate` first, or pass --db)",
                path.display()
            );
            assert!(run.stderr.contains(&expected), "{args:?}: {}", run.stderr);
            assert!(
                is_empty(&world.worktree()),
                "{args:?} created {:?}",
                std::fs::read_dir(world.worktree()).unwrap().collect::<Vec<_>>()
            );
            assert!(is_empty(elsewhere.path()), "{args:?} created something");
        }
    }
}

#[test]
fn a_relative_sqlite_path_is_under_the_worktree_not_the_current_directory() {
    let world = World::new();
    let caller = tempfile::tempdir().unwrap();
    let worktree = world.worktree();
    let worktree = worktree.to_str().unwrap();
    let mut migrate =
        world.command(&["migrate", "--worktree", worktree, "--db", "sqlite://data/x.db"]);
    migrate.current_dir(caller.path());
    let migrate = crate::support::finish(migrate.spawn().unwrap(), &["migrate"]);
    assert_eq!(migrate.code, 0, "{migrate:?}");
    assert!(world.worktree().join("data/x.db").is_file(), "{migrate:?}");
    assert!(is_empty(caller.path()), "the database went into the current directory");
    // A read-only command finds it the same way.
    let mut status = world.command(&["status", "--worktree", worktree, "--db", "sqlite:data/x.db"]);
    status.current_dir(caller.path());
    let status = crate::support::finish(status.spawn().unwrap(), &["status"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("no runs yet"), "{status:?}");
}

#[test]
fn a_database_file_deleted_under_a_running_driver_stops_it_loudly() {
    let world = World::new();
    let plan = Phase {
        instructions: crate::support::instructions("plan", "slow", "ok", "Slow-Ms: 3000"),
        stable_ms: 500,
        ..Phase::new("plan", "slow")
    };
    let workflow = world.workflow(&[plan]);
    let child = world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", "del"]);
    crate::support::eventually("the first prompt", std::time::Duration::from_secs(60), || {
        world.prompts().len() == 1
    });
    let file = world.worktree().join(".devflow/devflow.db");
    std::fs::remove_file(&file).unwrap();
    let run = crate::support::finish(child, &["run"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stdout.contains("completed"), "{run:?}");
    let says = format!(
        "the database file {} was deleted or replaced while devflow was using it; the run's history is in the file that was there: devflow saved a copy of it at ",
        file.display()
    );
    assert!(run.stderr.contains(&says), "{}", run.stderr);
    assert!(!file.exists(), "the deleted file was recreated");
    let copy = run.stderr.split(&says).nth(1).unwrap().split_whitespace().next().unwrap();
    assert!(Path::new(copy).is_file(), "no copy at {copy}");
    assert!(!world.worktree().join(".devflow/devflow.db-wal").exists(), "its log is left behind");
}

#[test]
fn the_agents_never_see_the_database_url_or_a_password() {
    let world = World::new();
    let workflow = world.workflow(&[Phase { gate: Some("g"), ..Phase::new("plan", "ok") }]);
    let url = format!("sqlite://{}", world.worktree().join("secret-place.db").display());
    let mut run = world.command(&["run", workflow.to_str().unwrap(), "--run-id", "env"]);
    run.env("DEVFLOW_DATABASE_URL", &url).env("PGPASSWORD", "s3cret");
    let run = crate::support::finish(run.spawn().unwrap(), &["run"]);
    assert_eq!(run.code, 3, "{run:?}");
    // What the server hands every agent it starts.
    let socket = world.worktree().join(".devflow/tmux.sock");
    let shown = std::process::Command::new("tmux")
        .arg("-S")
        .arg(&socket)
        .args(["show-environment", "-g"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("PATH="), "no environment shown: {shown}");
    assert!(!shown.contains("secret-place") && !shown.contains("s3cret"), "{shown}");
}
