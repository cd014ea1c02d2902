// The README is this crate's documentation, so `cargo test` compiles and runs its Rust
// code blocks as doctests. The runnable scenarios are this package's examples.
#![doc = include_str!("../README.md")]
