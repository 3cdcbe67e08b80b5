//! `tui_transcripts`: what each session's terminal showed, in captured chunks keyed by sequence number.

use devflow_core::Result;
use diesel::sql_types::{Array, BigInt, Text};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::cached::cached;
use crate::conn::{Tx, on_conn};
use crate::error::QueryResultExt;
use crate::records::TranscriptRecord;
use crate::schema::tui_transcripts;
use crate::{TranscriptRow, now_ms};

const INSERT_CHUNKS_PG: &str = "INSERT INTO tui_transcripts (session_id, seq, captured_at, text) \
     SELECT $1, chunk.seq, $2, chunk.text FROM unnest($3::bigint[], $4::text[]) AS chunk(seq, text) \
     ON CONFLICT (session_id, seq) DO NOTHING";

/// `WHERE true` keeps SQLite from reading `ON CONFLICT` as a join constraint of the `SELECT`.
const INSERT_CHUNKS_SQLITE: &str = "INSERT INTO tui_transcripts (session_id, seq, captured_at, text) \
     SELECT ?, json_extract(chunk.value, '$[0]'), ?, json_extract(chunk.value, '$[1]') \
     FROM json_each(?) AS chunk WHERE true \
     ON CONFLICT (session_id, seq) DO NOTHING";

impl Tx {
    /// Stores `(seq, text)` chunks of one session, `ON CONFLICT (session_id, seq) DO NOTHING`;
    /// returns how many were new. A capture replayed after a crash therefore
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
        on_conn!(
            self,
            // diesel writes no multi-row INSERT .. ON CONFLICT for SQLite: the chunks travel as
            // one JSON array of `[seq, text]` pairs, which keeps the statement's text the same.
            sqlite = |c| {
                let pairs = serde_json::to_string(chunks).expect("pairs of numbers and strings");
                cached(
                    diesel::sql_query(INSERT_CHUNKS_SQLITE)
                        .bind::<Text, _>(session_id)
                        .bind::<BigInt, _>(captured_at)
                        .bind::<Text, _>(pairs),
                )
                .execute(c)
                .await
            },
            // One statement for any number of chunks: arrays keep its text, and so its prepared
            // statement, the same.
            postgres = |c| {
                let seqs: Vec<i64> = chunks.iter().map(|&(seq, _)| seq).collect();
                let texts: Vec<&str> = chunks.iter().map(|&(_, text)| text).collect();
                cached(
                    diesel::sql_query(INSERT_CHUNKS_PG)
                        .bind::<Text, _>(session_id)
                        .bind::<BigInt, _>(captured_at)
                        .bind::<Array<BigInt>, _>(seqs)
                        .bind::<Array<Text>, _>(texts),
                )
                .execute(c)
                .await
            },
        )
        .or_db("append transcript")
    }

    /// `append_transcripts` for a step that needs no count back: deferred on PostgreSQL.
    pub async fn record_transcripts(
        &mut self,
        session_id: &str,
        chunks: &[(i64, &str)],
    ) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        if !self.is_postgres() {
            return self.append_transcripts(session_id, chunks).await.map(drop);
        }
        let session_id = session_id.to_owned();
        let seqs: Vec<i64> = chunks.iter().map(|&(seq, _)| seq).collect();
        let texts: Vec<String> = chunks.iter().map(|&(_, text)| text.to_owned()).collect();
        let captured_at = now_ms();
        self.defer(Box::new(move |conn| {
            Box::pin(async move {
                let mut handle = conn;
                cached(
                    diesel::sql_query(INSERT_CHUNKS_PG)
                        .bind::<Text, _>(&session_id)
                        .bind::<BigInt, _>(captured_at)
                        .bind::<Array<BigInt>, _>(&seqs)
                        .bind::<Array<Text>, _>(&texts),
                )
                .execute(&mut handle)
                .await
                .map(drop)
                .or_db("append transcript")
            })
        }));
        Ok(())
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
