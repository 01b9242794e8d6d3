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
    Exceptions = 1,
    // 2 belongs to clap: a usage error exits inside `Cli::parse`.
    BadInput = 3,
    Internal = 4,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Reconcile(args) => reconcile(*args),
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

fn reconcile(args: cli::ReconcileArgs) -> anyhow::Result<Exit> {
    let (format, fail_on) = (args.format, args.fail_on);
    let summary = posrecon::reconcile(&args.into_config()?)?;
    let mut out = io::stdout().lock();
    match format {
        cli::Format::Table => posrecon::report::write_summary_table(&mut out, &summary)?,
        cli::Format::Json => {
            serde_json::to_writer_pretty(&mut out, &posrecon::report::summary_json(&summary))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    let needs_attention = summary.exceptions > 0 || summary.actions.total() > 0;
    Ok(if needs_attention && fail_on == cli::FailOn::Exceptions {
        Exit::Exceptions
    } else {
        Exit::Clean
    })
}

fn check(args: &cli::CheckArgs) -> anyhow::Result<Exit> {
    let file = posrecon::check(&args.file, args.kind.into())?;
    let mut out = io::stdout().lock();
    posrecon::report::write_check(&mut out, &file)?;
    out.flush()?;
    Ok(Exit::Clean)
}
