//! Helpers shared by the integration tests: specs, envelopes, polling with generous deadlines.

use std::path::Path;
use std::time::{Duration, Instant};

use devflow_core::PromptEnvelope;
use devflow_session::{AgentCommand, SessionSpec};

/// How long any poll waits before the test fails: generous, so a busy machine is not a failure.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn spec(session_id: &str, cwd: &Path, instructions: &str) -> SessionSpec {
    SessionSpec {
        session_id: session_id.to_owned(),
        run_id: "run-1".to_owned(),
        role_id: "planner".to_owned(),
        cwd: cwd.to_owned(),
        command: AgentCommand::Argv(vec!["true".to_owned()]),
        env: Vec::new(),
        expected_artifact_path: "out/plan.json".to_owned(),
        expected_schema: "plan.v1".to_owned(),
        instructions: instructions.to_owned(),
        preset: None,
        answer_dialogs: Vec::new(),
        fence: None,
    }
}

pub fn envelope(artifact: &str, attempt: u32, instructions: &str) -> PromptEnvelope {
    PromptEnvelope::new(
        uuid::Uuid::new_v4().to_string(),
        "run-1",
        "planner",
        "plan",
        attempt,
        artifact,
        "plan.v1",
        instructions,
    )
}

/// Polls `check` until it returns `Some`, failing the test with `what` after [`DEADLINE`].
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
