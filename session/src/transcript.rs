//! Transcript chunks: what one `capture` of an agent's screen returns.

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
