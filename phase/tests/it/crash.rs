//! Crash safety, proven: each scenario runs once per crash point it reaches, in a child process
//! that aborts there; then the phase is re-entered in fresh processes until it ends. The final
//! rows and event log must equal those of the uncrashed run (ids, paths and hashes aside), no
//! event may appear twice, and the fake agent must have received each prompt at most once —
//! exactly once for every prompt the log says was sent.
//!
//! Two points fall between recording a session `BUSY` with a prompt's hash and recording that
//! the prompt was sent: `before_prompt_delivery` and `after_prompt_delivery` (between the paste
//! and its record). After a crash there, the delivery asks the terminal (the fake's journal)
//! where the prompt is — not there, pasted, or taken — and sends, submits or only records it:
//! those points too end exactly as the uncrashed run does, with the prompt delivered once.

mod managed;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use devflow_db::testing::TestDb;

use crate::support::Harness;

const SCENARIOS: &[&str] =
    &["ok", "stale", "repair", "timeout", "crashed", "approval", "human_gate", "fatal", "reuse"];

/// What a run left behind, with ids, paths and hashes replaced by placeholders.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    events: Vec<String>,
    rows: Vec<String>,
}

async fn fresh(backend: &str, scenario: &str) -> Harness {
    let test_db = match backend {
        "sqlite" => TestDb::sqlite().await,
        _ => TestDb::postgres(&std::env::var("DEVFLOW_TEST_DATABASE_URL").unwrap()).await,
    };
    let h = Harness::new(test_db).await;
    if managed::is_managed(scenario) {
        managed::init_repo(h.worktree.path());
    }
    h
}

/// Runs the child once; `true` if it ended normally, `false` if it aborted at `crash_at`.
fn child(h: &Harness, scenario: &str, crash_at: Option<&str>, trace: &Path) -> bool {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devflow-phase-crash-child"));
    command
        .args([
            h.test_db.url.as_str(),
            &h.worktree.path().to_string_lossy(),
            &h._fake_dir.path().to_string_lossy(),
            scenario,
        ])
        .env("DEVFLOW_CRASH_TRACE", trace)
        // The git of managed worktrees sees none of the machine's configuration.
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("DEVFLOW_CRASH_AT");
    if let Some(point) = crash_at {
        command.env("DEVFLOW_CRASH_AT", point);
    }
    let status = command.status().expect("the crash child starts");
    status.success()
}

fn reached(trace: &Path) -> Vec<String> {
    std::fs::read_to_string(trace).unwrap_or_default().lines().map(str::to_owned).collect()
}

async fn snapshot(h: &Harness, scenario: &str) -> Snapshot {
    if managed::is_managed(scenario) {
        return managed::snapshot(h).await;
    }
    let worktree = h.worktree.path().canonicalize().unwrap().to_string_lossy().into_owned();
    let normalize = |text: String| redact(&text.replace(&worktree, "<worktree>"));
    let events = h
        .events()
        .await
        .into_iter()
        .map(|event| {
            normalize(format!(
                "{} {:?} {} {}",
                event.kind, event.phase_id, event.idempotency_key, event.payload
            ))
        })
        .collect();
    let mut rows = vec![format!("run {}", h.run_row().await.state)];
    for key in ["plan", "review"] {
        let phase = h.phase_row(key).await;
        rows.push(format!("phase {key} {} {}", phase.state, phase.attempts));
    }
    let session = h.session_row().await;
    rows.push(format!("session {} {}", session.state, session.recovery_attempts));
    for request in h.approvals().await {
        rows.push(normalize(format!(
            "approval {} {:?} {}",
            request.gate_key, request.state, request.payload
        )));
    }
    Snapshot { events, rows }
}

/// Replaces UUIDs and 64-hex hashes, which differ between runs by construction.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let hex_run = chars[i..].iter().take_while(|c| c.is_ascii_hexdigit() || **c == '-').count();
        let token: String = chars[i..i + hex_run].iter().collect();
        let is_uuid = token.len() >= 36 && token.chars().filter(|c| *c == '-').count() == 4;
        // A hash (64 hex), or a git commit id (40), which holds the commit's time.
        let is_hash = (token.len() == 64 || token.len() == 40) && !token.contains('-');
        // A prompt's marker: the first 16 hex digits of its dedup key, which hashes the path.
        let is_marker = token.len() == 16 && out.ends_with("devflow-prompt ");
        let token_start = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if hex_run > 0 && (is_uuid || is_hash || is_marker) && token_start {
            out.push_str(if is_uuid { "<id>" } else { "<hash>" });
            i += hex_run;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Every prompt the log records went to the fake agent exactly once; nothing else went out
/// twice.
async fn assert_prompts_delivered_once(h: &Harness, scenario: &str, context: &str) {
    let events = match managed::is_managed(scenario) {
        true => managed::events(h).await,
        false => h.events().await,
    };
    let mut sent = BTreeSet::new();
    for event in events.iter().filter(|event| event.kind.starts_with("prompt.")) {
        let dedup = event.payload["dedupKey"].as_str().unwrap().to_owned();
        assert_eq!(
            h.fake.deliveries(&dedup),
            1,
            "{context}: {} delivered more or less than once",
            event.kind
        );
        sent.insert(dedup);
    }
    for event in events.iter().filter(|event| event.kind == "session.busy") {
        let dedup = event.payload["dedupKey"].as_str().unwrap();
        assert!(h.fake.deliveries(dedup) <= 1, "{context}: a prompt went out twice");
    }
}

/// Runs every scenario uncrashed and then once per crash point among `proven` that it
/// reaches; returns those points.
async fn prove(backend: &str, scenario: &str, proven: &BTreeSet<String>) -> BTreeSet<String> {
    let baseline = fresh(backend, scenario).await;
    let trace = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    assert!(
        child(&baseline, scenario, None, &trace),
        "{backend}/{scenario}: the uncrashed run ended abnormally"
    );
    let expected = snapshot(&baseline, scenario).await;
    assert_prompts_delivered_once(&baseline, scenario, &format!("{backend}/{scenario} uncrashed"))
        .await;
    let points: BTreeSet<String> =
        reached(&trace).into_iter().filter(|point| proven.contains(point)).collect();

    for point in &points {
        let context = format!("{backend}/{scenario} crashed at {point}");
        let h = fresh(backend, scenario).await;
        let trace = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        assert!(
            !child(&h, scenario, Some(point), &trace),
            "{context}: the crash point never fired"
        );
        assert_eq!(reached(&trace).last(), Some(point), "{context}: aborted somewhere else");
        let mut reentries = 0;
        while !child(&h, scenario, None, &trace) {
            reentries += 1;
            assert!(reentries < 3, "{context}: re-entry keeps ending abnormally");
        }
        let got = snapshot(&h, scenario).await;
        assert_prompts_delivered_once(&h, scenario, &context).await;
        assert_eq!(got.events, expected.events, "{context}");
        assert_eq!(got.rows, expected.rows, "{context}");
    }
    points
}

/// Runs `scenarios` through every crash point they reach, and checks that together they reach
/// every point the source names — in the driver's files (`src/driver/`) or, with `driver`
/// false, everywhere else.
async fn prove_all(backend: &str, scenarios: &[&str], driver: bool) -> BTreeSet<String> {
    let in_driver = |file: &Path| file.components().any(|part| part.as_os_str() == "driver");
    let points: BTreeSet<String> = points_in_the_code()
        .into_iter()
        .filter(|(_, file)| in_driver(file) == driver)
        .map(|(name, _)| name)
        .collect();
    // The managed scenarios pass the runner's points too; those are the runner scenarios' to
    // prove, so each scenario crashes only at the points of its half.
    let mut reached = BTreeSet::new();
    for scenario in scenarios {
        reached.extend(prove(backend, scenario, &points).await);
    }
    let least = if driver { 8 } else { 20 };
    assert!(points.len() >= least, "the source scan found too few crash points: {points:?}");
    let never: Vec<_> = points.iter().filter(|point| !reached.contains(*point)).collect();
    assert!(never.is_empty(), "{backend}: crash points no scenario reaches: {never:?}");
    reached
}

/// Every crash point the source names, with its file: `crash_point!("name")`, and a durable
/// step's `mutate!(ctx, "name", ...)` or `step!(ctx, "name", ...)`. Each name is named once.
fn points_in_the_code() -> Vec<(String, std::path::PathBuf)> {
    let mut names = Vec::new();
    let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|line| !line.trim_start().starts_with("//")) {
                for mark in ["crash_point!(", "mutate!(", "step!("] {
                    for call in line.split(mark).skip(1) {
                        // The name is crash_point!'s first argument, a step's second.
                        let args = match mark {
                            "crash_point!(" => call,
                            _ => call.split_once(',').map_or("", |(_, rest)| rest),
                        };
                        if let Some(name) = args.trim_start().strip_prefix('"') {
                            names.push((name.split('"').next().unwrap().to_owned(), path.clone()));
                        }
                    }
                }
            }
        }
    }
    let unique: BTreeSet<&String> = names.iter().map(|(name, _)| name).collect();
    assert_eq!(unique.len(), names.len(), "a crash point is named twice: {names:?}");
    names
}

/// The managed-worktree scenarios, which reach the driver's own points (`managed.rs`).
const MANAGED: &[&str] = &["managed", "managed_conflict"];

#[tokio::test]
async fn every_crash_point_re_enters_to_the_uncrashed_outcome_on_sqlite() {
    prove_all("sqlite", SCENARIOS, false).await;
}

#[tokio::test]
async fn every_crash_point_re_enters_to_the_uncrashed_outcome_on_postgres() {
    if std::env::var("DEVFLOW_TEST_DATABASE_URL").is_err() {
        // Same rule as every PostgreSQL test: a failure under CI, a loud skip locally.
        assert!(
            std::env::var("CI").is_err(),
            "PostgreSQL tests required under CI: set DEVFLOW_TEST_DATABASE_URL or run `cargo xtask test`"
        );
        eprintln!(
            "SKIPPED: PostgreSQL crash tests (DEVFLOW_TEST_DATABASE_URL unset; run cargo xtask test)"
        );
        return;
    }
    prove_all("postgres", SCENARIOS, false).await;
}

#[tokio::test]
async fn every_worktree_crash_point_re_enters_to_the_uncrashed_outcome_on_sqlite() {
    prove_all("sqlite", MANAGED, true).await;
}

#[tokio::test]
async fn every_worktree_crash_point_re_enters_to_the_uncrashed_outcome_on_postgres() {
    if std::env::var("DEVFLOW_TEST_DATABASE_URL").is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "PostgreSQL tests required under CI: set DEVFLOW_TEST_DATABASE_URL or run `cargo xtask test`"
        );
        eprintln!(
            "SKIPPED: PostgreSQL worktree crash tests (DEVFLOW_TEST_DATABASE_URL unset; run cargo xtask test)"
        );
        return;
    }
    prove_all("postgres", MANAGED, true).await;
}
