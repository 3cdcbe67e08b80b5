//! One place for the phase tests' helpers: a run with one or two phases on a test database,
//! a worktree, the fake agent, and the event log in a comparable form.

use std::path::PathBuf;
use std::sync::Arc;

use devflow_core::{Error, RunState, Schema};
use devflow_db::testing::TestDb;
use devflow_db::{Db, NewPhase, NewRun};
use devflow_phase::testing::{fake_phase, quick_retry};
use devflow_phase::{ApprovalGate, PhaseReport, PhaseRunner, PhaseSpec, Restart};
use devflow_session::fake::FakeAdapter;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const RUN_ID: &str = "run-1";

pub fn plan_schema() -> Value {
    json!({
        "type": "object",
        "required": ["title", "steps"],
        "properties": {
            "title": {"type": "string", "minLength": 1},
            "steps": {"type": "array", "items": {"type": "string"}}
        }
    })
}

/// The valid artifact the fake writes for `Scenario: ok`.
pub const VALID_PLAN: &str = "```json\n{\"title\": \"Plan\", \"steps\": [\"one\", \"two\"]}\n```";

/// A run on one backend with the fake agent, ready to run phases.
pub struct Harness {
    pub test_db: TestDb,
    pub db: Db,
    pub worktree: tempfile::TempDir,
    /// Kept so the fake's state outlives the harness's runs.
    pub _fake_dir: tempfile::TempDir,
    pub fake: Arc<FakeAdapter>,
    pub schema: Arc<Schema>,
}

impl Harness {
    /// A run `executing` with phases `plan` and `review` (both `pending`).
    pub async fn new(test_db: TestDb) -> Harness {
        let db = test_db.db.clone();
        let worktree = tempfile::tempdir().unwrap();
        let fake_dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(FakeAdapter::new(fake_dir.path()));
        let schema = Arc::new(Schema::compile("schemas/plan.schema.json", &plan_schema()).unwrap());
        let worktree_text = worktree.path().to_string_lossy().into_owned();
        db.write(move |tx| {
            Box::pin(async move {
                tx.insert_run(&NewRun {
                    id: RUN_ID.into(),
                    workflow: "test".into(),
                    state: RunState::Executing,
                    worktree: worktree_text,
                    definition: json!({}),
                })
                .await?;
                for (ordinal, key) in ["plan", "review"].iter().enumerate() {
                    tx.insert_phase(&NewPhase {
                        id: format!("phase-{key}"),
                        run_id: RUN_ID.into(),
                        phase_key: (*key).into(),
                        ordinal: ordinal as i32,
                    })
                    .await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
        Harness { test_db, db, worktree, _fake_dir: fake_dir, fake, schema }
    }

    pub fn backend(&self) -> &'static str {
        self.test_db.name
    }

    /// A spec for phase `key` with these instructions, short waits, and no gate.
    pub fn spec(&self, key: &str, instructions: &str) -> PhaseSpec {
        fake_phase(RUN_ID, key, self.worktree.path(), &self.schema, instructions)
    }

    pub fn gated(&self, key: &str, instructions: &str, gate: &str) -> PhaseSpec {
        PhaseSpec {
            approval_gate: Some(ApprovalGate { key: gate.into(), payload: None }),
            ..self.spec(key, instructions)
        }
    }

    pub fn runner(&self) -> PhaseRunner {
        PhaseRunner::new(self.db.clone(), self.fake.clone()).with_retry(quick_retry())
    }

    pub async fn run(&self, spec: PhaseSpec) -> Result<PhaseReport, Error> {
        self.runner().run(spec, CancellationToken::new()).await
    }

    /// The run's event types, in order, with the phase key for phase events.
    pub async fn event_types(&self) -> Vec<String> {
        self.events().await.into_iter().map(|event| event.kind).collect()
    }

    pub async fn events(&self) -> Vec<devflow_db::EventRow> {
        self.db.read(|tx| Box::pin(async move { tx.events(RUN_ID, 0).await })).await.unwrap()
    }

    pub async fn run_row(&self) -> devflow_db::RunRow {
        self.db.read(|tx| Box::pin(async move { tx.run(RUN_ID).await })).await.unwrap().unwrap()
    }

    pub async fn phase_row(&self, key: &str) -> devflow_db::PhaseRow {
        let id = format!("phase-{key}");
        self.db.read(move |tx| Box::pin(async move { tx.phase(&id).await })).await.unwrap().unwrap()
    }

    pub async fn session_row(&self) -> devflow_db::SessionRow {
        self.db
            .read(|tx| Box::pin(async move { tx.session_for_role(RUN_ID, "planner").await }))
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn approvals(&self) -> Vec<devflow_db::ApprovalRow> {
        self.db.read(|tx| Box::pin(async move { tx.approvals(RUN_ID).await })).await.unwrap()
    }

    /// What the driver does before a restart after a gate or a rejection: the run active again.
    pub async fn reactivate(&self) {
        self.db
            .step(RUN_ID, |tx, _run| {
                Box::pin(
                    async move { tx.set_run_state(RUN_ID, RunState::Executing, None, None).await },
                )
            })
            .await
            .unwrap();
    }

    /// A restart of phase `key` after a human gate or a rejection.
    pub fn restarted(&self, key: &str, instructions: &str, restart: Restart) -> PhaseSpec {
        PhaseSpec { restart: Some(restart), ..self.spec(key, instructions) }
    }

    pub fn artifact(&self) -> PathBuf {
        self.worktree.path().join("artifacts/plan.json")
    }
}

/// Every backend under test, each with a fresh harness.
pub async fn harnesses() -> Vec<Harness> {
    let mut out = Vec::new();
    for test_db in devflow_db::testing::backends().await {
        out.push(Harness::new(test_db).await);
    }
    out
}

pub fn types(list: &[&str]) -> Vec<String> {
    list.iter().map(|kind| (*kind).to_owned()).collect()
}

/// Waits until the run's log has an event of `kind` (at most 5 s).
pub async fn wait_for_event(h: &Harness, kind: &str) {
    for _ in 0..500 {
        if h.event_types().await.iter().any(|seen| seen == kind) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no {kind} event on {}", h.backend());
}
