//! Output files: the column contract of SPEC §4, formula-safe cells, and
//! atomic replacement (temp file, then rename) so a crash never leaves a
//! half-written file that looks complete.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::decide::{
    AlreadyIssued, Decider, Decisions, Dispute, RefundInstruction, Rejection, Source, VoidRequest,
};
use crate::explain::Night;
use crate::matching::Outcome;
use crate::model::CancellationRequest;
use crate::read::RejectedRow;
use crate::totals::Side;

/// `exceptions.csv` and `pending.csv` columns; the first 13 are the contract.
pub const EXCEPTION_COLUMNS: &[&str] = &[
    "outcome",
    "side",
    "merchant_id",
    "terminal_id",
    "batch_no",
    "trace_no",
    "rrn",
    "txn_type",
    "txn_time",
    "amount",
    "bank_amount",
    "card_no",
    "explanation",
    "currency",
    "settle_date",
    "cancel_route",
];

/// `matches.csv` columns: one row per terminal record.
pub const MATCH_COLUMNS: &[&str] = &[
    "merchant_id",
    "terminal_id",
    "batch_no",
    "trace_no",
    "rrn",
    "txn_type",
    "txn_time",
    "amount",
    "currency",
    "card_no",
    "outcome",
    "rule",
    "settle_date",
    "bank_amount",
    "bank_trace_no",
    "bank_rrn",
    "explanation",
];

pub const VOID_REQUEST_COLUMNS: &[&str] = &[
    "action_id",
    "merchant_id",
    "merchant_name",
    "terminal_id",
    "batch_no",
    "trace_no",
    "rrn",
    "auth_code",
    "txn_time",
    "amount",
    "currency",
    "card_no",
    "reason",
    "source",
];

pub const REFUND_INSTRUCTION_COLUMNS: &[&str] = &[
    "action_id",
    "merchant_id",
    "merchant_name",
    "terminal_id",
    "batch_no",
    "trace_no",
    "rrn",
    "auth_code",
    "txn_time",
    "settle_date",
    "original_amount",
    "refund_amount",
    "currency",
    "card_no",
    "reason",
    "source",
];

pub const DISPUTE_COLUMNS: &[&str] = &[
    "action_id",
    "outcome",
    "merchant_id",
    "terminal_id",
    "batch_no",
    "trace_no",
    "rrn",
    "txn_time",
    "terminal_amount",
    "bank_amount",
    "card_no",
    "explanation",
];

pub const REJECTED_CANCELLATION_COLUMNS: &[&str] = &[
    "request_ref",
    "merchant_id",
    "terminal_id",
    "trace_no",
    "rrn",
    "amount",
    "reason",
];

/// `rejected_rows.csv` columns: one row per row set aside by `--max-rejects`.
pub const REJECTED_ROW_COLUMNS: &[&str] =
    &["file", "kind", "line", "field", "problem", "amount", "raw"];

/// One row of `rejected_rows.csv`: where the row is, the fields at fault,
/// every problem as `field: what is wrong`, the amount counted in the
/// control totals (empty when it could not be read: counted as 0.00), and
/// the row as read with card numbers masked.
pub fn rejected_row(row: &RejectedRow) -> Vec<String> {
    let mut fields: Vec<&str> = row.problems.iter().filter_map(|p| p.field).collect();
    fields.dedup();
    let problems: Vec<String> = row
        .problems
        .iter()
        .map(|p| match p.field {
            Some(field) => format!("{field}: {}", p.message),
            None => p.message.clone(),
        })
        .collect();
    vec![
        row.path.display().to_string(),
        row.kind.as_str().to_string(),
        row.line.to_string(),
        fields.join(";"),
        problems.join("; "),
        row.amount.map_or(String::new(), |a| a.to_string()),
        row.raw.clone(),
    ]
}

/// Makes a cell safe to open in a spreadsheet: one that would start a
/// formula (`=`, `+`, `-`, `@`, tab, carriage return) gets a leading `'`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Every file a run may write to `--out`. These names, and no others, are
/// removed at commit when this run did not write them (`matches.csv` or
/// `report.xlsx` left by an earlier run with `--write-matches` or `--xlsx`).
pub const OUTPUT_FILES: &[&str] = &[
    "exceptions.csv",
    "pending.csv",
    "matches.csv",
    "void_requests.csv",
    "refund_instructions.csv",
    "disputes.csv",
    "rejected_cancellations.csv",
    "rejected_rows.csv",
    "summary.json",
    crate::workbook::FILE,
];

/// The outputs that speak for the whole set (or may be missing from it), removed
/// before any of a run's files arrive.
const SUMMARISING_FILES: &[&str] = &["summary.json", "matches.csv", crate::workbook::FILE];

/// A set of output files that appear together or not at all.
///
/// Each file is written to a hidden temp file beside its final name; only
/// [`Outputs::commit`] renames them into place. Dropped without a commit, the
/// temp files are removed and the folder is as it was.
pub struct Outputs {
    dir: PathBuf,
    pending: Vec<(PathBuf, PathBuf)>,
    committed: bool,
    /// Start each CSV file with a UTF-8 byte-order mark.
    csv_bom: bool,
}

impl Outputs {
    /// Prepares to write into `dir`, creating it if missing.
    pub fn new(dir: &Path) -> anyhow::Result<Outputs> {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating the output folder {}", dir.display()))?;
        // A crashed run leaves its temp files behind; they were never outputs.
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.contains(".tmp-") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(Outputs {
            dir: dir.to_path_buf(),
            pending: Vec::new(),
            committed: false,
            csv_bom: false,
        })
    }

    /// Starts every CSV file with a UTF-8 byte-order mark, the sign Excel
    /// needs to read it as UTF-8 (without it, Chinese text shows garbled).
    pub fn with_byte_order_mark(mut self) -> Outputs {
        self.csv_bom = true;
        self
    }

    /// Writes `name` through `fill`, into its temp file.
    pub fn file(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let target = self.dir.join(name);
        let temp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&temp).with_context(|| format!("writing {}", target.display()))?;
        self.pending.push((temp, target.clone()));
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        fill(&mut writer).with_context(|| format!("writing {}", target.display()))?;
        let file = writer
            .into_inner()
            .map_err(|err| err.into_error())
            .with_context(|| format!("writing {}", target.display()))?;
        file.sync_all()
            .with_context(|| format!("writing {}", target.display()))?;
        Ok(())
    }

    /// Writes a CSV file with `columns` as its header and `rows` after it.
    pub fn csv<R>(
        &mut self,
        name: &str,
        columns: &[&str],
        rows: impl IntoIterator<Item = R>,
    ) -> anyhow::Result<()>
    where
        R: IntoIterator,
        R::Item: AsRef<str>,
    {
        let bom = self.csv_bom;
        self.file(name, |out| {
            if bom {
                out.write_all("\u{feff}".as_bytes())?;
            }
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(columns)?;
            for row in rows {
                writer.write_record(
                    row.into_iter()
                        .map(|cell| neutralise(cell.as_ref()).into_owned()),
                )?;
            }
            writer.flush()?;
            Ok(())
        })
    }

    /// Moves every written file into place, calling `after_each` with each
    /// file's name once it is there.
    ///
    /// Renaming several files cannot be one step, so the order tells an
    /// unfinished set from a finished one: first the earlier run's
    /// `summary.json`, workbook and `matches.csv` go (whether or not this run
    /// writes them again), then tonight's files arrive with `summary.json`
    /// last. A crash in between leaves a folder without `summary.json`, and
    /// never tonight's files beside last night's workbook or summary.
    pub fn commit(mut self, after_each: impl Fn(&str)) -> anyhow::Result<()> {
        for name in OUTPUT_FILES {
            let target = self.dir.join(name);
            let written = self.pending.iter().any(|(_, t)| *t == target);
            if written && !SUMMARISING_FILES.contains(name) {
                continue;
            }
            match fs::remove_file(&target) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!(
                            "removing {}, left by an earlier run, before writing this one's",
                            target.display()
                        )
                    });
                }
            }
        }
        let summary = self.dir.join("summary.json");
        self.pending.sort_by_key(|(_, target)| *target == summary);
        for (temp, target) in &self.pending {
            fs::rename(temp, target).with_context(|| format!("writing {}", target.display()))?;
            after_each(
                &target
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            );
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        if !self.committed {
            for (temp, _) in &self.pending {
                let _ = fs::remove_file(temp);
            }
        }
    }
}

/// One row of `exceptions.csv` or `pending.csv`, for record `index` on `side`.
pub fn exception_row(
    night: &Night<'_>,
    decider: &Decider<'_>,
    side: Side,
    index: usize,
) -> Vec<String> {
    let text = |value: Option<&str>| value.unwrap_or("").to_string();
    match side {
        Side::Terminal => {
            let record = &night.terminal[index];
            let result = &night.result.terminal[index];
            let settlement = result.settlement().map(|(b, _)| &night.bank[b]);
            vec![
                result.outcome.as_str().to_string(),
                side.as_str().to_string(),
                record.merchant_id.to_string(),
                record.terminal_id.to_string(),
                record.batch_no.to_string(),
                record.trace_no.to_string(),
                text(record.rrn.as_deref()),
                record.txn_type.to_string(),
                record.txn_time.to_string(),
                record.amount.to_string(),
                settlement.map_or(String::new(), |s| s.amount.to_string()),
                record.card.to_string(),
                night.terminal(index),
                record.currency.to_string(),
                settlement.map_or(String::new(), |s| s.settle_date.to_string()),
                decider.cancel_route(index),
            ]
        }
        Side::Bank => {
            let settlement = &night.bank[index];
            let result = &night.result.bank[index];
            let record = result.terminal().map(|(t, _)| &night.terminal[t]);
            vec![
                result.outcome.as_str().to_string(),
                side.as_str().to_string(),
                settlement.merchant_id.to_string(),
                settlement.terminal_id.to_string(),
                text(settlement.batch_no.as_deref()),
                settlement.trace_no.to_string(),
                text(settlement.rrn.as_deref()),
                settlement.txn_type.to_string(),
                settlement.txn_time.to_string(),
                record.map_or(String::new(), |r| r.amount.to_string()),
                settlement.amount.to_string(),
                settlement.card.to_string(),
                night.bank(index),
                settlement.currency.to_string(),
                settlement.settle_date.to_string(),
                String::new(),
            ]
        }
    }
}

/// One row of `matches.csv` for terminal record `t`.
pub fn match_row(night: &Night<'_>, t: usize) -> Vec<String> {
    let record = &night.terminal[t];
    let result = &night.result.terminal[t];
    let settlement = result.settlement().map(|(b, _)| &night.bank[b]);
    vec![
        record.merchant_id.to_string(),
        record.terminal_id.to_string(),
        record.batch_no.to_string(),
        record.trace_no.to_string(),
        record.rrn.as_deref().unwrap_or("").to_string(),
        record.txn_type.to_string(),
        record.txn_time.to_string(),
        record.amount.to_string(),
        record.currency.to_string(),
        record.card.to_string(),
        result.outcome.as_str().to_string(),
        result
            .settlement()
            .map_or("", |(_, rule)| rule.as_str())
            .to_string(),
        settlement.map_or(String::new(), |s| s.settle_date.to_string()),
        settlement.map_or(String::new(), |s| s.amount.to_string()),
        settlement.map_or(String::new(), |s| s.trace_no.to_string()),
        settlement
            .and_then(|s| s.rrn.as_deref())
            .unwrap_or("")
            .to_string(),
        night.terminal(t),
    ]
}

/// The `source` cell: the request's reference, or the outcome that caused it.
fn source_cell(source: Source, requests: &[CancellationRequest]) -> String {
    match source {
        Source::Request(r) => requests[r].request_ref.to_string(),
        Source::Outcome(outcome) => outcome.as_str().to_string(),
    }
}

/// The merchant's name from the merchants file, else as the request gave it.
fn merchant_name(
    decider: &Decider<'_>,
    merchant_id: &str,
    source: Source,
    requests: &[CancellationRequest],
) -> String {
    let known = decider.merchant_name(merchant_id);
    match source {
        Source::Request(r) if known.is_empty() => {
            requests[r].merchant_name.clone().unwrap_or_default()
        }
        _ => known.to_string(),
    }
}

/// One row of `void_requests.csv`.
pub fn void_row(
    decider: &Decider<'_>,
    requests: &[CancellationRequest],
    void: &VoidRequest,
) -> Vec<String> {
    let r = decider.record(void.original);
    vec![
        void.action_id.clone(),
        r.merchant_id.to_string(),
        merchant_name(decider, &r.merchant_id, void.source, requests),
        r.terminal_id.to_string(),
        r.batch_no.to_string(),
        r.trace_no.to_string(),
        r.rrn.as_deref().unwrap_or("").to_string(),
        r.auth_code.as_deref().unwrap_or("").to_string(),
        r.txn_time.to_string(),
        r.amount.to_string(),
        r.currency.to_string(),
        r.card.to_string(),
        void.reason.clone(),
        source_cell(void.source, requests),
    ]
}

/// One row of `refund_instructions.csv`.
pub fn refund_row(
    decider: &Decider<'_>,
    requests: &[CancellationRequest],
    refund: &RefundInstruction,
) -> Vec<String> {
    let r = decider.record(refund.original);
    vec![
        refund.action_id.clone(),
        r.merchant_id.to_string(),
        merchant_name(decider, &r.merchant_id, refund.source, requests),
        r.terminal_id.to_string(),
        r.batch_no.to_string(),
        r.trace_no.to_string(),
        r.rrn.as_deref().unwrap_or("").to_string(),
        r.auth_code.as_deref().unwrap_or("").to_string(),
        r.txn_time.to_string(),
        decider
            .settle_date(refund.original)
            .map_or(String::new(), |d| d.to_string()),
        r.amount.to_string(),
        refund.refund_amount.to_string(),
        r.currency.to_string(),
        r.card.to_string(),
        refund.reason.clone(),
        source_cell(refund.source, requests),
    ]
}

/// One row of `disputes.csv`.
pub fn dispute_row(night: &Night<'_>, dispute: &Dispute) -> Vec<String> {
    let record = dispute.terminal.map(|t| &night.terminal[t]);
    let settlement = dispute.bank.map(|b| &night.bank[b]);
    let pick = |from_terminal: Option<String>, from_bank: Option<String>| {
        from_terminal.or(from_bank).unwrap_or_default()
    };
    let explanation = match (dispute.outcome, dispute.terminal, dispute.bank) {
        (Outcome::FeeMismatch | Outcome::BankOnly | Outcome::DuplicateSettlement, _, Some(b)) => {
            night.bank(b)
        }
        (_, Some(t), _) => night.terminal(t),
        (_, None, Some(b)) => night.bank(b),
        (_, None, None) => String::new(),
    };
    vec![
        dispute.action_id.clone(),
        dispute.outcome.as_str().to_string(),
        pick(
            record.map(|r| r.merchant_id.to_string()),
            settlement.map(|s| s.merchant_id.to_string()),
        ),
        pick(
            record.map(|r| r.terminal_id.to_string()),
            settlement.map(|s| s.terminal_id.to_string()),
        ),
        pick(
            record.map(|r| r.batch_no.to_string()),
            settlement.and_then(|s| s.batch_no.as_ref().map(|b| b.to_string())),
        ),
        pick(
            record.map(|r| r.trace_no.to_string()),
            settlement.map(|s| s.trace_no.to_string()),
        ),
        pick(
            record.and_then(|r| r.rrn.as_ref().map(|x| x.to_string())),
            settlement.and_then(|s| s.rrn.as_ref().map(|x| x.to_string())),
        ),
        pick(
            record.map(|r| r.txn_time.to_string()),
            settlement.map(|s| s.txn_time.to_string()),
        ),
        record.map_or(String::new(), |r| r.amount.to_string()),
        settlement.map_or(String::new(), |s| s.amount.to_string()),
        pick(
            record.map(|r| r.card.to_string()),
            settlement.map(|s| s.card.to_string()),
        ),
        explanation,
    ]
}

/// One row of `rejected_cancellations.csv`.
pub fn rejection_row(
    decider: &Decider<'_>,
    requests: &[CancellationRequest],
    rejection: &Rejection,
) -> Vec<String> {
    let original = rejection.original.map(|t| decider.record(t));
    match rejection.source {
        Source::Request(r) => {
            let q = &requests[r];
            vec![
                q.request_ref.to_string(),
                q.merchant_id.to_string(),
                q.terminal_id.as_deref().unwrap_or("").to_string(),
                q.trace_no.as_deref().unwrap_or("").to_string(),
                q.rrn.as_deref().unwrap_or("").to_string(),
                q.refund_amount.unwrap_or(q.amount).to_string(),
                rejection.reason.clone(),
            ]
        }
        Source::Outcome(outcome) => vec![
            outcome.as_str().to_string(),
            original.map_or(String::new(), |r| r.merchant_id.to_string()),
            original.map_or(String::new(), |r| r.terminal_id.to_string()),
            original.map_or(String::new(), |r| r.trace_no.to_string()),
            original.map_or(String::new(), |r| {
                r.rrn.as_deref().unwrap_or("").to_string()
            }),
            original.map_or(String::new(), |r| r.amount.to_string()),
            rejection.reason.clone(),
        ],
    }
}

/// A `rejected_cancellations.csv` row for an action an earlier run issued.
pub fn already_issued_row(
    decider: &Decider<'_>,
    requests: &[CancellationRequest],
    already: &AlreadyIssued,
) -> Vec<String> {
    rejection_row(
        decider,
        requests,
        &Rejection {
            source: already.source,
            original: already.original,
            reason: format!(
                "already issued in run {} as {}; not issued again",
                already.run, already.action_id
            ),
        },
    )
}

/// Every action file's rows, ready to write.
pub fn action_rows(
    night: &Night<'_>,
    decider: &Decider<'_>,
    requests: &[CancellationRequest],
    decisions: &Decisions,
) -> [Vec<Vec<String>>; 4] {
    [
        decisions
            .voids
            .iter()
            .map(|v| void_row(decider, requests, v))
            .collect(),
        decisions
            .refunds
            .iter()
            .map(|r| refund_row(decider, requests, r))
            .collect(),
        decisions
            .disputes
            .iter()
            .map(|d| dispute_row(night, d))
            .collect(),
        decisions
            .rejections
            .iter()
            .map(|r| rejection_row(decider, requests, r))
            .chain(
                decisions
                    .already_issued
                    .iter()
                    .map(|a| already_issued_row(decider, requests, a)),
            )
            .collect(),
    ]
}

/// Ensures the trailing newline of a text file.
pub fn write_text(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        #[track_caller]
        fn case(cell: &str, want: &str) {
            assert_eq!(neutralise(cell), want);
        }
        case("=SUM(A1)", "'=SUM(A1)");
        case("+86 21", "'+86 21");
        case("-1", "'-1");
        case("@cmd", "'@cmd");
        case("\tx", "'\tx");
        case("\rx", "'\rx");
        case("100.00", "100.00");
        case("上海", "上海");
        case("", "");
    }

    #[test]
    fn a_rejected_row_lists_its_fields_and_problems() {
        let problem = |field, message: &str| crate::read::Problem {
            path: PathBuf::from("batch.csv"),
            line: Some(7),
            field,
            message: message.into(),
        };
        let mut row = RejectedRow {
            file: 0,
            path: PathBuf::from("batch.csv"),
            kind: crate::InputKind::Terminal,
            line: 7,
            problems: vec![
                problem(Some("amount"), r#""12.3O" is not a decimal number"#),
                problem(Some("txn_type"), r#""SALES" is not a transaction type"#),
            ],
            raw: "=1,2".into(),
            amount: None,
        };
        assert_eq!(
            rejected_row(&row),
            [
                "batch.csv",
                "terminal",
                "7",
                "amount;txn_type",
                r#"amount: "12.3O" is not a decimal number; txn_type: "SALES" is not a transaction type"#,
                "",
                "=1,2",
            ]
        );
        row.problems = vec![problem(None, "has 12 fields but the header has 13")];
        row.amount = Some(crate::model::Amount::from_minor(1500));
        let cells = rejected_row(&row);
        assert_eq!(
            cells[3..6],
            ["", "has 12 fields but the header has 13", "15.00"]
        );
    }
}
