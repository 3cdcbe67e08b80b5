//! The phases one drive runs at once: each on a task of its own, all cancelled together when
//! the run stops, and the error that says why it stopped.

use std::collections::BTreeSet;

use devflow_core::{Code, Error};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub(crate) struct Running {
    tasks: JoinSet<(String, Result<(), Error>)>,
    keys: BTreeSet<String>,
    /// A child of the drive's own token: cancelling it stops the phases, not the drive.
    phases: CancellationToken,
    failure: Option<Error>,
}

impl Running {
    pub fn new(drive: &CancellationToken) -> Running {
        let phases = drive.child_token();
        Running { tasks: JoinSet::new(), keys: BTreeSet::new(), phases, failure: None }
    }

    /// The keys of the phases running now.
    pub fn keys(&self) -> &BTreeSet<String> {
        &self.keys
    }

    /// The token a phase started now is cancelled by.
    pub fn cancel(&self) -> CancellationToken {
        self.phases.clone()
    }

    /// Runs phase `key` (`task`, made with [`Running::cancel`]) on a task of its own.
    pub fn start(
        &mut self,
        key: String,
        task: impl Future<Output = Result<(), Error>> + Send + 'static,
    ) {
        self.keys.insert(key.clone());
        self.tasks.spawn(async move { (key, task.await) });
    }

    /// The phases still running end where they stand (their next step sees the cancellation).
    pub fn stop_all(&self) {
        self.phases.cancel();
    }

    /// Waits for one phase to end, keeping the error that best says why the run stopped;
    /// `false` when none was running. A phase's panic is the drive's.
    pub async fn next_ended(&mut self) -> bool {
        let Some(joined) = self.tasks.join_next().await else { return false };
        let (key, ran) =
            joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
        self.keys.remove(&key);
        if let Err(error) = ran {
            self.fail(error);
        }
        true
    }

    /// Records a failure of the drive itself (not of a phase): the run stops, with it.
    pub fn fail(&mut self, error: Error) {
        self.failure = Some(match self.failure.take() {
            Some(first) if weight(&first) >= weight(&error) => first,
            _ => error,
        });
    }

    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    pub fn into_failure(self) -> Option<Error> {
        self.failure
    }
}

/// Which of two phases' errors says why the run stopped: a lost lease above all (nothing may
/// be written), then the error that stopped the run over those of the phases it cut short.
fn weight(error: &Error) -> u8 {
    match error.code() {
        Code::LeaseLost => 2,
        Code::ActivityCancelled | Code::RunStateChanged => 0,
        _ => 1,
    }
}
