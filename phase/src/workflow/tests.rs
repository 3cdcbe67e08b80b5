//! The loader's answers to files people really write: a byte order mark, text that is not
//! UTF-8, a schema path that is not a file, wait numbers at their bounds, an artifact path that
//! is the database.

use std::path::{Path, PathBuf};

use devflow_core::Code;

use super::Workflow;

const HEAD: &str = "name = \"w\"\n[roles.a]\ncommand = [\"agent\"]\n[[phases]]\nkey = \"p\"\nrole = \"a\"\nartifact = \"data/run.db\"\nschema = \"s.json\"\n";

/// A folder with the schema `s.json` and the prompt `p.md` as given, and the workflow `HEAD`
/// then `rest`, written with a byte order mark in front (which every test so also loads).
fn load(
    schema: &[u8],
    prompt: &[u8],
    rest: &str,
) -> (tempfile::TempDir, Result<Workflow, devflow_core::Error>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), schema).unwrap();
    std::fs::write(dir.path().join("p.md"), prompt).unwrap();
    let path = dir.path().join("w.toml");
    std::fs::write(&path, format!("\u{feff}{HEAD}{rest}")).unwrap();
    let loaded = Workflow::load(&path);
    (dir, loaded)
}

const BOM: &[u8] = b"\xef\xbb\xbf";

#[test]
fn a_byte_order_mark_is_dropped_from_the_workflow_its_schema_and_its_instructions() {
    let schema = [BOM, br#"{"type": "object"}"#.as_slice()].concat();
    let prompt = [BOM, b"Plan it.".as_slice()].concat();
    let (_dir, loaded) = load(&schema, &prompt, "instructions_file = \"p.md\"\n");
    let workflow = loaded.unwrap();
    assert_eq!(workflow.phases[0].instructions, "Plan it.");
    assert_eq!(workflow.phases[0].schema["type"], "object");
}

#[test]
fn text_that_is_not_utf8_is_refused_saying_so() {
    let (_dir, loaded) = load(b"{}", b"caf\xe9", "instructions_file = \"p.md\"\n");
    let error = loaded.unwrap_err();
    assert!(error.message().contains("p.md is not UTF-8 text (at byte 3)"), "{error}");
    assert!(error.message().contains("w.toml:9:"), "{error}");
}

#[test]
fn a_schema_path_that_is_not_a_file_is_refused_without_reading_it() {
    let (dir, _) = load(b"{}", b"", "");
    std::fs::remove_file(dir.path().join("s.json")).unwrap();
    crate::artifact::testing::make_fifo(&dir.path().join("s.json"));
    let error = Workflow::load(&dir.path().join("w.toml")).unwrap_err();
    assert!(error.message().contains("s.json is not a regular file"), "{error}");
}

#[test]
fn wait_numbers_at_their_bounds_are_accepted() {
    let rest = "instructions = \"x\"\n[phases.wait]\ntimeout_ms = 1\nstable_ms = 1\npoll_ms = 60000\nmax_hung_ms = 604800000\nmax_artifact_bytes = 1073741824\n";
    let (_dir, loaded) = load(b"{}", b"", rest);
    let wait = loaded.unwrap().phases[0].wait;
    assert_eq!((wait.timeout_ms, wait.stable_ms, wait.poll_ms), (1, 1, 60_000));
    assert_eq!((wait.max_hung_ms, wait.max_artifact_bytes), (604_800_000, 1 << 30));
    let (_dir, loaded) =
        load(b"{}", b"", "instructions = \"x\"\n[phases.wait]\ntimeout_ms = 100\n");
    assert_eq!(
        loaded.unwrap().phases[0].wait.stable_ms,
        100,
        "an unset stable_ms fits the timeout"
    );
}

#[test]
fn an_artifact_path_that_is_the_database_or_its_journal_is_refused() {
    let (dir, loaded) = load(b"{}", b"", "instructions = \"x\"\n");
    let workflow = loaded.unwrap();
    let worktree = dir.path().canonicalize().unwrap();
    let database = |name: &str| -> PathBuf { worktree.join("data").join(name) };
    let error = workflow.check_artifacts_avoid(&worktree, &database("run.db")).unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput);
    assert!(
        error.message().contains("phase \"p\": artifact path \"data/run.db\" is the database file"),
        "{error}"
    );
    assert!(workflow.check_artifacts_avoid(&worktree, &database("run")).is_ok(), "another file");
    assert!(workflow.check_artifacts_avoid(&worktree, Path::new("/elsewhere/run.db")).is_ok());
}

/// A role's preset and the dialogs devflow may answer, loaded from the file as written.
fn with_role(role: &str) -> Result<Workflow, devflow_core::Error> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), b"{}").unwrap();
    let path = dir.path().join("w.toml");
    let text = format!(
        "name = \"w\"\n[roles.a]\n{role}\n[[phases]]\nkey = \"p\"\nrole = \"a\"\nartifact = \"out/p.json\"\nschema = \"s.json\"\ninstructions = \"x\"\n"
    );
    std::fs::write(&path, text).unwrap();
    Workflow::load(&path)
}

#[test]
fn a_role_names_a_preset_and_only_dialogs_safe_to_answer() {
    let named = with_role(
        "command = [\"claude\"]\npreset = \"claude-code\"\nanswer_dialogs = [\"folder-trust\"]",
    );
    let role = &named.unwrap().roles["a"];
    assert_eq!(role.preset.as_deref(), Some("claude-code"));
    assert_eq!(role.answer_dialogs, ["folder-trust"]);
    // Without a preset, the program's name chooses one: Codex's, whose trust dialog devflow
    // does not answer.
    let chosen =
        with_role("command = [\"codex\", \"--no-daemon\"]\nanswer_dialogs = [\"folder-trust\"]");
    let error = chosen.unwrap_err();
    assert!(error.message().contains("of preset codex is not safe"), "{error}");
    assert!(error.recovery_hint().unwrap().contains("devflow doctor"), "{error:?}");

    let error = with_role("command = [\"x\"]\npreset = \"clod\"").unwrap_err();
    assert!(
        error.message().contains("w.toml:4:10: role \"a\": there is no preset \"clod\""),
        "{error}"
    );
    assert!(error.recovery_hint().unwrap().contains("claude-code"), "{error:?}");
    let error = with_role("command = [\"claude\"]\nanswer_dialogs = [\"no-such\"]").unwrap_err();
    assert!(
        error
            .message()
            .contains("dialog \"no-such\" of preset claude-code is not one the preset knows"),
        "{error}"
    );
    assert!(error.recovery_hint().unwrap().contains("folder-trust"), "{error:?}");
}

#[test]
fn agents_may_move_is_off_unless_said_kept_in_the_snapshot_and_refused_unless_a_boolean() {
    let rest = "[roles.a]\ncommand = [\"agent\"]\n[[phases]]\nkey = \"p\"\nrole = \"a\"\nartifact = \"out/p.json\"\nschema = \"s.json\"\ninstructions = \"x\"\n";
    let load = |head: &str| super::testing::load(&format!("name = \"w\"\n{head}{rest}"));
    assert!(!load("").unwrap().agents_may_move);
    let allowed = load("agents_may_move = true\n").unwrap();
    assert!(allowed.agents_may_move);
    // Workers read it from the stored snapshot when they claim: its name there is fixed.
    let mut stored = allowed.to_definition();
    assert_eq!(stored["agents_may_move"], true);
    stored.as_object_mut().unwrap().remove("agents_may_move");
    assert!(!Workflow::from_definition(&stored).unwrap().agents_may_move, "a run stored before it");

    let error = load("agents_may_move = \"yes\"\n").unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput, "{error}");
    assert!(error.message().contains("w.toml:2:"), "{error}");
    assert!(error.message().contains("boolean"), "{error}");
    let error = load("agents_may_mov = true\n").unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput, "{error}");
    assert!(error.message().contains("agents_may_move"), "the known settings are listed: {error}");
}
