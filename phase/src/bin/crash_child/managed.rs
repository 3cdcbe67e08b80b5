//! The crash child's managed-worktree scenarios: a whole run driven by the workflow driver
//! over a git repository — plan in the run's worktree, `x` and `y` each in a worktree of its
//! own, a merge of both — created on the first start and resumed after a crash. In `conflict`,
//! each worktree's setup writes its own name into one file, so the merge conflicts, the phase of
//! the conflicting branch is sent back once, and the second conflict is the run's gate.

use std::path::Path;
use std::sync::Arc;

use devflow_core::RunState;
use devflow_db::Db;
use devflow_phase::testing::quick_retry;
use devflow_phase::{Driver, Workflow};
use devflow_session::fake::FakeAdapter;
use tokio_util::sync::CancellationToken;

/// The run the managed scenarios drive (beside the harness's own run, which they leave alone).
pub const RUN: &str = "crash-managed";

const VALID: &str = "```json\n{\"title\": \"Plan\", \"steps\": [\"one\"]}\n```";

pub async fn drive(worktree: &Path, fake_dir: &Path, url: &str, conflict: bool) {
    let db = Db::connect(url).await.expect("the test database");
    let fake = Arc::new(FakeAdapter::new(fake_dir));
    let driver = Driver::new(db.clone(), fake).with_retry(quick_retry());
    let workflow = Workflow::load(&write_workflow(worktree, fake_dir, conflict)).unwrap();
    let run = db.read(|tx| Box::pin(async move { tx.run(RUN).await })).await.unwrap();
    let cancel = CancellationToken::new();
    // Where the run stops (completed, or at its gate) is the snapshot's to compare; a run that
    // stopped before the crash (at its gate) waits for a person, as after any crash.
    let _ = match run.map(|run| run.state) {
        Some(RunState::Executing) => driver.resume(RUN, "crash-test".into(), cancel).await,
        Some(_) => return,
        None => driver.start(&workflow, Some(RUN.into()), worktree, cancel).await.map(|(_, at)| at),
    };
}

fn write_workflow(worktree: &Path, fake_dir: &Path, conflict: bool) -> std::path::PathBuf {
    let folder = fake_dir.join("wf");
    std::fs::create_dir_all(&folder).unwrap();
    let schema = r#"{"type": "object", "required": ["title", "steps"]}"#;
    std::fs::write(folder.join("plan.schema.json"), schema).unwrap();
    let setup = if conflict { "setup = 'basename \"$PWD\" > same.txt'\n" } else { "" };
    let mut text = format!(
        "name = \"managed\"\nmax_parallel = 1\n\n[worktree]\nrepo = \"{}\"\n{setup}\n[roles.planner]\ncommand = [\"agent\"]\n\n[roles.implementer]\ncommand = [\"agent\"]\nagent = \"per_phase\"\n",
        worktree.display()
    );
    let phase = |key: &str, role: &str, needs: &str, own: bool| {
        let own = if own { "worktree = \"own\"\n" } else { "" };
        format!(
            "\n[[phases]]\nkey = \"{key}\"\nrole = \"{role}\"\nneeds = [{needs}]\n{own}artifact = \"artifacts/{key}.json\"\nschema = \"plan.schema.json\"\ninstructions = '''\nScenario: ok\n{VALID}\n'''\n"
        )
    };
    text += &phase("plan", "planner", "", false);
    text += &phase("x", "implementer", "\"plan\"", true);
    text += &phase("y", "implementer", "\"plan\"", true);
    text += "\n[[phases]]\nkey = \"merge\"\nkind = \"merge\"\nneeds = [\"x\", \"y\"]\n";
    let path = folder.join("managed.toml");
    std::fs::write(&path, text).unwrap();
    path
}
