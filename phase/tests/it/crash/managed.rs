//! The managed-worktree scenarios of the crash proof: the child drives a whole run over a git
//! repository (`src/bin/crash_child/managed.rs`), and what it left — rows, events, and the
//! repository's branches by their trees — must be the uncrashed run's.

use std::path::Path;
use std::process::Command;

use super::{Snapshot, redact};
use crate::support::Harness;

/// The managed child's run (`crash_child/managed.rs`).
pub const RUN: &str = "crash-managed";

pub fn is_managed(scenario: &str) -> bool {
    scenario.starts_with("managed")
}

/// git, as the test runs it and as the child's devflow does: no configuration of the machine's.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "tester")
        .env("GIT_AUTHOR_EMAIL", "tester@localhost")
        .env("GIT_COMMITTER_NAME", "tester")
        .env("GIT_COMMITTER_EMAIL", "tester@localhost")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The harness's worktree as a repository with one commit, devflow's folder ignored.
pub fn init_repo(worktree: &Path) {
    git(worktree, &["init", "--quiet", "--initial-branch", "main"]);
    std::fs::write(worktree.join("README"), "the project\n").unwrap();
    std::fs::write(worktree.join(".gitignore"), ".devflow/\n").unwrap();
    git(worktree, &["add", "README", ".gitignore"]);
    git(worktree, &["commit", "--quiet", "-m", "start"]);
}

pub async fn events(h: &Harness) -> Vec<devflow_db::EventRow> {
    h.db.read(|tx| Box::pin(async move { tx.events(RUN, 0).await })).await.unwrap()
}

/// What the run left. A driver that took the run over after a crash says so (`run.claimed`),
/// which the uncrashed run has no reason to: those are left out. Commits differ in their times,
/// so branches are compared by their trees and lengths.
pub async fn snapshot(h: &Harness) -> Snapshot {
    let worktree = h.worktree.path().canonicalize().unwrap().to_string_lossy().into_owned();
    let normalize = |text: String| redact(&text.replace(&worktree, "<worktree>"));
    let events = events(h)
        .await
        .into_iter()
        .filter(|event| event.kind != "run.claimed")
        .map(|event| {
            normalize(format!("{} {} {}", event.kind, event.idempotency_key, event.payload))
        })
        .collect();
    let (run, phases, sessions, approvals) =
        h.db.read(|tx| {
            Box::pin(async move {
                Ok((
                    tx.run(RUN).await?.expect("the managed run"),
                    tx.phases(RUN).await?,
                    tx.sessions(RUN).await?,
                    tx.approvals(RUN).await?,
                ))
            })
        })
        .await
        .unwrap();
    let mut rows = vec![format!("run {}", run.state)];
    rows.extend(phases.iter().map(|p| format!("phase {} {} {}", p.phase_key, p.state, p.attempts)));
    let mut agents: Vec<String> = sessions
        .iter()
        .map(|s| format!("session {} {} {}", s.role_id, s.state, s.recovery_attempts))
        .collect();
    agents.sort();
    rows.extend(agents);
    for request in approvals {
        let note = request.decision_note.unwrap_or_default();
        rows.push(normalize(format!(
            "approval {} {:?} {} {note}",
            request.gate_key, request.state, request.payload
        )));
    }
    let repo = h.worktree.path();
    let branches = git(
        repo,
        &["for-each-ref", "refs/heads/devflow", "--format=%(refname:short) %(objectname)"],
    );
    for line in branches.lines() {
        let (branch, _) = line.split_once(' ').unwrap();
        let tree = git(repo, &["rev-parse", &format!("{branch}^{{tree}}")]);
        let length = git(repo, &["rev-list", "--count", branch]);
        rows.push(format!("branch {branch} tree {tree} commits {length}"));
    }
    let listed = git(repo, &["worktree", "list", "--porcelain"]);
    rows.push(format!(
        "worktrees {}",
        listed.lines().filter(|line| line.starts_with("worktree ")).count()
    ));
    Snapshot { events, rows }
}
