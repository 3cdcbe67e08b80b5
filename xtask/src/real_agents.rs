//! Whether the real-agent suite ran in `cargo xtask test`: each real-agent test appends its
//! name, CLI and seconds to the file `DEVFLOW_REAL_AGENTS_RAN` names (cli/tests/it/real_agents).
//! Under CI=true a whole-suite run in which none ran is a failure; otherwise a loud warning.

use std::path::PathBuf;

use crate::project_root;

pub const VAR: &str = "DEVFLOW_REAL_AGENTS_RAN";

/// The file, emptied before the tests run.
pub fn prepare() -> PathBuf {
    let file = project_root().join("target").join("real-agents-ran.tsv");
    let _ = std::fs::remove_file(&file);
    file
}

/// Prints how many real-agent tests ran and how long they took in all; false when none ran
/// and CI requires them.
pub fn report(file: &std::path::Path, ci: bool) -> bool {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let seconds: Vec<f64> =
        text.lines().filter_map(|line| line.rsplit('\t').next()?.parse().ok()).collect();
    if seconds.is_empty() {
        let what =
            "no real-agent test ran (no test drove Claude Code, Codex CLI, Gemini CLI or Aider)";
        if ci {
            eprintln!(
                "error: {what}, and CI=true requires them: run `cargo xtask agents install` first"
            );
            return false;
        }
        eprintln!("warning: {what}; `cargo xtask agents install` installs the CLIs");
        return true;
    }
    let total: f64 = seconds.iter().sum();
    let longest = seconds.iter().copied().fold(0.0, f64::max);
    println!(
        "real-agent suite: {} tests ran against the real CLIs, {total:.0} s in all (longest {longest:.0} s)",
        seconds.len()
    );
    true
}
