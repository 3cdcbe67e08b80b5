//! Checking a parsed workflow file and resolving it: roles exist, keys and artifact paths are
//! unique, artifact paths stay inside the worktree, instructions and schemas load and compile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use devflow_core::{Code, Error, Schema};
use serde_json::Value;
use toml::Spanned;

use super::file::{FileKind, FilePhase, FileWorkflow, at};
use super::managed::phase_worktree;
use super::reserved::reserved;
use super::{Kind, PhaseDef, Role, Workflow, bounds};

/// Instructions files and schemas bigger than this are refused.
const INCLUDED_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// The byte order mark some editors put at the start of a UTF-8 file.
pub(super) const UTF8_BOM: &str = "\u{feff}";

pub(super) struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    /// The workflow file's folder: schemas and instructions files are relative to it.
    pub(super) base: PathBuf,
}

pub(super) fn resolve(path: &Path, text: &str, file: FileWorkflow) -> Result<Workflow, Error> {
    let base = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let checker = Checker { path, text, base };
    checker.workflow(file)
}

impl Checker<'_> {
    pub(super) fn error<T>(
        &self,
        spanned: &Spanned<T>,
        message: impl std::fmt::Display,
        expected: &str,
    ) -> Error {
        at(self.path, self.text, Some(spanned.span()), Code::InvalidInput, message, expected)
    }

    fn workflow(&self, file: FileWorkflow) -> Result<Workflow, Error> {
        if file.name.get_ref().trim().is_empty() {
            return Err(self.error(&file.name, "the workflow name is empty", "name = \"feature\""));
        }
        let mut roles = BTreeMap::new();
        for (name, role) in file.roles.get_ref() {
            roles.insert(name.get_ref().clone(), self.role(name, role)?);
        }
        if file.phases.get_ref().is_empty() {
            return Err(self.error(
                &file.phases,
                "the workflow has no phases",
                "at least one [[phases]] table with key, role, artifact, schema and instructions",
            ));
        }
        let mut keys = BTreeSet::new();
        let mut artifacts = BTreeMap::new();
        let mut phases = Vec::new();
        let needs = super::graph::needs_as_written(file.phases.get_ref());
        for (phase, needs) in file.phases.get_ref().iter().zip(needs) {
            let resolved = self.phase(phase, needs, &roles)?;
            if !keys.insert(resolved.key.clone()) {
                return Err(self.error(
                    &phase.get_ref().key,
                    format!("duplicate phase key {:?}", resolved.key),
                    "give every phase its own key",
                ));
            }
            if let Some(written) = &phase.get_ref().artifact
                && let Some(other) =
                    artifacts.insert(resolved.artifact.clone(), resolved.key.clone())
            {
                return Err(self.error(
                    written,
                    format!(
                        "phase {:?} writes the same artifact path as phase {other:?}",
                        resolved.key
                    ),
                    "give every phase its own artifact path",
                ));
            }
            phases.push(resolved);
        }
        self.graph(file.phases.get_ref(), &phases)?;
        let max_parallel = match &file.max_parallel {
            Some(value) => bounds::max_parallel(value, &|value, message, hint| {
                self.error(value, message, &hint)
            })?,
            None => super::DEFAULT_MAX_PARALLEL,
        };
        let worktree = file.worktree.as_ref().map(|table| self.managed(table)).transpose()?;
        let notify = file
            .notify
            .map(|notify| crate::notify::check(self.path, self.text, notify))
            .transpose()?;
        Ok(Workflow {
            name: file.name.into_inner(),
            description: file.description,
            source: self.path.display().to_string(),
            keep_agents: file.keep_agents,
            agents_may_move: file.agents_may_move,
            max_parallel,
            roles,
            phases,
            worktree,
            notify,
        })
    }

    fn phase(
        &self,
        phase: &Spanned<FilePhase>,
        needs: Vec<String>,
        roles: &BTreeMap<String, Role>,
    ) -> Result<PhaseDef, Error> {
        let file = phase.get_ref();
        let key = file.key.get_ref().trim();
        if key.is_empty() {
            return Err(self.error(&file.key, "the phase key is empty", "key = \"plan\""));
        }
        if file.kind.as_ref().is_some_and(|kind| *kind.get_ref() == FileKind::Merge) {
            return self.merge_phase(phase, key, needs);
        }
        let required = |value: &Option<Spanned<String>>, name: &str, example: &str| {
            value.clone().ok_or_else(|| {
                let message = format!("phase {key:?} has no {name}");
                self.error(
                    &file.key,
                    message,
                    &format!("{name} = {example} (only a kind = \"merge\" phase has none)"),
                )
            })
        };
        let role = required(&file.role, "role", "\"planner\"")?;
        if !roles.contains_key(role.get_ref()) {
            let known: Vec<&str> = roles.keys().map(String::as_str).collect();
            return Err(self.error(
                &role,
                format!("phase {key:?} names role {:?}, which does not exist", role.get_ref()),
                &format!("one of the roles defined under [roles]: {}", known.join(", ")),
            ));
        }
        let artifact =
            self.artifact(&required(&file.artifact, "artifact", "\"artifacts/plan.json\"")?)?;
        let (schema_id, schema) =
            self.schema(&required(&file.schema, "schema", "\"schemas/plan.schema.json\"")?)?;
        let instructions = self.instructions(phase)?;
        if let Some(gate) = &file.approval_gate
            && gate.get_ref().trim().is_empty()
        {
            return Err(self.error(
                gate,
                "the approval gate name is empty",
                "approval_gate = \"plan_review\"",
            ));
        }
        Ok(PhaseDef {
            key: key.to_owned(),
            kind: Kind::Agent,
            worktree: phase_worktree(file),
            role: role.into_inner(),
            needs,
            artifact,
            schema_id,
            schema,
            instructions,
            approval_gate: file.approval_gate.as_ref().map(|gate| gate.get_ref().trim().to_owned()),
            wait: bounds::wait(file.wait.as_ref(), &|value, message, hint| {
                self.error(value, message, &hint)
            })?,
        })
    }

    /// A relative path without `..`, normalized (`./a//b` is `a/b`).
    fn artifact(&self, artifact: &Spanned<String>) -> Result<String, Error> {
        let expected = "a path relative to the worktree, without `..`, e.g. artifacts/plan.json";
        let path = Path::new(artifact.get_ref());
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    let message =
                        format!("artifact path {:?} escapes the worktree", artifact.get_ref());
                    return Err(at(
                        self.path,
                        self.text,
                        Some(artifact.span()),
                        Code::ArtifactOutsideWorktree,
                        message,
                        expected,
                    ));
                }
            }
        }
        if parts.is_empty() {
            return Err(self.error(artifact, "the artifact path is empty", expected));
        }
        if let Some(why) = reserved(&parts) {
            let message = format!("artifact path {:?} {why}", artifact.get_ref());
            let hint = "give the artifact a path of its own, e.g. artifacts/plan.json";
            return Err(self.error(artifact, message, hint));
        }
        Ok(parts.join("/"))
    }

    fn schema(&self, schema: &Spanned<String>) -> Result<(String, Value), Error> {
        let id = schema.get_ref().clone();
        let file = self.base.join(&id);
        let text =
            self.included(schema, &file, "a JSON Schema file, relative to the workflow file")?;
        let value: Value = serde_json::from_str(&text).map_err(|error| {
            Error::new(
                Code::SchemaInvalid,
                format!(
                    "{}:{}:{}: the schema is not JSON: {error} (named at {})",
                    file.display(),
                    error.line(),
                    error.column(),
                    self.place(schema)
                ),
            )
            .with_hint("a JSON Schema document")
        })?;
        Schema::compile(&id, &value).map_err(|error| {
            let hint = error.recovery_hint().unwrap_or("fix the schema").to_owned();
            Error::new(
                Code::SchemaInvalid,
                format!("{}: {} (file {})", self.place(schema), error.message(), file.display()),
            )
            .with_hint(hint)
        })?;
        Ok((id, value))
    }

    fn instructions(&self, phase: &Spanned<FilePhase>) -> Result<String, Error> {
        let file = phase.get_ref();
        let expected =
            "instructions = \"...\" or instructions_file = \"prompts/plan.md\" (one of them)";
        match (&file.instructions, &file.instructions_file) {
            (Some(text), None) => Ok(text.get_ref().clone()),
            (None, Some(name)) => self.included(
                name,
                &self.base.join(name.get_ref()),
                "an instructions file, relative to the workflow file",
            ),
            (Some(_), Some(name)) => {
                Err(self.error(name, "both instructions and instructions_file are set", expected))
            }
            (None, None) => Err(self.error(&file.key, "the phase has no instructions", expected)),
        }
    }

    /// Reads a file the workflow names: a regular file of at most 1 MiB in UTF-8, a leading byte
    /// order mark dropped (editors on Windows write one). Anything else is an error at its name.
    fn included(
        &self,
        name: &Spanned<String>,
        file: &Path,
        expected: &str,
    ) -> Result<String, Error> {
        let refuse = |message: String| self.error(name, message, expected);
        let cannot_read =
            |error: std::io::Error| refuse(format!("cannot read {}: {error}", file.display()));
        let meta = std::fs::metadata(file).map_err(cannot_read)?;
        if !meta.is_file() {
            return Err(refuse(format!("{} is not a regular file", file.display())));
        }
        if meta.len() > INCLUDED_FILE_BYTES_MAX {
            return Err(refuse(format!("{} is bigger than 1 MiB", file.display())));
        }
        let bytes = std::fs::read(file).map_err(cannot_read)?;
        let text = bytes.strip_prefix(UTF8_BOM.as_bytes()).unwrap_or(&bytes);
        String::from_utf8(text.to_vec()).map_err(|error| {
            let at = error.utf8_error().valid_up_to();
            refuse(format!("{} is not UTF-8 text (at byte {at}): save it as UTF-8", file.display()))
        })
    }

    /// `file:line:column` of a spanned value.
    fn place<T>(&self, spanned: &Spanned<T>) -> String {
        let (line, column) = super::file::line_column(self.text, spanned.span().start);
        format!("{}:{line}:{column}", self.path.display())
    }
}
