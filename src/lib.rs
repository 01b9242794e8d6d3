//! Reconciles POS terminal batch files against acquiring-bank settlement files.
//!
//! Data flows one way; each arrow is a plain function call in [`reconcile`]:
//!
//! ```text
//! read ──▶ matching ──▶ totals ──▶ write / report
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
//! * [`report`]: the summary table and `summary.json`.

pub mod decide;
pub mod explain;
pub mod matching;
pub mod model;
pub mod policy;
pub mod read;
pub mod report;
pub mod totals;
pub mod write;

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
    pub out_dir: PathBuf,
    /// Also write `matches.csv`.
    pub write_matches: bool,
}

/// Reads one file of `kind` strictly, as `reconcile` would, and returns its
/// control totals, or every problem found in it.
pub fn check(path: &Path, kind: InputKind) -> Result<InputFile, InputError> {
    let paths = [path.to_path_buf()];
    let mut files = match kind {
        InputKind::Terminal => read::read_terminal_records(&paths)?.files,
        InputKind::Bank => read::read_settlements(&paths)?.files,
        InputKind::Merchants => read::read_merchants(path)?.files,
        InputKind::CardStatus => read::read_card_statuses(path)?.files,
        InputKind::Cancellations => read::read_cancellations(path)?.files,
    };
    Ok(files.remove(0))
}

/// A file named twice would have every row reported as its own duplicate;
/// say what actually happened instead.
fn refuse_repeated_paths<'a>(paths: impl Iterator<Item = &'a PathBuf>) -> Result<(), InputError> {
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    for path in paths {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if let Some((_, first)) = seen.iter().find(|(c, _)| *c == canonical) {
            return Err(InputError::single(read::Problem {
                path: path.clone(),
                line: None,
                field: None,
                message: if *first == path.as_path() {
                    "is given twice; name each input file once".to_string()
                } else {
                    format!(
                        "is given twice (also as {}); name each input file once",
                        first.display()
                    )
                },
            }));
        }
        seen.push((canonical, path));
    }
    Ok(())
}

/// Joins the problems of several readers into one error, in input order.
fn all_problems(errors: impl IntoIterator<Item = Option<InputError>>) -> Result<(), InputError> {
    let mut joined: Option<InputError> = None;
    for error in errors.into_iter().flatten() {
        match &mut joined {
            None => joined = Some(error),
            Some(all) => {
                for problem in error.problems {
                    if all.problems.len() < read::LISTED_PROBLEMS {
                        all.problems.push(problem);
                    } else {
                        all.unlisted += 1;
                    }
                }
                all.unlisted += error.unlisted;
            }
        }
    }
    joined.map_or(Ok(()), Err)
}

/// Runs one night: reads every input, matches, checks the control totals and
/// writes the output files. Nothing is written unless all of it succeeds.
pub fn reconcile(config: &Config) -> anyhow::Result<Summary> {
    refuse_repeated_paths(config.terminal.iter().chain(&config.bank))?;
    let terminal = read::read_terminal_records(&config.terminal);
    let bank = read::read_settlements(&config.bank);
    let merchants = config.merchants.as_deref().map(read::read_merchants);
    let cards = config.card_status.as_deref().map(read::read_card_statuses);
    let requests = config
        .cancellations
        .as_deref()
        .map(read::read_cancellations);
    all_problems([
        terminal.as_ref().err().cloned(),
        bank.as_ref().err().cloned(),
        merchants.as_ref().and_then(|m| m.as_ref().err().cloned()),
        cards.as_ref().and_then(|c| c.as_ref().err().cloned()),
        requests.as_ref().and_then(|r| r.as_ref().err().cloned()),
    ])?;
    let (terminal, bank) = (terminal?, bank?);
    let merchants = merchants.transpose()?;
    let cards = cards.transpose()?;
    let requests = requests.transpose()?;

    let mut policy = config.policy.clone();
    for merchant in merchants.iter().flat_map(|m| &m.records) {
        if let Some(rate) = merchant.fee_rate {
            policy
                .fee_rates
                .by_merchant
                .insert(merchant.merchant_id.clone(), rate);
        }
    }

    let result = matching::reconcile(&terminal.records, &bank.records, &policy, config.as_of);
    let totals = totals::control_totals(
        &terminal.records,
        &bank.records,
        &result,
        &terminal.files,
        &bank.files,
    )?;
    let night = Night {
        terminal: &terminal.records,
        bank: &bank.records,
        result: &result,
        policy: &policy,
    };

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
    let no_requests = Vec::new();
    let request_list = requests.as_ref().map_or(&no_requests, |r| &r.records);
    let (decisions, decider) = decide::decide(&night, &refs, request_list, config.as_of);

    let exceptions = explain::rows_where(&night, Outcome::is_exception);
    let pending = explain::rows_where(&night, |o| o == Outcome::Pending);
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
        },
        exceptions: exceptions.len() as u64,
        out_dir: config.out_dir.clone(),
        ledger: None,
    };

    let mut outputs = write::Outputs::new(&config.out_dir)?;
    let rows = |list: &[(Side, usize)]| {
        list.iter()
            .map(|&(side, i)| write::exception_row(&night, &decider, side, i))
            .collect::<Vec<_>>()
    };
    outputs.csv(
        "exceptions.csv",
        write::EXCEPTION_COLUMNS,
        rows(&exceptions),
    )?;
    outputs.csv("pending.csv", write::EXCEPTION_COLUMNS, rows(&pending))?;
    if config.write_matches {
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
        outputs.csv(
            "matches.csv",
            write::MATCH_COLUMNS,
            order.iter().map(|&t| write::match_row(&night, t)),
        )?;
    }
    let [voids, refunds, disputes, rejections] =
        write::action_rows(&night, &decider, request_list, &decisions);
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
    let json = serde_json::to_string_pretty(&report::summary_json(&summary))
        .context("rendering summary.json")?;
    outputs.file("summary.json", |out| Ok(write::write_text(out, &json)?))?;
    outputs.commit()?;
    Ok(summary)
}
