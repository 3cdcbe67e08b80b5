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
    /// `INSERT .. ON CONFLICT (session_id, seq) DO NOTHING`; returns whether a row was inserted.
    /// A capture replayed after a crash therefore stores its chunk once.
    pub async fn append_transcript(
        &mut self,
        session_id: &str,
        seq: i64,
        text: &str,
    ) -> Result<bool> {
        let values = (
            tui_transcripts::session_id.eq(session_id),
            tui_transcripts::seq.eq(seq),
            tui_transcripts::captured_at.eq(now_ms()),
            tui_transcripts::text.eq(text),
        );
        let inserted = on_conn!(self, |c| diesel::insert_into(tui_transcripts::table)
            .values(values)
            .on_conflict((tui_transcripts::session_id, tui_transcripts::seq))
            .do_nothing()
            .execute(c)
            .await)
        .or_db("append transcript")?;
        Ok(inserted == 1)
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
