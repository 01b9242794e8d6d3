//! The process boundary: parse arguments, call the library, print an error
//! once, choose the exit status. No business logic lives here.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use posrecon::InputError;

mod cli;

/// Exit statuses are a contract with whatever runs us from cron.
/// Keep this enum, `cli::EXIT_STATUS` and the README table in step.
#[derive(Debug, Clone, Copy)]
enum Exit {
    Clean = 0,
    #[allow(dead_code)] // reconcile reports exceptions with it
    Exceptions = 1,
    // 2 belongs to clap: a usage error exits inside `Cli::parse`.
    BadInput = 3,
    Internal = 4,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Check(args) => check(&args),
    };
    let exit = result.unwrap_or_else(|err| {
        eprintln!("posrecon: error: {err:#}");
        if err.chain().any(|cause| cause.is::<InputError>()) {
            Exit::BadInput
        } else {
            Exit::Internal
        }
    });
    ExitCode::from(exit as u8)
}

fn check(args: &cli::CheckArgs) -> anyhow::Result<Exit> {
    let file = posrecon::check(&args.file, args.kind.into())?;
    let mut out = io::stdout().lock();
    posrecon::report::write_check(&mut out, &file)?;
    out.flush()?;
    Ok(Exit::Clean)
}
