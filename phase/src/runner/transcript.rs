//! Transcripts: what an agent's terminal showed, captured incrementally into the database.

use devflow_core::Result;
use devflow_db::{SessionRow, SessionUpdate};
use devflow_session::SessionHandle;

use super::context::{Ctx, read, step};
use super::crash::crash_point;

impl Ctx {
    /// Captures what the session's screen showed since the last capture and stores it with the
    /// session's capture mark in one step: a crash before that step loses nothing (the next
    /// capture starts again from the mark), and one after it repeats nothing. `row` is the
    /// session's row if a step has just read or written it. Returns the new mark.
    pub async fn capture_transcript(
        &self,
        session_id: &str,
        row: Option<SessionRow>,
    ) -> Result<i64> {
        let row = match row {
            Some(row) => row,
            None => read!(self, |tx, _| { tx.require_session(session_id).await })?,
        };
        crash_point!("before_transcript_capture");
        let capture = self.adapter.capture(&self.handle(&row), row.last_capture_seq).await?;
        let seq = capture.last_seq(row.last_capture_seq);
        let chunks: Vec<(i64, &str)> =
            capture.chunks.iter().map(|chunk| (chunk.seq, chunk.text.as_str())).collect();
        if !chunks.is_empty() {
            let (sid, chunks) = (row.id.as_str(), &chunks);
            step!(self, |tx, _, _| {
                // The mark first: on PostgreSQL its update then travels with the insert.
                let mark = SessionUpdate { last_capture_seq: Some(seq), ..Default::default() };
                tx.update_session(sid, &mark).await?;
                tx.record_transcripts(sid, chunks).await
            })?;
        }
        crash_point!("after_transcript_capture");
        Ok(seq)
    }

    /// Captures the transcript of the agent this invocation runs, if any.
    pub(crate) async fn capture_running(&self, running: Option<&SessionHandle>) -> Result<()> {
        if let Some(handle) = running {
            self.capture_transcript(&handle.session_id, None).await?;
        }
        Ok(())
    }
}
