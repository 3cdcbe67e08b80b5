//! The `devflow-agent-sim` binary: agent-sim without the devflow CLI, for this crate's tmux tests.

use std::process::ExitCode;

use devflow_session::agent_sim::{AgentSimArgs, run};

fn main() -> ExitCode {
    match AgentSimArgs::parse(std::env::args().skip(1)) {
        Ok(args) => run(args),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
