//! Transcripts: what an agent's terminal showed, captured incrementally into the database.

use std::collections::BTreeMap;

use async_trait::async_trait;
use devflow_core::{Code, Error, Result};
use devflow_db::{Db, SessionRow, SessionUpdate};
use devflow_session::{TranscriptChunk, TranscriptSink, capture_into};

use crate::context::{Ctx, handle_from_row};
use crate::crash::crash_point;

/// Collects the chunks of one capture and stores them, with the session's capture mark, in one
/// step: a crash before `flush` loses nothing (the next capture starts again from the mark) and
/// a crash after it repeats nothing.
pub struct DbTranscriptSink {
    db: Db,
    run_id: String,
    chunks: std::sync::Mutex<Vec<(String, TranscriptChunk)>>,
}

impl DbTranscriptSink {
    pub fn new(db: Db, run_id: &str) -> DbTranscriptSink {
        DbTranscriptSink { db, run_id: run_id.to_owned(), chunks: std::sync::Mutex::default() }
    }

    /// Stores what was appended since the last flush.
    pub async fn flush(&self) -> Result<()> {
        let chunks = std::mem::take(&mut *self.lock());
        let mut by_session: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
        for (sid, chunk) in &chunks {
            let of_session = by_session.entry(sid).or_default();
            of_session.push((chunk.seq, chunk.text.as_str()));
        }
        if by_session.is_empty() {
            return Ok(());
        }
        self.db
            .step(&self.run_id, move |tx, _run| {
                Box::pin(async move {
                    for (sid, of_session) in by_session {
                        // The mark first: on PostgreSQL its update then travels with the insert.
                        let mark = of_session.iter().map(|&(seq, _)| seq).max();
                        let update =
                            SessionUpdate { last_capture_seq: mark, ..SessionUpdate::default() };
                        tx.update_session(sid, &update).await?;
                        tx.record_transcripts(sid, &of_session).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, TranscriptChunk)>> {
        self.chunks.lock().expect("the sink's lock is never poisoned")
    }
}

#[async_trait]
impl TranscriptSink for DbTranscriptSink {
    async fn append(&self, session_id: &str, chunk: &TranscriptChunk) -> Result<()> {
        self.lock().push((session_id.to_owned(), chunk.clone()));
        Ok(())
    }
}

impl Ctx {
    /// Captures what is new in the session's transcript since the last capture.
    pub async fn capture_transcript(&self, session_id: &str) -> Result<i64> {
        let row = self.session_row(session_id).await?.ok_or_else(|| {
            let message = format!("session {session_id} does not exist for transcript capture");
            let error = Error::new(Code::SessionNotFound, message);
            error.in_phase(self.phase.run_id(), self.phase.phase_id())
        })?;
        self.capture_transcript_from(&row).await
    }

    /// Like `capture_transcript`, from a row a step has just read or written.
    pub async fn capture_transcript_from(&self, row: &SessionRow) -> Result<i64> {
        crash_point!("before_transcript_capture");
        let sink = DbTranscriptSink::new(self.db.clone(), self.phase.run_id());
        let seq =
            capture_into(self.adapter.as_ref(), &handle_from_row(row), row.last_capture_seq, &sink)
                .await?;
        sink.flush().await?;
        crash_point!("after_transcript_capture");
        Ok(seq)
    }
}
