//! An agent's processes, found through `/proc`, and ending them: SIGTERM, a short grace, then
//! SIGKILL for what is left.
//!
//! A pane's agent is the leader of its own session (tmux starts it with `setsid`). What belongs
//! to it: its descendants, the members of its session and process group, every process whose
//! environment carries the session's `DEVFLOW_SESSION_ID` (a daemon that left the session and
//! was re-parented to init still has it, unless it cleared its environment), and the processes
//! remembered while they were its descendants. Each is identified by pid *and* start time, so
//! a pid reused by an unrelated process is never signalled. Signals go through rustix (safe
//! bindings: the workspace denies `unsafe_code`).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use rustix::process::{Pid, Signal, kill_process};

use super::state::SeenPid;

/// One line of `/proc/<pid>/stat`, the fields devflow needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proc {
    seen: SeenPid,
    ppid: i32,
    pgrp: i32,
    sid: i32,
    zombie: bool,
}

fn parse_stat(text: &str) -> Option<Proc> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_once(" (")?.0.trim().parse().ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        seen: SeenPid { pid, start_ticks: fields.get(19)?.parse().ok()? },
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        sid: fields.get(3)?.parse().ok()?,
        zombie: matches!(*fields.first()?, "Z" | "X"),
    })
}

fn read_proc(pid: i32) -> Option<Proc> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process visible in `/proc`.
fn scan() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

/// Whether the process's environment holds every entry of `entries` (`KEY=value`) exactly.
fn environ_has(pid: i32, entries: &[String]) -> bool {
    let Ok(bytes) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let items: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
    !entries.is_empty() && entries.iter().all(|entry| items.contains(&entry.as_bytes()))
}

/// This process and its ancestors: never an agent's, whatever their environment says.
fn own_lineage(by_pid: &HashMap<i32, Proc>) -> BTreeSet<i32> {
    let mut lineage = BTreeSet::from([std::process::id() as i32, 0, 1]);
    let mut pid = std::process::id() as i32;
    while let Some(proc) = by_pid.get(&pid) {
        if !lineage.insert(proc.ppid) {
            break;
        }
        pid = proc.ppid;
    }
    lineage
}

/// The live descendants of `roots` (the roots included), in `procs`.
fn descendants_in(procs: &[Proc], roots: &BTreeSet<i32>) -> BTreeSet<i32> {
    let mut found = roots.clone();
    loop {
        let before = found.len();
        let children: Vec<i32> =
            procs.iter().filter(|p| found.contains(&p.ppid)).map(|p| p.seen.pid).collect();
        found.extend(children);
        if found.len() == before {
            return found;
        }
    }
}

/// The pane's agent and its descendants now: remembered so that a daemon that later leaves
/// the tree is still found.
pub(super) fn descendants(pane_pid: i32) -> Vec<SeenPid> {
    let procs = scan();
    let tree = descendants_in(&procs, &BTreeSet::from([pane_pid]));
    procs.iter().filter(|p| tree.contains(&p.seen.pid) && !p.zombie).map(|p| p.seen).collect()
}

/// Everything that belongs to an agent (see the module docs), living, not devflow's own.
pub(super) fn agent_processes(
    pane_pid: Option<i32>,
    env_entries: &[String],
    remembered: &[SeenPid],
) -> Vec<SeenPid> {
    let procs = scan();
    let by_pid: HashMap<i32, Proc> = procs.iter().map(|p| (p.seen.pid, *p)).collect();
    let mut roots: BTreeSet<i32> = remembered
        .iter()
        .filter(|seen| by_pid.get(&seen.pid).is_some_and(|p| p.seen == **seen))
        .map(|seen| seen.pid)
        .collect();
    if let Some(pane_pid) = pane_pid {
        roots.insert(pane_pid);
        roots.extend(
            procs.iter().filter(|p| p.sid == pane_pid || p.pgrp == pane_pid).map(|p| p.seen.pid),
        );
    }
    roots.extend(procs.iter().filter(|p| environ_has(p.seen.pid, env_entries)).map(|p| p.seen.pid));
    let lineage = own_lineage(&by_pid);
    let found = descendants_in(&procs, &roots);
    procs
        .iter()
        .filter(|p| found.contains(&p.seen.pid) && !p.zombie && !lineage.contains(&p.seen.pid))
        .map(|p| p.seen)
        .collect()
}

/// Whether the process is still the one seen (not gone, not a zombie, its pid not reused).
fn still_running(seen: SeenPid) -> bool {
    read_proc(seen.pid).is_some_and(|p| p.seen == seen && !p.zombie)
}

fn signal(seen: SeenPid, sig: Signal) {
    if still_running(seen)
        && let Some(pid) = Pid::from_raw(seen.pid)
    {
        // Gone in between (ESRCH) is what was wanted; not ours to signal (EPERM) cannot be
        // helped.
        let _ = kill_process(pid, sig);
    }
}

/// SIGTERM to each, up to `grace_ms` for them to exit, SIGKILL to the rest. Returns how many
/// needed the SIGKILL.
pub(super) async fn terminate(targets: &[SeenPid], grace_ms: u64, poll_ms: u64) -> usize {
    for &seen in targets {
        signal(seen, Signal::TERM);
    }
    let start = Instant::now();
    let mut left: Vec<SeenPid> = targets.to_vec();
    while !left.is_empty() && start.elapsed() < Duration::from_millis(grace_ms) {
        tokio::time::sleep(Duration::from_millis(poll_ms)).await;
        left.retain(|&seen| still_running(seen));
    }
    for &seen in &left {
        signal(seen, Signal::KILL);
    }
    left.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "4242 (my (odd) agent) S 4200 4242 4242 34816 4242 4194560 1 0 0 0 3 1 0 0 20 0 3 0 987654 1000 100";
        let proc = parse_stat(line).unwrap();
        assert_eq!(proc.seen, SeenPid { pid: 4242, start_ticks: 987654 });
        assert_eq!((proc.ppid, proc.pgrp, proc.sid, proc.zombie), (4200, 4242, 4242, false));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn this_process_is_found_and_never_an_agents() {
        let me = std::process::id() as i32;
        assert!(still_running(read_proc(me).unwrap().seen));
        let key = ["DEVFLOW_SESSION_ID=the-test-runner-has-no-such-session".to_owned()];
        assert!(agent_processes(Some(me), &key, &[]).iter().all(|seen| seen.pid != me));
    }
}
