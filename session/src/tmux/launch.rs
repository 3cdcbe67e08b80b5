//! How a role's agent is launched: tmux names, the argv, the environment, the preset, and the
//! launch record — kept in the pane option `@devflow_spec` and, because a pane option dies with
//! its pane, as a file in devflow's tmux state folder — so that a new adapter can start the
//! agent again.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error, Result};
use serde::{Deserialize, Serialize};

use crate::SessionSpec;
use crate::preset::{self, Preset};

/// Pane option holding the session id the pane was started for.
pub(super) const SESSION_ID_OPTION: &str = "@devflow_session_id";
/// The environment entry that names the tmux server an agent runs under.
pub(super) const SOCKET_ENV: &str = "DEVFLOW_TMUX_SOCKET";
/// Pane option holding the [`Launch`] record as JSON.
pub(super) const LAUNCH_OPTION: &str = "@devflow_spec";

/// Everything needed to start (or restart) the agent of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Launch {
    pub session_id: String,
    pub run_id: String,
    pub role_id: String,
    pub cwd: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The preset's name, resolved at start (records of older devflows have none: generic).
    #[serde(default)]
    pub preset: String,
    /// The dialogs the workflow lets devflow answer.
    #[serde(default)]
    pub answer_dialogs: Vec<String>,
}

impl Launch {
    pub fn from_spec(spec: &SessionSpec) -> Result<Launch> {
        let argv = argv_for_tmux(spec.command.to_argv());
        if argv.is_empty() {
            return Err(Error::new(
                Code::InvalidInput,
                format!("role {} has an empty command", spec.role_id),
            ));
        }
        let preset = match &spec.preset {
            None => preset::for_command(&spec.command),
            Some(name) => preset::by_name(name).ok_or_else(|| {
                let known: Vec<&str> = preset::ALL.iter().map(|p| p.name).collect();
                Error::new(
                    Code::InvalidInput,
                    format!(
                        "role {} names the preset {name:?}, which devflow does not know",
                        spec.role_id
                    ),
                )
                .with_hint(format!("use one of: {}", known.join(", ")))
            })?,
        };
        let mut env = spec.env.clone();
        env.push(("DEVFLOW_SESSION_ID".into(), spec.session_id.clone()));
        env.push(("DEVFLOW_RUN_ID".into(), spec.run_id.clone()));
        env.push(("DEVFLOW_ROLE_ID".into(), spec.role_id.clone()));
        Ok(Launch {
            session_id: spec.session_id.clone(),
            run_id: spec.run_id.clone(),
            role_id: spec.role_id.clone(),
            cwd: spec.cwd.clone(),
            argv,
            env,
            preset: preset.name.to_owned(),
            answer_dialogs: spec.answer_dialogs.clone(),
        })
    }

    /// The preset of the role (generic for a record that names none or one unknown now).
    pub fn preset(&self) -> &'static Preset {
        preset::by_name(&self.preset).unwrap_or(preset::GENERIC)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a launch record always serializes")
    }

    pub fn from_json(text: &str) -> Result<Launch> {
        serde_json::from_str(text.trim()).map_err(|e| {
            Error::corruption(format!("pane option {LAUNCH_OPTION} is not a launch record: {e}"))
        })
    }

    /// `-c <cwd> -e K=V …` for new-session, new-window and respawn-pane; the environment names
    /// devflow's tmux server too (`DEVFLOW_TMUX_SOCKET`), so that the processes of this
    /// server's agents are told from those of another worktree's (see `procs`).
    pub fn placement_args(&self, socket: &Path) -> Vec<String> {
        let mut args = vec!["-c".to_owned(), self.cwd.to_string_lossy().into_owned()];
        let server = (SOCKET_ENV.to_owned(), socket.to_string_lossy().into_owned());
        for (key, value) in self.env.iter().chain([&server]) {
            args.push("-e".to_owned());
            args.push(format!("{key}={value}"));
        }
        args
    }
}

/// tmux runs a single argument through the shell and several arguments directly; a one-word
/// argv must not be split or globbed, so it goes through `sh -c 'exec "$0"'`.
fn argv_for_tmux(argv: Vec<String>) -> Vec<String> {
    match argv.as_slice() {
        [only] => vec!["sh".into(), "-c".into(), "exec \"$0\"".into(), only.clone()],
        _ => argv,
    }
}

/// The tmux session of a run: `devflow-<run id>`, with what tmux does not allow in names replaced.
pub(super) fn session_name(run_id: &str) -> String {
    format!("devflow-{}", tmux_safe(run_id))
}

/// A window name for a role.
pub(super) fn window_name(role_id: &str) -> String {
    tmux_safe(role_id)
}

fn tmux_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_tmux_safe() {
        assert_eq!(session_name("run.1:x"), "devflow-run_1_x");
        assert_eq!(window_name("plan ner"), "plan_ner");
    }

    #[test]
    fn a_single_word_command_is_not_given_to_the_shell_to_split() {
        assert_eq!(
            argv_for_tmux(vec!["/a b/agent".into()]),
            ["sh", "-c", "exec \"$0\"", "/a b/agent"]
        );
        assert_eq!(argv_for_tmux(vec!["agent".into(), "-v".into()]), ["agent", "-v"]);
    }
}
