//! Looks at many panes in one tmux client, when there is no control client to ask: the commands
//! that are safe to run twice (the looks, the options devflow sets on panes: those the control
//! client would take) that come while one tmux client runs wait, and go together in the next.
//!
//! The ready and delivery loops of every agent look at their pane every `poll_ms`; a worker
//! drives each run with an adapter of its own, so the batch is shared by every adapter of the
//! process on the same socket. One batch runs at a time: whoever holds the runner lock takes
//! what is queued (within [`BATCH_BYTES_MAX`]), runs it as one command list with a sentinel
//! line after each look, and hands each caller its part. The sentinel is new for each batch, so
//! no screen shows it. tmux drops the rest of a command list after a command that fails (a pane
//! that has gone), so a batch that fails, or whose output does not split as it should, answers
//! nobody: each caller then runs its look alone, as without a batch — a failed batch costs
//! processes, never a wrong answer.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use devflow_core::Result;
use tokio::sync::oneshot;

use super::server::{Failed, Server};

/// The most argument bytes one batch carries: tmux sends a client's command to the server in
/// one message of at most 16 KiB.
const BATCH_BYTES_MAX: usize = 8 * 1024;

#[derive(Debug, Default)]
pub(super) struct Batch {
    queue: Mutex<VecDeque<Queued>>,
    /// Held while a batch runs: one tmux client at a time carries the queued looks.
    runner: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Queued {
    args: Vec<String>,
    /// The look's output; dropped unsent when the batch failed.
    reply: oneshot::Sender<String>,
}

impl Batch {
    /// Runs `args` (commands safe to run twice, `;` between them) with the others queued now:
    /// what a tmux client of its own would have answered.
    pub async fn run(&self, server: &Server, args: &[&str]) -> Result<Result<String, Failed>> {
        let (reply, mut answer) = oneshot::channel();
        let owned = args.iter().map(|arg| (*arg).to_owned()).collect();
        lock(&self.queue).push_back(Queued { args: owned, reply });
        loop {
            tokio::select! {
                biased;
                answered = &mut answer => {
                    return match answered {
                        Ok(output) => Ok(Ok(output)),
                        // The batch failed (or its runner was cancelled): alone, as before.
                        Err(_dropped) => server.run_alone(args, None).await,
                    };
                }
                runner = self.runner.lock() => {
                    let batch = self.take();
                    if !batch.is_empty() {
                        run_batch(server, batch).await;
                    }
                    drop(runner);
                }
            }
        }
    }

    /// The oldest queued looks, within [`BATCH_BYTES_MAX`] (at least one).
    fn take(&self) -> Vec<Queued> {
        let mut queue = lock(&self.queue);
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(next) = queue.front() {
            let size: usize = next.args.iter().map(|arg| arg.len() + 1).sum::<usize>() + 64;
            if !batch.is_empty() && bytes + size > BATCH_BYTES_MAX {
                break;
            }
            bytes += size;
            batch.extend(queue.pop_front());
        }
        batch
    }
}

/// Runs `batch` as one command list and answers each look, or none of them.
async fn run_batch(server: &Server, batch: Vec<Queued>) {
    let sentinel = format!("devflow-batch-{}", uuid::Uuid::new_v4().simple());
    let mut args: Vec<&str> = Vec::new();
    for (index, queued) in batch.iter().enumerate() {
        if index > 0 {
            args.push(";");
        }
        args.extend(queued.args.iter().map(String::as_str));
        args.extend([";", "display-message", "-p", sentinel.as_str()]);
    }
    let Ok(Ok(output)) = server.run_alone(&args, None).await else { return };
    let Some(parts) = split(&output, &sentinel, batch.len()) else { return };
    for (queued, part) in batch.into_iter().zip(parts) {
        let _ = queued.reply.send(part.to_owned());
    }
}

/// `output` cut after each of its `count` sentinel lines, or `None` when it does not hold
/// exactly that many at the ends of lines.
fn split<'a>(output: &'a str, sentinel: &str, count: usize) -> Option<Vec<&'a str>> {
    let line = format!("{sentinel}\n");
    let mut parts = Vec::with_capacity(count);
    let mut rest = output;
    while let Some(at) = rest.find(&line) {
        if at > 0 && !rest[..at].ends_with('\n') {
            return None;
        }
        parts.push(&rest[..at]);
        rest = &rest[at + line.len()..];
    }
    (parts.len() == count && rest.is_empty()).then_some(parts)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn a_batch_splits_at_its_sentinel_lines_only() {
        let output = "%1 0\nscreen\n\nS\n%2 0\nS devflow\nS\n";
        assert_eq!(split(output, "S", 2), Some(vec!["%1 0\nscreen\n\n", "%2 0\nS devflow\n"]));
        assert_eq!(split("a\nS\nb\n", "S", 2), None, "the last look's output is cut short");
        assert_eq!(split("a\nS\nS\n", "S", 1), None, "one sentinel too many");
        assert_eq!(split("aS\n", "S", 1), None, "not at the start of a line");
        assert_eq!(split("S\n", "S", 1), Some(vec![""]));
    }
}
