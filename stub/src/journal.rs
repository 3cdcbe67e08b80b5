//! The model's memory: the ground-truth log of prompts, the per-artifact step counters, and what
//! was decided for each prompt so that its tool-result turns carry on with the same plan.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::script::{Directions, marker};

/// Claude Code's refusal to overwrite a file it has not read in this conversation.
const NOT_READ_YET: &str = "has not been read yet";
/// Most tool calls the model makes for one prompt before it answers with text.
const CALLS_MAX: usize = 4;

/// Where a request stands, as its API module reads it from the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// The last message is the user's text: a prompt.
    Prompt(PromptAt),
    /// The last message holds tool results; `calls` are the model's tool calls since the prompt.
    AfterTools { prompt: PromptAt, calls: Vec<Call> },
}

/// A user prompt and where it sits in its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromptAt {
    pub text: String,
    /// User prompts before this one in the request.
    pub ordinal: usize,
    /// The CLI's session id, where its requests carry one.
    pub conversation: Option<String>,
}

/// One tool call of the model since the prompt, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub kind: CallKind,
    pub failed: bool,
    pub output: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Write,
    Read,
    Other,
}

/// What the model answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Write { path: String, content: String },
    Read { path: String },
    Say(String),
}

/// What was decided for one prompt.
#[derive(Debug, Clone)]
struct Plan {
    path: Option<String>,
    content: Option<String>,
    /// A script error to tell the user instead of acting.
    error: Option<String>,
}

type PlanKey = (&'static str, PromptAt);

#[derive(Debug, Default)]
struct Memory {
    plans: HashMap<PlanKey, Plan>,
    /// Prompts seen per artifact path, across APIs and conversations.
    prompts_per_path: HashMap<String, usize>,
    /// The first directions seen for each path, for prompts that repeat none of them.
    directions: HashMap<String, Directions>,
}

/// The stub's state; one per server.
#[derive(Debug)]
pub struct Journal {
    log: Option<Mutex<std::fs::File>>,
    memory: Mutex<Memory>,
}

impl Journal {
    /// Appends to `log` (created if missing); panics if it cannot be opened, at start-up.
    pub fn new(log: Option<PathBuf>) -> Journal {
        let log = log.map(|path| {
            let file =
                std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap_or_else(
                    |error| panic!("cannot open the log {}: {error}", path.display()),
                );
            Mutex::new(file)
        });
        Journal { log, memory: Mutex::default() }
    }

    /// The model's answer to `turn` on `api`; a new prompt is logged and advances its path's count.
    pub fn answer(&self, api: &'static str, turn: Turn) -> Action {
        match turn {
            Turn::Prompt(prompt) => {
                let plan = self.plan(api, prompt);
                first_action(&plan)
            }
            Turn::AfterTools { prompt, calls } => {
                let plan = self.recall(api, prompt);
                next_action(&plan, &calls)
            }
        }
    }

    /// The plan for a prompt: decided and logged once, recalled on a client's retry.
    fn plan(&self, api: &'static str, prompt: PromptAt) -> Plan {
        let mut memory = self.memory.lock().unwrap();
        let key = (api, prompt);
        // Without a conversation id a repeat cannot be told from a second delivery: log both.
        if key.1.conversation.is_some()
            && let Some(plan) = memory.plans.get(&key)
        {
            return plan.clone();
        }
        let plan = decide(&mut memory, &key.1.text, true);
        self.log_prompt(api, &key.1, plan.path.as_deref());
        memory.plans.insert(key, plan.clone());
        plan
    }

    /// The plan of an earlier prompt (decided again, without counting, if the stub never saw it).
    fn recall(&self, api: &'static str, prompt: PromptAt) -> Plan {
        let mut memory = self.memory.lock().unwrap();
        let key = (api, prompt);
        match memory.plans.get(&key) {
            Some(plan) => plan.clone(),
            None => decide(&mut memory, &key.1.text, false),
        }
    }

    fn log_prompt(&self, api: &str, prompt: &PromptAt, artifact: Option<&str>) {
        let Some(log) = &self.log else { return };
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let line = json!({
            "at_ms": at_ms as u64,
            "api": api,
            "prompt": prompt.text,
            "marker": marker(&prompt.text),
            "artifact": artifact,
            "conversation": prompt.conversation,
            "ordinal": prompt.ordinal,
        });
        let mut file = log.lock().unwrap();
        // One write per line: readers never see half a line.
        let _ = file.write_all(format!("{line}\n").as_bytes());
        let _ = file.flush();
    }
}

/// Reads the prompt's directions and picks its step; `count` advances the path's counter.
fn decide(memory: &mut Memory, text: &str, count: bool) -> Plan {
    let own = match Directions::parse(text) {
        Ok(directions) => directions,
        Err(error) => return Plan { path: None, content: None, error: Some(error) },
    };
    let Some(path) = own.artifact.clone() else {
        return Plan { path: None, content: None, error: None };
    };
    let has_own = own.valid.is_some() || !own.steps.is_empty();
    let remembered = memory.directions.entry(path.clone()).or_insert_with(|| own.clone());
    let directions = if has_own { own } else { remembered.clone() };
    let seen = memory.prompts_per_path.entry(path.clone()).or_default();
    let nth = if count { *seen } else { seen.saturating_sub(1) };
    if count {
        *seen += 1;
    }
    let content = directions.content(directions.step(nth));
    Plan { path: Some(path), content, error: None }
}

fn first_action(plan: &Plan) -> Action {
    match (plan, &plan.path, &plan.content) {
        (Plan { error: Some(error), .. }, _, _) => {
            Action::Say(format!("devflow-model-stub: {error}"))
        }
        (_, Some(path), Some(content)) => {
            Action::Write { path: path.clone(), content: content.clone() }
        }
        (_, Some(path), None) => Action::Say(format!("I wrote nothing to {path}, as scripted.")),
        (_, None, _) => Action::Say("There is no `Artifact:` line in the prompt.".to_owned()),
    }
}

/// After the tool results: done once the write went through; a write refused because the file
/// was not read first (Claude Code's rule) reads it and writes again.
fn next_action(plan: &Plan, calls: &[Call]) -> Action {
    let (Some(path), Some(content)) = (&plan.path, &plan.content) else {
        return first_action(plan);
    };
    let done = Action::Say(format!("Done: I wrote {path}."));
    let Some(last) = calls.last() else { return first_action(plan) };
    if calls.len() >= CALLS_MAX {
        return Action::Say(format!("I could not write {path}: {}", last.output));
    }
    let write = Action::Write { path: path.clone(), content: content.clone() };
    match last.kind {
        CallKind::Write if !last.failed => done,
        CallKind::Write if last.output.contains(NOT_READ_YET) => {
            Action::Read { path: path.clone() }
        }
        CallKind::Read => write,
        _ if last.failed => Action::Say(format!("The tool failed: {}", last.output)),
        _ => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(text: &str, ordinal: usize, conversation: Option<&str>) -> Turn {
        Turn::Prompt(PromptAt {
            text: text.to_owned(),
            ordinal,
            conversation: conversation.map(str::to_owned),
        })
    }

    const TEXT: &str = "Model-Script: invalid, ok\n```json\n{}\n```\nArtifact: /w/a.json";

    #[test]
    fn counts_prompts_per_path_and_logs_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let journal = Journal::new(Some(log.clone()));
        let first = journal.answer("chat", prompt(TEXT, 0, Some("c1")));
        assert!(matches!(&first, Action::Write { content, .. } if content.contains("invalid")));
        // The client repeating its request is the same prompt: neither logged nor counted again.
        assert_eq!(journal.answer("chat", prompt(TEXT, 0, Some("c1"))), first);
        let second = journal.answer("chat", prompt("Repair.\nArtifact: /w/a.json", 1, Some("c1")));
        assert_eq!(second, Action::Write { path: "/w/a.json".into(), content: "{}\n".into() });
        let lines = std::fs::read_to_string(&log).unwrap();
        assert_eq!(lines.lines().count(), 2, "{lines}");
    }

    #[test]
    fn a_refused_write_reads_then_writes_then_says_done() {
        let journal = Journal::new(None);
        let at = PromptAt { text: TEXT.into(), ordinal: 0, conversation: None };
        journal.answer("messages", Turn::Prompt(at.clone()));
        let refused = Call {
            kind: CallKind::Write,
            failed: true,
            output: "File has not been read yet. Read it first before writing to it.".into(),
        };
        let read = Call { kind: CallKind::Read, failed: false, output: "{}".into() };
        let wrote = Call { kind: CallKind::Write, failed: false, output: "ok".into() };
        let after = |calls: Vec<Call>| {
            journal.answer("messages", Turn::AfterTools { prompt: at.clone(), calls })
        };
        assert_eq!(after(vec![refused.clone()]), Action::Read { path: "/w/a.json".into() });
        assert!(matches!(after(vec![refused.clone(), read.clone()]), Action::Write { .. }));
        assert!(
            matches!(after(vec![refused, read, wrote]), Action::Say(text) if text.contains("Done"))
        );
    }
}
