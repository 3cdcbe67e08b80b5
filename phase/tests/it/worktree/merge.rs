//! Merging phase branches into the run's branch: three that touch different files, two that
//! change the same line, and a merge git was stopped in the middle of.

use devflow_core::Code;
use devflow_phase::worktree::{Merge, Worktree};

use super::git_sandbox::Sandbox;

const RUN: &str = "devflow/r1";

/// Two phases that change the one line of `shared.txt`.
const CONFLICTING: [(&str, &str, &str); 2] =
    [("devflow/r1--a", "shared.txt", "from a\n"), ("devflow/r1--b", "shared.txt", "from b\n")];

/// A repository holding `shared.txt`, the run's worktree, and one phase worktree per
/// `(branch, file, text)`, each phase's work committed on its branch.
async fn run_with_phases(phases: &[(&str, &str, &str)]) -> (Sandbox, Worktree) {
    let sandbox = Sandbox::new();
    sandbox.commit_file("shared.txt", "base\n", "first");
    let repo = sandbox.repo().await;
    let run = repo.ensure_worktree(&sandbox.path("run"), RUN, "HEAD").await.unwrap();
    for (branch, file, text) in phases {
        let path = sandbox.path(&format!("phases/{branch}"));
        let phase = repo.ensure_worktree(&path, branch, RUN).await.unwrap();
        std::fs::write(phase.path().join(file), text).unwrap();
        let message = format!("devflow: run r1, phase {branch}");
        assert!(phase.commit_all(&message, &[]).await.unwrap().committed);
    }
    (sandbox, run)
}

fn is_ancestor(sandbox: &Sandbox, run: &Worktree, branch: &str) -> bool {
    sandbox.git_succeeds(run.path(), &["merge-base", "--is-ancestor", branch, "HEAD"])
}

fn merge_head_exists(sandbox: &Sandbox, run: &Worktree) -> bool {
    let git_dir = sandbox.git_in(run.path(), &["rev-parse", "--absolute-git-dir"]);
    std::path::Path::new(&git_dir).join("MERGE_HEAD").exists()
}

#[tokio::test]
async fn three_branches_that_touch_different_files_merge_into_one_head() {
    let phases = [
        ("devflow/r1--a", "a.txt", "a"),
        ("devflow/r1--b", "b.txt", "b"),
        ("devflow/r1--c", "c.txt", "c"),
    ];
    let (sandbox, run) = run_with_phases(&phases).await;
    let branches: Vec<&str> = phases.iter().map(|(branch, _, _)| *branch).collect();
    for branch in &branches {
        assert!(!run.has_merged(branch).await.unwrap());
    }

    let merged = run.merge(&branches, "devflow: run r1, phase merge").await.unwrap();
    let Merge::Clean { commit } = &merged else { panic!("{merged:?}") };
    assert_eq!(*commit, sandbox.git_in(run.path(), &["rev-parse", "HEAD"]));
    for branch in &branches {
        assert!(run.has_merged(branch).await.unwrap(), "{branch}");
        assert!(is_ancestor(&sandbox, &run, branch), "{branch}");
    }
    for file in ["a.txt", "b.txt", "c.txt"] {
        assert!(run.path().join(file).exists(), "{file}");
    }
    // In the order given, a merge commit each, named by the caller's message.
    let subjects =
        sandbox.git_in(run.path(), &["log", "--merges", "--format=%s%x09%b", "--reverse"]);
    let lines: Vec<&str> = subjects.lines().filter(|line| !line.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{subjects}");
    assert!(lines[0].contains("Merge devflow/r1--a"), "{subjects}");
    assert!(lines[2].contains("Merge devflow/r1--c"), "{subjects}");

    // Taken again: nothing new.
    assert_eq!(run.merge(&branches, "devflow: run r1, phase merge").await.unwrap(), merged);
}

#[tokio::test]
async fn two_branches_changing_one_line_conflict_and_leave_the_worktree_clean() {
    let (sandbox, run) = run_with_phases(&CONFLICTING).await;
    let before = sandbox.git_in(run.path(), &["rev-parse", "HEAD"]);

    let merged = run.merge(&["devflow/r1--a", "devflow/r1--b"], "devflow: merge").await.unwrap();
    let expected =
        Merge::Conflict { branch: "devflow/r1--b".into(), files: vec!["shared.txt".into()] };
    assert_eq!(merged, expected);
    assert!(!merge_head_exists(&sandbox, &run), "the merge was aborted");
    assert_eq!(sandbox.git_in(run.path(), &["status", "--porcelain"]), "");
    assert!(run.has_merged("devflow/r1--a").await.unwrap(), "the branch before stays merged");
    assert!(!run.has_merged("devflow/r1--b").await.unwrap());
    assert_ne!(sandbox.git_in(run.path(), &["rev-parse", "HEAD"]), before);
    let error = merged.conflict_error().unwrap();
    assert_eq!(error.code(), Code::MergeConflict);
    assert!(error.message().contains("shared.txt"), "{error}");
}

#[tokio::test]
async fn a_conflict_resolved_in_the_worktree_is_concluded_and_an_unresolved_one_found_again() {
    let (sandbox, run) = run_with_phases(&CONFLICTING).await;
    let branches = ["devflow/r1--a", "devflow/r1--b"];
    assert!(matches!(
        run.merge(&branches, "devflow: merge").await.unwrap(),
        Merge::Conflict { .. }
    ));

    // A conflict left in progress (a crash before the abort) is aborted and reported again.
    assert!(!sandbox.git_succeeds(run.path(), &["merge", "--no-edit", "devflow/r1--b"]));
    let again = run.merge(&branches, "devflow: merge").await.unwrap();
    assert!(
        matches!(&again, Merge::Conflict { branch, .. } if branch == "devflow/r1--b"),
        "{again:?}"
    );
    assert!(!merge_head_exists(&sandbox, &run));

    // An agent asked to repair it merges, resolves and stages: that resolution is committed.
    assert!(!sandbox.git_succeeds(run.path(), &["merge", "--no-edit", "devflow/r1--b"]));
    std::fs::write(run.path().join("shared.txt"), "from a and b\n").unwrap();
    sandbox.git_in(run.path(), &["add", "shared.txt"]);
    let merged = run.merge(&branches, "devflow: merge").await.unwrap();
    assert!(matches!(merged, Merge::Clean { .. }), "{merged:?}");
    assert!(run.has_merged("devflow/r1--b").await.unwrap());
    assert!(!merge_head_exists(&sandbox, &run));
    let resolved = std::fs::read_to_string(run.path().join("shared.txt")).unwrap();
    assert_eq!(resolved, "from a and b\n");
    let subject = sandbox.git_in(run.path(), &["log", "-1", "--format=%B"]);
    assert_eq!(subject, "devflow: merge\n\nMerge devflow/r1--b");
}

#[tokio::test]
async fn a_merge_stopped_half_way_is_finished() {
    let phases = [("devflow/r1--a", "a.txt", "a"), ("devflow/r1--b", "b.txt", "b")];
    let (sandbox, run) = run_with_phases(&phases).await;
    // A merge git stopped before its commit, as a crash leaves it: MERGE_HEAD and a staged index.
    sandbox.git_in(run.path(), &["merge", "--no-ff", "--no-commit", "devflow/r1--a"]);
    assert!(merge_head_exists(&sandbox, &run));

    let merged = run.merge(&["devflow/r1--a", "devflow/r1--b"], "devflow: merge").await.unwrap();
    assert!(matches!(merged, Merge::Clean { .. }), "{merged:?}");
    assert!(!merge_head_exists(&sandbox, &run));
    assert!(run.has_merged("devflow/r1--a").await.unwrap());
    assert!(run.has_merged("devflow/r1--b").await.unwrap());
    assert_eq!(sandbox.git_in(run.path(), &["status", "--porcelain"]), "");
}

#[tokio::test]
async fn a_worktree_with_changes_of_its_own_is_not_merged_into() {
    let (_sandbox, run) = run_with_phases(&[("devflow/r1--a", "a.txt", "a")]).await;
    std::fs::write(run.path().join("shared.txt"), "edited by hand\n").unwrap();
    std::fs::write(run.path().join(".env"), "untracked is fine").unwrap();
    let error = run.merge(&["devflow/r1--a"], "devflow: merge").await.unwrap_err();
    assert_eq!(error.code(), Code::GitFailed, "{error}");
    assert!(error.message().contains("shared.txt"), "{error}");
    assert!(!run.has_merged("devflow/r1--a").await.unwrap());
    let error = run.merge(&["devflow/r1--nope"], "devflow: merge").await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput, "{error}");
}
