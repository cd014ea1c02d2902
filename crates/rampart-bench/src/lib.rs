//! Benchmarks of rampart against its peers, measured in one process by one harness.
//!
//! The [`harness`] calibrates, warms up and takes the median of several repetitions;
//! [`cases`] holds one module per peer family and the ratio targets. The binary runs
//! the cases whose name contains any command-line filter (all when none are given):
//!
//! ```text
//! cargo run --release -p rampart-bench -- [FILTER...]
//! ```

pub mod cases;
pub mod harness;
