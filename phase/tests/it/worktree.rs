//! Managed worktrees with real git in throwaway repositories: made from a base, made again,
//! made after an interrupted make; include, setup, commit, merge (clean, conflicting,
//! interrupted) and remove, each taken twice where a crash could make it so.

mod git_sandbox;
mod merge;

use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_core::Code;
use devflow_phase::worktree::{Included, Repo};

use git_sandbox::Sandbox;

/// The worktree `worktrees/r1` on `devflow/r1`, made from HEAD; its path.
async fn made_r1(sandbox: &Sandbox, repo: &Repo) -> PathBuf {
    let path = sandbox.path("worktrees/r1");
    repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap();
    path
}

#[tokio::test]
async fn a_worktree_is_made_on_a_new_branch_at_its_base_and_found_again() {
    let sandbox = Sandbox::new();
    let base = sandbox.commit_file("a.txt", "one\n", "first");
    sandbox.git(&["tag", "v1"]);
    sandbox.commit_file("a.txt", "two\n", "second");
    let repo = sandbox.repo().await;
    let path = sandbox.path("worktrees/r1");

    let made = repo.ensure_worktree(&path, "devflow/r1", "v1").await.unwrap();
    assert_eq!(made.path(), path.canonicalize().unwrap());
    assert_eq!(repo.branch_head("devflow/r1").await.unwrap().as_deref(), Some(base.as_str()));
    assert_eq!(sandbox.git_in(&path, &["symbolic-ref", "--short", "HEAD"]), "devflow/r1");
    assert_eq!(std::fs::read_to_string(path.join("a.txt")).unwrap(), "one\n");

    // Made again: the same worktree, and nothing in it reset.
    std::fs::write(path.join("work.txt"), "agent's work").unwrap();
    let again = repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap();
    assert_eq!(again.path(), made.path());
    assert_eq!(repo.branch_head("devflow/r1").await.unwrap().as_deref(), Some(base.as_str()));
    assert!(path.join("work.txt").exists(), "the worktree was left as it was");
    assert_eq!(sandbox.worktree_count(), 2);
}

#[tokio::test]
async fn what_is_not_a_repository_or_a_commit_is_refused_by_name() {
    let sandbox = Sandbox::new();
    sandbox.commit_file("a.txt", "one\n", "first");
    let not_a_repo = sandbox.folder("elsewhere");
    let error = Repo::open_with(&not_a_repo, sandbox.git_env()).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput, "{error}");
    assert!(error.message().contains("not a git repository"), "{error}");

    let no_git = sandbox.git_env().env("PATH", sandbox.path("elsewhere"));
    let error = Repo::open_with(&sandbox.path("repo"), no_git).await.unwrap_err();
    assert_eq!(error.code(), Code::GitMissing, "{error}");

    let repo = sandbox.repo().await;
    // Variables that would point git at another repository, its index or objects (as in a git
    // hook's environment) do not reach git.
    let elsewhere = sandbox.path("elsewhere");
    let hooked = sandbox.git_env().env("GIT_DIR", &elsewhere).env("GIT_INDEX_FILE", &elsewhere);
    let hooked = hooked.env("GIT_WORK_TREE", &elsewhere).env("GIT_OBJECT_DIRECTORY", &elsewhere);
    let opened = Repo::open_with(&sandbox.path("repo"), hooked.clone()).await.unwrap();
    assert_eq!(opened.top(), sandbox.path("repo"));
    let worktree = opened.ensure_worktree(&sandbox.path("w"), "devflow/r0", "HEAD").await.unwrap();
    let shown = "echo ${GIT_DIR:-none} ${GIT_INDEX_FILE:-none} ${GIT_WORK_TREE:-none}";
    let setup = worktree.run_setup(shown, Duration::from_secs(60)).await.unwrap();
    assert_eq!(setup.output_tail, "none none none");

    let error = repo.resolve("no-such-ref").await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput, "{error}");
    assert!(error.message().contains("no-such-ref"), "{error}");
    let path = sandbox.path("worktrees/r1");
    let error = repo.ensure_worktree(&path, "devflow/r1", "no-such-ref").await.unwrap_err();
    assert!(error.message().contains("no-such-ref"), "{error}");
    let error = repo.ensure_worktree(&path, "bad..name", "HEAD").await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput, "{error}");
    // A ref cannot be a file and a folder: beside `devflow/r1`, no `devflow/r1/<phase>`.
    repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap();
    let nested = sandbox.path("worktrees/r1-a");
    let error = repo.ensure_worktree(&nested, "devflow/r1/a", "HEAD").await.unwrap_err();
    assert_eq!(error.code(), Code::GitFailed, "{error}");
    assert!(error.message().contains("git worktree add"), "{error}");
}

#[tokio::test]
async fn a_create_interrupted_after_the_branch_was_made_converges() {
    let sandbox = Sandbox::new();
    let base = sandbox.commit_file("a.txt", "one\n", "first");
    sandbox.git(&["branch", "devflow/r1", &base]);
    let repo = sandbox.repo().await;
    let path = sandbox.path("worktrees/r1");
    let made = repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap();
    assert_eq!(sandbox.git_in(made.path(), &["rev-parse", "HEAD"]), base);
    assert_eq!(sandbox.worktree_count(), 2);
}

#[tokio::test]
async fn a_folder_git_no_longer_knows_or_a_registration_without_its_folder_converges() {
    let (sandbox, repo) = Sandbox::with_one_commit().await;
    let path = made_r1(&sandbox, &repo).await;

    // The folder is left, git's record of it gone.
    std::fs::remove_dir_all(sandbox.path("repo/.git/worktrees/r1")).unwrap();
    assert_eq!(sandbox.worktree_count(), 1);
    repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap();
    assert_eq!(sandbox.worktree_count(), 2);
    assert_eq!(sandbox.git_in(&path, &["symbolic-ref", "--short", "HEAD"]), "devflow/r1");

    // The record is left, the folder gone.
    std::fs::remove_dir_all(&path).unwrap();
    repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap();
    assert!(path.join("a.txt").exists());
    assert_eq!(sandbox.worktree_count(), 2);
}

#[tokio::test]
async fn a_create_stopped_while_git_checked_out_is_done_again() {
    let (sandbox, repo) = Sandbox::with_one_commit().await;
    let path = made_r1(&sandbox, &repo).await;
    // What `git worktree add` leaves when it is killed during the checkout.
    std::fs::write(sandbox.path("repo/.git/worktrees/r1/locked"), "initializing").unwrap();
    std::fs::remove_file(path.join("a.txt")).unwrap();

    repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap();
    assert_eq!(std::fs::read_to_string(path.join("a.txt")).unwrap(), "one\n");
    let listing = sandbox.git(&["worktree", "list", "--porcelain"]);
    assert!(!listing.contains("locked"), "{listing}");
}

#[tokio::test]
async fn a_folder_that_is_not_a_worktree_is_refused_and_left_alone() {
    let (sandbox, repo) = Sandbox::with_one_commit().await;
    let path = sandbox.path("worktrees/r1");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("mine.txt"), "the user's").unwrap();
    let error = repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput, "{error}");
    let error = repo.remove(&path, "devflow/r1").await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput, "{error}");
    assert!(path.join("mine.txt").exists());

    // A worktree there on another branch is refused too.
    let other = sandbox.path("worktrees/r2");
    repo.ensure_worktree(&other, "devflow/r2", "HEAD").await.unwrap();
    let error = repo.ensure_worktree(&other, "devflow/r3", "HEAD").await.unwrap_err();
    assert!(error.message().contains("devflow/r2"), "{error}");
    let error = repo.remove(&other, "devflow/r3").await.unwrap_err();
    assert!(error.message().contains("devflow/r2"), "{error}");
    assert!(other.join("a.txt").exists());

    // The user's checkout, or a folder holding it, is never removed.
    for holding in [sandbox.path("repo"), sandbox.path("")] {
        let error = repo.remove(&holding, "main").await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidInput, "{error}");
    }
    assert!(sandbox.path("repo/a.txt").exists());
    assert!(repo.branch_head("main").await.unwrap().is_some());
}

#[tokio::test]
async fn nothing_is_committed_or_merged_on_a_worktree_moved_off_its_branch() {
    let (sandbox, repo) = Sandbox::with_one_commit().await;
    let worktree = repo.ensure_worktree(&sandbox.path("w"), "devflow/r1", "HEAD").await.unwrap();
    sandbox.git_in(worktree.path(), &["checkout", "--quiet", "--detach"]);
    std::fs::write(worktree.path().join("b.txt"), "agent").unwrap();
    let error = worktree.commit_all("devflow: run r1, phase build", &[]).await.unwrap_err();
    assert_eq!(error.code(), Code::GitFailed, "{error}");
    assert!(error.message().contains("detached"), "{error}");
    let error = worktree.merge(&["main"], "devflow: merge").await.unwrap_err();
    assert_eq!(error.code(), Code::GitFailed, "{error}");
}

#[tokio::test]
async fn included_files_are_copied_and_paths_out_or_through_links_refused() {
    let sandbox = Sandbox::new();
    sandbox.commit_file("a.txt", "one\n", "first");
    std::fs::write(sandbox.path("repo/.env"), "SECRET=1\n").unwrap();
    std::fs::create_dir_all(sandbox.path("repo/config")).unwrap();
    std::fs::write(sandbox.path("repo/config/local.toml"), "x = 1\n").unwrap();
    let repo = sandbox.repo().await;
    let worktree = repo.ensure_worktree(&sandbox.path("w"), "devflow/r1", "HEAD").await.unwrap();

    let include = [".env", "config/local.toml", "not-there"].map(String::from);
    let included = worktree.copy_included(&repo, &include).unwrap();
    let expected = Included {
        copied: vec![".env".into(), "config/local.toml".into()],
        missing: vec!["not-there".into()],
    };
    assert_eq!(included, expected);
    assert_eq!(std::fs::read_to_string(worktree.path().join(".env")).unwrap(), "SECRET=1\n");
    assert_eq!(
        std::fs::read_to_string(worktree.path().join("config/local.toml")).unwrap(),
        "x = 1\n"
    );
    // Taken again, it converges.
    assert_eq!(worktree.copy_included(&repo, &include).unwrap(), expected);

    for refused in ["../outside.txt", "/etc/hostname", ".git/config"] {
        let error = worktree.copy_included(&repo, &[refused.to_owned()]).unwrap_err();
        assert_eq!(error.code(), Code::InvalidInput, "{refused}: {error}");
    }
}

#[tokio::test]
async fn a_link_in_the_repository_or_the_worktree_is_never_followed() {
    let sandbox = Sandbox::new();
    sandbox.commit_file("a.txt", "one\n", "first");
    let outside = sandbox.folder("outside");
    std::fs::write(outside.join("secret"), "outside").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), sandbox.path("repo/.env")).unwrap();
    std::os::unix::fs::symlink(&outside, sandbox.path("repo/conf")).unwrap();
    std::fs::write(sandbox.path("repo/plain"), "plain").unwrap();
    let repo = sandbox.repo().await;
    let worktree = repo.ensure_worktree(&sandbox.path("w"), "devflow/r1", "HEAD").await.unwrap();

    for refused in [".env", "conf/secret"] {
        let error = worktree.copy_included(&repo, &[refused.to_owned()]).unwrap_err();
        assert!(error.message().contains("symbolic link"), "{refused}: {error}");
        assert!(!worktree.path().join(refused).exists(), "{refused} was not copied");
    }
    // A link in the worktree where the copy goes is not written through.
    std::os::unix::fs::symlink(outside.join("secret"), worktree.path().join("plain")).unwrap();
    let error = worktree.copy_included(&repo, &["plain".to_owned()]).unwrap_err();
    assert!(error.message().contains("symbolic link"), "{error}");
    assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "outside");
}

#[tokio::test]
async fn setup_runs_in_the_worktree_and_a_failure_says_its_status_and_output() {
    let (sandbox, repo) = Sandbox::with_one_commit().await;
    let worktree = repo.ensure_worktree(&sandbox.path("w"), "devflow/r1", "HEAD").await.unwrap();
    let long = Duration::from_secs(60);

    let ok = worktree.run_setup("echo out; echo err >&2; pwd; cat a.txt", long).await.unwrap();
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.code, Some(0));
    let expected = format!("out\nerr\n{}\none", worktree.path().display());
    assert_eq!(ok.output_tail, expected);
    assert!(ok.ran);
    // Taken again (a crash before it was recorded): it is not run twice in one worktree.
    let again = worktree.run_setup("echo out; echo err >&2; pwd; cat a.txt", long).await.unwrap();
    assert!(again.ok && !again.ran, "{again:?}");
    // A worktree made anew has a setup of its own.
    repo.remove(worktree.path(), "devflow/r1").await.unwrap();
    let worktree = repo.ensure_worktree(&sandbox.path("w"), "devflow/r1", "HEAD").await.unwrap();
    let anew = worktree.run_setup("echo out; echo err >&2; pwd; cat a.txt", long).await.unwrap();
    assert!(anew.ok && anew.ran, "{anew:?}");

    let command = "for n in $(seq 1 100); do echo line $n; done; echo boom >&2; exit 3";
    let failed = worktree.run_setup(command, long).await.unwrap();
    assert!(!failed.ok);
    assert_eq!(failed.code, Some(3));
    assert!(failed.output_tail.ends_with("line 100\nboom"), "{}", failed.output_tail);
    assert!(!failed.output_tail.contains("line 60\n"), "only the tail is kept");
    let error = failed.check(command, &worktree).unwrap_err();
    assert_eq!(error.code(), Code::SetupFailed);
    assert!(
        error.message().contains("exit status 3") && error.message().contains("boom"),
        "{error}"
    );

    let hung =
        worktree.run_setup("echo started; sleep 30", Duration::from_millis(300)).await.unwrap();
    assert!(!hung.ok && hung.code.is_none(), "{hung:?}");
    assert!(hung.status.contains("killed"), "{}", hung.status);
    assert_eq!(hung.output_tail, "started");

    // A process it leaves in the background, holding its output open, is not waited for.
    let background =
        worktree.run_setup("sleep 5 & echo left", Duration::from_secs(2)).await.unwrap();
    assert!(background.ok, "{background:?}");
    assert_eq!(background.output_tail, "left");
}

#[tokio::test]
async fn commit_all_commits_once_leaves_included_files_out_and_skips_hooks() {
    let sandbox = Sandbox::new();
    sandbox.commit_file("a.txt", "one\n", "first");
    // A hook that would refuse every commit, and hooks that leave a mark: devflow's bookkeeping
    // runs none of them.
    sandbox.write_hook("pre-commit", "#!/bin/sh\nexit 1\n");
    let mark = sandbox.path("hook-ran");
    for hook in ["post-checkout", "post-commit", "commit-msg"] {
        sandbox.write_hook(hook, &format!("#!/bin/sh\necho {hook} >> '{}'\n", mark.display()));
    }
    let repo = sandbox.repo().await;
    let worktree = repo.ensure_worktree(&sandbox.path("w"), "devflow/r1", "HEAD").await.unwrap();
    let base = sandbox.git_in(worktree.path(), &["rev-parse", "HEAD"]);
    let message = "devflow: run r1, phase build";

    let nothing = worktree.commit_all(message, &[]).await.unwrap();
    assert_eq!((nothing.head.as_str(), nothing.committed), (base.as_str(), false));

    std::fs::write(worktree.path().join("b.txt"), "agent").unwrap();
    std::fs::write(worktree.path().join(".env"), "SECRET=1").unwrap();
    let leave_out = [".env".to_owned()];
    let made = worktree.commit_all(message, &leave_out).await.unwrap();
    assert!(made.committed);
    assert_ne!(made.head, base);
    assert_eq!(sandbox.git_in(worktree.path(), &["log", "-1", "--format=%B"]), message);
    let files = sandbox.git_in(worktree.path(), &["ls-files"]);
    assert_eq!(files, "a.txt\nb.txt", "the included .env is not committed");
    let author = sandbox.git_in(worktree.path(), &["log", "-1", "--format=%an <%ae>"]);
    assert_eq!(author, "devflow <devflow@localhost>", "no identity configured: devflow's");

    // Taken again (a crash before the commit was recorded): the same commit, nothing new.
    std::fs::write(worktree.path().join("late.txt"), "after").unwrap();
    let again = worktree.commit_all(message, &leave_out).await.unwrap();
    assert_eq!(again, made);
    assert_eq!(sandbox.git_in(worktree.path(), &["rev-list", "--count", "HEAD"]), "2");
    assert!(!mark.exists(), "a hook ran: {:?}", std::fs::read_to_string(&mark));
}

#[tokio::test]
async fn the_users_identity_commits_where_it_is_configured() {
    let sandbox = Sandbox::new();
    sandbox.commit_file("a.txt", "one\n", "first");
    sandbox.git(&["config", "user.name", "Ada"]);
    sandbox.git(&["config", "user.email", "ada@example.org"]);
    let repo = sandbox.repo().await;
    let worktree = repo.ensure_worktree(&sandbox.path("w"), "devflow/r1", "HEAD").await.unwrap();
    std::fs::write(worktree.path().join("b.txt"), "agent").unwrap();
    worktree.commit_all("devflow: run r1, phase build", &[]).await.unwrap();
    let author = sandbox.git_in(worktree.path(), &["log", "-1", "--format=%an <%ae>"]);
    assert_eq!(author, "Ada <ada@example.org>");
}

#[tokio::test]
async fn remove_takes_the_worktree_locked_or_not_and_its_branch_and_can_be_taken_again() {
    let (sandbox, repo) = Sandbox::with_one_commit().await;
    let path = sandbox.path("w");
    let worktree = repo.ensure_worktree(&path, "devflow/r1", "HEAD").await.unwrap();
    std::fs::write(worktree.path().join("uncommitted.txt"), "gone with it").unwrap();

    sandbox.git(&["worktree", "lock", "--reason", "the user's", path.to_str().unwrap()]);

    repo.remove(&path, "devflow/r1").await.unwrap();
    assert!(!path.exists());
    assert_eq!(repo.branch_head("devflow/r1").await.unwrap(), None);
    assert_eq!(sandbox.worktree_count(), 1);
    repo.remove(&path, "devflow/r1").await.unwrap();

    // Half removed by hand (the folder deleted, git's record left): finished.
    let path = sandbox.path("w2");
    repo.ensure_worktree(&path, "devflow/r2", "HEAD").await.unwrap();
    std::fs::remove_dir_all(&path).unwrap();
    repo.remove(&path, "devflow/r2").await.unwrap();
    assert_eq!(sandbox.worktree_count(), 1);
    assert_eq!(repo.branch_head("devflow/r2").await.unwrap(), None);
    assert!(Path::new(&sandbox.path("repo/a.txt")).exists(), "the user's checkout is untouched");
}
