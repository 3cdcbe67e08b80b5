//! What devflow knows about one agent CLI — a *preset*: how it is launched, when its input is
//! ready for a paste, how a paste and a taken prompt look on its screen, the dialogs it is
//! known to show, and what it leaves running.
//!
//! Presets are data (`preset/*.rs`, one file per CLI), read by the tmux adapter. Patterns are
//! regular expressions matched against single lines of the pane's visible screen (plain text,
//! no escapes). A field that is not known for a CLI is empty, with an `// unknown:` comment
//! where it is defined, rather than a guess. A role's preset is named by the workflow
//! (`SessionSpec::preset`) or chosen by its program's name ([`for_command`]); `generic` knows
//! nothing: bracketed paste on and a settled screen are all it waits for.

mod agent_sim;
mod aider;
mod claude_code;
mod codex;
mod gemini;
mod generic;
pub mod setup;

use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;

use crate::AgentCommand;
pub use setup::{Avoided, Finding, Level, Setup};

/// One agent CLI. See the module docs.
#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    /// Program names (the basename of the command's first word) this preset is chosen for.
    pub programs: &'static [&'static str],
    /// The argv `devflow init` would write for the CLI.
    pub default_argv: &'static [&'static str],
    /// A line of the input box when it is ready for a prompt; `None`: not known.
    pub input_ready: Option<&'static str>,
    /// How many of the screen's last non-blank lines the input box and what is drawn below it
    /// span: where `input_ready`, the paste and the working pattern are looked for.
    pub input_lines: usize,
    /// How long the input box must have stayed unchanged before the *first* prompt into a pane
    /// (0: the adapter's `ready_settle_ms`). Some CLIs draw their input box and only then, a
    /// moment later, a first-run dialog over it: a paste in that moment goes into the dialog.
    pub first_prompt_settle_ms: u64,
    /// How the CLI shows a multi-line paste in its input instead of the text.
    pub paste_placeholder: Option<&'static str>,
    /// A line that shows the CLI is working on a prompt it took.
    pub working: Option<&'static str>,
    pub dialogs: &'static [Dialog],
    /// What the CLI starts that may outlive its pane, for a person reading `doctor`.
    pub leaves_running: &'static str,
    /// The arguments that make the CLI print its version and exit (`doctor` runs it); empty:
    /// not known, never run.
    pub version_args: &'static [&'static str],
    /// The version this preset was written from (its screens, flags and dialogs).
    pub tested_version: Option<&'static str>,
    /// The settings the CLI needs beside its dialogs, checked for `doctor` ([`setup`]): flags
    /// that no longer exist, combinations that let it install or fetch on its own, a key that
    /// is not set.
    pub requirements: fn(&Setup) -> Vec<Finding>,
}

/// A dialog a CLI is known to show instead of its input box.
#[derive(Debug)]
pub struct Dialog {
    /// The name a workflow uses to let devflow answer it (`answer_dialogs`).
    pub name: &'static str,
    /// A line of the screen that shows the dialog is up.
    pub pattern: &'static str,
    /// What it asks, in a few words.
    pub meaning: &'static str,
    /// The setting or flag that keeps it from showing.
    pub avoid: &'static str,
    /// Whether answering it as `answer_keys` do is safe for a throwaway worktree.
    pub safe_to_answer: bool,
    /// tmux key names (`send-keys`) that answer it; empty: devflow never answers it.
    pub answer_keys: &'static [&'static str],
    /// Whether a configuration avoids it — `avoid`, as a check of the files and flags it names
    /// (`devflow doctor` reports it).
    pub avoided: fn(&Setup) -> Avoided,
}

/// Every preset, `generic` last.
pub static ALL: &[&Preset] = &[
    &claude_code::PRESET,
    &codex::PRESET,
    &gemini::PRESET,
    &aider::PRESET,
    &agent_sim::PRESET,
    &generic::PRESET,
];

/// For a preset whose CLI needs nothing beside avoiding its dialogs.
pub fn no_requirements(_: &Setup) -> Vec<Finding> {
    Vec::new()
}

/// The preset that knows nothing.
pub static GENERIC: &Preset = &generic::PRESET;

/// The preset called `name`.
pub fn by_name(name: &str) -> Option<&'static Preset> {
    ALL.iter().copied().find(|preset| preset.name == name)
}

/// The preset for a command, by its program's basename (`devflow agent-sim` counts as
/// agent-sim; a shell command by its first word); `generic` when none fits.
pub fn for_command(command: &AgentCommand) -> &'static Preset {
    let words: Vec<String> = match command {
        AgentCommand::Argv(argv) => argv.clone(),
        AgentCommand::Shell(script) => script.split_whitespace().map(str::to_owned).collect(),
    };
    let mut program = words.first().map(|word| basename(word)).unwrap_or_default();
    if program == "devflow" && words.get(1).map(String::as_str) == Some("agent-sim") {
        program = "devflow-agent-sim".to_owned();
    }
    ALL.iter()
        .copied()
        .find(|preset| preset.programs.contains(&program.as_str()))
        .unwrap_or(GENERIC)
}

fn basename(word: &str) -> String {
    Path::new(word).file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A preset's patterns, compiled once.
#[derive(Debug)]
pub struct Matcher {
    pub preset: &'static Preset,
    pub input_ready: Option<Regex>,
    pub paste_placeholder: Option<Regex>,
    pub working: Option<Regex>,
    pub dialogs: Vec<(&'static Dialog, Regex)>,
}

impl Preset {
    /// The compiled patterns of this preset (of one of [`ALL`]).
    pub fn matcher(&'static self) -> &'static Matcher {
        static COMPILED: OnceLock<Vec<Matcher>> = OnceLock::new();
        let all =
            COMPILED.get_or_init(|| ALL.iter().map(|preset| Matcher::compile(preset)).collect());
        all.iter().find(|matcher| matcher.preset.name == self.name).expect("a preset of ALL")
    }
}

impl Matcher {
    fn compile(preset: &'static Preset) -> Matcher {
        let compile = |pattern: &str| {
            Regex::new(pattern)
                .unwrap_or_else(|e| panic!("preset {}: {pattern:?}: {e}", preset.name))
        };
        Matcher {
            preset,
            input_ready: preset.input_ready.map(compile),
            paste_placeholder: preset.paste_placeholder.map(compile),
            working: preset.working.map(compile),
            dialogs: preset
                .dialogs
                .iter()
                .map(|dialog| (dialog, compile(dialog.pattern)))
                .collect(),
        }
    }
}

/// A settled screen that asks something: two or more numbered choices, a choice with a
/// selection arrow, or a yes/no question. Shown where the input box should be, it is a dialog
/// devflow does not know.
pub fn looks_like_question(lines: &[&str]) -> Option<String> {
    static PATTERNS: OnceLock<(Regex, Regex, Regex)> = OnceLock::new();
    let (choice, selected, yes_no) = PATTERNS.get_or_init(|| {
        (
            Regex::new(r"^\s*(?:[❯›>»▸➜*]\s*)?[1-9][.)]\s+\S").expect("valid"),
            Regex::new(r"^\s*[│|]?\s*[❯›»▸➜]\s*[1-9][.)]\s+\S").expect("valid"),
            Regex::new(
                r"(?i)\(y/n\)|\[y/n\]|\(yes/no\)|\[yes/no\]|\(y\)es/\(n\)o|\by/n\s*[:?]?\s*$",
            )
            .expect("valid"),
        )
    });
    let found =
        |regex: &Regex| lines.iter().find(|line| regex.is_match(line)).map(|l| l.trim().to_owned());
    if lines.iter().filter(|line| choice.is_match(line)).count() >= 2 {
        return found(choice);
    }
    found(yes_no).or_else(|| found(selected))
}

#[cfg(test)]
mod tests;
