//! The `devflow-tmux-tap` binary: the pane output tap without the devflow CLI, for this crate's
//! tmux tests (`devflow tmux-tap` runs the same function).

use std::process::ExitCode;

fn main() -> ExitCode {
    devflow_session::tmux::tap::run(std::env::args().skip(1))
}
