//! Named crash points for the crash-safety tests (feature `failpoints`).
//!
//! With the feature on, `crash_point!("after_prompt_recorded")` appends the point's name to the
//! file named by `DEVFLOW_CRASH_TRACE` (so a test knows which points a scenario passes) and
//! aborts the process when `DEVFLOW_CRASH_AT` names it. Without the feature it compiles to
//! nothing. (Hand-written rather than the `fail` crate: we need exactly "trace" and "abort",
//! and the trace file is what proves that every point fires.)

#[cfg(feature = "failpoints")]
pub fn reach(point: &str) {
    use std::io::Write;
    if let Some(trace) = std::env::var_os("DEVFLOW_CRASH_TRACE") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(trace)
            .expect("crash trace file opens");
        writeln!(file, "{point}").expect("crash trace file is writable");
    }
    if std::env::var("DEVFLOW_CRASH_AT").is_ok_and(|at| at == point) {
        std::process::abort();
    }
}

/// Every crash point, in the order a phase meets them. The crash tests run each scenario once
/// per point reached and fail if a point listed here is reached by no scenario.
pub const POINTS: &[&str] = &[
    "after_phase_started",
    "before_stale_artifact_removed",
    "after_stale_artifact_removed",
    "after_session_reserved",
    "before_session_start",
    "after_session_start",
    "after_session_ready",
    "after_session_resumed",
    "before_prompt_delivery",
    "after_prompt_delivery",
    "after_prompt_recorded",
    "after_artifact_expected",
    "after_artifact_timeout",
    "before_rebootstrap",
    "after_rebootstrap",
    "after_session_recovered",
    "after_phase_validating",
    "after_artifact_recorded",
    "after_session_idle",
    "after_phase_completed",
    "after_approval_requested",
    "after_human_gate",
    "after_run_failed",
    "before_dispose",
    "after_dispose",
    "before_transcript_capture",
    "after_transcript_capture",
];

macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::runner::crash::reach($name);
    };
}
pub(crate) use crash_point;

#[cfg(test)]
mod tests {
    /// The list above and the points in the code are the same set.
    #[test]
    fn every_crash_point_in_the_code_is_listed_once() {
        let mut found = Vec::new();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut folders = vec![src];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs")
                    && !path.ends_with("crash.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    // `crash_point!("name")`, and a step's `mutate!(ctx, "name", ...)`.
                    for mark in ["crash_point!(\"", "mutate!(self, \"", "step!(self, \""] {
                        for piece in text.split(mark).skip(1) {
                            found.push(piece.split('"').next().unwrap().to_owned());
                        }
                    }
                }
            }
        }
        let mut listed: Vec<_> = super::POINTS.iter().map(|point| (*point).to_owned()).collect();
        found.sort();
        listed.sort();
        assert_eq!(found, listed);
    }
}
