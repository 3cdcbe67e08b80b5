//! What a role's agent CLI will start with — its argv, its environment, its worktree, the user
//! it runs as — and the checks a preset makes of it: for each dialog it knows, whether the
//! configuration avoids it ([`Dialog::avoided`]), and the settings the CLI needs beside
//! ([`Preset::requirements`]). `devflow doctor` reports them; the tmux adapter's gate quotes the
//! same dialogs' `avoid`, so the two cannot disagree about what a dialog is and what avoids it.
//!
//! Reading configuration never changes it, and no finding quotes a secret: a key is named by its
//! variable, never shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Dialog, Preset};

/// What the agent will be started with.
#[derive(Debug, Clone)]
pub struct Setup {
    pub argv: Vec<String>,
    /// The user's environment with the role's `env` over it: what the agent's process sees.
    pub env: BTreeMap<String, String>,
    /// The worktree, the agent's working directory (as given; see [`Setup::worktree_keys`]).
    pub worktree: PathBuf,
    /// Whether the agent runs as root (devflow's own effective user).
    pub root: bool,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but not as well as it could (or doctor cannot tell).
    Warn,
    /// The agent will not start at its input box, or will do what it must not.
    Fail,
}

/// One line of `doctor`: what was found, and for a warning or a failure, the exact fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

impl Finding {
    pub fn ok(text: impl Into<String>) -> Finding {
        Finding { level: Level::Ok, text: text.into() }
    }
    pub fn warn(text: impl Into<String>) -> Finding {
        Finding { level: Level::Warn, text: text.into() }
    }
    pub fn fail(text: impl Into<String>) -> Finding {
        Finding { level: Level::Fail, text: text.into() }
    }
}

/// Whether a configuration keeps a dialog from showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Avoided {
    /// It will not show; the text says what keeps it away.
    Yes(String),
    /// It will show; the text says what is missing and exactly how to add it.
    No(String),
}

impl Setup {
    /// `argv` run by the current user, with `role_env` over `user_env`.
    pub fn new(
        argv: Vec<String>,
        user_env: impl IntoIterator<Item = (String, String)>,
        role_env: &BTreeMap<String, String>,
        worktree: &Path,
    ) -> Setup {
        let mut env: BTreeMap<String, String> = user_env.into_iter().collect();
        env.extend(role_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let root = rustix::process::geteuid().is_root();
        Setup { argv, env, worktree: worktree.to_path_buf(), root }
    }

    /// A variable of the agent's environment, when set and not empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str).filter(|value| !value.is_empty())
    }

    /// The agent's home folder (`HOME`).
    pub fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// `~/REST` in the agent's home, or a finding that says HOME is not set.
    pub fn in_home(&self, rest: &str) -> Result<PathBuf, Finding> {
        self.home()
            .map(|home| home.join(rest))
            .ok_or_else(|| Finding::fail(format!("HOME is not set, so ~/{rest} cannot be found")))
    }

    /// Whether `flag` is in the argv, alone or as `flag=value`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.words()
            .any(|word| word == flag || word.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
    }

    /// The value of `flag VALUE` or `flag=VALUE`.
    pub fn flag_value(&self, flag: &str) -> Option<&str> {
        let mut words = self.words();
        while let Some(word) = words.next() {
            if word == flag {
                return words.next();
            }
            if let Some(value) = word.strip_prefix(flag).and_then(|rest| rest.strip_prefix('=')) {
                return Some(value);
            }
        }
        None
    }

    /// The argv after the program.
    fn words(&self) -> impl Iterator<Item = &str> {
        self.argv.iter().skip(1).map(String::as_str)
    }

    /// The worktree as the agent will see it (symlinks resolved, as `getcwd` gives it), then as
    /// given when that differs: the keys a CLI's per-folder settings may be stored under.
    pub fn worktree_keys(&self) -> Vec<String> {
        let given = self.worktree.to_string_lossy().into_owned();
        let real = std::fs::canonicalize(&self.worktree)
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or_else(|_| given.clone());
        if real == given { vec![real] } else { vec![real, given] }
    }

    /// The worktree, resolved.
    pub fn worktree_real(&self) -> PathBuf {
        std::fs::canonicalize(&self.worktree).unwrap_or_else(|_| self.worktree.clone())
    }
}

/// A JSON file of a CLI's configuration: `Ok(None)` when it does not exist.
pub fn read_json(path: &Path) -> Result<Option<Value>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| format!("{} is not valid JSON ({error})", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

/// The folder holding the `.git` of the repository `folder` is in.
pub fn git_top(folder: &Path) -> Option<PathBuf> {
    folder.ancestors().find(|dir| dir.join(".git").exists()).map(Path::to_path_buf)
}

/// Every finding of `preset` for `setup`: its requirements, then each dialog it knows — avoided,
/// answered by devflow (`answer_dialogs` names it and the preset marks it safe), or shown.
pub fn check(preset: &Preset, setup: &Setup, answer_dialogs: &[String]) -> Vec<Finding> {
    let mut findings = (preset.requirements)(setup);
    for dialog in preset.dialogs {
        findings.push(check_dialog(preset, dialog, setup, answer_dialogs));
    }
    findings
}

fn check_dialog(
    preset: &Preset,
    dialog: &Dialog,
    setup: &Setup,
    answer_dialogs: &[String],
) -> Finding {
    let name = dialog.name;
    match (dialog.avoided)(setup) {
        Avoided::Yes(why) => Finding::ok(format!("no dialog {name}: {why}")),
        Avoided::No(_) if answer_dialogs.iter().any(|answer| answer == name) => {
            Finding::ok(format!(
                "dialog {name} will show ({}), and devflow answers it (answer_dialogs)",
                dialog.meaning
            ))
        }
        Avoided::No(fix) => {
            let opt_in = match dialog.safe_to_answer && !dialog.answer_keys.is_empty() {
                true => {
                    format!("; or let devflow answer it: answer_dialogs = [\"{name}\"] in the role")
                }
                false => String::new(),
            };
            Finding::fail(format!(
                "{} will show the dialog {name} ({}): {fix}{opt_in}",
                preset.name, dialog.meaning
            ))
        }
    }
}

#[cfg(test)]
mod tests;
