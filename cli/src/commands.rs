//! One file per command; `dispatch` picks it.

pub mod abort;
pub mod agent_sim;
pub mod approve;
pub mod clean;
pub mod doctor;
mod driving;
pub mod events;
pub mod init;
pub mod migrate;
pub mod reject;
pub mod report;
pub mod resume;
pub mod run;
pub mod serve;
pub mod status;
pub mod submit;
pub mod transcript;
pub mod worker;
pub mod workers;

use devflow_core::Error;

use crate::args::{Args, Command};
use crate::exit::Status;

pub async fn dispatch(args: Args) -> Result<Status, Error> {
    match args.command {
        Command::Init { agent, place } => init::run(agent.as_deref(), &place).await,
        Command::Run { workflow, run_id, worktrees, place } => {
            run::run(&workflow, run_id, &worktrees, &place).await
        }
        Command::Submit { workflow, run_id, worktrees, place } => {
            submit::run(&workflow, run_id, &worktrees, &place).await
        }
        Command::Worker { concurrency, exit_when_idle, move_agents, place } => {
            let concurrency = usize::from(concurrency);
            worker::run(worker::Settings { concurrency, exit_when_idle, move_agents }, &place).await
        }
        Command::Workers { json, place } => workers::run(json, &place).await,
        Command::Status { run, json, place } => status::run(run.as_deref(), json, &place).await,
        Command::Events { run, json, follow, place } => {
            events::run(&run, json, follow, &place).await
        }
        Command::Approve { run, gate, note, place } => approve::run(&run, gate, note, &place).await,
        Command::Reject { run, gate, note, place } => reject::run(&run, gate, note, &place).await,
        Command::Resume { run, move_agents, place } => resume::run(&run, move_agents, &place).await,
        Command::Abort { run, place } => abort::run(&run, &place).await,
        Command::Clean { run, place } => clean::run(&run, &place).await,
        Command::Transcript { run, role, place } => {
            transcript::run(&run, role.as_deref(), &place).await
        }
        Command::Doctor { workflow, place } => doctor::run(workflow.as_deref(), &place).await,
        Command::Migrate { place } => migrate::run(&place).await,
        Command::Serve { listen, decided_by, place } => {
            serve::run(listen, decided_by, &place).await
        }
        Command::Report { run, html, svg, place } => {
            report::run(&run, html.as_deref(), svg.as_deref(), &place).await
        }
        Command::AgentSim(_) => unreachable!("agent-sim runs before the runtime starts"),
        Command::TmuxTap { .. } => unreachable!("the tmux tap runs before the runtime starts"),
    }
}
