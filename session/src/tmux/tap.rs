//! `devflow tmux-tap STATE_FILE`: the tap a pane's output is piped into (`pipe-pane -O`).
//!
//! tmux 3.3 has no format for a pane's bracketed-paste mode, so devflow reads it off the pane's
//! output stream: the tap reads everything the agent prints, from its first byte, keeps the
//! mode, the byte count and the time of the last output ([`TapState`]), and overwrites its state
//! file with one fixed-width record after every read — a few bytes, never the stream. It ends
//! at end of input, when the pane or the server goes. The adapter starts it in the same tmux
//! command as the pane's agent, so no early output is missed (see the `session/` section of
//! ARCHITECTURE.md), and reads the record on each look at the pane.

mod record;

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::ExitCode;

pub use record::{ModeTracker, RECORD_BYTES, TapState};

use crate::now_ms;

const USAGE: &str = "usage: devflow tmux-tap STATE_FILE (reads a pane's output on stdin)";

/// Reads stdin to its end, keeping `STATE_FILE` (the one argument) up to date.
pub fn run(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args: Vec<String> = args.into_iter().collect();
    let [path] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match tap(std::io::stdin().lock(), Path::new(path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("devflow tmux-tap {path}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The tap's loop, over any reader (the tests give it a byte slice).
pub fn tap(mut input: impl Read, path: &Path) -> std::io::Result<()> {
    let file = File::create(path)?;
    let mut state = TapState::new(now_ms());
    let mut mode = ModeTracker::default();
    file.write_all_at(state.encode().as_bytes(), 0)?;
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let now = now_ms();
        if mode.feed(&buffer[..read]) {
            state.paste_on = mode.paste_on;
            state.mode_changed_ms = now;
        }
        state.bytes += read as u64;
        state.last_output_ms = now;
        file.write_all_at(state.encode().as_bytes(), 0)?;
    }
}

/// The record in `path`: `None` when there is none (yet) or it cannot be read whole. A record
/// caught in the middle of a write is read again.
pub fn read_state(path: &Path) -> Option<TapState> {
    for _ in 0..3 {
        let mut bytes = [0_u8; RECORD_BYTES];
        let file = File::open(path).ok()?;
        if file.read_exact_at(&mut bytes, 0).is_ok()
            && let Some(state) = TapState::decode(&bytes)
        {
            return Some(state);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tap_keeps_mode_bytes_and_time_and_ends_with_its_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pane.tap");
        let before = now_ms();
        let input: &[u8] = b"banner\r\n\x1b[?2004hagent> ";
        tap(input, &path).unwrap();
        let state = read_state(&path).unwrap();
        assert!(state.paste_on);
        assert_eq!(state.bytes, input.len() as u64);
        assert!(state.last_output_ms >= before && state.started_ms >= before);

        tap(&b"\x1b[?2004h\x1b[?2004l"[..], &path).unwrap();
        assert!(!read_state(&path).unwrap().paste_on, "a new tap starts over");
        assert_eq!(read_state(&dir.path().join("none")), None);
    }
}
