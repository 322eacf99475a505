//! `paddock`: the one binary. Serves the application and runs the admin commands.
//!
//! Output contract: machine-readable results (JSON) go to stdout, logs and messages
//! to stderr, so scripts can pipe stdout straight into a JSON parser.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod cli;
mod commands;
mod config;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    config::init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("paddock: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "paddock: error: {}",
                paddock_web::error::error_chain(error.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}
