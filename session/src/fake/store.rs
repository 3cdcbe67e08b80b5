//! The fake adapter's state: one append-only journal per state folder.
//!
//! Each change appends a line: a session's whole new record, or a prompt delivery. A store
//! reads the lines it has not seen before every call, so a new `FakeAdapter` on the same folder
//! (a fresh process after a crash) sees exactly what the old one left. One file that only grows
//! costs no file creation per call: on a disk busy with a database's fsyncs, creating a file
//! (a record's temporary, say) waits for the file system journal, for hundreds of microseconds.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use devflow_core::{Code, Error, Result};
use serde::{Deserialize, Serialize};

use crate::TranscriptChunk;

/// Transcript chunks kept per session; older ones are dropped.
const TRANSCRIPT_CHUNKS_MAX: usize = 1_000;

/// What this process has read of each journal, by folder. Held for the whole of every call:
/// two adapters on one folder (the "restarted process" of the tests) must not lose each
/// other's updates.
static JOURNALS: Mutex<BTreeMap<PathBuf, Seen>> = Mutex::new(BTreeMap::new());

/// A journal read up to `offset`.
#[derive(Default)]
struct Seen {
    offset: u64,
    records: HashMap<String, Record>,
    deliveries: Vec<Delivery>,
}

impl Seen {
    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Record(record) => {
                self.records.insert(record.session_id.clone(), record);
            }
            Entry::Delivery(delivery) => self.deliveries.push(delivery),
        }
    }
}

/// One journal line.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Record(Record),
    Delivery(Delivery),
}

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Record {
    pub session_id: String,
    #[serde(default)]
    pub run_id: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredChunk {
    pub seq: i64,
    pub text: String,
}

impl Record {
    pub fn new(session_id: &str, run_id: &str, cwd: &Path, instructions: &str) -> Record {
        Record {
            session_id: session_id.to_owned(),
            run_id: run_id.to_owned(),
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
        self.transcript.push(StoredChunk { seq: self.next_seq, text });
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
            .map(|chunk| TranscriptChunk { seq: chunk.seq, text: chunk.text.clone() })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Delivery {
    dedup_key: String,
    session_id: String,
    at_ms: i64,
    #[serde(default)]
    kind: Paste,
}

/// What became of one paste of a prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Paste {
    /// Pasted and submitted: a delivery.
    #[default]
    Submitted,
    /// Pasted, not submitted: it waits in the input.
    Pasted,
    /// Pasted, and what came of it cannot be told.
    Unknown,
    /// The Enter for a paste that waited: a delivery, not a second paste.
    SubmittedPending,
}

#[derive(Debug, Clone)]
pub(super) struct Store {
    dir: PathBuf,
}

/// The journal, caught up, while the process-wide lock is held.
pub(super) struct Locked<'a> {
    journal: PathBuf,
    seen: &'a mut Seen,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store { dir: dir.to_owned() }
    }

    /// Runs `f` on the session's record (or `None` when it never existed) and saves what it
    /// leaves in the option, if that changed. The whole call holds the store lock.
    pub fn update<T>(
        &self,
        session_id: &str,
        f: impl FnOnce(&mut Option<Record>) -> Result<T>,
    ) -> Result<T> {
        self.update_with(session_id, |record, _| f(record))
    }

    /// Like `update`, with the locked journal for what else the call records.
    pub fn update_with<T>(
        &self,
        session_id: &str,
        f: impl FnOnce(&mut Option<Record>, &mut Locked<'_>) -> Result<T>,
    ) -> Result<T> {
        self.locked(|locked| {
            let before = locked.seen.records.get(session_id).cloned();
            let mut record = before.clone();
            let result = f(&mut record, locked);
            if let Some(record) = record
                && before.as_ref() != Some(&record)
            {
                locked.append(Entry::Record(record))?;
            }
            result
        })
    }

    pub fn read(&self, session_id: &str) -> Result<Option<Record>> {
        self.locked(|locked| Ok(locked.seen.records.get(session_id).cloned()))
    }

    /// Deliveries (submitted prompts) recorded under `dedup_key`, or all of them for `None`.
    pub fn count_deliveries(&self, dedup_key: Option<&str>) -> u32 {
        self.count(dedup_key, |kind| matches!(kind, Paste::Submitted | Paste::SubmittedPending))
    }

    /// Pastes recorded under `dedup_key` (submitted or not).
    pub fn count_pastes(&self, dedup_key: &str) -> u32 {
        self.count(Some(dedup_key), |kind| kind != Paste::SubmittedPending)
    }

    fn count(&self, dedup_key: Option<&str>, kind: impl Fn(Paste) -> bool) -> u32 {
        let count = self.locked(|locked| {
            Ok(locked
                .seen
                .deliveries
                .iter()
                .filter(|delivery| dedup_key.is_none_or(|key| delivery.dedup_key == key))
                .filter(|delivery| kind(delivery.kind))
                .count())
        });
        u32::try_from(count.unwrap_or(0)).unwrap_or(u32::MAX)
    }

    /// The session ids of the run's records that are not disposed.
    pub fn live_sessions_of_run(&self, run_id: &str) -> Vec<String> {
        let ids = self.locked(|locked| {
            Ok(locked
                .seen
                .records
                .values()
                .filter(|record| record.run_id == run_id && record.status != Status::Disposed)
                .map(|record| record.session_id.clone())
                .collect())
        });
        ids.unwrap_or_default()
    }

    fn locked<T>(&self, f: impl FnOnce(&mut Locked<'_>) -> Result<T>) -> Result<T> {
        let mut journals = lock_journals();
        let seen = journals.entry(self.dir.clone()).or_default();
        let mut locked = Locked { journal: self.dir.join("journal.jsonl"), seen };
        locked.catch_up()?;
        f(&mut locked)
    }
}

impl Locked<'_> {
    /// Records a paste of a prompt and what became of it (inside [`Store::update`]).
    pub fn record_paste(
        &mut self,
        dedup_key: &str,
        session_id: &str,
        at_ms: i64,
        kind: Paste,
    ) -> Result<()> {
        self.append(Entry::Delivery(Delivery {
            dedup_key: dedup_key.into(),
            session_id: session_id.into(),
            at_ms,
            kind,
        }))
    }

    /// What became of the latest paste of the prompt into the session, if any.
    pub fn latest_paste(&self, dedup_key: &str, session_id: &str) -> Option<Paste> {
        self.seen
            .deliveries
            .iter()
            .rev()
            .find(|d| d.dedup_key == dedup_key && d.session_id == session_id)
            .map(|d| d.kind)
    }

    /// Appends one line (one `write`, so that lines of two processes do not interleave). Not
    /// synced: the journal must survive the *process* crashes of the crash tests, which a
    /// write already does. When the file then ends right after this line, no other process
    /// wrote since the last catch-up and the entry is applied as it is; otherwise the journal
    /// is read back from where this process had got to.
    fn append(&mut self, entry: Entry) -> Result<()> {
        let mut line =
            serde_json::to_vec(&entry).map_err(|e| io_error("encode", &self.journal, e))?;
        line.push(b'\n');
        if let Some(dir) = self.journal.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        }
        let length = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.journal)
            .and_then(|mut file| {
                file.write_all(&line)?;
                file.metadata()
            })
            .map_err(|e| io_error("append to", &self.journal, e))?
            .len();
        if length != self.seen.offset + line.len() as u64 {
            return self.catch_up();
        }
        self.seen.offset = length;
        self.seen.apply(entry);
        Ok(())
    }

    /// Applies the lines appended since this process last looked.
    fn catch_up(&mut self) -> Result<()> {
        let mut file = match File::open(&self.journal) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                *self.seen = Seen::default();
                return Ok(());
            }
            Err(e) => return Err(io_error("open", &self.journal, e)),
        };
        let length = file.metadata().map_err(|e| io_error("read", &self.journal, e))?.len();
        if length < self.seen.offset {
            // The journal was cut short behind this process's back: start over from what is there.
            *self.seen = Seen::default();
        }
        let mut fresh = Vec::new();
        file.seek(SeekFrom::Start(self.seen.offset))
            .and_then(|_| file.read_to_end(&mut fresh))
            .map_err(|e| io_error("read", &self.journal, e))?;
        // Only whole lines: a line another process is writing right now is read next time.
        let whole = fresh.iter().rposition(|&byte| byte == b'\n').map_or(0, |end| end + 1);
        for line in fresh[..whole].split(|&byte| byte == b'\n').filter(|line| !line.is_empty()) {
            match serde_json::from_slice(line) {
                Ok(entry) => self.seen.apply(entry),
                Err(e) => {
                    return Err(Error::corruption(format!(
                        "fake adapter journal {}: {e}",
                        self.journal.display()
                    )));
                }
            }
        }
        self.seen.offset += whole as u64;
        Ok(())
    }
}

fn lock_journals() -> MutexGuard<'static, BTreeMap<PathBuf, Seen>> {
    JOURNALS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn io_error(
    what: &str,
    path: &Path,
    error: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::new(Code::SessionBackendFailed, format!("fake adapter cannot {what} {}", path.display()))
        .with_source(error)
}
