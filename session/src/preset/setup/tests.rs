//! The presets' checks against throwaway HOMEs: unconfigured, each dialog's missing setting is
//! named with its file; configured as /work/notes/agents.md says, every dialog is avoided.

use super::*;
use crate::preset::by_name;

const KEY: &str = "sk-ant-api03-devflow-fake-key-0123456789abcdefghij";

/// A throwaway HOME and a worktree (a git repository unless `git` is false).
struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new(git: bool) -> Place {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("wt/.git")).unwrap();
        if !git {
            std::fs::remove_dir(dir.path().join("wt/.git")).unwrap();
        }
        Place { dir }
    }
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn wt(&self) -> String {
        std::fs::canonicalize(self.dir.path().join("wt")).unwrap().to_string_lossy().into_owned()
    }
    fn write(&self, path: &str, text: &str) {
        let path = self.home().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    fn setup(&self, argv: &[&str], env: &[(&str, &str)]) -> Setup {
        let mut vars = BTreeMap::from([("HOME".to_owned(), self.home().display().to_string())]);
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Setup {
            argv: argv.iter().map(|w| w.to_string()).collect(),
            env: vars,
            worktree: self.dir.path().join("wt"),
            root: false,
        }
    }
}

fn findings(preset: &str, setup: &Setup) -> Vec<Finding> {
    check(by_name(preset).unwrap(), setup, &[])
}

fn failures(found: &[Finding]) -> Vec<&str> {
    found.iter().filter(|f| f.level == Level::Fail).map(|f| f.text.as_str()).collect()
}

/// Asserts that one failure names `dialog` and says each of `words`.
fn assert_fails(found: &[Finding], dialog: &str, words: &[&str]) {
    let failed = failures(found);
    let line = failed.iter().find(|text| text.contains(&format!("dialog {dialog} ")));
    let line = line.unwrap_or_else(|| panic!("no failure for {dialog}: {failed:#?}"));
    for word in words {
        assert!(line.contains(word), "{dialog}: no {word:?} in {line:?}");
    }
}

fn argv(preset: &str) -> Vec<&'static str> {
    by_name(preset).unwrap().default_argv.to_vec()
}

#[test]
fn claude_code_unconfigured_names_each_missing_setting_and_never_the_key() {
    let place = Place::new(true);
    let setup = place.setup(&argv("claude-code"), &[("ANTHROPIC_API_KEY", KEY)]);
    let found = findings("claude-code", &setup);
    let config = place.home().join(".claude.json").display().to_string();
    assert_fails(&found, "onboarding", &["hasCompletedOnboarding", &config]);
    let trust = format!("projects[\"{}\"].hasTrustDialogAccepted", place.wt());
    assert_fails(&found, "folder-trust", &[&trust, &config, "answer_dialogs = [\"folder-trust\"]"]);
    assert_fails(&found, "custom-api-key", &["customApiKeyResponses.approved", &config]);
    let settings = place.home().join(".claude/settings.json").display().to_string();
    assert_fails(&found, "bypass-permissions", &["skipDangerousModePermissionPrompt", &settings]);
    let tail = &KEY[KEY.len() - 20..];
    assert!(found.iter().all(|f| !f.text.contains(tail)), "a finding shows the key: {found:#?}");
}

fn configure_claude(place: &Place, trusted: &str) {
    let tail = &KEY[KEY.len() - 20..];
    place.write(
        ".claude.json",
        &serde_json::json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": { "approved": [tail], "rejected": [] },
            "projects": { trusted: { "hasTrustDialogAccepted": true } },
        })
        .to_string(),
    );
    place.write(".claude/settings.json", r#"{"skipDangerousModePermissionPrompt": true}"#);
}

#[test]
fn claude_code_configured_shows_no_dialog() {
    let place = Place::new(true);
    configure_claude(&place, &place.wt());
    let env = [("ANTHROPIC_API_KEY", KEY), ("DISABLE_AUTOUPDATER", "1")];
    let found = findings("claude-code", &place.setup(&argv("claude-code"), &env));
    assert!(failures(&found).is_empty(), "{found:#?}");
    assert!(found.iter().all(|f| f.level == Level::Ok), "{found:#?}");
}

#[test]
fn claude_code_trust_of_a_parent_counts_only_up_to_the_repository() {
    let place = Place::new(false);
    configure_claude(&place, &place.dir.path().canonicalize().unwrap().display().to_string());
    let setup = place.setup(&argv("claude-code"), &[("ANTHROPIC_API_KEY", KEY)]);
    assert!(!failures(&findings("claude-code", &setup)).iter().any(|f| f.contains("folder-trust")));
    std::fs::create_dir_all(place.dir.path().join("wt/.git")).unwrap();
    assert_fails(&findings("claude-code", &setup), "folder-trust", &["hasTrustDialogAccepted"]);
}

#[test]
fn claude_code_as_root_needs_is_sandbox_and_a_rejected_key_is_named() {
    let place = Place::new(true);
    configure_claude(&place, &place.wt());
    let tail = &KEY[KEY.len() - 20..];
    let rejected = serde_json::json!({
        "hasCompletedOnboarding": true,
        "customApiKeyResponses": { "approved": [], "rejected": [tail] },
    });
    place.write(".claude.json", &rejected.to_string());
    let mut setup = place.setup(&argv("claude-code"), &[("ANTHROPIC_API_KEY", KEY)]);
    setup.root = true;
    let found = findings("claude-code", &setup);
    assert!(failures(&found).iter().any(|f| f.contains("IS_SANDBOX = \"1\"")), "{found:#?}");
    assert_fails(&found, "custom-api-key", &["stored as rejected"]);
    setup.env.insert("IS_SANDBOX".into(), "1".into());
    assert!(!failures(&findings("claude-code", &setup)).iter().any(|f| f.contains("IS_SANDBOX")));
}

#[test]
fn codex_unconfigured_names_the_provider_and_the_trust_table() {
    let place = Place::new(true);
    let mut old = argv("codex");
    old.retain(|w| !["-s", "workspace-write", "-a", "never"].contains(w));
    old.push("--full-auto");
    let found = findings("codex", &place.setup(&old, &[]));
    let config = place.home().join(".codex/config.toml").display().to_string();
    assert_fails(&found, "sign-in", &["model_provider", "env_key", &config]);
    let table = format!("[projects.\"{}\"]", place.wt());
    assert_fails(&found, "folder-trust", &[&table, "trust_level = \"trusted\"", &config]);
    assert!(failures(&found).iter().any(|f| f.contains("no --full-auto")), "{found:#?}");
}

#[test]
fn codex_configured_shows_no_dialog_and_needs_its_key_variable() {
    let place = Place::new(true);
    let config = format!(
        "model_provider = \"stub\"\n[model_providers.stub]\nbase_url = \"http://127.0.0.1:9/v1\"\nenv_key = \"STUB_API_KEY\"\nwire_api = \"responses\"\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
        place.wt()
    );
    place.write(".codex/config.toml", &config);
    let found = findings("codex", &place.setup(&argv("codex"), &[("STUB_API_KEY", "k")]));
    assert!(found.iter().all(|f| f.level == Level::Ok), "{found:#?}");
    let found = findings("codex", &place.setup(&argv("codex"), &[]));
    assert_eq!(failures(&found).len(), 1, "{found:#?}");
    assert!(failures(&found)[0].contains("STUB_API_KEY"), "{found:#?}");
}

#[test]
fn codex_keys_a_linked_worktrees_trust_by_its_main_checkout() {
    let place = Place::new(false);
    let main = place.dir.path().join("main");
    std::fs::create_dir_all(main.join(".git/worktrees/wt")).unwrap();
    let gitdir = format!("gitdir: {}\n", main.join(".git/worktrees/wt").display());
    std::fs::write(place.dir.path().join("wt/.git"), gitdir).unwrap();
    let found = findings("codex", &place.setup(&argv("codex"), &[]));
    let main = std::fs::canonicalize(main).unwrap();
    assert_fails(&found, "folder-trust", &[&format!("[projects.\"{}\"]", main.display())]);
}

#[test]
fn gemini_unconfigured_names_both_files() {
    let place = Place::new(true);
    let found = findings("gemini", &place.setup(&argv("gemini"), &[("GEMINI_API_KEY", "k")]));
    let folders = place.home().join(".gemini/trustedFolders.json").display().to_string();
    let rule = format!("\"{}\": \"TRUST_FOLDER\"", place.wt());
    assert_fails(&found, "folder-trust", &[&rule, &folders]);
    let settings = place.home().join(".gemini/settings.json").display().to_string();
    assert_fails(&found, "auth-method", &["security.auth.selectedType", &settings]);
    assert_fails(&found, "api-key", &["security.auth.selectedType"]);
}

#[test]
fn gemini_configured_shows_no_dialog_and_trust_rules_match_as_gemini_matches_them() {
    let place = Place::new(true);
    let settings = r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}, "general": {"enableAutoUpdate": false}}"#;
    place.write(".gemini/settings.json", settings);
    let rules = serde_json::json!({ place.wt(): "TRUST_FOLDER" });
    place.write(".gemini/trustedFolders.json", &rules.to_string());
    let env = [("GEMINI_API_KEY", "k")];
    let found = findings("gemini", &place.setup(&argv("gemini"), &env));
    assert!(found.iter().all(|f| f.level == Level::Ok), "{found:#?}");
    let parent = place.dir.path().canonicalize().unwrap().display().to_string();
    let rules =
        serde_json::json!({ format!("{parent}/x"): "TRUST_PARENT", place.wt(): "DO_NOT_TRUST" });
    place.write(".gemini/trustedFolders.json", &rules.to_string());
    let found = findings("gemini", &place.setup(&argv("gemini"), &env));
    assert_fails(&found, "folder-trust", &["DO_NOT_TRUST"]);
    let rules = serde_json::json!({ format!("{parent}/x"): "TRUST_PARENT" });
    place.write(".gemini/trustedFolders.json", &rules.to_string());
    assert!(failures(&findings("gemini", &place.setup(&argv("gemini"), &env))).is_empty());
    let missing_key = findings("gemini", &place.setup(&argv("gemini"), &[]));
    assert_fails(&missing_key, "api-key", &["GEMINI_API_KEY"]);
}

#[test]
fn aider_with_only_its_model_flags_names_each_question_and_what_yes_always_would_do() {
    let place = Place::new(false);
    let bare = ["aider", "--model", "openai/m", "--openai-api-base", "http://127.0.0.1:9/v1"];
    let found = findings("aider", &place.setup(&bare, &[]));
    for (dialog, flag) in [
        ("gitignore", "--no-gitignore"),
        ("model-warnings", "--no-show-model-warnings"),
        ("release-notes", "--no-show-release-notes"),
        ("analytics", "--analytics-disable"),
        ("add-url", "--no-detect-urls"),
        ("git-init", "--no-git"),
    ] {
        assert_fails(&found, dialog, &[flag]);
    }
    let yes = ["aider", "--yes-always"];
    let failed = failures(&findings("aider", &place.setup(&yes, &[]))).join("\n");
    for flag in ["--no-suggest-shell-commands", "--no-check-update", "--disable-playwright"] {
        assert!(failed.contains(flag), "no {flag} in {failed}");
    }
    assert!(failed.contains("may install Playwright"), "{failed}");
}

#[test]
fn aider_with_its_preset_flags_in_a_git_worktree_shows_no_question() {
    let place = Place::new(true);
    let found = findings("aider", &place.setup(&argv("aider"), &[]));
    assert!(failures(&found).is_empty(), "{found:#?}");
    let off = findings(
        "aider",
        &place.setup(&["aider", "--yes-always"], &[("AIDER_DETECT_URLS", "false")]),
    );
    assert!(
        !failures(&off).iter().any(|f| f.contains("add-url")),
        "AIDER_ variables count: {off:#?}"
    );
}

#[test]
fn a_dialog_the_role_lets_devflow_answer_is_not_a_failure() {
    let place = Place::new(true);
    let setup = place.setup(&argv("codex"), &[]);
    let answered = check(by_name("codex").unwrap(), &setup, &["folder-trust".to_owned()]);
    let line = answered.iter().find(|f| f.text.contains("folder-trust")).unwrap();
    assert_eq!(line.level, Level::Ok, "{line:?}");
    assert!(line.text.contains("devflow answers it"), "{line:?}");
}

#[test]
fn agent_sim_shows_a_dialog_only_when_asked_to() {
    let place = Place::new(true);
    let plain = findings("agent-sim", &place.setup(&["devflow", "agent-sim"], &[]));
    assert!(failures(&plain).is_empty(), "{plain:#?}");
    let asked =
        findings("agent-sim", &place.setup(&["devflow", "agent-sim", "--dialog", "trust"], &[]));
    assert_fails(&asked, "trust", &["--dialog trust"]);
}

fn setup(argv: &[&str]) -> Setup {
    Setup {
        argv: argv.iter().map(|w| w.to_string()).collect(),
        env: BTreeMap::new(),
        worktree: PathBuf::from("/nonexistent/wt"),
        root: false,
    }
}

#[test]
fn flags_are_found_alone_or_with_a_value() {
    let s = setup(&["aider", "--model", "m", "--map-tokens=0", "--yes-always"]);
    assert!(s.has_flag("--yes-always") && s.has_flag("--map-tokens"));
    assert!(!s.has_flag("--yes") && !s.has_flag("aider"));
    assert_eq!(s.flag_value("--model"), Some("m"));
    assert_eq!(s.flag_value("--map-tokens"), Some("0"));
    assert_eq!(s.flag_value("--yes-always"), None);
}

#[test]
fn the_roles_env_is_over_the_users() {
    let role = BTreeMap::from([("HOME".to_owned(), "/role-home".to_owned())]);
    let user = [("HOME".to_owned(), "/u".to_owned()), ("X".to_owned(), String::new())];
    let s = Setup::new(vec!["x".into()], user, &role, Path::new("/w"));
    assert_eq!(s.home(), Some(PathBuf::from("/role-home")));
    assert_eq!(s.var("X"), None, "an empty variable counts as not set");
}
