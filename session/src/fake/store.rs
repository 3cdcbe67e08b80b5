//! The fake adapter's files: one JSON record per session and an append-only delivery log.
//!
//! Everything is read from and written to disk on every call, so a new `FakeAdapter` on the same
//! directory (a fresh process after a crash) sees exactly what the old one left.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use devflow_core::{Code, Error, Result};
use serde::{Deserialize, Serialize};

use crate::TranscriptChunk;

/// Transcript chunks kept per session; older ones are dropped.
const TRANSCRIPT_CHUNKS_MAX: usize = 1_000;

/// Serializes every read-modify-write of every fake store in this process: two adapters on one
/// directory (the "restarted process" of the tests) must not lose each other's updates.
static STORE_LOCK: Mutex<()> = Mutex::new(());

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Status {
    /// Reserved by a failed start; not running yet.
    Starting,
    Alive,
    Hung,
    Crashed,
    Disposed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub session_id: String,
    pub cwd: PathBuf,
    pub instructions: String,
    pub status: Status,
    pub last_output_at_ms: Option<i64>,
    /// The latest prompt delivered; its directives override the start instructions'.
    pub last_prompt: Option<String>,
    /// Scripted recoverable failures so far, per operation name.
    pub failures_seen: BTreeMap<String, u32>,
    pub transcript: Vec<StoredChunk>,
    pub next_seq: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredChunk {
    pub seq: i64,
    pub text: String,
}

impl Record {
    pub fn new(session_id: &str, cwd: &Path, instructions: &str) -> Record {
        Record {
            session_id: session_id.to_owned(),
            cwd: cwd.to_owned(),
            instructions: instructions.to_owned(),
            status: Status::Starting,
            last_output_at_ms: None,
            last_prompt: None,
            failures_seen: BTreeMap::new(),
            transcript: Vec::new(),
            next_seq: 1,
        }
    }

    /// Appends a transcript line and counts it as output at `at_ms`.
    pub fn say(&mut self, at_ms: i64, text: impl Into<String>) {
        let mut text = text.into();
        text.push('\n');
        self.transcript.push(StoredChunk {
            seq: self.next_seq,
            text,
        });
        self.next_seq += 1;
        if self.transcript.len() > TRANSCRIPT_CHUNKS_MAX {
            self.transcript.remove(0);
        }
        self.last_output_at_ms = Some(at_ms);
    }

    pub fn chunks_after(&self, from_seq: i64, bytes_max: usize) -> Vec<TranscriptChunk> {
        let mut bytes = 0;
        self.transcript
            .iter()
            .filter(|chunk| chunk.seq > from_seq)
            .take_while(|chunk| {
                bytes += chunk.text.len();
                bytes <= bytes_max
            })
            .map(|chunk| TranscriptChunk {
                seq: chunk.seq,
                text: chunk.text.clone(),
            })
            .collect()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Delivery {
    dedup_key: String,
    session_id: String,
    at_ms: i64,
}

#[derive(Debug, Clone)]
pub(super) struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store {
            dir: dir.to_owned(),
        }
    }

    /// Runs `f` on the session's record (or `None` when it never existed) and saves what it
    /// leaves in the option. The whole call holds the store lock.
    pub fn update<T>(
        &self,
        session_id: &str,
        f: impl FnOnce(&mut Option<Record>) -> Result<T>,
    ) -> Result<T> {
        let _guard = STORE_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let path = self.record_path(session_id);
        let mut record = self.load(&path)?;
        let result = f(&mut record);
        if let Some(record) = &record {
            let bytes =
                serde_json::to_vec_pretty(record).map_err(|e| io_error("encode", &path, e))?;
            crate::scenario::write_atomic(&path, &bytes)
                .map_err(|e| io_error("write", &path, e))?;
        }
        result
    }

    pub fn read(&self, session_id: &str) -> Result<Option<Record>> {
        let _guard = STORE_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.load(&self.record_path(session_id))
    }

    /// Appends to the delivery log. Called only from inside [`Store::update`], which already
    /// holds the store lock (the lock is not reentrant).
    pub fn record_delivery_locked(
        &self,
        dedup_key: &str,
        session_id: &str,
        at_ms: i64,
    ) -> Result<()> {
        let path = self.deliveries_path();
        let delivery = Delivery {
            dedup_key: dedup_key.into(),
            session_id: session_id.into(),
            at_ms,
        };
        let mut line = serde_json::to_vec(&delivery).map_err(|e| io_error("encode", &path, e))?;
        line.push(b'\n');
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error("create", &self.dir, e))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_error("open", &path, e))?;
        // Not synced: the log must survive the *process* crashes of the crash tests, which an
        // append already does (see `write_atomic`).
        file.write_all(&line)
            .map_err(|e| io_error("append to", &path, e))
    }

    /// Deliveries recorded under `dedup_key`, or all of them for `None`.
    pub fn count_deliveries(&self, dedup_key: Option<&str>) -> u32 {
        let _guard = STORE_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Ok(text) = std::fs::read_to_string(self.deliveries_path()) else {
            return 0;
        };
        let count = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Delivery>(line).ok())
            .filter(|delivery| dedup_key.is_none_or(|key| delivery.dedup_key == key))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    fn load(&self, path: &Path) -> Result<Option<Record>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::corruption(format!("fake session record {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", path, e)),
        }
    }

    fn record_path(&self, session_id: &str) -> PathBuf {
        let name: String = session_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join("sessions").join(format!("{name}.json"))
    }

    fn deliveries_path(&self) -> PathBuf {
        self.dir.join("deliveries.jsonl")
    }
}

fn io_error(
    what: &str,
    path: &Path,
    error: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::new(
        Code::SessionBackendFailed,
        format!("fake adapter cannot {what} {}", path.display()),
    )
    .with_source(error)
}
