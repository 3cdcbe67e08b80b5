//! The binary: loopback only, its URL on stdout and in the port file, and it stops by itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STUB: &str = env!("CARGO_BIN_EXE_devflow-model-stub");
/// Longest the stub may take to stop once it should (a bound, not a measurement).
const STOP_DEADLINE: Duration = Duration::from_secs(20);

fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > STOP_DEADLINE {
            let _ = child.kill();
            panic!("the stub did not stop within {STOP_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn refuses_any_address_but_loopback() {
    let output =
        Command::new(STUB).args(["--host", "0.0.0.0", "--max-seconds", "1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("127.0.0.1 only"));
}

#[test]
fn prints_its_url_writes_the_port_file_and_stops_when_its_time_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("url");
    let mut child = Command::new(STUB)
        .args(["--max-seconds", "1", "--port-file"])
        .arg(&port_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "{line}");
    assert_eq!(std::fs::read_to_string(&port_file).unwrap(), line);
    assert!(wait_for_exit(&mut child).success());
}

#[test]
fn stops_when_its_parent_is_gone() {
    let mut parent = Command::new("sleep").arg("1").spawn().unwrap();
    let mut child = Command::new(STUB)
        .args(["--max-seconds", "600", "--parent-pid", &parent.id().to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    parent.wait().unwrap();
    assert!(wait_for_exit(&mut child).success());
}
