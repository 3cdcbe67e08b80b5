//! Whether each role's agent command can be started: the one look-up `doctor` reports and
//! `run`, `resume`, `approve` and `reject` check before they drive, so that a missing agent CLI
//! is refused at once instead of ending a phase as `prompt_send_exhausted`.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error, PhaseState};
use devflow_db::{Db, RunRow};
use devflow_phase::Workflow;
use devflow_phase::workflow::RoleCommand;

/// Words a shell line can start with that are not a program on `PATH`; such a line is not
/// checked (the shell finds out).
const SHELL_WORDS: &[&str] = &[
    "exec", "cd", "command", ".", "source", "eval", "export", "set", "if", "for", "while", "case",
    "{", "(", "!", "builtin", "unset",
];

/// What the look-up found for one role.
pub enum Found {
    At(PathBuf),
    /// A shell line whose program only the shell can tell (`cd x && agent`).
    NotChecked,
    Missing(String),
}

/// Where a role's program is.
pub fn find_role(command: &RoleCommand) -> Found {
    let program = match command {
        RoleCommand::Argv(argv) => argv.first().map(String::as_str),
        // `VAR=value agent …`: the program is the first word that is not an assignment.
        RoleCommand::Shell(line) => {
            let word = line.split_whitespace().find(|word| !is_assignment(word));
            match word {
                Some(word) if SHELL_WORDS.contains(&word) => return Found::NotChecked,
                Some(word) if word.contains(['$', '`', '"', '\'', '*', '?', '~']) => {
                    return Found::NotChecked;
                }
                other => other,
            }
        }
    };
    let Some(program) = program.filter(|program| !program.is_empty()) else {
        return Found::Missing(String::new());
    };
    match find_program(program) {
        Some(path) => Found::At(path),
        None => Found::Missing(program.to_owned()),
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Where a program is: `devflow` is this binary; a path is checked as is; a name on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program == "devflow" {
        return std::env::current_exe().ok();
    }
    if program.contains('/') {
        return Path::new(program).is_file().then(|| PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

/// Refuses (exit 2) when a role in `roles` has a program that is not there.
pub fn check_roles<'a>(
    workflow: &Workflow,
    roles: impl IntoIterator<Item = &'a str>,
) -> Result<(), Error> {
    for name in roles {
        let Some(role) = workflow.roles.get(name) else { continue };
        if let Found::Missing(program) = find_role(&role.command) {
            return Err(missing(name, &program));
        }
    }
    Ok(())
}

/// Refuses (exit 2) when an agent the run still needs cannot be started: the roles of its
/// phases that are not completed, as its stored workflow names them.
pub async fn check_run_roles(db: &Db, run: &RunRow) -> Result<(), Error> {
    let workflow = Workflow::from_definition(&run.definition)?;
    let id = run.id.clone();
    let phases = db.read(move |tx| Box::pin(async move { tx.phases(&id).await })).await?;
    let roles: Vec<&str> = phases
        .iter()
        .filter(|phase| phase.state != PhaseState::Completed)
        .filter_map(|phase| workflow.phase(&phase.phase_key))
        .map(|def| def.role.as_str())
        .collect();
    check_roles(&workflow, roles)
}

fn missing(role: &str, program: &str) -> Error {
    let what = if program.is_empty() {
        format!("role {role} has no command")
    } else {
        format!("role {role}'s command {program:?} is not on PATH")
    };
    Error::new(Code::InvalidInput, what).with_hint(format!(
        "install it, or change [roles.{role}] command in the workflow; `devflow doctor WORKFLOW` checks every role"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(line: &str) -> Found {
        find_role(&RoleCommand::Shell(line.to_owned()))
    }

    #[test]
    fn a_shell_line_is_checked_by_its_first_program_word() {
        assert!(matches!(shell("FOO=1 sh -c true"), Found::At(_)));
        assert!(
            matches!(shell("no-such-agent-cli --yes"), Found::Missing(p) if p == "no-such-agent-cli")
        );
        assert!(matches!(shell("cd sub && no-such-agent-cli"), Found::NotChecked));
        assert!(matches!(shell("$AGENT --yes"), Found::NotChecked));
        assert!(matches!(find_role(&RoleCommand::Argv(vec![])), Found::Missing(p) if p.is_empty()));
    }
}
