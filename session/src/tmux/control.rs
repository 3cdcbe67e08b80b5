//! One long-lived tmux control-mode client (`tmux -C`) per tmux server and process, through
//! which devflow's looks at its panes run without starting a tmux client each time.
//!
//! Watching an agent is a stream of small read commands (`display-message -p`, `capture-pane
//! -p`, `show-options`): the ready and delivery loops look at a pane every few hundred
//! milliseconds. As separate clients that is one process per look; with 100 agents, tens of
//! processes a second. A control client reads commands from its stdin, one per line, and answers
//! each between `%begin T N F` and `%end T N F` (or `%error T N F`) guard lines.
//!
//! Only commands that are safe to run twice come here ([`routable`]): when the client cannot
//! start, has gone (its session ended, the server stopped) or does not answer in time, the
//! caller runs the command as a client of its own instead, as before — so a lost answer costs a
//! process, never a command run twice that should have run once. Keys, pastes and everything
//! that changes a pane's life go through their own clients.
//!
//! Framing. A command line is followed by a second line, `display-message -p SENTINEL`, whose
//! answer closes the request: a failing command skips the rest of its own line (tmux drops the
//! rest of a command list), never the sentinel, so a request's blocks are exactly those between
//! two sentinels. The agent controls what a capture shows, so a line inside a block counts as its
//! end only when it repeats the block's own guard (the server's time and command number).
//!
//! The client is a plain child process with a thread that reads its answers: a tokio task
//! would die with the runtime that spawned it, and one process holds adapters of more than one
//! runtime (tests, `devflow serve`). When its channel goes (replaced, or the last adapter of the
//! socket dropped) the client is killed by its pid.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::server::Failed;

/// Commands that only read, or set an option to the same value again: safe to run twice.
const ROUTABLE: &[&str] = &["display-message", "capture-pane", "show-options", "set-option"];

/// Answers not yet read, at most. Each request line is short (see [`LINE_BYTES_MAX`]), so the
/// requests in flight fit in a pipe's buffer and a write to the client never blocks.
const PENDING_MAX: usize = 32;
const LINE_BYTES_MAX: usize = 1024;

/// After a client went away without answering anything (no session to attach to, no server),
/// commands take their own clients this long before another control client is tried, so a
/// server that is gone is not asked again and again. A client that did answer went because the
/// session it was attached to ended; the next command starts another at once.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// One control client per tmux socket in this process, shared by its adapters.
static CLIENTS: LazyLock<Mutex<HashMap<PathBuf, Weak<Control>>>> = LazyLock::new(Default::default);

/// What starts a control client: `tmux -S <socket> … -C attach-session`, from the server module.
pub(super) type Starter = Box<dyn Fn() -> std::io::Result<Child> + Send + Sync>;

pub(super) struct Control {
    start: Starter,
    slot: Mutex<Slot>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

enum Slot {
    /// No client: none started yet, or the last one went away (then not before `retry_at`).
    Idle {
        retry_at: Option<Instant>,
    },
    Open(Channel),
}

struct Channel {
    stdin: ChildStdin,
    /// The client's process, killed and reaped when the channel goes: tmux does not always exit
    /// at the end of its input (a client whose server went can stay, asleep, for ever). Reaped
    /// only here, so its pid is never another process's when it is killed.
    child: Child,
    shared: Arc<Shared>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
struct Shared {
    pending: Mutex<VecDeque<Request>>,
    closed: AtomicBool,
    answered: AtomicBool,
}

struct Request {
    sentinel: String,
    blocks: Vec<Block>,
    reply: oneshot::Sender<Result<String, Failed>>,
}

/// One command's answer: its lines, and whether it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Block {
    pub ours: bool,
    pub error: bool,
    pub lines: Vec<String>,
}

impl Control {
    /// The control client of `socket`, shared with every other adapter of this process on it.
    pub fn shared(socket: &Path, start: Starter) -> Arc<Control> {
        let mut clients = lock(&CLIENTS);
        clients.retain(|_, client| client.strong_count() > 0);
        if let Some(control) = clients.get(socket).and_then(Weak::upgrade) {
            return control;
        }
        let control = Arc::new(Control { start, slot: Mutex::new(Slot::Idle { retry_at: None }) });
        clients.insert(socket.to_owned(), Arc::downgrade(&control));
        control
    }

    /// Runs `args` on the control client: its output or its failure, or `None` when the client
    /// is not there to ask or did not answer within `timeout` (the caller then runs the command
    /// itself).
    pub async fn run(&self, args: &[&str], timeout: Duration) -> Option<Result<String, Failed>> {
        let line = request_line(args)?;
        let answer = self.send(&line)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(reply)) => Some(reply),
            Ok(Err(_closed)) => None,
            Err(_elapsed) => {
                // A client that does not answer is of no use: the next command starts another.
                self.close();
                None
            }
        }
    }

    fn send(&self, line: &str) -> Option<oneshot::Receiver<Result<String, Failed>>> {
        let mut slot = lock(&self.slot);
        if let Slot::Open(channel) = &*slot {
            let shared = &channel.shared;
            if shared.closed.load(Ordering::Acquire) {
                let worked = shared.answered.load(Ordering::Acquire);
                *slot = Slot::Idle { retry_at: (!worked).then(|| Instant::now() + RESTART_AFTER) };
            }
        }
        if let Slot::Idle { retry_at } = &*slot {
            if retry_at.is_some_and(|at| Instant::now() < at) {
                return None;
            }
            *slot = match self.open() {
                Some(channel) => Slot::Open(channel),
                None => Slot::Idle { retry_at: Some(Instant::now() + RESTART_AFTER) },
            };
        }
        let Slot::Open(channel) = &mut *slot else { return None };
        channel.send(line)
    }

    fn open(&self) -> Option<Channel> {
        let mut child = (self.start)().ok()?;
        let (stdin, stdout) = (child.stdin.take()?, child.stdout.take()?);
        let shared = Arc::new(Shared::default());
        let reading = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("tmux-control".to_owned())
            .spawn(move || read_answers(BufReader::new(stdout), &reading));
        if spawned.is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(Channel { stdin, child, shared })
    }

    fn close(&self) {
        if let Slot::Open(channel) = &*lock(&self.slot) {
            channel.shared.closed.store(true, Ordering::Release);
        }
    }
}

impl Channel {
    fn send(&mut self, line: &str) -> Option<oneshot::Receiver<Result<String, Failed>>> {
        let mut pending = lock(&self.shared.pending);
        if pending.len() >= PENDING_MAX || self.shared.closed.load(Ordering::Acquire) {
            return None;
        }
        let sentinel = format!("devflow-{}", uuid::Uuid::new_v4().simple());
        let text = format!("{line}\ndisplay-message -p '{sentinel}'\n");
        if self.stdin.write_all(text.as_bytes()).and_then(|()| self.stdin.flush()).is_err() {
            self.shared.closed.store(true, Ordering::Release);
            return None;
        }
        let (reply, answer) = oneshot::channel();
        pending.push_back(Request { sentinel, blocks: Vec::new(), reply });
        Some(answer)
    }
}

/// The thread that reads the client's answers until its output ends, then fails what is still
/// waiting (dropping a reply sends the caller to a client of its own).
fn read_answers(stdout: impl BufRead, shared: &Shared) {
    let mut parser = Parser::default();
    for line in stdout.split(b'\n') {
        let Ok(line) = line else { break };
        let Some(block) = parser.feed(String::from_utf8_lossy(&line).into_owned()) else {
            continue;
        };
        if block.ours {
            answer(shared, block);
        }
    }
    shared.closed.store(true, Ordering::Release);
    lock(&shared.pending).clear();
}

/// Files `block` with the oldest request: its last, when it is that request's sentinel.
fn answer(shared: &Shared, block: Block) {
    let mut pending = lock(&shared.pending);
    let Some(request) = pending.front_mut() else { return };
    if !block.error && block.lines == [request.sentinel.as_str()] {
        let Some(request) = pending.pop_front() else { return };
        shared.answered.store(true, Ordering::Release);
        let _ = request.reply.send(reply_of(request.blocks));
    } else {
        request.blocks.push(block);
    }
}

/// What a client of its own would have printed: every command's output, or the first failure.
fn reply_of(blocks: Vec<Block>) -> Result<String, Failed> {
    if let Some(failed) = blocks.iter().find(|block| block.error) {
        return Err(Failed { stderr: failed.lines.join("\n").trim().to_owned() });
    }
    let mut out = String::new();
    for line in blocks.iter().flat_map(|block| &block.lines) {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// Every command of the list `args` (`;` between commands) is [`ROUTABLE`]: the list may run
/// twice, or together with others ([`super::batch`]).
pub(super) fn routable(args: &[&str]) -> bool {
    let mut command_next = true;
    for arg in args {
        if command_next && !ROUTABLE.contains(arg) {
            return false;
        }
        command_next = *arg == ";";
    }
    !args.is_empty()
}

/// `args` as one control-mode command line, or `None` when they must run as a client of their
/// own: a command that is not [`ROUTABLE`], or an argument the line cannot carry as it is (a
/// quote, a line break).
pub(super) fn request_line(args: &[&str]) -> Option<String> {
    if !routable(args) {
        return None;
    }
    let mut line = String::new();
    for arg in args {
        if *arg == ";" {
            line.push_str(" ;");
            continue;
        }
        if arg.contains(['\'', '\n', '\r', '\0']) {
            return None;
        }
        // Single quotes: tmux expands nothing inside them (no `$`, `~`, `;`, `#`, braces).
        line.push_str(if line.is_empty() { "'" } else { " '" });
        line.push_str(arg);
        line.push('\'');
    }
    (!line.is_empty() && line.len() <= LINE_BYTES_MAX).then_some(line)
}

/// Splits the client's output into answer blocks; notifications between them are skipped.
#[derive(Debug, Default)]
pub(super) struct Parser {
    open: Option<Open>,
}

#[derive(Debug)]
struct Open {
    /// `T N F` of the `%begin` line: the block ends only at `%end T N F` / `%error T N F`.
    guard: String,
    lines: Vec<String>,
}

impl Parser {
    /// Takes one line (without its newline): the block it closes, if it closes one.
    pub fn feed(&mut self, line: String) -> Option<Block> {
        let Some(open) = &mut self.open else {
            if let Some(guard) = line.strip_prefix("%begin ") {
                self.open = Some(Open { guard: guard.to_owned(), lines: Vec::new() });
            }
            return None;
        };
        let end = line.strip_prefix("%end ").map(|guard| (guard, false));
        let closing = end.or_else(|| line.strip_prefix("%error ").map(|guard| (guard, true)));
        match closing {
            Some((guard, error)) if guard == open.guard => {
                let open = self.open.take()?;
                // F is 1 for a command read from the client's input, 0 for its own attach.
                let ours = open.guard.ends_with(" 1");
                Some(Block { ours, error, lines: open.lines })
            }
            _ => {
                open.lines.push(line);
                None
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
