//! `devflow-model-stub`: serves the stub model on 127.0.0.1 until its time is up or its parent
//! is gone, and prints its base URL (see the library's docs for the script and the log).

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use devflow_model_stub::{Stub, router};

/// How often the stub looks whether its parent still lives.
const PARENT_POLL_MS: u64 = 250;

#[derive(Debug, Parser)]
#[command(name = "devflow-model-stub", about = "A local model service for the real agent CLIs")]
struct Args {
    /// The address to listen on; only 127.0.0.1 is accepted (the stub is never on a network).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Also write the base URL to this file (complete when it appears).
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// Stop after this many seconds, whatever happens.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
    /// Stop when the process with this id is gone.
    #[arg(long)]
    parent_pid: Option<u32>,
    /// Append every new prompt the model receives to this file, one JSON line each.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Save every request, as received, as a JSON file in this folder.
    #[arg(long)]
    capture: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.host != "127.0.0.1" && args.host != "localhost" {
        eprintln!(
            "error: --host {}: the stub listens on 127.0.0.1 only\n  hint: leave --host out",
            args.host
        );
        return ExitCode::from(2);
    }
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {address}: {error}");
            return ExitCode::from(2);
        }
    };
    let url = format!("http://{}", listener.local_addr().expect("a bound socket has an address"));
    if let Some(path) = &args.port_file
        && let Err(error) = write_atomically(path, &url)
    {
        eprintln!("error: cannot write {}: {error}", path.display());
        return ExitCode::from(2);
    }
    println!("{url}");
    let _ = std::io::stdout().flush();
    let stub = Arc::new(Stub::new(args.log, args.capture));
    let stop = stop_signal(args.max_seconds, args.parent_pid);
    match axum::serve(listener, router(stub)).with_graceful_shutdown(stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves when the time is up, the parent is gone, or SIGTERM/SIGINT arrives.
async fn stop_signal(max_seconds: u64, parent_pid: Option<u32>) {
    let parent_gone = async {
        match parent_pid {
            Some(pid) => {
                while is_alive(pid) {
                    tokio::time::sleep(Duration::from_millis(PARENT_POLL_MS)).await;
                }
                eprintln!("devflow-model-stub: parent {pid} is gone; stopping");
            }
            None => std::future::pending().await,
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler installs");
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(max_seconds)) => {
            eprintln!("devflow-model-stub: {max_seconds} s are up; stopping");
        }
        () = parent_gone => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// A process is alive while `/proc/PID` exists and is not a zombie.
fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: "PID (comm) S ...".
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        }
        Err(_) => false,
    }
}

fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, format!("{text}\n"))?;
    std::fs::rename(&temporary, path)
}
