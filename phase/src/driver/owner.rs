//! Who holds a lease: `host:pid:start:uuid`, where `start` is the process's start time (clock
//! ticks since boot, field 22 of `/proc/PID/stat`). On the holder's own host that is enough to
//! tell, without waiting out the lease, that the holder is gone: no process with that pid, or
//! one that started at another time (the pid was reused).

/// A lease owner id for this process.
pub fn owner_id() -> String {
    let start = process_start(std::process::id()).unwrap_or(0);
    format!("{}:{}:{start}:{}", hostname(), std::process::id(), uuid::Uuid::new_v4())
}

/// The environment variable that names this machine for devflow, where its own name is not
/// one of its own (containers that share a name); tests use it to be two hosts on one machine.
pub const HOST_VAR: &str = "DEVFLOW_HOST";

/// This machine's name: where a run's agents live.
pub fn hostname() -> String {
    if let Some(name) = std::env::var(HOST_VAR).ok().filter(|name| !name.trim().is_empty()) {
        return name.trim().to_owned();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// What can be seen of a lease holder from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// On this host, and its process is gone.
    Dead,
    /// On another host (or an id this devflow cannot read): only its lease's expiry tells.
    Unknown,
}

/// Whether the holder `owner` is alive, as far as this host can see.
pub fn liveness(owner: &str) -> Liveness {
    let mut parts = owner.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next().and_then(|pid| pid.parse().ok()))
    else {
        return Liveness::Unknown;
    };
    if host != hostname() || !std::path::Path::new("/proc/self/stat").exists() {
        return Liveness::Unknown;
    }
    let started = parts.next().and_then(|start| start.parse::<u64>().ok()).filter(|&s| s > 0);
    match (process_start(pid), started) {
        (None, _) => Liveness::Dead,
        (Some(now), Some(then)) if now != then => Liveness::Dead,
        (Some(_), _) => Liveness::Alive,
    }
}

/// The start time of process `pid` in clock ticks since boot; `None` if there is none, or only
/// its zombie (it has exited; its parent has not reaped it yet).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')': the fields
    // after the last ')' start at field 3 (state); starttime is field 22.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(22 - 4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = owner_id();
        assert_eq!(liveness(&me), Liveness::Alive, "{me}");
        let pid = std::process::id();
        let reused = format!("{}:{pid}:1:x", hostname());
        assert_eq!(liveness(&reused), Liveness::Dead, "another start time is another process");
    }

    #[test]
    fn a_gone_process_is_dead_and_another_host_unknown() {
        // Above any pid_max Linux allows (2^22): never a process.
        let gone = 1 << 30;
        assert_eq!(liveness(&format!("{}:{gone}:5:x", hostname())), Liveness::Dead);
        assert_eq!(liveness(&format!("elsewhere-{}:1:1:x", hostname())), Liveness::Unknown);
        assert_eq!(liveness("not an owner id"), Liveness::Unknown);
    }
}
