//! Reads a terminal or bank file through a format profile.
//!
//! It decodes each line (UTF-8, GBK or GB18030), skips the preamble and the
//! footer, splits the line by the profile's layout (delimited, or fixed widths
//! counted in encoded bytes) and converts each source cell into the text of
//! the canonical field, which the canonical row parsers then validate: this
//! layer converts, it does not validate twice. The trailer's record count and
//! total are kept for [`Profiled::trailer_problems`].

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::field::{parse_amount, parse_date, parse_datetime, parse_txn_type, quote};
use super::profile::{
    AmountStyle, Constant, Encoding, FieldSource, Layout, Profile, clean, convert_amount,
    convert_constant, convert_date, convert_datetime, date_from_file_name, date_text,
    datetime_text, map_txn_type, parse_signed_amount, split_delimited,
};
use super::table::{Column, Hashing, IfEmpty, Need, Row, open_file};
use super::{Problem, Problems, problem};
use crate::model::{Amount, redact_pans};

/// Where one canonical field comes from in this file.
#[derive(Debug, Clone)]
enum Plan {
    /// A header name, until the header row is read.
    Column(String),
    /// The 0-based source field.
    Source(usize),
    /// The same canonical text on every row (a converted constant).
    Value(String),
    /// A constant whose conversion depends on the row (a C/D amount, a
    /// year-less time): converted on each row like a cell.
    Constant(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the header (or the first data row).
    Preamble,
    Data,
    /// After a trailer or skipped line that ended the data.
    Footer,
}

/// The figures a trailer line states.
#[derive(Debug, Clone)]
struct TrailerFigures {
    /// The data file, or its summary file.
    path: PathBuf,
    line: u64,
    count: Option<u64>,
    amount: Option<Amount>,
    /// The total carries a C/D letter: it is a net (credits less debits),
    /// compared with purchases less refunds and voids.
    is_net: bool,
    /// The total as written, for messages.
    amount_text: String,
}

/// What the rows of a file add up to, for its trailer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowTotals {
    /// Data rows seen, set aside or not.
    pub(crate) rows: u64,
    /// The sum of `amount`; `None` when some row's amount could not be read.
    pub(crate) gross: Option<Amount>,
    /// Purchases less refunds and voids; `None` when some row's amount or
    /// `txn_type` could not be read.
    pub(crate) net: Option<Amount>,
}

/// An open file read through a profile.
pub(crate) struct Profiled {
    path: PathBuf,
    profile: Arc<Profile>,
    columns: &'static [Column],
    reader: BufReader<Hashing<File>>,
    plans: Vec<Option<Plan>>,
    /// The canonical field index of each wanted column's spec in the profile.
    specs: Vec<Option<usize>>,
    /// Conversion order: txn_type and settle_date first (others depend on them).
    order: Vec<usize>,
    cells: Vec<Option<String>>,
    source: Vec<String>,
    offsets: Vec<(usize, usize)>,
    /// The shortest fixed-width record: through the last field read.
    min_len: usize,
    /// A fixed-width record through every width: shorter ones (their
    /// trailing blanks stripped) are padded with blanks to this length.
    full_len: usize,
    /// The 1-based number of the last fixed-width field read, for messages.
    last_field: usize,
    /// Fields in the header row, when there is one.
    width: Option<usize>,
    /// Fields a headerless delimited row must have at least.
    needed: usize,
    line: u64,
    buffer: VecDeque<(u64, Vec<u8>)>,
    eof: bool,
    stopped: bool,
    state: State,
    rows: u64,
    skip: Vec<Vec<u8>>,
    trailer_prefix: Option<Vec<u8>>,
    trailer: Option<TrailerFigures>,
    encoding_checked: bool,
    /// The bytes of the data line last handed out, for [`Row::raw`].
    current: Vec<u8>,
}

impl Profiled {
    /// Opens `path` to be read through `profile`. Returns `None` after
    /// recording a problem when the file cannot be read at all.
    pub(crate) fn open(
        path: &Path,
        profile: Arc<Profile>,
        columns: &'static [Column],
        settle_date: Option<NaiveDate>,
        problems: &mut Problems,
    ) -> Option<Profiled> {
        let if_empty = if profile.header {
            IfEmpty::Refuse
        } else {
            IfEmpty::RefuseHeaderless
        };
        let file = open_file(path, problems, if_empty)?;
        let mut plans = vec![None; columns.len()];
        let mut specs = vec![None; columns.len()];
        let mut needed = 0;
        for (spec_index, (name, spec)) in profile.fields.iter().enumerate() {
            let Some(index) = columns.iter().position(|c| c.name == *name) else {
                continue;
            };
            specs[index] = Some(spec_index);
            plans[index] = Some(match &spec.source {
                FieldSource::Column(name) => Plan::Column(name.clone()),
                FieldSource::Field(n) => {
                    needed = needed.max(*n);
                    Plan::Source(n - 1)
                }
                FieldSource::Value(_) => match convert_constant(name, spec, &profile) {
                    Ok(Constant::Canonical(text)) => Plan::Value(text),
                    Ok(Constant::PerRow(raw)) => Plan::Constant(raw),
                    // Checked when the profile was read; a profile built in
                    // code gets the same message.
                    Err(message) => {
                        problems.push(problem(path, None, Some(columns[index].name), message));
                        return None;
                    }
                },
                FieldSource::FileName(prefix) => {
                    let format = spec.format.as_deref().unwrap_or("%Y%m%d");
                    let date = match settle_date {
                        Some(date) => Ok(date),
                        None => date_from_file_name(path, prefix, format),
                    };
                    match date {
                        Ok(date) => Plan::Value(date_text(date)),
                        Err(message) => {
                            problems.push(problem(path, None, Some(columns[index].name), message));
                            return None;
                        }
                    }
                }
            });
        }
        let first = |name: &str| columns.iter().position(|c| c.name == name);
        let mut order: Vec<usize> = [first("txn_type"), first("settle_date")]
            .into_iter()
            .flatten()
            .collect();
        let rest: Vec<usize> = (0..columns.len()).filter(|i| !order.contains(i)).collect();
        order.extend(rest);
        let (offsets, full_len) = match &profile.layout {
            Layout::FixedWidth { widths, separator } => Layout::offsets(widths, *separator),
            _ => (Vec::new(), 0),
        };
        // Some exports strip a record's trailing blanks: what matters is
        // that it reaches the end of the last field read (ending inside a
        // field could silently shorten an amount, so that stays an error).
        let last_read = plans
            .iter()
            .filter_map(|plan| match plan {
                Some(Plan::Source(field)) => Some(*field),
                _ => None,
            })
            .max();
        let (min_len, last_field) = match last_read.and_then(|f| offsets.get(f)) {
            Some(&(_, end)) => (end, last_read.map_or(0, |f| f + 1)),
            None => (full_len, offsets.len()),
        };
        let codec = profile.encoding.codec();
        let encode = |text: &str| -> Vec<u8> { codec.encode(text).0.into_owned() };
        let skip = profile.skip_prefixes.iter().map(|p| encode(p)).collect();
        // A trailer in a summary file is not looked for among the data.
        let trailer_prefix = profile
            .trailer
            .as_ref()
            .filter(|t| t.file.is_none())
            .map(|t| encode(&t.prefix));
        let hashing = Hashing {
            inner: file,
            hasher: Sha256::new(),
        };
        Some(Profiled {
            path: path.to_path_buf(),
            columns,
            reader: BufReader::with_capacity(1 << 16, hashing),
            plans,
            specs,
            order,
            cells: vec![None; columns.len()],
            source: Vec::new(),
            offsets,
            min_len,
            full_len,
            last_field,
            width: None,
            needed,
            line: 0,
            buffer: VecDeque::new(),
            eof: false,
            stopped: false,
            state: State::Preamble,
            rows: 0,
            skip,
            trailer_prefix,
            trailer: None,
            encoding_checked: false,
            current: Vec::new(),
            profile,
        })
    }

    fn problem(&self, line: Option<u64>, field: Option<&'static str>, message: String) -> Problem {
        problem(&self.path, line, field, message)
    }

    /// The next physical line, without its line ending.
    fn read_line(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        let mut bytes = Vec::new();
        if self.reader.read_until(b'\n', &mut bytes)? == 0 {
            return Ok(None);
        }
        self.line += 1;
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        if self.line == 1 && self.profile.encoding == Encoding::Utf8 {
            // Files saved by Excel start with a byte-order mark.
            if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
                bytes = rest.to_vec();
            }
        }
        Ok(Some((self.line, bytes)))
    }

    /// The next non-blank line that is neither skipped at the start nor one of
    /// the footer lines at the end.
    fn next_line(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        while !self.eof && self.buffer.len() <= self.profile.footer_lines {
            match self.read_line()? {
                None => self.eof = true,
                Some((line, _)) if line <= self.profile.skip_lines as u64 => {}
                Some((_, bytes)) if bytes.iter().all(u8::is_ascii_whitespace) => {}
                Some(entry) => self.buffer.push_back(entry),
            }
        }
        if self.buffer.len() > self.profile.footer_lines {
            Ok(self.buffer.pop_front())
        } else {
            Ok(None)
        }
    }

    fn starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
        let start = bytes
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t'))
            .unwrap_or(bytes.len());
        bytes[start..].starts_with(prefix)
    }

    /// UTF-8 Chinese text often decodes as valid (but meaningless) GBK:
    /// the first non-ASCII line of a GBK or GB18030 file must not be UTF-8.
    /// `false` after recording that problem, which stops the file.
    fn check_not_utf8(&mut self, line: u64, bytes: &[u8], problems: &mut Problems) -> bool {
        if self.encoding_checked || bytes.is_ascii() {
            return true;
        }
        self.encoding_checked = true;
        if self.profile.encoding != Encoding::Utf8
            && std::str::from_utf8(bytes).is_ok_and(|t| t.chars().any(|c| c as u32 >= 0x800))
        {
            problems.push(self.problem(
                Some(line),
                None,
                format!(
                    "is UTF-8 text, but profile {:?} declares encoding {:?}: \
                     set encoding = \"utf-8\" in the profile, or check that this is the right file",
                    self.profile.name,
                    self.profile.encoding.as_str()
                ),
            ));
            self.stopped = true;
            return false;
        }
        true
    }

    /// Decodes a whole line; `None` after recording a problem (which stops
    /// the file, as an undecodable line in a canonical file does).
    fn decode<'b>(
        &mut self,
        line: u64,
        bytes: &'b [u8],
        problems: &mut Problems,
    ) -> Option<Cow<'b, str>> {
        if !self.check_not_utf8(line, bytes, problems) {
            return None;
        }
        match decode(self.profile.encoding, bytes) {
            Some(text) => Some(text),
            None => {
                problems.push(self.problem(Some(line), None, self.not_in_encoding()));
                self.stopped = true;
                None
            }
        }
    }

    /// Why bytes that do not decode in the profile's encoding are refused:
    /// one message for data lines and summary files alike.
    fn not_in_encoding(&self) -> String {
        if self.profile.encoding == Encoding::Utf8 {
            format!(
                "is not UTF-8 text, but profile {:?} declares encoding \"utf-8\". \
                 Chinese bank files are often GBK-encoded: set encoding = \"gbk\" in the profile",
                self.profile.name
            )
        } else {
            format!(
                "is not {} text (profile {:?} declares encoding {:?}); check the file's encoding",
                self.profile.encoding.as_str().to_uppercase(),
                self.profile.name,
                self.profile.encoding.as_str()
            )
        }
    }

    /// Reads the next data row and converts it to canonical fields. A
    /// problem of the row itself goes to `row_problems` (a line that cannot
    /// be split is returned unusable); one of the file to `problems`.
    ///
    /// Returns `None` at the end of the file, or after a problem that makes
    /// the rest of the file unreadable.
    pub(crate) fn next_row(
        &mut self,
        problems: &mut Problems,
        row_problems: &mut Problems,
    ) -> Option<Row<'_>> {
        loop {
            if self.stopped {
                return None;
            }
            let (line, bytes) = match self.next_line() {
                Ok(Some(entry)) => entry,
                Ok(None) => {
                    self.end_of_file(problems);
                    return None;
                }
                Err(err) => {
                    problems.push(self.problem(None, None, format!("cannot read the file: {err}")));
                    self.stopped = true;
                    return None;
                }
            };
            if !self.check_not_utf8(line, &bytes, problems) {
                return None;
            }
            let is_trailer = self
                .trailer_prefix
                .as_ref()
                .is_some_and(|p| Self::starts_with(&bytes, p));
            let is_skipped = self.skip.iter().any(|p| Self::starts_with(&bytes, p));
            if self.state == State::Preamble {
                if is_skipped {
                    continue;
                }
                self.state = State::Data;
                if self.profile.header {
                    if !self.read_header(line, &bytes, problems) {
                        self.stopped = true;
                    }
                    continue;
                }
            }
            if is_trailer {
                self.read_trailer(line, &bytes, problems);
                self.state = State::Footer;
                continue;
            }
            if is_skipped {
                self.state = State::Footer;
                continue;
            }
            if self.state == State::Footer {
                problems.push(self.problem(
                    Some(line),
                    None,
                    "is a data line after the end of the data (a trailer or skipped line came before it)"
                        .into(),
                ));
                continue;
            }
            self.rows += 1;
            let usable = self.convert(line, &bytes, problems, row_problems);
            if self.stopped {
                // The line could not be decoded: a problem of the file.
                return None;
            }
            self.current = bytes;
            return Some(Row::converted(
                &self.path,
                self.columns,
                line,
                usable,
                &self.cells,
                (&self.current, self.profile.encoding),
            ));
        }
    }

    /// At the end: the footer lines may hold the trailer; a file that never
    /// reached its header has none.
    fn end_of_file(&mut self, problems: &mut Problems) {
        while let Some((line, bytes)) = self.buffer.pop_front() {
            if let Some(prefix) = &self.trailer_prefix
                && Self::starts_with(&bytes, prefix)
            {
                self.read_trailer(line, &bytes, problems);
            } else if self.looks_like_row(line, &bytes) {
                // A footer line is dropped unseen: on a day the source
                // leaves its footer out, that would be the last real row.
                problems.push(self.problem(
                    Some(line),
                    None,
                    format!(
                        "looks like a data row, not a footer: profile {:?} drops the last {} \
                         non-blank line{} (footer_lines), but this one has the data's fields and \
                         a valid txn_type, txn_time and amount; is the file's footer missing?",
                        self.profile.name,
                        self.profile.footer_lines,
                        if self.profile.footer_lines == 1 {
                            ""
                        } else {
                            "s"
                        },
                    ),
                ));
            }
        }
        if self.state == State::Preamble && self.profile.header {
            problems.push(self.problem(None, None, "has no header row".into()));
            return;
        }
        if let Some(file) = self.profile.trailer.as_ref().and_then(|t| t.file.clone()) {
            self.read_summary_file(&file, problems);
        }
    }

    /// Whether a footer line would read as a data row: it splits into the
    /// data's fields, converts without a problem, and its canonical
    /// `txn_type`, `txn_time` and `amount` are valid. Records nothing.
    fn looks_like_row(&mut self, line: u64, bytes: &[u8]) -> bool {
        if self.skip.iter().any(|p| Self::starts_with(bytes, p))
            || (self.profile.header && self.width.is_none())
        {
            return false;
        }
        let (stopped, checked) = (self.stopped, self.encoding_checked);
        let (mut file, mut row) = (Problems::default(), Problems::default());
        let usable = self.convert(line, bytes, &mut file, &mut row);
        (self.stopped, self.encoding_checked) = (stopped, checked);
        let valid = |name: &str, parse: fn(&str) -> bool| {
            self.columns
                .iter()
                .position(|c| c.name == name)
                .and_then(|at| self.cells[at].as_deref())
                .is_some_and(parse)
        };
        usable
            && file.is_empty()
            && row.is_empty()
            && valid("txn_type", |t| parse_txn_type(t).is_ok())
            && valid("txn_time", |t| parse_datetime(t).is_ok())
            && valid("amount", |t| parse_amount(t).is_ok())
    }

    /// Matches the header row to the profile's column names.
    fn read_header(&mut self, line: u64, bytes: &[u8], problems: &mut Problems) -> bool {
        let Some(text) = self.decode(line, bytes, problems) else {
            return false;
        };
        let text = text.into_owned();
        let Layout::Delimited {
            delimiter,
            quote: q,
        } = self.profile.layout
        else {
            return true;
        };
        let mut names = Vec::new();
        if let Err(message) = split_delimited(&text, delimiter, q, &mut names) {
            problems.push(self.problem(Some(line), None, message));
            return false;
        }
        let names: Vec<String> = names
            .iter()
            .map(|n| clean(n, &self.profile.strip_leading).to_string())
            .collect();
        self.width = Some(names.len());
        let mut missing = Vec::new();
        for (index, plan) in self.plans.iter_mut().enumerate() {
            let Some(Plan::Column(wanted)) = plan else {
                continue;
            };
            let found: Vec<usize> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| n.eq_ignore_ascii_case(wanted))
                .map(|(i, _)| i)
                .collect();
            match found.as_slice() {
                [one] => *plan = Some(Plan::Source(*one)),
                // As in the canonical file, an optional column (orig_rrn)
                // may be missing: its field is then empty.
                [] if self.columns[index].need == Need::Optional => *plan = None,
                [] => missing.push(format!("{wanted:?} ({})", self.columns[index].name)),
                _ => {
                    problems.push(problem(
                        &self.path,
                        Some(line),
                        Some(self.columns[index].name),
                        format!(
                            "column {wanted:?} appears {} times in the header",
                            found.len()
                        ),
                    ));
                    return false;
                }
            }
        }
        if !missing.is_empty() {
            problems.push(self.problem(
                Some(line),
                None,
                format!(
                    "header lacks the column{} {} that profile {:?} reads; the header is: {}",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    self.profile.name,
                    redact_pans(&names.join(","))
                ),
            ));
            return false;
        }
        true
    }

    /// Splits a data line into source fields and converts every wanted
    /// column. `false` when the line as a whole is unusable (recorded in
    /// `row_problems`, or in `problems` when it stops the file).
    fn convert(
        &mut self,
        line: u64,
        bytes: &[u8],
        problems: &mut Problems,
        row_problems: &mut Problems,
    ) -> bool {
        let fixed = matches!(self.profile.layout, Layout::FixedWidth { .. });
        if fixed {
            if !self.check_not_utf8(line, bytes, problems) {
                return false;
            }
            if bytes.len() < self.min_len {
                row_problems.push(self.problem(
                    Some(line),
                    None,
                    format!(
                        "is {} bytes long, but a record of profile {:?} is at least {} bytes \
                         (through field {}, the last it reads)",
                        bytes.len(),
                        self.profile.name,
                        self.min_len,
                        self.last_field
                    ),
                ));
                return false;
            }
            if bytes.len() < self.full_len {
                let mut padded = bytes.to_vec();
                padded.resize(self.full_len, b' ');
                return self.convert_fields(line, &padded, row_problems);
            }
        } else {
            let Some(text) = self.decode(line, bytes, problems) else {
                return false;
            };
            let Layout::Delimited {
                delimiter,
                quote: q,
            } = self.profile.layout
            else {
                return false;
            };
            let mut source = std::mem::take(&mut self.source);
            let split = split_delimited(&text, delimiter, q, &mut source);
            self.source = source;
            if let Err(message) = split {
                row_problems.push(self.problem(Some(line), None, message));
                return false;
            }
            let count = self.source.len();
            let wrong = match self.width {
                Some(width) if count != width => {
                    Some(format!("has {count} fields but the header has {width}"))
                }
                None if count < self.needed => Some(format!(
                    "has {count} fields, but profile {:?} reads field {}",
                    self.profile.name, self.needed
                )),
                _ => None,
            };
            if let Some(message) = wrong {
                row_problems.push(self.problem(Some(line), None, message));
                return false;
            }
        }
        self.convert_fields(line, bytes, row_problems)
    }

    /// Converts every wanted column of a line that splits.
    fn convert_fields(&mut self, line: u64, bytes: &[u8], row_problems: &mut Problems) -> bool {
        let order = std::mem::take(&mut self.order);
        for &index in &order {
            let cell = self.convert_cell(index, line, bytes, row_problems);
            self.cells[index] = cell;
        }
        self.order = order;
        true
    }

    /// The canonical text of wanted column `index`, or `None` after recording
    /// why it cannot be had (or when a field it depends on failed).
    fn convert_cell(
        &self,
        index: usize,
        line: u64,
        bytes: &[u8],
        problems: &mut Problems,
    ) -> Option<String> {
        let name = self.columns[index].name;
        let report = |problems: &mut Problems, message: String| {
            problems.push(problem(&self.path, Some(line), Some(name), message));
        };
        let raw: Cow<'_, str> = match &self.plans[index] {
            None => return Some(String::new()),
            Some(Plan::Value(value)) => return Some(value.clone()),
            Some(Plan::Column(_)) => return Some(String::new()),
            Some(Plan::Constant(raw)) => Cow::Borrowed(raw.as_str()),
            Some(Plan::Source(field)) => {
                if let Some(&(start, end)) = self.offsets.get(*field) {
                    match decode(self.profile.encoding, &bytes[start..end]) {
                        Some(text) => text,
                        None => {
                            report(
                                problems,
                                format!(
                                    "bytes {} to {} are not {} text: the field widths cut a character in two, or the file is not {}",
                                    start + 1,
                                    end,
                                    self.profile.encoding.as_str().to_uppercase(),
                                    self.profile.encoding.as_str().to_uppercase()
                                ),
                            );
                            return None;
                        }
                    }
                } else {
                    Cow::Borrowed(self.source.get(*field).map_or("", String::as_str))
                }
            }
        };
        let raw = clean(&raw, &self.profile.strip_leading);
        let spec = &self.profile.fields[self.specs[index]?].1;
        let txn_type = || {
            let at = self.columns.iter().position(|c| c.name == "txn_type")?;
            parse_txn_type(self.cells[at].as_deref()?).ok()
        };
        let converted = match name {
            "txn_type" if !self.profile.txn_types.is_empty() => {
                map_txn_type(raw, &self.profile).map(|t| t.as_str().to_string())
            }
            "txn_time" if spec.format.is_some() => {
                let format = spec.format.as_deref().unwrap_or_default();
                let settle_date = self
                    .columns
                    .iter()
                    .position(|c| c.name == "settle_date")
                    .and_then(|at| self.cells[at].as_deref())
                    .and_then(|text| parse_date(text).ok());
                if settle_date.is_none() && !super::profile::has_year(format) {
                    // The settlement date's own problem is reported already.
                    return None;
                }
                convert_datetime(raw, format, settle_date).map(datetime_text)
            }
            "settle_date" if spec.format.is_some() => {
                convert_date(raw, spec.format.as_deref().unwrap_or_default()).map(date_text)
            }
            "amount" | "fee" | "net_amount" if spec.style != AmountStyle::Yuan => {
                let txn_type = txn_type();
                if txn_type.is_none()
                    && matches!(spec.style, AmountStyle::CdFen | AmountStyle::CdYuan)
                {
                    // Its direction depends on txn_type, whose problem is reported.
                    return None;
                }
                convert_amount(raw, spec.style, name, txn_type)
                    .map(|a| a.map_or_else(|| raw.to_string(), |a| a.to_string()))
            }
            _ => Ok(raw.to_string()),
        };
        match converted {
            Ok(text) => Some(text),
            Err(message) => {
                report(problems, message);
                None
            }
        }
    }

    /// Reads the record count and total a trailer line states.
    fn read_trailer(&mut self, line: u64, bytes: &[u8], problems: &mut Problems) {
        if let Some(first) = &self.trailer {
            problems.push(self.problem(
                Some(line),
                Some("trailer"),
                format!("is a second trailer line; the first is line {}", first.line),
            ));
            return;
        }
        let Some(text) = self.decode(line, bytes, problems) else {
            return;
        };
        let path = self.path.clone();
        self.trailer_figures(&path, line, &text, problems);
    }

    /// Reads the trailer line of a summary file (`trailer.file`): the first
    /// line starting with the trailer's prefix, or the first non-blank line
    /// when the prefix is empty.
    fn read_summary_file(&mut self, file: &str, problems: &mut Problems) {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let summary = self
            .path
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(file.replace("{name}", &name));
        let bytes = match std::fs::read(&summary) {
            Ok(bytes) => bytes,
            Err(err) => {
                problems.push(problem(
                    &summary,
                    None,
                    Some("trailer"),
                    format!(
                        "cannot open the summary file of {}: {err}",
                        self.path.display()
                    ),
                ));
                return;
            }
        };
        let Some(text) = decode(self.profile.encoding, &bytes) else {
            problems.push(problem(
                &summary,
                None,
                Some("trailer"),
                self.not_in_encoding(),
            ));
            return;
        };
        let prefix = self
            .profile
            .trailer
            .as_ref()
            .map_or("", |t| t.prefix.as_str());
        let found = text.lines().enumerate().find(|(_, line)| {
            let line = line.trim_start_matches('\u{feff}').trim();
            !line.is_empty() && line.starts_with(prefix)
        });
        match found {
            Some((index, line)) => {
                let line = line.trim_start_matches('\u{feff}').trim().to_string();
                self.trailer_figures(&summary, index as u64 + 1, &line, problems);
            }
            None => problems.push(problem(
                &summary,
                None,
                Some("trailer"),
                format!(
                    "the summary file of {} has no line starting with {}",
                    self.path.display(),
                    quote(prefix)
                ),
            )),
        }
    }

    /// Reads the record count and total of a decoded trailer line.
    fn trailer_figures(&mut self, path: &Path, line: u64, text: &str, problems: &mut Problems) {
        let Some(trailer) = self.profile.trailer.clone() else {
            return;
        };
        let mut fields = Vec::new();
        match self.profile.layout {
            Layout::Delimited {
                delimiter,
                quote: q,
            } => {
                if let Err(message) = split_delimited(text, delimiter, q, &mut fields) {
                    problems.push(problem(path, Some(line), Some("trailer"), message));
                    return;
                }
            }
            _ => fields = text.split_whitespace().map(str::to_string).collect(),
        }
        let field = |n: usize| -> Result<&str, String> {
            fields
                .get(n - 1)
                .map(|f| clean(f, &self.profile.strip_leading))
                .ok_or_else(|| format!("has no field {n} (it has {})", fields.len()))
        };
        let mut figures = TrailerFigures {
            path: path.to_path_buf(),
            line,
            count: None,
            amount: None,
            is_net: matches!(
                trailer.amount_style,
                AmountStyle::CdYuan | AmountStyle::CdFen
            ),
            amount_text: String::new(),
        };
        let mut bad = Vec::new();
        if let Some(n) = trailer.count_field {
            match field(n).and_then(|raw| {
                raw.parse::<u64>()
                    .map_err(|_| format!("record count {} is not a whole number", quote(raw)))
            }) {
                Ok(count) => figures.count = Some(count),
                Err(message) => bad.push(message),
            }
        }
        if let Some(n) = trailer.amount_field {
            let amount = field(n).and_then(|raw| {
                figures.amount_text = raw.to_string();
                // A C/D letter is the total's sign, never dropped: D100.00
                // is -100.00.
                parse_signed_amount(raw, trailer.amount_style)
                    .map_err(|message| format!("total: {message}"))
            });
            match amount {
                Ok(amount) => figures.amount = Some(amount),
                Err(message) => bad.push(message),
            }
        }
        for message in bad {
            problems.push(problem(path, Some(line), Some("trailer"), message));
        }
        self.trailer = Some(figures);
    }

    /// Compares the trailer's figures with what was read. A total that
    /// `totals` cannot give (some row's amount or type could not be read, in
    /// a row set aside by `--max-rejects`) is not compared: only the count.
    pub(crate) fn trailer_problems(&self, totals: RowTotals) -> Vec<Problem> {
        let rows = totals.rows;
        let Some(expected) = &self.profile.trailer else {
            return Vec::new();
        };
        let Some(trailer) = &self.trailer else {
            return vec![self.problem(
                None,
                Some("trailer"),
                format!(
                    "there is no trailer line starting with {}, which profile {:?} expects after the data",
                    quote(&expected.prefix),
                    self.profile.name
                ),
            )];
        };
        // A summary file's figures name the data file they describe.
        let (held, read) = if trailer.path == self.path {
            ("the file holds".to_string(), "read".to_string())
        } else {
            let data = self.path.display();
            (format!("{data} holds"), format!("in {data}"))
        };
        let mut found = Vec::new();
        if let Some(count) = trailer.count
            && count != rows
        {
            found.push(problem(
                &trailer.path,
                Some(trailer.line),
                Some("trailer"),
                format!("states {count} records, but {held} {rows}"),
            ));
        }
        let message = match (trailer.amount, trailer.is_net) {
            (Some(total), false) => totals
                .gross
                .filter(|amount| *amount != total)
                .map(|amount| {
                    format!("states a total of {total}, but the amounts {read} total {amount}")
                }),
            (Some(total), true) => totals.net.filter(|net| *net != total).map(|net| {
                format!(
                    "states a net total of {} ({total}), but the amounts {read} net {net} (purchases less refunds and voids)",
                    quote(&trailer.amount_text)
                )
            }),
            (None, _) => None,
        };
        if let Some(message) = message {
            found.push(problem(
                &trailer.path,
                Some(trailer.line),
                Some("trailer"),
                message,
            ));
        }
        found
    }

    /// Data rows seen so far, malformed ones included.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Reads whatever is left and returns the SHA-256 of the file's bytes.
    pub(crate) fn finish(self) -> io::Result<String> {
        self.reader.into_inner().finish()
    }
}

/// Decodes bytes in `encoding`; `None` when they are not valid in it.
fn decode(encoding: Encoding, bytes: &[u8]) -> Option<Cow<'_, str>> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        _ => encoding
            .codec()
            .decode_without_bom_handling_and_without_replacement(bytes),
    }
}
