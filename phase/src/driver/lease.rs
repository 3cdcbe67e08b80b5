//! One driver per run: a lease row in the database, renewed in the background while a driver
//! works, left to expire when a driver dies.
//!
//! The lease is a fence: each claim increments the run's epoch, and the drive's steps go through
//! a `Db` fenced with the lease it got (`Held::db`), so a driver that lost its lease — frozen
//! past it while another took the run over — fails its next step with `lease_lost`, having
//! written nothing, and stops.
//!
//! The ttl is 15 s, renewed every 5 s. A holder on this host whose process is gone (pid and
//! start time, `owner.rs`) is taken over at once; one on another host is waited out (at most
//! one ttl) when the caller waits. A lease held by a live process is refused at once, as is any
//! lease whose holder may be alive when the caller does not wait. A run taken over from a dead
//! driver more than `MAX_TAKEOVERS` times in a row stops at a human gate (`drive.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use devflow_core::{Code, Error, RunState};
use devflow_db::{Db, Lease};
use tokio_util::sync::CancellationToken;

use super::owner::{Liveness, hostname, liveness};
use super::{Driver, Outcome};
use crate::runner::busy_retried;

pub const LEASE_TTL_MS: i64 = 15_000;
pub const LEASE_RENEW_MS: u64 = 5_000;

/// Whether acquiring waits for a lease whose holder may be dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseWait {
    Refuse,
    /// Wait out a lease unless its holder is known to be alive.
    UntilExpired,
}

/// How many times in a row a run may be taken over from a driver that died before the next
/// driver stops it at a human gate instead (`recovery_limit`).
pub const MAX_TAKEOVERS: i64 = 3;

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
        // The claim whose holder was seen dead: the next claim may take exactly that one over.
        let mut dead: Option<Lease> = None;
        loop {
            let taking_over = dead.take();
            // One statement: a busy database ran none of it, so it is taken again.
            let claimed = busy_retried(self.runner.retry(), || {
                let (id, owner, host) = (run_id.to_owned(), self.owner.clone(), hostname());
                let taking_over = taking_over.clone();
                self.db.write(move |tx| {
                    Box::pin(async move {
                        tx.claim_run_lease(&id, &owner, &host, LEASE_TTL_MS, taking_over.as_ref())
                            .await
                    })
                })
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
            match liveness(&holder) {
                Liveness::Dead => {
                    (self.notice)(&format!(
                        "run {run_id}'s driver {holder} is gone (its process ended); taking the run over"
                    ));
                    let epoch = run.lease_epoch;
                    dead = Some(Lease { run_id: run.id, owner: holder, epoch, takeovers: 0 });
                    continue;
                }
                Liveness::Alive => return Err(leased(run_id, &holder, remaining_ms)),
                Liveness::Unknown
                    if wait == LeaseWait::Refuse || remaining_ms > LEASE_TTL_MS + 1_000 =>
                {
                    return Err(leased(run_id, &holder, remaining_ms));
                }
                Liveness::Unknown => {}
            }
            if !waited {
                (self.notice)(&format!(
                    "run {run_id} is leased by {holder} on another host (not running any more?); waiting up to {} s for its lease to expire",
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

    /// Drives the run whose lease was just claimed, and gives the lease back when the drive
    /// stops. A lease lost cancels this drive only (a worker's other drives go on).
    pub(crate) async fn drive_lease(
        &self,
        lease: Lease,
        cancel: CancellationToken,
    ) -> Result<Outcome, Error> {
        let cancel = cancel.child_token();
        let held = self.hold(lease, cancel.clone());
        let outcome = self.drive(&held, &cancel).await;
        self.release(held).await;
        outcome
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
