//! Checking a role of the workflow file: its command, and what devflow knows of its agent CLI —
//! a preset that exists, and only dialogs of that preset that are safe to answer.

use devflow_session::preset::{self, Preset};
use toml::Spanned;

use super::check::Checker;
use super::file::{AgentPerRole, FileRole};
use super::{Agents, Role, RoleCommand};
use devflow_core::Error;

const COMMAND: &str =
    "command = [\"program\", \"arg\"] (an argv list) or command = \"a shell line\"";

impl Checker<'_> {
    pub(super) fn role(
        &self,
        name: &Spanned<String>,
        role: &Spanned<FileRole>,
    ) -> Result<Role, Error> {
        let (file, name) = (role.get_ref(), name.get_ref());
        let command = self.command(name, &file.command)?;
        let preset = match &file.preset {
            None => preset::for_command(&command.to_agent_command()),
            Some(named) => preset::by_name(named.get_ref()).ok_or_else(|| {
                let known: Vec<&str> = preset::ALL.iter().map(|preset| preset.name).collect();
                let message = format!("role {name:?}: there is no preset {:?}", named.get_ref());
                self.error(named, message, &format!("one of: {}", known.join(", ")))
            })?,
        };
        for dialog in &file.answer_dialogs {
            self.answerable(name, preset, dialog)?;
        }
        let agent = match file.agent.as_ref().map(|agent| (agent, *agent.get_ref())) {
            Some((written, AgentPerRole::PerPhase)) if name.contains('/') => {
                let message =
                    format!("role {name:?} has an agent per phase, and its name holds a `/`");
                return Err(self.error(
                    written,
                    message,
                    "name the role without `/` (its agents are named role/phase)",
                ));
            }
            Some((_, AgentPerRole::PerPhase)) => Agents::PerPhase,
            Some((_, AgentPerRole::Shared)) | None => Agents::Shared,
        };
        Ok(Role {
            agent,
            command,
            env: file.env.clone(),
            preset: file.preset.as_ref().map(|named| named.get_ref().clone()),
            answer_dialogs: file.answer_dialogs.iter().map(|d| d.get_ref().clone()).collect(),
        })
    }

    fn command(&self, name: &str, command: &Spanned<toml::Value>) -> Result<RoleCommand, Error> {
        match command.get_ref() {
            toml::Value::String(line) if !line.trim().is_empty() => {
                Ok(RoleCommand::Shell(line.clone()))
            }
            toml::Value::Array(items) if !items.is_empty() => {
                let argv: Option<Vec<String>> =
                    items.iter().map(|item| item.as_str().map(str::to_owned)).collect();
                match argv {
                    Some(argv) if !argv[0].is_empty() => Ok(RoleCommand::Argv(argv)),
                    _ => Err(self.error(
                        command,
                        format!("role {name:?}: command must be a list of strings"),
                        COMMAND,
                    )),
                }
            }
            _ => Err(self.error(
                command,
                format!("role {name:?}: command is empty or not a list or string"),
                COMMAND,
            )),
        }
    }

    /// A dialog devflow may answer: one the preset knows, and safe for a throwaway worktree.
    fn answerable(
        &self,
        name: &str,
        preset: &Preset,
        dialog: &Spanned<String>,
    ) -> Result<(), Error> {
        let safe: Vec<&str> =
            preset.dialogs.iter().filter(|d| d.safe_to_answer).map(|d| d.name).collect();
        let known = preset.dialogs.iter().find(|d| d.name == dialog.get_ref());
        let what = match known {
            Some(known) if known.safe_to_answer => return Ok(()),
            Some(_) => "is not safe for devflow to answer",
            None => "is not one the preset knows",
        };
        let message = format!(
            "role {name:?}: dialog {:?} of preset {} {what}",
            dialog.get_ref(),
            preset.name
        );
        let expected = match safe.is_empty() {
            true => format!(
                "preset {} has no dialog devflow may answer; configure the CLI so that it shows none (`devflow doctor`)",
                preset.name
            ),
            false => format!("answer_dialogs may name: {}", safe.join(", ")),
        };
        Err(self.error(dialog, message, &expected))
    }
}
