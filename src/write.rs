//! Output files: the column contract of SPEC §4, formula-safe cells, and
//! atomic replacement (temp file, then rename) so a crash never leaves a
//! half-written file that looks complete.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::explain::Night;
use crate::matching::Outcome;
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

/// Makes a cell safe to open in a spreadsheet: one that would start a
/// formula (`=`, `+`, `-`, `@`, tab, carriage return) gets a leading `'`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// A set of output files that appear together or not at all.
///
/// Each file is written to a hidden temp file beside its final name; only
/// [`Outputs::commit`] renames them into place. Dropped without a commit, the
/// temp files are removed and the folder is as it was.
pub struct Outputs {
    dir: PathBuf,
    pending: Vec<(PathBuf, PathBuf)>,
    committed: bool,
}

impl Outputs {
    /// Prepares to write into `dir`, creating it if missing.
    pub fn new(dir: &Path) -> anyhow::Result<Outputs> {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating the output folder {}", dir.display()))?;
        Ok(Outputs {
            dir: dir.to_path_buf(),
            pending: Vec::new(),
            committed: false,
        })
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
        self.file(name, |out| {
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

    /// Moves every written file into place.
    pub fn commit(mut self) -> anyhow::Result<()> {
        for (temp, target) in &self.pending {
            fs::rename(temp, target).with_context(|| format!("writing {}", target.display()))?;
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
pub fn exception_row(night: &Night<'_>, side: Side, index: usize) -> Vec<String> {
    let text = |value: Option<&str>| value.unwrap_or("").to_string();
    match side {
        Side::Terminal => {
            let record = &night.terminal[index];
            let result = &night.result.terminal[index];
            let settlement = result.settlement.map(|(b, _)| &night.bank[b]);
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
            ]
        }
        Side::Bank => {
            let settlement = &night.bank[index];
            let result = &night.result.bank[index];
            let record = result.terminal.map(|(t, _)| &night.terminal[t]);
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
            ]
        }
    }
}

/// The order of rows in `exceptions.csv` and `pending.csv`: by outcome, then
/// merchant, terminal and time, so both rows of a mismatched pair sit together.
/// Ties are broken by content, never by input position.
pub fn exception_order(night: &Night<'_>, a: (Side, usize), b: (Side, usize)) -> Ordering {
    let key = |(side, i): (Side, usize)| match side {
        Side::Terminal => {
            let r = &night.terminal[i];
            (
                night.result.terminal[i].outcome,
                &r.merchant_id,
                &r.terminal_id,
                r.txn_time,
                side,
            )
        }
        Side::Bank => {
            let s = &night.bank[i];
            (
                night.result.bank[i].outcome,
                &s.merchant_id,
                &s.terminal_id,
                s.txn_time,
                side,
            )
        }
    };
    key(a).cmp(&key(b)).then_with(|| match (a, b) {
        ((Side::Terminal, x), (Side::Terminal, y)) => {
            let (x, y) = (&night.terminal[x], &night.terminal[y]);
            (&x.batch_no, &x.trace_no).cmp(&(&y.batch_no, &y.trace_no))
        }
        ((Side::Bank, x), (Side::Bank, y)) => {
            exception_row(night, Side::Bank, x).cmp(&exception_row(night, Side::Bank, y))
        }
        _ => Ordering::Equal,
    })
}

/// One row of `matches.csv` for terminal record `t`.
pub fn match_row(night: &Night<'_>, t: usize) -> Vec<String> {
    let record = &night.terminal[t];
    let result = &night.result.terminal[t];
    let settlement = result.settlement.map(|(b, _)| &night.bank[b]);
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
            .settlement
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

/// Records (terminal and bank) whose outcome passes `wanted`, in report order.
pub fn rows_where(night: &Night<'_>, wanted: impl Fn(Outcome) -> bool) -> Vec<(Side, usize)> {
    let mut rows: Vec<(Side, usize)> = night
        .result
        .terminal
        .iter()
        .enumerate()
        .filter(|(_, r)| wanted(r.outcome))
        .map(|(i, _)| (Side::Terminal, i))
        .chain(
            night
                .result
                .bank
                .iter()
                .enumerate()
                .filter(|(_, r)| wanted(r.outcome))
                .map(|(i, _)| (Side::Bank, i)),
        )
        .collect();
    rows.sort_by(|&a, &b| exception_order(night, a, b));
    rows
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
}
