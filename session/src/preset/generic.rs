//! The preset for any other command: nothing known, so devflow waits for bracketed paste and a
//! settled screen, and takes a change of the screen as the paste showing and as the prompt taken.

use super::{Preset, no_requirements};

pub static PRESET: Preset = Preset {
    name: "generic",
    programs: &[],
    default_argv: &[],
    input_ready: None,
    input_lines: 1,
    first_prompt_settle_ms: 0,
    paste_placeholder: None,
    working: None,
    dialogs: &[],
    leaves_running: "",
    version_args: &[],
    tested_version: None,
    requirements: no_requirements,
};
