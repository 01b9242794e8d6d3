//! The records of a CSV file, as the `csv` crate reads them, split on the
//! commas directly where a line needs none of CSV's rules.
//!
//! Nearly every line of a terminal or bank file is plain: no quote, no CR,
//! valid UTF-8. Such a line is one record whose fields lie between its
//! commas, found in a fraction of the time the `csv` crate's general parser
//! takes (its state machine was the largest part of reading a file, in a
//! `perf` profile). From the first line that is not plain, the `csv` crate
//! reads the rest of the file, so every quoting rule, error and line number
//! stays the crate's own: the tests compare the two on any bytes, read at
//! once or a few at a time. Two differences remain, neither on a file that
//! reads whole: should reading fail part way, a line with a lone CR goes to
//! the crate only once its end was read, so what came before the CR is not
//! given as a record (with its own problems) before the failure, which
//! fails the file either way; and a byte-order mark is dropped even when
//! the file's first read brings fewer than its three bytes, where the crate
//! keeps it.

use std::io::{self, Read};

/// A file's records, read one at a time into a reused [`Record`].
pub(crate) struct Records<R> {
    lane: Lane<R>,
}

/// Why a file could not be read on: the `csv` crate's error, and the
/// file's line it names, if any.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: csv::Error,
    pub(crate) line: Option<u64>,
}

impl Failure {
    fn io(error: io::Error) -> Failure {
        Failure {
            error: error.into(),
            line: None,
        }
    }
}

/// One record: its fields' text and where each field lies in it, and the
/// line the `csv` crate names it by.
#[derive(Debug, Default, Clone)]
pub(crate) struct Record {
    /// Every field's text in order; a plain line's keeps its commas.
    text: String,
    bounds: Vec<(usize, usize)>,
    line: u64,
}

impl Record {
    /// A record of `fields`, named by `line`.
    pub(crate) fn from_fields<'a>(fields: impl IntoIterator<Item = &'a str>, line: u64) -> Record {
        let mut record = Record {
            line,
            ..Record::default()
        };
        for field in fields {
            record.push(field);
        }
        record
    }

    pub(crate) fn len(&self) -> usize {
        self.bounds.len()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&str> {
        let &(from, to) = self.bounds.get(index)?;
        Some(&self.text[from..to])
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.bounds.iter().map(|&(from, to)| &self.text[from..to])
    }

    /// The line the record starts on.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Every field's bytes, in order, with or without separators between
    /// them: to look for a byte in any field at once.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.bounds.clear();
    }

    fn push(&mut self, field: &str) {
        let from = self.text.len();
        self.text.push_str(field);
        self.bounds.push((from, self.text.len()));
    }
}

/// What the `csv` crate reads: the bytes held when it took over, then
/// the rest of the file.
type Rest<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

enum Lane<R> {
    Plain(Plain<R>),
    Csv {
        reader: Box<csv::Reader<OneByteFirst<Rest<R>>>>,
        /// The record as the crate reads it, before it is copied out.
        read: csv::StringRecord,
        /// Lines of the file before the first byte the reader was given.
        lines_before: u64,
    },
    /// Only while the fast lane hands over to the `csv` crate.
    Moving,
}

/// The fast lane's buffer over the file.
struct Plain<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Where the next record's search starts: the bytes the `csv` crate
    /// would read next.
    start: usize,
    end: usize,
    /// The bytes before this offset (from `start`) are whole lines holding
    /// no quote and no CR.
    plain_until: usize,
    eof: bool,
    /// Whether the file's first bytes were looked at for a byte-order mark.
    started: bool,
    /// The line the `csv` crate names the next record by: the line after
    /// the last record (1 at first). It counts the line breaks read, as
    /// `csv` does, so a record after empty lines is named by the first of
    /// them, as `csv` names it.
    line: u64,
}

/// What the fast lane found next.
enum Next {
    /// A plain record: its line holds these bytes of the buffer.
    Record { from: usize, to: usize },
    /// The end of the file.
    End,
    /// A line that needs the `csv` crate's rules (or is longer than the
    /// buffer) starts at or after `start`.
    NeedsCsv,
}

impl<R: Read> Records<R> {
    /// Reads `inner`, `buffer` bytes at a time in the fast lane (at least 4,
    /// so that a byte-order mark fits).
    pub(crate) fn new(inner: R, buffer: usize) -> Records<R> {
        Records {
            lane: Lane::Plain(Plain {
                inner,
                buf: vec![0; buffer.max(4)].into_boxed_slice(),
                start: 0,
                end: 0,
                plain_until: 0,
                eof: false,
                started: false,
                line: 1,
            }),
        }
    }

    /// Reads the next record into `record`, as `csv::Reader::read_record`
    /// of a reader built by [`reader_builder`] does: `false` at the end.
    pub(crate) fn read_record(&mut self, record: &mut Record) -> Result<bool, Failure> {
        loop {
            match &mut self.lane {
                Lane::Csv {
                    reader,
                    read,
                    lines_before,
                } => {
                    let more = reader.read_record(read).map_err(|error| Failure {
                        line: error.position().map(|at| at.line() + *lines_before),
                        error,
                    })?;
                    if more {
                        record.clear();
                        for field in read.iter() {
                            record.push(field);
                        }
                        record.line = read.position().map_or(1, csv::Position::line);
                        record.line += *lines_before;
                    }
                    return Ok(more);
                }
                Lane::Plain(plain) => match plain.next().map_err(Failure::io)? {
                    Next::Record { from, to } => {
                        // Bytes that are not UTF-8 are the `csv` crate's
                        // to report.
                        let Ok(text) = std::str::from_utf8(&plain.buf[from..to]) else {
                            self.hand_over_to_csv();
                            continue;
                        };
                        record.clear();
                        record.text.push_str(text);
                        split_at_commas(text.as_bytes(), &mut record.bounds);
                        record.line = plain.line;
                        plain.line += 1 + count_lf(&plain.buf[plain.start..from]);
                        plain.start = (to + 1).min(plain.end);
                        return Ok(true);
                    }
                    Next::End => return Ok(false),
                    Next::NeedsCsv => self.hand_over_to_csv(),
                },
                Lane::Moving => unreachable!("IE: the lane is never left moving"),
            }
        }
    }

    /// The reader given to [`Records::new`], with whatever of the file it
    /// has not yet been asked for.
    pub(crate) fn into_inner(self) -> R {
        match self.lane {
            Lane::Plain(plain) => plain.inner,
            Lane::Csv { reader, .. } => reader.into_inner().inner.into_inner().1,
            Lane::Moving => unreachable!("IE: the lane is never left moving"),
        }
    }

    /// Hands the rest of the file, from the next record's search on, to the
    /// `csv` crate.
    fn hand_over_to_csv(&mut self) {
        let Lane::Plain(plain) = std::mem::replace(&mut self.lane, Lane::Moving) else {
            unreachable!("IE: only the fast lane hands over");
        };
        let held = plain.buf[plain.start..plain.end].to_vec();
        let rest = OneByteFirst {
            inner: io::Cursor::new(held).chain(plain.inner),
            first: true,
        };
        self.lane = Lane::Csv {
            reader: Box::new(reader_builder().from_reader(rest)),
            read: csv::StringRecord::new(),
            lines_before: plain.line - 1,
        };
    }
}

impl<R: Read> Plain<R> {
    /// Finds the next record's line, reading more of the file as needed.
    fn next(&mut self) -> io::Result<Next> {
        if !self.started {
            // The `csv` crate drops a byte-order mark from the first bytes
            // it is given (a file's first read, whole for a file on disk);
            // Table drops one it leaves, after blanks.
            while self.end < BOM.len() && !self.eof {
                self.fill()?;
            }
            if self.buf[..self.end].starts_with(BOM) {
                self.start = BOM.len();
            }
            self.started = true;
        }
        let mut at = self.start;
        loop {
            // Empty lines are skipped, as `csv` skips them; they stay in
            // the search (`start` does not move) for the line count, and
            // for `csv` should a later line need it.
            let held = &self.buf[at..self.end];
            let lf = memchr::memchr(b'\n', held);
            let to = match lf {
                Some(lf) => at + lf,
                None if self.eof => self.end,
                None => {
                    if self.start == 0 && self.end == self.buf.len() {
                        // A line longer than the buffer.
                        return Ok(Next::NeedsCsv);
                    }
                    at -= self.start;
                    self.fill()?;
                    continue;
                }
            };
            if to == at {
                if lf.is_none() {
                    return Ok(Next::End);
                }
                at += 1;
                continue;
            }
            let line = &self.buf[at..to];
            if to > self.plain_until && !is_plain(line) {
                return Ok(Next::NeedsCsv);
            }
            return Ok(Next::Record { from: at, to });
        }
    }

    /// Moves what is held to the front of the buffer and reads more after
    /// it, noting how much of it is whole plain lines.
    fn fill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        self.plain_until -= self.start.min(self.plain_until);
        (self.end, self.start) = (self.end - self.start, 0);
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                read => break read?,
            }
        };
        if n == 0 {
            self.eof = true;
            return Ok(());
        }
        let came = &self.buf[self.end..self.end + n];
        // One pass over what came (and the part of a line held before it)
        // says whether all its whole lines are plain, nearly always; they
        // are then not checked one by one.
        if let Some(last) = memchr::memrchr(b'\n', came)
            && is_plain(&self.buf[self.plain_until..self.end + last])
        {
            self.plain_until = self.end + last;
        }
        self.end += n;
        Ok(())
    }
}

const BOM: &[u8] = b"\xef\xbb\xbf";

/// A reader whose first read gives one byte at most. `csv-core` drops a
/// byte-order mark from the first bytes it is given, when they are three
/// or more: right at the start of a file, wrong at a line within it, where
/// the `csv` crate takes over and a mark is part of the line's first field.
struct OneByteFirst<R> {
    inner: R,
    first: bool,
}

impl<R: Read> Read for OneByteFirst<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.first) {
            let one = buf.len().min(1);
            return self.inner.read(&mut buf[..one]);
        }
        self.inner.read(buf)
    }
}

/// Whether `line` holds neither a quote nor a CR: its fields are then
/// exactly the text between its commas (when it is UTF-8).
fn is_plain(line: &[u8]) -> bool {
    memchr::memchr2(b'"', b'\r', line).is_none()
}

/// Puts where each field of `line` starts and ends into `bounds`: the
/// fields are what lies between its commas. Eight bytes are looked at a
/// time; a record's fields are short, so a search per comma would start
/// up a dozen times a line.
fn split_at_commas(line: &[u8], bounds: &mut Vec<(usize, usize)>) {
    const LOW_BITS: u64 = u64::from_ne_bytes([0x7f; 8]);
    const COMMAS: u64 = u64::from_ne_bytes([b','; 8]);
    let mut field = 0;
    let (words, tail) = line.as_chunks::<8>();
    for (index, word) in words.iter().enumerate() {
        // Commas become zero bytes; the top bit of each zero byte is then
        // set, and of no other (no carry crosses a byte: exact).
        let zeroed = u64::from_le_bytes(*word) ^ COMMAS;
        let mut commas = !(((zeroed & LOW_BITS) + LOW_BITS) | zeroed | LOW_BITS);
        while commas != 0 {
            let at = index * 8 + commas.trailing_zeros() as usize / 8;
            bounds.push((field, at));
            field = at + 1;
            commas &= commas - 1;
        }
    }
    let tail_start = words.len() * 8;
    for (offset, _) in tail.iter().enumerate().filter(|(_, byte)| **byte == b',') {
        let at = tail_start + offset;
        bounds.push((field, at));
        field = at + 1;
    }
    bounds.push((field, line.len()));
}

fn count_lf(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// How every canonical file is read: no header handling (the caller finds
/// its header), any number of fields a row.
pub(crate) fn reader_builder() -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16);
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reader gave: every record with its line, then how it stopped.
    #[derive(Debug, PartialEq)]
    enum Got {
        Record(Vec<String>, u64),
        End,
        Failed(&'static str, Option<u64>),
    }

    fn failed(err: &csv::Error, line: Option<u64>) -> Got {
        let kind = match err.kind() {
            csv::ErrorKind::Utf8 { .. } => "utf8",
            csv::ErrorKind::Io(_) => "io",
            _ => "other",
        };
        Got::Failed(kind, line)
    }

    fn record<'a>(fields: impl Iterator<Item = &'a str>, line: u64) -> Got {
        Got::Record(fields.map(String::from).collect(), line)
    }

    fn by_csv(bytes: &[u8]) -> Vec<Got> {
        let mut reader = reader_builder().from_reader(bytes);
        let mut got = Vec::new();
        let mut row = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut row) {
                Ok(true) => {
                    let line = row.position().map_or(0, csv::Position::line);
                    got.push(record(row.iter(), line));
                }
                Ok(false) => break got.push(Got::End),
                Err(err) => break got.push(failed(&err, err.position().map(csv::Position::line))),
            }
        }
        got
    }

    fn by_records(bytes: &[u8], buffer: usize) -> Vec<Got> {
        by_records_from(bytes, buffer)
    }

    fn by_records_from(bytes: impl Read, buffer: usize) -> Vec<Got> {
        let mut records = Records::new(bytes, buffer);
        let mut got = Vec::new();
        let mut row = Record::default();
        loop {
            match records.read_record(&mut row) {
                Ok(true) => got.push(record(row.iter(), row.line())),
                Ok(false) => break got.push(Got::End),
                Err(failure) => break got.push(failed(&failure.error, failure.line)),
            }
        }
        got
    }

    #[track_caller]
    fn same_as_csv(bytes: &[u8]) {
        for buffer in [4, 5, 7, 16, 1 << 16] {
            assert_eq!(by_records(bytes, buffer), by_csv(bytes), "buffer {buffer}");
        }
    }

    #[test]
    fn plain_lines_are_split_on_their_commas() {
        let got = by_records(b"a,b,,c\n,\nx\n", 1 << 16);
        let want = [
            Got::Record(vec!["a".into(), "b".into(), "".into(), "c".into()], 1),
            Got::Record(vec!["".into(), "".into()], 2),
            Got::Record(vec!["x".into()], 3),
            Got::End,
        ];
        assert_eq!(got, want);
        same_as_csv(b"a,b,,c\n,\nx\n");
    }

    #[test]
    fn read_as_csv_reads_them() {
        // A quote, a CR and bytes that are not UTF-8, each after plain
        // lines, on the first line, across buffer ends and on the last line.
        let cases: &[&[u8]] = &[
            b"h1,h2\n1,2\n\"3\n\",4\n5,6\n",
            b"\"h1\",h2\n1,2\n",
            b"h1,h2\r\n1,2\r\n3,4",
            b"h1,h2\n1,2\r3,4\n",
            b"h1,h2\n1,2\n3,\xff\n5,6\n",
            b"h1,h2\n1,\xc3\xa9\n",
            b"h1,h2\n1,2\n3,\"4",
            b"\n\nh1,h2\n\n1,2\n\n",
            b"h1,h2\n1,2",
            b"",
            b"\n",
            b"a long first line,longer than some buffers\nb\n",
            // Byte-order marks: dropped at the start of the file only, also
            // before a blank line or a space; kept where the crate takes over.
            b"\xef\xbb\xbf\nh\n",
            b"\xef\xbb\xbf h\n",
            b"\xef\xbb\xbfh,i\n1,2\n",
            b"a\n\xef\xbb\xbf\"b\"\n",
            b"a\n\xef\xbb\xbfb\n",
            b"\xef\xbb\xbf",
            b"\xef\xbb",
        ];
        for case in cases {
            same_as_csv(case);
        }
    }

    #[test]
    fn a_failure_after_plain_lines_names_its_own_line() {
        let got = by_records(b"h\n1\n2\n\xff\n", 2);
        assert_eq!(got.last(), Some(&Got::Failed("utf8", Some(4))));
    }

    #[test]
    fn the_reader_keeps_the_bytes_not_yet_asked_for() {
        let bytes: &[u8] = b"a\nb\nc\n";
        let mut records = Records::new(bytes, 2);
        let mut row = Record::default();
        assert!(records.read_record(&mut row).unwrap());
        let mut rest = Vec::new();
        records.into_inner().read_to_end(&mut rest).unwrap();
        // What was read into the buffer is gone, the rest is not.
        assert!(b"b\nc\n".ends_with(&rest), "{rest:?}");
    }

    proptest::proptest! {
        /// Short reads change nothing (but for a byte-order mark split
        /// over the first reads, left out here: see the module's notes).
        #[test]
        fn bytes_read_a_few_at_a_time_read_as_the_csv_crate_reads_them(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"a"[..], b"bc", b",", b"\n", b"\n", b"\"", b"\r", b" ", b"\xc3\xa9", b"\xff",
                ]),
                0..120,
            ),
            sizes in proptest::collection::vec(1..20usize, 1..6),
            buffer in 4..40usize,
        ) {
            let bytes = parts.concat();
            let trickle = crate::testkit::Trickle::new(&bytes, sizes);
            proptest::prop_assert_eq!(by_records_from(trickle, buffer), by_csv(&bytes));
        }

        #[test]
        fn split_at_commas_finds_every_comma(line in proptest::collection::vec(
            proptest::sample::select(vec![b',', b'a', b'\0', 0xac, 0xff]),
            0..40,
        )) {
            let mut bounds = Vec::new();
            split_at_commas(&line, &mut bounds);
            let fields: Vec<&[u8]> = bounds.iter().map(|&(from, to)| &line[from..to]).collect();
            let want: Vec<&[u8]> = line.split(|&byte| byte == b',').collect();
            proptest::prop_assert_eq!(fields, want);
        }

        // Bytes that matter to CSV, a character of two bytes and bytes that
        // are not UTF-8, in lines short and long, through small buffers.
        #[test]
        fn any_bytes_read_as_the_csv_crate_reads_them(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"a"[..], b"bc", b",", b"\n", b"\n", b"\"", b"\r", b" ", b"\0",
                    b"\xc3\xa9", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\xef", b"\xbb\xbf",
                ]),
                0..120,
            ),
        ) {
            same_as_csv(&parts.concat());
        }
    }
}
