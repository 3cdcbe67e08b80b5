//! What the loader says of managed worktrees: the `[worktree]` table, merge phases, and phases
//! that need worktrees in a workflow that has none.

use crate::workflow::testing::load;
use crate::workflow::{Kind, PhaseWorktree};

const HEAD: &str = "name = \"w\"\n[roles.a]\ncommand = [\"agent\"]\n";

fn agent(key: &str, extra: &str) -> String {
    format!(
        "[[phases]]\nkey = \"{key}\"\nrole = \"a\"\nartifact = \"{key}.json\"\nschema = \"s.json\"\ninstructions = \"x\"\n{extra}\n"
    )
}

const MERGE: &str = "[[phases]]\nkey = \"m\"\nkind = \"merge\"\nneeds = [\"x\", \"y\"]\n";

#[test]
fn a_fan_out_with_a_merge_loads_with_its_worktrees() {
    let text = format!(
        "{HEAD}[worktree]\nrepo = \"repo\"\nbase = \"main\"\ninclude = [\".env\"]\nsetup = \"make\"\n{}{}{MERGE}",
        agent("x", "worktree = \"own\""),
        agent("y", "worktree = \"own\"\nneeds = []")
    );
    let workflow = load(&text).unwrap();
    let managed = workflow.worktree.as_ref().unwrap();
    assert!(managed.repo.ends_with("/repo"), "{}", managed.repo);
    assert!(std::path::Path::new(&managed.repo).is_absolute());
    assert_eq!((managed.base.as_str(), managed.setup.as_deref()), ("main", Some("make")));
    assert_eq!(managed.include, [".env"]);
    assert_eq!(workflow.phases[0].worktree, PhaseWorktree::Own);
    assert_eq!(workflow.phases[2].kind, Kind::Merge);
    assert_eq!(
        workflow.merged_branches(&workflow.phases[2], "r"),
        ["devflow/r--x", "devflow/r--y"]
    );
    workflow.check_managed().unwrap();
}

#[test]
fn a_worktree_table_without_repo_means_the_folder_the_run_starts_in() {
    let workflow =
        load(&format!("{HEAD}[worktree]\n{}", agent("x", "worktree = \"own\""))).unwrap();
    assert_eq!(workflow.worktree.as_ref().unwrap().repo, "");
    assert_eq!(workflow.worktree.as_ref().unwrap().base, "HEAD");
    let started = workflow.with_repo_default(std::path::Path::new("/work/project"));
    assert_eq!(started.worktree.unwrap().repo, "/work/project");
}

#[test]
fn phases_that_need_worktrees_are_refused_without_any() {
    let own = load(&format!("{HEAD}{}", agent("x", "worktree = \"own\""))).unwrap();
    let error = own.check_managed().unwrap_err();
    assert!(error.message().contains("works in a worktree of its own"), "{error}");
    assert!(error.recovery_hint().unwrap().contains("--repo"), "{error:?}");
    let merged = load(&format!("{HEAD}{}{}{MERGE}", agent("x", ""), agent("y", ""))).unwrap();
    assert!(merged.check_managed().unwrap_err().message().contains("merges branches"));
}

#[test]
fn a_merge_phase_has_needs_and_nothing_of_an_agent_s() {
    let with_role = MERGE.replace("kind = \"merge\"", "kind = \"merge\"\nrole = \"a\"");
    let error =
        load(&format!("{HEAD}{}{}{with_role}", agent("x", ""), agent("y", ""))).unwrap_err();
    assert!(error.message().contains("has a role, which only an agent's phase has"), "{error}");
    let alone = "[[phases]]\nkey = \"m\"\nkind = \"merge\"\nneeds = []\n";
    let error = load(&format!("{HEAD}{alone}")).unwrap_err();
    assert!(error.message().contains("needs nothing, so it has nothing to merge"), "{error}");
    let no_role = "[[phases]]\nkey = \"p\"\nartifact = \"p.json\"\nschema = \"s.json\"\ninstructions = \"x\"\n";
    let error = load(&format!("{HEAD}{no_role}")).unwrap_err();
    assert!(error.message().contains("phase \"p\" has no role"), "{error}");
}

#[test]
fn an_include_outside_the_repository_is_refused_at_its_place() {
    for entry in ["../secret", "/etc/passwd", ""] {
        let text = format!("{HEAD}[worktree]\ninclude = [\"{entry}\"]\n{}", agent("x", ""));
        let error = load(&text).unwrap_err();
        assert!(
            error.message().contains("is not a path inside the repository"),
            "{entry}: {error}"
        );
        assert!(error.message().contains("w.toml:5:"), "{entry}: {error}");
    }
}

#[test]
fn a_merge_phase_with_a_worktree_is_refused_at_its_place() {
    let own = MERGE.replace("kind = \"merge\"", "kind = \"merge\"\nworktree = \"own\"");
    let error = load(&format!("{HEAD}{}{}{own}", agent("x", ""), agent("y", ""))).unwrap_err();
    assert!(error.message().contains("merge phase \"m\" has a worktree"), "{error}");
}
