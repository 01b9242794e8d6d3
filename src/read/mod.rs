//! The only module that opens input files.
//!
//! Every reader is strict: a malformed row is never skipped silently. Problems
//! are collected for the whole input (so a user fixes them in one go) and
//! returned as one [`InputError`], which the binary maps to exit status 3.

mod config;
mod field;
mod profile;
mod profiled;
mod reference;
mod settlement;
mod table;
mod terminal;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{Amount, Currency, Origin};
use profiled::Profiled;
use table::{Column, Row, Table};

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
}

impl InputError {
    /// An error with a single problem.
    pub fn single(problem: Problem) -> InputError {
        InputError {
            problems: vec![problem],
            unlisted: 0,
        }
    }

    /// Every problem found, listed or not.
    pub fn total(&self) -> usize {
        self.problems.len() + self.unlisted
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.problems.as_slice()
            && self.unlisted == 0
        {
            return write!(f, "{only}");
        }
        write!(f, "the input has {} problems", self.total())?;
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
}

/// Adds `amount` to the running total of its currency.
pub(crate) fn add_amount(totals: &mut Vec<(Currency, Amount)>, currency: Currency, amount: Amount) {
    match totals.iter_mut().find(|(c, _)| *c == currency) {
        Some((_, total)) => *total = *total + amount,
        None => {
            totals.push((currency, amount));
            totals.sort_by_key(|(c, _)| c.code());
        }
    }
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
    fn next_row(&mut self, problems: &mut Problems) -> Option<Row<'_>> {
        match self {
            Opened::Canonical(table) => table.next_row(problems),
            Opened::Profiled(profiled) => profiled.next_row(problems),
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

/// Reads every file in `paths` with one row parser, collecting problems from
/// all of them, and the control totals of each file. A file with a profile in
/// `choice` is read through it; the row parser sees canonical fields either way.
fn read_all<T>(
    paths: &[PathBuf],
    kind: InputKind,
    columns: &'static [Column],
    choice: &ProfileChoice,
    mut parse: impl FnMut(&Row<'_>, Origin, &mut Problems) -> Option<T>,
    money: impl Fn(&T) -> Option<(Currency, Amount)>,
) -> Result<Read<T>, InputError> {
    let mut problems = Problems::default();
    let mut records = Vec::new();
    let mut files = Vec::with_capacity(paths.len());
    for (index, path) in paths.iter().enumerate() {
        let file = u32::try_from(index).expect("IE: fewer than 2^32 input files");
        let before = problems.count();
        let opened = match choice.for_file(index) {
            None => Table::open(path, columns, &mut problems).map(Opened::Canonical),
            Some(profile) => Profiled::open(
                path,
                profile.clone(),
                columns,
                choice.settle_date,
                &mut problems,
            )
            .map(Opened::Profiled),
        };
        let Some(mut table) = opened else {
            continue;
        };
        let mut amounts = Vec::new();
        while let Some(row) = table.next_row(&mut problems) {
            let origin = Origin {
                file,
                line: row.line(),
            };
            if let Some(record) = parse(&row, origin, &mut problems) {
                if let Some((currency, amount)) = money(&record) {
                    add_amount(&mut amounts, currency, amount);
                }
                records.push(record);
            }
        }
        let rows = table.rows();
        // A trailer is compared only with a file read cleanly: otherwise its
        // figures differ for a reason already listed.
        if let Opened::Profiled(profiled) = &table
            && problems.count() == before
        {
            let total = amounts.iter().map(|(_, amount)| *amount).sum();
            for problem in profiled.trailer_problems(rows, total) {
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
    }
    problems.into_result()?;
    Ok(Read { records, files })
}
