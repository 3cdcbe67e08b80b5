//! `devflow workers [--json]`: the live workers (heard from within their ttl, by the database's
//! clock): host, pid, version, the runs each holds now, and its last heartbeat.

use devflow_core::Error;
use devflow_phase::view::time;
use devflow_phase::worker::WORKER_TTL_MS;
use serde_json::json;

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};
use crate::output::inline;

pub async fn run(as_json: bool, place: &Place) -> Result<Status, Error> {
    let db = Context::new(place)?.open_existing().await?;
    let (workers, runs, now_ms) = db
        .read(|tx| {
            Box::pin(async move {
                let workers = tx.live_workers(WORKER_TTL_MS).await?;
                Ok((workers, tx.runs().await?, tx.db_now_ms().await?))
            })
        })
        .await?;
    let held = |id: &str| -> Vec<String> {
        runs.iter()
            .filter(|run| run.lease_owner.as_deref() == Some(id))
            .filter(|run| run.lease_expires_at.is_some_and(|expires| expires > now_ms))
            .map(|run| run.id.clone())
            .collect()
    };
    if as_json {
        let rows: Vec<_> = workers
            .iter()
            .map(|worker| {
                json!({
                    "id": worker.id,
                    "host": worker.host,
                    "pid": worker.pid,
                    "version": worker.version,
                    "concurrency": worker.concurrency,
                    "runs": held(&worker.id),
                    "startedAt": worker.started_at,
                    "heartbeatAt": worker.heartbeat_at,
                })
            })
            .collect();
        out!("{}", crate::output::json(&serde_json::Value::Array(rows)));
        return Ok(exit::COMPLETED);
    }
    if workers.is_empty() {
        out!("no live workers (start one with `devflow worker`)");
        return Ok(exit::COMPLETED);
    }
    out!("{:<24} {:<8} {:<10} {:<9} {:<16} ID", "HOST", "PID", "VERSION", "RUNS", "HEARTBEAT");
    for worker in &workers {
        let runs = format!("{}/{}", held(&worker.id).len(), worker.concurrency);
        out!(
            "{:<24} {:<8} {:<10} {:<9} {:<16} {}",
            inline(&worker.host),
            worker.pid,
            inline(&worker.version),
            runs,
            time::age(now_ms, worker.heartbeat_at),
            inline(&worker.id)
        );
    }
    Ok(exit::COMPLETED)
}
