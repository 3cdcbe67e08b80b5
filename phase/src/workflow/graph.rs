//! The graph of phases: what each phase needs before it starts. Checked at load (every name
//! exists, no cycle, prompts name only artifacts of phases they need) and asked by the driver
//! (which phases are ready now).
//!
//! A phase without `needs` needs the phase before it in the file, so a workflow written before
//! the graph means what it always meant: one chain. `needs = []` starts a phase at once.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use devflow_core::Error;
use toml::Spanned;

use super::check::Checker;
use super::file::FilePhase;
use super::{PhaseDef, Workflow};

/// How a prompt names the artifact of a phase it needs: `{{needs.plan.artifact}}` becomes the
/// absolute path of `plan`'s artifact in the worktree the phase runs in.
const REFERENCE_OPEN: &str = "{{needs.";
const REFERENCE_CLOSE: &str = "}}";
const REFERENCE_FIELD: &str = ".artifact";

/// The needs of each phase as written, or the phase before it when the file says nothing.
pub(super) fn needs_as_written(phases: &[Spanned<FilePhase>]) -> Vec<Vec<String>> {
    let mut previous: Option<&str> = None;
    phases
        .iter()
        .map(|phase| {
            let phase = phase.get_ref();
            let needs = match &phase.needs {
                Some(needs) => needs.get_ref().iter().map(|need| need.get_ref().clone()).collect(),
                None => previous.map(|key| vec![key.to_owned()]).unwrap_or_default(),
            };
            previous = Some(phase.key.get_ref().as_str());
            needs
        })
        .collect()
}

impl Checker<'_> {
    /// Every name in `needs` is a phase, named once, and no phase needs itself through others;
    /// every `{{needs.KEY.artifact}}` of a prompt names a phase it needs, directly or not.
    pub(super) fn graph(
        &self,
        file: &[Spanned<FilePhase>],
        phases: &[PhaseDef],
    ) -> Result<(), Error> {
        let index: BTreeMap<&str, usize> =
            phases.iter().enumerate().map(|(at, phase)| (phase.key.as_str(), at)).collect();
        for (phase, written) in phases.iter().zip(file) {
            let Some(needs) = &written.get_ref().needs else { continue };
            let mut seen = BTreeSet::new();
            for need in needs.get_ref() {
                let name = need.get_ref().as_str();
                if !index.contains_key(name) {
                    let known: Vec<&str> = index.keys().copied().collect();
                    let message =
                        format!("phase {:?} needs {name:?}, which is not a phase", phase.key);
                    return Err(self.error(
                        need,
                        message,
                        &format!("one of: {}", known.join(", ")),
                    ));
                }
                if !seen.insert(name) {
                    let message = format!("phase {:?} needs {name:?} twice", phase.key);
                    return Err(self.error(need, message, "name each phase once in needs"));
                }
            }
        }
        if let Some(cycle) = cycle(phases, &index) {
            let names: Vec<&str> =
                cycle.iter().chain(&cycle[..1]).map(|&at| phases[at].key.as_str()).collect();
            let message = format!(
                "phases {} need each other in a cycle, so none of them could start",
                names.join(" → ")
            );
            let hint =
                "remove one of these needs (a phase without `needs` needs the one before it)";
            // Where the cycle closes: the last phase's need of the first.
            let (last, first) = (&file[cycle[cycle.len() - 1]], phases[cycle[0]].key.as_str());
            return Err(match need_span(last, first) {
                Some(need) => self.error(need, message, hint),
                None => self.error(&last.get_ref().key, message, hint),
            });
        }
        for (at, (phase, written)) in phases.iter().zip(file).enumerate() {
            let ancestors = ancestors(phases, &index, at);
            for (_, key) in references(&phase.instructions) {
                if !ancestors.contains(key) {
                    let place = instructions_place(written);
                    let message = format!(
                        "phase {:?} names the artifact of {key:?} ({REFERENCE_OPEN}{key}{REFERENCE_FIELD}{REFERENCE_CLOSE}), which it does not need",
                        phase.key
                    );
                    let hint =
                        format!("add {key:?} to the phase's needs, or name a phase it needs");
                    return Err(self.error(place, message, &hint));
                }
            }
        }
        Ok(())
    }
}

/// The entry of `phase`'s `needs` that names `key`, if the file wrote one.
fn need_span<'f>(phase: &'f Spanned<FilePhase>, key: &str) -> Option<&'f Spanned<String>> {
    let needs = phase.get_ref().needs.as_ref()?;
    needs.get_ref().iter().find(|need| need.get_ref() == key)
}

/// Where a phase's prompt is given: its inline `instructions`, or `instructions_file`.
fn instructions_place(phase: &Spanned<FilePhase>) -> &Spanned<String> {
    let phase = phase.get_ref();
    phase.instructions.as_ref().or(phase.instructions_file.as_ref()).unwrap_or(&phase.key)
}

/// A cycle of needs, if there is one: phase indices, each needing the next, the last the first.
fn cycle(phases: &[PhaseDef], index: &BTreeMap<&str, usize>) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let needs = |at: usize| phases[at].needs.iter().map(|need| index[need.as_str()]);
    let mut marks = vec![Mark::New; phases.len()];
    for start in 0..phases.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Depth first, the path kept so that the cycle found can be named.
        let mut path: Vec<(usize, Vec<usize>)> = vec![(start, needs(start).collect())];
        marks[start] = Mark::OnPath;
        while let Some((at, pending)) = path.last_mut() {
            let at = *at;
            match pending.pop() {
                Some(next) if marks[next] == Mark::OnPath => {
                    let from = path.iter().position(|(on, _)| *on == next).expect("on the path");
                    return Some(path[from..].iter().map(|(on, _)| *on).collect());
                }
                Some(next) if marks[next] == Mark::New => {
                    marks[next] = Mark::OnPath;
                    path.push((next, needs(next).collect()));
                }
                Some(_) => {}
                None => {
                    marks[at] = Mark::Done;
                    path.pop();
                }
            }
        }
    }
    None
}

/// The keys of every phase that `at` needs, directly or through others.
fn ancestors<'p>(
    phases: &'p [PhaseDef],
    index: &BTreeMap<&str, usize>,
    at: usize,
) -> BTreeSet<&'p str> {
    let mut found = BTreeSet::new();
    let mut pending: Vec<usize> = vec![at];
    while let Some(at) = pending.pop() {
        for need in &phases[at].needs {
            if found.insert(need.as_str()) {
                pending.push(index[need.as_str()]);
            }
        }
    }
    found
}

/// Each `{{needs.KEY.artifact}}` in `text`: its byte range and KEY.
fn references(text: &str) -> impl Iterator<Item = (Range<usize>, &str)> {
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(open) = text[from..].find(REFERENCE_OPEN).map(|at| from + at) {
            let inner = open + REFERENCE_OPEN.len();
            let Some(close) = text[inner..].find(REFERENCE_CLOSE).map(|at| inner + at) else {
                from = inner;
                continue;
            };
            from = close + REFERENCE_CLOSE.len();
            if let Some(key) = text[inner..close].strip_suffix(REFERENCE_FIELD) {
                return Some((open..from, key));
            }
        }
        None
    })
}

impl Workflow {
    /// The phases that can start now: not `done` or `started`, everything they need `done`.
    /// In the file's order, so that what starts first does not depend on a map's order.
    pub fn ready<'w>(
        &'w self,
        done: &BTreeSet<&str>,
        started: &BTreeSet<&str>,
    ) -> Vec<&'w PhaseDef> {
        self.phases
            .iter()
            .filter(|phase| {
                !done.contains(phase.key.as_str()) && !started.contains(phase.key.as_str())
            })
            .filter(|phase| phase.needs.iter().all(|need| done.contains(need.as_str())))
            .collect()
    }

    /// `text` with each `{{needs.KEY.artifact}}` replaced by the absolute path of KEY's
    /// artifact in `worktree` (the loader let through only keys of phases that exist).
    pub fn render_needs(&self, text: &str, worktree: &Path) -> String {
        let mut rendered = String::with_capacity(text.len());
        let mut copied = 0;
        for (range, key) in references(text) {
            let Some(phase) = self.phase(key) else { continue };
            rendered.push_str(&text[copied..range.start]);
            rendered.push_str(&worktree.join(&phase.artifact).display().to_string());
            copied = range.end;
        }
        rendered.push_str(&text[copied..]);
        rendered
    }
}

#[cfg(test)]
mod tests;
