//! The workflow file as written: TOML with spans, so every mistake can name its line.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use devflow_core::{Code, Error};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWorkflow {
    pub name: Spanned<String>,
    pub description: Option<String>,
    /// Leave the run's agents running when it ends, for a person to look at.
    #[serde(default)]
    pub keep_agents: bool,
    /// A devflow on another host may take the run over with fresh agents when its own are out
    /// of reach, instead of stopping at the `agents_elsewhere` gate.
    #[serde(default)]
    pub agents_may_move: bool,
    /// How many phases may run at once (default 4).
    pub max_parallel: Option<Spanned<Number>>,
    pub roles: Spanned<BTreeMap<Spanned<String>, Spanned<FileRole>>>,
    pub phases: Spanned<Vec<Spanned<FilePhase>>>,
    /// devflow makes the run's git worktrees itself (`[worktree]`).
    pub worktree: Option<Spanned<FileWorktree>>,
    pub notify: Option<crate::notify::FileNotify>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRole {
    /// An argv list or one shell string; checked by hand for a clearer message.
    pub command: Spanned<toml::Value>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// What devflow knows of the agent CLI (`claude-code`, …); by default chosen by the program.
    pub preset: Option<Spanned<String>>,
    /// The preset's first-run dialogs devflow may answer (only those safe for a throwaway
    /// worktree).
    #[serde(default)]
    pub answer_dialogs: Vec<Spanned<String>>,
    /// One agent for all the role's phases (`shared`, the default), or one per phase.
    pub agent: Option<Spanned<AgentPerRole>>,
}

/// How many agents a role has: the values of `agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AgentPerRole {
    Shared,
    PerPhase,
}

/// `[worktree]`: the repository and base the run's worktrees are made from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWorktree {
    /// Relative to the workflow file's folder; `devflow run --repo` overrides it.
    pub repo: Option<Spanned<String>>,
    pub base: Option<Spanned<String>>,
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    pub setup: Option<Spanned<String>>,
}

/// A phase's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum FileKind {
    Agent,
    Merge,
}

/// A phase's `worktree`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum FilePhaseWorktree {
    Run,
    Own,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePhase {
    pub key: Spanned<String>,
    /// `merge`: no role; brings the branches of what it needs into the run's branch.
    pub kind: Option<Spanned<FileKind>>,
    /// `own`: the phase works in a worktree of its own, on a branch of its own.
    pub worktree: Option<Spanned<FilePhaseWorktree>>,
    /// Every phase but a merge has a role, an artifact and a schema (checked by hand).
    pub role: Option<Spanned<String>>,
    /// The phases that must complete before this one starts; by default the one before it.
    pub needs: Option<Spanned<Vec<Spanned<String>>>>,
    pub artifact: Option<Spanned<String>>,
    pub schema: Option<Spanned<String>>,
    pub instructions: Option<Spanned<String>>,
    pub instructions_file: Option<Spanned<String>>,
    pub approval_gate: Option<Spanned<String>>,
    pub wait: Option<FileWait>,
}

/// Each number with its place, for the bounds of `bounds.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWait {
    pub timeout_ms: Option<Spanned<Number>>,
    pub poll_ms: Option<Spanned<Number>>,
    pub stable_ms: Option<Spanned<Number>>,
    pub max_hung_ms: Option<Spanned<Number>>,
    pub max_artifact_bytes: Option<Spanned<Number>>,
}

/// A number as written, whatever its kind: `bounds.rs` says what is wrong with one that is not
/// a whole number in range, naming its key (serde's own message would not).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Number {
    Whole(u64),
    Negative(i64),
    Other(toml::Value),
}

/// Parses the TOML; a syntax error, an unknown key or a wrong type names its place.
pub(super) fn parse(path: &Path, text: &str) -> Result<FileWorkflow, Error> {
    toml::from_str(text).map_err(|error| {
        let mut message = error.message().trim().to_owned();
        // serde's words for an integer beyond 64 bits, which no key accepts.
        if let Some(number) = message.strip_prefix("invalid type: integer `")
            && let Some((number, _)) = number.split_once("` as i128")
        {
            message = format!("{number} is too large for any number of the workflow file");
        }
        let expected = if message.starts_with("unknown field") {
            "remove the key or fix its spelling (see README: the workflow file)"
        } else {
            "see README: the workflow file, for the keys and their types"
        };
        at(path, text, error.span(), Code::InvalidInput, message, expected)
    })
}

/// An error about the workflow file at `span`: `file:line:column: message`, hint `expected`.
pub(crate) fn at(
    path: &Path,
    text: &str,
    span: Option<Range<usize>>,
    code: Code,
    message: impl std::fmt::Display,
    expected: impl Into<String>,
) -> Error {
    let (line, column) = line_column(text, span.map_or(0, |span| span.start));
    Error::new(code, format!("{}:{line}:{column}: {message}", path.display())).with_hint(expected)
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("a\n", 99), (2, 1));
    }
}
