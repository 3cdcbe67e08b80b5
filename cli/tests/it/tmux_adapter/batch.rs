//! Without a control client (the default), looks at panes that come at once share tmux
//! clients: the ready and delivery loops of many agents do not cost a process per look. A
//! pane that has gone fails no other look it was batched with. And starting an agent costs
//! two tmux clients: the listing of the run's session, and the window.

use devflow_session::{SessionAdapter, SessionHandle};
use futures_util::future::join_all;

use super::TmuxWorld;
use super::control::{commands, logged_world};

const AGENTS: usize = 8;
const ROUNDS: usize = 4;

async fn agents(world: &TmuxWorld) -> Vec<SessionHandle> {
    let mut handles = Vec::new();
    for n in 0..AGENTS {
        handles.push(world.start(&format!("role-{n}")).await);
    }
    handles
}

#[tokio::test]
async fn looks_at_many_panes_at_once_share_tmux_clients_by_default() {
    let Some((world, log)) = logged_world(|_| {}) else {
        return;
    };
    let handles = agents(&world).await;
    let before = commands(&log).len();
    for _ in 0..ROUNDS {
        let probes = join_all(handles.iter().map(|handle| world.adapter.probe(handle))).await;
        assert!(probes.into_iter().all(|probe| probe.unwrap().alive));
    }
    let started = &commands(&log)[before..];
    // One client for the first look of a round, one for the looks that queued behind it.
    assert!(
        started.len() <= 2 * ROUNDS,
        "{} tmux clients for {} looks: {started:#?}",
        started.len(),
        AGENTS * ROUNDS
    );
    world.finish(&handles.iter().collect::<Vec<_>>()).await;
}

#[tokio::test]
async fn a_pane_that_has_gone_fails_no_look_it_was_batched_with() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handles = agents(&world).await;
    let (gone, live) = handles.split_at(2);
    for handle in gone {
        world.tmux(&["kill-pane", "-t", handle.tmux_pane.as_deref().unwrap()]);
    }
    for _ in 0..ROUNDS {
        let probes = join_all(handles.iter().map(|handle| world.adapter.probe(handle))).await;
        let alive: Vec<bool> = probes.into_iter().map(|probe| probe.unwrap().alive).collect();
        let expected: Vec<bool> = (0..AGENTS).map(|n| n >= gone.len()).collect();
        assert_eq!(alive, expected);
        let screens = join_all(live.iter().map(|handle| world.adapter.capture(handle, 0))).await;
        assert!(screens.into_iter().all(|capture| capture.is_ok()));
    }
    world.finish(&live.iter().collect::<Vec<_>>()).await;
}

#[tokio::test]
async fn starting_an_agent_lists_the_run_s_session_and_makes_its_window_nothing_more() {
    let Some((world, log)) = logged_world(|_| {}) else {
        return;
    };
    let first_words = |from: usize| -> Vec<String> {
        let started = &commands(&log)[from..];
        let word = |line: &String| {
            // `-S <socket> -f <conf> <command> …`
            line.split(' ').nth(4).unwrap_or_default().to_owned()
        };
        started.iter().map(word).collect()
    };
    let first = world.start("planner").await;
    assert_eq!(first_words(0), ["list-panes", "new-session"], "the run's first agent");
    let before = commands(&log).len();
    let second = world.start("builder").await;
    assert_eq!(first_words(before), ["list-panes", "new-window"], "another role of the run");
    world.finish(&[&first, &second]).await;
}
