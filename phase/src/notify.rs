//! What tells a person that a run needs them: the topics that notify, which event is which,
//! and the `[notify]` settings of a workflow file or of the user's own file
//! (`$XDG_CONFIG_HOME/devflow/notify.toml`, else `~/.config/devflow/notify.toml`).
//!
//! The event module writes a notification into the outbox in the step of each event that has
//! a topic; a notifier (devflow-web) sends it to the sinks these settings name.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toml::Spanned;

use crate::event::{ApprovalRequested, kind};
use crate::workflow::file::at;

/// What a notification tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// A gate opened: a workflow approval gate, or a human gate.
    GateOpened,
    /// A human gate whose cause is an agent asking for input (a dialog on its screen).
    AgentNeedsInput,
    RunFailed,
    RunCompleted,
}

impl Topic {
    pub const ALL: [Topic; 4] =
        [Topic::GateOpened, Topic::AgentNeedsInput, Topic::RunFailed, Topic::RunCompleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::GateOpened => "gate_opened",
            Topic::AgentNeedsInput => "agent_needs_input",
            Topic::RunFailed => "run_failed",
            Topic::RunCompleted => "run_completed",
        }
    }

    pub fn parse(text: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| topic.as_str() == text)
    }

    /// The topic of an event of `kind` with `payload`, if it notifies. A gate's payload that is
    /// not an `approval.requested` one (which a step never writes) opens a plain gate.
    pub fn of_event(kind: &str, payload: &Value) -> Option<Topic> {
        match kind {
            kind::APPROVAL_REQUESTED => {
                let gate = ApprovalRequested::deserialize(payload).ok();
                let asks = gate.is_some_and(|gate| gate.gate_key == Code::AgentNeedsInput.as_str());
                Some(if asks { Topic::AgentNeedsInput } else { Topic::GateOpened })
            }
            kind::RUN_FAILED => Some(Topic::RunFailed),
            kind::RUN_COMPLETED => Some(Topic::RunCompleted),
            _ => None,
        }
    }
}

/// Where to tell a person, and about what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// A program and its arguments, run with the notification as JSON on its stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// An `http://` URL the notification is POSTed to as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// A desktop notification through `notify-send`, where it exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub desktop: bool,
    /// The topics to tell (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<Topic>>,
}

impl Notify {
    pub fn wants(&self, topic: Topic) -> bool {
        self.on.as_ref().is_none_or(|topics| topics.contains(&topic))
    }
}

/// `[notify]` as written, with the places of what is checked by hand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileNotify {
    pub command: Option<Spanned<Vec<String>>>,
    pub webhook: Option<Spanned<String>>,
    pub desktop: Option<bool>,
    pub on: Option<Vec<Spanned<String>>>,
}

/// Checks `[notify]` of the file at `path` whose text is `text`; each mistake names its line.
pub(crate) fn check(path: &Path, text: &str, file: FileNotify) -> Result<Notify, Error> {
    let wrong = |span: std::ops::Range<usize>, message: String, expected: &str| {
        at(path, text, Some(span), Code::InvalidInput, message, expected)
    };
    if let Some(command) = &file.command
        && command.get_ref().first().is_none_or(|program| program.trim().is_empty())
    {
        return Err(wrong(
            command.span(),
            "notify.command has no program".to_owned(),
            "command = [\"my-notifier\", \"--flag\"]: the notification comes on its stdin",
        ));
    }
    if let Some(webhook) = &file.webhook {
        check_webhook(webhook.get_ref())
            .map_err(|(message, expected)| wrong(webhook.span(), message, expected))?;
    }
    let mut on = None;
    if let Some(topics) = &file.on {
        let mut parsed = Vec::new();
        for topic in topics {
            let Some(known) = Topic::parse(topic.get_ref()) else {
                let names: Vec<&str> = Topic::ALL.iter().map(|topic| topic.as_str()).collect();
                return Err(wrong(
                    topic.span(),
                    format!("notify.on has an unknown topic {:?}", topic.get_ref()),
                    &format!("the topics are {}", names.join(", ")),
                ));
            };
            parsed.push(known);
        }
        on = Some(parsed);
    }
    Ok(Notify {
        command: file.command.map(Spanned::into_inner),
        webhook: file.webhook.map(Spanned::into_inner),
        desktop: file.desktop.unwrap_or(false),
        on,
    })
}

fn check_webhook(url: &str) -> Result<(), (String, &'static str)> {
    if url.starts_with("https://") {
        return Err((
            "notify.webhook over https is not supported".to_owned(),
            "use an http:// URL (a local relay), or a command hook: command = [\"curl\", \"-fsS\", \"-H\", \"content-type: application/json\", \"--data-binary\", \"@-\", \"https://...\"]",
        ));
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err((
            format!("notify.webhook {url:?} is not an http:// URL"),
            "webhook = \"http://127.0.0.1:8080/hook\"",
        ));
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((
            format!("notify.webhook {url:?} has no host, or has spaces"),
            "webhook = \"http://127.0.0.1:8080/hook\"",
        ));
    }
    Ok(())
}

/// The user's own notification settings: `$XDG_CONFIG_HOME/devflow/notify.toml`, else
/// `~/.config/devflow/notify.toml`.
pub fn user_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("devflow").join("notify.toml"))
}

/// Reads the user's file, if there is one: its keys are those of a workflow's `[notify]`.
pub fn load_user_file() -> Result<Option<Notify>, Error> {
    let Some(path) = user_file() else { return Ok(None) };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => {
            Err(Error::new(Code::InvalidInput, format!("cannot read {}: {error}", path.display()))
                .with_hint("make it readable, or remove it"))
        }
    }
}

/// Parses a notification settings file (the keys of `[notify]`, at the top level).
pub fn parse(path: &Path, text: &str) -> Result<Notify, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let file: FileNotify = toml::from_str(text).map_err(|error| {
        let message = error.message().trim().to_owned();
        let expected = "the keys are command, webhook, desktop and on (see README: notifications)";
        at(path, text, error.span(), Code::InvalidInput, message, expected)
    })?;
    check(path, text, file)
}

#[cfg(test)]
mod tests;
