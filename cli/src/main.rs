//! The `devflow` command line.
fn main() {
    println!("devflow {}", env!("CARGO_PKG_VERSION"));
}
