//! What the phase tests and the crash tests' child process share (feature `test-support`): a
//! phase as they run it — the fake agent, short waits, no gate — quick retries, and which arms
//! of the runner's transition table a scenario took.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

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
        run_end: crate::RunEnd::WithThisPhase,
        restart: None,
    }
}

/// Three attempts with millisecond backoff, no jitter.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy { attempts_max: 3, backoff_initial_ms: 1, backoff_max_ms: 5, jitter: 0.0 }
}

tokio::task_local! {
    /// The arms the scenario running in this task's [`arms_taken`] has taken.
    static TAKEN: RefCell<BTreeSet<&'static str>>;
}

/// Records an arm for the scenario this task runs, if one is recording (other tests' phases,
/// in the same process or not, record nothing into it).
pub(crate) fn reached(arm: &'static str) {
    let _outside_any_scenario = TAKEN.try_with(|taken| taken.borrow_mut().insert(arm));
}

/// Every arm of the runner's transition table.
pub fn arms() -> &'static [&'static str] {
    crate::runner::ARMS
}

/// Runs `scenario` (its phases run on this task, as `PhaseRunner::run` does) and returns what
/// it gave with the arms of the transition table it took — its own only.
pub async fn arms_taken<T>(scenario: impl Future<Output = T>) -> (T, BTreeSet<&'static str>) {
    let scoped = async {
        let output = scenario.await;
        (output, TAKEN.with(RefCell::take))
    };
    TAKEN.scope(RefCell::new(BTreeSet::new()), scoped).await
}
