//! The leaf that delivers an attempt's prompt: the session marked `BUSY` with the prompt's hash
//! first, then the paste, then `prompt.sent` / `prompt.repaired`.

use devflow_core::{Move, Result, SessionState};
use devflow_db::SessionUpdate;

use super::attempt::Attempt;
use super::context::{Ctx, handle_from_row, mutate};
use super::crash::crash_point;
use super::facts::Known;
use super::policy::Site;
use super::writes::expecting;
use crate::event::Event;

impl Ctx {
    /// Marks the session `BUSY` with the prompt's hash and what the artifact path holds now
    /// (the wait's baseline), delivers the prompt (retrying what the policy retries), and
    /// records it.
    ///
    /// The `BUSY` row is written *before* the send: after a crash, a session found `BUSY` with
    /// this prompt's hash may or may not have received it, and the table waits for the
    /// artifact instead of sending again. (The reference checks the run in a transaction of
    /// its own first; that check is folded into the `BUSY` step, which makes it anyway.)
    pub(crate) async fn prompt(&self, known: &Known) -> Result<()> {
        let (attempt, row) = (known.attempt(), known.session());
        let (sid, dedup) = (row.id.as_str(), attempt.dedup_key());
        let baseline = known.on_disk.as_ref().map_or_else(|| "-".to_owned(), |sig| sig.encode());
        let (now_ms, adopting) = (self.clock.now_ms(), attempt.adopting);
        mutate!(self, |tx, phase| {
            let update = SessionUpdate {
                last_prompt_hash: Some(dedup.to_owned()),
                last_prompt_at: Some(now_ms),
                artifact_baseline: Some(baseline),
                ..expecting(phase)
            };
            // The event first, so that on PostgreSQL it travels with the move.
            Event::session_busy(phase, sid, dedup).emit(tx).await?;
            // What a person left at the path was recorded before; this prompt's artifact is
            // still to come.
            if adopting {
                tx.set_phase_artifact(phase.run_id(), phase.phase_id(), None).await?;
            }
            tx.move_session(sid, SessionState::Busy, Move::Transition, update).await
        })?;
        crash_point!("before_prompt_delivery");
        let (handle, envelope) = (handle_from_row(row), &attempt.envelope);
        let site = Site::PromptSend { repair: attempt.repair };
        self.retrying(site, || self.adapter.send_prompt(&handle, envelope)).await?;
        // A crash here leaves a delivered prompt with no `prompt.sent`: re-entry finds the
        // session BUSY with this hash and waits for the artifact without sending again.
        crash_point!("after_prompt_delivery");
        self.record_prompt(attempt).await
    }

    /// `prompt.sent` / `prompt.repaired` for a delivered prompt; a replay appends nothing.
    async fn record_prompt(&self, attempt: &Attempt) -> Result<()> {
        mutate!(self, "after_prompt_recorded", |tx, phase| {
            Event::prompt(phase, attempt.repair, attempt.dedup_key()).emit(tx).await
        })
    }
}
