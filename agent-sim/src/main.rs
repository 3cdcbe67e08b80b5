//! The `devflow-agent-sim` binary: agent-sim without the devflow CLI (`devflow agent-sim` runs
//! the same function).

use std::process::ExitCode;

use devflow_agent_sim::{AgentSimArgs, run};

fn main() -> ExitCode {
    match AgentSimArgs::parse(std::env::args().skip(1)) {
        Ok(args) => run(args),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
