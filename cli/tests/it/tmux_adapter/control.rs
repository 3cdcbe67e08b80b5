//! With `control_mode`, looking at panes goes through one tmux control-mode client per server:
//! no tmux process per look, one client shared by the adapters of a process, and a client that
//! goes away is replaced without a look failing. Without it (the default) there is none.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use devflow_session::SessionAdapter;
use devflow_session::tmux::TmuxConfig;

use super::TmuxWorld;
use super::support::eventually;

/// A world whose adapter (with the default config but for `adjust`) runs tmux through a
/// wrapper that logs every invocation.
pub(super) fn logged_world(adjust: impl FnOnce(&mut TmuxConfig)) -> Option<(TmuxWorld, PathBuf)> {
    let dir = tempfile::tempdir().unwrap().keep();
    let log = dir.join("tmux-invocations.log");
    let real = which_tmux()?;
    let wrapper = dir.join("tmux");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        real.display()
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let world = TmuxWorld::with_config(|config| {
        config.tmux_bin = wrapper;
        adjust(config);
    })?;
    Some((world, log))
}

fn which_tmux() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path).map(|dir| dir.join("tmux")).find(|p| p.is_file());
    if found.is_none() {
        // TmuxWorld says SKIPPED (and fails under CI=true) for a missing tmux.
        TmuxWorld::new()?;
    }
    found
}

/// The invocations logged so far, without the control clients' own starts.
pub(super) fn commands(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|line| !line.contains(" -C attach-session")).map(str::to_owned).collect()
}

fn control_clients(world: &TmuxWorld) -> Vec<String> {
    let listing = world.tmux(&["list-clients", "-F", "#{client_control_mode} #{client_pid}"]);
    listing.lines().filter_map(|line| line.strip_prefix("1 ")).map(str::to_owned).collect()
}

#[tokio::test]
async fn probes_and_captures_start_no_tmux_process() {
    let Some((world, log)) = logged_world(|config| config.control_mode = true) else {
        return;
    };
    let handle = world.start("planner").await;
    world.transcript_with(&handle, "agent-sim ready").await;
    let before = commands(&log);
    for _ in 0..25 {
        assert!(world.adapter.probe(&handle).await.unwrap().alive);
        world.adapter.capture(&handle, 0).await.unwrap();
    }
    let after = commands(&log);
    assert_eq!(after[before.len()..], [] as [String; 0], "tmux clients started for 50 looks");
    assert_eq!(control_clients(&world).len(), 1);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn adapters_on_one_server_share_one_control_client() {
    let Some(world) = TmuxWorld::with_config(|config| config.control_mode = true) else {
        return;
    };
    let handle = world.start("planner").await;
    let second = world.restarted_adapter_with(|config| config.control_mode = true);
    for _ in 0..3 {
        assert!(world.adapter.probe(&handle).await.unwrap().alive);
        assert!(second.probe(&handle).await.unwrap().alive);
    }
    assert_eq!(control_clients(&world).len(), 1);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_control_client_that_is_killed_is_replaced_and_no_look_fails() {
    let Some(world) = TmuxWorld::with_config(|config| config.control_mode = true) else {
        return;
    };
    let handle = world.start("planner").await;
    assert!(world.adapter.probe(&handle).await.unwrap().alive);
    let [first] = &control_clients(&world)[..] else {
        panic!("one control client: {:?}", control_clients(&world));
    };
    let killed = std::process::Command::new("kill").args(["-9", first]).status().unwrap();
    assert!(killed.success());
    let replaced = eventually("a new control client", async || {
        assert!(world.adapter.probe(&handle).await.unwrap().alive, "a look failed");
        let clients = control_clients(&world);
        (clients.len() == 1 && clients[0] != *first).then_some(())
    })
    .await;
    assert_eq!(replaced, ());
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn when_the_session_the_client_is_attached_to_ends_the_next_look_attaches_another() {
    let Some(world) = TmuxWorld::with_config(|config| config.control_mode = true) else {
        return;
    };
    let first = world.start("planner").await;
    let mut other_run = world.spec("planner");
    other_run.run_id = "run-2".to_owned();
    let second = world.adapter.start(&other_run).await.unwrap();
    assert!(world.adapter.probe(&first).await.unwrap().alive);
    let attached = || -> Vec<String> {
        let listing = world.tmux(&["list-clients", "-F", "#{client_control_mode} #{session_name}"]);
        listing.lines().filter_map(|line| line.strip_prefix("1 ")).map(str::to_owned).collect()
    };
    let [session]: [String; 1] = attached().try_into().unwrap();
    let (gone, kept) = if Some(&session) == first.tmux_session.as_ref() {
        (&first, &second)
    } else {
        (&second, &first)
    };
    world.tmux(&["kill-session", "-t", &format!("={session}")]);
    assert!(!world.adapter.probe(gone).await.unwrap().alive);
    assert!(world.adapter.probe(kept).await.unwrap().alive);
    let now: Vec<String> = attached();
    assert_eq!(now, [kept.tmux_session.clone().unwrap()]);
    world.finish(&[kept]).await;
}

#[tokio::test]
async fn without_control_mode_there_is_no_control_client() {
    // The default: tmux 3.3a's server crashes now and then under a control client.
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    assert!(world.adapter.probe(&handle).await.unwrap().alive);
    assert_eq!(control_clients(&world), [] as [String; 0]);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn the_control_client_ends_with_the_last_adapter_of_its_server() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    let looker = world.restarted_adapter_with(|config| config.control_mode = true);
    assert!(looker.probe(&handle).await.unwrap().alive);
    let [pid] = &control_clients(&world)[..] else {
        panic!("one control client: {:?}", control_clients(&world));
    };
    drop(looker);
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(!proc_dir.exists(), "the control client {pid} outlived its adapter");
    eventually("the server to forget the client", async || {
        control_clients(&world).is_empty().then_some(())
    })
    .await;
    world.finish(&[&handle]).await;
}
