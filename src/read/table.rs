//! A delimited file with a header row, read one reused record at a time.
//!
//! Columns are found by header name (any order, extra columns ignored), every
//! byte read is hashed on the way (the summary names each input's SHA-256), and
//! each row hands out its fields as trimmed `&str` without allocating.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::profile::Encoding;
use super::records::{Failure, Record, Records};
use super::{Problem, Problems, problem};
use crate::model::{mask_card_cell, redact_all_card_lengths, redact_pans};

/// Whether a column must be in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Required,
    Optional,
}

/// A column a reader looks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub(crate) name: &'static str,
    pub(crate) need: Need,
}

pub(crate) const fn required(name: &'static str) -> Column {
    Column {
        name,
        need: Need::Required,
    }
}

pub(crate) const fn optional(name: &'static str) -> Column {
    Column {
        name,
        need: Need::Optional,
    }
}

/// Whether a record may run over several lines (a quoted value holding a
/// line break).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineBreaks {
    /// Free text may hold one (a cancellation's reason).
    Allow,
    /// A terminal or bank row never does, so one is a quote left open that
    /// swallowed the lines after it: a problem of the file.
    Refuse,
}

/// Passes bytes through while hashing and counting them (the count feeds
/// the progress bar).
pub(crate) struct Hashing<R> {
    pub(crate) inner: R,
    pub(crate) hasher: Sha256,
}

impl<R: io::Read> Hashing<R> {
    /// Reads whatever is left (so the hash covers the whole file) and returns
    /// the SHA-256 of the file's bytes as lowercase hex.
    pub(crate) fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        let digest = self.hasher.finalize();
        Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl<R: io::Read> io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        crate::progress::add_bytes_read(n);
        Ok(n)
    }
}

/// An open input file whose header has been matched to the wanted columns.
pub(crate) struct Table {
    path: PathBuf,
    reader: Records<LfOnly<Hashing<File>>>,
    /// For each wanted column (by position in the reader's column list), its
    /// index in the file, if present.
    positions: Vec<Option<usize>>,
    columns: &'static [Column],
    /// The header's column names, to name the field a broken quote starts in.
    names: Vec<String>,
    line_breaks: LineBreaks,
    record: Record,
    rows: u64,
}

impl Table {
    /// Opens `path` and matches its header to `columns`.
    ///
    /// Returns `None` after recording a problem when the file cannot be used
    /// at all (missing, empty, wrong encoding, header without required columns).
    pub(crate) fn open(
        path: &Path,
        columns: &'static [Column],
        line_breaks: LineBreaks,
        problems: &mut Problems,
    ) -> Option<Table> {
        let file = open_file(path, problems, IfEmpty::Refuse)?;
        let file_problem = |problems: &mut Problems, message: String| {
            problems.push(problem(path, None, None, message));
        };
        let hashing = Hashing {
            inner: file,
            hasher: Sha256::new(),
        };
        let mut reader = Records::new(LfOnly::new(hashing), 1 << 16);
        let mut header = Record::default();
        // Blank lines before the header are skipped (LfOnly marks the second
        // of two, which is blank too).
        loop {
            match reader.read_record(&mut header) {
                Ok(true) if is_blank(&header) => {}
                Ok(true) => break,
                Ok(false) => {
                    file_problem(problems, "has no header row".into());
                    return None;
                }
                Err(err) => {
                    problems.push(read_failure(path, &err));
                    return None;
                }
            }
        }
        let names: Vec<&str> = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let name = name.trim();
                // Files saved by Excel start with a byte-order mark.
                if i == 0 {
                    name.trim_start_matches('\u{feff}')
                } else {
                    name
                }
            })
            .collect();
        let header_line = header.line();
        let mut positions = Vec::with_capacity(columns.len());
        let mut missing = Vec::new();
        for column in columns {
            let found: Vec<usize> = names
                .iter()
                .enumerate()
                .filter(|(_, name)| name.eq_ignore_ascii_case(column.name))
                .map(|(i, _)| i)
                .collect();
            if found.len() > 1 {
                problems.push(problem(
                    path,
                    Some(header_line),
                    Some(column.name),
                    format!("column appears {} times in the header", found.len()),
                ));
                return None;
            }
            if found.is_empty() && column.need == Need::Required {
                missing.push(column.name);
            }
            positions.push(found.first().copied());
        }
        let required = columns.iter().filter(|c| c.need == Need::Required).count();
        if missing.len() == required {
            let expected: Vec<&str> = columns.iter().map(|c| c.name).collect();
            problems.push(problem(
                path,
                Some(header_line),
                None,
                format!(
                    "is not a header row: none of the required column names appear. \
                     The first line must name the columns: {}",
                    expected.join(",")
                ),
            ));
            return None;
        }
        if !missing.is_empty() {
            let missing: Vec<String> = missing.iter().map(|name| format!("{name:?}")).collect();
            problems.push(problem(
                path,
                Some(header_line),
                None,
                format!(
                    "header lacks the required column{} {}; the header is: {}",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    redact_pans(&names.join(","))
                ),
            ));
            return None;
        }
        Some(Table {
            path: path.to_path_buf(),
            reader,
            positions,
            columns,
            names: names.iter().map(|name| (*name).to_string()).collect(),
            line_breaks,
            record: Record::default(),
            rows: 0,
        })
    }

    /// Reads the next data row. Blank lines are skipped; a row whose field
    /// count differs from the header's is recorded in `row_problems` and
    /// returned unusable (so `--max-rejects` can set it aside).
    ///
    /// Returns `None` at the end of the file, or after a problem that makes
    /// the rest of the file unreadable (bad encoding, broken quoting), which
    /// goes to `problems`. With [`LineBreaks::Refuse`], a record that runs
    /// over more than one line is such a problem: an unclosed quote swallows
    /// every later line into one record, which must never pass for a single
    /// bad row.
    pub(crate) fn next_row(
        &mut self,
        problems: &mut Problems,
        row_problems: &mut Problems,
    ) -> Option<Row<'_>> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {}
                Err(err) => {
                    problems.push(read_failure(&self.path, &err));
                    return None;
                }
            }
            let line = self.record.line();
            if is_blank(&self.record) {
                continue;
            }
            if self.line_breaks == LineBreaks::Allow {
                self.unblank_line_breaks();
            }
            let refused = match self.line_breaks {
                LineBreaks::Refuse => true,
                LineBreaks::Allow => self.swallows_rows(),
            };
            if refused && let Some(broken) = self.line_break_in_record(line) {
                problems.push(broken);
                return None;
            }
            self.rows += 1;
            let usable = self.record.len() == self.names.len();
            if !usable {
                row_problems.push(problem(
                    &self.path,
                    Some(line),
                    None,
                    format!(
                        "has {} fields but the header has {}",
                        self.record.len(),
                        self.names.len()
                    ),
                ));
            }
            return Some(Row {
                path: &self.path,
                columns: self.columns,
                line,
                usable,
                cells: Cells::Csv {
                    record: &self.record,
                    positions: &self.positions,
                },
            });
        }
    }

    /// Whether a field of the record, where line breaks are allowed, holds
    /// a comma after a line break. A quote left open takes the later rows
    /// into one field (up to the next quote, wherever that is), and rows
    /// have commas; free text put over several lines in Excel has none
    /// after its breaks, or can do without them. Swallowed rows must never
    /// pass for free text: they would be lost without a word.
    fn swallows_rows(&self) -> bool {
        if memchr::memchr2(b'\n', b'\r', self.record.bytes()).is_none() {
            return false;
        }
        self.record.iter().any(|field| {
            field
                .split(['\n', '\r'])
                .skip(1)
                .any(|line| line.contains(','))
        })
    }

    /// Takes out of a value that runs over lines the mark LfOnly wrote on
    /// each of its blank lines, so that the text is the file's.
    fn unblank_line_breaks(&mut self) {
        if memchr::memchr(BLANK_MARK, self.record.bytes()).is_none() {
            return;
        }
        let mark = char::from(BLANK_MARK);
        let fields: Vec<String> = self
            .record
            .iter()
            .map(|field| field.chars().filter(|&c| c != mark).collect())
            .collect();
        let line = self.record.line();
        self.record = Record::from_fields(fields.iter().map(String::as_str), line);
    }

    /// The problem of a record starting on `line` that holds a line break
    /// in a field, naming the first such field and the line the record ends on.
    fn line_break_in_record(&self, line: u64) -> Option<Problem> {
        // One pass over the record's bytes finds none in almost every row.
        memchr::memchr2(b'\n', b'\r', self.record.bytes())?;
        let index = self
            .record
            .iter()
            .position(|field| field.contains(['\n', '\r']))?;
        // A quote left open on the last line swallows that line's end too.
        let last = self.record.len() - 1;
        let breaks: u64 = self
            .record
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let field = if i == last {
                    field.trim_end_matches(['\r', '\n'])
                } else {
                    field
                };
                count_line_breaks(field)
            })
            .sum();
        let field = self.names.get(index).map_or_else(
            || format!("field {} (beyond the header)", index + 1),
            Clone::clone,
        );
        Some(problem(
            &self.path,
            Some(line),
            None,
            format!(
                "{field}: a quoted value runs over {} lines, to line {}: a quote is probably \
                 not closed ({})",
                breaks + 1,
                line + breaks,
                match self.line_breaks {
                    LineBreaks::Refuse => "a terminal or bank row never holds a line break",
                    LineBreaks::Allow => {
                        "its lines after the first hold commas, as rows of the file do; \
                         a text meant to run over lines must have no comma after a line break"
                    }
                }
            ),
        ))
    }

    /// Data rows seen so far, malformed ones included.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Reads whatever is left and returns the SHA-256 of the file's bytes.
    pub(crate) fn finish(self) -> io::Result<String> {
        self.reader.into_inner().inner.finish()
    }
}

/// What LfOnly writes on a blank line: a NUL, which no text file holds, so
/// that it can be told from a space that was in the file.
const BLANK_MARK: u8 = 0;

/// Whether a record is a blank line (spaces, tabs, or LfOnly's mark).
fn is_blank(record: &Record) -> bool {
    record.len() == 1
        && record.get(0).is_some_and(|field| {
            field
                .trim_matches(|c: char| c.is_whitespace() || c == char::from(BLANK_MARK))
                .is_empty()
        })
}

/// Passes bytes through with every CR LF written as a lone LF (a CR alone
/// stays), and a mark on each blank line. The csv crate counts lines by
/// the LFs it consumes, and names a record by where it started looking for
/// it: a CR LF's LF is consumed only as the next record starts, and blank
/// lines are skipped on the way, so in a CR LF file every row, and after a
/// blank line every later row, was named a line too early
/// (BurntSushi/rust-csv#395). A line holding the mark ([`BLANK_MARK`]) is a
/// record of its own, which `Table` skips as blank. The bytes are hashed before they get
/// here, so the file's hash is that of the file as it is.
pub(crate) struct LfOnly<R> {
    inner: R,
    held: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// The byte written last (none yet: a blank first line is left as is).
    last: u8,
}

impl<R: io::Read> LfOnly<R> {
    fn new(inner: R) -> LfOnly<R> {
        LfOnly {
            inner,
            held: vec![0; 1 << 16].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            last: 0,
        }
    }
}

impl<R: io::Read> io::Read for LfOnly<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // Nothing held: read straight into `out`, and when what came holds
        // no CR and no blank line (nearly always), that is all.
        if self.start == self.end && !self.eof && out.len() >= 2 {
            let room = out.len().min(self.held.len());
            let n = loop {
                match self.inner.read(&mut out[..room]) {
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    read => break read?,
                }
            };
            if n == 0 {
                self.eof = true;
                return Ok(0);
            }
            let came = &out[..n];
            let as_is = memchr::memchr(b'\r', came).is_none()
                && !(self.last == b'\n' && came[0] == b'\n')
                && memchr::memmem::find(came, b"\n\n").is_none();
            if as_is {
                self.last = came[n - 1];
                return Ok(n);
            }
            self.held[..n].copy_from_slice(came);
            (self.start, self.end) = (0, n);
        }
        loop {
            // Two bytes at least, so that a CR's next byte is known.
            if self.end - self.start < 2 && !self.eof {
                self.held.copy_within(self.start..self.end, 0);
                (self.end, self.start) = (self.end - self.start, 0);
                match self.inner.read(&mut self.held[self.end..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.end += n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
                continue;
            }
            let held = &self.held[self.start..self.end];
            if held.is_empty() {
                return Ok(0);
            }
            let (mut taken, mut written) = (0, 0);
            while taken < held.len() && written < out.len() {
                let rest = &held[taken..];
                // Up to the next CR, or the next LF that ends a blank line:
                // between them the bytes go through as they are, in one copy.
                let cr = memchr::memchr(b'\r', rest).unwrap_or(rest.len());
                let blank = if self.last == b'\n' && rest.first() == Some(&b'\n') {
                    Some(0)
                } else {
                    memchr::memmem::find(&rest[..cr], b"\n\n").map(|i| i + 1)
                };
                let plain = blank.map_or(cr, |blank| blank.min(cr));
                let n = plain.min(out.len() - written);
                out[written..written + n].copy_from_slice(&rest[..n]);
                if let Some(&byte) = rest[..n].last() {
                    self.last = byte;
                }
                (taken, written) = (taken + n, written + n);
                if n < plain || written == out.len() || plain == rest.len() {
                    continue;
                }
                let (byte, take) = match (rest[plain], rest.get(plain + 1)) {
                    // A blank line: its mark first, its LF the next time.
                    (b'\n', _) if self.last == b'\n' => (BLANK_MARK, 0),
                    (b'\n', _) => (b'\n', 1),
                    // A CR: dropped before an LF, kept before anything
                    // else; one that ends what is held waits for the next.
                    (_, Some(b'\n')) => {
                        taken += 1;
                        continue;
                    }
                    (_, Some(_)) => (b'\r', 1),
                    (_, None) if self.eof => (b'\r', 1),
                    (_, None) => break,
                };
                out[written] = byte;
                self.last = byte;
                (taken, written) = (taken + take, written + 1);
            }
            self.start += taken;
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

/// What the message for a zero-byte input file says. Either way it is
/// refused (SPEC §7): an interrupted transfer leaves the same empty file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfEmpty {
    /// The format has a header row, which even a night with no transactions
    /// has.
    Refuse,
    /// The format has no header row (a headerless profile), so a quiet night
    /// could look like this too: only the source can tell.
    RefuseHeaderless,
}

/// Opens an input file, recording a problem when it is missing, a folder or
/// empty.
pub(crate) fn open_file(path: &Path, problems: &mut Problems, if_empty: IfEmpty) -> Option<File> {
    let file_problem = |problems: &mut Problems, message: String| {
        problems.push(problem(path, None, None, message));
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) => {
            file_problem(problems, format!("cannot open the file: {err}"));
            return None;
        }
    };
    match file.metadata() {
        Ok(meta) if meta.is_dir() => {
            file_problem(problems, "is a folder, not a file".into());
            return None;
        }
        Ok(meta) if meta.len() == 0 => {
            let why = match if_empty {
                IfEmpty::Refuse => "even a night with no transactions has a header row",
                IfEmpty::RefuseHeaderless => {
                    "an interrupted transfer leaves the same empty file as a quiet night; \
                     fetch it again, or leave it out if the source really sent nothing"
                }
            };
            file_problem(problems, format!("the file is empty (0 bytes); {why}"));
            return None;
        }
        Ok(_) => {}
        Err(err) => {
            file_problem(problems, format!("cannot read the file: {err}"));
            return None;
        }
    }
    Some(file)
}

/// Describes a failure of the CSV reader itself, which stops the file.
fn read_failure(path: &Path, failure: &Failure) -> Problem {
    let message = match failure.error.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "is not UTF-8 text. Chinese bank files are often GBK-encoded: \
             convert the file to UTF-8 (for example `iconv -f GBK -t UTF-8`) and run again"
                .to_string()
        }
        csv::ErrorKind::Io(io) => format!("cannot read the file: {io}"),
        _ => "cannot be read as CSV (check its quoting)".to_string(),
    };
    problem(path, failure.line, None, message)
}

/// `text` without leading and trailing whitespace, as [`str::trim`] gives it.
/// Most cells have none: two byte tests say so without decoding characters.
fn trim(text: &str) -> &str {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// How many line breaks `text` holds (`\r\n` counts once).
fn count_line_breaks(text: &str) -> u64 {
    let crlf = text.matches("\r\n").count();
    let breaks = text.matches(['\n', '\r']).count() - crlf;
    breaks as u64
}

/// A CSV record's fields joined with commas, each quoted when it holds a
/// comma, a quote or a line break (quotes doubled), as a CSV writer would.
fn join_csv<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = String::new();
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line
}

/// One data row, borrowed until the next row is read: either a canonical
/// CSV record, or the canonical fields a format profile produced.
pub(crate) struct Row<'t> {
    path: &'t Path,
    columns: &'static [Column],
    line: u64,
    /// False when the line as a whole could not be split into fields (the
    /// problem is recorded already): no field of it can be trusted.
    usable: bool,
    cells: Cells<'t>,
}

enum Cells<'t> {
    Csv {
        record: &'t Record,
        positions: &'t [Option<usize>],
    },
    /// One cell per wanted column; `None` when converting it failed (that
    /// problem is recorded already). The line's bytes come along for
    /// [`Row::raw`].
    Converted {
        cells: &'t [Option<String>],
        bytes: &'t [u8],
        encoding: Encoding,
    },
}

impl<'t> Row<'t> {
    /// A row of canonical fields converted by a format profile, from the
    /// line `bytes`; not `usable` when the line could not be split.
    pub(crate) fn converted(
        path: &'t Path,
        columns: &'static [Column],
        line: u64,
        usable: bool,
        cells: &'t [Option<String>],
        (bytes, encoding): (&'t [u8], Encoding),
    ) -> Row<'t> {
        Row {
            path,
            columns,
            line,
            usable,
            cells: Cells::Converted {
                cells,
                bytes,
                encoding,
            },
        }
    }

    /// The line this row starts on.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// False when the line could not be split into its fields (recorded).
    pub(crate) fn is_usable(&self) -> bool {
        self.usable
    }

    /// The row as it was read, for `rejected_rows.csv`: a CSV record's
    /// fields joined again (quoted where needed), or a profiled file's line
    /// decoded (undecodable bytes replaced), with card numbers masked.
    ///
    /// The `card_no` cell is masked by [`mask_card_cell`], whatever its
    /// length or separators; every other cell goes through [`redact_pans`].
    /// In a line that could not be split into its columns (or whose card
    /// cell a profile could not convert), where the card may sit anywhere,
    /// every run of 12 or more digits is masked.
    pub(crate) fn raw_masked(&self) -> String {
        let card = self.columns.iter().position(|c| c.name == "card_no");
        match &self.cells {
            Cells::Csv { record, positions } => {
                let card = card.and_then(|index| positions[index]);
                let fields: Vec<String> = record
                    .iter()
                    .enumerate()
                    .map(|(i, field)| {
                        if Some(i) == card && self.usable {
                            mask_card_cell(field)
                        } else if self.usable {
                            redact_pans(field).into_owned()
                        } else {
                            redact_all_card_lengths(field).into_owned()
                        }
                    })
                    .collect();
                join_csv(fields.iter().map(String::as_str))
            }
            Cells::Converted {
                cells,
                bytes,
                encoding,
            } => {
                let line = encoding.decode_lossy(bytes);
                let mut line = line.trim_end_matches(['\r', '\n']).to_string();
                // The converted cell is the source's text, at most trimmed of
                // blanks or a quoting mark, so it is found in the line.
                let card = card.and_then(|index| cells.get(index));
                if let Some(text) = card
                    .and_then(|cell| cell.as_deref())
                    .map(str::trim)
                    .filter(|text| !text.is_empty())
                {
                    line = line.replace(text, &mask_card_cell(text));
                }
                // A card cell the profile could not convert is not known.
                let card_found = card.is_some_and(Option::is_some);
                if self.usable && card_found {
                    redact_pans(&line).into_owned()
                } else {
                    redact_all_card_lengths(&line).into_owned()
                }
            }
        }
    }

    /// The trimmed text of column `name`, when the row is usable and the
    /// file has that column.
    pub(crate) fn text_of(&self, name: &str) -> Option<&str> {
        if !self.usable {
            return None;
        }
        let index = self.columns.iter().position(|c| c.name == name)?;
        (!self.failed(index)).then(|| self.text(index))
    }

    /// The trimmed text of wanted column `index`, or `""` when the file has
    /// no such (optional) column.
    pub(crate) fn text(&self, index: usize) -> &str {
        match &self.cells {
            Cells::Csv { record, positions } => positions[index]
                .and_then(|position| record.get(position))
                .map_or("", trim),
            Cells::Converted { cells, .. } => cells[index].as_deref().unwrap_or(""),
        }
    }

    /// True when a profile could not convert column `index` (already reported).
    fn failed(&self, index: usize) -> bool {
        matches!(&self.cells, Cells::Converted { cells, .. } if cells[index].is_none())
    }

    /// Parses a column that must not be empty, recording any problem.
    pub(crate) fn required<T>(
        &self,
        index: usize,
        problems: &mut Problems,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if self.failed(index) {
            return None;
        }
        match parse(self.text(index)) {
            Ok(value) => Some(value),
            Err(message) => {
                self.report(index, message, problems);
                None
            }
        }
    }

    /// Parses a column that may be empty (or absent): `Some(None)` when empty,
    /// `None` after recording a problem.
    pub(crate) fn optional<T>(
        &self,
        index: usize,
        problems: &mut Problems,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        if self.failed(index) {
            return None;
        }
        let text = self.text(index);
        if text.is_empty() {
            return Some(None);
        }
        match parse(text) {
            Ok(value) => Some(Some(value)),
            Err(message) => {
                self.report(index, message, problems);
                None
            }
        }
    }

    /// Records a problem with column `index` of this row.
    pub(crate) fn report(&self, index: usize, message: String, problems: &mut Problems) {
        problems.push(problem(
            self.path,
            Some(self.line),
            Some(self.columns[index].name),
            message,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r",
            "12.30",
            "上海",
            " 上海 ",
            "\u{3000}CNY",
            "CNY\u{a0}",
            "\u{feff}a",
            "a\u{85}",
            "~",
            "\u{7f}",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn trim_is_str_trim_on_any_text(text in "\\PC{0,6}|\\s{0,2}[a-z0-9]{0,3}\\s{0,2}") {
            proptest::prop_assert_eq!(trim(&text), text.trim());
        }
    }

    proptest::proptest! {
        #[test]
        fn lf_only_writes_crlf_as_lf_and_marks_blank_lines(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'\r'),
                    proptest::strategy::Just(b'\n'),
                    proptest::strategy::Just(b'a'),
                    proptest::num::u8::ANY,
                ],
                0..200,
            ),
            step in 1usize..9,
            out_len in 1usize..9,
        ) {
            use io::Read;
            let mut lf_only = LfOnly::new(crate::testkit::Trickle::new(&bytes, vec![step]));
            let mut got = Vec::new();
            let mut out = vec![0; out_len];
            loop {
                let n = lf_only.read(&mut out).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&out[..n]);
            }
            let mut lf_only = Vec::new();
            for (i, &b) in bytes.iter().enumerate() {
                if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
                    lf_only.push(b);
                }
            }
            let mut want: Vec<u8> = Vec::new();
            for &b in &lf_only {
                if b == b'\n' && want.last() == Some(&b'\n') {
                    want.push(BLANK_MARK);
                }
                want.push(b);
            }
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn join_csv_cases() {
        #[track_caller]
        fn case(fields: &[&str], want: &str) {
            assert_eq!(join_csv(fields.iter().copied()), want);
        }
        case(&["a", "b", ""], "a,b,");
        case(&["上海, 浦东", "x"], "\"上海, 浦东\",x");
        case(&["say \"hi\""], "\"say \"\"hi\"\"\"");
        case(&[" 12.30 "], " 12.30 ");
    }
}
