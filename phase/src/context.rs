//! What every step of one phase run shares: the database, the session adapter, the phase.

use std::sync::Arc;

use devflow_core::Error;
use devflow_db::{Db, RunRow, StepFuture, Tx};
use devflow_session::{RetryPolicy, SessionAdapter, SessionHandle};
use tokio_util::sync::CancellationToken;

use crate::spec::Phase;

/// The runner's handles for one phase. Cheap to clone into a durable step.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub db: Db,
    pub adapter: Arc<dyn SessionAdapter>,
    pub retry: RetryPolicy,
    pub phase: Arc<Phase>,
    pub cancel: CancellationToken,
}

impl Ctx {
    pub fn run_id(&self) -> &str {
        self.phase.run_id()
    }

    pub fn phase_id(&self) -> &str {
        self.phase.phase_id()
    }

    /// A durable step that changes the phase: refused unless its run is active.
    pub async fn mutate<'a, T: Send + 'static>(
        &'a self,
        body: impl for<'t> FnOnce(&'t mut Tx, &'a Phase) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<T, Error> {
        let phase: &Phase = &self.phase;
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| body(tx, phase))
            .await
    }

    /// A durable step that decides for itself what the run's state allows.
    pub async fn step<'a, T: Send + 'static>(
        &'a self,
        body: impl for<'t> FnOnce(&'t mut Tx, RunRow, &'a Phase) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<T, Error> {
        let phase: &Phase = &self.phase;
        self.db
            .step(self.run_id(), move |tx, run| body(tx, run, phase))
            .await
    }

    /// Reads outside any step.
    pub async fn read<'a, T: Send + 'static>(
        &'a self,
        body: impl for<'t> FnOnce(&'t mut Tx, &'a Phase) -> StepFuture<'a, 't, T> + Send + 'a,
    ) -> Result<T, Error> {
        let phase: &Phase = &self.phase;
        self.db.read(move |tx| body(tx, phase)).await
    }
}

/// `mutate!(ctx, |tx, phase| body)`: the step [`Ctx::mutate`], awaited, with its async body
/// written inline.
macro_rules! mutate {
    ($ctx:expr, |$tx:pat_param, $phase:pat_param| $body:block) => {
        $ctx.mutate(move |$tx, $phase| Box::pin(async move $body))
            .await
    };
}

/// `step!(ctx, |tx, run, phase| body)`: the step [`Ctx::step`], awaited.
macro_rules! step {
    ($ctx:expr, |$tx:pat_param, $run:pat_param, $phase:pat_param| $body:block) => {
        $ctx.step(move |$tx, $run, $phase| Box::pin(async move $body))
            .await
    };
}

/// `read!(ctx, |tx, phase| body)`: the read [`Ctx::read`], awaited.
macro_rules! read {
    ($ctx:expr, |$tx:pat_param, $phase:pat_param| $body:block) => {
        $ctx.read(move |$tx, $phase| Box::pin(async move $body))
            .await
    };
}

pub(crate) use {mutate, read, step};

/// A session as the runner knows it between steps: its id and where it lives.
pub(crate) fn handle_from_row(row: &devflow_db::SessionRow) -> SessionHandle {
    SessionHandle {
        session_id: row.id.clone(),
        tmux_session: row.tmux_session.clone(),
        tmux_window: row.tmux_window.clone(),
        tmux_pane: row.tmux_pane.clone(),
        pane_pid: row.last_known_pane_pid,
    }
}
