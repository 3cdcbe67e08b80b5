//! The numbers of `[phases.wait]`, bounded at load with their place in the file, so that every
//! value a run stores can be stored and read back (nothing near `i64::MAX`) and means something
//! (a zero timeout never waits).

use devflow_core::Error;
use toml::Spanned;

use super::Wait;
use super::file::{FileWait, Number};

/// Seven days: no agent is waited for, or watched for a hang, longer than that.
const WEEK_MS: u64 = 7 * 24 * 3_600_000;
/// One poll a minute is the slowest fallback that still notices an artifact in time.
const POLL_MS_MAX: u64 = 60_000;
/// Below a second, an agent that is only thinking would be taken for hung.
const HUNG_MS_MIN: u64 = 1_000;
/// 1 GiB: an artifact is a JSON document read whole, not a data set.
const ARTIFACT_BYTES_MAX: u64 = 1 << 30;

/// More phases at once than this would be more agents than a machine runs well.
const MAX_PARALLEL_MAX: u64 = 64;

/// One bounded number: its key, its range, and what the range means for the hint.
struct Bound {
    key: &'static str,
    min: u64,
    max: u64,
    unit: &'static str,
}

/// The wait settings, defaults filled in; `refuse` makes the error for a value at its place.
pub(super) fn wait(
    file: Option<&FileWait>,
    refuse: &dyn Fn(&Spanned<Number>, String, String) -> Error,
) -> Result<Wait, Error> {
    let default = Wait::default();
    let Some(file) = file else { return Ok(default) };
    let check = |value: &Option<Spanned<Number>>, bound: Bound, default: u64| match value {
        None => Ok(default),
        Some(spanned) => bounded(spanned, &bound, refuse),
    };
    let ms = |key, min, max, unit| Bound { key, min, max, unit };
    let timeout_ms = check(
        &file.timeout_ms,
        ms("timeout_ms", 1, WEEK_MS, "ms, 7 days at most"),
        default.timeout_ms,
    )?;
    let stable = ms("stable_ms", 0, timeout_ms, "ms, at most timeout_ms");
    Ok(Wait {
        timeout_ms,
        poll_ms: check(
            &file.poll_ms,
            ms("poll_ms", 1, POLL_MS_MAX, "ms, a minute at most"),
            default.poll_ms,
        )?,
        // An unset stability wait never exceeds a short timeout the file did set.
        stable_ms: check(&file.stable_ms, stable, default.stable_ms.min(timeout_ms))?,
        max_hung_ms: check(
            &file.max_hung_ms,
            ms("max_hung_ms", HUNG_MS_MIN, WEEK_MS, "ms, a second to 7 days"),
            default.max_hung_ms,
        )?,
        max_artifact_bytes: check(
            &file.max_artifact_bytes,
            ms("max_artifact_bytes", 1, ARTIFACT_BYTES_MAX, "bytes, 1 GiB at most"),
            default.max_artifact_bytes,
        )?,
    })
}

/// The workflow's `max_parallel`: 1 … 64 phases at once.
pub(super) fn max_parallel(
    value: &Spanned<Number>,
    refuse: &dyn Fn(&Spanned<Number>, String, String) -> Error,
) -> Result<u32, Error> {
    let bound =
        Bound { key: "max_parallel", min: 1, max: MAX_PARALLEL_MAX, unit: "phases at once" };
    let value = bounded(value, &bound, refuse)?;
    Ok(u32::try_from(value).expect("bounded to 64"))
}

/// `spanned` as a whole number within `bound`, or the error that says what is wrong with it.
fn bounded(
    spanned: &Spanned<Number>,
    bound: &Bound,
    refuse: &dyn Fn(&Spanned<Number>, String, String) -> Error,
) -> Result<u64, Error> {
    let (key, min, max, unit) = (bound.key, bound.min, bound.max, bound.unit);
    let hint = format!("{key} = {min} … {max} ({unit})");
    let value = match spanned.get_ref() {
        Number::Whole(value) => *value,
        Number::Negative(negative) => {
            let message = format!("{key} must be at least {min}, not {negative}");
            return Err(refuse(spanned, message, hint));
        }
        Number::Other(other) => {
            let message = format!("{key} must be a whole number, not {other}");
            return Err(refuse(spanned, message, hint));
        }
    };
    if value < min {
        return Err(refuse(spanned, format!("{key} must be at least {min}"), hint));
    }
    if value > max {
        return Err(refuse(spanned, format!("{key} = {value} is over {max}"), hint));
    }
    Ok(value)
}
