//! devflow's tmux server for a worktree: one private server per worktree, its socket under
//! `.devflow/` when the path is short enough for a Unix socket, else under /tmp.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use devflow_core::Error;
use devflow_session::tmux::{TmuxAdapter, TmuxConfig};
use sha2::{Digest, Sha256};

/// Leaves room below the 107-byte limit of a socket address.
const SOCKET_PATH_BYTES_MAX: usize = 100;

pub fn adapter(worktree: &Path) -> Result<TmuxAdapter, Error> {
    let mut config = TmuxConfig::new(worktree.join(".devflow").join("tmux"));
    config.socket_path = Some(socket_path(worktree));
    if let Some(parent) = config.socket_path.as_ref().and_then(|p| p.parent()) {
        let _ = std::fs::create_dir_all(parent);
    }
    TmuxAdapter::new(config)
}

/// `<worktree>/.devflow/tmux.sock`, or `/tmp/devflow-<uid>/<hash of the worktree>.sock`.
pub fn socket_path(worktree: &Path) -> PathBuf {
    let local = worktree.join(".devflow").join("tmux.sock");
    if local.as_os_str().len() <= SOCKET_PATH_BYTES_MAX {
        return local;
    }
    let uid = std::fs::metadata("/proc/self").map(|meta| meta.uid()).unwrap_or(0);
    let digest = Sha256::digest(worktree.as_os_str().as_encoded_bytes());
    let hash: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    PathBuf::from(format!("/tmp/devflow-{uid}")).join(format!("{hash}.sock"))
}
