//! Delivering a prompt: the `BUSY` record before the send, the send, the record after it.

use devflow_core::{PromptEnvelope, Result, SessionState};
use devflow_db::SessionUpdate;
use devflow_session::{SessionHandle, retry_recoverable};

use crate::context::{Ctx, mutate};
use crate::crash::crash_point;
use crate::event::Event;
use crate::steps::session::{Move, expecting, move_session_blind};
use crate::wait::{Signature, signature};

impl Ctx {
    /// Marks the session `BUSY` with the prompt's hash, delivers the prompt (retrying
    /// recoverable failures), and records `prompt.sent` / `prompt.repaired`. Returns the prompt's
    /// id, and the artifact as it was before the prompt: the wait ignores a file still like this.
    ///
    /// The `BUSY` row is written *before* the send: after a crash, a session found `BUSY` with
    /// this prompt's hash may or may not have received it, and re-entry resumes the wait
    /// instead of sending again. (The reference checks the run in a transaction of its own
    /// first; that check is folded into the `BUSY` step, which makes it anyway.)
    pub async fn send_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
        repair: bool,
    ) -> Result<(String, Option<Signature>)> {
        let baseline = signature(self.phase.artifact_path())?;
        self.mark_session_busy(&handle.session_id, &envelope.dedup_key).await?;
        crash_point!("before_prompt_delivery");
        let receipt = retry_recoverable("send_prompt", &self.retry, || {
            self.adapter.send_prompt(handle, envelope)
        })
        .await?;
        // A crash here leaves a delivered prompt with no `prompt.sent`: re-entry finds the
        // session BUSY with this hash and waits for the artifact without sending again.
        crash_point!("after_prompt_delivery");
        self.record_prompt(repair, &envelope.dedup_key).await?;
        Ok((receipt.prompt_id, baseline))
    }

    async fn mark_session_busy(&self, sid: &str, dedup: &str) -> Result<()> {
        mutate!(self, |tx, phase| {
            let update = SessionUpdate {
                last_prompt_hash: Some(dedup.to_owned()),
                last_prompt_at: Some(devflow_db::now_ms()),
                ..expecting(phase)
            };
            // The event first, so that on PostgreSQL it travels with the move.
            Event::session_busy(phase, sid, dedup).emit(tx).await?;
            move_session_blind(tx, sid, SessionState::Busy, Move::Transition, update).await
        })
    }

    /// `prompt.sent` / `prompt.repaired` for a delivered prompt; a replay appends nothing.
    pub async fn record_prompt(&self, repair: bool, dedup: &str) -> Result<()> {
        mutate!(self, "after_prompt_recorded", |tx, phase| {
            Event::prompt(phase, repair, dedup).emit(tx).await
        })
    }
}
