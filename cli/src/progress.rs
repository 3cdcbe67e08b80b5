//! The live status line while a run is driven: phase, state, elapsed time. A spinner on a
//! terminal (indicatif), plain lines on stderr otherwise; no colour under `NO_COLOR`.

use std::io::IsTerminal;
use std::time::Duration;

use tokio::time::Instant;

use devflow_db::Db;
use indicatif::{ProgressBar, ProgressStyle};

/// Watches the run's rows until dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn start(db: Db, run_id: String) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let template = if std::env::var_os("NO_COLOR").is_some() {
                "{spinner} {msg}"
            } else {
                "{spinner:.cyan} {msg}"
            };
            bar.set_style(ProgressStyle::with_template(template).expect("template parses"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let shown = bar.clone();
        let task = tokio::spawn(async move { watch(db, run_id, shown).await });
        Progress { task, bar }
    }

    pub fn finish(self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `phase build (2/3): running`, or for phases that run at once `phases a: running, b:
/// awaiting_artifact (1/5 completed)`.
fn line(phases: &[devflow_db::PhaseRow]) -> String {
    let total = phases.len();
    let current = devflow_phase::view::current_phases(phases);
    let inline =
        |phase: &devflow_db::PhaseRow| crate::output::inline(&phase.phase_key).into_owned();
    match current.as_slice() {
        [] => "all phases completed".to_owned(),
        [phase] => {
            let index = phases.iter().position(|row| row.id == phase.id).unwrap_or_default();
            format!("phase {} ({}/{total}): {}", inline(phase), index + 1, phase.state)
        }
        several => {
            let done =
                phases.iter().filter(|phase| phase.state == devflow_core::PhaseState::Completed);
            let each: Vec<String> =
                several.iter().map(|phase| format!("{}: {}", inline(phase), phase.state)).collect();
            format!("phases {} ({}/{total} completed)", each.join(", "), done.count())
        }
    }
}

async fn watch(db: Db, run_id: String, bar: Option<ProgressBar>) {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let id = run_id.clone();
        let phases = db
            .read(move |tx| Box::pin(async move { tx.phases(&id).await }))
            .await
            .unwrap_or_default();
        let line = line(&phases);
        match &bar {
            Some(bar) => bar.set_message(format!("{line}  {}s", started.elapsed().as_secs())),
            None if line != last && !phases.is_empty() => {
                eprintln!("devflow: {line} ({}s)", started.elapsed().as_secs())
            }
            None => {}
        }
        last = line;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
