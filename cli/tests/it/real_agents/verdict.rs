//! What a real-agent test checks and shows: the model saw every recorded prompt once and no
//! other, and — when it did not — devflow's output, its events, the model's log and each
//! agent's screen.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::world::AgentWorld;
use crate::support::Run;

impl AgentWorld {
    /// Every prompt event devflow recorded reached the model once, and the model saw no other:
    /// matched by marker, and counted per artifact path for each phase.
    pub fn assert_model_saw_each_recorded_prompt_once(&self, run_id: &str, report: &str) {
        let events = self.events(run_id);
        let received = self.received();
        let prompts: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "prompt.sent" || e["type"] == "prompt.repaired")
            .collect();
        let cli = self.cli;
        assert_eq!(prompts.len(), received.len(), "{cli:?}: recorded vs received\n{report}");
        for prompt in &prompts {
            if let Some(marker) = prompt["payload"]["marker"].as_str() {
                let seen = received.iter().filter(|r| r["marker"] == marker).count();
                assert_eq!(seen, 1, "{cli:?}: {marker} reached the model {seen} times\n{report}");
            }
        }
        let mut keys: Vec<&str> = prompts.iter().filter_map(|e| e["phase_key"].as_str()).collect();
        keys.dedup();
        for key in keys {
            let path = format!("{}/out/{key}.json", self.worktree().display());
            let recorded = prompts.iter().filter(|e| e["phase_key"] == key).count();
            let seen = received.iter().filter(|r| r["artifact"] == path.as_str()).count();
            assert_eq!(
                recorded, seen,
                "{cli:?} phase {key}: recorded {recorded}, the model saw {seen}\n{report}"
            );
        }
    }

    /// What to read when a run went wrong: devflow's output, its events, the model's log, and
    /// each agent's screen.
    pub fn report(&self, run_id: &str, run: &Run) -> String {
        let events = self.devflow(&["events", run_id], Duration::from_secs(60));
        let mut text = format!(
            "{:?} after {:?}: devflow exit {}\n--- stdout\n{}\n--- stderr\n{}\n--- events\n{}\n--- the model received\n",
            self.cli,
            self.started.elapsed(),
            run.code,
            run.stdout,
            run.stderr,
            events.stdout
        );
        for line in self.received() {
            let first =
                line["prompt"].as_str().unwrap_or_default().lines().next().unwrap_or_default();
            text += &format!("{} {} {} {first:?}\n", line["api"], line["artifact"], line["marker"]);
        }
        for (pane, screen) in self.screens() {
            text += &format!("--- screen of {pane}\n{screen}\n");
        }
        text
    }

    pub(super) fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(self.worktree().join(".devflow/tmux.sock"));
        command
    }

    /// Each pane of the run's tmux server: its window name, and its screen as plain text.
    fn screens(&self) -> Vec<(String, String)> {
        let listing =
            self.tmux().args(["list-panes", "-a", "-F", "#{pane_id} #{window_name}"]).output();
        let listing =
            listing.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        listing
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(id, name)| {
                let screen = self.tmux().args(["capture-pane", "-p", "-t", id]).output().unwrap();
                (name.to_owned(), String::from_utf8_lossy(&screen.stdout).trim_end().to_owned())
            })
            .collect()
    }
}
