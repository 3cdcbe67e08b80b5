//! The signals that interrupt a driven run: Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed
//! terminal). Each cancels the driver, which releases the run's lease and leaves the run where
//! it was, instead of ending the process with the lease still held.

use tokio::signal::unix::{SignalKind, signal};

/// Resolves at the first of the three signals. Once called, they no longer end the process by
/// themselves: whoever awaits this decides.
pub async fn interrupted() {
    let (Ok(mut terminate), Ok(mut hangup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        // No handler could be installed: Ctrl-C is still caught, the others end the process.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = hangup.recv() => {}
    }
}

/// A token cancelled at the first of the three signals, and the task that waits for them
/// (abort it once the work is done).
pub fn cancel_on_interrupt() -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_signal = cancel.clone();
    let signals = tokio::spawn(async move {
        interrupted().await;
        on_signal.cancel();
    });
    (cancel, signals)
}
