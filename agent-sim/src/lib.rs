//! devflow-agent-sim: `devflow agent-sim`, a real interactive terminal program that behaves like a coding agent —
//! raw mode, bracketed paste, a prompt line, output while it works — scripted by the same
//! `Scenario:` lines as the fake adapter, so examples and tests run in real tmux without a model.

mod dialog;
mod work;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio::time::Instant;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{execute, terminal};

pub use dialog::Dialog;
use work::Outcome;

/// The environment variable naming the prompt log when `--log` does not.
pub const LOG_ENV: &str = "DEVFLOW_AGENT_SIM_LOG";
/// The prompt line.
pub const PROMPT: &str = "agent-sim> ";
/// How agent-sim exits when its scenario is crash.
pub const CRASH_EXIT_STATUS: u8 = 3;

/// Pasted text longer than this (or with a line break) shows as a summary, as real agents do.
const PASTE_ECHO_BYTES_MAX: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentSimArgs {
    /// Where every submitted prompt is appended as one JSON line; default `$DEVFLOW_AGENT_SIM_LOG`.
    pub log: Option<PathBuf>,
    /// How long the "working…" phase of a prompt takes; default 300.
    pub work_ms: Option<u64>,
    /// Turn bracketed paste on only this long after the prompt line shows (as Aider does).
    pub paste_ready_ms: Option<u64>,
    /// A first-run dialog to show before the prompt line, until it is answered.
    pub dialog: Option<Dialog>,
    /// Show the dialog this long *after* the prompt line instead (as Codex and Gemini CLI draw
    /// folder trust over their input box about 300 ms after drawing it): the dialog takes the
    /// screen, and whatever was typed or pasted into the prompt line by then is dropped with it.
    pub dialog_after_ms: Option<u64>,
    /// The first Enter on a non-empty input is not acted on: bracketed paste goes off, this
    /// long later on again, and the prompt line is drawn again with the input still in it —
    /// as a prompt_toolkit CLI (Aider) does when it prints above its prompt (its renderer's
    /// erase turns the mode off, the redraw on) while the key comes in.
    pub enter_redraw_ms: Option<u64>,
    /// Draw this as the prompt line instead of [`PROMPT`]: a real CLI's input box, so that a
    /// test can drive agent-sim under that CLI's preset (its input pattern, its dialogs, its
    /// own first-prompt settle window).
    pub prompt_line: Option<String>,
}

impl AgentSimArgs {
    pub const USAGE: &'static str = "usage: devflow agent-sim [--log PATH] [--work-ms N] [--paste-ready-ms N] [--dialog trust|codex-trust|telemetry|yes-no [--dialog-after-ms N]] [--enter-redraw-ms N] [--prompt-line TEXT]";

    /// Parses the arguments of [`AgentSimArgs::USAGE`] (the program name not included).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<AgentSimArgs, String> {
        let mut parsed = AgentSimArgs::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next().ok_or_else(|| format!("{name} needs a value\n{}", Self::USAGE))
            };
            match arg.as_str() {
                "--log" => parsed.log = Some(PathBuf::from(value("--log")?)),
                "--work-ms" => parsed.work_ms = Some(number("--work-ms", &value("--work-ms")?)?),
                "--paste-ready-ms" => {
                    parsed.paste_ready_ms =
                        Some(number("--paste-ready-ms", &value("--paste-ready-ms")?)?);
                }
                "--dialog" => {
                    let name = value("--dialog")?;
                    parsed.dialog = Some(Dialog::parse(&name).ok_or_else(|| {
                        format!("--dialog {name:?} is not one of {}", Dialog::NAMES)
                    })?);
                }
                "--dialog-after-ms" => {
                    parsed.dialog_after_ms =
                        Some(number("--dialog-after-ms", &value("--dialog-after-ms")?)?);
                }
                "--enter-redraw-ms" => {
                    parsed.enter_redraw_ms =
                        Some(number("--enter-redraw-ms", &value("--enter-redraw-ms")?)?);
                }
                "--prompt-line" => parsed.prompt_line = Some(value("--prompt-line")?),
                other => return Err(format!("unknown argument {other:?}\n{}", Self::USAGE)),
            }
        }
        if parsed.dialog_after_ms.is_some() && parsed.dialog.is_none() {
            return Err(format!("--dialog-after-ms needs --dialog NAME\n{}", Self::USAGE));
        }
        Ok(parsed)
    }
}

fn number(flag: &str, text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("{flag} {text:?} is not a number"))
}

/// Runs agent-sim on the terminal of this process until Ctrl-C / Ctrl-D (status 0), a crash
/// scenario (status 3) or an error (status 1). A hang scenario never returns.
pub fn run(args: AgentSimArgs) -> ExitCode {
    let _ = PROMPT_LINE.set(args.prompt_line.clone().unwrap_or_else(|| PROMPT.to_owned()));
    let log = args.log.or_else(|| std::env::var_os(LOG_ENV).map(PathBuf::from));
    let paste_at = args.paste_ready_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    let session = match Terminal::enter(paste_at.is_none()) {
        Ok(session) => session,
        Err(error) => {
            eprintln!("agent-sim needs a terminal: {error}");
            return ExitCode::FAILURE;
        }
    };
    let late_dialog = match (args.dialog, args.dialog_after_ms) {
        (Some(dialog), Some(ms)) => Some((dialog, Instant::now() + Duration::from_millis(ms))),
        _ => None,
    };
    if let (Some(dialog), None) = (args.dialog, late_dialog) {
        match dialog::ask(dialog, log.as_deref(), &mut std::io::stdout()) {
            Ok(true) => {}
            Ok(false) => return ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("agent-sim: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let worker = work::Worker { log, work_ms: args.work_ms.unwrap_or(300) };
    let result = session_loop(&worker, paste_at, late_dialog, args.enter_redraw_ms);
    drop(session);
    match result {
        Ok(Outcome::Continue) => ExitCode::SUCCESS,
        Ok(Outcome::Crash) => ExitCode::from(CRASH_EXIT_STATUS),
        Err(error) => {
            eprintln!("agent-sim: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Raw mode and bracketed paste while it lives; the terminal as it was after.
struct Terminal;

impl Terminal {
    fn enter(paste_now: bool) -> std::io::Result<Terminal> {
        terminal::enable_raw_mode()?;
        if paste_now {
            execute!(std::io::stdout(), event::EnableBracketedPaste)?;
        }
        Ok(Terminal)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = execute!(std::io::stdout(), event::DisableBracketedPaste);
        let _ = terminal::disable_raw_mode();
    }
}

/// Reads keys and pastes into the input line until exit; Enter hands the line to the worker.
/// Bracketed paste goes on at `paste_at` when it was not on from the start; a late dialog
/// takes the screen at its time, until it is answered.
fn session_loop(
    worker: &work::Worker,
    mut paste_at: Option<Instant>,
    mut late_dialog: Option<(Dialog, Instant)>,
    mut enter_redraw_ms: Option<u64>,
) -> std::io::Result<Outcome> {
    let mut out = std::io::stdout();
    let cwd = std::env::current_dir().unwrap_or_default();
    write!(out, "agent-sim ready (pid {}, in {})\r\n", std::process::id(), cwd.display())?;
    show_prompt(&mut out)?;
    let mut input = String::new();
    loop {
        let now = Instant::now();
        if paste_at.is_some_and(|at| at <= now) {
            execute!(out, event::EnableBracketedPaste)?;
            paste_at = None;
        }
        if let Some((dialog, _)) = late_dialog.filter(|(_, at)| *at <= now) {
            late_dialog = None;
            // A CLI that swaps its input box for a dialog: what sat in the input goes with it.
            input.clear();
            write!(out, "\x1b[2J\x1b[H")?;
            if !dialog::ask(dialog, worker.log.as_deref(), &mut out)? {
                return Ok(Outcome::Continue);
            }
            show_prompt(&mut out)?;
            continue;
        }
        let next = [paste_at, late_dialog.map(|(_, at)| at)].into_iter().flatten().min();
        if let Some(at) = next
            && !event::poll(at.saturating_duration_since(now))?
        {
            continue;
        }
        match event::read()? {
            Event::Paste(text) => {
                write!(out, "{}", echo(&text))?;
                input.push_str(&text);
            }
            Event::Key(key) if key.kind == KeyEventKind::Press => match key_action(key) {
                KeyAction::Exit => {
                    write!(out, "\r\nagent-sim: bye\r\n")?;
                    return Ok(Outcome::Continue);
                }
                KeyAction::Submit if input.trim().is_empty() => {}
                KeyAction::Submit if let Some(ms) = enter_redraw_ms.take() => {
                    execute!(out, event::DisableBracketedPaste)?;
                    std::thread::sleep(Duration::from_millis(ms));
                    execute!(out, event::EnableBracketedPaste)?;
                    // The same line again: the input was not taken.
                    write!(out, "\r\x1b[K")?;
                    show_prompt(&mut out)?;
                    write!(out, "{}", echo(&input))?;
                }
                KeyAction::Submit => {
                    write!(out, "\r\n")?;
                    let prompt = std::mem::take(&mut input);
                    if worker.handle(&prompt, &mut out)? == Outcome::Crash {
                        return Ok(Outcome::Crash);
                    }
                    show_prompt(&mut out)?;
                }
                KeyAction::Erase => {
                    if input.pop().is_some() {
                        write!(out, "\x08 \x08")?;
                    }
                }
                KeyAction::Type(c) => {
                    input.push(c);
                    write!(out, "{c}")?;
                }
                KeyAction::Ignore => {}
            },
            _ => {}
        }
        out.flush()?;
    }
}

enum KeyAction {
    Exit,
    Submit,
    Erase,
    Type(char),
    Ignore,
}

fn key_action(key: KeyEvent) -> KeyAction {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c' | 'd') if ctrl => KeyAction::Exit,
        KeyCode::Enter => KeyAction::Submit,
        KeyCode::Backspace => KeyAction::Erase,
        KeyCode::Tab => KeyAction::Type('\t'),
        KeyCode::Char(c) if !ctrl => KeyAction::Type(c),
        _ => KeyAction::Ignore,
    }
}

/// How pasted text shows on the prompt line: itself when short, else a summary.
fn echo(text: &str) -> String {
    match text.len() <= PASTE_ECHO_BYTES_MAX && !text.contains('\n') {
        true => text.to_owned(),
        false => format!("[pasted text: {} lines, {} bytes]", text.lines().count(), text.len()),
    }
}

/// The prompt line this agent-sim draws (`--prompt-line`, else [`PROMPT`]).
static PROMPT_LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn show_prompt(out: &mut impl Write) -> std::io::Result<()> {
    let line = PROMPT_LINE.get().map_or(PROMPT, String::as_str);
    write!(out, "\x1b[1m{line}\x1b[0m")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_flags() {
        let args = |list: &[&str]| AgentSimArgs::parse(list.iter().map(|s| s.to_string()));
        assert_eq!(args(&[]).unwrap(), AgentSimArgs::default());
        let parsed =
            args(&["--log", "/tmp/l.jsonl", "--work-ms", "20", "--paste-ready-ms", "900"]).unwrap();
        assert_eq!(parsed.log, Some(PathBuf::from("/tmp/l.jsonl")));
        assert_eq!((parsed.work_ms, parsed.paste_ready_ms), (Some(20), Some(900)));
        assert_eq!(args(&["--dialog", "trust"]).unwrap().dialog, Some(Dialog::Trust));
        let late = args(&["--dialog", "trust", "--dialog-after-ms", "300"]).unwrap();
        assert_eq!((late.dialog, late.dialog_after_ms), (Some(Dialog::Trust), Some(300)));
        assert!(args(&["--dialog-after-ms", "300"]).is_err(), "which dialog?");
        assert_eq!(args(&["--enter-redraw-ms", "400"]).unwrap().enter_redraw_ms, Some(400));
        let line = args(&["--prompt-line", "> Type"]).unwrap().prompt_line;
        assert_eq!(line.as_deref(), Some("> Type"));
        assert!(args(&["--dialog", "nope"]).is_err());
        assert!(args(&["--log"]).is_err());
        assert!(args(&["--work-ms", "soon"]).is_err());
        assert!(args(&["--what"]).is_err());
    }
}
