//! Named crash points for the crash-safety tests (feature `failpoints`).
//!
//! With the feature on, `crash_point!("after_prompt_recorded")` appends the point's name to the
//! file named by `DEVFLOW_CRASH_TRACE` (so a test knows which points a scenario passes) and
//! aborts the process when `DEVFLOW_CRASH_AT` names it. Without the feature it compiles to
//! nothing. (Hand-written rather than the `fail` crate: we need exactly "trace" and "abort",
//! and the trace file is what proves that every point fires.) A durable step names the point
//! after its commit as `mutate!(ctx, "after_x", ...)`. The code is the one list of the points:
//! the crash test reads them off the source.

#[cfg(feature = "failpoints")]
pub(crate) fn reach(point: &str) {
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

macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::runner::crash::reach($name);
    };
}
pub(crate) use crash_point;
