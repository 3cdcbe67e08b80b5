//! What the runner reports for a phase that ended well.

/// How a phase that did not stop at a gate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    AwaitingApproval,
}

/// What `run` reports for a phase that ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseReport {
    pub ending: Ending,
    pub session_id: String,
    /// The dedup key of the prompt that got the artifact (empty for one a person wrote).
    pub prompt_id: String,
    pub artifact_id: String,
    pub artifact_hash: String,
    /// The transcript's last captured sequence number.
    pub transcript_seq: i64,
}
