//! Transcripts: what an agent's terminal showed, captured incrementally into the database.

use async_trait::async_trait;
use devflow_core::{Code, Error};
use devflow_db::{Db, SessionUpdate};
use devflow_session::{TranscriptChunk, TranscriptSink, capture_into};

use crate::context::{Ctx, handle_from_row};
use crate::crash::crash_point;

/// Stores transcript chunks of one run; each chunk and the session's capture mark advance in
/// one step, so a crash never loses or repeats a chunk.
pub struct DbTranscriptSink {
    db: Db,
    run_id: String,
}

impl DbTranscriptSink {
    pub fn new(db: Db, run_id: &str) -> DbTranscriptSink {
        DbTranscriptSink {
            db,
            run_id: run_id.to_owned(),
        }
    }
}

#[async_trait]
impl TranscriptSink for DbTranscriptSink {
    async fn append(&self, session_id: &str, chunk: &TranscriptChunk) -> Result<(), Error> {
        let (sid, chunk) = (session_id.to_owned(), chunk.clone());
        self.db
            .step(&self.run_id, move |tx, _run| {
                Box::pin(async move {
                    tx.append_transcript(&sid, chunk.seq, &chunk.text).await?;
                    tx.update_session(
                        &sid,
                        &SessionUpdate {
                            last_capture_seq: Some(chunk.seq),
                            ..Default::default()
                        },
                    )
                    .await
                })
            })
            .await
    }
}

impl Ctx {
    /// Captures what is new in the session's transcript since the last capture.
    pub async fn capture_transcript(&self, session_id: &str) -> Result<i64, Error> {
        let row = self.session_row(session_id).await?.ok_or_else(|| {
            Error::new(
                Code::SessionNotFound,
                format!("session {session_id} does not exist for transcript capture"),
            )
            .in_phase(self.run_id(), self.phase_id())
        })?;
        crash_point!("before_transcript_capture");
        let sink = DbTranscriptSink::new(self.db.clone(), self.run_id());
        let seq = capture_into(
            self.adapter.as_ref(),
            &handle_from_row(&row),
            row.last_capture_seq,
            &sink,
        )
        .await?;
        crash_point!("after_transcript_capture");
        Ok(seq)
    }
}
