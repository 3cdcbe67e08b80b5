//! What agent-sim does with a submitted prompt: log it, "work", and play its scenario.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_session::artifact_path_of;
use devflow_session::scenario::{self, Scenario, Script};

/// Working lines printed per prompt.
const WORK_STEPS: u64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Back to the prompt line.
    Continue,
    /// Exit with the crash status.
    Crash,
}

pub(super) struct Worker {
    pub log: Option<PathBuf>,
    pub work_ms: u64,
}

impl Worker {
    /// Logs `prompt`, works on it and plays its scenario. A hang never returns.
    pub fn handle(&self, prompt: &str, out: &mut impl Write) -> std::io::Result<Outcome> {
        if let Some(log) = &self.log {
            append_log_entry(log, serde_json::json!({ "prompt": prompt }))?;
        }
        // The user's message first, as real agents show it: a prompt's marker line shows in
        // the history.
        say(out, &format!("user: {}", prompt.lines().next().unwrap_or_default()))?;
        let script = scenario::parse(prompt);
        say(
            out,
            &format!(
                "received prompt: {} lines, {} bytes, scenario {}",
                prompt.lines().count(),
                prompt.len(),
                script.scenario.as_str()
            ),
        )?;
        for step in 1..=WORK_STEPS {
            std::thread::sleep(Duration::from_millis(self.work_ms / WORK_STEPS));
            say(out, &format!("\x1b[2mworking… ({step}/{WORK_STEPS})\x1b[0m"))?;
        }
        match script.scenario {
            Scenario::Crash => {
                say(out, &format!("crashing (exit status {})", super::CRASH_EXIT_STATUS))?;
                Ok(Outcome::Crash)
            }
            Scenario::Hang => {
                say(out, "thinking…")?;
                // Silent and deaf from now on, like a wedged agent.
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
            Scenario::None => {
                say(out, "done: no artifact this time")?;
                Ok(Outcome::Continue)
            }
            Scenario::Ok | Scenario::Invalid | Scenario::Malformed | Scenario::Slow => {
                write_artifact(prompt, &script, out)?;
                Ok(Outcome::Continue)
            }
        }
    }
}

fn write_artifact(prompt: &str, script: &Script, out: &mut impl Write) -> std::io::Result<()> {
    let Some(path) = artifact_path_of(prompt) else {
        return say(out, "no `Artifact:` line in the prompt; nothing written");
    };
    let path = Path::new(path);
    let Some(bytes) = script.artifact_bytes() else {
        return Ok(());
    };
    let written = if script.scenario == Scenario::Slow {
        write_slowly(path, &bytes, script.slow_ms, out)
    } else {
        scenario::write_atomic(path, &bytes)
    };
    match written {
        Ok(()) => say(out, &format!("wrote artifact {} ({} bytes)", path.display(), bytes.len())),
        Err(error) => say(out, &format!("cannot write artifact {}: {error}", path.display())),
    }
}

fn write_slowly(
    path: &Path,
    bytes: &[u8],
    slow_ms: u64,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let chunks = scenario::slow_chunks(bytes);
    let mut file = std::fs::File::create(path)?;
    for (index, chunk) in chunks.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(slow_ms / chunks.len() as u64));
        file.write_all(chunk)?;
        file.flush()?;
        say(out, &format!("wrote chunk {} of {}", index + 1, chunks.len()))?;
    }
    Ok(())
}

/// One JSON line per entry (`at_ms` added), written in one call so lines of concurrent writers
/// do not mix.
pub(super) fn append_log_entry(log: &Path, mut entry: serde_json::Value) -> std::io::Result<()> {
    entry["at_ms"] = serde_json::json!(devflow_session::now_ms());
    let mut bytes = entry.to_string().into_bytes();
    bytes.push(b'\n');
    if let Some(parent) = log.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    file.write_all(&bytes)
}

fn say(out: &mut impl Write, line: &str) -> std::io::Result<()> {
    write!(out, "{line}\r\n")?;
    out.flush()
}
