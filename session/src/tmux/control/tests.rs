//! The control client's framing: blocks, guards a screen cannot forge, which commands make a line.

use super::*;

fn feed_all(parser: &mut Parser, text: &str) -> Vec<Block> {
    text.lines().filter_map(|line| parser.feed(line.to_owned())).collect()
}

fn block(ours: bool, error: bool, lines: &[&str]) -> Block {
    Block { ours, error, lines: lines.iter().map(|line| line.to_string()).collect() }
}

#[test]
fn blocks_are_split_at_their_own_guards_and_notifications_are_skipped() {
    let mut parser = Parser::default();
    let output = "%begin 1796313282 271 0\n%end 1796313282 271 0\n%session-changed $0 one\n\
                  %begin 1796313282 265 1\n%0 ;x\n\n%end 1796313282 265 1\n\
                  %window-add @3\n\
                  %begin 1796313282 268 1\ninvalid option: @nope\n%error 1796313282 268 1\n";
    assert_eq!(
        feed_all(&mut parser, output),
        [
            block(false, false, &[]),
            block(true, false, &["%0 ;x", ""]),
            block(true, true, &["invalid option: @nope"]),
        ]
    );
}

#[test]
fn a_guard_line_on_the_agent_s_screen_does_not_end_the_block() {
    // A capture shows whatever the agent printed, guard-like lines included: only the block's
    // own time and number end it.
    let mut parser = Parser::default();
    let output = "%begin 1796313282 300 1\n%end 1796313282 299 1\n%error 1 300 1\n%begin 5 5 1\n\
                  %end 1796313282 300 1\n";
    assert_eq!(
        feed_all(&mut parser, output),
        [block(true, false, &["%end 1796313282 299 1", "%error 1 300 1", "%begin 5 5 1"])]
    );
}

#[test]
fn only_commands_that_are_safe_twice_and_carry_plain_arguments_make_a_line() {
    let look = ["display-message", "-p", "-t", "%1", "#{pane_id} $HOME ~ {x}", ";"];
    let capture = ["capture-pane", "-p", "-t", "%1"];
    let both: Vec<&str> = look.iter().chain(&capture).copied().collect();
    assert_eq!(
        request_line(&both).as_deref(),
        Some(
            "'display-message' '-p' '-t' '%1' '#{pane_id} $HOME ~ {x}' ; 'capture-pane' '-p' '-t' '%1'"
        )
    );
    for unsafe_twice in [
        &["send-keys", "-t", "%1", "Enter"][..],
        &["display-message", "-p", "x", ";", "paste-buffer", "-t", "%1"],
        &["kill-server"],
    ] {
        assert_eq!(request_line(unsafe_twice), None, "{unsafe_twice:?}");
    }
    for plain_not in ["it's", "two\nlines", "cr\r", "nul\0"] {
        assert_eq!(request_line(&["display-message", "-p", plain_not]), None, "{plain_not:?}");
    }
    let long = "x".repeat(LINE_BYTES_MAX);
    assert_eq!(request_line(&["display-message", "-p", &long]), None);
    assert_eq!(request_line(&[]), None);
}

#[test]
fn a_reply_is_every_output_line_or_the_first_failure() {
    let output = vec![block(true, false, &["%1 0"]), block(true, false, &["a", "", "b"])];
    assert_eq!(reply_of(output).unwrap(), "%1 0\na\n\nb\n");
    let failed = vec![block(true, false, &["%1"]), block(true, true, &["can't find pane: %9 "])];
    assert_eq!(reply_of(failed).unwrap_err().stderr, "can't find pane: %9");
    assert_eq!(reply_of(Vec::new()).unwrap(), "");
}
