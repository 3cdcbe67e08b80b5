//! The command line's grammar (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "devflow",
    version,
    about = "Drive AI coding agents through a workflow of phases, unattended and crash-safe"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the run lives: the worktree and the database.
#[derive(Debug, Clone, clap::Args)]
pub struct Place {
    /// The worktree the agents work in (default: the current directory).
    #[arg(long, global = true)]
    pub worktree: Option<PathBuf>,
    /// Database URL: sqlite://PATH (a relative PATH is under the worktree) or postgres://...
    /// (default: sqlite://<worktree>/.devflow/devflow.db).
    // The value may hold a password: help never shows it.
    #[arg(long, global = true, env = "DEVFLOW_DATABASE_URL", hide_env_values = true)]
    pub db: Option<String>,
}

/// devflow makes the run's git worktrees itself, from this repository (`[worktree]` of the
/// workflow, overridden here).
#[derive(Debug, Clone, clap::Args)]
pub struct Worktrees {
    /// The git repository to make the run's worktrees from (branch `devflow/<run>`).
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// The commit, branch or tag the run's worktree starts from (default: the workflow's
    /// `[worktree] base`, else HEAD).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create .devflow/ and an example workflow in the worktree.
    Init {
        /// The agent CLI the workflow drives: claude-code, codex, gemini, aider or agent-sim
        /// (the simulated agent; the default).
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
        #[command(flatten)]
        place: Place,
    },
    /// Create a run of WORKFLOW and drive it until it completes, fails or waits for a person.
    Run {
        workflow: PathBuf,
        /// The run's id: 1 to 64 letters, digits, `-` and `_` (default: a new UUIDv7).
        #[arg(long)]
        run_id: Option<String>,
        #[command(flatten)]
        worktrees: Worktrees,
        #[command(flatten)]
        place: Place,
    },
    /// Queue a run of WORKFLOW for workers (`devflow worker`) and print its id.
    Submit {
        workflow: PathBuf,
        /// The run's id: 1 to 64 letters, digits, `-` and `_` (default: a new UUIDv7).
        #[arg(long)]
        run_id: Option<String>,
        #[command(flatten)]
        worktrees: Worktrees,
        #[command(flatten)]
        place: Place,
    },
    /// Claim submitted runs and drive up to N of them at once, until Ctrl-C.
    Worker {
        /// How many runs to drive at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1000))]
        concurrency: u16,
        /// Stop once nothing is left to claim and no run is being driven.
        #[arg(long)]
        exit_when_idle: bool,
        /// Also take over runs whose agents live on another host once their driver is gone:
        /// start fresh agents here (the ones there are not stopped), in this machine's
        /// checkout of each run's worktree.
        #[arg(long)]
        move_agents: bool,
        #[command(flatten)]
        place: Place,
    },
    /// List the live workers: host, pid, version, runs, last heartbeat.
    Workers {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Show a run (its phases and gates), or list the runs.
    Status {
        run: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Print a run's event log.
    Events {
        run: String,
        #[arg(long)]
        json: bool,
        /// Keep printing events as they are written, until the run ends.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Approve the pending gate and drive the run on.
    Approve {
        run: String,
        #[arg(long)]
        gate: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        place: Place,
    },
    /// Reject the pending gate: the phase goes back to its agent with the note.
    Reject {
        run: String,
        #[arg(long)]
        gate: Option<String>,
        #[arg(long)]
        note: String,
        #[command(flatten)]
        place: Place,
    },
    /// Continue a run after a human gate, or after devflow was killed.
    Resume {
        run: String,
        /// The run's agents live in tmux on another host: start fresh ones here instead (the
        /// ones there are not stopped), in this machine's checkout of the run's worktree.
        #[arg(long)]
        move_agents: bool,
        #[command(flatten)]
        place: Place,
    },
    /// End a run and stop its agents.
    Abort {
        run: String,
        #[command(flatten)]
        place: Place,
    },
    /// Remove the git worktrees devflow made for a run that has ended (its branch stays).
    Clean {
        run: String,
        #[command(flatten)]
        place: Place,
    },
    /// Print what the run's agents showed in their terminals.
    Transcript {
        run: String,
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        place: Place,
    },
    /// Check tmux, the database, and each role's command of a workflow.
    Doctor {
        /// The workflow whose role commands to check (default: .devflow/workflow.toml if present).
        workflow: Option<PathBuf>,
        #[command(flatten)]
        place: Place,
    },
    /// Serve the runs as web pages (live, with approve and reject) and a JSON API.
    Serve {
        /// Where to listen; beyond loopback only when you say so (then anyone who reaches it
        /// and has the printed URL can approve gates).
        #[arg(long, default_value = "127.0.0.1:7420")]
        listen: std::net::SocketAddr,
        /// Who decisions from the browser are recorded as (default: the OS user).
        #[arg(long = "as", value_name = "NAME")]
        decided_by: Option<String>,
        #[command(flatten)]
        place: Place,
    },
    /// Write a run's timeline as a self-contained HTML page or an SVG picture.
    Report {
        run: String,
        /// The page (default, to stdout when neither file is named).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// The picture alone.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        #[command(flatten)]
        place: Place,
    },
    /// Create or update the database schema.
    Migrate {
        #[command(flatten)]
        place: Place,
    },
    /// A simulated coding agent for examples and tests (see the README).
    AgentSim(AgentSim),
    /// The tap a pane's output is piped into: devflow's tmux adapter runs it, not a person.
    #[command(hide = true)]
    TmuxTap {
        /// The file the tap keeps its record in.
        state_file: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct AgentSim {
    /// [--log PATH] [--work-ms N] [--paste-ready-ms N] [--dialog trust|telemetry|yes-no
    /// [--dialog-after-ms N]]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}
