//! The terminal fence: input reaches a pane only from the newest driver of its run.
//!
//! The database fences a driver's durable steps with its lease epoch, but the step that marks
//! a session `BUSY` comes before the paste, and the paste may wait seconds for the agent to be
//! ready. A driver frozen in between (SIGSTOP, a suspended laptop) that wakes after another took
//! the run over would paste a prompt the new driver sends too. So the pane keeps the epoch of
//! the newest driver that acted on it, in the option `@devflow_lease`, and every input devflow
//! sends is one tmux command that compares and sends at once:
//!
//! ```text
//! if-shell -F -t %7 '#{e|<=:#{@devflow_lease},E}' 'set-option -p -t %7 @devflow_lease E ; <input>' 'display-message -p devflow-fenced'
//! ```
//!
//! tmux runs the condition, the claim and the input without returning to its event loop, so no
//! other client's command comes between them. A driver claims the pane this way (with no input)
//! before it looks where a prompt is, before it re-adopts a session and before it delivers:
//! from then on an older driver's keys cannot reach it. What an older driver sent before that
//! moment is on the pane, as after a crash, and re-entry finds it there.
//!
//! A handle without an epoch (tools outside a driver's drive, the tests of the adapter) sends
//! unconditionally, as before.

use devflow_core::{Code, Error, Result};

use super::TmuxAdapter;
use super::pane::Pane;
use super::server::Failed;

/// Pane option holding the lease epoch of the newest driver that acted on the pane.
pub(super) const LEASE_OPTION: &str = "@devflow_lease";

/// What the fenced command prints when a newer driver holds the pane.
const FENCED: &str = "devflow-fenced";

impl TmuxAdapter {
    /// Runs `args` (a tmux command list, `;` between commands) as input to `pane`: sent only
    /// while no newer driver than the pane's own claimed it (then `lease_lost`, nothing sent).
    pub(super) async fn run_input(
        &self,
        pane: Pane<'_>,
        args: &[&str],
    ) -> Result<std::result::Result<String, Failed>> {
        let Some(epoch) = pane.fence else {
            return self.server.run(args).await;
        };
        let fenced = fenced_command(pane.id, epoch, args);
        let fenced: Vec<&str> = fenced.iter().map(String::as_str).collect();
        match self.server.run(&fenced).await? {
            Ok(out) if out.trim_end() == FENCED => Err(fenced_out(pane, epoch)),
            other => Ok(other),
        }
    }

    /// [`TmuxAdapter::run_input`] that fails on any refusal of tmux.
    pub(super) async fn run_input_ok(&self, pane: Pane<'_>, args: &[&str]) -> Result<String> {
        self.run_input(pane, args).await?.map_err(|failed| super::server::failure(args, &failed))
    }

    /// Claims `pane` for this driver (no input): `lease_lost` if a newer driver already did.
    pub(super) async fn claim(&self, pane: Pane<'_>) -> Result<()> {
        if pane.fence.is_none() {
            return Ok(());
        }
        self.run_input_ok(pane, &[]).await.map(drop)
    }
}

/// The `if-shell` that claims `pane` for `epoch` and runs `args` in one tmux command, or prints
/// [`FENCED`] when a newer epoch holds the pane.
fn fenced_command(pane: &str, epoch: i64, args: &[&str]) -> Vec<String> {
    let epoch = epoch.to_string();
    let condition = format!("#{{e|<=:#{{{LEASE_OPTION}}},{epoch}}}");
    let mut then =
        ["set-option", "-p", "-t", pane, LEASE_OPTION, epoch.as_str()].map(quote).join(" ");
    if !args.is_empty() {
        then.push_str(" ; ");
        then.push_str(&command_string(args));
    }
    let otherwise = format!("display-message -p {FENCED}");
    ["if-shell", "-F", "-t", pane, condition.as_str(), then.as_str(), otherwise.as_str()]
        .map(str::to_owned)
        .to_vec()
}

/// `args` as one tmux command string: each word quoted, a lone `;` kept as the separator.
fn command_string(args: &[&str]) -> String {
    let words: Vec<String> =
        args.iter().map(|&word| if word == ";" { ";".to_owned() } else { quote(word) }).collect();
    words.join(" ")
}

/// One word for tmux's command parser, taken literally: in single quotes (no escapes there), or
/// in double quotes with `\`, `"` and `$` escaped when the word holds a single quote.
fn quote(word: &str) -> String {
    if !word.contains('\'') {
        return format!("'{word}'");
    }
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('"');
    for c in word.chars() {
        if matches!(c, '\\' | '"' | '$') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

fn fenced_out(pane: Pane<'_>, epoch: i64) -> Error {
    Error::new(
        Code::LeaseLost,
        format!(
            "pane {pane} of session {} was claimed by a newer driver than this one (claim {epoch}); nothing was sent to it",
            pane.session_id
        ),
    )
    .with_hint("another devflow took the run over; this one stops")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_one_if_shell_that_claims_and_sends() {
        let args = [
            "set-option",
            "-p",
            "-t",
            "%3",
            "@m",
            "enter a 1",
            ";",
            "send-keys",
            "-t",
            "%3",
            "Enter",
        ];
        let command = fenced_command("%3", 7, &args);
        assert_eq!(command[..5], ["if-shell", "-F", "-t", "%3", "#{e|<=:#{@devflow_lease},7}"]);
        assert_eq!(
            command[5],
            "'set-option' '-p' '-t' '%3' '@devflow_lease' '7' ; 'set-option' '-p' '-t' '%3' '@m' 'enter a 1' ; 'send-keys' '-t' '%3' 'Enter'"
        );
        assert_eq!(command[6], "display-message -p devflow-fenced");
    }

    #[test]
    fn a_claim_alone_sends_nothing_else() {
        let command = fenced_command("%3", 2, &[]);
        assert_eq!(command[5], "'set-option' '-p' '-t' '%3' '@devflow_lease' '2'");
    }

    #[test]
    fn words_are_quoted_whole() {
        assert_eq!(quote("a b#{x}"), "'a b#{x}'");
        assert_eq!(quote(r#"it's "$HOME" \"#), r#""it's \"\$HOME\" \\""#);
    }
}
