//! Command output on stdout, line by line: a reader that stops reading (`devflow events | head`)
//! ends devflow quietly, as it ends `cat`, instead of a panic.

use std::io::Write;

/// `println!` for what a command prints: `out!("{run} completed")`.
macro_rules! out {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// Writes one line and flushes it (so `events --follow` streams). A closed stdout exits 0;
/// any other write error exits 1 with a message.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{args}").and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write to stdout: {error}");
            std::process::exit(1);
        }
    }
}
