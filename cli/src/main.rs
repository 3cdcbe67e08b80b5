//! The `devflow` command line: parses arguments, runs one command, maps its result to an exit status.

#[macro_use]
mod output;
mod args;
mod commands;
mod context;
mod exit;
mod logs;
mod programs;
mod progress;
mod signals;
mod tmux;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    if let args::Command::AgentSim(sim) = &args.command {
        // agent-sim owns the terminal: no runtime, no logs.
        return commands::agent_sim::run(sim);
    }
    if let args::Command::TmuxTap { state_file } = args.command {
        // The tap reads a pane's output until it ends: no runtime, no logs.
        return devflow_session::tmux::tap::run([state_file]);
    }
    logs::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return exit::io_failure(&format!("cannot start the async runtime: {error}")),
    };
    let result = runtime.block_on(commands::dispatch(args));
    exit::finish(result)
}
