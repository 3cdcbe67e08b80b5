//! The preset for Gemini CLI (`@google/gemini-cli`, observed at 0.61.0 in tmux by the `agents`
//! helper: /work/notes/agents.md), and the checks of its configuration: `~/.gemini/settings.json`
//! (under `$GEMINI_CLI_HOME` where that is set; the system settings over it) and
//! `~/.gemini/trustedFolders.json` (or `$GEMINI_CLI_TRUSTED_FOLDERS_PATH`), read as 0.61 reads
//! them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::setup::{Avoided, Finding, Setup, read_json};
use super::{Dialog, Preset};

pub static PRESET: Preset = Preset {
    name: "gemini",
    programs: &["gemini"],
    // Edits are approved without a question; shell commands and web fetches still ask
    // (`--yolo` would approve everything).
    default_argv: &["gemini", "--approval-mode", "auto_edit"],
    input_ready: Some(r"^\s*>\s+Type your message or @path/to/file"),
    // The spinner line, a rule, the input line, a rule, the footer, a note.
    input_lines: 6,
    // Gemini CLI 0.61 draws its input box, then a moment later its folder-trust dialog
    // over it: the first paste waits until the box held still 1.5 s.
    first_prompt_settle_ms: 1_500,
    paste_placeholder: Some(r"\[Pasted Text: \d+ lines\]"),
    // ` ⠋ Thinking... (esc to cancel, 0s)`
    working: Some(r"esc to cancel"),
    dialogs: &[
        Dialog {
            name: "folder-trust",
            pattern: r"Do you trust the files in this folder\?",
            meaning: "Gemini CLI asks whether to trust the worktree (it restarts itself after)",
            avoid: "`{\"<worktree>\": \"TRUST_FOLDER\"}` in ~/.gemini/trustedFolders.json",
            // Not answered, even on opt-in: Gemini CLI 0.61 restarts itself after "1. Trust
            // folder" and, in a throwaway HOME, showed the dialog again after the restart (seen in
            // the real-agent tests). Trust is configured instead (`devflow init --agent gemini`,
            // `devflow doctor` names the file).
            safe_to_answer: false,
            answer_keys: &[],
            avoided: trust_avoided,
        },
        Dialog {
            name: "auth-method",
            pattern: r"How would you like to authenticate",
            meaning: "Gemini CLI asks how to authenticate",
            avoid: "`security.auth.selectedType = \"gemini-api-key\"` in ~/.gemini/settings.json",
            safe_to_answer: false,
            answer_keys: &[],
            avoided: auth_avoided,
        },
        Dialog {
            name: "api-key",
            pattern: r"Enter Gemini API Key",
            meaning: "Gemini CLI asks for an API key to store",
            avoid: "`security.auth.selectedType = \"gemini-api-key\"` in ~/.gemini/settings.json (GEMINI_API_KEY is then used)",
            safe_to_answer: false,
            answer_keys: &[],
            avoided: api_key_avoided,
        },
    ],
    leaves_running: "its two node processes ignore SIGHUP and survive `kill-window` and `kill-server`",
    version_args: &["--version"],
    tested_version: Some("0.61.0"),
    requirements,
};

/// `~/.gemini` (`$GEMINI_CLI_HOME/.gemini` where that is set).
fn gemini_dir(setup: &Setup) -> Result<PathBuf, String> {
    match setup.var("GEMINI_CLI_HOME") {
        Some(home) => Ok(Path::new(home).join(".gemini")),
        None => setup.in_home(".gemini").map_err(|finding| finding.text),
    }
}

/// The user's settings file, and a setting read from the system settings (which win), else
/// from the user's.
struct Settings {
    user_path: PathBuf,
    layers: Vec<(PathBuf, Value)>,
}

impl Settings {
    fn read(setup: &Setup) -> Result<Settings, String> {
        let user_path = gemini_dir(setup)?.join("settings.json");
        let system_path = setup
            .var("GEMINI_CLI_SYSTEM_SETTINGS_PATH")
            .map_or_else(|| PathBuf::from("/etc/gemini-cli/settings.json"), PathBuf::from);
        let mut layers = Vec::new();
        for path in [system_path, user_path.clone()] {
            if let Some(value) = read_json(&path)? {
                layers.push((path, value));
            }
        }
        Ok(Settings { user_path, layers })
    }

    /// The value at `keys` (`["security", "auth", "selectedType"]`) and the file it is from.
    fn get(&self, keys: &[&str]) -> Option<(&Path, &Value)> {
        self.layers.iter().find_map(|(path, value)| {
            let found = keys.iter().try_fold(value, |value, key| value.get(key))?;
            Some((path.as_path(), found))
        })
    }
}

fn trust_avoided(setup: &Setup) -> Avoided {
    if setup.var("GEMINI_CLI_TRUST_WORKSPACE") == Some("true") || setup.has_flag("--skip-trust") {
        return Avoided::Yes(
            "trusted for the session (GEMINI_CLI_TRUST_WORKSPACE or --skip-trust)".into(),
        );
    }
    let settings = match Settings::read(setup) {
        Ok(settings) => settings,
        Err(why) => return Avoided::No(why),
    };
    if let Some((path, Value::Bool(false))) = settings.get(&["security", "folderTrust", "enabled"])
    {
        return Avoided::Yes(format!(
            "folder trust is off (security.folderTrust.enabled in {})",
            path.display()
        ));
    }
    let path = match setup.var("GEMINI_CLI_TRUSTED_FOLDERS_PATH") {
        Some(path) => PathBuf::from(path),
        None => match gemini_dir(setup) {
            Ok(dir) => dir.join("trustedFolders.json"),
            Err(why) => return Avoided::No(why),
        },
    };
    let rules = match read_json(&path) {
        Ok(rules) => rules.unwrap_or(Value::Null),
        Err(why) => return Avoided::No(why),
    };
    let worktree = setup.worktree_real();
    let fix = format!("add \"{}\": \"TRUST_FOLDER\" to {}", worktree.display(), path.display());
    match longest_rule(&rules, &worktree) {
        Some((rule, level)) if level != "DO_NOT_TRUST" => {
            Avoided::Yes(format!("{rule:?} is {level} in {}", path.display()))
        }
        Some((rule, _)) => Avoided::No(format!("{rule:?} is DO_NOT_TRUST: {fix}")),
        None => Avoided::No(fix),
    }
}

/// The rule with the longest path whose folder holds `worktree` (a TRUST_PARENT rule names a
/// folder's parent), as Gemini CLI matches them.
fn longest_rule<'a>(rules: &'a Value, worktree: &Path) -> Option<(&'a str, &'a str)> {
    let rules = rules.as_object()?;
    rules
        .iter()
        .filter_map(|(rule, level)| Some((rule.as_str(), level.as_str()?)))
        .filter(|(rule, level)| {
            let folder = Path::new(rule);
            let folder = match *level {
                "TRUST_PARENT" => folder.parent().unwrap_or(folder),
                _ => folder,
            };
            let folder = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
            worktree.starts_with(folder)
        })
        .max_by_key(|(rule, _)| rule.len())
}

fn selected_type(settings: &Settings) -> Option<(&Path, &str)> {
    let (path, value) = settings.get(&["security", "auth", "selectedType"])?;
    Some((path, value.as_str()?))
}

fn auth_avoided(setup: &Setup) -> Avoided {
    let settings = match Settings::read(setup) {
        Ok(settings) => settings,
        Err(why) => return Avoided::No(why),
    };
    match selected_type(&settings) {
        Some((path, kind)) => {
            Avoided::Yes(format!("security.auth.selectedType = {kind:?} in {}", path.display()))
        }
        None => Avoided::No(format!(
            "set security.auth.selectedType = \"gemini-api-key\" in {} (and GEMINI_API_KEY in the role's env)",
            settings.user_path.display()
        )),
    }
}

fn api_key_avoided(setup: &Setup) -> Avoided {
    let settings = match Settings::read(setup) {
        Ok(settings) => settings,
        Err(why) => return Avoided::No(why),
    };
    match selected_type(&settings) {
        None => Avoided::No(format!(
            "it follows the auth-method dialog: set security.auth.selectedType = \"gemini-api-key\" in {}",
            settings.user_path.display()
        )),
        Some((_, kind)) if kind != "gemini-api-key" => {
            Avoided::Yes(format!("authentication is {kind:?}"))
        }
        Some(_) if setup.var("GEMINI_API_KEY").is_some() => {
            Avoided::Yes("GEMINI_API_KEY is set".into())
        }
        Some(_) => Avoided::No("set GEMINI_API_KEY in the role's env or yours".into()),
    }
}

fn requirements(setup: &Setup) -> Vec<Finding> {
    let mut findings = Vec::new();
    if setup.has_flag("--yolo")
        || setup.has_flag("-y")
        || setup.flag_value("--approval-mode") == Some("yolo")
    {
        findings.push(Finding::warn(
            "yolo mode approves every tool call, shell commands and web fetches included: use --approval-mode auto_edit",
        ));
    }
    findings.push(match setup.var("GOOGLE_GEMINI_BASE_URL") {
        Some(url) => Finding::ok(format!("model endpoint GOOGLE_GEMINI_BASE_URL={url}")),
        None => Finding::ok("model endpoint: Google's (GOOGLE_GEMINI_BASE_URL is not set)"),
    });
    match Settings::read(setup) {
        Err(why) => findings.push(Finding::fail(why)),
        Ok(settings) => {
            let updates = settings.get(&["general", "enableAutoUpdate"]).map(|(_, v)| v.clone());
            if updates != Some(Value::Bool(false)) {
                findings.push(Finding::warn(format!(
                    "it may update itself: set general.enableAutoUpdate = false in {}",
                    settings.user_path.display()
                )));
            }
        }
    }
    findings
}
