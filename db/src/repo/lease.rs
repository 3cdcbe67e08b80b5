//! The run's lease: claimed by one driver at a time, renewed while it works, released when it
//! stops, and the fence every durable step of that driver checks (`Lease::check`).
//!
//! Expiry is reckoned by the database's clock, not the driver's: two drivers on two hosts whose
//! clocks disagree still agree on whether a lease has run out. Every claim increments the run's
//! `lease_epoch`, so a driver that froze past its lease (a stopped process, a suspended laptop)
//! and wakes after another claimed the run finds its epoch gone.

use devflow_core::{Code, Error, Result};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use crate::RunRow;
use crate::conn::{Tx, on_conn};
use crate::error::QueryResultExt;

/// A driver's hold on a run: who holds it and which claim it was. A `Db` fenced with it
/// (`Db::fenced`) checks it in every step, under the run's lock, before the step's body runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub run_id: String,
    pub owner: String,
    pub epoch: i64,
}

impl Lease {
    /// `Ok` while the run's lease is still this one; `lease_lost` once another driver claimed
    /// it (or it was released and claimed again).
    pub fn check(&self, run: &RunRow) -> Result<()> {
        assert_eq!(run.id, self.run_id, "a fenced Db steps only on its own run");
        if run.lease_owner.as_deref() == Some(self.owner.as_str()) && run.lease_epoch == self.epoch
        {
            return Ok(());
        }
        Err(lease_lost(self, run))
    }
}

fn lease_lost(lease: &Lease, run: &RunRow) -> Error {
    let holder = run.lease_owner.as_deref().unwrap_or("nobody");
    Error::new(
        Code::LeaseLost,
        format!(
            "this driver lost run {}'s lease (claim {}): it is now claim {} by {holder}; nothing more was written",
            lease.run_id, lease.epoch, run.lease_epoch
        ),
    )
    .with_run(&run.id)
    .with_hint(format!(
        "another devflow took the run over (this one was stopped or cut off past its lease); `devflow status {}` shows where it is",
        run.id
    ))
}

/// The database's clock in epoch milliseconds, as SQL.
macro_rules! db_now {
    (sqlite) => {
        "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
    };
    (postgres) => {
        "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)"
    };
}

#[derive(QueryableByName)]
struct Epoch {
    #[diesel(sql_type = BigInt)]
    lease_epoch: i64,
}

#[derive(QueryableByName)]
struct Now {
    #[diesel(sql_type = BigInt)]
    now_ms: i64,
}

const CLAIM_SQLITE: &str = concat!(
    "UPDATE runs SET lease_owner = ?, lease_expires_at = ",
    db_now!(sqlite),
    " + ?, lease_epoch = lease_epoch + 1 WHERE id = ? AND (lease_owner IS NULL OR lease_expires_at <= ",
    db_now!(sqlite),
    ") RETURNING lease_epoch"
);
const CLAIM_PG: &str = concat!(
    "UPDATE runs SET lease_owner = $1, lease_expires_at = ",
    db_now!(postgres),
    " + $2, lease_epoch = lease_epoch + 1 WHERE id = $3 AND (lease_owner IS NULL OR lease_expires_at <= ",
    db_now!(postgres),
    ") RETURNING lease_epoch"
);
const RENEW_SQLITE: &str = concat!(
    "UPDATE runs SET lease_expires_at = ",
    db_now!(sqlite),
    " + ? WHERE id = ? AND lease_owner = ? AND lease_epoch = ?"
);
const RENEW_PG: &str = concat!(
    "UPDATE runs SET lease_expires_at = ",
    db_now!(postgres),
    " + $1 WHERE id = $2 AND lease_owner = $3 AND lease_epoch = $4"
);
const RELEASE_SQLITE: &str = "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL \
     WHERE id = ? AND lease_owner = ? AND lease_epoch = ?";
const RELEASE_PG: &str = "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL \
     WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3";

impl Tx {
    /// Claims the run's lease for `owner` until the database's now + `ttl_ms`, if it is free or
    /// has expired: a lease that is still running is refused, `owner`'s own too (a second
    /// drive of the run by the same process is a second driver). The claim increments the
    /// epoch. `None`: someone holds it.
    pub async fn claim_run_lease(
        &mut self,
        id: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>> {
        let claimed: Vec<Epoch> = on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query(CLAIM_SQLITE)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(ttl_ms)
                    .bind::<Text, _>(id)
                    .load(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query(CLAIM_PG)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(ttl_ms)
                    .bind::<Text, _>(id)
                    .load(c)
                    .await
            },
        )
        .or_db("claim run lease")?;
        if claimed.is_empty() && self.run(id).await?.is_none() {
            return Err(crate::repo::runs::run_not_found(id));
        }
        Ok(claimed.into_iter().next().map(|row| Lease {
            run_id: id.to_owned(),
            owner: owner.to_owned(),
            epoch: row.lease_epoch,
        }))
    }

    /// Extends the lease to the database's now + `ttl_ms` if it is still `lease` (same owner,
    /// same epoch; one that expired but that no one claimed since is still it). Returns whether
    /// it was.
    pub async fn renew_run_lease(&mut self, lease: &Lease, ttl_ms: i64) -> Result<bool> {
        let Lease { run_id, owner, epoch } = lease;
        let updated = on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query(RENEW_SQLITE)
                    .bind::<BigInt, _>(ttl_ms)
                    .bind::<Text, _>(run_id)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(*epoch)
                    .execute(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query(RENEW_PG)
                    .bind::<BigInt, _>(ttl_ms)
                    .bind::<Text, _>(run_id)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(*epoch)
                    .execute(c)
                    .await
            },
        )
        .or_db("renew run lease")?;
        Ok(updated == 1)
    }

    /// Gives the lease up if it is still `lease`; a lease claimed since is left alone.
    pub async fn release_run_lease(&mut self, lease: &Lease) -> Result<()> {
        let Lease { run_id, owner, epoch } = lease;
        on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query(RELEASE_SQLITE)
                    .bind::<Text, _>(run_id)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(*epoch)
                    .execute(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query(RELEASE_PG)
                    .bind::<Text, _>(run_id)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(*epoch)
                    .execute(c)
                    .await
            },
        )
        .or_db("release run lease")?;
        Ok(())
    }

    /// The database's clock, epoch milliseconds: what lease expiry is reckoned by.
    pub async fn db_now_ms(&mut self) -> Result<i64> {
        let now: Vec<Now> = on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query(concat!("SELECT ", db_now!(sqlite), " AS now_ms")).load(c).await
            },
            postgres = |c| {
                diesel::sql_query(concat!("SELECT ", db_now!(postgres), " AS now_ms")).load(c).await
            },
        )
        .or_db("read the database's clock")?;
        Ok(now.into_iter().next().map_or(0, |row| row.now_ms))
    }
}
