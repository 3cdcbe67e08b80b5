//! What the tmux adapter's tests share beside their world: prompt envelopes, and polling with a
//! generous deadline.

use std::time::{Duration, Instant};

use devflow_core::PromptEnvelope;

/// How long any poll waits before the test fails: generous, so a busy machine is not a failure.
const DEADLINE: Duration = Duration::from_secs(30);

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
