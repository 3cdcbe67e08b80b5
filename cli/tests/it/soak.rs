//! A random `kill -9` soak: three-phase runs driven by `devflow agent-sim` in real tmux, devflow
//! killed at a random moment (once or twice per run) and resumed each time. Every run must
//! complete, and no prompt reach an agent twice (agent-sim logs each prompt it takes; each
//! prompt's first line is its marker). The seed is printed, and `DEVFLOW_SOAK_SEED` replays it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{Phase, World, finish, instructions};

/// Runs at once (each its own worktree, tmux server and database), and how many such rounds.
const PARALLEL: usize = 4;
const ROUNDS: usize = 2;
const KILLS_PER_RUN_MAX: u64 = 2;
/// Kills land within this long after a command starts: a three-phase run takes a few seconds.
const KILL_WINDOW_MS: u64 = 5_000;

/// A small deterministic generator (xorshift64*), so that a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

fn seed() -> u64 {
    std::env::var("DEVFLOW_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        now.as_nanos() as u64 | 1
    })
}

#[test]
fn random_kill_9_of_three_phase_runs_every_run_completes_and_no_prompt_twice() {
    let seed = seed();
    eprintln!("soak seed {seed} (DEVFLOW_SOAK_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    for round in 0..ROUNDS {
        let seeds: Vec<u64> = (0..PARALLEL).map(|_| rng.below(u64::MAX) | 1).collect();
        std::thread::scope(|scope| {
            for (i, run_seed) in seeds.into_iter().enumerate() {
                scope.spawn(move || soak_one(round * PARALLEL + i, &mut Rng(run_seed), seed));
            }
        });
    }
}

fn soak_one(n: usize, rng: &mut Rng, seed: u64) {
    let world = World::new();
    let slow = Phase {
        // Chunks ~400 ms apart; a quiet 1.5 s is the end of the write, even on a loaded machine.
        instructions: instructions("build", "slow", "ok", "Slow-Ms: 1200"),
        // 400 ms between chunks, with room for an agent starved on a loaded machine.
        stable_ms: 2_500,
        role: "builder",
        ..Phase::new("build", "slow")
    };
    let phases =
        [Phase::new("plan", "ok"), slow, Phase { role: "reviewer", ..Phase::new("review", "ok") }];
    let workflow = world.workflow(&phases);
    let run_id = format!("soak{n}");
    let mut args =
        vec!["run".to_owned(), workflow.display().to_string(), "--run-id".into(), run_id.clone()];
    let kills = 1 + rng.below(KILLS_PER_RUN_MAX);
    let mut history = Vec::new();
    for _ in 0..kills {
        let after_ms = 100 + rng.below(KILL_WINDOW_MS);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = world.spawn(&argv);
        std::thread::sleep(Duration::from_millis(after_ms));
        let ended_first = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let run = finish(child, &argv);
        history.push(format!(
            "{argv:?} killed after {after_ms} ms (ended first: {ended_first}, exit {})",
            run.code
        ));
        // Killed before it created the run (a loaded machine): start it again, else resume it.
        if world.devflow(&["status", &run_id]).code == 0 {
            args = vec!["resume".to_owned(), run_id.clone()];
        }
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let last = world.devflow(&argv);
    let status = world.status(&run_id);
    let report = format!(
        "soak run {n} (seed {seed}): {}\nlast command: {last:?}\nevents: {:#?}\nprompts: {:#?}",
        history.join("\n"),
        world.event_kinds(&run_id),
        world.prompts()
    );
    // A resume of a completed run is refused; the run's state is the verdict.
    assert_eq!(status["state"], "completed", "{report}");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for prompt in world.prompts() {
        let marker = prompt.lines().next().unwrap_or_default().to_owned();
        *seen.entry(marker).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "prompts delivered more than once: {twice:?}\n{report}");
    assert_eq!(seen.len(), 3, "one prompt per phase, each once\n{report}");
}
