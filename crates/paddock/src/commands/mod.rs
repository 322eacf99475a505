//! One module per subcommand.

mod audit;
mod demo;
mod doctor;
mod migrate;
mod practice;
mod retention;
mod serve;

use crate::cli::{AuditCommand, Command, DemoAction, RetentionCommand};
use std::process::ExitCode;

/// A command's failure, printed with its causes by `main`.
pub type CommandError = Box<dyn std::error::Error + Send + Sync>;

/// Runs one subcommand to completion.
pub async fn run(command: Command) -> Result<ExitCode, CommandError> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Migrate => migrate::run().await,
        Command::Practice(crate::cli::PracticeCommand::Create(args)) => {
            practice::create(args).await
        }
        Command::Demo(args) => match args.action {
            Some(DemoAction::Seed) => demo::seed_only().await,
            None => demo::run(args).await,
        },
        Command::Doctor(args) => doctor::run(args).await,
        Command::Audit(AuditCommand::Verify(args)) => audit::verify::run(args).await,
        Command::Audit(AuditCommand::Checkpoint(args)) => audit::checkpoint::run(args).await,
        Command::Audit(AuditCommand::Export(args)) => audit::export::run(args).await,
        Command::Audit(AuditCommand::Purge(args)) => audit::purge::run(args).await,
        Command::Retention(RetentionCommand::Run(args)) => retention::run(args).await,
    }
}
