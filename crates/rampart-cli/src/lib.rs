//! The `rampart` command: resilience arithmetic and tooling for operators.
//!
//! Today it has one subcommand, `rampart budget`, which works out how many attempts of
//! a call fit in a user-facing SLA (see [`budget`]). `simulate` and `check` come next.
//! The library target exists so the arithmetic can be tested and reused; the binary
//! (`src/main.rs`) only parses arguments and calls [`cli::run`].

pub mod budget;
pub mod cli;
pub mod report;
