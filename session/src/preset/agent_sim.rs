//! The preset for `devflow agent-sim`, the simulated agent of the examples and tests.

use super::setup::{Avoided, Setup};
use super::{Dialog, Preset, no_requirements};

pub static PRESET: Preset = Preset {
    name: "agent-sim",
    programs: &["devflow-agent-sim"],
    default_argv: &["devflow", "agent-sim"],
    // The empty prompt line (capture-pane drops the blanks at the end of a line).
    input_ready: Some(r"^agent-sim> ?$"),
    // The prompt line is the last line agent-sim draws.
    input_lines: 1,
    first_prompt_settle_ms: 0,
    paste_placeholder: Some(r"\[pasted text: \d+ lines, \d+ bytes\]"),
    working: Some(r"^(received prompt:|working… )"),
    dialogs: &[
        Dialog {
            name: "trust",
            pattern: r"^Do you trust the files in this folder\?",
            meaning: "agent-sim asks whether to trust the folder (`--dialog trust`)",
            avoid: "start agent-sim without `--dialog`",
            safe_to_answer: true,
            answer_keys: &["1"],
            avoided: |setup| shown_by(setup, "trust"),
        },
        Dialog {
            name: "telemetry",
            pattern: r"^Share usage data with the vendor\?",
            meaning: "agent-sim asks to send usage data (`--dialog telemetry`)",
            avoid: "start agent-sim without `--dialog`",
            safe_to_answer: false,
            answer_keys: &[],
            avoided: |setup| shown_by(setup, "telemetry"),
        },
    ],
    leaves_running: "nothing",
    version_args: &[],
    tested_version: None,
    requirements: no_requirements,
};

/// agent-sim shows a dialog only when `--dialog NAME` asks for it.
fn shown_by(setup: &Setup, name: &str) -> Avoided {
    match setup.flag_value("--dialog") == Some(name) {
        true => Avoided::No(format!("start agent-sim without `--dialog {name}`")),
        false => Avoided::Yes(format!("no `--dialog {name}`")),
    }
}
