//! The only module that opens input files.
//!
//! Every reader is strict: a malformed row is never skipped silently. Problems
//! are collected for the whole input (so a user fixes them in one go) and
//! returned as one [`InputError`], which the binary maps to exit status 3.
//! Terminal and bank readers may instead set up to `max_rejects` bad rows
//! aside as [`RejectedRow`]s (`--max-rejects`); a problem of a whole file
//! (missing, empty, wrong encoding, header, trailer) always fails.

mod config;
mod field;
mod profile;
mod profiled;
mod records;
mod reference;
mod settlement;
mod table;
mod terminal;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{Amount, Currency, Origin, TxnType};
use profiled::{Profiled, RowTotals};
use table::{Column, LineBreaks, Row, Table};

pub use config::{Settings, read_config};
pub use field::{parse_amount, parse_fee_rate};
pub use profile::{
    AmountStyle, BUILT_IN, Encoding, FieldSource, FieldSpec, Layout, Profile, ProfileChoice,
    ProfileOrigin, Trailer, all_profiles, built_in_profiles, describe_origin, find_profile,
    parse_settle_date, profile_to_toml,
};
pub use reference::{read_cancellations, read_card_statuses, read_merchants};
pub use settlement::{read_settlements, read_settlements_with};
pub use terminal::{read_terminal_records, read_terminal_records_with};

/// How many problems an [`InputError`] lists before it only counts the rest.
pub const LISTED_PROBLEMS: usize = 50;

/// One thing wrong with the input, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as the user named it.
    pub path: PathBuf,
    /// 1-based line number, when the problem belongs to a line.
    pub line: Option<u64>,
    /// The column, when the problem belongs to one field.
    pub field: Option<&'static str>,
    /// What is wrong, quoting the offending value (card numbers masked).
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The input, not the program, is at fault. The binary maps this type, and
/// only this type, to its "input rejected" exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The first [`LISTED_PROBLEMS`] problems, in file and line order.
    pub problems: Vec<Problem>,
    /// How many more problems were found but not kept.
    pub unlisted: usize,
    /// Rows with a problem of their own (not of their file), listed or not.
    pub bad_rows: u64,
    /// Set when the bad rows were more than `--max-rejects` allows: that limit.
    pub max_rejects: Option<u64>,
}

impl InputError {
    /// An error with a single problem.
    pub fn single(problem: Problem) -> InputError {
        InputError {
            problems: vec![problem],
            unlisted: 0,
            bad_rows: 0,
            max_rejects: None,
        }
    }

    /// Adds the problems of `other` after these, keeping the listing capped.
    pub fn append(&mut self, other: InputError) {
        for problem in other.problems {
            if self.problems.len() < LISTED_PROBLEMS {
                self.problems.push(problem);
            } else {
                self.unlisted += 1;
            }
        }
        self.unlisted += other.unlisted;
        self.bad_rows += other.bad_rows;
    }

    /// Every problem found, listed or not.
    pub fn total(&self) -> usize {
        self.problems.len() + self.unlisted
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(limit) = self.max_rejects {
            write!(
                f,
                "{} bad rows, more than --max-rejects {limit} allows; ",
                self.bad_rows
            )?;
        } else if let [only] = self.problems.as_slice()
            && self.unlisted == 0
        {
            return write!(f, "{only}");
        }
        let total = self.total();
        write!(
            f,
            "the input has {total} problem{}",
            if total == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n{problem}")?;
        }
        if self.unlisted > 0 {
            write!(f, "\n… and {} more", self.unlisted)?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// Collects problems across all input files of a run.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    listed: Vec<Problem>,
    unlisted: usize,
}

impl Problems {
    pub(crate) fn push(&mut self, problem: Problem) {
        if self.listed.len() < LISTED_PROBLEMS {
            self.listed.push(problem);
        } else {
            self.unlisted += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Empties the collector, returning the problems it listed.
    pub(crate) fn take(&mut self) -> Vec<Problem> {
        self.unlisted = 0;
        std::mem::take(&mut self.listed)
    }

    /// Every problem found so far, listed or not.
    pub(crate) fn count(&self) -> usize {
        self.listed.len() + self.unlisted
    }

    /// `Ok` when nothing was found, else every problem as one error.
    pub(crate) fn into_result(self) -> Result<(), InputError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(InputError {
                problems: self.listed,
                unlisted: self.unlisted,
                bad_rows: 0,
                max_rejects: None,
            })
        }
    }
}

/// The kinds of input file the tool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKind {
    Terminal,
    Bank,
    Merchants,
    CardStatus,
    Cancellations,
    /// PENDING records carried from earlier runs by the ledger.
    Carried,
}

impl InputKind {
    /// The name used on the command line and in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Terminal => "terminal",
            InputKind::Bank => "bank",
            InputKind::Merchants => "merchants",
            InputKind::CardStatus => "card-status",
            InputKind::Cancellations => "cancellations",
            InputKind::Carried => "carried",
        }
    }

    /// What a person calls such a file.
    pub fn description(self) -> &'static str {
        match self {
            InputKind::Terminal => "terminal batch file",
            InputKind::Bank => "bank settlement file",
            InputKind::Merchants => "merchants file",
            InputKind::CardStatus => "card status file",
            InputKind::Cancellations => "cancellations file",
            InputKind::Carried => "records carried from earlier runs",
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was read from one input file: its identity and control totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The path as the user gave it.
    pub path: PathBuf,
    pub kind: InputKind,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// Data rows read (header and blank lines not counted).
    pub rows: u64,
    /// Sum of the `amount` column, per currency, for kinds that have one.
    pub amounts: Vec<(Currency, Amount)>,
}

impl InputFile {
    /// The sum of the `amount` column over all currencies (a control total,
    /// not a sum of money).
    pub fn amount(&self) -> Amount {
        self.amounts.iter().map(|(_, amount)| *amount).sum()
    }
}

/// Records read from a set of files, with each file's control totals.
#[derive(Debug, Clone)]
pub struct Read<T> {
    pub records: Vec<T>,
    pub files: Vec<InputFile>,
    /// Bad rows set aside (`--max-rejects`), in file and line order. Each
    /// counts in its file's `rows`, and its amount (where it could be read)
    /// in the file's `amounts`.
    pub rejected: Vec<RejectedRow>,
}

/// A row set aside by `--max-rejects` instead of failing the run: it takes
/// no part in matching or decisions, and is written to `rejected_rows.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// Index of its file among the files of its reader (as in [`Origin`]).
    pub file: u32,
    /// The file as the user named it.
    pub path: PathBuf,
    pub kind: InputKind,
    /// 1-based line the row starts on.
    pub line: u64,
    /// Everything wrong with the row (at least one).
    pub problems: Vec<Problem>,
    /// The row as read, its card number masked, and anything else that looks
    /// like one too.
    pub raw: String,
    /// Its `amount` where that could be read, for the control totals.
    pub amount: Option<Amount>,
}

impl RejectedRow {
    /// The row's problems as one error, as strict mode would list them.
    pub fn to_error(rows: &[RejectedRow]) -> Option<InputError> {
        let mut problems = Problems::default();
        for row in rows {
            for problem in &row.problems {
                problems.push(problem.clone());
            }
        }
        problems.into_result().err().map(|mut err| {
            err.bad_rows = rows.len() as u64;
            err
        })
    }

    /// The amount counted for it in the control totals: 0.00 when unreadable.
    pub fn counted_amount(&self) -> Amount {
        self.amount.unwrap_or(Amount::ZERO)
    }
}

/// The most one file's amounts in one currency may add up to, in minor
/// units: 100 trillion yuan, beyond any night of card payments. Below it the
/// totals of a night's files, and the control totals made of them, cannot
/// overflow; a file past it (amounts read from the wrong column, say) is
/// refused instead.
const FILE_TOTAL_LIMIT: i64 = 10_i64.pow(16);

/// Adds `amount` to the running total of its currency; `false` once that
/// total is past [`FILE_TOTAL_LIMIT`].
#[must_use]
pub(crate) fn add_amount(
    totals: &mut Vec<(Currency, Amount)>,
    currency: Currency,
    amount: Amount,
) -> bool {
    let total = match totals.iter_mut().find(|(c, _)| *c == currency) {
        Some((_, total)) => {
            *total = *total + amount;
            *total
        }
        None => {
            totals.push((currency, amount));
            totals.sort_by_key(|(c, _)| c.code());
            amount
        }
    };
    total.minor().unsigned_abs() <= FILE_TOTAL_LIMIT.unsigned_abs()
}

/// The problem of a file whose amounts add up past [`FILE_TOTAL_LIMIT`].
fn too_much(path: &Path, line: u64, currency: Currency) -> Problem {
    problem(
        path,
        Some(line),
        Some("amount"),
        format!(
            "the {currency} amounts of this file add up to more than {} by this row: that is \
             no night of card payments; check that the amount column holds amounts",
            Amount::from_minor(FILE_TOTAL_LIMIT)
        ),
    )
}

fn problem(
    path: &Path,
    line: Option<u64>,
    field: Option<&'static str>,
    message: String,
) -> Problem {
    Problem {
        path: path.to_path_buf(),
        line,
        field,
        message,
    }
}

/// An open input: a canonical CSV file, or a file read through a profile.
#[allow(clippy::large_enum_variant)] // one value per open file, never moved in a loop
enum Opened {
    Canonical(Table),
    Profiled(Profiled),
}

impl Opened {
    fn next_row(
        &mut self,
        problems: &mut Problems,
        row_problems: &mut Problems,
    ) -> Option<Row<'_>> {
        match self {
            Opened::Canonical(table) => table.next_row(problems, row_problems),
            Opened::Profiled(profiled) => profiled.next_row(problems, row_problems),
        }
    }

    fn rows(&self) -> u64 {
        match self {
            Opened::Canonical(table) => table.rows(),
            Opened::Profiled(profiled) => profiled.rows(),
        }
    }

    fn finish(self) -> std::io::Result<String> {
        match self {
            Opened::Canonical(table) => table.finish(),
            Opened::Profiled(profiled) => profiled.finish(),
        }
    }
}

/// Opens input `index` of `paths`: canonical, or through its profile.
fn open_input(
    path: &Path,
    index: usize,
    kind: InputKind,
    columns: &'static [Column],
    choice: &ProfileChoice,
    problems: &mut Problems,
) -> Option<Opened> {
    match choice.for_file(index) {
        None => {
            let line_breaks = match kind {
                InputKind::Terminal | InputKind::Bank => LineBreaks::Refuse,
                _ => LineBreaks::Allow,
            };
            Table::open(path, columns, line_breaks, problems).map(Opened::Canonical)
        }
        Some(profile) => {
            Profiled::open(path, profile.clone(), columns, choice.settle_date, problems)
                .map(Opened::Profiled)
        }
    }
}

/// The rows at `wanted` (file index and line) as [`Row::raw_masked`] gives
/// them, read again from files that were read cleanly once already (`files`,
/// the first read's hashes). For a row found bad only once every file was
/// read (a repeated identity). A file that differs from its first read (still
/// being written, or replaced) is an error: its rows would not be the ones
/// set aside.
fn raw_rows(
    paths: &[PathBuf],
    kind: InputKind,
    columns: &'static [Column],
    choice: &ProfileChoice,
    wanted: &BTreeSet<Origin>,
    files: &[InputFile],
) -> Result<BTreeMap<Origin, String>, InputError> {
    let mut raw = BTreeMap::new();
    for (index, path) in paths.iter().enumerate() {
        let file = u32::try_from(index).expect("IE: fewer than 2^32 input files");
        if !wanted.iter().any(|origin| origin.file == file) {
            continue;
        }
        let changed = || {
            InputError::single(problem(
                path,
                None,
                None,
                "changed while posrecon was reading it; nothing was written. \
                 Run again once the file is complete"
                    .into(),
            ))
        };
        // The file read cleanly a moment ago; problems seen now are not new.
        let mut ignored = Problems::default();
        let Some(mut table) = open_input(path, index, kind, columns, choice, &mut ignored) else {
            return Err(changed());
        };
        let mut ignored_rows = Problems::default();
        while let Some(row) = table.next_row(&mut ignored, &mut ignored_rows) {
            let origin = Origin {
                file,
                line: row.line(),
            };
            if wanted.contains(&origin) {
                raw.insert(origin, row.raw_masked());
            }
            ignored_rows.take();
        }
        let first = files.iter().find(|f| f.path == *path).map(|f| &f.sha256);
        if table.finish().ok().as_ref() != first {
            return Err(changed());
        }
    }
    Ok(raw)
}

/// Reads every file in `paths` with one row parser, collecting problems from
/// all of them, and the control totals of each file. A file with a profile in
/// `choice` is read through it; the row parser sees canonical fields either way.
///
/// A row with problems of its own is set aside as a [`RejectedRow`] while
/// there are at most `max_rejects` of them; beyond that, or after any problem
/// of a whole file, every problem found is returned as one error.
///
/// `parse` also sees the records read so far, so that it can compare a row
/// with earlier ones. `money` gives a record's currency, amount and (when its
/// kind has one) type, for the control totals, when its kind has an amount.
fn read_all<T>(
    paths: &[PathBuf],
    kind: InputKind,
    columns: &'static [Column],
    choice: &ProfileChoice,
    max_rejects: u64,
    mut parse: impl FnMut(&Row<'_>, Origin, &mut Problems, &[T]) -> Option<T>,
    money: impl Fn(&T) -> Option<(Currency, Amount, Option<TxnType>)>,
) -> Result<Read<T>, InputError> {
    let mut problems = Problems::default();
    let mut row_problems = Problems::default();
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    let mut files = Vec::with_capacity(paths.len());
    let mut bad_rows: u64 = 0;
    let mut file_problems = 0;
    for (index, path) in paths.iter().enumerate() {
        let file = u32::try_from(index).expect("IE: fewer than 2^32 input files");
        let (before, bad_before) = (problems.count(), bad_rows);
        let opened = open_input(path, index, kind, columns, choice, &mut problems);
        let Some(mut table) = opened else {
            file_problems += problems.count() - before;
            continue;
        };
        let mut amounts = Vec::new();
        let mut row_problem_count = 0;
        let mut amounts_read = true;
        // Purchases less refunds and voids, for a trailer whose total is a
        // C/D net; `None` once a row's amount or type could not be read.
        let mut net = Some(Amount::ZERO);
        while let Some(row) = table.next_row(&mut problems, &mut row_problems) {
            let origin = Origin {
                file,
                line: row.line(),
            };
            let record = if row.is_usable() {
                parse(&row, origin, &mut row_problems, &records)
            } else {
                None
            };
            if row_problems.is_empty()
                && let Some(record) = record
            {
                if let Some((currency, amount, txn_type)) = money(&record) {
                    if !add_amount(&mut amounts, currency, amount) {
                        problems.push(too_much(path, row.line(), currency));
                        break;
                    }
                    net = net
                        .zip(txn_type)
                        .map(|(net, txn_type)| net + signed(amount, txn_type));
                }
                records.push(record);
                continue;
            }
            let mut found = row_problems.take();
            if found.is_empty() {
                // Every parser says why it refuses a row; never let one
                // slip through unexplained.
                found.push(problem(
                    path,
                    Some(row.line()),
                    None,
                    "could not be read".into(),
                ));
            }
            bad_rows += 1;
            row_problem_count += found.len();
            for problem in &found {
                problems.push(problem.clone());
            }
            if bad_rows <= max_rejects {
                let amount = row.text_of("amount").and_then(|t| parse_amount(t).ok());
                if let Some(amount) = amount {
                    let currency = row
                        .text_of("currency")
                        .and_then(|t| field::parse_currency(t).ok())
                        .unwrap_or(Currency::CNY);
                    if !add_amount(&mut amounts, currency, amount) {
                        problems.push(too_much(path, row.line(), currency));
                        break;
                    }
                    // No record to take the type from: read it from the text.
                    let direction = row
                        .text_of("txn_type")
                        .and_then(|t| field::parse_txn_type(t).ok());
                    net = net
                        .zip(direction)
                        .map(|(net, txn_type)| net + signed(amount, txn_type));
                } else {
                    amounts_read = false;
                    net = None;
                }
                rejected.push(RejectedRow {
                    file,
                    path: path.clone(),
                    kind,
                    line: row.line(),
                    problems: found,
                    raw: row.raw_masked(),
                    amount,
                });
            }
        }
        let rows = table.rows();
        // A trailer is compared only with a file whose rows were all read or
        // set aside: otherwise its figures differ for a reason already listed.
        let file_clean = problems.count() - before == row_problem_count;
        let set_aside = bad_rows == bad_before || bad_rows <= max_rejects;
        if let Opened::Profiled(profiled) = &table
            && file_clean
            && set_aside
        {
            let total = amounts.iter().map(|(_, amount)| *amount).sum();
            let totals = RowTotals {
                rows,
                gross: amounts_read.then_some(total),
                net,
            };
            for problem in profiled.trailer_problems(totals) {
                problems.push(problem);
            }
        }
        match table.finish() {
            Ok(sha256) => files.push(InputFile {
                path: path.clone(),
                kind,
                sha256,
                rows,
                amounts,
            }),
            Err(err) => problems.push(problem(
                path,
                None,
                None,
                format!("cannot read the file: {err}"),
            )),
        }
        file_problems += problems.count() - before - row_problem_count;
    }
    if file_problems > 0 || bad_rows > max_rejects {
        let mut err = problems
            .into_result()
            .expect_err("IE: problems were counted");
        err.bad_rows = bad_rows;
        return Err(err);
    }
    refuse_files_wholly_set_aside(Read {
        records,
        files,
        rejected,
    })
}

/// `amount` as it counts towards a trailer's C/D net: purchases add, refunds
/// and voids take away.
fn signed(amount: Amount, txn_type: TxnType) -> Amount {
    if txn_type.is_purchase() {
        amount
    } else {
        Amount::ZERO - amount
    }
}

/// Fails when every data row of a file with more than one was set aside:
/// that is a file of the wrong format (a bank that changed its date format,
/// the wrong profile), not a night of bad rows, and setting it aside would
/// leave the other side all unmatched.
fn refuse_files_wholly_set_aside<T>(read: Read<T>) -> Result<Read<T>, InputError> {
    let mut problems = Problems::default();
    for (index, file) in read.files.iter().enumerate() {
        let set_aside = read
            .rejected
            .iter()
            .filter(|row| row.file as usize == index)
            .count() as u64;
        if file.rows > 1 && set_aside == file.rows {
            problems.push(problem(
                &file.path,
                None,
                None,
                format!(
                    "every row of this {} is bad ({} rows): is it the right format, or the \
                     right profile? Nothing was set aside",
                    file.kind.description(),
                    file.rows
                ),
            ));
            for row in read
                .rejected
                .iter()
                .filter(|row| row.file as usize == index)
            {
                for found in &row.problems {
                    problems.push(found.clone());
                }
            }
        }
    }
    match problems.into_result() {
        Ok(()) => Ok(read),
        Err(mut err) => {
            err.bad_rows = read.rejected.len() as u64;
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;
    use std::sync::Arc;

    use super::*;

    const TERMINAL_HEADER: &str = "merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,currency,card_no,orig_trace_no";

    fn sale(trace: &str, amount: &str) -> String {
        format!(
            "898310058120001,10000101,000231,{trace},,,SALE,2026-11-23 09:15:02,{amount},CNY,6228480012345671,"
        )
    }

    fn write(dir: &tempfile::TempDir, name: &str, lines: &[String]) -> PathBuf {
        let path = dir.path().join(name);
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    fn terminal_file(dir: &tempfile::TempDir, rows: &[String]) -> PathBuf {
        let mut lines = vec![TERMINAL_HEADER.to_string()];
        lines.extend_from_slice(rows);
        write(dir, "batch.csv", &lines)
    }

    /// The rows of a repeated identity are found bad only after every file
    /// was read, and their text is read again: from the same bytes, or not
    /// at all.
    #[test]
    fn rows_read_again_come_from_the_file_first_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = terminal_file(&dir, &[sale("000001", "10.00"), sale("000002", "7.00")]);
        let read = read_terminal_records(std::slice::from_ref(&path)).unwrap();
        let wanted = BTreeSet::from([Origin { file: 0, line: 3 }]);
        let again = |files: &[InputFile]| {
            let paths = std::slice::from_ref(&path);
            let choice = ProfileChoice::default();
            raw_rows(
                paths,
                InputKind::Terminal,
                terminal::COLUMNS,
                &choice,
                &wanted,
                files,
            )
        };
        let raw = again(&read.files).unwrap();
        assert_eq!(
            raw.values().collect::<Vec<_>>(),
            [
                "898310*****0001,10000101,000231,000002,,,SALE,2026-11-23 09:15:02,7.00,CNY,622848******5671,"
            ]
        );

        // Appended to (still being written) between the two reads.
        let mut grown = fs::read_to_string(&path).unwrap();
        grown.push_str(&(sale("000003", "1.00") + "\n"));
        fs::write(&path, grown).unwrap();
        let err = again(&read.files).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].path, path);
        assert!(
            err.problems[0]
                .message
                .starts_with("changed while posrecon was reading it"),
            "{err}"
        );
        fs::remove_file(&path).unwrap();
        assert!(again(&read.files).is_err(), "gone before the second read");
    }

    /// Excel writes a byte-order mark first; a file may then start with a
    /// blank line before its header. A mark within the file is text.
    #[test]
    fn a_byte_order_mark_is_dropped_at_the_start_of_the_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.csv");
        let body = format!("{TERMINAL_HEADER}\n{}\n", sale("000001", "10.00"));
        fs::write(&path, format!("\u{feff}\n{body}")).unwrap();
        let read = read_terminal_records(std::slice::from_ref(&path)).unwrap();
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.records[0].origin.line, 3);

        fs::write(&path, format!("{body}\u{feff}{}\n", sale("000002", "7.00"))).unwrap();
        let err = read_terminal_records(std::slice::from_ref(&path)).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].line, Some(3));
        assert_eq!(err.problems[0].field, Some("merchant_id"));
    }

    #[test]
    fn bad_rows_within_the_limit_are_set_aside_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = terminal_file(
            &dir,
            &[
                sale("000001", "10.00"),
                sale("000002", "12.3O"),
                sale("000001", "7.00"),
                "898310058120001,10000101,000231,000004,6228480012345671".to_string(),
                sale("000005", "1.50"),
            ],
        );
        let err =
            read_terminal_records_with(std::slice::from_ref(&path), &ProfileChoice::default(), 3)
                .unwrap_err();
        assert_eq!(err.bad_rows, 4, "both rows of a duplicate count: {err}");
        let read = read_terminal_records_with(&[path], &ProfileChoice::default(), 4).unwrap();
        let lines: Vec<u64> = read.records.iter().map(|r| r.origin.line).collect();
        assert_eq!(lines, [6], "the good row; no row of a duplicate kept");
        let rejected: Vec<(u64, Option<String>)> = read
            .rejected
            .iter()
            .map(|r| (r.line, r.amount.map(|a| a.to_string())))
            .collect();
        assert_eq!(
            rejected,
            [
                (2, Some("10.00".to_string())),
                (3, None),
                (4, Some("7.00".to_string())),
                (5, None),
            ]
        );
        assert_eq!(
            read.rejected[0].problems[0].message, read.rejected[2].problems[0].message,
            "both rows of a duplicate say the same"
        );
        assert_eq!(
            read.rejected[3].raw,
            "898310*****0001,10000101,000231,000004,622848******5671"
        );
        assert!(
            read.rejected
                .iter()
                .all(|r| !r.raw.contains("6228480012345671"))
        );
        let file = &read.files[0];
        assert_eq!(file.rows, 5, "rows set aside still count");
        assert_eq!(
            file.amount().to_string(),
            "18.50",
            "10.00 + 1.50 + 7.00, read from rows set aside too"
        );
    }

    #[test]
    fn one_bad_row_more_than_allowed_fails_with_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = terminal_file(
            &dir,
            &[
                sale("000001", "x"),
                sale("000002", "y"),
                sale("000003", "3.00"),
            ],
        );
        let err =
            read_terminal_records_with(std::slice::from_ref(&path), &ProfileChoice::default(), 1)
                .unwrap_err();
        assert_eq!(err.bad_rows, 2);
        assert_eq!(err.total(), 2);
        // Strict (0) is what the readers always were.
        let err = read_terminal_records_with(&[path], &ProfileChoice::default(), 0).unwrap_err();
        assert_eq!(err.bad_rows, 2);
    }

    #[test]
    fn failing_anyway_lists_every_row_of_a_repeated_identity_in_line_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = terminal_file(
            &dir,
            &[
                sale("000001", "1.00"),
                sale("000002", "x"),
                sale("000001", "3.00"),
                sale("000004", "y"),
            ],
        );
        let err = read_terminal_records_with(&[path], &ProfileChoice::default(), 1).unwrap_err();
        assert_eq!(err.bad_rows, 4, "{err}");
        let lines: Vec<(Option<u64>, Option<&str>)> =
            err.problems.iter().map(|p| (p.line, p.field)).collect();
        assert_eq!(
            lines,
            [
                (Some(2), Some("trace_no")),
                (Some(3), Some("amount")),
                (Some(4), Some("trace_no")),
                (Some(5), Some("amount")),
            ]
        );
    }

    #[test]
    fn a_file_of_bad_rows_fails_unless_it_has_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = terminal_file(&dir, &[sale("000001", "x"), sale("000002", "y")]);
        let err = read_terminal_records_with(&[path], &ProfileChoice::default(), 10).unwrap_err();
        assert_eq!((err.total(), err.bad_rows), (3, 2), "{err}");
        assert_eq!(err.problems[0].line, None);
        assert!(
            err.problems[0]
                .message
                .starts_with("every row of this terminal batch file is bad")
        );
        // Both rows of a repeated identity are all the file has: the same.
        let path = terminal_file(&dir, &[sale("000001", "1.00"), sale("000001", "2.00")]);
        let err = read_terminal_records_with(&[path], &ProfileChoice::default(), 10).unwrap_err();
        assert_eq!(err.total(), 3, "{err}");
        // One bad row is a bad row, even alone in its file.
        let path = terminal_file(&dir, &[sale("000001", "x")]);
        let read = read_terminal_records_with(&[path], &ProfileChoice::default(), 10).unwrap();
        assert_eq!(read.rejected.len(), 1);
    }

    #[test]
    fn a_problem_of_the_file_fails_whatever_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "batch.csv", &["merchant_id,terminal_id".to_string()]);
        let err = read_terminal_records_with(&[path], &ProfileChoice::default(), 100).unwrap_err();
        assert_eq!((err.total(), err.bad_rows), (1, 0));
    }

    #[test]
    fn an_unclosed_quote_is_a_problem_of_the_file_never_a_row_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows: Vec<String> = (1..=9)
            .map(|i| sale(&format!("{i:06}"), &format!("{i}.00")))
            .collect();
        rows[1] = sale("000002", "\"12.00");
        let path = terminal_file(&dir, &rows);
        for max_rejects in [0, 1, 100] {
            let err = read_terminal_records_with(
                std::slice::from_ref(&path),
                &ProfileChoice::default(),
                max_rejects,
            )
            .unwrap_err();
            assert_eq!((err.total(), err.bad_rows), (1, 0), "{err}");
            let problem = &err.problems[0];
            assert_eq!(problem.line, Some(3));
            assert!(
                problem.message.starts_with(
                    "amount: a quoted value runs over 8 lines, to line 10: \
                     a quote is probably not closed"
                ),
                "{problem}"
            );
        }
        // A quoted value holding a line break is refused the same way.
        let mut rows = vec![sale("000001", "1.00")];
        rows.push(
            "898310058120001,10000101,000231,000002,,,SALE,2026-11-23 09:15:02,2.00,CNY,\"6228\n4800\",".into(),
        );
        let path = terminal_file(&dir, &rows);
        let err = read_terminal_records_with(&[path], &ProfileChoice::default(), 5).unwrap_err();
        assert_eq!(err.problems[0].line, Some(3), "{err}");
        assert!(
            err.problems[0]
                .message
                .starts_with("card_no: a quoted value runs over 2 lines, to line 4"),
            "{err}"
        );
    }

    #[test]
    fn a_profiled_file_sets_aside_unsplittable_lines_and_still_checks_its_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let toml: BTreeMap<String, toml::Value> = toml::from_str(
            r#"
            [pipes]
            kind = "terminal"
            delimiter = "|"
            [pipes.fields]
            merchant_id = "merchant_id"
            terminal_id = "terminal_id"
            batch_no = "batch_no"
            trace_no = "trace_no"
            txn_type = "txn_type"
            txn_time = "txn_time"
            amount = "amount"
            card_no = "card_no"
            [pipes.trailer]
            prefix = "TOTAL"
            count_field = 2
            amount_field = 3
            "#,
        )
        .unwrap();
        let profile = Arc::new(
            profile::profiles_from_toml(&toml, Path::new("posrecon.toml"))
                .unwrap()
                .remove(0),
        );
        let choice = ProfileChoice {
            profiles: vec![Some(profile)],
            settle_date: None,
        };
        let row = |trace: &str, amount: &str| {
            format!(
                "898310058120001|10000101|000231|{trace}|SALE|2026-11-23 09:15:02|{amount}|6228480012345671"
            )
        };
        let header = "merchant_id|terminal_id|batch_no|trace_no|txn_type|txn_time|amount|card_no";
        let file = |trailer: &str| {
            write(
                &dir,
                "pipes.txt",
                &[
                    header.to_string(),
                    row("000001", "10.00"),
                    row("000002", "-5.00"),
                    "898310058120001|10000101|6228480012345671".to_string(),
                    trailer.to_string(),
                ],
            )
        };
        let read = read_terminal_records_with(&[file("TOTAL|3|10.00")], &choice, 2).unwrap();
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.rejected.len(), 2);
        assert_eq!(
            read.rejected[1].raw,
            "898310*****0001|10000101|622848******5671"
        );
        assert_eq!(read.files[0].rows, 3);
        // The count still has to agree; the total cannot be checked once a
        // row's amount could not be read.
        let err = read_terminal_records_with(&[file("TOTAL|4|10.00")], &choice, 2).unwrap_err();
        assert_eq!((err.total(), err.bad_rows), (3, 2));
        assert!(
            err.problems[2].message.contains("states 4 records"),
            "{err}"
        );
    }

    #[test]
    fn an_error_over_the_limit_says_so_first() {
        let problem = |line| Problem {
            path: PathBuf::from("batch.csv"),
            line: Some(line),
            field: Some("amount"),
            message: "is empty; an amount is required".into(),
        };
        let err = InputError {
            problems: vec![problem(2), problem(3)],
            unlisted: 0,
            bad_rows: 2,
            max_rejects: Some(1),
        };
        assert_eq!(
            err.to_string(),
            "2 bad rows, more than --max-rejects 1 allows; the input has 2 problems\n\
             batch.csv:2: amount: is empty; an amount is required\n\
             batch.csv:3: amount: is empty; an amount is required"
        );
    }
}
