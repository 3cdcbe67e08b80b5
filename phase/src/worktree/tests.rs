//! What the worktree module reads without git: git's worktree listing, include paths, the tail
//! of a setup command's output.

use std::path::PathBuf;

use super::include::plain_relative;
use super::listing::parse_worktrees;
use super::setup::tail;

#[test]
fn the_worktree_listing_gives_paths_branches_locks_and_prunable_entries() {
    let listing = "worktree /r\0HEAD 1111\0branch refs/heads/main\0\0\
                   worktree /w one\0HEAD 2222\0branch refs/heads/devflow/x\0locked initializing\0\0\
                   worktree /gone\0HEAD 3333\0detached\0prunable gitdir file points to non-existent location\0\0";
    let listed = parse_worktrees(listing);
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0].path, PathBuf::from("/r"));
    assert_eq!(listed[0].branch.as_deref(), Some("main"));
    assert_eq!(listed[1].path, PathBuf::from("/w one"));
    assert_eq!(listed[1].branch.as_deref(), Some("devflow/x"));
    assert_eq!(listed[1].locked.as_deref(), Some("initializing"));
    assert!(!listed[1].prunable);
    assert_eq!(listed[2].branch, None);
    assert!(listed[2].prunable);
}

#[test]
fn include_entries_are_plain_paths_inside_the_repository() {
    assert_eq!(plain_relative("./config/.env").unwrap(), PathBuf::from("config/.env"));
    for refused in ["../x", "a/../../x", "/etc/passwd", ".git/config", "a/.git/x", "", "."] {
        let error = plain_relative(refused).expect_err(refused);
        assert_eq!(error.code(), devflow_core::Code::InvalidInput, "{refused}");
    }
}

#[test]
fn the_tail_keeps_the_last_lines_and_no_control_characters() {
    let output: String = (1..=50).map(|n| format!("line {n}\n")).collect();
    let kept = tail(output.as_bytes(), 3);
    assert_eq!(kept, "line 48\nline 49\nline 50");
    assert_eq!(tail(b"one\ntwo\n", 40), "one\ntwo");
    assert!(!tail(b"red \x1b[31malert\x1b[0m\n", 40).contains('\x1b'));
}
