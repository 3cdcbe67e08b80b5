//! The scenario vocabulary shared by the fake adapter and agent-sim: parsing the directive lines
//! of a prompt's [`directions`] into a [`Script`]. The vocabulary itself is documented in the
//! crate docs.

mod artifact;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

pub use artifact::{SLOW_CHUNKS, slow_chunks, write_atomic};

use crate::SCHEMA_INTRO;

/// What an agent does with a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Writes the valid artifact (the first ```` ```json ```` block, or `{}`).
    Ok,
    /// Writes an artifact that violates the schema.
    Invalid,
    /// Writes text that is not JSON.
    Malformed,
    /// Writes nothing, stays alive and keeps producing output.
    None,
    /// Writes nothing and goes silent: alive, last output far in the past.
    Hang,
    /// Writes nothing and dies.
    Crash,
    /// Writes the valid artifact in several chunks over `Slow-Ms`.
    Slow,
}

impl Scenario {
    pub const ALL: &'static [Scenario] = &[
        Scenario::Ok,
        Scenario::Invalid,
        Scenario::Malformed,
        Scenario::None,
        Scenario::Hang,
        Scenario::Crash,
        Scenario::Slow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Ok => "ok",
            Scenario::Invalid => "invalid",
            Scenario::Malformed => "malformed",
            Scenario::None => "none",
            Scenario::Hang => "hang",
            Scenario::Crash => "crash",
            Scenario::Slow => "slow",
        }
    }

    /// Case-insensitive; `None` for a name that is not in the vocabulary.
    pub fn parse(name: &str) -> Option<Scenario> {
        let name = name.trim();
        Scenario::ALL.iter().copied().find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

/// An adapter operation a `Fail-…:` line can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Start,
    Send,
    Resume,
    Rebootstrap,
    Probe,
}

impl Operation {
    pub const ALL: &'static [Operation] = &[
        Operation::Start,
        Operation::Send,
        Operation::Resume,
        Operation::Rebootstrap,
        Operation::Probe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Start => "start",
            Operation::Send => "send",
            Operation::Resume => "resume",
            Operation::Rebootstrap => "rebootstrap",
            Operation::Probe => "probe",
        }
    }

    /// The directive key (before the colon) that scripts this operation's failures.
    fn directive(self) -> &'static str {
        match self {
            Operation::Start => "Fail-Start",
            Operation::Send => "Fail-Send",
            Operation::Resume => "Fail-Resume",
            Operation::Rebootstrap => "Fail-Rebootstrap",
            Operation::Probe => "Fail-Probe",
        }
    }
}

/// A scripted failure of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Fails this many times (per session and operation) with a recoverable error, then succeeds.
    Recoverable(u32),
    /// Always fails with a fatal error.
    Fatal,
    /// Send only: the first send of each prompt pastes it and never submits it ("pasted, not
    /// submitted"): `prompt_delivery_unverified`, and `locate_prompt` finds it pending.
    Unverified,
    /// Send only: the first send of each prompt pastes it and cannot tell what came of it:
    /// `prompt_delivery_unverified`, and `locate_prompt` answers unknown.
    Unknowable,
    /// Send only: the agent shows a first-run dialog the first N sends (per session): each is
    /// `agent_needs_input`, and nothing is pasted.
    NeedsInput(u32),
}

impl Failure {
    /// `recoverable N` (N defaults to 1), `fatal`, `unverified`, `unknowable` or
    /// `needs-input N` (N defaults to 1).
    fn parse(text: &str) -> Option<Failure> {
        let mut words = text.split_whitespace();
        match words.next()?.to_ascii_lowercase().as_str() {
            "fatal" => Some(Failure::Fatal),
            "unverified" => Some(Failure::Unverified),
            "unknowable" => Some(Failure::Unknowable),
            "needs-input" => match words.next() {
                None => Some(Failure::NeedsInput(1)),
                Some(count) => count.parse().ok().map(Failure::NeedsInput),
            },
            "recoverable" => match words.next() {
                None => Some(Failure::Recoverable(1)),
                Some(count) => count.parse().ok().map(Failure::Recoverable),
            },
            _ => None,
        }
    }
}

/// Everything the directive lines of one prompt (or set of instructions) ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub scenario: Scenario,
    pub repair: Option<Scenario>,
    /// The first ```` ```json ```` block, parsed; `None` when absent or not JSON.
    pub valid_artifact: Option<serde_json::Value>,
    /// The first ```` ```json ```` block as written; this is what ok and slow write.
    pub valid_artifact_text: Option<String>,
    /// The first ```` ```json invalid ```` block as written; this is what invalid writes.
    pub invalid_artifact_text: Option<String>,
    pub failures: BTreeMap<Operation, Failure>,
    /// `Probe: readiness-unknown`: the fake's probe answers with the liveness-only hint.
    pub readiness_unknown: bool,
    /// `Slow-Ms: N`: how long slow takes to write its artifact.
    pub slow_ms: u64,
}

/// What slow takes when no `Slow-Ms:` line says otherwise.
pub const SLOW_MS_DEFAULT: u64 = 300;

impl Default for Script {
    fn default() -> Script {
        Script {
            scenario: Scenario::Ok,
            repair: None,
            valid_artifact: None,
            valid_artifact_text: None,
            invalid_artifact_text: None,
            failures: BTreeMap::new(),
            readiness_unknown: false,
            slow_ms: SLOW_MS_DEFAULT,
        }
    }
}

impl Script {
    pub fn failure(&self, op: Operation) -> Option<Failure> {
        self.failures.get(&op).copied()
    }

    /// The bytes the scenario writes as its artifact; `None` for the scenarios that write nothing.
    pub fn artifact_bytes(&self) -> Option<Vec<u8>> {
        artifact::bytes_for(self)
    }
}

/// Reads the directive lines and artifact blocks of `text`'s [`directions`]. The first line of
/// each kind wins; lines inside fenced code blocks are not directives; names outside the
/// vocabulary are ignored. A repair prompt (`crate::prompt::is_repair`: devflow repeats the
/// instructions unchanged after its repair line) plays the `Repair-Scenario:`, `ok` when there
/// is none: the doubles tell a repair themselves, so devflow never rewrites their lines.
pub fn parse(text: &str) -> Script {
    let mut script = Script::default();
    let mut scenario = None;
    let mut slow_ms = None;
    let mut fence: Option<(String, Vec<&str>)> = None;
    for line in directions(text).lines() {
        let trimmed = line.trim();
        if let Some((info, body)) = &mut fence {
            if trimmed == "```" {
                let block = body.join("\n");
                match info.as_str() {
                    "json" if script.valid_artifact_text.is_none() => {
                        script.valid_artifact = serde_json::from_str(&block).ok();
                        script.valid_artifact_text = Some(block);
                    }
                    "json invalid" if script.invalid_artifact_text.is_none() => {
                        script.invalid_artifact_text = Some(block);
                    }
                    _ => {}
                }
                fence = None;
            } else {
                body.push(line);
            }
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            fence = Some((info.trim().to_owned(), Vec::new()));
            continue;
        }
        directive(trimmed, &mut script, &mut scenario, &mut slow_ms);
    }
    script.scenario = match crate::prompt::is_repair(text) {
        true => script.repair.unwrap_or(Scenario::Ok),
        false => scenario.unwrap_or(Scenario::Ok),
    };
    script.slow_ms = slow_ms.unwrap_or(SLOW_MS_DEFAULT);
    script
}

/// The part of a prompt the doubles take their directions from: the workflow's own
/// instructions — everything before the first line that opens with [`SCHEMA_INTRO`], the
/// paragraph in which devflow's runner gives the schema (in a ```` ```json ```` block) and after
/// which come a reviewer's note or a repair's problems; all of `text` when no line does. So
/// the runner's prompt is ordinary text that knows nothing of the doubles, and nothing it adds
/// — nor anything an agent wrote that a repair quotes — is read as a direction.
pub fn directions(text: &str) -> &str {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(SCHEMA_INTRO) {
            return &text[..at];
        }
        at += line.len();
    }
    text
}

fn directive(
    line: &str,
    script: &mut Script,
    scenario: &mut Option<Scenario>,
    slow_ms: &mut Option<u64>,
) {
    let Some((key, value)) = line.split_once(':') else {
        return;
    };
    let value = value.trim();
    match key {
        "Scenario" if scenario.is_none() => *scenario = Scenario::parse(value),
        "Repair-Scenario" if script.repair.is_none() => script.repair = Scenario::parse(value),
        "Probe" if value.eq_ignore_ascii_case("readiness-unknown") => {
            script.readiness_unknown = true
        }
        "Slow-Ms" if slow_ms.is_none() => *slow_ms = value.parse().ok(),
        _ => {
            let Some(op) = Operation::ALL.iter().copied().find(|op| op.directive() == key) else {
                return;
            };
            if let (Entry::Vacant(slot), Some(failure)) =
                (script.failures.entry(op), Failure::parse(value))
            {
                slot.insert(failure);
            }
        }
    }
}

#[cfg(test)]
mod tests;
