//! `devflow agent-sim`: the simulated agent (the devflow-agent-sim crate's), for examples and
//! tests.

use std::process::ExitCode;

use devflow_agent_sim::{self as agent_sim, AgentSimArgs};

use crate::args::AgentSim;

pub fn run(args: &AgentSim) -> ExitCode {
    match AgentSimArgs::parse(args.args.iter().cloned()) {
        Ok(parsed) => agent_sim::run(parsed),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(crate::exit::REFUSED)
        }
    }
}
