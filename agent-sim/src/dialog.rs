//! agent-sim's first-run dialogs (`--dialog NAME`): a question shown before the prompt line, as
//! real agent CLIs ask whether to trust a folder, until it is answered.

use std::io::Write;
use std::path::Path;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

/// A dialog agent-sim can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    /// Folder trust, the kind of dialog devflow may answer: `1` or Enter trusts, `2` exits.
    Trust,
    /// Folder trust in Codex CLI's words (its preset knows it by them); answered as `Trust`.
    CodexTrust,
    /// Sharing usage data: `1` or Enter shares, `2` declines (devflow never answers it).
    Telemetry,
    /// A yes/no question no preset knows: `y` goes on, `n` exits.
    YesNo,
}

impl Dialog {
    pub const NAMES: &'static str = "trust, codex-trust, telemetry, yes-no";

    pub fn parse(name: &str) -> Option<Dialog> {
        match name {
            "trust" => Some(Dialog::Trust),
            "codex-trust" => Some(Dialog::CodexTrust),
            "telemetry" => Some(Dialog::Telemetry),
            "yes-no" => Some(Dialog::YesNo),
            _ => None,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Dialog::Trust => {
                "Do you trust the files in this folder?\r\n\r\n❯ 1. Yes, I trust this folder\r\n  2. No, exit\r\n"
            }
            Dialog::CodexTrust => {
                "Trust this folder?\r\n\r\n› 1. Trust and continue\r\n  2. Quit\r\n"
            }
            Dialog::Telemetry => {
                "Share usage data with the vendor?\r\n\r\n❯ 1. Yes, share it\r\n  2. No\r\n"
            }
            Dialog::YesNo => "Really start working in this folder? (y/n) ",
        }
    }
}

/// Shows the dialog until it is answered: `true` to go on, `false` to exit. Whatever else
/// arrives — a paste, other keys — is logged as dialog input (a prompt typed into a dialog).
pub fn ask(dialog: Dialog, log: Option<&Path>, out: &mut impl Write) -> std::io::Result<bool> {
    write!(out, "{}", dialog.text())?;
    out.flush()?;
    loop {
        let input = match event::read()? {
            Event::Paste(text) => text,
            Event::Key(key) if key.kind == KeyEventKind::Press => {
                let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
                match (dialog, key.code) {
                    (_, KeyCode::Char('c' | 'd')) if ctrl => return Ok(false),
                    (Dialog::YesNo, KeyCode::Char('y')) => return answered(out, true),
                    (Dialog::YesNo, KeyCode::Char('n')) => return answered(out, false),
                    (
                        Dialog::Trust | Dialog::CodexTrust | Dialog::Telemetry,
                        KeyCode::Char('1') | KeyCode::Enter,
                    ) => {
                        return answered(out, true);
                    }
                    (Dialog::Trust | Dialog::CodexTrust, KeyCode::Char('2')) => {
                        return answered(out, false);
                    }
                    (Dialog::Telemetry, KeyCode::Char('2')) => return answered(out, true),
                    (_, KeyCode::Char(c)) => c.to_string(),
                    (_, KeyCode::Enter) => "\n".to_owned(),
                    _ => continue,
                }
            }
            _ => continue,
        };
        if let Some(log) = log {
            super::work::append_log_entry(log, serde_json::json!({ "dialog_input": input }))?;
        }
    }
}

/// Clears the dialog away, as real CLIs redraw their screen once it is answered.
fn answered(out: &mut impl Write, go_on: bool) -> std::io::Result<bool> {
    write!(out, "\x1b[2J\x1b[H")?;
    out.flush()?;
    Ok(go_on)
}
