//! One driver per run: a lease row in the database, renewed in the background while a driver
//! works, left to expire when a driver dies.
//!
//! The lease is a fence: each claim increments the run's epoch, and the drive's steps go through
//! a `Db` fenced with the lease it got (`Held::db`), so a driver that lost its lease — frozen
//! past it while another took the run over — fails its next step with `lease_lost`, having
//! written nothing, and stops.
//!
//! The ttl is 15 s, renewed every 5 s. A driver killed with `kill -9` leaves its lease to run
//! out: `resume` then waits (saying so) until it has, at most one ttl. A lease held by a live
//! process on this host is refused at once, as is any lease when the caller does not wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use devflow_core::{Code, Error, RunState};
use devflow_db::{Db, Lease};
use tokio_util::sync::CancellationToken;

use super::Driver;

pub const LEASE_TTL_MS: i64 = 15_000;
pub const LEASE_RENEW_MS: u64 = 5_000;

/// Whether acquiring waits for a lease whose holder may be dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseWait {
    Refuse,
    /// Wait out a lease unless its holder is known to be alive.
    UntilExpired,
}

/// `hostname:pid:uuid`.
pub fn owner_id() -> String {
    format!("{}:{}:{}", hostname(), std::process::id(), uuid::Uuid::new_v4())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Some(alive) when the owner is a process on this host whose liveness can be seen.
fn owner_alive(owner: &str) -> Option<bool> {
    let mut parts = owner.split(':');
    let (host, pid) = (parts.next()?, parts.next()?.parse::<u32>().ok()?);
    if host != hostname() || !std::path::Path::new("/proc/self").exists() {
        return None;
    }
    Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// The lease while held: the fenced handle every step of the drive goes through, renewed in
/// the background; released by `release`.
pub(crate) struct Held {
    pub lease: Lease,
    /// The database, fenced with `lease`: a step after the lease was lost writes nothing.
    pub db: Db,
    /// Set when renewal found the lease gone: the drive was cancelled because of it.
    lost: Arc<AtomicBool>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Held {
    /// Whether renewal found the lease taken over (or the run aborted).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The error a drive that lost its lease ends with.
    pub fn lost_error(&self) -> Error {
        Error::new(
            Code::LeaseLost,
            format!(
                "this driver lost run {}'s lease (claim {}) to another devflow; it stopped and wrote nothing more",
                self.lease.run_id, self.lease.epoch
            ),
        )
        .with_run(&self.lease.run_id)
        .with_hint(format!(
            "another devflow took the run over (this one was stopped or cut off past its lease); `devflow status {}` shows where it is",
            self.lease.run_id
        ))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

impl Driver {
    /// Takes the run's lease (waiting as `wait` says) and starts renewing it. If renewal fails
    /// or the run is aborted meanwhile, `cancel` is cancelled.
    pub(crate) async fn acquire(
        &self,
        run_id: &str,
        wait: LeaseWait,
        cancel: &CancellationToken,
    ) -> Result<Held, Error> {
        let mut waited = false;
        loop {
            let (id, owner) = (run_id.to_owned(), self.owner.clone());
            let claimed = self
                .db
                .write(move |tx| {
                    Box::pin(async move { tx.claim_run_lease(&id, &owner, LEASE_TTL_MS).await })
                })
                .await?;
            if let Some(lease) = claimed {
                return Ok(self.hold(lease, cancel.clone()));
            }
            let id = run_id.to_owned();
            let (run, now_ms) = self
                .db
                .read(move |tx| {
                    Box::pin(async move { Ok((tx.run(&id).await?, tx.db_now_ms().await?)) })
                })
                .await?;
            let Some(run) = run else {
                return Err(Error::new(Code::RunNotFound, format!("run {run_id} does not exist")));
            };
            let holder = run.lease_owner.clone().unwrap_or_default();
            let remaining_ms = run.lease_expires_at.unwrap_or(0) - now_ms;
            let alive = owner_alive(&holder);
            if wait == LeaseWait::Refuse
                || alive == Some(true)
                || remaining_ms > LEASE_TTL_MS + 1_000
            {
                return Err(leased(run_id, &holder, remaining_ms));
            }
            if !waited {
                (self.notice)(&format!(
                    "run {run_id} is leased by {holder} (not running here any more?); waiting up to {} s for its lease to expire",
                    remaining_ms.max(0) / 1000 + 1
                ));
                waited = true;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(remaining_ms.clamp(100, 1_000) as u64)) => {}
                () = cancel.cancelled() => return Err(Error::new(Code::ActivityCancelled, "cancelled while waiting for the run's lease")),
            }
        }
    }

    /// Holds a lease just claimed: the fenced handle, and its renewal every `LEASE_RENEW_MS`.
    pub(crate) fn hold(&self, lease: Lease, cancel: CancellationToken) -> Held {
        let db = self.db.clone();
        let lost = Arc::new(AtomicBool::new(false));
        let (renewed_lease, lost_flag) = (lease.clone(), Arc::clone(&lost));
        let renewal = tokio::spawn(async move {
            let lease = renewed_lease;
            loop {
                tokio::time::sleep(Duration::from_millis(LEASE_RENEW_MS)).await;
                let held = lease.clone();
                let renewed = db
                    .write(move |tx| {
                        Box::pin(async move {
                            let still = tx.renew_run_lease(&held, LEASE_TTL_MS).await?;
                            let state = tx.run(&held.run_id).await?.map(|run| run.state);
                            Ok((still, state != Some(RunState::Aborted)))
                        })
                    })
                    .await;
                match renewed {
                    Ok((true, true)) => {}
                    Ok((still, _)) => {
                        if !still {
                            tracing::warn!(run = %lease.run_id, epoch = lease.epoch, "lost the run's lease to another driver; stopping at once");
                            lost_flag.store(true, Ordering::SeqCst);
                        } else {
                            tracing::warn!(run = %lease.run_id, "the run was aborted; stopping");
                        }
                        cancel.cancel();
                        return;
                    }
                    // A passing database hiccup: the lease has two more renewals before it expires.
                    Err(error) => {
                        tracing::warn!(run = %lease.run_id, %error, "renewing the run's lease failed")
                    }
                }
            }
        });
        Held { db: self.db.fenced(lease.clone()), lease, lost, renewal }
    }

    /// Gives the lease up (best effort: it expires anyway). A lease claimed by another driver
    /// since is left alone.
    pub(crate) async fn release(&self, held: Held) {
        let lease = held.lease.clone();
        drop(held);
        let run_id = lease.run_id.clone();
        let released = self
            .db
            .write(move |tx| Box::pin(async move { tx.release_run_lease(&lease).await }))
            .await;
        if let Err(error) = released {
            tracing::warn!(run = %run_id, %error, "releasing the run's lease failed; it expires by itself");
        }
    }
}

pub(crate) fn leased(run_id: &str, holder: &str, remaining_ms: i64) -> Error {
    Error::new(
        Code::RunLeased,
        format!(
            "run {run_id} is being driven by another devflow process ({holder}); its lease expires in {} s unless renewed",
            remaining_ms.max(0) / 1000 + 1
        ),
    )
    .with_hint(format!("wait for that process to finish, or stop it; `devflow status {run_id}` shows where the run is"))
}
