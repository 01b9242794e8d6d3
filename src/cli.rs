//! Command-line arguments (clap derive) and their conversion into library calls.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use posrecon::InputKind;

pub(crate) const EXIT_STATUS: &str = "\
Exit status:
  0  all reconciled, nothing to act on (check: the file is valid)
  1  ran fine, but there are exceptions or actions to take
  2  usage error (bad flags or arguments)
  3  bad input: a file is missing, unreadable or malformed; nothing was written
  4  internal or I/O failure (could not write output, or a bug)";

/// Reconciles POS terminal batch files against acquiring-bank settlement files.
///
/// It matches what the terminals captured with what the bank settled, explains
/// every difference, and turns each transaction that must be cancelled into a
/// void request, a refund instruction, a dispute case or a rejection.
#[derive(Debug, Parser)]
#[command(name = "posrecon", version, after_help = EXIT_STATUS)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Check(CheckArgs),
}

const CHECK_EXAMPLE: &str = "\
Example:
  posrecon check sample-data/bank-2026-11-24.csv --kind bank

Exit status:
  0  the file is valid
  2  usage error (bad flags or arguments)
  3  the file has problems, each listed as file:line: field: what is wrong";

/// Validates one input file and lists every problem in it.
///
/// Each problem is printed as `file:line: field: what is wrong` (the first 50,
/// then a count of the rest). A valid file gets its row count and amount total.
#[derive(Debug, clap::Args)]
#[command(after_help = CHECK_EXAMPLE)]
pub(crate) struct CheckArgs {
    /// The file to validate.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,

    /// What the file holds.
    #[arg(long, value_enum, value_name = "KIND")]
    pub(crate) kind: KindArg,
}

/// The kinds of input file, as spelled on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KindArg {
    /// A terminal batch file.
    Terminal,
    /// A bank settlement file.
    Bank,
    /// The merchants reference file.
    Merchants,
    /// The card status reference file.
    CardStatus,
    /// The cancellation requests file.
    Cancellations,
}

impl From<KindArg> for InputKind {
    fn from(kind: KindArg) -> InputKind {
        match kind {
            KindArg::Terminal => InputKind::Terminal,
            KindArg::Bank => InputKind::Bank,
            KindArg::Merchants => InputKind::Merchants,
            KindArg::CardStatus => InputKind::CardStatus,
            KindArg::Cancellations => InputKind::Cancellations,
        }
    }
}
