//! The leaves that deliver an attempt's prompt: the session marked `BUSY` with the prompt's
//! hash first (a durable step), then the delivery — which asks the terminal first where the
//! prompt is, so that after a crash between the two it is never sent twice — and its record.

use devflow_core::{Code, Error, Move, Result, SessionState};
use devflow_db::SessionUpdate;
use devflow_session::{PromptLocation, PromptReceipt, prompt_marker};

use super::attempt::Attempt;
use super::context::{Ctx, mutate};
use super::crash::crash_point;
use super::facts::Known;
use super::policy::Site;
use super::writes::expecting;
use crate::event::Event;

impl Ctx {
    /// Marks the session `BUSY` with the prompt's hash and what the artifact path holds now
    /// (the wait's baseline). Written *before* the delivery: a session found `BUSY` with this
    /// prompt's hash may or may not have received it, and only the terminal can tell.
    pub(crate) async fn mark_busy(&self, known: &Known) -> Result<()> {
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
        })
    }

    /// Delivers the prompt of a `BUSY` session, as the terminal says it stands: not there yet
    /// (the paste goes out, retried while nothing was pasted), pasted but not submitted
    /// (submitted), or taken already (a crash came before its record). Then `prompt.sent` /
    /// `prompt.repaired`, with each dialog devflow answered on the way. What the terminal
    /// cannot tell is `prompt_delivery_unverified`: a person looks, a second paste is never
    /// safe.
    pub(crate) async fn deliver(&self, known: &Known) -> Result<()> {
        let (attempt, handle) = (known.attempt(), self.handle(known.session()));
        let envelope = &attempt.envelope;
        let located = self.adapter.locate_prompt(&handle, envelope).await?;
        crash_point!("before_prompt_delivery");
        let receipt = match located {
            PromptLocation::Absent => {
                let site = Site::PromptSend { repair: attempt.repair };
                self.retrying(site, || self.adapter.send_prompt(&handle, envelope)).await?
            }
            PromptLocation::Pending => self.adapter.submit_pending(&handle, envelope).await?,
            PromptLocation::Taken => PromptReceipt::new(attempt.dedup_key()),
            PromptLocation::Unknown(seen) => return Err(unverifiable(&seen)),
        };
        crash_point!("after_prompt_delivery");
        self.record_prompt(attempt, &handle.session_id, &receipt).await
    }

    /// `prompt.sent` / `prompt.repaired` for a delivered prompt, and the dialogs answered for
    /// it; a replay appends nothing.
    async fn record_prompt(
        &self,
        attempt: &Attempt,
        sid: &str,
        receipt: &PromptReceipt,
    ) -> Result<()> {
        let marker = prompt_marker(&attempt.envelope);
        let dialogs = &receipt.dialogs_answered;
        mutate!(self, "after_prompt_recorded", |tx, phase| {
            for dialog in dialogs {
                Event::dialog_answered(phase, sid, attempt.dedup_key(), dialog).emit(tx).await?;
            }
            Event::prompt(phase, attempt.repair, attempt.dedup_key(), &marker).emit(tx).await
        })
    }
}

fn unverifiable(seen: &str) -> Error {
    let message = "devflow was stopped while it delivered the prompt, and the agent's terminal does not tell whether the prompt arrived";
    let hint = format!(
        "look at the agent (what devflow saw: {seen}); if it has the prompt, let it finish; then `devflow resume`, which starts the phase again"
    );
    Error::new(Code::PromptDeliveryUnverified, message).with_hint(hint)
}
