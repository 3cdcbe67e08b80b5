//! Command output on stdout, line by line, and text made safe for a person's terminal.
//!
//! A reader that stops reading (`devflow events | head`) does not end devflow on the spot: that
//! would skip releasing a run's lease. The first failed write marks stdout closed; later lines
//! are dropped, a command that streams asks [`closed`] and ends, and the exit status is the
//! command's (a write error other than a closed pipe turns success into failure, see
//! `exit::finish`). Every line goes through `neutralize`: ids, names, notes and messages come
//! from databases, workflow files and agents, and none of them may drive the terminal.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use devflow_core::text::{neutralize, neutralize_line};

/// `println!` for what a command prints: `out!("{run} completed")`. Evaluates to whether
/// stdout is still open.
macro_rules! out {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

const OPEN: u8 = 0;
/// The reader went away (a closed pipe): nothing more is written, and that is no failure.
const CLOSED: u8 = 1;
/// Writing failed for another reason (a full disk): said once on stderr, and a failure.
const FAILED: u8 = 2;

static STDOUT: AtomicU8 = AtomicU8::new(OPEN);

/// Writes one line, neutralized, and flushes it (so `events --follow` streams). Returns
/// whether stdout is still open.
pub fn line(args: std::fmt::Arguments<'_>) -> bool {
    if STDOUT.load(Ordering::Relaxed) != OPEN {
        return false;
    }
    let text = args.to_string();
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{}", neutralize(&text)).and_then(|()| stdout.flush()) {
        Ok(()) => true,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT.store(CLOSED, Ordering::Relaxed);
            false
        }
        Err(error) => {
            if STDOUT.swap(FAILED, Ordering::Relaxed) == OPEN {
                eprintln!("error: cannot write to stdout: {error}");
            }
            false
        }
    }
}

/// Whether stdout is closed: a command that streams stops.
pub fn closed() -> bool {
    STDOUT.load(Ordering::Relaxed) != OPEN
}

/// Whether writing to stdout failed for a reason other than a closed pipe.
pub fn failed() -> bool {
    STDOUT.load(Ordering::Relaxed) == FAILED
}

/// A one-line value (an id, a name, a key) as it may be printed inside a line.
pub fn inline(text: &str) -> std::borrow::Cow<'_, str> {
    neutralize_line(text)
}

/// A line devflow writes to stderr (`devflow: …`, `error: …`), neutralized.
pub fn note(text: &str) {
    eprintln!("{}", neutralize(text));
}

/// A JSON document as one line: serde escapes the C0 controls inside strings, and this escapes
/// DEL and the C1 controls too (which it leaves as they are), so the text is still the same
/// JSON and no terminal acts on it.
pub fn json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if !text.chars().any(|c| c.is_control()) {
        return text;
    }
    // Outside its strings a JSON text holds no control character, so every one is in a string.
    text.chars()
        .map(|c| if c.is_control() { format!("\\u{:04x}", c as u32) } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_stays_the_same_json_without_a_control_character() {
        let value = serde_json::json!({"id": "a\u{1b}[31mb\u{7f}\u{9b}c\n"});
        let text = json(&value);
        assert!(!text.chars().any(|c| c.is_control()), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), value);
    }
}
