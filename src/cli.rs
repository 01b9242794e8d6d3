//! Command-line arguments (clap derive) and their conversion into library calls.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use rust_decimal::Decimal;

use posrecon::model::Amount;
use posrecon::policy::{self, DuplicatePolicy, Policy, PolicyOverrides};
use posrecon::read::{Profile, ProfileChoice};
use posrecon::{Config, InputKind};

/// A usage error found after parsing (an unknown profile name): exit status 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) const EXIT_STATUS: &str = "\
Examples:
  posrecon check sample-data/terminal-2026-11-23.csv --kind terminal
  posrecon reconcile --terminal terminal.csv --bank bank.csv --out out --xlsx
  posrecon reconcile --help

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
    Reconcile(Box<ReconcileArgs>),
    Check(CheckArgs),
    Show(ShowArgs),
    Runs(RunsArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
    Profiles(ProfilesArgs),
}

const COMPLETIONS_EXAMPLE: &str = "\
Examples:
  posrecon completions bash > /etc/bash_completion.d/posrecon
  posrecon completions zsh > \"${fpath[1]}/_posrecon\"
  posrecon completions fish > ~/.config/fish/completions/posrecon.fish
  posrecon completions powershell >> $PROFILE

Exit status:
  0  the script was printed
  2  usage error (bad flags or arguments, an unknown shell)
  4  it could not be written";

/// Prints a tab-completion script for a shell on stdout.
#[derive(Debug, clap::Args)]
#[command(after_help = COMPLETIONS_EXAMPLE)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: clap_complete::Shell,
}

const MAN_EXAMPLE: &str = "\
Examples:
  posrecon man > /usr/local/share/man/man1/posrecon.1
  posrecon man reconcile > /usr/local/share/man/man1/posrecon-reconcile.1
  posrecon man | man -l -

Exit status:
  0  the page was printed
  2  usage error (bad flags or arguments, an unknown command)
  4  it could not be written";

/// Prints a man page (roff) on stdout: posrecon(1), or one command's.
#[derive(Debug, clap::Args)]
#[command(after_help = MAN_EXAMPLE)]
pub(crate) struct ManArgs {
    /// The command whose page to print, like reconcile [default: the whole program].
    #[arg(value_name = "COMMAND", value_parser = ["reconcile", "check", "show", "runs", "profiles", "completions", "man"])]
    pub(crate) command: Option<String>,
}

/// Writes the completion script for `shell`.
pub(crate) fn write_completions(
    shell: clap_complete::Shell,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let mut command = Cli::command();
    // clap_complete panics when its writer fails (a closed pipe, a full
    // disk): it writes into memory, and the error of the real write is ours.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "posrecon", &mut script);
    Ok(out.write_all(&script)?)
}

/// Writes the man page of the program, or of one of its commands.
pub(crate) fn write_man(
    command: Option<&str>,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    // `posrecon help COMMAND` is clap's alias for `COMMAND --help`, with no
    // page of its own: the pages neither list nor offer one.
    let mut program = Cli::command().disable_help_subcommand(true);
    program.build();
    let page = match command {
        None => clap_mangen::Man::new(program),
        Some(name) => {
            let sub = program
                .find_subcommand(name)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("IE: no command {name:?}"))?;
            clap_mangen::Man::new(sub.display_name(format!("posrecon-{name}")))
                .source(format!("posrecon {}", env!("CARGO_PKG_VERSION")))
        }
    };
    page.render(out)?;
    Ok(())
}

const PROFILES_EXAMPLE: &str = "\
Examples:
  posrecon profiles
  posrecon profiles show unionpay-zm
  posrecon profiles --config sample-data/acquirer-gbk.toml show acquirer-gbk

Exit status:
  0  listed
  2  usage error (bad flags, or no profile of that name)
  3  the config file is missing or wrong";

/// Lists the format profiles: built in, and those of the config file.
///
/// A profile says how to read a terminal or bank file in its source's own
/// layout (encoding, delimiter or fixed widths, header, preamble, trailer,
/// column names, date and amount styles, transaction codes).
#[derive(Debug, clap::Args)]
#[command(after_help = PROFILES_EXAMPLE)]
pub(crate) struct ProfilesArgs {
    /// Config file (TOML) whose [profiles.NAME] tables to list too.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) action: Option<ProfilesAction>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfilesAction {
    /// Prints one profile as TOML, to copy into a config file and edit.
    Show {
        /// The profile's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

impl ProfilesArgs {
    /// Every profile known: built in, then the config file's.
    pub(crate) fn profiles(&self) -> anyhow::Result<Vec<Profile>> {
        known_profiles(self.config.as_ref())
    }
}

/// The built-in profiles and those of the config file, if one is named.
fn known_profiles(config: Option<&PathBuf>) -> anyhow::Result<Vec<Profile>> {
    let configured = match config {
        Some(path) => posrecon::read::read_config(path)?.profiles,
        None => Vec::new(),
    };
    Ok(posrecon::read::all_profiles(&configured))
}

/// Finds a profile named on the command line, of the kind `flag` reads.
fn named_profile(
    all: &[Profile],
    name: &str,
    kind: Option<InputKind>,
    flag: &str,
) -> Result<Arc<Profile>, UsageError> {
    let profile = posrecon::read::find_profile(all, name).ok_or_else(|| {
        UsageError(format!(
            "{flag}: there is no profile named {name:?}; `posrecon profiles` lists them"
        ))
    })?;
    if let Some(kind) = kind
        && profile.kind != kind
    {
        return Err(UsageError(format!(
            "{flag}: profile {name:?} reads {}s, not {}s",
            profile.kind.description(),
            kind.description()
        )));
    }
    Ok(Arc::new(profile.clone()))
}

/// The profile of each input file, `None` for the canonical format.
type ProfileList = Vec<Option<Arc<Profile>>>;

/// Splits `NAME:FILE` arguments (only when NAME is a known profile, so any
/// other path with a colon is read as it is) and gives the others `default`.
fn resolve_inputs(
    args: Vec<PathBuf>,
    default: Option<&str>,
    all: &[Profile],
    kind: InputKind,
    flag: &str,
) -> Result<(Vec<PathBuf>, ProfileList), UsageError> {
    let default = default
        .map(|name| named_profile(all, name, Some(kind), &format!("{flag}-profile")))
        .transpose()?;
    let mut paths = Vec::with_capacity(args.len());
    let mut profiles = Vec::with_capacity(args.len());
    for arg in args {
        let prefixed = arg.to_str().and_then(|text| {
            let (name, file) = text.split_once(':')?;
            posrecon::read::find_profile(all, name).map(|_| (name.to_string(), file.to_string()))
        });
        match prefixed {
            Some((name, file)) => {
                profiles.push(Some(named_profile(all, &name, Some(kind), flag)?));
                paths.push(PathBuf::from(file));
            }
            None => {
                profiles.push(default.clone());
                paths.push(arg);
            }
        }
    }
    Ok((paths, profiles))
}

const SHOW_EXAMPLE: &str = "\
Examples:
  posrecon show --rrn 632711879714
  posrecon show --terminal 31000101 --trace 001212 --ledger /srv/recon/posrecon.db

Exit status:
  0  the ledger holds the transaction
  1  the ledger holds nothing for it
  2  usage error (bad flags or arguments)
  3  the ledger or config file is missing or unreadable
  4  internal or I/O failure";

/// Shows one transaction: every record, outcome, match rule and action the
/// ledger holds for it, run by run.
#[derive(Debug, clap::Args)]
#[command(after_help = SHOW_EXAMPLE)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["rrn", "terminal"])))]
pub(crate) struct ShowArgs {
    /// The retrieval reference number.
    #[arg(long, value_name = "RRN")]
    pub(crate) rrn: Option<String>,

    /// The terminal id (with --trace).
    #[arg(long, value_name = "TID", requires = "trace")]
    pub(crate) terminal: Option<String>,

    /// The trace number (with --terminal).
    #[arg(long, value_name = "NO", requires = "terminal")]
    pub(crate) trace: Option<String>,

    /// The batch number, when the trace recurs in several batches.
    #[arg(long, value_name = "NO", requires = "terminal")]
    pub(crate) batch: Option<String>,

    #[command(flatten)]
    pub(crate) ledger: LedgerArgs,

    /// A table for people, or JSON for scripts.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "table")]
    pub(crate) format: Format,
}

const RUNS_EXAMPLE: &str = "\
Example:
  posrecon runs --limit 7

Exit status:
  0  listed
  2  usage error (bad flags or arguments)
  3  the ledger or config file is missing or unreadable
  4  internal or I/O failure";

/// Lists recent runs with their control totals and action counts.
#[derive(Debug, clap::Args)]
#[command(after_help = RUNS_EXAMPLE)]
pub(crate) struct RunsArgs {
    /// How many runs to list, newest first.
    #[arg(long, value_name = "N", default_value = "20")]
    pub(crate) limit: usize,

    #[command(flatten)]
    pub(crate) ledger: LedgerArgs,

    /// A table for people, or JSON for scripts.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "table")]
    pub(crate) format: Format,
}

/// Where `show` and `runs` find the ledger.
#[derive(Debug, clap::Args)]
pub(crate) struct LedgerArgs {
    /// The ledger to read [default: [ledger] path in the config file, else posrecon.db].
    #[arg(long, value_name = "PATH")]
    ledger: Option<PathBuf>,

    /// Config file (TOML) whose [ledger] path names the ledger.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl LedgerArgs {
    /// The ledger's path: the flag, else the config file, else the default.
    pub(crate) fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.ledger {
            return Ok(path.clone());
        }
        if let Some(config) = &self.config
            && let Some(path) = posrecon::read::read_config(config)?.ledger
        {
            return Ok(path);
        }
        Ok(PathBuf::from(DEFAULT_LEDGER))
    }
}

const RECONCILE_EXAMPLE: &str = "\
Example:
  posrecon reconcile \\
      --terminal sample-data/terminal-2026-11-23.csv \\
      --terminal sample-data/terminal-2026-11-24.csv \\
      --bank sample-data/bank-2026-11-24.csv \\
      --merchants sample-data/merchants.csv \\
      --card-status sample-data/card-status.csv \\
      --cancellations sample-data/cancellations.csv \\
      --as-of '2026-11-24 22:00' --out out

Exit status:
  0  all reconciled, nothing to act on (PENDING records alone count as clean)
  1  ran fine, but there are exceptions, actions or rows set aside (--fail-on never: 0)
  2  usage error (bad flags or arguments)
  3  bad input: a file is missing, unreadable or malformed; nothing was written
  4  internal or I/O failure (could not write output, or a bug)";

/// Reconciles one night: matches terminal records with settlements, explains
/// every difference and writes the output files.
///
/// Policy settings come from the built-in defaults, then the config file's
/// [policy] table, then these flags (a flag wins).
#[derive(Debug, clap::Args)]
#[command(after_help = RECONCILE_EXAMPLE)]
pub(crate) struct ReconcileArgs {
    /// Terminal batch file; repeat for several terminals or days. PROFILE:FILE
    /// reads it through a format profile (see `posrecon profiles`).
    #[arg(long, value_name = "FILE", required = true)]
    pub(crate) terminal: Vec<PathBuf>,

    /// Bank settlement file; repeat for several. PROFILE:FILE reads it through
    /// a format profile, like unionpay-zm:INN26112401ZM_898310058120001.
    #[arg(long, value_name = "FILE", required = true)]
    pub(crate) bank: Vec<PathBuf>,

    /// Format profile for every --terminal file not given as PROFILE:FILE
    /// [default: the canonical format].
    #[arg(long, value_name = "NAME")]
    pub(crate) terminal_profile: Option<String>,

    /// Format profile for every --bank file not given as PROFILE:FILE
    /// [default: the canonical format].
    #[arg(long, value_name = "NAME")]
    pub(crate) bank_profile: Option<String>,

    /// Settlement date of bank files whose profile takes it from the file
    /// name (it wins over the name), like 2026-11-24.
    #[arg(long, value_name = "DATE", value_parser = posrecon::read::parse_settle_date)]
    pub(crate) settle_date: Option<NaiveDate>,

    /// Merchants file: names, void/refund permissions, contracted fee rates.
    #[arg(long, value_name = "FILE")]
    pub(crate) merchants: Option<PathBuf>,

    /// Card status file: cards LOST, FROZEN or CANCELLED cannot be cancelled.
    #[arg(long, value_name = "FILE")]
    pub(crate) card_status: Option<PathBuf>,

    /// Cancellation requests to decide: void, refund or reject.
    #[arg(long, value_name = "FILE")]
    pub(crate) cancellations: Option<PathBuf>,

    /// Config file (TOML) with a [policy] table and [fee_rates].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The moment to judge windows against, like "2026-11-24 22:00" [default: now].
    #[arg(long, value_name = "TIME", value_parser = policy::parse_as_of)]
    pub(crate) as_of: Option<NaiveDateTime>,

    /// Folder for the output files (created if missing).
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub(crate) out: PathBuf,

    /// The ledger (SQLite) that carries PENDING records between nights and
    /// remembers every action issued [default: [ledger] path in the config
    /// file, else posrecon.db].
    #[arg(long, value_name = "PATH", conflicts_with = "no_ledger")]
    pub(crate) ledger: Option<PathBuf>,

    /// Run stateless: read no ledger and write none.
    #[arg(long)]
    pub(crate) no_ledger: bool,

    /// Redo the latest run: replace what it recorded with this run's results.
    ///
    /// The latest run is redone when it read one of these files, or, when
    /// every file was corrected since, when it has the same --as-of;
    /// otherwise --rerun is refused (exit status 3), so a night is never
    /// recorded twice.
    #[arg(long, conflicts_with = "no_ledger")]
    pub(crate) rerun: bool,

    /// What to print on stdout: a summary table, or summary.json.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "table")]
    pub(crate) format: Format,

    /// Also write matches.csv: every terminal record with its outcome and match rule.
    #[arg(long)]
    pub(crate) write_matches: bool,

    /// Also write report.xlsx: a Summary sheet and one sheet per output file
    /// [config: [output] xlsx = true].
    #[arg(long)]
    pub(crate) xlsx: bool,

    /// Start each CSV file with a UTF-8 byte-order mark, so Excel shows
    /// Chinese text correctly [config: [output] csv_bom = true].
    #[arg(long)]
    pub(crate) csv_bom: bool,

    /// Print nothing but errors: no summary on stdout, no progress bar on
    /// stderr. The exit status and the output files say the rest.
    #[arg(long, short)]
    pub(crate) quiet: bool,

    /// Set up to N bad terminal or bank rows aside in rejected_rows.csv
    /// instead of failing the run (exit 1, not 0); more still fail with exit 3
    /// [default: 0, strict] [config: [input] max_rejects = N].
    #[arg(long, value_name = "N")]
    pub(crate) max_rejects: Option<u64>,

    /// When to exit 1: when there are exceptions or actions, or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "exceptions")]
    pub(crate) fail_on: FailOn,

    /// A transaction at or after this time belongs to the next business day [default: 23:00].
    #[arg(long, value_name = "HH:MM", value_parser = policy::parse_cutoff, help_heading = "Policy")]
    pub(crate) cutoff: Option<NaiveTime>,

    /// Business days an unsettled record stays PENDING before it is UNSETTLED [default: 1].
    #[arg(long, value_name = "DAYS", help_heading = "Policy")]
    pub(crate) settlement_lag_days: Option<u32>,

    /// Days after the business day during which a refund may be instructed [default: 180].
    #[arg(long, value_name = "DAYS", help_heading = "Policy")]
    pub(crate) refund_window_days: Option<u32>,

    /// Largest amount difference still counted as equal [default: 0.00].
    #[arg(long, value_name = "AMOUNT", value_parser = posrecon::read::parse_amount, help_heading = "Policy")]
    pub(crate) amount_tolerance: Option<Amount>,

    /// Largest time difference in the tolerant matching pass [default: 10m].
    #[arg(long, value_name = "SPAN", value_parser = policy::parse_span, help_heading = "Policy")]
    pub(crate) time_tolerance: Option<TimeDelta>,

    /// Same card, amount and terminal within this span is a suspected duplicate [default: 2m].
    #[arg(long, value_name = "SPAN", value_parser = policy::parse_span, help_heading = "Policy")]
    pub(crate) duplicate_window: Option<TimeDelta>,

    /// flag: only report suspected duplicates; cancel: also cancel them [default: flag].
    #[arg(long, value_name = "POLICY", value_parser = policy::parse_duplicate_policy, help_heading = "Policy")]
    pub(crate) suspected_duplicates: Option<DuplicatePolicy>,

    /// Contracted fee rate for merchants without their own, like 0.0038 or 0.38%; enables FEE_MISMATCH.
    #[arg(long, value_name = "RATE", value_parser = posrecon::read::parse_fee_rate, help_heading = "Policy")]
    pub(crate) fee_rate: Option<Decimal>,
}

/// What `reconcile` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A summary table for people.
    Table,
    /// summary.json, for scripts.
    Json,
}

/// When `reconcile` exits 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailOn {
    /// When there are exceptions or actions.
    Exceptions,
    /// Never: exit 0 whenever the run succeeds.
    Never,
}

/// Where the ledger lives when neither a flag nor the config file says.
const DEFAULT_LEDGER: &str = "posrecon.db";

impl ReconcileArgs {
    /// Turns the flags (and the config file they name) into a library `Config`.
    pub(crate) fn into_config(self) -> anyhow::Result<Config> {
        let mut policy = Policy::default();
        let mut ledger = PathBuf::from(DEFAULT_LEDGER);
        let (mut xlsx, mut csv_bom) = (self.xlsx, self.csv_bom);
        let mut configured = Vec::new();
        let mut max_rejects = self.max_rejects;
        if let Some(path) = &self.config {
            let settings = posrecon::read::read_config(path)?;
            settings.policy.apply_to(&mut policy);
            if let Some(path) = settings.ledger {
                ledger = path;
            }
            xlsx |= settings.xlsx;
            csv_bom |= settings.csv_bom;
            configured = settings.profiles;
            max_rejects = max_rejects.or(settings.max_rejects);
        }
        let all = posrecon::read::all_profiles(&configured);
        let (terminal, terminal_profiles) = resolve_inputs(
            self.terminal,
            self.terminal_profile.as_deref(),
            &all,
            InputKind::Terminal,
            "--terminal",
        )?;
        let (bank, bank_profiles) = resolve_inputs(
            self.bank,
            self.bank_profile.as_deref(),
            &all,
            InputKind::Bank,
            "--bank",
        )?;
        settle_date_is_used(self.settle_date, &bank_profiles)?;
        PolicyOverrides {
            cutoff: self.cutoff,
            settlement_lag_days: self.settlement_lag_days,
            refund_window_days: self.refund_window_days,
            amount_tolerance: self.amount_tolerance,
            time_tolerance: self.time_tolerance,
            duplicate_window: self.duplicate_window,
            suspected_duplicates: self.suspected_duplicates,
            fee_rate: self.fee_rate,
            fee_rates: Default::default(),
        }
        .apply_to(&mut policy);
        Ok(Config {
            terminal,
            bank,
            merchants: self.merchants,
            card_status: self.card_status,
            cancellations: self.cancellations,
            policy,
            // The clock's time to the second, as the ledger records it: a
            // night redone later is judged as of exactly the same moment.
            as_of: self.as_of.unwrap_or_else(|| {
                let now = chrono::Local::now().naive_local();
                now.with_nanosecond(0).unwrap_or(now)
            }),
            as_of_given: self.as_of.is_some(),
            out_dir: self.out,
            write_matches: self.write_matches,
            xlsx,
            csv_bom,
            ledger: if self.no_ledger {
                None
            } else {
                Some(self.ledger.unwrap_or(ledger))
            },
            rerun: self.rerun,
            terminal_profiles: ProfileChoice {
                profiles: terminal_profiles,
                settle_date: None,
            },
            bank_profiles: ProfileChoice {
                profiles: bank_profiles,
                settle_date: self.settle_date,
            },
            max_rejects: max_rejects.unwrap_or(0),
        })
    }
}

const CHECK_EXAMPLE: &str = "\
Examples:
  posrecon check sample-data/bank-2026-11-24.csv --kind bank
  posrecon check INN26112401ZM_898310058120001 --profile unionpay-zm

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

    /// What the file holds [default with --profile: the profile's kind].
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        required_unless_present = "profile"
    )]
    pub(crate) kind: Option<KindArg>,

    /// Read the file through this format profile (terminal and bank files).
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// Config file (TOML) whose [profiles.NAME] tables define more profiles.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Settlement date, when the profile takes it from the file name.
    #[arg(long, value_name = "DATE", value_parser = posrecon::read::parse_settle_date)]
    pub(crate) settle_date: Option<NaiveDate>,
}

impl CheckArgs {
    /// The kind of file to check and how to read it.
    pub(crate) fn kind_and_choice(&self) -> anyhow::Result<(InputKind, ProfileChoice)> {
        let kind = self.kind.map(InputKind::from);
        let Some(name) = &self.profile else {
            let kind = kind.expect("IE: clap requires --kind without --profile");
            settle_date_is_used(self.settle_date, &[])?;
            return Ok((kind, ProfileChoice::default()));
        };
        if let Some(kind) = kind
            && !matches!(kind, InputKind::Terminal | InputKind::Bank)
        {
            return Err(UsageError(format!(
                "--profile: profiles read terminal and bank files, not {}s",
                kind.description()
            ))
            .into());
        }
        let all = known_profiles(self.config.as_ref())?;
        let profile = named_profile(&all, name, kind, "--profile")?;
        let kind = profile.kind;
        let profiles = vec![Some(profile)];
        settle_date_is_used(self.settle_date, &profiles)?;
        Ok((
            kind,
            ProfileChoice {
                profiles,
                settle_date: self.settle_date,
            },
        ))
    }
}

/// Refuses `--settle-date` when no file is read through a profile that
/// takes its settlement date from the file name: it would change nothing,
/// and a date the user means to apply must not be silently ignored.
fn settle_date_is_used(
    settle_date: Option<NaiveDate>,
    profiles: &[Option<std::sync::Arc<posrecon::read::Profile>>],
) -> anyhow::Result<()> {
    let used = profiles
        .iter()
        .flatten()
        .any(|p| p.takes_settle_date_from_file_name());
    if settle_date.is_some() && !used {
        return Err(UsageError(
            "--settle-date: no bank file is read through a profile that takes its settlement \
             date from the file name (like unionpay-zm), so it would change nothing; leave it out"
                .into(),
        )
        .into());
    }
    Ok(())
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
