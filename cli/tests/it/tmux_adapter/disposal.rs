//! Disposal ends everything an agent started: its children, its grandchildren, and a daemon
//! that left its session and its parent.

use std::path::Path;

use devflow_session::SessionAdapter;

use super::TmuxWorld;
use super::support::eventually;

/// Whether `pid` is gone (or only a zombie waiting for a parent that does not reap it).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start()).unwrap_or("");
            state.starts_with('Z') || state.starts_with('X')
        }
    }
}

fn pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect()
}

#[tokio::test]
async fn dispose_ends_the_whole_process_tree_and_a_setsid_daemon() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let file = world.worktree().join("pids");
    // Two children, and a daemon: its own session, its parent gone (re-parented to init).
    let script = format!(
        "sleep 1000 & echo $! >> '{f}'; sleep 1000 & echo $! >> '{f}'; \
         setsid sh -c 'sleep 1000 & echo $! >> \"$0\"' '{f}' & wait",
        f = file.display()
    );
    let handle = world.adapter.start(&world.shell_spec("planner", &script)).await.unwrap();
    let started = eventually("three pids", async || {
        let found = pids(&file);
        (found.len() == 3).then_some(found)
    })
    .await;
    assert!(started.iter().all(|&pid| !gone(pid)));

    world.adapter.dispose(&handle).await.unwrap();
    let survivors: Vec<i32> = started.iter().copied().filter(|&pid| !gone(pid)).collect();
    assert!(survivors.is_empty(), "survived dispose: {survivors:?}");
    world.finish(&[]).await;
}

#[tokio::test]
async fn a_runs_agents_all_end_with_it() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let planner = world.start("planner").await;
    let reviewer = world.start("reviewer").await;
    let pids: Vec<i32> = [&planner, &reviewer].iter().map(|h| h.pane_pid.unwrap() as i32).collect();
    assert_eq!(world.adapter.dispose_run("run-1").await.unwrap(), 2);
    assert!(pids.iter().all(|&pid| gone(pid)), "{pids:?}");
    assert!(world.adapter.resume(&planner).await.is_err());
    assert_eq!(world.adapter.dispose_run("run-1").await.unwrap(), 0, "nothing left");
    world.finish(&[]).await;
}
