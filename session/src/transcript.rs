//! Transcript chunks, the sink they go to, and `capture_into` which connects the two.

use async_trait::async_trait;
use devflow_core::Result;

use crate::{SessionAdapter, SessionHandle};

/// The most transcript text one `capture` returns; the rest comes with the next call.
pub const CAPTURE_BYTES_MAX: usize = 256 * 1024;

/// A piece of transcript text; `seq` orders chunks within a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptChunk {
    pub seq: i64,
    pub text: String,
}

/// What one `capture` returned: `seq` strictly increasing, every one greater than `from_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capture {
    pub chunks: Vec<TranscriptChunk>,
}

impl Capture {
    /// The highest seq captured, or `from_seq` when nothing was new.
    pub fn last_seq(&self, from_seq: i64) -> i64 {
        self.chunks.last().map_or(from_seq, |chunk| chunk.seq)
    }

    /// All chunks' text, concatenated.
    pub fn text(&self) -> String {
        self.chunks.iter().map(|chunk| chunk.text.as_str()).collect()
    }
}

/// Where captured chunks go; the phase crate implements it over the database.
#[async_trait]
pub trait TranscriptSink: Send + Sync {
    async fn append(&self, session_id: &str, chunk: &TranscriptChunk) -> Result<()>;
}

/// `capture(from_seq)`, then `sink.append` for every chunk in order. Returns the last seq
/// written, or `from_seq` when nothing was new. A sink failure stops the loop: the chunks
/// after it are captured again next time, because the caller still holds the older seq.
pub async fn capture_into(
    adapter: &dyn SessionAdapter,
    handle: &SessionHandle,
    from_seq: i64,
    sink: &dyn TranscriptSink,
) -> Result<i64> {
    let capture = adapter.capture(handle, from_seq).await?;
    let mut last_seq = from_seq;
    for chunk in &capture.chunks {
        debug_assert!(chunk.seq > last_seq, "transcript seq must increase");
        sink.append(&handle.session_id, chunk).await?;
        last_seq = chunk.seq;
    }
    Ok(last_seq)
}
