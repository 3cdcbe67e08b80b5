//! `devflow-model-stub`, started for one test on a free port of 127.0.0.1, bounded in time and
//! ended with the test process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{DEVFLOW, repo_root};

/// The fake key every CLI gets; Claude Code approves a key by its last 20 characters.
pub const API_KEY: &str = "sk-ant-api03-devflow-fake-key-0123456789abcdefghij";

/// Starts the stub (built beside the devflow binary, or built now); its log is
/// `dir/prompts.jsonl`, its captured requests `dir/capture/`.
pub fn start(dir: &Path) -> (Child, String) {
    let stub = binary();
    let port_file = dir.join("stub.url");
    let child = Command::new(&stub)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--log")
        .arg(dir.join("prompts.jsonl"))
        .arg("--capture")
        .arg(dir.join("capture"))
        .args(["--max-seconds", "900", "--parent-pid", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", stub.display()));
    let started = Instant::now();
    while !port_file.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "the stub wrote no port file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = std::fs::read_to_string(&port_file).unwrap().trim().to_owned();
    (child, url)
}

fn binary() -> PathBuf {
    let stub = Path::new(DEVFLOW).with_file_name("devflow-model-stub");
    if !stub.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "devflow-model-stub"])
            .current_dir(repo_root())
            .status()
            .unwrap();
        assert!(status.success(), "cannot build devflow-model-stub");
    }
    stub
}
