//! `cargo xtask bench`, first part: how long after an artifact lands the wait sees it, beyond
//! `stable_ms`. The wait (`devflow_phase::artifact::wait_for_artifact`: file-system events,
//! polling as the fallback) against the reference runner's loop (`stat` every `poll_ms`, the
//! file stable once two looks agree for `stable_ms`), both at the reference's 25 ms poll
//! interval, measured in the same run on the same file system.
//!
//! One sample: a wait on a fresh folder; after a delay that falls anywhere within a poll
//! interval the "agent" writes the artifact under a temporary name and renames it into place.
//! The latency is from the rename to the wait's return, less `stable_ms`.

#![allow(clippy::disallowed_methods)] // A benchmark measures real time.

use std::path::Path;
use std::time::{Duration, Instant};

use devflow_phase::WaitSettings;
use devflow_phase::artifact::{ArtifactFile, WaitOutcome, wait_for_artifact};
use tokio_util::sync::CancellationToken;

const SAMPLES: usize = 50;
/// The reference runner's default poll interval.
const POLL_MS: u64 = 25;

#[derive(Clone, Copy, PartialEq)]
enum How {
    Events,
    ReferencePolling,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut lines = Vec::new();
    for stable_ms in [0, 100] {
        let events = runtime.block_on(latencies(stable_ms, How::Events));
        let polling = runtime.block_on(latencies(stable_ms, How::ReferencePolling));
        let (p50, p99, polling_p50) = (at(&events, 0.5), at(&events, 0.99), at(&polling, 0.5));
        println!(
            "  wait stable_ms={stable_ms:<3}  seen {p50:>6.2} ms (p99 {p99:>6.2}) after stable_ms; \
             the reference's polling {polling_p50:>6.2} ms (p99 {:>6.2})",
            at(&polling, 0.99)
        );
        lines.push(format!(
            "bench wait stable_ms={stable_ms} poll_ms={POLL_MS} detect_p50_ms={p50:.3} \
             detect_p99_ms={p99:.3} reference_polling_p50_ms={polling_p50:.3} \
             ratio_to_reference={:.3}",
            p50 / polling_p50
        ));
    }
    for line in lines {
        println!("{line}");
    }
}

/// The latencies of `SAMPLES` waits, in milliseconds, sorted.
async fn latencies(stable_ms: u64, how: How) -> Vec<f64> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for sample in 0..SAMPLES {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let file = ArtifactFile::new(&root, Path::new("artifacts/plan.json")).unwrap();
        let path = file.path().to_path_buf();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let waiter = tokio::spawn(wait(file, stable_ms, how));
        // Primes spread the landing over the poll interval.
        let delay = 5 + (sample as u64 * 7) % POLL_MS;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, br#"{"title": "Plan"}"#).unwrap();
        let landed = Instant::now();
        std::fs::rename(&temporary, &path).unwrap();
        let seen = waiter.await.unwrap();
        let beyond = seen.duration_since(landed).saturating_sub(Duration::from_millis(stable_ms));
        samples.push(beyond.as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    samples
}

/// Waits for the artifact `how` says, and returns when it was seen.
async fn wait(file: ArtifactFile, stable_ms: u64, how: How) -> Instant {
    let stable = Duration::from_millis(stable_ms);
    if how == How::ReferencePolling {
        return poll_like_the_reference(&file, stable).await;
    }
    let settings =
        WaitSettings { timeout_ms: 10_000, poll_ms: POLL_MS, stable_ms, ..WaitSettings::default() };
    let outcome = wait_for_artifact(&file, &settings, None, &CancellationToken::new()).await;
    assert_eq!(outcome.unwrap(), WaitOutcome::Ready, "the artifact landed");
    Instant::now()
}

/// The reference's `waitForArtifact`: look every poll interval; done at the first look when
/// `stable_ms` is 0, else at the first look at least `stable_ms` after the signature was first
/// seen unchanged.
async fn poll_like_the_reference(file: &ArtifactFile, stable: Duration) -> Instant {
    let mut seen = None;
    loop {
        match file.signature().unwrap() {
            None => seen = None,
            Some(current) => match &seen {
                Some((last, since)) if *last == current => {
                    if Instant::elapsed(since) >= stable {
                        return Instant::now();
                    }
                }
                _ if stable.is_zero() => return Instant::now(),
                _ => seen = Some((current, Instant::now())),
            },
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

fn at(sorted: &[f64], quantile: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}
