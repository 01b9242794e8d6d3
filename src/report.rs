//! Renders results for people. Writes only to the `impl Write` it is handed.

use std::io::{self, Write};
use std::path::PathBuf;

use chrono::{NaiveDate, NaiveDateTime};
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use serde_json::{Map, Value, json};

use crate::ledger::{IssuedAction, RunInfo, SeenRecord};
use crate::matching::Outcome;
use crate::read::{InputFile, InputKind, Profile, describe_origin};
use crate::totals::{ControlTotals, REJECTED_ROW, Side, Tally};

/// True for the kinds of file whose rows carry an amount.
pub(crate) fn has_amounts(kind: InputKind) -> bool {
    matches!(
        kind,
        InputKind::Terminal | InputKind::Bank | InputKind::Carried | InputKind::Cancellations
    )
}

/// Writes the one-line verdict of `posrecon check` on a valid file.
pub fn write_check(out: &mut impl Write, file: &InputFile) -> io::Result<()> {
    write!(
        out,
        "{}: valid {}: {} row{}",
        file.path.display(),
        file.kind.description(),
        file.rows,
        if file.rows == 1 { "" } else { "s" }
    )?;
    if has_amounts(file.kind) {
        let amounts: Vec<String> = file
            .amounts
            .iter()
            .map(|(currency, amount)| format!("{amount} {currency}"))
            .collect();
        if amounts.is_empty() {
            write!(out, ", amount 0.00")?;
        } else {
            write!(out, ", amount {}", amounts.join(" + "))?;
        }
    }
    writeln!(out)
}

/// Counts of the actions a run decided (filled by the decide stage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionCounts {
    pub void: u64,
    pub refund: u64,
    pub dispute: u64,
    pub reject: u64,
    /// Actions not issued again because an earlier run issued them.
    pub already_issued: u64,
}

impl ActionCounts {
    /// All actions together.
    pub fn total(&self) -> u64 {
        self.void + self.refund + self.dispute + self.reject
    }
}

impl Summary {
    /// True when a person must look at the night: exceptions, actions, or
    /// rows set aside by `--max-rejects` (exit status 1).
    pub fn needs_attention(&self) -> bool {
        self.exceptions > 0 || self.actions.total() > 0 || self.totals.rejected_rows() > 0
    }
}

/// Everything the summary reports about one run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub as_of: NaiveDateTime,
    pub business_day: NaiveDate,
    /// Terminal files, then bank files, then reference files.
    pub inputs: Vec<InputFile>,
    pub totals: ControlTotals,
    pub actions: ActionCounts,
    /// Rows in `exceptions.csv`.
    pub exceptions: u64,
    pub out_dir: PathBuf,
    /// The ledger and this run's id in it; `None` when stateless.
    pub ledger: Option<(PathBuf, i64)>,
}

fn tally_json(tally: Tally) -> Value {
    json!({"count": tally.count, "amount": tally.amount.to_string()})
}

/// The run as `summary.json` (SPEC §4): amounts as decimal strings, keys in a
/// fixed order.
pub fn summary_json(summary: &Summary) -> Value {
    let inputs: Vec<Value> = summary
        .inputs
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let mut entry = json!({
                "path": file.path.display().to_string(),
                "kind": file.kind.as_str(),
                "sha256": file.sha256,
                "rows": file.rows,
                "amount": file.amount().to_string(),
            });
            if let Some(outcomes) = summary.totals.per_file.get(i) {
                let mut outcomes: Map<String, Value> = outcomes
                    .iter()
                    .map(|(outcome, tally)| (outcome.as_str().to_string(), tally_json(*tally)))
                    .collect();
                if let Some(rejected) = summary.totals.rejected_per_file.get(i)
                    && rejected.count > 0
                {
                    outcomes.insert(REJECTED_ROW.to_string(), tally_json(*rejected));
                }
                entry["outcomes"] = Value::Object(outcomes);
            }
            entry
        })
        .collect();
    let line = |terminal: Tally, bank: Tally| {
        let mut both = tally_json(Tally {
            count: terminal.count + bank.count,
            amount: terminal.amount + bank.amount,
        });
        both["terminal"] = tally_json(terminal);
        both["bank"] = tally_json(bank);
        both
    };
    let mut outcomes: Map<String, Value> = Outcome::ALL
        .iter()
        .map(|&outcome| {
            let terminal = summary.totals.get(Side::Terminal, outcome);
            let bank = summary.totals.get(Side::Bank, outcome);
            (outcome.as_str().to_string(), line(terminal, bank))
        })
        .collect();
    outcomes.insert(
        REJECTED_ROW.to_string(),
        line(
            summary.totals.rejected(Side::Terminal),
            summary.totals.rejected(Side::Bank),
        ),
    );
    json!({
        "as_of": summary.as_of.to_string(),
        "business_day": summary.business_day.to_string(),
        "ledger": summary.ledger.as_ref().map(|(p, _)| p.display().to_string()),
        "run": summary.ledger.as_ref().map(|(_, run)| *run),
        "inputs": inputs,
        "outcomes": outcomes,
        "actions": {
            "void": summary.actions.void,
            "refund": summary.actions.refund,
            "dispute": summary.actions.dispute,
            "reject": summary.actions.reject,
            "already_issued": summary.actions.already_issued,
        },
        "exceptions": summary.exceptions,
    })
}

fn table() -> Table {
    let mut table = Table::new();
    table
        .load_style(comfy_table::presets::ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Disabled);
    table
}

fn right(text: impl ToString) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}

/// The summary printed after `reconcile`: a short verdict on a clean night,
/// else control totals, outcomes and actions as tables.
pub fn write_summary_table(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    let count = |side, outcome| summary.totals.get(side, outcome).count;
    let terminal_rows: u64 = summary.totals.terminal.values().map(|t| t.count).sum();
    let bank_rows: u64 = summary.totals.bank.values().map(|t| t.count).sum();
    let rejected_rows = summary.totals.rejected_rows();
    let pending = count(Side::Terminal, Outcome::Pending);
    writeln!(
        out,
        "posrecon: as of {} (business day {}): {terminal_rows} terminal records, {bank_rows} settlements",
        summary.as_of, summary.business_day
    )?;
    if !summary.needs_attention() {
        return writeln!(
            out,
            "all reconciled, nothing to act on ({pending} PENDING carried to the next run); files in {}",
            summary.out_dir.display()
        );
    }

    let mut inputs = table();
    inputs.set_header(vec![
        Cell::new("input"),
        Cell::new("kind"),
        right("rows"),
        right("amount"),
    ]);
    for file in &summary.inputs {
        inputs.add_row(vec![
            Cell::new(file.path.display()),
            Cell::new(file.kind.as_str()),
            right(file.rows),
            right(if has_amounts(file.kind) {
                file.amount().to_string()
            } else {
                String::new()
            }),
        ]);
    }
    writeln!(out, "\n{inputs}")?;

    let mut outcomes = table();
    outcomes.set_header(vec![
        Cell::new("outcome"),
        right("terminal"),
        right("amount"),
        right("bank"),
        right("amount"),
    ]);
    let mut terminal_total = Tally::default();
    let mut bank_total = Tally::default();
    let lines = Outcome::ALL
        .iter()
        .map(|&outcome| {
            (
                outcome.as_str(),
                summary.totals.get(Side::Terminal, outcome),
                summary.totals.get(Side::Bank, outcome),
            )
        })
        .chain([(
            REJECTED_ROW,
            summary.totals.rejected(Side::Terminal),
            summary.totals.rejected(Side::Bank),
        )]);
    for (name, terminal, bank) in lines {
        if terminal.count == 0 && bank.count == 0 {
            continue;
        }
        terminal_total = Tally {
            count: terminal_total.count + terminal.count,
            amount: terminal_total.amount + terminal.amount,
        };
        bank_total = Tally {
            count: bank_total.count + bank.count,
            amount: bank_total.amount + bank.amount,
        };
        outcomes.add_row(vec![
            Cell::new(name),
            right(terminal.count),
            right(terminal.amount),
            right(bank.count),
            right(bank.amount),
        ]);
    }
    outcomes.add_row(vec![
        Cell::new("total"),
        right(terminal_total.count),
        right(terminal_total.amount),
        right(bank_total.count),
        right(bank_total.amount),
    ]);
    writeln!(out, "\n{outcomes}")?;

    let actions = summary.actions;
    write!(
        out,
        "\nactions: {} void, {} refund, {} dispute, {} reject",
        actions.void, actions.refund, actions.dispute, actions.reject
    )?;
    if actions.already_issued > 0 {
        write!(
            out,
            " ({} already issued in earlier runs)",
            actions.already_issued
        )?;
    }
    writeln!(out)?;
    if let Some((path, run)) = &summary.ledger {
        writeln!(out, "ledger {}: run {run}", path.display())?;
    }
    if rejected_rows > 0 {
        writeln!(
            out,
            "{rejected_rows} bad row{} set aside in rejected_rows.csv (--max-rejects)",
            if rejected_rows == 1 { "" } else { "s" },
        )?;
    }
    writeln!(
        out,
        "{} exception row{}, {pending} PENDING; files in {}",
        summary.exceptions,
        if summary.exceptions == 1 { "" } else { "s" },
        summary.out_dir.display()
    )
}

/// `posrecon show`: the records and actions the ledger holds for one
/// transaction, run by run.
pub fn write_show_table(
    out: &mut impl Write,
    records: &[SeenRecord],
    actions: &[IssuedAction],
) -> io::Result<()> {
    if records.is_empty() && actions.is_empty() {
        return writeln!(
            out,
            "posrecon: the ledger holds nothing for this transaction"
        );
    }
    let mut seen = table();
    seen.set_header(vec![
        "run",
        "as of",
        "side",
        "terminal",
        "batch",
        "trace",
        "rrn",
        "type",
        "time",
        "amount",
        "card",
        "settled",
        "outcome",
        "rule",
        "explanation",
    ]);
    for r in records {
        seen.add_row(vec![
            Cell::new(r.run_id),
            Cell::new(&r.as_of),
            Cell::new(&r.side),
            Cell::new(&r.terminal_id),
            Cell::new(r.batch_no.as_deref().unwrap_or("")),
            Cell::new(&r.trace_no),
            Cell::new(r.rrn.as_deref().unwrap_or("")),
            Cell::new(&r.txn_type),
            Cell::new(&r.txn_time),
            right(&r.amount),
            Cell::new(&r.card_no),
            Cell::new(r.settle_date.as_deref().unwrap_or("")),
            Cell::new(&r.outcome),
            Cell::new(r.rule.as_deref().unwrap_or("")),
            Cell::new(&r.explanation),
        ]);
    }
    writeln!(out, "{seen}")?;
    if actions.is_empty() {
        return writeln!(out, "\nno actions");
    }
    let mut issued = table();
    issued.set_header(vec!["run", "action", "kind", "amount", "source", "reason"]);
    for a in actions {
        issued.add_row(vec![
            Cell::new(a.run_id),
            Cell::new(&a.action_id),
            Cell::new(&a.kind),
            right(a.amount.as_deref().unwrap_or("")),
            Cell::new(&a.source),
            Cell::new(&a.reason),
        ]);
    }
    writeln!(out, "\n{issued}")
}

/// `posrecon runs`: recent runs, newest first, with control totals and actions.
pub fn write_runs_table(out: &mut impl Write, runs: &[RunInfo]) -> io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "posrecon: the ledger holds no runs yet");
    }
    let mut list = table();
    list.set_header(vec![
        Cell::new("run"),
        Cell::new("as of"),
        Cell::new("status"),
        right("inputs"),
        right("terminal"),
        right("bank"),
        right("exceptions"),
        right("void"),
        right("refund"),
        right("dispute"),
        right("reject"),
    ]);
    for run in runs {
        let s = &run.summary;
        let side_count = |side: &str| -> u64 {
            // Records only: rows set aside (REJECTED_ROW) are no records.
            s["outcomes"].as_object().map_or(0, |o| {
                o.iter()
                    .filter(|(name, _)| name.as_str() != REJECTED_ROW)
                    .map(|(_, v)| v[side]["count"].as_u64().unwrap_or(0))
                    .sum()
            })
        };
        let number = |v: &Value| v.as_u64().map_or(String::new(), |n| n.to_string());
        list.add_row(vec![
            Cell::new(run.run_id),
            Cell::new(&run.as_of),
            Cell::new(&run.status),
            right(s["inputs"].as_array().map_or(0, Vec::len)),
            right(side_count("terminal")),
            right(side_count("bank")),
            right(number(&s["exceptions"])),
            right(number(&s["actions"]["void"])),
            right(number(&s["actions"]["refund"])),
            right(number(&s["actions"]["dispute"])),
            right(number(&s["actions"]["reject"])),
        ]);
    }
    writeln!(out, "{list}")
}

/// The `posrecon profiles` listing: every profile, its kind and origin.
pub fn write_profiles_table(out: &mut impl Write, profiles: &[Profile]) -> io::Result<()> {
    let mut listing = table();
    listing.set_header(["profile", "kind", "from", "description"]);
    for profile in profiles {
        listing.add_row([
            profile.name.clone(),
            profile.kind.to_string(),
            describe_origin(profile),
            profile.description.clone(),
        ]);
    }
    writeln!(out, "{listing}")?;
    writeln!(
        out,
        "\n`posrecon profiles show NAME` prints one as TOML to copy into a config file."
    )
}
