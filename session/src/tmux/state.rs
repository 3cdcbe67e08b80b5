//! devflow's tmux state folder, per session: the launch record (a copy of the pane option, which
//! dies with its pane), the tap's records, and the pids of the agent's processes seen so far.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error, Result, hash_bytes};

use super::launch::Launch;

/// Pids remembered per session, at most; the oldest go first.
const PIDS_MAX: usize = 512;

#[derive(Debug, Clone)]
pub(super) struct StateDir {
    root: PathBuf,
}

/// A process seen while it was the agent's: its pid and its start time (clock ticks since
/// boot, `/proc/<pid>/stat` field 22), so that a pid reused by another process is not taken
/// for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct SeenPid {
    pub pid: i32,
    pub start_ticks: u64,
}

impl StateDir {
    pub fn new(root: &Path) -> StateDir {
        StateDir { root: root.to_owned() }
    }

    pub fn save_launch(&self, launch: &Launch) -> Result<()> {
        let path = self.launch_path(&launch.session_id);
        write_atomic(&path, launch.to_json().as_bytes())
    }

    /// The launch record of `session_id`, if this folder has one.
    pub fn load_launch(&self, session_id: &str) -> Result<Option<Launch>> {
        match std::fs::read_to_string(self.launch_path(session_id)) {
            Ok(json) => Launch::from_json(&json).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &self.launch_path(session_id), e)),
        }
    }

    /// Every launch record of the folder (unreadable ones are skipped).
    pub fn launches(&self) -> Vec<Launch> {
        let Ok(entries) = std::fs::read_dir(self.root.join("sessions")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .filter_map(|json| Launch::from_json(&json).ok())
            .collect()
    }

    /// A fresh tap record path for the session: each tap gets its own, so that a tap ending
    /// (its pane respawned) cannot write over the record of the one that follows it.
    pub fn new_tap_path(&self, session_id: &str) -> Result<PathBuf> {
        let dir = self.root.join("taps");
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        let generation = uuid::Uuid::new_v4().simple().to_string();
        Ok(dir.join(format!("{}-{}.tap", file_key(session_id), &generation[..12])))
    }

    /// Removes the session's tap records but `keep`.
    pub fn remove_taps(&self, session_id: &str, keep: Option<&Path>) {
        let prefix = format!("{}-", file_key(session_id));
        let Ok(entries) = std::fs::read_dir(self.root.join("taps")) else {
            return;
        };
        for entry in entries.filter_map(|entry| entry.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && Some(entry.path().as_path()) != keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Adds `pids` to those remembered for the session.
    pub fn remember_pids(&self, session_id: &str, pids: &[SeenPid]) -> Result<()> {
        let mut all = self.pids(session_id);
        let fresh: Vec<SeenPid> = pids.iter().filter(|pid| !all.contains(pid)).copied().collect();
        if fresh.is_empty() {
            return Ok(());
        }
        all.extend(fresh);
        let skip = all.len().saturating_sub(PIDS_MAX);
        let text: String =
            all[skip..].iter().map(|seen| format!("{} {}\n", seen.pid, seen.start_ticks)).collect();
        write_atomic(&self.pids_path(session_id), text.as_bytes())
    }

    pub fn pids(&self, session_id: &str) -> Vec<SeenPid> {
        let text = std::fs::read_to_string(self.pids_path(session_id)).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (pid, ticks) = line.split_once(' ')?;
                Some(SeenPid { pid: pid.parse().ok()?, start_ticks: ticks.parse().ok()? })
            })
            .collect()
    }

    /// Forgets the session: its launch record, pids and tap records.
    pub fn forget(&self, session_id: &str) {
        let _ = std::fs::remove_file(self.launch_path(session_id));
        let _ = std::fs::remove_file(self.pids_path(session_id));
        self.remove_taps(session_id, None);
    }

    fn launch_path(&self, session_id: &str) -> PathBuf {
        self.root.join("sessions").join(format!("{}.json", file_key(session_id)))
    }

    fn pids_path(&self, session_id: &str) -> PathBuf {
        self.root.join("sessions").join(format!("{}.pids", file_key(session_id)))
    }
}

/// A file name for a session id: the id itself when it is plain (uuids are), else its safe
/// characters and a hash that keeps two ids apart.
fn file_key(session_id: &str) -> String {
    let plain = !session_id.is_empty()
        && session_id.len() <= 64
        && session_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        return session_id.to_owned();
    }
    let safe: String = session_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    format!("{safe}_{}", &hash_bytes(session_id.as_bytes())[..16])
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| io_error("write", path, e))
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::new(Code::SessionBackendFailed, format!("cannot {what} {}", path.display()))
        .with_source(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_become_distinct_safe_file_names() {
        assert_eq!(file_key("0193-abc_d"), "0193-abc_d");
        let odd = file_key("../x y");
        assert!(odd.starts_with("xy_") && !odd.contains('/'), "{odd}");
        assert_ne!(file_key("a/b"), file_key("a:b"));
    }

    #[test]
    fn pids_are_remembered_once_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let seen = |pid| SeenPid { pid, start_ticks: 7 };
        state.remember_pids("s", &[seen(1), seen(2)]).unwrap();
        state.remember_pids("s", &[seen(2), seen(3)]).unwrap();
        assert_eq!(state.pids("s"), [seen(1), seen(2), seen(3)]);
        let many: Vec<SeenPid> = (10..10 + PIDS_MAX as i32).map(seen).collect();
        state.remember_pids("s", &many).unwrap();
        assert_eq!(state.pids("s").len(), PIDS_MAX);
        assert_eq!(state.pids("s")[0], seen(10));
        state.forget("s");
        assert!(state.pids("s").is_empty());
    }
}
