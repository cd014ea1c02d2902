//! The `rampart` binary; see the `rampart_cli` library for what each subcommand does.

use clap::Parser;
use rampart_cli::cli::{run, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    run(Cli::parse())
}
