//! The process boundary: parse arguments, call the library, print an error
//! once, choose the exit status. No business logic lives here.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use posrecon::InputError;

mod cli;
mod term;

/// Exit statuses are a contract with whatever runs us from cron.
/// Keep this enum, `cli::EXIT_STATUS` and the README table in step.
#[derive(Debug, Clone, Copy)]
enum Exit {
    Clean = 0,
    Exceptions = 1,
    // Most usage errors exit inside `Cli::parse`; this is for those found later
    // (a profile name that no profile has).
    Usage = 2,
    BadInput = 3,
    Internal = 4,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Reconcile(args) => reconcile(*args),
        cli::Command::Check(args) => check(&args),
        cli::Command::Show(args) => show(&args),
        cli::Command::Runs(args) => runs(&args),
        cli::Command::Completions(args) => {
            print_with(|out| cli::write_completions(args.shell, out))
        }
        cli::Command::Man(args) => print_with(|out| cli::write_man(args.command.as_deref(), out)),
        cli::Command::Profiles(args) => profiles(&args),
    };
    let exit = result.unwrap_or_else(|err| {
        let err = if posrecon::ledger::is_busy(&err) {
            err.context(
                "the ledger is locked by another program (another posrecon writing a night, or \
                 a tool holding it open); run this again when that has finished",
            )
        } else {
            err
        };
        term::print_error(&err);
        if err.chain().any(|cause| cause.is::<cli::UsageError>()) {
            Exit::Usage
        } else if err.chain().any(|cause| cause.is::<InputError>()) {
            Exit::BadInput
        } else {
            Exit::Internal
        }
    });
    ExitCode::from(exit as u8)
}

fn reconcile(args: cli::ReconcileArgs) -> anyhow::Result<Exit> {
    let (format, fail_on, quiet) = (args.format, args.fail_on, args.quiet);
    let config = args.into_config()?;
    let show = if quiet {
        term::ShowProgress::Never
    } else {
        term::ShowProgress::OnTerminal
    };
    let timings = std::env::var_os("POSRECON_TIMINGS").is_some();
    if timings {
        posrecon::progress::keep_timings();
    }
    let summary = term::with_progress(show, &config.inputs(), || posrecon::reconcile(&config))?;
    if timings {
        print_stage_times();
    }
    to_stdout(|out| {
        match format {
            _ if quiet => {}
            cli::Format::Table => posrecon::report::write_summary_table(out, &summary)?,
            cli::Format::Json => {
                serde_json::to_writer_pretty(&mut *out, &posrecon::report::summary_json(&summary))?;
                writeln!(out)?;
            }
        }
        Ok(())
    })?;
    Ok(
        if summary.needs_attention() && fail_on == cli::FailOn::Exceptions {
            Exit::Exceptions
        } else {
            Exit::Clean
        },
    )
}

fn show(args: &cli::ShowArgs) -> anyhow::Result<Exit> {
    let ledger = posrecon::ledger::Ledger::open_existing(&args.ledger.path()?)?;
    let terminal = args
        .terminal
        .as_deref()
        .zip(args.trace.as_deref())
        .map(|(tid, trace)| (tid, trace, args.batch.as_deref()));
    let (records, actions) = ledger.show(args.rrn.as_deref(), terminal)?;
    to_stdout(|out| {
        match args.format {
            cli::Format::Table => posrecon::report::write_show_table(out, &records, &actions)?,
            cli::Format::Json => {
                let json = serde_json::json!({"records": records, "actions": actions});
                serde_json::to_writer_pretty(&mut *out, &json)?;
                writeln!(out)?;
            }
        }
        Ok(())
    })?;
    Ok(if records.is_empty() && actions.is_empty() {
        Exit::Exceptions
    } else {
        Exit::Clean
    })
}

fn runs(args: &cli::RunsArgs) -> anyhow::Result<Exit> {
    let ledger = posrecon::ledger::Ledger::open_existing(&args.ledger.path()?)?;
    let runs = ledger.runs(args.limit)?;
    print_with(|out| {
        match args.format {
            cli::Format::Table => posrecon::report::write_runs_table(out, &runs)?,
            cli::Format::Json => {
                let json: Vec<serde_json::Value> = runs
                    .iter()
                    .map(|run| serde_json::json!({"run": run.run_id, "as_of": run.as_of, "status": run.status, "summary": run.summary}))
                    .collect();
                serde_json::to_writer_pretty(&mut *out, &json)?;
                writeln!(out)?;
            }
        }
        Ok(())
    })
}

/// One stderr line of seconds per stage: where a run's time goes.
fn print_stage_times() {
    let times = posrecon::progress::stage_times(std::time::Instant::now());
    let line: Vec<String> = times
        .iter()
        .map(|(stage, took)| format!("{} {:.3}", stage.as_str(), took.as_secs_f64()))
        .collect();
    eprintln!("posrecon: stage seconds: {}", line.join(", "));
    let mib = |kib: Option<u64>| kib.map_or("?".to_string(), |k| (k / 1024).to_string());
    let peaks: Vec<String> = posrecon::progress::stage_peaks()
        .iter()
        .map(|(stage, kib)| format!("{} {}", stage.as_str(), mib(*kib)))
        .chain([format!("end {}", mib(posrecon::progress::peak_kib()))])
        .collect();
    eprintln!("posrecon: peak MiB at stage start: {}", peaks.join(", "));
}

/// Prints what `write` writes on stdout, and exits clean.
fn print_with(
    write: impl FnOnce(&mut io::StdoutLock<'static>) -> anyhow::Result<()>,
) -> anyhow::Result<Exit> {
    to_stdout(write)?;
    Ok(Exit::Clean)
}

/// Writes on stdout what `write` writes. A reader that stopped early
/// (`| head`) is no error: the command did what it was asked, and its exit
/// status still says how that went.
fn to_stdout(
    write: impl FnOnce(&mut io::StdoutLock<'static>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match write(&mut out).and_then(|()| Ok(out.flush()?)) {
        Err(err) if closed_pipe(&err) => Ok(()),
        done => done,
    }
}

fn closed_pipe(err: &anyhow::Error) -> bool {
    let broken = |kind: Option<io::ErrorKind>| kind == Some(io::ErrorKind::BrokenPipe);
    err.chain().any(|cause| {
        broken(cause.downcast_ref::<io::Error>().map(io::Error::kind))
            || broken(
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind),
            )
    })
}

fn check(args: &cli::CheckArgs) -> anyhow::Result<Exit> {
    let (kind, choice) = args.kind_and_choice()?;
    let file = posrecon::check(&args.file, kind, &choice)?;
    print_with(|out| Ok(posrecon::report::write_check(out, &file)?))
}

fn profiles(args: &cli::ProfilesArgs) -> anyhow::Result<Exit> {
    let all = args.profiles()?;
    let profile = match &args.action {
        None => None,
        Some(cli::ProfilesAction::Show { name }) => {
            Some(posrecon::read::find_profile(&all, name).ok_or_else(|| {
                cli::UsageError(format!(
                    "there is no profile named {name:?}; `posrecon profiles` lists them"
                ))
            })?)
        }
    };
    print_with(|out| {
        match profile {
            None => posrecon::report::write_profiles_table(out, &all)?,
            Some(profile) => write!(out, "{}", posrecon::read::profile_to_toml(profile))?,
        }
        Ok(())
    })
}
