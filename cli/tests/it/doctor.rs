//! `devflow init --agent NAME` and `devflow doctor` on the workflow it writes, with fake CLIs on
//! PATH (scripts that print the version the preset was written from) and a throwaway HOME:
//! unconfigured, doctor names each missing setting and its file; configured as the examples'
//! comments say, every line is ok.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{Run, World, finish};

const KEY: &str = "sk-ant-api03-devflow-fake-key-0123456789abcdefghij";

/// The four CLIs as scripts that answer `--version` as the real ones do.
fn fake_clis(dir: &Path) -> PathBuf {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, version) in [
        ("claude", "2.1.332 (Claude Code)"),
        ("codex", "codex-cli 0.171.0"),
        ("gemini", "0.61.0"),
        ("aider", "aider 0.86.2"),
    ] {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho '{version}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

struct Doctor {
    world: World,
    home: tempfile::TempDir,
    bin: PathBuf,
}

impl Doctor {
    fn new(agent: &str) -> Doctor {
        let world = World::new();
        let home = tempfile::tempdir().unwrap();
        let bin = fake_clis(home.path());
        let doctor = Doctor { world, home, bin };
        let init = doctor.devflow(&["init", "--agent", agent]);
        assert_eq!(init.code, 0, "{init:?}");
        doctor
    }

    fn home(&self) -> PathBuf {
        self.home.path().join("home")
    }

    fn devflow(&self, args: &[&str]) -> Run {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap());
        let mut command = self.world.command(args);
        command
            .env("PATH", path)
            .env("HOME", self.home())
            .env("ANTHROPIC_API_KEY", KEY)
            .env("GEMINI_API_KEY", "fake-gemini-key")
            .env("MY_API_KEY", "fake")
            .env("IS_SANDBOX", "1")
            .env_remove("CODEX_HOME")
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("GEMINI_CLI_HOME");
        finish(command.spawn().unwrap(), args)
    }

    fn doctor(&self) -> Run {
        self.devflow(&["doctor", ".devflow/workflow.toml"])
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.home().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn worktree(&self) -> String {
        self.world.worktree().canonicalize().unwrap().display().to_string()
    }
}

/// Asserts a FAIL line of role `planner` that says each of `words`.
fn assert_fail_line(run: &Run, words: &[&str]) {
    let found = run.stdout.lines().any(|line| {
        line.starts_with("FAIL  role planner:") && words.iter().all(|word| line.contains(word))
    });
    assert!(found, "no FAIL line with {words:?} in\n{}", run.stdout);
}

fn assert_all_ok(run: &Run) {
    assert_eq!(run.code, 0, "{run:?}");
    let bad: Vec<&str> =
        run.stdout.lines().filter(|l| l.starts_with("FAIL") || l.starts_with("warn")).collect();
    assert!(bad.is_empty(), "{bad:#?}\n{}", run.stdout);
}

#[test]
fn init_refuses_an_unknown_agent_naming_the_known_ones() {
    let world = World::new();
    let run = world.devflow(&["init", "--agent", "claude"]);
    assert_eq!(run.code, 2, "{run:?}");
    for known in ["claude-code", "codex", "gemini", "aider", "agent-sim"] {
        assert!(run.stderr.contains(known), "no {known} in {}", run.stderr);
    }
    assert!(!world.worktree().join(".devflow").exists(), "a refused init creates nothing");
}

#[test]
fn doctor_names_claude_codes_missing_settings_then_says_ok() {
    let doctor = Doctor::new("claude-code");
    let run = doctor.doctor();
    assert_ne!(run.code, 0, "{run:?}");
    let config = doctor.home().join(".claude.json").display().to_string();
    assert!(
        run.stdout.contains("ok    role planner: version 2.1.332 (Claude Code)"),
        "{}",
        run.stdout
    );
    assert_fail_line(&run, &["onboarding", "\"hasCompletedOnboarding\": true", &config]);
    let trust = format!("projects[\"{}\"].hasTrustDialogAccepted: true", doctor.worktree());
    assert_fail_line(&run, &["folder-trust", &trust, &config]);
    assert_fail_line(&run, &["custom-api-key", "customApiKeyResponses.approved", &config]);
    assert_fail_line(&run, &["bypass-permissions", "skipDangerousModePermissionPrompt"]);
    assert!(!run.stdout.contains(&KEY[KEY.len() - 20..]), "doctor shows the key");

    let wt = doctor.worktree();
    let claude = serde_json::json!({
        "hasCompletedOnboarding": true,
        "customApiKeyResponses": { "approved": [&KEY[KEY.len() - 20..]], "rejected": [] },
        "projects": { wt: { "hasTrustDialogAccepted": true } },
    });
    doctor.write(".claude.json", &claude.to_string());
    doctor.write(".claude/settings.json", r#"{"skipDangerousModePermissionPrompt": true}"#);
    assert_all_ok(&doctor.doctor());
}

#[test]
fn doctor_names_codexs_missing_settings_then_says_ok() {
    let doctor = Doctor::new("codex");
    let run = doctor.doctor();
    assert_ne!(run.code, 0, "{run:?}");
    let config = doctor.home().join(".codex/config.toml").display().to_string();
    assert_fail_line(&run, &["sign-in", "model_provider", &config]);
    let table = format!("[projects.\"{}\"]", doctor.worktree());
    assert_fail_line(&run, &["folder-trust", &table, "trust_level = \"trusted\"", &config]);

    let text = format!(
        "model = \"m\"\nmodel_provider = \"mine\"\ncheck_for_update_on_startup = false\n\
         [model_providers.mine]\nname = \"mine\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         env_key = \"MY_API_KEY\"\nwire_api = \"responses\"\n\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
        doctor.worktree()
    );
    doctor.write(".codex/config.toml", &text);
    assert_all_ok(&doctor.doctor());
}

#[test]
fn doctor_names_geminis_missing_settings_then_says_ok() {
    let doctor = Doctor::new("gemini");
    let run = doctor.doctor();
    assert_ne!(run.code, 0, "{run:?}");
    let folders = doctor.home().join(".gemini/trustedFolders.json").display().to_string();
    let rule = format!("\"{}\": \"TRUST_FOLDER\"", doctor.worktree());
    assert_fail_line(&run, &["folder-trust", &rule, &folders]);
    assert_fail_line(&run, &["auth-method", "security.auth.selectedType = \"gemini-api-key\""]);

    let settings = serde_json::json!({
        "security": { "auth": { "selectedType": "gemini-api-key" } },
        "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false },
    });
    doctor.write(".gemini/settings.json", &settings.to_string());
    let rules = serde_json::json!({ doctor.worktree(): "TRUST_FOLDER" });
    doctor.write(".gemini/trustedFolders.json", &rules.to_string());
    assert_all_ok(&doctor.doctor());
}

#[test]
fn doctor_says_aiders_example_is_safe_and_names_what_a_bare_yes_always_would_do() {
    let doctor = Doctor::new("aider");
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(doctor.world.worktree())
        .status()
        .unwrap();
    assert!(git.success());
    assert_all_ok(&doctor.doctor());

    let workflow = doctor.world.worktree().join(".devflow/workflow.toml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    let start = text.find("[roles.planner]").unwrap();
    let end = text[start..].find("\n]\n").unwrap() + start + 3;
    let bare = "[roles.planner]\ncommand = [\"aider\", \"--yes-always\"]\n";
    std::fs::write(&workflow, format!("{}{bare}{}", &text[..start], &text[end..])).unwrap();
    let run = doctor.doctor();
    assert_ne!(run.code, 0, "{run:?}");
    assert_fail_line(&run, &["add-url", "--no-detect-urls", "may install Playwright"]);
    assert_fail_line(&run, &["--disable-playwright"]);
    assert_fail_line(&run, &["--no-check-update"]);
    assert_fail_line(&run, &["--no-suggest-shell-commands"]);
}
