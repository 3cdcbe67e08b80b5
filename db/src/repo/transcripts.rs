//! `tui_transcripts`: what each session's terminal showed, in captured chunks keyed by sequence number.

use devflow_core::Result;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::conn::{Tx, on_conn};
use crate::error::QueryResultExt;
use crate::records::TranscriptRecord;
use crate::schema::tui_transcripts;
use crate::{TranscriptRow, now_ms};

impl Tx {
    /// Stores `(seq, text)` chunks of one session in one `INSERT .. ON CONFLICT (session_id,
    /// seq) DO NOTHING`; returns how many were new. A capture replayed after a crash therefore
    /// stores each chunk once.
    pub async fn append_transcripts(
        &mut self,
        session_id: &str,
        chunks: &[(i64, &str)],
    ) -> Result<usize> {
        if chunks.is_empty() {
            return Ok(0);
        }
        let captured_at = now_ms();
        let rows: Vec<_> = chunks
            .iter()
            .map(|&(seq, text)| {
                (
                    tui_transcripts::session_id.eq(session_id),
                    tui_transcripts::seq.eq(seq),
                    tui_transcripts::captured_at.eq(captured_at),
                    tui_transcripts::text.eq(text),
                )
            })
            .collect();
        let key = (tui_transcripts::session_id, tui_transcripts::seq);
        // diesel writes a multi-row INSERT with ON CONFLICT for PostgreSQL only; on SQLite the
        // rows go one by one, which inside a step costs no round trip (`lane`).
        on_conn!(
            self,
            sqlite = |c| async {
                let mut inserted = 0;
                for row in &rows {
                    inserted += diesel::insert_into(tui_transcripts::table)
                        .values(*row)
                        .on_conflict(key)
                        .do_nothing()
                        .execute(c)
                        .await?;
                }
                Ok(inserted)
            }
            .await,
            postgres = |c| diesel::insert_into(tui_transcripts::table)
                .values(&rows)
                .on_conflict(key)
                .do_nothing()
                .execute(c)
                .await,
        )
        .or_db("append transcript")
    }

    /// The session's transcript chunks in sequence order.
    pub async fn transcripts(&mut self, session_id: &str) -> Result<Vec<TranscriptRow>> {
        let query = tui_transcripts::table
            .filter(tui_transcripts::session_id.eq(session_id))
            .order(tui_transcripts::seq.asc());
        let records: Vec<TranscriptRecord> =
            on_conn!(self, |c| query.load(c).await).or_db("list transcripts")?;
        Ok(records.into_iter().map(TranscriptRow::from).collect())
    }
}
