//! Reconciles POS terminal batch files against acquiring-bank settlement files.
//!
//! Data flows one way; each arrow is a plain function call in [`reconcile`]:
//!
//! ```text
//! read ──▶ matching ──▶ totals ──▶ write / workbook / report
//!   └──────────┴─── model, policy ───┴──────┘
//! ```
//!
//! * [`model`]: domain types. No I/O, no parsing rules.
//! * [`policy`]: the settings of SPEC §3 and the business-day calendar. Pure.
//! * [`read`]: the only module that reads files; rejects bad input with an
//!   [`InputError`] naming file, line and field.
//! * [`matching`]: pairs terminal records with settlements; one outcome per
//!   record. Pure.
//! * [`explain`]: the one-line explanation of each outcome. Pure.
//! * [`totals`]: control totals, and the check that they balance. Pure.
//! * [`write`]: the output files, atomically and formula-safe.
//! * [`workbook`]: the same files and the summary as one Excel workbook.
//! * [`report`]: the summary table and `summary.json`.
//! * [`progress`]: counters a terminal's progress bar polls. The library
//!   never prints.

pub mod decide;
pub mod explain;
pub mod ledger;
pub mod matching;
pub mod model;
mod order;
pub mod policy;
pub mod progress;
pub mod read;
pub mod report;
#[cfg(test)]
mod testkit;
pub mod totals;
pub mod workbook;
pub mod write;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDateTime;

pub use read::{InputError, InputFile, InputKind};

use explain::Night;
use matching::Outcome;
use policy::Policy;
use report::{ActionCounts, Summary};
use totals::Side;

/// Everything one `reconcile` run needs, already parsed.
#[derive(Debug, Clone)]
pub struct Config {
    pub terminal: Vec<PathBuf>,
    pub bank: Vec<PathBuf>,
    pub merchants: Option<PathBuf>,
    pub card_status: Option<PathBuf>,
    pub cancellations: Option<PathBuf>,
    pub policy: Policy,
    /// The moment windows are judged against.
    pub as_of: NaiveDateTime,
    /// Whether `as_of` was given (`--as-of`) rather than read off the clock.
    /// A night redone without it is judged as of the time it was first run.
    pub as_of_given: bool,
    pub out_dir: PathBuf,
    /// Also write `matches.csv`.
    pub write_matches: bool,
    /// Also write the Excel workbook `report.xlsx`.
    pub xlsx: bool,
    /// Start each CSV file with a UTF-8 byte-order mark (for Excel).
    pub csv_bom: bool,
    /// The ledger to keep; `None` runs stateless.
    pub ledger: Option<PathBuf>,
    /// Replace the run that already reconciled these files.
    pub rerun: bool,
    /// The format profile of each terminal file (default: canonical).
    pub terminal_profiles: read::ProfileChoice,
    /// The format profile of each bank file, and `--settle-date`.
    pub bank_profiles: read::ProfileChoice,
    /// Bad terminal and bank rows that may be set aside in
    /// `rejected_rows.csv` instead of failing the run; 0 is strict.
    pub max_rejects: u64,
}

impl Config {
    /// Every input file the run reads.
    pub fn inputs(&self) -> Vec<&Path> {
        let references = [&self.merchants, &self.card_status, &self.cancellations];
        self.terminal
            .iter()
            .chain(&self.bank)
            .map(PathBuf::as_path)
            .chain(references.into_iter().flatten().map(PathBuf::as_path))
            .collect()
    }

    /// The run's arguments as the ledger records them (JSON).
    fn describe(&self) -> String {
        let paths = |list: &[PathBuf]| {
            list.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        let one = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let profile_names = |choice: &read::ProfileChoice| {
            choice
                .profiles
                .iter()
                .map(|p| p.as_ref().map(|p| p.name.clone()))
                .collect::<Vec<_>>()
        };
        let mut arguments = serde_json::json!({
            "terminal": paths(&self.terminal),
            "bank": paths(&self.bank),
            "merchants": one(&self.merchants),
            "card_status": one(&self.card_status),
            "cancellations": one(&self.cancellations),
            "as_of": self.as_of.to_string(),
            "out": self.out_dir.display().to_string(),
            "rerun": self.rerun,
            "policy": {
                "cutoff": self.policy.cutoff.format("%H:%M").to_string(),
                "settlement_lag_days": self.policy.settlement_lag_days,
                "refund_window_days": self.policy.refund_window_days,
                "amount_tolerance": self.policy.amount_tolerance.to_string(),
                "time_tolerance": policy::Span(self.policy.time_tolerance).to_string(),
                "duplicate_window": policy::Span(self.policy.duplicate_window).to_string(),
                "suspected_duplicates": self.policy.suspected_duplicates.as_str(),
                "fee_rate": self.policy.fee_rates.default.map(|r| r.to_string()),
            },
        });
        // Only runs that allow rejects record the limit, so earlier ledgers read the same.
        if self.max_rejects > 0 {
            arguments["max_rejects"] = self.max_rejects.into();
        }
        // Output options too are recorded only when given, for the same reason.
        let outputs = [
            ("write_matches", self.write_matches),
            ("xlsx", self.xlsx),
            ("csv_bom", self.csv_bom),
        ];
        for (name, given) in outputs {
            if given {
                arguments[name] = true.into();
            }
        }
        // Only runs that use profiles record them, so earlier ledgers read the same.
        let used = |choice: &read::ProfileChoice| choice.profiles.iter().any(Option::is_some);
        if used(&self.terminal_profiles) || used(&self.bank_profiles) {
            arguments["terminal_profiles"] = profile_names(&self.terminal_profiles).into();
            arguments["bank_profiles"] = profile_names(&self.bank_profiles).into();
            arguments["settle_date"] = self.bank_profiles.settle_date.map(|d| d.to_string()).into();
        }
        arguments.to_string()
    }
}

/// Reads one file of `kind` strictly, as `reconcile` would, and returns its
/// control totals, or every problem found in it. `choice` holds the file's
/// format profile, if it has one (terminal and bank files only).
pub fn check(
    path: &Path,
    kind: InputKind,
    choice: &read::ProfileChoice,
) -> Result<InputFile, InputError> {
    let paths = [path.to_path_buf()];
    let mut files = match kind {
        InputKind::Terminal => read::read_terminal_records_with(&paths, choice, 0)?.files,
        InputKind::Bank => read::read_settlements_with(&paths, choice, 0)?.files,
        InputKind::Merchants => read::read_merchants(path)?.files,
        InputKind::CardStatus => read::read_card_statuses(path)?.files,
        InputKind::Cancellations => read::read_cancellations(path)?.files,
        InputKind::Carried => unreachable!("IE: carried records are not a file to check"),
    };
    Ok(files.remove(0))
}

/// A file named twice would have every row reported as its own duplicate
/// (and every settlement refunded as a DUPLICATE_SETTLEMENT); say what
/// actually happened instead. Same path first, then same content.
fn refuse_repeated_inputs(
    terminal: &[PathBuf],
    bank: &[PathBuf],
    files: &[&InputFile],
) -> Result<(), InputError> {
    let refuse = |path: &Path, message: String| {
        Err(InputError::single(read::Problem {
            path: path.to_path_buf(),
            line: None,
            field: None,
            message,
        }))
    };
    let named = terminal
        .iter()
        .map(|p| (p, "terminal"))
        .chain(bank.iter().map(|p| (p, "bank")));
    let mut seen: Vec<(PathBuf, &Path, &str)> = Vec::new();
    for (path, kind) in named {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if let Some((_, first, first_kind)) = seen.iter().find(|(c, _, _)| *c == canonical) {
            let message = if *first_kind != kind {
                format!("is given as both a {first_kind} and a {kind} file")
            } else if *first == path.as_path() {
                "is given twice; name each input file once".to_string()
            } else {
                format!(
                    "is given twice (also as {}); name each input file once",
                    first.display()
                )
            };
            return refuse(path, message);
        }
        seen.push((canonical, path, kind));
    }
    // A quiet night's header-only files may well be byte-identical.
    let with_rows: Vec<&&InputFile> = files.iter().filter(|f| f.rows > 0).collect();
    for (i, file) in with_rows.iter().enumerate() {
        if let Some(first) = with_rows[..i].iter().find(|f| f.sha256 == file.sha256) {
            return refuse(
                &file.path,
                format!(
                    "has the same content as {}; name each input file once",
                    first.path.display()
                ),
            );
        }
    }
    Ok(())
}

/// Joins the problems of several readers into one error, in input order.
fn all_problems(errors: impl IntoIterator<Item = Option<InputError>>) -> Result<(), InputError> {
    let mut joined: Option<InputError> = None;
    for error in errors.into_iter().flatten() {
        match &mut joined {
            None => joined = Some(error),
            Some(all) => all.append(error),
        }
    }
    joined.map_or(Ok(()), Err)
}

/// The problems of one terminal or bank reader, for the run's error: its
/// own error, or (when the run fails anyway) the problems of the rows it set
/// aside, which then are not set aside after all.
fn reader_problems<T>(
    read: &Result<read::Read<T>, InputError>,
    failing: bool,
) -> Option<InputError> {
    match read {
        Err(err) => Some(err.clone()),
        Ok(read) if failing => read::RejectedRow::to_error(&read.rejected),
        Ok(_) => None,
    }
}

/// Bad rows found by one terminal or bank reader, set aside or not.
fn bad_rows<T>(read: &Result<read::Read<T>, InputError>) -> u64 {
    match read {
        Err(err) => err.bad_rows,
        Ok(read) => read.rejected.len() as u64,
    }
}

/// Aborts the process at a named point when `POSRECON_CRASH_AT` names it:
/// the failure-injection switch the crash-safety tests use. A real crash
/// (power, OOM killer) is an abort too: no destructors, no clean-up.
fn crash_point(point: &str) {
    if std::env::var_os("POSRECON_CRASH_AT").is_some_and(|at| at == point) {
        eprintln!("posrecon: crash injected at {point}");
        std::process::abort();
    }
}

/// Which run id this night gets in the ledger, and whether it replaces an
/// earlier version of that run.
struct Plan {
    run_id: i64,
    replaces: bool,
    /// What the night is judged as of: a night redone keeps its own as-of.
    as_of: NaiveDateTime,
}

/// Plans tonight's run from what the ledger holds: a new run, or the run
/// these files (or this quiet night, or this as-of) name, redone.
fn plan_run(ledger: &ledger::Ledger, files: &[InputFile], config: &Config) -> anyhow::Result<Plan> {
    let (rerun, as_of) = (config.rerun, config.as_of);
    // A header-only file (a quiet night) looks the same every time, and holds
    // nothing that could be counted twice.
    let files: Vec<&InputFile> = files.iter().filter(|f| f.rows > 0).collect();
    let hashes: Vec<&str> = files.iter().map(|f| f.sha256.as_str()).collect();
    let priors = ledger.runs_with_inputs(&hashes)?;
    let latest = ledger.latest_run()?;
    let refuse = |path: &Path, message: String| -> anyhow::Error {
        InputError::single(read::Problem {
            path: path.to_path_buf(),
            line: None,
            field: None,
            message,
        })
        .into()
    };
    let mut runs: Vec<i64> = priors.iter().map(|(run, _, _)| *run).collect();
    runs.dedup();
    let next = latest.as_ref().map_or(1, |l| l.run_id + 1);
    if let Some(latest) = latest.as_ref().filter(|l| l.status != "complete") {
        if runs == [latest.run_id] {
            // The same night again after a crash: replace the unfinished run.
            return redo(ledger, latest, config);
        }
        // A quiet night's files name no run; the same quiet night again is
        // one as of the same time after a run that read no row either. (The
        // clock's time, under cron, names no night: a quiet night then is
        // not taken for the unfinished one, whose requests it may not hold.)
        let as_of = as_of.format(ledger::TIME_FORMAT).to_string();
        let quiet = ledger.rows_read(latest.run_id)? == 0;
        if files.is_empty() && latest.as_of == as_of && quiet {
            return redo(ledger, latest, config);
        }
        let how = if quiet {
            format!(
                "run it again with the same files and --as-of \"{}\" first (its files hold no \
                 row, so only its as-of names it)",
                latest.as_of
            )
        } else {
            "run it again with the same files first".to_string()
        };
        return Err(refuse(
            ledger.path(),
            format!(
                "run {} (as of {}) did not finish writing its outputs; {how}",
                latest.run_id, latest.as_of
            ),
        ));
    }
    // Name the first of tonight's files (in the order given) that a run read.
    let Some((file, run, earlier_path)) = files.iter().find_map(|f| {
        priors
            .iter()
            .find(|(_, _, sha)| *sha == f.sha256)
            .map(|(run, path, _)| (f, *run, path))
    }) else {
        if !rerun {
            // Files without a row name no run either: the same quiet night
            // again would be recorded twice, its actions reported as issued
            // already and gone from its outputs.
            let as_of_text = as_of.format(ledger::TIME_FORMAT).to_string();
            if let Some(latest) = latest
                && files.is_empty()
                && latest.as_of == as_of_text
                && ledger.rows_read(latest.run_id)? == 0
            {
                return Err(refuse(
                    ledger.path(),
                    format!(
                        "run {} is as of the same time ({}), and these files hold no row: this \
                         is that night again; nothing was written. To redo it, add --rerun",
                        latest.run_id, latest.as_of
                    ),
                ));
            }
            return Ok(Plan {
                run_id: next,
                replaces: false,
                as_of: config.as_of,
            });
        }
        // Every file that has rows was corrected since the night was run, so
        // no hash names it: the as-of does. Never take --rerun for a new
        // night, which would record that night's records a second time.
        let as_of = as_of.format(ledger::TIME_FORMAT).to_string();
        return match latest {
            Some(latest) if latest.as_of == as_of => redo(ledger, &latest, config),
            Some(latest) => Err(refuse(
                ledger.path(),
                format!(
                    "--rerun redoes the latest run, run {} (as of {}), but none of these files \
                     was read by it and this run is as of {as_of}; nothing was written. To redo \
                     run {} with corrected files, give --as-of \"{}\"; for a new night, leave \
                     out --rerun",
                    latest.run_id, latest.as_of, latest.run_id, latest.as_of
                ),
            )),
            None => Err(refuse(
                ledger.path(),
                "--rerun redoes the latest run, but the ledger holds no run yet; \
                 nothing was written. Leave out --rerun"
                    .into(),
            )),
        };
    };
    if runs.len() > 1 {
        return Err(refuse(
            &file.path,
            format!(
                "these files were reconciled in different runs ({}); re-run one night at a time",
                runs.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if !rerun {
        let alias = if Path::new(earlier_path) == file.path {
            String::new()
        } else {
            format!(" under the name {earlier_path} (same content)")
        };
        return Err(refuse(
            &file.path,
            format!(
                "was already reconciled in run {run}{alias}; nothing was written. \
                 To redo that night, add --rerun"
            ),
        ));
    }
    match latest {
        Some(latest) if latest.run_id == run => redo(ledger, &latest, config),
        _ => Err(refuse(
            &file.path,
            format!(
                "was reconciled in run {run}, but only the latest run ({}) can be re-run",
                next - 1
            ),
        )),
    }
}

/// The plan that replaces `latest`, judged as of its own as-of: the same
/// night at a later time would decide again (a void issued before the cutoff
/// would turn into a refund, and the sale be cancelled twice). An `--as-of`
/// given must therefore be that one.
fn redo(
    ledger: &ledger::Ledger,
    latest: &ledger::RunInfo,
    config: &Config,
) -> anyhow::Result<Plan> {
    let night =
        NaiveDateTime::parse_from_str(&latest.as_of, ledger::TIME_FORMAT).with_context(|| {
            format!(
                "the ledger holds run {} with as-of {:?}",
                latest.run_id, latest.as_of
            )
        })?;
    let given = config.as_of.format(ledger::TIME_FORMAT).to_string();
    if config.as_of_given && given != latest.as_of {
        return Err(InputError::single(read::Problem {
            path: ledger.path().to_path_buf(),
            line: None,
            field: None,
            message: format!(
                "this redoes run {}, which was as of {}, but --as-of is {given}; nothing was \
                 written. A night is redone as of its own time, so that the actions it issued \
                 come out the same: leave out --as-of, or give --as-of \"{}\"",
                latest.run_id, latest.as_of, latest.as_of
            ),
        })
        .into());
    }
    Ok(Plan {
        run_id: latest.run_id,
        replaces: true,
        as_of: night,
    })
}

/// Runs one night: reads every input, matches, decides, checks the control
/// totals and writes the output files and the ledger. Nothing is written
/// unless all of it succeeds; a crash at any point and a re-run leave the same
/// result as one clean run.
///
/// It returns once everything is written, before the night's records are
/// freed: a thread of its own frees them, so a caller that runs another
/// night at once may hold two nights' records for a moment.
pub fn reconcile(config: &Config) -> anyhow::Result<Summary> {
    progress::enter(progress::Stage::Reading);
    refuse_repeated_inputs(&config.terminal, &config.bank, &[])?;
    let max_rejects = config.max_rejects;
    // The two big inputs are read side by side, one core each.
    let (terminal, bank) = std::thread::scope(|scope| {
        // The bank file is the quicker to read: its thread goes on to sort
        // the settlements while the terminal side reads.
        let bank = scope.spawn(|| {
            let read =
                read::read_settlements_with(&config.bank, &config.bank_profiles, max_rejects);
            let order = read
                .as_ref()
                .ok()
                .map(|read| matching::BankOrder::new(&read.records));
            (read, order)
        });
        let terminal = read::read_terminal_records_with(
            &config.terminal,
            &config.terminal_profiles,
            max_rejects,
        );
        let bank = bank
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (terminal, bank)
    });
    let (bank, bank_order) = bank;
    // Built once both files are read, with both cores free: beside the
    // terminal side's reading, its two threads slowed it. Not for a night
    // that fails already.
    let bank_index = bank
        .as_ref()
        .ok()
        .filter(|_| terminal.is_ok())
        .zip(bank_order)
        .map(|(read, order)| matching::BankIndex::in_order(&read.records, order));
    let merchants = config.merchants.as_deref().map(read::read_merchants);
    let cards = config.card_status.as_deref().map(read::read_card_statuses);
    let requests = config
        .cancellations
        .as_deref()
        .map(read::read_cancellations);
    // The limit is for the night as a whole: every terminal and bank file.
    let bad = bad_rows(&terminal) + bad_rows(&bank);
    let over_limit = bad > max_rejects;
    let failing = over_limit
        || terminal.is_err()
        || bank.is_err()
        || [
            merchants.as_ref().map(Result::is_err),
            cards.as_ref().map(Result::is_err),
            requests.as_ref().map(Result::is_err),
        ]
        .contains(&Some(true));
    all_problems([
        reader_problems(&terminal, failing),
        reader_problems(&bank, failing),
        merchants.as_ref().and_then(|m| m.as_ref().err().cloned()),
        cards.as_ref().and_then(|c| c.as_ref().err().cloned()),
        requests.as_ref().and_then(|r| r.as_ref().err().cloned()),
    ])
    .map_err(|mut err| {
        if over_limit && max_rejects > 0 {
            err.bad_rows = bad;
            err.max_rejects = Some(max_rejects);
        }
        err
    })?;
    let (mut terminal, bank) = (terminal?, bank?);
    let nightly: Vec<&InputFile> = terminal.files.iter().chain(&bank.files).collect();
    refuse_repeated_inputs(&config.terminal, &config.bank, &nightly)?;
    let merchants = merchants.transpose()?;
    let cards = cards.transpose()?;
    let requests = requests.transpose()?;
    let no_requests = Vec::new();
    let request_list = requests.as_ref().map_or(&no_requests, |r| &r.records);

    let _one_at_a_time = config
        .ledger
        .as_deref()
        .map(ledger::lock_for_night)
        .transpose()?;
    let mut ledger = config
        .ledger
        .as_deref()
        .map(ledger::Ledger::open)
        .transpose()?;
    let mut plan = Plan {
        run_id: 0,
        replaces: false,
        as_of: config.as_of,
    };
    let mut history = decide::History::default();
    let mut earlier = matching::Earlier::default();
    if let Some(ledger) = &ledger {
        let mut nightly: Vec<InputFile> = terminal.files.clone();
        nightly.extend(bank.files.iter().cloned());
        plan = plan_run(ledger, &nightly, config)?;
        earlier.duplicates = carry_in(&mut terminal, ledger.carried(plan.run_id)?);
        history = ledger.history(plan.run_id, request_list, &terminal.records)?;
        earlier.voids = ledger
            .voided_before(plan.run_id, &terminal.records)?
            .into_iter()
            .collect();
    }
    let Plan {
        run_id,
        replaces,
        as_of,
    } = plan;
    // From here on the night's as-of, which a night redone takes from the ledger.
    let config = &Config {
        as_of,
        ..config.clone()
    };

    let mut policy = config.policy.clone();
    for merchant in merchants.iter().flat_map(|m| &m.records) {
        if let Some(rate) = merchant.fee_rate {
            policy
                .fee_rates
                .by_merchant
                .insert(merchant.merchant_id.clone(), rate);
        }
    }

    progress::enter(progress::Stage::Matching);
    let bank_index =
        bank_index.expect("IE: the bank index is built whenever both kinds of file are read");
    // Deciding's indexes need the records, not the matching: they are built
    // on the core that matching leaves idle for a while.
    let (mut result, mut indexes) = matching::reconcile_beside(
        &terminal.records,
        &bank.records,
        (bank_index, &policy, config.as_of),
        earlier.clone(),
        || decide::Indexes::new(&terminal.records, &history, request_list),
    );
    if let Some(ledger) = &ledger {
        // A settlement of a record that an earlier night left UNSETTLED (or
        // VOIDED) brings it back, so that the two pair as in one run of both
        // nights' files rather than as a BANK_ONLY dispute. The night is then
        // matched again, which costs a second matching stage: only on nights
        // when it happens.
        // The tolerant pass may have given such a settlement to another
        // record of the same card: those are looked up too.
        let late: Vec<&model::Settlement> = bank
            .records
            .iter()
            .zip(&result.bank)
            .filter(|(_, r)| {
                r.outcome == Outcome::BankOnly
                    || r.terminal()
                        .is_some_and(|(_, rule)| rule == matching::Rule::Tolerant)
            })
            .map(|(s, _)| s)
            .collect();
        let overdue = ledger.overdue(run_id, &late)?;
        if !overdue.is_empty() {
            // The first matching goes before the second is made: both at
            // once raised the night's peak.
            drop((result, indexes));
            earlier.duplicates.extend(carry_in(&mut terminal, overdue));
            history = ledger.history(run_id, request_list, &terminal.records)?;
            earlier.voids = ledger
                .voided_before(run_id, &terminal.records)?
                .into_iter()
                .collect();
            (result, indexes) = matching::reconcile_beside(
                &terminal.records,
                &bank.records,
                (
                    matching::BankIndex::new(&bank.records),
                    &policy,
                    config.as_of,
                ),
                earlier,
                || decide::Indexes::new(&terminal.records, &history, request_list),
            );
        }
    }
    let night = Night {
        terminal: &terminal.records,
        bank: &bank.records,
        result: &result,
        policy: &policy,
    };

    progress::enter(progress::Stage::Deciding);
    let refs = decide::References {
        merchants: merchants.as_ref().map(|m| {
            m.records
                .iter()
                .map(|merchant| (merchant.merchant_id.as_str(), merchant))
                .collect()
        }),
        cards: cards
            .iter()
            .flat_map(|c| &c.records)
            .map(|c| (&c.card, c.state))
            .collect(),
    };
    // What earlier runs decided, as far as tonight's decisions look it up.
    let decided = OnceCell::new();
    let decide_night = || -> anyhow::Result<_> {
        let exceptions = explain::rows_where(&night, Outcome::is_exception);
        let pending = explain::rows_where(&night, |o| o == Outcome::Pending);
        let decider = decide::Decider::with_indexes(&night, &refs, &history, indexes, config.as_of);
        // With a ledger, a first pass lists what the decisions look up in
        // what earlier runs decided, and only that is read: reading it all
        // made each night slower than the one before.
        let (decisions, decider) = match &ledger {
            Some(ledger) => {
                // Their `cancel_route` is written with them.
                let routed = exceptions
                    .iter()
                    .chain(&pending)
                    .filter(|(side, _)| *side == Side::Terminal)
                    .map(|&(_, t)| t);
                let lookups = decider.history_lookups(request_list, routed);
                let mut read = history.clone();
                ledger.read_decided(run_id, lookups, &terminal.records, &mut read)?;
                let decided = decided.get_or_init(|| read);
                decide::decide_with(decider.with_history(decided), request_list)
            }
            None => decide::decide_with(decider, request_list),
        };
        Ok((exceptions, pending, decisions, decider))
    };
    // The control totals need only the matching: one core sums them while
    // the other decides (which writes nothing). A night whose totals do not
    // balance fails as before, with that error first; one whose matching
    // left a record without an outcome fails before it is decided.
    totals::every_record_has_an_outcome(&terminal.records, &bank.records, &result)?;
    let (totals, decided_night) = std::thread::scope(|scope| {
        let totals = scope.spawn(|| {
            totals::control_totals(
                totals::SideInput {
                    records: &terminal.records,
                    files: &terminal.files,
                    rejected: &terminal.rejected,
                },
                totals::SideInput {
                    records: &bank.records,
                    files: &bank.files,
                    rejected: &bank.rejected,
                },
                &result,
            )
        });
        let decided_night = decide_night();
        let totals = totals
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (totals, decided_night)
    });
    let totals = totals?;
    let (exceptions, pending, decisions, decider) = decided_night?;

    let mut inputs = terminal.files.clone();
    inputs.extend(bank.files.iter().cloned());
    for reference in [
        merchants.as_ref().map(|m| &m.files),
        cards.as_ref().map(|c| &c.files),
        requests.as_ref().map(|r| &r.files),
    ] {
        inputs.extend(reference.into_iter().flatten().cloned());
    }
    let summary = Summary {
        as_of: config.as_of,
        business_day: policy.business_day(config.as_of),
        inputs,
        totals,
        actions: ActionCounts {
            void: decisions.voids.len() as u64,
            refund: decisions.refunds.len() as u64,
            dispute: decisions.disputes.len() as u64,
            reject: decisions.rejections.len() as u64,
            already_issued: decisions.already_issued.len() as u64,
        },
        exceptions: exceptions.len() as u64,
        out_dir: config.out_dir.clone(),
        ledger: ledger.as_ref().map(|l| (l.path().to_path_buf(), run_id)),
    };

    progress::enter(progress::Stage::Writing);
    let mut outputs = write::Outputs::new(&config.out_dir)?;
    if config.csv_bom {
        outputs = outputs.with_byte_order_mark();
    }
    let rows = |list: &[(Side, usize)]| {
        list.iter()
            .map(|&(side, i)| write::exception_row(&night, &decider, side, i))
            .collect::<Vec<_>>()
    };
    let exception_rows = rows(&exceptions);
    let pending_rows = rows(&pending);
    outputs.csv("exceptions.csv", write::EXCEPTION_COLUMNS, &exception_rows)?;
    outputs.csv("pending.csv", write::EXCEPTION_COLUMNS, &pending_rows)?;
    let match_order = config.write_matches.then(|| {
        let mut order: Vec<usize> = (0..terminal.records.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&terminal.records[a], &terminal.records[b]);
            (&a.merchant_id, &a.terminal_id, &a.batch_no, &a.trace_no).cmp(&(
                &b.merchant_id,
                &b.terminal_id,
                &b.batch_no,
                &b.trace_no,
            ))
        });
        order
    });
    if let Some(order) = &match_order {
        outputs.csv(
            "matches.csv",
            write::MATCH_COLUMNS,
            order.iter().map(|&t| write::match_row(&night, t)),
        )?;
    }
    let action_rows = write::action_rows(&night, &decider, request_list, &decisions);
    let [voids, refunds, disputes, rejections] = &action_rows;
    outputs.csv("void_requests.csv", write::VOID_REQUEST_COLUMNS, voids)?;
    outputs.csv(
        "refund_instructions.csv",
        write::REFUND_INSTRUCTION_COLUMNS,
        refunds,
    )?;
    outputs.csv("disputes.csv", write::DISPUTE_COLUMNS, disputes)?;
    outputs.csv(
        "rejected_cancellations.csv",
        write::REJECTED_CANCELLATION_COLUMNS,
        rejections,
    )?;
    let rejected_rows: Vec<Vec<String>> = terminal
        .rejected
        .iter()
        .chain(&bank.rejected)
        .map(write::rejected_row)
        .collect();
    outputs.csv(
        "rejected_rows.csv",
        write::REJECTED_ROW_COLUMNS,
        &rejected_rows,
    )?;
    let summary_json = report::summary_json(&summary);
    let json = serde_json::to_string_pretty(&summary_json).context("rendering summary.json")?;
    outputs.file("summary.json", |out| Ok(write::write_text(out, &json)?))?;
    if config.xlsx {
        let held = |file, columns, rows| workbook::Sheet {
            file,
            columns,
            rows: workbook::Rows::Held(rows),
        };
        // The matches are made again, one row at a time, as their sheet is
        // written: a night's million rows are never held.
        let match_row = match_order.as_ref().map(|order| {
            let night = &night;
            move |i: usize| write::match_row(night, order[i])
        });
        let mut sheets = vec![
            held("exceptions.csv", write::EXCEPTION_COLUMNS, &exception_rows),
            held("pending.csv", write::EXCEPTION_COLUMNS, &pending_rows),
        ];
        if let (Some(order), Some(row)) = (&match_order, &match_row) {
            sheets.push(workbook::Sheet {
                file: "matches.csv",
                columns: write::MATCH_COLUMNS,
                rows: workbook::Rows::Made {
                    len: order.len(),
                    row,
                },
            });
        }
        sheets.extend([
            held("void_requests.csv", write::VOID_REQUEST_COLUMNS, voids),
            held(
                "refund_instructions.csv",
                write::REFUND_INSTRUCTION_COLUMNS,
                refunds,
            ),
            held("disputes.csv", write::DISPUTE_COLUMNS, disputes),
            held(
                "rejected_cancellations.csv",
                write::REJECTED_CANCELLATION_COLUMNS,
                rejections,
            ),
            held(
                "rejected_rows.csv",
                write::REJECTED_ROW_COLUMNS,
                &rejected_rows,
            ),
        ]);
        outputs.file(workbook::FILE, |out| {
            workbook::write_workbook(out, &summary, &sheets, &config.out_dir)
        })?;
    }
    crash_point("before-ledger");

    if let Some(ledger) = &mut ledger {
        let rows = ledger::run_rows(
            &night,
            &decider,
            &decisions,
            &action_rows,
            ledger::RunHead {
                run_id,
                replaces,
                as_of: config.as_of,
                arguments: config.describe(),
                summary: json.clone(),
                inputs: &summary.inputs,
            },
        );
        ledger.record_run(&rows)?;
    }
    crash_point("after-ledger");
    outputs.commit(|name| crash_point(&format!("after-rename:{name}")))?;
    crash_point("after-outputs");
    if let Some(ledger) = &ledger {
        ledger.mark_complete(run_id)?;
    }
    // Freeing the night's records and results reads every record again (a
    // quarter of a second and more on a 5 M-row night). Nothing needs to
    // wait for it: it runs beside the caller, and a process that exits next
    // need not finish it. If no thread can be started, `spawn` drops the
    // closure, and the records with it, before it returns.
    drop(decider);
    let held = (terminal, bank, result);
    let _freeing = std::thread::Builder::new().spawn(move || drop(held));
    Ok(summary)
}

/// Adds the PENDING records of earlier runs to tonight's terminal records, as
/// one more input ("carried"), unless tonight's files hold them again.
fn carry_in(
    terminal: &mut read::Read<model::TerminalRecord>,
    carried: Vec<(model::TerminalRecord, Option<String>)>,
) -> foldhash::HashMap<usize, String> {
    let mut repeating = foldhash::HashMap::default();
    if carried.is_empty() {
        return repeating;
    }
    let identity = |r: &model::TerminalRecord| {
        (
            r.terminal_id.clone(),
            r.batch_no.clone(),
            r.trace_no.clone(),
        )
    };
    // Only the carried identities are looked for among tonight's records,
    // and only those found are copied: a set of every record's identity cost
    // 0.3 s a million records.
    fn key(r: &model::TerminalRecord) -> (&model::Id, &model::Id, &model::Id) {
        (&r.terminal_id, &r.batch_no, &r.trace_no)
    }
    let wanted: std::collections::HashSet<(&model::Id, &model::Id, &model::Id)> =
        carried.iter().map(|(r, _)| key(r)).collect();
    let tonight: std::collections::HashSet<(model::Id, model::Id, model::Id)> = terminal
        .records
        .iter()
        .filter(|r| wanted.contains(&key(r)))
        .map(identity)
        .collect();
    drop(wanted);
    // Records brought back after matching join those carried before it.
    if terminal
        .files
        .last()
        .is_none_or(|f| f.kind != InputKind::Carried)
    {
        terminal.files.push(InputFile {
            path: PathBuf::from("(carried from the ledger)"),
            kind: InputKind::Carried,
            sha256: String::new(),
            rows: 0,
            amounts: Vec::new(),
        });
    }
    let file = u32::try_from(terminal.files.len() - 1).expect("IE: fewer than 2^32 input files");
    let entry = terminal.files.last_mut().expect("IE: pushed above");
    for (mut record, repeats) in carried {
        if tonight.contains(&identity(&record)) {
            continue;
        }
        if let Some(repeats) = repeats {
            repeating.insert(terminal.records.len(), repeats);
        }
        entry.rows += 1;
        record.origin = model::Origin {
            file,
            line: entry.rows,
        };
        // A few records of files each within the limit: the sum stays far inside i64.
        let _within_limit = read::add_amount(&mut entry.amounts, record.currency, record.amount);
        terminal.records.push(record);
    }
    if entry.rows == 0 {
        terminal.files.pop();
    }
    repeating
}
