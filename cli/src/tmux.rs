//! devflow's tmux server for a worktree: one private server per worktree, its socket under
//! `.devflow/` when the path is short enough for a Unix socket, else in a folder of this user's
//! own under `$TMUX_TMPDIR` (default `/tmp`), as tmux keeps its own sockets.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use devflow_core::{Code, Error};
use devflow_session::tmux::{TmuxAdapter, TmuxConfig};
use sha2::{Digest, Sha256};

/// Leaves room below the 107-byte limit of a socket address.
const SOCKET_PATH_BYTES_MAX: usize = 100;

/// `DEVFLOW_TMUX_CONTROL=1` turns tmux control mode on for looks at panes (off by default:
/// tmux 3.3a's server crashes now and then under a control client).
pub const CONTROL_MODE_VAR: &str = "DEVFLOW_TMUX_CONTROL";

/// The adapter for the agents of runs in `worktree`. It creates `<worktree>/.devflow/`.
pub fn adapter(worktree: &Path) -> Result<TmuxAdapter, Error> {
    let socket = socket_path(worktree);
    if let Some(folder) = fallback_folder(worktree) {
        private_folder(&folder)?;
    }
    let mut config = TmuxConfig::new(worktree.join(".devflow").join("tmux"));
    config.socket_path = Some(socket);
    config.client_env_removed = hidden_from_agents();
    config.control_mode = std::env::var(CONTROL_MODE_VAR).is_ok_and(|value| value == "1");
    TmuxAdapter::new(config)
}

/// What devflow's tmux clients drop from their environment, so that its server — which keeps
/// the environment of the client that starts it and hands it to every agent — never holds it:
/// the database URL and its password are none of an agent's business; and the markers of a
/// CI system devflow may run under would switch an agent to its non-interactive mode (Gemini
/// CLI then reads stdin once and exits), where in a devflow pane every agent is interactive.
fn hidden_from_agents() -> Vec<String> {
    let fixed = ["DEVFLOW_DATABASE_URL", "PGPASSWORD", "CI", "CONTINUOUS_INTEGRATION"];
    let ci_prefixed = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("CI_"));
    fixed.iter().map(|name| (*name).to_owned()).chain(ci_prefixed).collect()
}

/// `<worktree>/.devflow/tmux.sock`, or `<fallback folder>/<hash of the worktree>.sock`.
pub fn socket_path(worktree: &Path) -> PathBuf {
    match fallback_folder(worktree) {
        None => local_socket(worktree),
        Some(folder) => {
            let digest = Sha256::digest(worktree.as_os_str().as_encoded_bytes());
            let hash: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
            folder.join(format!("{hash}.sock"))
        }
    }
}

/// Whether the socket of `worktree` lives in the fallback folder, its path being too long.
pub fn is_fallback(worktree: &Path) -> bool {
    fallback_folder(worktree).is_some()
}

fn local_socket(worktree: &Path) -> PathBuf {
    worktree.join(".devflow").join("tmux.sock")
}

/// `$TMUX_TMPDIR/devflow-<uid>` (or `/tmp/…`) when the local socket's path is too long.
fn fallback_folder(worktree: &Path) -> Option<PathBuf> {
    if local_socket(worktree).as_os_str().len() <= SOCKET_PATH_BYTES_MAX {
        return None;
    }
    let base = std::env::var_os("TMUX_TMPDIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    Some(base.join(format!("devflow-{}", uid())))
}

fn uid() -> u32 {
    std::fs::metadata("/proc/self").map(|meta| meta.uid()).unwrap_or(0)
}

/// Creates `folder` (mode 0700) or checks the one there: a socket in a folder another user can
/// reach, or that another user made (or a link to one), would let them drive the agents.
pub fn private_folder(folder: &Path) -> Result<(), Error> {
    let refuse = |why: String| {
        Error::new(
            Code::WorkspacePermissions,
            format!("devflow's tmux socket folder {} {why}; devflow puts its socket only in a folder of yours that no one else can reach", folder.display()),
        )
        .with_hint(format!(
            "remove {} (devflow creates it, mode 0700), or use a shorter worktree path so that the socket lives in <worktree>/.devflow",
            folder.display()
        ))
    };
    match std::fs::DirBuilder::new().mode(0o700).create(folder) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(refuse(format!("cannot be created ({error})"))),
    }
    let meta = std::fs::symlink_metadata(folder)
        .map_err(|error| refuse(format!("cannot be read ({error})")))?;
    if meta.file_type().is_symlink() {
        return Err(refuse("is a symbolic link".to_owned()));
    }
    if !meta.is_dir() {
        return Err(refuse("is not a folder".to_owned()));
    }
    if meta.uid() != uid() {
        return Err(refuse(format!("belongs to uid {}, not to you (uid {})", meta.uid(), uid())));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refuse(format!(
            "can be reached by group or others (mode {:o})",
            meta.mode() & 0o777
        )));
    }
    Ok(())
}
