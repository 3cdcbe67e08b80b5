//! Managed git worktrees (issue 14): a fan-out whose implementers each work on a branch of their
//! own, merged into the run's branch by a merge phase; a merge that conflicts stops at a gate
//! naming the file; `devflow clean` removes what the run made.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{PLAN_SCHEMA, World, instructions};

/// Runs git in `dir` with a throwaway configuration (the machine's cannot change the result).
fn git(dir: &Path, args: &[&str]) -> String {
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

/// The world's folder as a repository with one commit, and a workflow beside it: plan (the
/// run's worktree) → a, b, c (each its own) → merge → review (the run's worktree).
fn repo_and_workflow(world: &World, setup: Option<&str>) -> std::path::PathBuf {
    let repo = world.worktree();
    git(&repo, &["init", "--quiet", "--initial-branch", "main"]);
    std::fs::write(repo.join("README"), "the project\n").unwrap();
    std::fs::write(repo.join(".env"), "SECRET=1\n").unwrap();
    std::fs::write(repo.join(".gitignore"), ".env\n.devflow/\nsetup.log\n").unwrap();
    git(&repo, &["add", "README", ".gitignore"]);
    git(&repo, &["commit", "--quiet", "-m", "start"]);
    let wf = repo.parent().unwrap().join("wf");
    std::fs::write(wf.join("plan.schema.json"), PLAN_SCHEMA).unwrap();
    let mut text = format!(
        "name = \"branches\"\n\n[worktree]\nrepo = \"{}\"\ninclude = [\".env\"]\n",
        repo.display()
    );
    if let Some(setup) = setup {
        text += &format!("setup = '{setup}'\n");
    }
    text += "\n[roles.planner]\ncommand = [\"devflow\", \"agent-sim\", \"--work-ms\", \"60\"]\n";
    text += "\n[roles.implementer]\ncommand = [\"devflow\", \"agent-sim\", \"--work-ms\", \"1500\"]\nagent = \"per_phase\"\n";
    let phase = |key: &str, role: &str, needs: &str, own: bool| {
        let worktree = if own { "worktree = \"own\"\n" } else { "" };
        format!(
            "\n[[phases]]\nkey = \"{key}\"\nrole = \"{role}\"\nneeds = [{needs}]\n{worktree}artifact = \"out/{key}.json\"\nschema = \"plan.schema.json\"\ninstructions = '''\n{}'''\n[phases.wait]\ntimeout_ms = 60000\nstable_ms = 150\npoll_ms = 20\n",
            instructions(key, "ok", "ok", "")
        )
    };
    text += &phase("plan", "planner", "", false);
    for key in ["a", "b", "c"] {
        text += &phase(key, "implementer", "\"plan\"", true);
    }
    text += "\n[[phases]]\nkey = \"merge\"\nkind = \"merge\"\nneeds = [\"a\", \"b\", \"c\"]\n";
    text += &phase("review", "planner", "\"merge\"", false);
    let path = wf.join("branches.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn of_kind<'e>(events: &'e [Value], kind: &str) -> Vec<&'e Value> {
    events.iter().filter(|event| event["type"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fan_out_on_branches_of_its_own_is_merged_into_the_run_s_branch() {
    for (backend, world) in World::on_every_backend().await {
        let workflow = repo_and_workflow(&world, None);
        let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "br"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        let repo = world.worktree();
        let events = world.events("br");
        assert_eq!(of_kind(&events, "prompt.sent").len(), 5, "{backend}: each prompt once");
        assert_eq!(of_kind(&events, "worktree.ready").len(), 4, "{backend}: the run's and three");
        // Each implementer committed its artifact on its own branch.
        for key in ["a", "b", "c"] {
            let branch = format!("devflow/br--{key}");
            let files = git(&repo, &["ls-tree", "-r", "--name-only", &branch]);
            assert!(
                files.lines().any(|file| file == format!("out/{key}.json")),
                "{branch}: {files}"
            );
            assert!(!files.contains(".env"), "{branch}: an included file is never committed");
            let subject = git(&repo, &["log", "-1", "--format=%s", &branch]);
            assert_eq!(subject, format!("devflow: run br phase {key}"), "{backend}");
        }
        // The merge commit holds all three branches, and the review worked on top of it.
        let merged = of_kind(&events, "merge.completed");
        assert_eq!(merged.len(), 1, "{backend}");
        let commit = merged[0]["payload"]["commit"].as_str().unwrap();
        for key in ["a", "b", "c"] {
            let branch = format!("devflow/br--{key}");
            let ancestor = Command::new("git")
                .args(["merge-base", "--is-ancestor", &branch, commit])
                .current_dir(&repo)
                .status()
                .unwrap();
            assert!(ancestor.success(), "{backend}: {branch} is in the merge {commit}");
        }
        let run_files = git(&repo, &["ls-tree", "-r", "--name-only", "devflow/br"]);
        for file in ["out/plan.json", "out/a.json", "out/b.json", "out/c.json", "out/review.json"] {
            assert!(run_files.lines().any(|line| line == file), "{backend}: {file} in {run_files}");
        }
        // The included file was copied into each worktree; the user's checkout is untouched.
        let run_tree = repo.join(".devflow/worktrees/br");
        assert_eq!(std::fs::read_to_string(run_tree.join(".env")).unwrap(), "SECRET=1\n");
        assert_eq!(git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
        assert_eq!(git(&repo, &["status", "--porcelain"]), "", "{backend}");

        // Seen: each phase's branch and worktree.
        let status = world.status("br");
        assert_eq!(status["phases"][1]["branch"], "devflow/br--a", "{backend}");
        let a_tree = status["phases"][1]["worktree"].as_str().unwrap();
        assert!(a_tree.ends_with(".devflow/worktrees/br--a"), "{backend}: {a_tree}");
        assert_eq!(status["phases"][0]["branch"], "devflow/br", "{backend}");
        let table = world.devflow(&["status", "br"]);
        assert!(table.stdout.contains("devflow/br--c"), "{}", table.stdout);

        let cleaned = world.devflow(&["clean", "br"]);
        assert_eq!(cleaned.code, 0, "{backend}: {cleaned:?}");
        assert!(!run_tree.exists(), "{backend}");
        let branches = git(&repo, &["branch", "--list", "devflow/*", "--format=%(refname:short)"]);
        assert_eq!(branches, "devflow/br", "{backend}: the run's branch stays, the phases' go");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_goes_back_to_its_agent_once_and_a_second_one_stops_at_a_gate_naming_the_file() {
    for (backend, world) in World::on_every_backend().await {
        // Each worktree's setup writes its own name into one file: the branches conflict, and
        // agent-sim, sent back, writes its artifact again without resolving anything.
        let workflow = repo_and_workflow(&world, Some("basename \"$PWD\" > same.txt"));
        let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "cf"]);
        assert_eq!(run.code, 3, "{backend}: {run:?}");
        let events = world.events("cf");
        let conflicted = of_kind(&events, "merge.conflicted");
        assert_eq!(conflicted.len(), 1, "{backend}: the conflict went back to an agent once");
        let payload = &conflicted[0]["payload"];
        assert_eq!(payload["files"], serde_json::json!(["same.txt"]), "{backend}");
        let maker = payload["sentBackTo"].as_str().unwrap().to_owned();
        assert_eq!(payload["branch"], format!("devflow/cf--{maker}"), "{backend}");
        // The agent of that branch was asked once more, with the files and what to do.
        let prompts = world.prompts();
        assert_eq!(prompts.len(), 5, "{backend}: plan, three, and the one conflict: {prompts:#?}");
        let repair = &prompts[4];
        assert!(repair.contains(&format!("Write the {maker} plan")), "{backend}: {repair}");
        assert!(
            repair.contains("conflicts in same.txt") && repair.contains("git merge devflow/cf"),
            "{repair}"
        );
        // It did not resolve it: the second conflict is a person's, and the gate names the file.
        let status = world.status("cf");
        assert_eq!(status["state"], "paused", "{backend}");
        let gates = status["gates"].as_array().unwrap();
        let gate = gates.iter().find(|gate| gate["state"] == "pending").unwrap();
        assert_eq!(gate["gate_key"], "merge_conflict", "{backend}");
        assert_eq!(gate["phase_key"], "merge", "{backend}");
        let hint = gate["payload"]["recoveryHint"].as_str().unwrap();
        assert!(hint.contains("same.txt"), "{backend}: {hint}");
        assert!(of_kind(&events, "merge.completed").is_empty(), "{backend}");
        assert_eq!(of_kind(&events, "prompt.sent").len(), 5, "{backend}: no review");
    }
}

#[test]
fn clean_refuses_a_run_that_can_still_go_on() {
    let world = World::new();
    let workflow = repo_and_workflow(&world, Some("exit 7"));
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "sf"]);
    assert_eq!(run.code, 3, "a setup that fails is a gate: {run:?}");
    let status = world.status("sf");
    let gate =
        status["gates"].as_array().unwrap().iter().find(|gate| gate["state"] == "pending").unwrap();
    assert_eq!(gate["gate_key"], "setup_failed");
    let cleaned = world.devflow(&["clean", "sf"]);
    assert_eq!(cleaned.code, 2, "{cleaned:?}");
    assert!(cleaned.stderr.contains("can still go on"), "{}", cleaned.stderr);
    assert!(world.worktree().join(".devflow/worktrees/sf").exists(), "nothing removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_the_implementers_work_on_their_branches_then_resume_makes_no_worktree_twice()
{
    for (backend, world) in World::on_every_backend().await {
        let workflow = repo_and_workflow(&world, Some("echo set up >> setup.log"));
        let mut child = world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", "kb"]);
        crate::support::eventually(
            "three implementers waiting",
            std::time::Duration::from_secs(60),
            || {
                let run = world.devflow(&["events", "kb", "--json"]);
                run.code == 0 && run.stdout.matches("\"artifact.expected\"").count() >= 4
            },
        );
        child.kill().unwrap(); // SIGKILL
        let _ = crate::support::finish(child, &["run"]);
        let run = world.devflow(&["resume", "kb"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        let events = world.events("kb");
        assert_eq!(of_kind(&events, "prompt.sent").len(), 5, "{backend}: each prompt once");
        assert_eq!(of_kind(&events, "worktree.ready").len(), 4, "{backend}");
        let repo = world.worktree();
        let listed = git(&repo, &["worktree", "list", "--porcelain"]);
        assert_eq!(
            listed.matches("worktree ").count(),
            5,
            "{backend}: the checkout and four: {listed}"
        );
        // Setup ran once in each worktree.
        for tree in ["kb", "kb--a", "kb--b", "kb--c"] {
            let log = repo.join(".devflow/worktrees").join(tree).join("setup.log");
            assert_eq!(std::fs::read_to_string(&log).unwrap(), "set up\n", "{backend}: {tree}");
        }
        assert_eq!(of_kind(&events, "merge.completed").len(), 1, "{backend}");
    }
}

#[test]
fn a_folder_that_is_no_repository_or_a_base_that_does_not_exist_is_refused_before_anything_is_written()
 {
    let world = World::new();
    let workflow = repo_and_workflow(&world, None);
    std::fs::remove_dir_all(world.worktree().join(".git")).unwrap();
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "nr"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is not a git repository"), "{}", run.stderr);
    assert!(!world.worktree().join(".devflow").exists(), "nothing is written");

    let world = World::new();
    let workflow = repo_and_workflow(&world, None);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--base", "no-such-ref"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no-such-ref"), "{}", run.stderr);
    assert!(!world.worktree().join(".devflow").exists(), "nothing is written");
}
