//! A worker: one process that claims runs submitted for workers (`Driver::submit`) and drives
//! up to `concurrency` of them at once, on one runtime and one database pool.
//!
//! It claims the oldest submitted run that can go on — queued, or executing with its driver
//! gone: its lease run out, or its holder on this host seen dead — with one statement that
//! admits exactly one claimer (`Tx::claim_next_run`). A run whose agents live on another host
//! is claimed only by a worker that may move them (`moving_agents`) or when the run's workflow
//! says `agents_may_move`; its drive then moves them here (`driver/host.rs`). Each run is then
//! driven by a `Driver` of its own worktree (its own tmux server) under the worker's lease
//! owner id, so every lease the worker holds says which worker holds it. A run that stops at a gate gives its lease
//! back; once a person decides, it is claimable again and a worker picks it up. The worker
//! heartbeats its `workers` row by the database's clock; `devflow workers` lists the live ones.
//!
//! New work is announced on PostgreSQL (`LISTEN devflow_runs`: a run queued, a lease given
//! back), and found by polling as well — every `POLL_MS` on SQLite, which has no such channel,
//! and every `LISTENING_POLL_MS` on PostgreSQL for what sends no announcement (a lease that ran
//! out, a holder seen dead). A poll is one indexed statement: nothing beside an agent's minutes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use devflow_core::{Error, Result};
use devflow_db::{Db, Lease, RunRow, Wakeups, WorkerRow};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::driver::owner::{Liveness, hostname, liveness, owner_id};
use crate::driver::{Driver, LEASE_TTL_MS, Outcome};

/// How often an idle worker looks for work: without announcements, and with them.
pub const POLL_MS: u64 = 500;
pub const LISTENING_POLL_MS: u64 = 2_000;
/// How often a worker says it is alive, and how long a silent one counts as alive.
pub const HEARTBEAT_MS: u64 = 5_000;
pub const WORKER_TTL_MS: i64 = 15_000;

/// How often one worker tries a run that its drive cannot carry (no driver for it, or a drive
/// that ended in an error rather than at a gate or an end) before it leaves the run to other
/// workers and to a person.
pub const TRIES_PER_RUN: u32 = 3;

/// Makes the driver of a claimed run: one over the run's own worktree and tmux server.
pub type Drivers = Arc<dyn Fn(&RunRow) -> Result<Driver> + Send + Sync>;

/// What a worker did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Worked {
    /// Drives that ended, by how: completed, waiting for a person, failed or aborted, errors.
    pub completed: usize,
    pub waiting: usize,
    pub ended: usize,
    pub errors: usize,
}

#[derive(Clone)]
pub struct Worker {
    db: Db,
    id: String,
    concurrency: usize,
    drivers: Drivers,
    notice: Arc<dyn Fn(&str) + Send + Sync>,
    /// Also claims runs whose agents are on another host, and moves them here.
    moves_agents: bool,
}

impl Worker {
    pub fn new(db: Db, concurrency: usize, drivers: Drivers) -> Worker {
        let concurrency = concurrency.max(1);
        let notice = Arc::new(|_: &str| {});
        Worker { db, id: owner_id(), concurrency, drivers, notice, moves_agents: false }
    }

    /// Lets the worker take over runs whose agents are on another host once their driver is
    /// gone (`devflow worker --move-agents`): it claims them as it claims its own host's, and
    /// their drives move the agents here instead of stopping at the `agents_elsewhere` gate.
    pub fn moving_agents(mut self, allowed: bool) -> Worker {
        self.moves_agents = allowed;
        self
    }

    /// What the worker's moves of agents are recorded as: `worker HOST:PID`.
    fn name() -> String {
        format!("worker {}:{}", hostname(), std::process::id())
    }

    /// Where the worker says what it claims and how each drive ended.
    pub fn with_notice(mut self, notice: Arc<dyn Fn(&str) + Send + Sync>) -> Worker {
        self.notice = notice;
        self
    }

    /// The lease owner id it claims runs as (its `workers` row's id).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims and drives runs until `cancel` (then it stops its drives, which give their leases
    /// back), or, with `exit_when_idle`, until nothing is left to claim and nothing runs.
    pub async fn run(&self, exit_when_idle: bool, cancel: CancellationToken) -> Result<Worked> {
        self.register().await?;
        let heartbeat = self.heartbeat();
        let wakeups = self.db.listen_for_runs().await.unwrap_or_else(|error| {
            tracing::warn!(%error, "not listening for runs; polling only");
            None
        });
        let poll =
            Duration::from_millis(if wakeups.is_some() { LISTENING_POLL_MS } else { POLL_MS });
        let mut drives: JoinSet<(String, Result<Outcome>)> = JoinSet::new();
        let mut worked = Worked::default();
        // Runs whose drives failed in this worker, and how often.
        let mut failures: HashMap<String, u32> = HashMap::new();
        let drives_cancel = cancel.child_token();
        loop {
            while drives.len() < self.concurrency && !cancel.is_cancelled() {
                let skip: Vec<String> = failures
                    .iter()
                    .filter(|(_, tries)| **tries >= TRIES_PER_RUN)
                    .map(|(run_id, _)| run_id.clone())
                    .collect();
                let claimed = match self.claim(&skip).await {
                    Ok(claimed) => claimed,
                    // A database hiccup: the next round claims again.
                    Err(error) => {
                        tracing::warn!(%error, "claiming a run failed");
                        break;
                    }
                };
                let Some((lease, run)) = claimed else { break };
                match (self.drivers)(&run) {
                    Ok(driver) => {
                        (self.notice)(&format!("claimed run {} (claim {})", run.id, lease.epoch));
                        let driver = driver
                            .with_owner(self.id.clone())
                            .acting_for(Worker::name())
                            .moving_agents(self.moves_agents);
                        let cancel = drives_cancel.clone();
                        drives.spawn(async move {
                            let run_id = lease.run_id.clone();
                            (run_id, driver.drive_lease(lease, cancel).await)
                        });
                    }
                    Err(error) => {
                        self.give_back(lease).await;
                        (self.notice)(&format!("cannot drive run {}: {error}", run.id));
                        self.failed(&run.id, &mut failures);
                        worked.errors += 1;
                    }
                }
            }
            if exit_when_idle && drives.is_empty() {
                break;
            }
            tokio::select! {
                Some(joined) = drives.join_next() => self.ended(joined, &mut worked, &mut failures),
                () = announced(wakeups.as_ref()) => {}
                () = tokio::time::sleep(poll) => {}
                () = cancel.cancelled() => break,
            }
        }
        drives_cancel.cancel();
        while let Some(joined) = drives.join_next().await {
            self.ended(joined, &mut worked, &mut failures);
        }
        heartbeat.abort();
        let id = self.id.clone();
        let removed =
            self.db.write(move |tx| Box::pin(async move { tx.remove_worker(&id).await })).await;
        if let Err(error) = removed {
            tracing::warn!(%error, "the worker's row was not removed; it counts as dead once silent");
        }
        Ok(worked)
    }

    /// The next run to drive and its lease: the oldest claimable one, else one whose holder on
    /// this host is dead (taken over at once, as `resume` does).
    async fn claim(&self, skip: &[String]) -> Result<Option<(Lease, RunRow)>> {
        let (owner, host) = (self.id.clone(), hostname());
        let (db_owner, db_host, db_skip) = (owner.clone(), host.clone(), skip.to_vec());
        let moves_agents = self.moves_agents;
        let claimed = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    tx.claim_next_run(&db_owner, &db_host, LEASE_TTL_MS, &db_skip, moves_agents)
                        .await
                })
            })
            .await?;
        let lease = match claimed {
            Some(lease) => Some(lease),
            None => self.take_over_dead(&owner, &host, skip).await?,
        };
        let Some(lease) = lease else { return Ok(None) };
        let id = lease.run_id.clone();
        let run = self.db.read(move |tx| Box::pin(async move { tx.run(&id).await })).await?;
        match run {
            Some(run) => Ok(Some((lease, run))),
            None => Err(Error::corruption("a claimed run does not exist")),
        }
    }

    async fn take_over_dead(
        &self,
        owner: &str,
        host: &str,
        skip: &[String],
    ) -> Result<Option<Lease>> {
        let leases =
            self.db.read(|tx| Box::pin(async move { tx.submitted_leases().await })).await?;
        let dead = leases.into_iter().filter(|lease| {
            !skip.contains(&lease.run_id) && liveness(&lease.owner) == Liveness::Dead
        });
        for dead in dead {
            let (owner, host) = (owner.to_owned(), host.to_owned());
            let claimed = self
                .db
                .write(move |tx| {
                    Box::pin(async move {
                        let id = dead.run_id.clone();
                        tx.claim_run_lease(&id, &owner, &host, LEASE_TTL_MS, Some(&dead)).await
                    })
                })
                .await?;
            if claimed.is_some() {
                return Ok(claimed);
            }
        }
        Ok(None)
    }

    /// A lease claimed for a run this worker cannot drive goes back at once.
    async fn give_back(&self, lease: Lease) {
        let released =
            self.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&lease).await }));
        if let Err(error) = released.await {
            tracing::warn!(%error, "a claimed run's lease was not given back; it expires");
        }
    }

    /// Counts a failed try of `run_id`; at the last one, says the run is left alone.
    fn failed(&self, run_id: &str, failures: &mut HashMap<String, u32>) {
        let tries = failures.entry(run_id.to_owned()).or_default();
        *tries += 1;
        if *tries == TRIES_PER_RUN {
            (self.notice)(&format!(
                "run {run_id} failed {TRIES_PER_RUN} times in this worker; it is left to other workers or a person (`devflow status {run_id}`, `devflow resume {run_id}`)"
            ));
        }
    }

    fn ended(
        &self,
        joined: std::result::Result<(String, Result<Outcome>), tokio::task::JoinError>,
        worked: &mut Worked,
        failures: &mut HashMap<String, u32>,
    ) {
        let (run_id, outcome) = match joined {
            Ok(ended) => ended,
            Err(error) => {
                worked.errors += 1;
                return (self.notice)(&format!("a drive stopped abnormally: {error}"));
            }
        };
        let said = match outcome {
            Ok(Outcome::Completed) => {
                worked.completed += 1;
                "completed".to_owned()
            }
            Ok(Outcome::AwaitingApproval(gate) | Outcome::Paused(gate)) => {
                worked.waiting += 1;
                format!("waits for a person at gate {} (phase {})", gate.gate_key, gate.phase_key)
            }
            Ok(Outcome::Failed { reason }) => {
                worked.ended += 1;
                format!("failed: {reason}")
            }
            Ok(Outcome::Aborted) => {
                worked.ended += 1;
                "was aborted".to_owned()
            }
            Ok(Outcome::Queued) => "is back in the queue".to_owned(),
            Err(error) => {
                worked.errors += 1;
                self.failed(&run_id, failures);
                format!("stopped: {error}")
            }
        };
        (self.notice)(&format!("run {run_id} {said}"));
    }

    async fn register(&self) -> Result<()> {
        let row = WorkerRow {
            id: self.id.clone(),
            host: hostname(),
            pid: i64::from(std::process::id()),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            concurrency: self.concurrency as i64,
            started_at: 0,
            heartbeat_at: 0,
        };
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    tx.remove_dead_workers(WORKER_TTL_MS).await?;
                    tx.register_worker(&row).await
                })
            })
            .await
    }

    /// Says every `HEARTBEAT_MS` that the worker is alive; registers again if its row went.
    fn heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let (db, id, this) = (self.db.clone(), self.id.clone(), self.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(HEARTBEAT_MS)).await;
                let id = id.clone();
                let beat =
                    db.write(move |tx| Box::pin(async move { tx.heartbeat_worker(&id).await }));
                match beat.await {
                    Ok(true) => {}
                    Ok(false) => {
                        if let Err(error) = this.register().await {
                            tracing::warn!(%error, "the worker could not register again");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "the worker's heartbeat failed"),
                }
            }
        })
    }
}

/// The next announcement of a claimable run; never without a listening connection.
async fn announced(wakeups: Option<&Wakeups>) {
    match wakeups {
        Some(wakeups) => wakeups.notified().await,
        None => std::future::pending().await,
    }
}
