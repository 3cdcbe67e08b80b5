//! The tmux adapter's settings: where devflow's server lives and how patient the adapter is.

use std::path::PathBuf;

use crate::CAPTURE_BYTES_MAX;

/// Where devflow's tmux server lives and how patient the adapter is with it.
#[derive(Debug, Clone)]
pub struct TmuxConfig {
    /// Holds devflow's `tmux.conf`, the launch records and tap records, and, unless
    /// `socket_path` says otherwise, the socket.
    pub state_dir: PathBuf,
    /// The server's socket (`tmux -S`); at most 107 bytes. Default: `<state_dir>/tmux.sock`.
    pub socket_path: Option<PathBuf>,
    /// The tmux program: a name looked up on `PATH`, or a path.
    pub tmux_bin: PathBuf,
    /// The pane output tap ([`tap`]), as an argv to which the record file is appended.
    /// Default: this program with `tmux-tap` (the devflow binary's hidden subcommand).
    pub tap_command: Vec<String>,
    /// Environment set on every tmux client devflow runs (tests point `TMUX_TMPDIR` elsewhere).
    pub client_env: Vec<(String, String)>,
    /// Variables removed from the environment of every tmux client devflow runs — so from its
    /// server's, which every agent inherits.
    pub client_env_removed: Vec<String>,
    /// Lines of history per pane, and so of transcript a pane can hold.
    pub history_limit: u32,
    pub width: u16,
    pub height: u16,
    /// Longest wait for one tmux command.
    pub command_timeout_ms: u64,
    /// Pause between two looks at a pane while waiting.
    pub poll_ms: u64,
    /// A screen unchanged this long is settled: ready for a paste, done showing one.
    pub ready_settle_ms: u64,
    /// Longest wait for a pane to get ready for a paste; then `agent_not_ready`.
    pub ready_timeout_ms: u64,
    /// Longest wait for a paste to show in the input; then `prompt_delivery_unverified`.
    pub paste_visible_timeout_ms: u64,
    /// Longest wait for the agent to show it took a prompt after one Enter.
    pub submit_verify_timeout_ms: u64,
    /// How long bracketed paste must stay off after Enter (turned off after the key went in)
    /// to count as the agent taking the prompt; a flip off and on again is a redraw.
    pub paste_off_hold_ms: u64,
    /// Enter presses, while the paste visibly waits in the input, before delivery counts as
    /// unverified.
    pub enter_attempts_max: u32,
    /// How long an agent's processes have after SIGTERM before SIGKILL.
    pub dispose_grace_ms: u64,
    /// Most transcript text one capture returns.
    pub capture_bytes_max: usize,
    /// Looks at panes go through one tmux control-mode client (`control.rs`) instead of a
    /// client each. Off by default: tmux 3.3a's server crashes now and then under a control
    /// client while sessions come and go (ARCHITECTURE.md, "looks through control mode").
    pub control_mode: bool,
}

impl TmuxConfig {
    /// The defaults, with everything of the server under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> TmuxConfig {
        let program = std::env::current_exe()
            .map(|exe| exe.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "devflow".to_owned());
        TmuxConfig {
            state_dir: state_dir.into(),
            socket_path: None,
            tmux_bin: PathBuf::from("tmux"),
            tap_command: vec![program, "tmux-tap".to_owned()],
            client_env: Vec::new(),
            client_env_removed: Vec::new(),
            history_limit: 50_000,
            width: 200,
            height: 50,
            command_timeout_ms: 10_000,
            poll_ms: 50,
            ready_settle_ms: 250,
            ready_timeout_ms: 60_000,
            paste_visible_timeout_ms: 5_000,
            submit_verify_timeout_ms: 3_000,
            paste_off_hold_ms: 1_000,
            enter_attempts_max: 3,
            dispose_grace_ms: 1_500,
            capture_bytes_max: CAPTURE_BYTES_MAX,
            control_mode: false,
        }
    }
}
