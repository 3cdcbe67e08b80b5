//! What every step of one phase run shares — the database, the session adapter, the phase —
//! and the ways a step reaches the database.

use std::sync::{Arc, Mutex, PoisonError};

use devflow_core::Clock;
use devflow_db::{Db, PhaseRows, SessionRow};
use devflow_session::{SessionAdapter, SessionHandle};
use tokio_util::sync::CancellationToken;

use super::budget::RetryPolicy;
use super::spec::Phase;

/// The runner's handles for one phase. Cheap to clone into a durable step.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub db: Db,
    pub adapter: Arc<dyn SessionAdapter>,
    pub retry: RetryPolicy,
    pub clock: Arc<dyn Clock>,
    pub phase: Arc<Phase>,
    pub cancel: CancellationToken,
    pub fresh: Arc<Fresh>,
}

/// The phase's rows as the current leaf's newest step read them, last in its own transaction
/// (`Db::step_reading`): what the database holds after that step, so the facts after the leaf
/// need no read of their own. Emptied before each leaf and after a failure, so that only a
/// step of the leaf just taken is ever trusted this way; the rest is read.
#[derive(Default)]
pub(crate) struct Fresh(Mutex<Option<PhaseRows>>);

impl Fresh {
    /// Keeps what a step read back (`None`: its read failed, and the next one reads them).
    pub fn keep(&self, rows: Option<PhaseRows>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = rows;
    }

    pub fn take(&self) -> Option<PhaseRows> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    pub fn forget(&self) {
        drop(self.take());
    }
}

/// `mutate!(ctx, |tx, phase| { body })`: a durable step that changes the phase — a `step!`
/// refused unless its run is active — its async body written inline and handed the phase;
/// awaited. A crash point's name after `ctx` (`mutate!(ctx, "after_x", ...)`) puts that crash
/// point (`crash`) right after the step's commit.
macro_rules! mutate {
    ($ctx:expr, $point:literal, $($step:tt)*) => {{
        let value = $crate::runner::context::mutate!($ctx, $($step)*)?;
        $crate::runner::crash::crash_point!($point);
        Ok(value)
    }};
    ($ctx:expr, |$tx:pat_param, $phase:pat_param| $body:block) => {{
        $crate::runner::context::step!($ctx, |$tx, run, $phase| {
            ::devflow_db::phase_mutation_allowed(&run)?;
            $body
        })
    }};
}

/// `step!(ctx, |tx, run, phase| { body })`: a durable step that decides for itself what the
/// run's state allows; awaited. It keeps the rows it read back in `ctx.fresh`, and takes a
/// crash point's name after `ctx` as `mutate!` does.
macro_rules! step {
    ($ctx:expr, $point:literal, $($step:tt)*) => {{
        let value = $crate::runner::context::step!($ctx, $($step)*)?;
        $crate::runner::crash::crash_point!($point);
        Ok(value)
    }};
    ($ctx:expr, |$tx:pat_param, $run:pat_param, $phase:pat_param| $body:block) => {{
        let $phase: &$crate::runner::spec::Phase = &$ctx.phase;
        let (run_id, key) = ($ctx.phase.run_id(), $ctx.phase.rows_key());
        $ctx.db
            .step_reading(run_id, &key, move |$tx, $run| Box::pin(async move $body))
            .await
            .map(|(value, rows)| {
                $ctx.fresh.keep(rows);
                value
            })
    }};
}

/// `read!(ctx, |tx, phase| { body })`: reads outside any step; awaited.
macro_rules! read {
    ($ctx:expr, |$tx:pat_param, $phase:pat_param| $body:block) => {{
        let $phase: &$crate::runner::spec::Phase = &$ctx.phase;
        $ctx.db.read(move |$tx| Box::pin(async move $body)).await
    }};
}

pub(crate) use {mutate, read, step};

impl Ctx {
    /// A session as the runner knows it between steps: its id, where it lives, and the lease
    /// epoch this driver acts with (so that a newer driver's claim of the pane fences it out).
    pub(crate) fn handle(&self, row: &SessionRow) -> SessionHandle {
        SessionHandle {
            session_id: row.id.clone(),
            tmux_session: row.tmux_session.clone(),
            tmux_window: row.tmux_window.clone(),
            tmux_pane: row.tmux_pane.clone(),
            pane_pid: row.last_known_pane_pid,
            fence: self.fence(),
        }
    }

    /// The lease epoch of the driver this runner steps for; `None` on an unfenced database.
    pub(crate) fn fence(&self) -> Option<i64> {
        self.db.fence().map(|lease| lease.epoch)
    }
}
