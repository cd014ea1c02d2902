//! The `rampart` command: resilience arithmetic and tooling for operators.
//!
//! `rampart budget` works out how many attempts of a call fit in a user-facing SLA (see
//! [`budget`]); `rampart check CONFIG.toml` lints a configuration file for the seeds'
//! pattern traps (see [`check`]); `rampart simulate [SCENARIO]` replays an outage
//! against a configuration in virtual time (see [`simulate`]).
//! The library target exists so the arithmetic can be tested and reused; the binary
//! (`src/main.rs`) only parses arguments and calls [`cli::run`].

pub mod budget;
pub mod check;
pub mod cli;
pub mod report;
pub mod simulate;
