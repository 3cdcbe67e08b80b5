//! The workflow driver: creates a run from a [`Workflow`](crate::Workflow) and drives its phases, as their graph allows, with
//! the [`PhaseRunner`], through approval gates, rejections, human gates, resumes and aborts.
//!
//! Everything the driver decides comes from the rows: which phase is next, whether it starts
//! fresh, restarts after a gate (`Restart::AfterGate`) or after a rejection
//! (`Restart::Rejected`, with the reviewer's note), or is re-entered where a crash left it. So a
//! driver killed at any instant is continued by `resume` from the database alone. Only one
//! driver works on a run at a time: it holds the run's lease (`lease`) and renews it.

mod clean;
mod create;
mod decide;
mod drive;
mod host;
mod lease;
mod merge;
pub(crate) mod owner;
mod running;
mod schedule;
mod specs;
mod task;
mod worktrees;

use std::path::PathBuf;
use std::sync::Arc;

use devflow_core::{Clock, Error};
use devflow_db::Db;
use devflow_session::SessionAdapter;

use crate::runner::PhaseRunner;

pub use clean::Cleaned;
pub use lease::{LEASE_RENEW_MS, LEASE_TTL_MS, LeaseWait, MAX_TAKEOVERS};
pub use owner::hostname;
pub use worktrees::pin_base;

/// Where a driven run stopped.
#[derive(Debug, Clone)]
pub enum Outcome {
    Completed,
    /// A workflow approval gate holds the run: `approve` or `reject` it.
    AwaitingApproval(Gate),
    /// A human gate: something the driver cannot fix alone; `resume` once it is fixed.
    Paused(Gate),
    Failed {
        reason: String,
    },
    Aborted,
    /// The run is for workers (`devflow submit`): it waits for one to drive it (on).
    Queued,
}

/// A pending approval request, as a person needs to see it.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub request_id: String,
    pub gate_key: String,
    pub phase_key: String,
    /// The request payload's `recoveryHint` (human gates), or the artifact path (approval gates).
    pub hint: Option<String>,
}

/// What a person's decision carries.
#[derive(Debug, Clone)]
pub struct Decision {
    pub gate_key: Option<String>,
    pub note: Option<String>,
    pub decided_by: String,
}

/// Drives runs on one database with one session backend.
#[derive(Clone)]
pub struct Driver {
    db: Db,
    adapter: Arc<dyn SessionAdapter>,
    runner: PhaseRunner,
    owner: String,
    devflow_exe: Option<PathBuf>,
    notice: Arc<dyn Fn(&str) + Send + Sync>,
    /// Who a move of a run's agents to this host is recorded as (`run.agents_moved`'s
    /// `movedBy`): the person of a command, or the worker.
    acting_for: String,
    /// This driver may move a run's agents here on its own (`devflow worker --move-agents`,
    /// `devflow resume --move-agents`); otherwise only a run whose workflow says
    /// `agents_may_move` has them moved, and any other stops at the `agents_elsewhere` gate.
    moves_agents: bool,
}

impl Driver {
    pub fn new(db: Db, adapter: Arc<dyn SessionAdapter>) -> Driver {
        Driver {
            runner: PhaseRunner::new(db.clone(), Arc::clone(&adapter)),
            db,
            adapter,
            owner: owner::owner_id(),
            devflow_exe: None,
            notice: Arc::new(|_| {}),
            acting_for: "devflow".to_owned(),
            moves_agents: false,
        }
    }

    /// Records the moves of agents it makes as `name`'s (a person, or `worker HOST:PID`).
    pub fn acting_for(mut self, name: impl Into<String>) -> Driver {
        self.acting_for = name.into();
        self
    }

    /// Lets this driver move a run's agents to this host when they live on another, whatever
    /// the run's workflow says.
    pub fn moving_agents(mut self, allowed: bool) -> Driver {
        self.moves_agents = allowed;
        self
    }

    /// A role command whose `argv[0]` is exactly `devflow` runs this program instead, so the
    /// examples work without devflow on `PATH`.
    pub fn with_devflow_exe(mut self, exe: PathBuf) -> Driver {
        self.devflow_exe = Some(exe);
        self
    }

    /// The clock the runner reads the time from (tests hand in their own). Leases are reckoned
    /// by the database's clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Driver {
        self.runner = self.runner.with_clock(clock);
        self
    }

    /// The retry budget of the runner's sites and of the driver's own steps (which a busy
    /// database takes again within it).
    pub fn with_retry(mut self, retry: crate::RetryPolicy) -> Driver {
        self.runner = self.runner.with_retry(retry);
        self
    }

    /// Claims leases as `owner` (a worker's id, which all its drives share).
    pub(crate) fn with_owner(mut self, owner: String) -> Driver {
        self.owner = owner;
        self
    }

    /// Where the driver says what it waits for (a lease held by a driver that died).
    pub fn with_notice(mut self, notice: Arc<dyn Fn(&str) + Send + Sync>) -> Driver {
        self.notice = notice;
        self
    }

    /// This driver's lease owner id: `hostname:pid:start:uuid`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

pub(crate) fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::new(devflow_core::Code::InvalidInput, message).with_hint(hint)
}
