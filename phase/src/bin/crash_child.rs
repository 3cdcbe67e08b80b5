//! The crash tests' child process: drives the phases of one scripted scenario against a
//! database, and aborts at the crash point named by `DEVFLOW_CRASH_AT` (feature `failpoints`).
//!
//! Usage: `devflow-phase-crash-child DB_URL WORKTREE FAKE_DIR SCENARIO`. It runs each phase of
//! the scenario that has not ended yet, in order, and stops at the first that does not
//! complete — like the workflow driver, which this stands in for.

#[path = "crash_child/managed.rs"]
mod managed;

use std::process::ExitCode;
use std::sync::Arc;

use devflow_core::{PhaseState, RunState, Schema};
use devflow_db::Db;
use devflow_phase::testing::{fake_phase, quick_retry};
use devflow_phase::{ApprovalGate, Ending, PhaseRunner, PhaseSpec, RunEnd};
use devflow_session::fake::FakeAdapter;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const VALID: &str = "```json\n{\"title\": \"Plan\", \"steps\": [\"one\"]}\n```";

/// The phases of a scenario: (key, instructions, approval gate, terminal).
fn phases(scenario: &str) -> Vec<(&'static str, String, Option<&'static str>, bool)> {
    let one =
        |instructions: &str, gate| vec![("plan", format!("{instructions}\n{VALID}"), gate, true)];
    match scenario {
        "ok" | "stale" => one("Scenario: ok", None),
        "repair" => one("Scenario: invalid\nRepair-Scenario: ok", None),
        "timeout" => one("Scenario: none\nRepair-Scenario: ok", None),
        "crashed" => one("Scenario: crash\nRepair-Scenario: ok", None),
        "approval" => one("Scenario: ok", Some("plan_review")),
        "human_gate" => one("Scenario: invalid\nRepair-Scenario: invalid", None),
        "fatal" => one("Scenario: ok\nFail-Send: fatal", None),
        "reuse" => vec![
            ("plan", format!("Scenario: ok\n{VALID}"), None, false),
            ("review", format!("Scenario: ok\n{VALID}"), None, true),
        ],
        other => panic!("unknown scenario {other}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, worktree, fake_dir, scenario] = args.as_slice() else {
        eprintln!("usage: devflow-phase-crash-child DB_URL WORKTREE FAKE_DIR SCENARIO");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match scenario.as_str() {
        "managed" | "managed_conflict" => runtime.block_on(managed::drive(
            worktree.as_ref(),
            fake_dir.as_ref(),
            url,
            scenario == "managed_conflict",
        )),
        _ => runtime.block_on(drive(url, worktree, fake_dir, scenario)),
    }
    ExitCode::SUCCESS
}

async fn drive(url: &str, worktree: &str, fake_dir: &str, scenario: &str) {
    let db = Db::connect(url).await.expect("the test database");
    let fake = Arc::new(FakeAdapter::new(fake_dir.as_ref()));
    let runner = PhaseRunner::new(db.clone(), fake).with_retry(quick_retry());
    let schema = Arc::new(
        Schema::compile(
            "plan.schema.json",
            &json!({"type": "object", "required": ["title", "steps"]}),
        )
        .unwrap(),
    );
    for (key, instructions, gate, terminal) in phases(scenario) {
        let phase_id = format!("phase-{key}");
        let id = phase_id.clone();
        let (run, phase) = db
            .read(move |tx| {
                Box::pin(async move { Ok((tx.run("run-1").await?, tx.phase(&id).await?)) })
            })
            .await
            .unwrap();
        let (run, phase) = (run.unwrap(), phase.unwrap());
        if !matches!(run.state, RunState::Executing | RunState::Planning) {
            return;
        }
        if scenario == "stale" && phase.state == PhaseState::Pending {
            // An artifact an earlier run left at the path, for the first attempt to clear away.
            let stale =
                std::path::Path::new(worktree).join("artifacts").join(format!("{key}.json"));
            std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
            std::fs::write(&stale, "{\"stale\": true}").unwrap();
        }
        match phase.state {
            PhaseState::Completed => continue,
            PhaseState::Failed | PhaseState::AwaitingApproval => return,
            _ => {}
        }
        let spec = PhaseSpec {
            approval_gate: gate.map(|key| ApprovalGate { key: key.into(), payload: None }),
            run_end: match terminal {
                true => RunEnd::WithThisPhase,
                false => RunEnd::WithTheLastPhase,
            },
            ..fake_phase("run-1", key, worktree.as_ref(), &schema, &instructions)
        };
        match runner.run(spec, CancellationToken::new()).await {
            Ok(report) if report.ending == Ending::Completed => continue,
            _ => return,
        }
    }
}
