//! `cargo xtask bench`: phases per second through the fake agent, and what orchestration costs
//! beyond the database, measured against empty durable steps on the same database in the same
//! run.
//!
//! For each backend and concurrency: N phases (an instant agent, `stable_ms = 0`), each in its
//! own run, driven by `concurrency` tasks; then the same number of *empty durable steps* as the
//! phases took transactions (lock the run, append one event, commit), by as many tasks. The
//! overhead ratio is the phases' wall time over the empty steps' wall time: 1.0 would mean the
//! runner costs nothing beyond its commits.
//!
//! The agent is meant to be instant, so its worktree lives in memory where the machine has a
//! tmpfs (`/dev/shm`), and the databases stay on disk. On a disk busy with the databases'
//! fsyncs, creating the artifact file waits behind the file system's journal (about 180 µs a
//! phase on our CI machine): that is the agent's time, not orchestration's. `--worktree-on-disk`
//! measures with the worktree in the temporary directory instead.

#![allow(clippy::disallowed_methods)] // A benchmark measures real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use devflow_core::{RunState, Schema};
use devflow_db::testing::TestDb;
use devflow_db::{Db, NewEvent, NewPhase, NewRun};
use devflow_phase::{AgentLaunch, PhaseRunner, PhaseSpec, WaitSettings};
use devflow_session::AgentCommand;
use devflow_session::fake::FakeAdapter;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Phases and empty steps alternate in rounds of this many phases per task, so that a change
/// in the machine's load (this disk's fsync time drifts by half within a minute) weighs on
/// both sides of the ratio alike.
const PHASES_PER_TASK_AND_ROUND: usize = 4;

const INSTRUCTIONS: &str =
    "Scenario: ok\n```json\n{\"title\": \"Plan\", \"steps\": [\"one\"]}\n```";

struct Measured {
    backend: &'static str,
    concurrency: usize,
    phases_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    tx_per_phase: f64,
    step_ms: f64,
    overhead_ratio: f64,
}

fn main() {
    let mut phases = 200;
    let mut backends = vec!["sqlite", "postgres"];
    let mut worktree_on_disk = false;
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--phases" => phases = args.next().and_then(|n| n.parse().ok()).expect("--phases N"),
            "--backend" => {
                backends = vec![if args.next().map(String::as_str) == Some("sqlite") {
                    "sqlite"
                } else {
                    "postgres"
                }]
            }
            "--worktree-on-disk" => worktree_on_disk = true,
            other => panic!(
                "unknown argument {other}; use --phases N, --backend sqlite|postgres, --worktree-on-disk"
            ),
        }
    }
    let pg_url = std::env::var("DEVFLOW_TEST_DATABASE_URL").ok();
    let worktrees = worktree_parent(worktree_on_disk);
    println!("bench: the agent's worktree is in {}", worktrees.display());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    for backend in backends {
        if backend == "postgres" && pg_url.is_none() {
            eprintln!(
                "SKIPPED: PostgreSQL benchmark (DEVFLOW_TEST_DATABASE_URL unset; `cargo xtask bench` starts a server)"
            );
            continue;
        }
        let mut lines = Vec::new();
        for concurrency in [1, 16] {
            let measured = runtime.block_on(measure(
                backend,
                pg_url.as_deref(),
                concurrency,
                phases,
                &worktrees,
            ));
            println!(
                "{backend:>8} c={concurrency:<2}  {:>7.1} phases/s  p50 {:>6.2} ms  p99 {:>6.2} ms  {:.1} tx/phase  empty step {:.3} ms  overhead x{:.2}",
                measured.phases_per_s,
                measured.p50_ms,
                measured.p99_ms,
                measured.tx_per_phase,
                measured.step_ms,
                measured.overhead_ratio
            );
            lines.push(machine_line(&measured));
        }
        for line in lines {
            println!("{line}");
        }
    }
}

/// Where the agent's worktrees go: a tmpfs when there is one (see the module docs).
fn worktree_parent(on_disk: bool) -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if !on_disk && tempfile::tempdir_in(shm).is_ok() {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

fn machine_line(m: &Measured) -> String {
    format!(
        "bench backend={} concurrency={} phases_per_s={:.1} p50_ms={:.3} p99_ms={:.3} tx_per_phase={:.2} overhead_ratio={:.3}",
        m.backend,
        m.concurrency,
        m.phases_per_s,
        m.p50_ms,
        m.p99_ms,
        m.tx_per_phase,
        m.overhead_ratio
    )
}

async fn measure(
    backend: &'static str,
    pg_url: Option<&str>,
    concurrency: usize,
    phases: usize,
    worktrees: &std::path::Path,
) -> Measured {
    let test_db = match pg_url {
        Some(url) if backend == "postgres" => TestDb::postgres(url).await,
        _ => TestDb::sqlite().await,
    };
    let db = test_db.db.clone();
    let worktree = tempfile::tempdir_in(worktrees).unwrap();
    let fake_dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(
        Schema::compile("plan.schema.json", &json!({"type": "object", "required": ["title"]}))
            .unwrap(),
    );
    create_runs(&db, phases, &worktree.path().to_string_lossy()).await;
    let runner = PhaseRunner::new(db.clone(), Arc::new(FakeAdapter::new(fake_dir.path())));

    let mut times: Vec<Duration> = Vec::new();
    let (mut phases_wall, mut steps_wall, mut transactions, mut steps_total) =
        (Duration::ZERO, Duration::ZERO, 0, 0);
    let per_round = PHASES_PER_TASK_AND_ROUND * concurrency;
    for first in (0..phases).step_by(per_round) {
        let range = first..(first + per_round).min(phases);
        let tx_before = db.transactions();
        let started = Instant::now();
        times.extend(
            run_phases(&runner, range.clone(), concurrency, &schema, worktree.path()).await,
        );
        phases_wall += started.elapsed();
        let round_tx = db.transactions() - tx_before;
        transactions += round_tx;
        let steps = usize::try_from(round_tx).unwrap();
        steps_wall += empty_steps(&db, steps_total..steps_total + steps, range, concurrency).await;
        steps_total += steps;
    }
    let tx_per_phase = transactions as f64 / phases as f64;
    times.sort();
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    Measured {
        backend,
        concurrency,
        phases_per_s: phases as f64 / phases_wall.as_secs_f64(),
        p50_ms: ms(times[times.len() / 2]),
        p99_ms: ms(times[(times.len() * 99 / 100).min(times.len() - 1)]),
        tx_per_phase,
        step_ms: ms(steps_wall) / steps_total as f64 * concurrency as f64,
        overhead_ratio: phases_wall.as_secs_f64() / steps_wall.as_secs_f64(),
    }
}

/// Runs the phases of `range`, `concurrency` at a time; returns each one's time.
async fn run_phases(
    runner: &PhaseRunner,
    range: std::ops::Range<usize>,
    concurrency: usize,
    schema: &Arc<Schema>,
    worktree: &std::path::Path,
) -> Vec<Duration> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (runner, next, schema, worktree, end) = (
            runner.clone(),
            Arc::clone(&next),
            Arc::clone(schema),
            worktree.to_path_buf(),
            range.end,
        );
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return times;
                }
                let spec = spec(i, &worktree, Arc::clone(&schema));
                let phase_started = Instant::now();
                runner
                    .run(spec, CancellationToken::new())
                    .await
                    .expect("a benchmark phase completes");
                times.push(phase_started.elapsed());
            }
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.unwrap());
    }
    times
}

/// Empty durable steps numbered `steps`, each locking one run of `runs`, appending one event,
/// and committing.
async fn empty_steps(
    db: &Db,
    steps: std::ops::Range<usize>,
    runs: std::ops::Range<usize>,
    concurrency: usize,
) -> Duration {
    let (first_run, run_count, end) = (runs.start, runs.len(), steps.end);
    let next = Arc::new(AtomicUsize::new(steps.start));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (db, next) = (db.clone(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return;
                }
                let run_id = format!("run-{}", first_run + i % run_count);
                let run = run_id.clone();
                db.step(&run_id, move |tx, _run| {
                    Box::pin(async move {
                        let key = format!("bench.step:{i}");
                        let payload = json!({ "i": i });
                        tx.append_event(&NewEvent {
                            run_id: &run,
                            phase_id: None,
                            kind: "bench.step",
                            payload: &payload,
                            idempotency_key: &key,
                        })
                        .await
                        .map(drop)
                    })
                })
                .await
                .expect("an empty durable step commits");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

async fn create_runs(db: &Db, runs: usize, worktree: &str) {
    let worktree = worktree.to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            for i in 0..runs {
                let run = NewRun {
                    id: format!("run-{i}"),
                    workflow: "bench".into(),
                    state: RunState::Executing,
                    worktree: worktree.clone(),
                    definition: json!({}),
                };
                tx.insert_run(&run).await?;
                tx.insert_phase(&NewPhase {
                    id: format!("phase-{i}"),
                    run_id: run.id.clone(),
                    phase_key: "plan".into(),
                    ordinal: 0,
                })
                .await?;
            }
            Ok(())
        })
    })
    .await
    .unwrap();
}

fn spec(i: usize, worktree: &std::path::Path, schema: Arc<Schema>) -> PhaseSpec {
    PhaseSpec {
        run_id: format!("run-{i}"),
        phase_id: format!("phase-{i}"),
        phase_key: "plan".into(),
        role_id: "planner".into(),
        worktree: worktree.to_path_buf(),
        artifact_path: format!("artifacts/{i}.json").into(),
        schema,
        instructions: INSTRUCTIONS.into(),
        agent: AgentLaunch::of(AgentCommand::Argv(vec!["fake".into()]), Vec::new()),
        wait: WaitSettings {
            timeout_ms: 10_000,
            poll_ms: 25,
            stable_ms: 0,
            ..WaitSettings::default()
        },
        approval_gate: None,
        run_end: devflow_phase::RunEnd::WithThisPhase,
        restart: None,
    }
}
