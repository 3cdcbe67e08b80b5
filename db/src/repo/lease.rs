//! The run's lease: claimed by one driver at a time, renewed while it works, released when it
//! stops, and the fence every durable step of that driver checks (`Lease::check`).
//!
//! Expiry is reckoned by the database's clock, not the driver's: two drivers on two hosts whose
//! clocks disagree still agree on whether a lease has run out. Every claim increments the run's
//! `lease_epoch`, so a driver that froze past its lease (a stopped process, a suspended laptop)
//! and wakes after another claimed the run finds its epoch gone.

use devflow_core::{Code, Error, Result};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
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
    /// How many claims in a row, this one included, took the lease over from a driver that
    /// died (0: the lease was free). A clean release ends the series.
    pub takeovers: i64,
}

impl Claimed {
    fn lease(self, owner: &str) -> Lease {
        Lease {
            run_id: self.id,
            owner: owner.to_owned(),
            epoch: self.lease_epoch,
            takeovers: self.lease_takeovers,
        }
    }
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

/// What every claim sets: the new owner and expiry, the next epoch, one more take-over if the
/// lease was still someone's (it expired, or its holder is known dead), and the host of the
/// run's agents if it has none yet. (On the right of `SET`, columns are the row's old values.)
macro_rules! claim_set {
    ($backend:tt, $owner:literal, $ttl:literal, $host:literal) => {
        concat!(
            "UPDATE runs SET lease_owner = ",
            $owner,
            ", lease_expires_at = ",
            db_now!($backend),
            " + ",
            $ttl,
            ", lease_epoch = lease_epoch + 1",
            ", lease_takeovers = lease_takeovers + CASE WHEN lease_owner IS NULL THEN 0 ELSE 1 END",
            ", agent_host = COALESCE(agent_host, ",
            $host,
            ")"
        )
    };
}

/// A lease that may be claimed: free, or run out by the database's clock.
macro_rules! claimable {
    ($backend:tt) => {
        concat!("(lease_owner IS NULL OR lease_expires_at <= ", db_now!($backend), ")")
    };
}

/// The runs workers drive that may go on, oldest first.
macro_rules! drivable_submitted {
    () => {
        "submitted_at IS NOT NULL AND state IN ('queued', 'planning', 'executing')"
    };
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    lease_epoch: i64,
    #[diesel(sql_type = BigInt)]
    lease_takeovers: i64,
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    lease_owner: String,
    #[diesel(sql_type = BigInt)]
    lease_epoch: i64,
}

#[derive(QueryableByName)]
struct Now {
    #[diesel(sql_type = BigInt)]
    now_ms: i64,
}

// A claim of one run: free, expired, or — when the caller saw its holder dead — still that very
// claim (owner and epoch unchanged: two drivers that both saw it dead admit one).
const CLAIM_SQLITE: &str = concat!(
    claim_set!(sqlite, "?", "?", "?"),
    " WHERE id = ? AND (",
    claimable!(sqlite),
    " OR (lease_owner = ? AND lease_epoch = ?)) RETURNING id, lease_epoch, lease_takeovers"
);
const CLAIM_PG: &str = concat!(
    claim_set!(postgres, "$1", "$2", "$3"),
    " WHERE id = $4 AND (",
    claimable!(postgres),
    " OR (lease_owner = $5 AND lease_epoch = $6)) RETURNING id, lease_epoch, lease_takeovers"
);
// A worker's claim of the oldest submitted run that is free to drive on its host: one statement,
// so that of any number of workers claiming at once exactly one gets each run (SQLite's writes
// are serial; PostgreSQL's SKIP LOCKED hands concurrent claimers different rows). A run whose
// agents are on another host is free to a worker that may move agents (the fifth parameter) and
// to any worker when the run's own workflow snapshot says `agents_may_move` (read from the
// snapshot itself, the one place the run keeps its settings, rather than a copy in a column).
const CLAIM_NEXT_SQLITE: &str = concat!(
    claim_set!(sqlite, "?1", "?2", "?3"),
    " WHERE id = (SELECT id FROM runs WHERE ",
    drivable_submitted!(),
    " AND ",
    claimable!(sqlite),
    " AND (agent_host IS NULL OR agent_host = ?3 OR ?5",
    " OR json_extract(definition, '$.agents_may_move') = 1)",
    " AND instr(' ' || ?4 || ' ', ' ' || id || ' ') = 0",
    " ORDER BY created_at, id LIMIT 1)",
    " RETURNING id, lease_epoch, lease_takeovers"
);
const CLAIM_NEXT_PG: &str = concat!(
    claim_set!(postgres, "$1", "$2", "$3"),
    " WHERE id = (SELECT id FROM runs WHERE ",
    drivable_submitted!(),
    " AND ",
    claimable!(postgres),
    " AND (agent_host IS NULL OR agent_host = $3 OR $5",
    " OR (definition::jsonb ->> 'agents_may_move') = 'true')",
    " AND NOT (id = ANY(string_to_array($4, ' ')))",
    " ORDER BY created_at, id LIMIT 1",
    " FOR UPDATE SKIP LOCKED) RETURNING id, lease_epoch, lease_takeovers"
);
const HELD_SUBMITTED: &str = concat!(
    "SELECT id, lease_owner, lease_epoch FROM runs WHERE ",
    drivable_submitted!(),
    " AND lease_owner IS NOT NULL ORDER BY created_at, id"
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
// A clean release ends the run's series of take-overs.
const RELEASE_SQLITE: &str = "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL, \
     lease_takeovers = 0 WHERE id = ? AND lease_owner = ? AND lease_epoch = ?";
// On PostgreSQL a released lease is also announced to listening workers (`listen.rs`): the
// notification goes out when the release commits, and only if the lease was still this one.
const RELEASE_PG: &str = "WITH released AS (UPDATE runs SET lease_owner = NULL, \
     lease_expires_at = NULL, lease_takeovers = 0 WHERE id = $1 AND lease_owner = $2 \
     AND lease_epoch = $3 RETURNING id) SELECT pg_notify('devflow_runs', id) FROM released";

impl Tx {
    /// Claims the run's lease for `owner` (a driver on `host`) until the database's now +
    /// `ttl_ms`, if it is free or has expired, or if it is still exactly `dead` — a claim whose
    /// holder the caller knows to be dead. A lease that is still running is refused, `owner`'s
    /// own too (a second drive of the run by the same process is a second driver). The claim
    /// increments the epoch. `None`: someone holds it.
    pub async fn claim_run_lease(
        &mut self,
        id: &str,
        owner: &str,
        host: &str,
        ttl_ms: i64,
        dead: Option<&Lease>,
    ) -> Result<Option<Lease>> {
        let (dead_owner, dead_epoch) = (dead.map(|d| d.owner.as_str()), dead.map(|d| d.epoch));
        let claimed: Vec<Claimed> = on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query(CLAIM_SQLITE)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(ttl_ms)
                    .bind::<Text, _>(host)
                    .bind::<Text, _>(id)
                    .bind::<Nullable<Text>, _>(dead_owner)
                    .bind::<Nullable<BigInt>, _>(dead_epoch)
                    .load(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query(CLAIM_PG)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(ttl_ms)
                    .bind::<Text, _>(host)
                    .bind::<Text, _>(id)
                    .bind::<Nullable<Text>, _>(dead_owner)
                    .bind::<Nullable<BigInt>, _>(dead_epoch)
                    .load(c)
                    .await
            },
        )
        .or_db("claim run lease")?;
        if claimed.is_empty() && self.run(id).await?.is_none() {
            return Err(crate::repo::runs::run_not_found(id));
        }
        Ok(claimed.into_iter().next().map(|row| row.lease(owner)))
    }

    /// A worker's claim: the lease of the oldest submitted run that can go on (queued, or
    /// executing with its driver gone), whose agents are on `host` or nowhere yet — or anywhere,
    /// when `moves_agents` (a worker that may move them here) or when the run's workflow says
    /// `agents_may_move` — and that is not one of `skip` (runs this worker cannot drive). One
    /// statement: of workers claiming at once, exactly one gets each run. `None`: nothing to do.
    pub async fn claim_next_run(
        &mut self,
        owner: &str,
        host: &str,
        ttl_ms: i64,
        skip: &[String],
        moves_agents: bool,
    ) -> Result<Option<Lease>> {
        // Run ids hold no spaces (devflow refuses them), so one space-separated text binds the list.
        let skip = skip.join(" ");
        let claimed: Vec<Claimed> = on_conn!(
            self,
            sqlite = |c| {
                diesel::sql_query(CLAIM_NEXT_SQLITE)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(ttl_ms)
                    .bind::<Text, _>(host)
                    .bind::<Text, _>(&skip)
                    .bind::<Bool, _>(moves_agents)
                    .load(c)
                    .await
            },
            postgres = |c| {
                diesel::sql_query(CLAIM_NEXT_PG)
                    .bind::<Text, _>(owner)
                    .bind::<BigInt, _>(ttl_ms)
                    .bind::<Text, _>(host)
                    .bind::<Text, _>(&skip)
                    .bind::<Bool, _>(moves_agents)
                    .load(c)
                    .await
            },
        )
        .or_db("claim the next run")?;
        Ok(claimed.into_iter().next().map(|row| row.lease(owner)))
    }

    /// The leases held on submitted runs that can go on: what a worker looks through for a
    /// holder it can see is dead.
    pub async fn submitted_leases(&mut self) -> Result<Vec<Lease>> {
        let held: Vec<Held> = on_conn!(self, |c| diesel::sql_query(HELD_SUBMITTED).load(c).await)
            .or_db("list the leases of submitted runs")?;
        Ok(held
            .into_iter()
            .map(|row| Lease {
                run_id: row.id,
                owner: row.lease_owner,
                epoch: row.lease_epoch,
                takeovers: 0,
            })
            .collect())
    }

    /// Extends the lease to the database's now + `ttl_ms` if it is still `lease` (same owner,
    /// same epoch; one that expired but that no one claimed since is still it). Returns whether
    /// it was.
    pub async fn renew_run_lease(&mut self, lease: &Lease, ttl_ms: i64) -> Result<bool> {
        let Lease { run_id, owner, epoch, .. } = lease;
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
        let Lease { run_id, owner, epoch, .. } = lease;
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
