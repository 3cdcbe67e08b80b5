//! What each scenario writes as its artifact, and how: atomically, or in slow chunks.

use std::io::Write;
use std::path::Path;

use super::{Scenario, Script};

/// How many pieces slow writes its artifact in.
pub const SLOW_CHUNKS: usize = 3;

const INVALID_DEFAULT: &str = "{\"devflowFakeInvalid\": true}";
const MALFORMED: &str = "{\"truncated\": ";

pub(super) fn bytes_for(script: &Script) -> Option<Vec<u8>> {
    let text = match script.scenario {
        Scenario::Ok | Scenario::Slow => script.valid_artifact_text.as_deref().unwrap_or("{}"),
        Scenario::Invalid => script.invalid_artifact_text.as_deref().unwrap_or(INVALID_DEFAULT),
        // Cut mid-object on purpose: no newline, nothing that would make it parse.
        Scenario::Malformed => return Some(MALFORMED.as_bytes().to_vec()),
        Scenario::None | Scenario::Hang | Scenario::Crash => return None,
    };
    let mut bytes = text.as_bytes().to_vec();
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    Some(bytes)
}

/// `bytes` cut into [`SLOW_CHUNKS`] pieces (fewer only when there are fewer bytes).
pub fn slow_chunks(bytes: &[u8]) -> Vec<&[u8]> {
    let size = bytes.len().div_ceil(SLOW_CHUNKS).max(1);
    bytes.chunks(size).collect()
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, creating parent
/// directories, so that a reader sees either nothing or the whole artifact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = parent.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::File::create(&temp)?;
    // No fsync: the rename is atomic for every other process, and what a process wrote survives
    // its crash (only a machine crash loses the page cache). Agents do not sync their files
    // either, and a sync here would charge ~0.4 ms of disk time to every simulated agent step.
    file.write_all(bytes)?;
    drop(file);
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}
