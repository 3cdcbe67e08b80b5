//! `cargo xtask bench scale [--runs N] [--work-ms MS] [--devflow PATH] [--tmux-control]`: what
//! watching many agents costs. N runs
//! of one phase each (`devflow agent-sim`, working MS before it writes its artifact) are
//! submitted in one worktree — one tmux server, a session per run — and one `devflow worker
//! --concurrency N` drives them all, on the embedded SQLite database, with the release binary
//! (or the devflow at PATH: an older build, to measure a baseline in the same session);
//! `--tmux-control` has it look at panes through tmux control mode (`DEVFLOW_TMUX_CONTROL=1`).
//!
//! While the worker runs, the bench samples `/proc` every 200 ms (it starts no process while it
//! measures): the CPU of devflow's processes — the worker (with the tmux clients it ran and
//! reaped, and its long-lived tmux control clients), the tmux server, and each pane's output
//! tap — and their resident memory; and the
//! machine's fork counter. Afterwards it reads the runs' event logs. It prints one line:
//!
//! `bench scale runs=N completed=… errors=… cpu_ms_per_agent_min=… spawns_per_s=… rss_mb=…
//! deliver_p50_ms=… deliver_p99_ms=… detect_p99_ms=…`
//!
//! - cpu_ms_per_agent_min: devflow's CPU from the worker's start to its exit, over the agents'
//!   working minutes (each run's `prompt.sent` to its `artifact.validated`); stderr says how it
//!   divides between the worker, the tmux clients it ran, the tmux server and the taps;
//! - spawns_per_s: the processes devflow started to watch its agents, per second of the
//!   worker's run: the tmux clients the worker started (it counts them, and says so when it
//!   stops), the tmux server and the panes' taps (each seen by the sampler: they live as long as
//!   their panes). The agents' own processes are not counted; stderr gives the machine's whole
//!   fork count beside it, which counts whatever else the machine ran meanwhile;
//! - rss_mb: the most resident memory devflow's processes held at once;
//! - deliver: `session.busy` (the decision to send) to `prompt.sent` (the agent was seen to take
//!   it);
//! - detect: the artifact's rename (its inode's change time) to `artifact.validated` (the wait
//!   saw it, read and validated it, and committed), with `stable_ms = 0`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Result, cargo, project_root};

const SAMPLE_EVERY: Duration = Duration::from_millis(200);
const DEADLINE: Duration = Duration::from_secs(900);

pub fn run(args: &[String]) -> Result<ExitCode> {
    let Parsed { runs, work_ms, devflow: given, control } = parse(args)?;
    let devflow = match given {
        Some(path) => path,
        None => build()?,
    };
    let dir = tempdir()?;
    let result = measure(&devflow, &dir, runs, work_ms, control);
    stop_tmux(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let line = result?;
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

struct Parsed {
    runs: usize,
    work_ms: u64,
    devflow: Option<PathBuf>,
    control: bool,
}

fn parse(args: &[String]) -> Result<Parsed> {
    let (mut runs, mut work_ms, mut devflow, mut control) = (100, 5_000, None, false);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--tmux-control" {
            control = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag} {value}: not a number"));
        match flag.as_str() {
            "--runs" => runs = number()? as usize,
            "--work-ms" => work_ms = number()?,
            "--devflow" => devflow = Some(std::path::absolute(value).map_err(|e| e.to_string())?),
            other => {
                return Err(format!(
                    "unknown argument {other}; bench scale takes --runs N --work-ms MS --devflow PATH --tmux-control"
                ));
            }
        }
    }
    Ok(Parsed { runs: runs.max(1), work_ms, devflow, control })
}

fn build() -> Result<PathBuf> {
    let status = Command::new(cargo())
        .current_dir(project_root())
        .args(["build", "--quiet", "--release", "-p", "devflow"])
        .status()
        .map_err(|error| format!("cannot run cargo build: {error}"))?;
    if !status.success() {
        return Err("cargo build --release -p devflow failed".into());
    }
    Ok(project_root().join("target/release/devflow"))
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("devflow-bench-scale-{}", std::process::id()));
    for sub in ["wt", "wf", "tmux"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|error| error.to_string())?;
    }
    Ok(dir)
}

fn devflow(exe: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(exe);
    command
        .args(args)
        .current_dir(dir.join("wt"))
        .env("TMUX_TMPDIR", dir.join("tmux"))
        .env("NO_COLOR", "1")
        .env_remove("DEVFLOW_DATABASE_URL")
        .env_remove("TMUX")
        .stdin(Stdio::null());
    command
}

fn measure(exe: &Path, dir: &Path, runs: usize, work_ms: u64, control: bool) -> Result<String> {
    let ids: Vec<String> = (0..runs).map(|n| format!("s{n:03}")).collect();
    for id in &ids {
        let workflow = workflow(dir, id, work_ms)?;
        let submitted = devflow(exe, dir, &["submit", &workflow, "--run-id", id])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|error| error.to_string())?;
        if !submitted.status.success() {
            return Err(format!("submit {id}: {}", String::from_utf8_lossy(&submitted.stderr)));
        }
    }
    let forks_before = forks()?;
    let started = Instant::now();
    let concurrency = runs.to_string();
    let mut worker =
        devflow(exe, dir, &["worker", "--concurrency", &concurrency, "--exit-when-idle"]);
    if control {
        worker.env("DEVFLOW_TMUX_CONTROL", "1");
    }
    // Its notes go to a file: a pipe nobody reads while it runs could fill and stop it.
    let log_path = dir.join("worker.log");
    let log = std::fs::File::create(&log_path).map_err(|error| error.to_string())?;
    let mut worker = worker
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|error| format!("cannot start the worker: {error}"))?;
    let cpu = sample_until_exit(&mut worker, dir)?;
    let elapsed = started.elapsed();
    let machine_forks = forks()? - forks_before;
    let log = std::fs::read_to_string(&log_path).map_err(|error| error.to_string())?;
    let clients = clients_started(&log).ok_or_else(|| {
        format!("the worker did not say how many tmux clients it started:\n{log}")
    })?;
    let spawned = clients + cpu.taps + cpu.servers;

    let mut completed = 0;
    let (mut deliver, mut detect, mut agent_ms) = (Vec::new(), Vec::new(), 0.0);
    for id in &ids {
        let events = events(exe, dir, id)?;
        let at = |kind: &str| {
            events.iter().find(|e| e["type"] == kind).and_then(|e| e["created_at"].as_i64())
        };
        if status(exe, dir, id)? == "completed" {
            completed += 1;
        }
        if let (Some(busy), Some(sent)) = (at("session.busy"), at("prompt.sent")) {
            deliver.push((sent - busy) as f64);
        }
        if let (Some(sent), Some(validated)) = (at("prompt.sent"), at("artifact.validated")) {
            agent_ms += (validated - sent) as f64;
            let artifact = dir.join("wt").join(format!("out/{id}/plan.json"));
            if let Some(renamed) = change_time_ms(&artifact) {
                detect.push((validated - renamed) as f64);
            }
        }
    }
    let agent_min = (agent_ms / 60_000.0).max(f64::EPSILON);
    let per_agent_min = |ms: f64| ms / agent_min;
    eprintln!(
        "bench scale: processes devflow started: {clients} tmux clients, {} tmux servers, {} taps; the machine forked {machine_forks} in all",
        cpu.servers, cpu.taps
    );
    eprintln!(
        "bench scale: cpu ms per agent-minute by part: worker={:.0} tmux_clients={:.0} tmux_server={:.0} taps={:.0}; {:.1} agent-minutes in {:.1} s",
        per_agent_min(cpu.worker_ms),
        per_agent_min(cpu.clients_ms),
        per_agent_min(cpu.server_ms),
        per_agent_min(cpu.taps_ms),
        agent_min,
        elapsed.as_secs_f64(),
    );
    Ok(format!(
        "bench scale runs={runs} completed={completed} errors={} cpu_ms_per_agent_min={:.0} spawns_per_s={:.1} rss_mb={:.0} deliver_p50_ms={:.0} deliver_p99_ms={:.0} detect_p99_ms={:.0}",
        runs - completed,
        per_agent_min(cpu.total_ms()),
        spawned as f64 / elapsed.as_secs_f64(),
        cpu.peak_rss_kb as f64 / 1024.0,
        percentile(&mut deliver, 0.50),
        percentile(&mut deliver, 0.99),
        percentile(&mut detect, 0.99),
    ))
}

/// The number in the worker's last line, `…; N tmux clients started`.
fn clients_started(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|line| line.ends_with(" tmux clients started"))?;
    line.trim_end_matches(" tmux clients started").rsplit(' ').next()?.parse().ok()
}

/// One phase whose agent works `work_ms`, then writes `out/<id>/plan.json` (its own folder:
/// all runs share the worktree).
fn workflow(dir: &Path, id: &str, work_ms: u64) -> Result<String> {
    let schema =
        r#"{"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}"#;
    let wf = dir.join("wf");
    std::fs::write(wf.join("plan.schema.json"), schema).map_err(|error| error.to_string())?;
    let text = format!(
        "name = \"scale\"\n\n[roles.agent]\ncommand = [\"devflow\", \"agent-sim\", \"--work-ms\", \"{work_ms}\"]\n\n\
         [[phases]]\nkey = \"plan\"\nrole = \"agent\"\nartifact = \"out/{id}/plan.json\"\nschema = \"plan.schema.json\"\n\
         instructions = '''\nWrite the plan.\nScenario: ok\n```json\n{{\"title\": \"{id}\"}}\n```\n'''\n\n\
         [phases.wait]\ntimeout_ms = 600000\nstable_ms = 0\n"
    );
    let path = wf.join(format!("{id}.toml"));
    std::fs::write(&path, text).map_err(|error| error.to_string())?;
    Ok(path.display().to_string())
}

/// devflow's CPU, by where it went, and its memory at most.
struct Cpu {
    /// The worker process itself.
    worker_ms: f64,
    /// The tmux clients the worker ran (and reaped), and its control clients.
    clients_ms: f64,
    /// The tmux server.
    server_ms: f64,
    /// The panes' output taps.
    taps_ms: f64,
    peak_rss_kb: u64,
    /// How many taps and tmux servers the samples saw.
    taps: u64,
    servers: u64,
}

impl Cpu {
    fn total_ms(&self) -> f64 {
        self.worker_ms + self.clients_ms + self.server_ms + self.taps_ms
    }
}

/// Samples devflow's processes until the worker exits: the worker (its own CPU and that of the
/// children it reaped, the tmux clients), the tmux server, and every `tmux-tap`. The last
/// sample of each process counts (CPU only grows), so a tap that ended keeps what it used.
fn sample_until_exit(worker: &mut Child, dir: &Path) -> Result<Cpu> {
    let started = Instant::now();
    let ticks_per_ms = CLOCK_TICKS_PER_S / 1000.0;
    // The last ticks seen of each tap, tmux server and control client, by pid.
    let (mut taps, mut servers, mut controls): (
        HashMap<u32, u64>,
        HashMap<u32, u64>,
        HashMap<u32, u64>,
    ) = Default::default();
    let mut peak_rss_kb = 0;
    let socket = dir.join("wt/.devflow/tmux.sock");
    let (mut worker_ticks, mut client_ticks) = (0, 0);
    loop {
        let exited = worker.try_wait().map_err(|error| error.to_string())?.is_some();
        if let Some(stat) = read_stat(worker.id()) {
            (worker_ticks, client_ticks) = (stat.ticks, stat.children_ticks);
        }
        let mut rss = rss_kb(worker.id());
        for (pid, cmdline) in processes() {
            // The server keeps the command line of the client that started it, which may
            // name the tap of the first pane: a tap is a process that is not tmux.
            let tmux = is_tmux(&cmdline) && cmdline.contains(socket.to_str().unwrap_or(""));
            let tap = !is_tmux(&cmdline) && cmdline.contains("tmux-tap");
            let Some(stat) = read_stat(pid) else { continue };
            let child = stat.parent == worker.id();
            match (tap, tmux, child) {
                (true, _, _) => taps.insert(pid, stat.ticks),
                (false, true, false) => servers.insert(pid, stat.ticks),
                // A control client lives as long as the worker, which never reaps it. (One it
                // replaced and reaped counts twice: an overcount.)
                (false, true, true) if cmdline.contains(" -C ") => controls.insert(pid, stat.ticks),
                // The other tmux clients count in the worker's children's time once reaped.
                _ => continue,
            };
            rss += rss_kb(pid);
        }
        peak_rss_kb = peak_rss_kb.max(rss);
        if exited {
            break;
        }
        if started.elapsed() > DEADLINE {
            let _ = worker.kill();
            return Err(format!("the worker ran longer than {DEADLINE:?}"));
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
    let ms = |ticks: u64| ticks as f64 / ticks_per_ms;
    Ok(Cpu {
        worker_ms: ms(worker_ticks),
        clients_ms: ms(client_ticks + controls.values().sum::<u64>()),
        server_ms: ms(servers.values().sum()),
        taps_ms: ms(taps.values().sum()),
        peak_rss_kb,
        taps: taps.len() as u64,
        servers: servers.len() as u64,
    })
}

struct Stat {
    parent: u32,
    ticks: u64,
    children_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    // Fields 14–17 (utime, stime, cutime, cstime), counted from field 3 after the name.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let parent = field(4) as u32;
    Some(Stat { parent, ticks: field(14) + field(15), children_ticks: field(16) + field(17) })
}

/// A tmux process, however its program was named (`tmux`, `/usr/bin/tmux`). The server keeps
/// the command line of the client that started it.
fn is_tmux(cmdline: &str) -> bool {
    let program = cmdline.split(' ').next().unwrap_or_default();
    program == "tmux" || program.ends_with("/tmux")
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn processes() -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| {
            let pid = entry.ok()?.file_name().to_str()?.parse::<u32>().ok()?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            Some((pid, cmdline))
        })
        .collect()
}

/// The machine's process-creation counter (`processes` in /proc/stat).
fn forks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|error| error.to_string())?;
    stat.lines()
        .find_map(|line| line.strip_prefix("processes "))
        .and_then(|count| count.trim().parse().ok())
        .ok_or_else(|| "no processes line in /proc/stat".to_owned())
}

/// USER_HZ, the unit of /proc's CPU times: 100 on every Linux architecture devflow runs on.
const CLOCK_TICKS_PER_S: f64 = 100.0;

fn change_time_ms(path: &Path) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(meta.ctime() * 1000 + meta.ctime_nsec() / 1_000_000)
}

fn events(exe: &Path, dir: &Path, id: &str) -> Result<Vec<Value>> {
    let out = devflow(exe, dir, &["events", id, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .map_err(|error| error.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

fn status(exe: &Path, dir: &Path, id: &str) -> Result<String> {
    let out = devflow(exe, dir, &["status", id, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .map_err(|error| error.to_string())?;
    let status: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Ok(status["state"].as_str().unwrap_or("unknown").to_owned())
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// The bench's tmux server goes with it (by its socket, never by name).
fn stop_tmux(dir: &Path) {
    let _ = Command::new("tmux")
        .arg("-S")
        .arg(dir.join("wt/.devflow/tmux.sock"))
        .arg("kill-server")
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::clients_started;

    #[test]
    fn the_tmux_clients_a_worker_started_are_read_from_its_last_line() {
        let log = "devflow worker: w1 drives up to 4 run(s)\n\
                   devflow worker: stopped: 3 completed, 0 waiting for a person, 0 failed or aborted, 0 stopped by an error; 1234 tmux clients started\n";
        assert_eq!(clients_started(log), Some(1234));
        assert_eq!(clients_started("devflow worker: stopped early\n"), None);
    }
}
