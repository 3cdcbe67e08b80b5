//! The stub's protocol handling, driven with the requests the real CLIs sent (fixtures captured
//! with `--capture`), and the binary's lifetime rules.

#![allow(clippy::disallowed_methods)] // Tests start the binaries they test, and keep their own deadlines.

mod binary;
mod protocols;
mod support;
