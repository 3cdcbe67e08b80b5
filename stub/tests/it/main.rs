//! The stub's protocol handling, driven with the requests the real CLIs sent (fixtures captured
//! with `--capture`), and the binary's lifetime rules.

mod binary;
mod protocols;
mod support;
