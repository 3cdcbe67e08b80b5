//! What the phase tests and the crash tests' child process share (feature `test-support`): a
//! phase as they run it — the fake agent, short waits, no gate — quick retries, and which arms
//! of the runner's transition table this process has taken.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use devflow_core::Schema;
use devflow_session::AgentCommand;

use crate::{AgentLaunch, PhaseSpec, RetryPolicy, WaitSettings};

/// Phase `key` (id `phase-{key}`) of run `run_id`, for the role `planner` played by the fake
/// agent: its artifact at `artifacts/{key}.json`, a 300 ms wait, terminal, no gate.
pub fn fake_phase(
    run_id: &str,
    key: &str,
    worktree: &Path,
    schema: &Arc<Schema>,
    instructions: &str,
) -> PhaseSpec {
    PhaseSpec {
        run_id: run_id.into(),
        phase_id: format!("phase-{key}"),
        phase_key: key.into(),
        role_id: "planner".into(),
        worktree: worktree.to_path_buf(),
        artifact_path: format!("artifacts/{key}.json").into(),
        schema: Arc::clone(schema),
        instructions: instructions.into(),
        agent: AgentLaunch::of(AgentCommand::Argv(vec!["fake".into()]), Vec::new()),
        wait: WaitSettings {
            timeout_ms: 300,
            poll_ms: 10,
            stable_ms: 0,
            max_hung_ms: 60_000,
            max_artifact_bytes: 1 << 20,
        },
        approval_gate: None,
        terminal: true,
        restart: None,
    }
}

/// Three attempts with millisecond backoff, no jitter.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy { attempts_max: 3, backoff_initial_ms: 1, backoff_max_ms: 5, jitter: 0.0 }
}

/// The arms of the transition table taken in this process so far.
static REACHED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

pub(crate) fn reached(arm: &'static str) {
    REACHED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(arm);
}

/// Every arm of the runner's transition table.
pub fn arms() -> &'static [&'static str] {
    crate::runner::ARMS
}

/// The arms this process has taken.
pub fn arms_reached() -> BTreeSet<&'static str> {
    REACHED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}
