//! Reads terminal batch files (SPEC §2), checking each row and the uniqueness
//! of terminal + batch + trace across all files of the run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher as _;
use std::path::PathBuf;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::field::{
    IdShape, parse_amount, parse_card, parse_currency, parse_datetime, parse_id, parse_txn_type,
};
use super::table::{Column, Row, optional, required};
use super::{
    InputError, InputKind, Problem, Problems, ProfileChoice, Read, RejectedRow, raw_rows, read_all,
    refuse_files_wholly_set_aside,
};
use crate::model::{Id, Origin, TerminalRecord, TxnType};

pub(super) const MERCHANT_ID: IdShape = IdShape::Digits(15);
pub(super) const TERMINAL_ID: IdShape = IdShape::Alnum(8);
pub(super) const BATCH_NO: IdShape = IdShape::Digits(6);
pub(super) const TRACE_NO: IdShape = IdShape::Digits(6);
pub(super) const RRN: IdShape = IdShape::Alnum(12);
pub(super) const AUTH_CODE: IdShape = IdShape::Alnum(6);

pub(super) const COLUMNS: &[Column] = &[
    required("merchant_id"),
    required("terminal_id"),
    required("batch_no"),
    required("trace_no"),
    required("rrn"),
    required("auth_code"),
    required("txn_type"),
    required("txn_time"),
    required("amount"),
    required("currency"),
    required("card_no"),
    required("orig_trace_no"),
    // Older terminal exports lack it; REFUNDs then carry no link to their sale.
    optional("orig_rrn"),
];
const C_MERCHANT_ID: usize = 0;
const C_TERMINAL_ID: usize = 1;
const C_BATCH_NO: usize = 2;
const C_TRACE_NO: usize = 3;
const C_RRN: usize = 4;
const C_AUTH_CODE: usize = 5;
const C_TXN_TYPE: usize = 6;
const C_TXN_TIME: usize = 7;
const C_AMOUNT: usize = 8;
const C_CURRENCY: usize = 9;
const C_CARD_NO: usize = 10;
const C_ORIG_TRACE_NO: usize = 11;
const C_ORIG_RRN: usize = 12;

/// Reads every terminal batch file; fails with all problems found in all of them.
pub fn read_terminal_records(paths: &[PathBuf]) -> Result<Read<TerminalRecord>, InputError> {
    read_terminal_records_with(paths, &ProfileChoice::default(), 0)
}

/// Reads every terminal batch file, each through its profile in `choice`,
/// setting up to `max_rejects` bad rows aside.
///
/// Strict (`max_rejects` 0), a row that repeats an earlier row's terminal +
/// batch + trace is the problem, naming the first. Setting rows aside, every
/// row of a repeated identity is set aside: which of them is the real one
/// cannot be told, and keeping the first would make the results depend on
/// the order of the rows. A row set aside for a problem of its own holds no
/// identity, so another row with the same one is read normally.
pub fn read_terminal_records_with(
    paths: &[PathBuf],
    choice: &ProfileChoice,
    max_rejects: u64,
) -> Result<Read<TerminalRecord>, InputError> {
    // The record that first had each terminal + batch + trace, by its index
    // among the records read, and every place of one seen more than once
    // (rare). The tables hold an entry for every row of the night while the
    // files are read: 8 bytes each, an index and 32 bits of the identity's
    // hash. With the hash kept, a lookup nearly never reads another record,
    // and growing a table never does. The order of neither collection
    // reaches any output.
    let mut first_seen = FirstSeen::default();
    let seed = foldhash::fast::RandomState::default();
    let mut repeats: HashMap<(Id, Id, Id), Vec<Origin>> = HashMap::new();
    let read = read_all(
        paths,
        InputKind::Terminal,
        COLUMNS,
        choice,
        max_rejects,
        |row, origin, problems, records| {
            let record = parse_row(row, origin, problems)?;
            let key = identity(&record);
            let hash = identity_hash(&seed, &key);
            let same =
                |seen: &Seen| seen.hash == hash && identity(&records[seen.index as usize]) == key;
            let table = first_seen.of_terminal(&key);
            let first = match table.entry(widen(hash), same, |seen| widen(seen.hash)) {
                Entry::Vacant(vacant) => {
                    // Only a row without a problem becomes the record at this
                    // index (parse_row refuses any other, so this is a guard).
                    if problems.is_empty() {
                        let index =
                            u32::try_from(records.len()).expect("IE: fewer than 2^32 records");
                        vacant.insert(Seen { index, hash });
                    }
                    return Some(record);
                }
                Entry::Occupied(occupied) => records[occupied.get().index as usize].origin,
            };
            if max_rejects == 0 {
                row.report(
                    C_TRACE_NO,
                    format!(
                        "terminal {} batch {} trace {} appears twice; first at {}:{}",
                        record.terminal_id,
                        record.batch_no,
                        record.trace_no,
                        paths[first.file as usize].display(),
                        first.line
                    ),
                    problems,
                );
                return None;
            }
            let key = (
                record.terminal_id.clone(),
                record.batch_no.clone(),
                record.trace_no.clone(),
            );
            repeats
                .entry(key)
                .or_insert_with(|| vec![first])
                .push(origin);
            Some(record)
        },
        |record| Some((record.currency, record.amount, Some(record.txn_type))),
    );
    if max_rejects == 0 {
        return read;
    }
    // Every row of a repeated identity, with the problem all its rows share.
    let mut repeated: BTreeMap<Origin, String> = BTreeMap::new();
    for ((terminal, batch, trace), mut origins) in repeats {
        origins.sort();
        let places: Vec<String> = origins
            .iter()
            .map(|o| format!("{}:{}", paths[o.file as usize].display(), o.line))
            .collect();
        let message = format!(
            "terminal {terminal} batch {batch} trace {trace} appears {} times ({}); \
             which row is the real one cannot be told",
            origins.len(),
            places.join(", ")
        );
        for origin in origins {
            repeated.insert(origin, message.clone());
        }
    }
    let located = |origin: &Origin, message: &str| Problem {
        path: paths[origin.file as usize].clone(),
        line: Some(origin.line),
        field: Some(COLUMNS[C_TRACE_NO].name),
        message: message.to_string(),
    };
    let mut read = match read {
        Ok(read) => read,
        Err(mut err) => {
            // Failing anyway: list the repeated rows with the other problems.
            let mut extra = Problems::default();
            for (origin, message) in &repeated {
                extra.push(located(origin, message));
            }
            if let Err(mut more) = extra.into_result() {
                more.bad_rows = repeated.len() as u64;
                err.append(more);
                let position = |p: &Problem| {
                    let file = paths.iter().position(|path| *path == p.path);
                    (file, p.line)
                };
                err.problems.sort_by_key(position);
            }
            return Err(err);
        }
    };
    if repeated.is_empty() {
        return Ok(read);
    }
    let wanted: BTreeSet<Origin> = repeated.keys().copied().collect();
    let mut raw = raw_rows(
        paths,
        InputKind::Terminal,
        COLUMNS,
        choice,
        &wanted,
        &read.files,
    )?;
    // Their amounts are in their files' totals already, counted as records'.
    let mut set_aside = Vec::with_capacity(wanted.len());
    read.records.retain(|record| {
        let Some(message) = repeated.get(&record.origin) else {
            return true;
        };
        set_aside.push(RejectedRow {
            file: record.origin.file,
            path: paths[record.origin.file as usize].clone(),
            kind: InputKind::Terminal,
            line: record.origin.line,
            problems: vec![located(&record.origin, message)],
            raw: raw
                .remove(&record.origin)
                .expect("IE: the file read again holds the same rows"),
            amount: Some(record.amount),
        });
        false
    });
    read.rejected.extend(set_aside);
    read.rejected.sort_by_key(|row| (row.file, row.line));
    if read.rejected.len() as u64 > max_rejects {
        return Err(RejectedRow::to_error(&read.rejected)
            .expect("IE: rows were set aside, each with its problems"));
    }
    refuse_files_wholly_set_aside(read)
}

/// The identities read so far, in one small table per terminal. Batch files
/// hold a terminal's rows together, so the table in use stays in the cache;
/// one table of the whole night missed it on nearly every row, over a third
/// of the time `check` took to read a 5 M-row terminal file. A file of
/// shuffled rows read as fast either way (1 M rows). Each terminal costs
/// about 100 bytes more than its entries.
#[derive(Default)]
struct FirstSeen {
    tables: HashMap<[u8; TERMINAL_WIDTH], HashTable<Seen>, foldhash::fast::RandomState>,
}

impl FirstSeen {
    /// The table of the terminal `key` names.
    fn of_terminal(&mut self, key: &Identity) -> &mut HashTable<Seen> {
        let (terminal, _) = key
            .split_first_chunk::<TERMINAL_WIDTH>()
            .expect("IE: an identity starts with its terminal");
        self.tables.entry(*terminal).or_default()
    }
}

/// An entry of an identity table: a record's index among the records read,
/// and the upper half of its identity's hash.
struct Seen {
    index: u32,
    hash: u32,
}

/// The upper half of a foldhash of `key` (its better half). foldhash, not
/// SipHash: this runs once per row. Seeded per run, so that no file can be
/// made whose identities all collide (it could not change the result, only
/// make reading slow).
fn identity_hash(state: &foldhash::fast::RandomState, key: &Identity) -> u32 {
    #[cfg(test)]
    if tests::EVERY_HASH_COLLIDES.get() {
        return 7;
    }
    (state.hash_one(key) >> 32) as u32
}

/// A 32-bit hash as the table wants it: the low bits pick the bucket and the
/// top seven tag it, so the 32 bits fill both ends.
fn widen(hash: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(hash)
}

/// A record's terminal + batch + trace, end to end. Each part has the exact
/// width its shape demands, so parts cannot run into each other, and two
/// records' identities compare as one array.
type Identity = [u8; IDENTITY_WIDTH];

const TERMINAL_WIDTH: usize = width(TERMINAL_ID);
const BATCH_WIDTH: usize = width(BATCH_NO);
const IDENTITY_WIDTH: usize = TERMINAL_WIDTH + BATCH_WIDTH + width(TRACE_NO);

/// The width every id of `shape` has; a shape without one fails the build.
const fn width(shape: IdShape) -> usize {
    match shape {
        IdShape::Digits(n) | IdShape::Alnum(n) => n,
        IdShape::Text(_) => panic!("an identity part needs a fixed width"),
    }
}

fn identity(record: &TerminalRecord) -> Identity {
    let mut key = [0; IDENTITY_WIDTH];
    let (terminal, rest) = key.split_at_mut(TERMINAL_WIDTH);
    let (batch, trace) = rest.split_at_mut(BATCH_WIDTH);
    // parse_row has checked each part's shape, and so its width.
    terminal.copy_from_slice(record.terminal_id.as_bytes());
    batch.copy_from_slice(record.batch_no.as_bytes());
    trace.copy_from_slice(record.trace_no.as_bytes());
    key
}

fn parse_row(row: &Row<'_>, origin: Origin, problems: &mut Problems) -> Option<TerminalRecord> {
    let merchant_id = row.required(C_MERCHANT_ID, problems, |s| parse_id(s, MERCHANT_ID));
    let terminal_id = row.required(C_TERMINAL_ID, problems, |s| parse_id(s, TERMINAL_ID));
    let batch_no = row.required(C_BATCH_NO, problems, |s| parse_id(s, BATCH_NO));
    let trace_no = row.required(C_TRACE_NO, problems, |s| parse_id(s, TRACE_NO));
    let rrn = row.optional(C_RRN, problems, |s| parse_id(s, RRN));
    let auth_code = row.optional(C_AUTH_CODE, problems, |s| parse_id(s, AUTH_CODE));
    let txn_type = row.required(C_TXN_TYPE, problems, parse_txn_type);
    let txn_time = row.required(C_TXN_TIME, problems, parse_datetime);
    let amount = row.required(C_AMOUNT, problems, parse_amount);
    let currency = row.required(C_CURRENCY, problems, parse_currency);
    let card = row.required(C_CARD_NO, problems, parse_card);
    let orig_trace_no = row.optional(C_ORIG_TRACE_NO, problems, |s| parse_id(s, TRACE_NO));
    let orig_rrn = row.optional(C_ORIG_RRN, problems, |s| parse_id(s, RRN));
    if txn_type == Some(TxnType::Void) && orig_trace_no == Some(None) {
        row.report(
            C_ORIG_TRACE_NO,
            "is empty; a VOID must name the trace_no of the SALE it cancels".into(),
            problems,
        );
        return None;
    }
    Some(TerminalRecord {
        origin,
        merchant_id: merchant_id?,
        terminal_id: terminal_id?,
        batch_no: batch_no?,
        trace_no: trace_no?,
        rrn: rrn?,
        auth_code: auth_code?,
        txn_type: txn_type?,
        txn_time: txn_time?,
        amount: amount?,
        currency: currency?,
        card: card?,
        orig_trace_no: orig_trace_no?,
        orig_rrn: orig_rrn?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Amount, Currency, MaskedPan};

    thread_local! {
        /// Makes every identity hash the same, so that the identity table
        /// can only tell records apart by their identities.
        pub(super) static EVERY_HASH_COLLIDES: std::cell::Cell<bool> =
            const { std::cell::Cell::new(false) };
    }

    /// Reads `rows` as one terminal file, strictly and setting bad rows
    /// aside, with every identity hash colliding or none.
    fn read_both_ways(rows: &[&str], collide: bool) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.csv");
        let header = COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
        std::fs::write(&path, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
        EVERY_HASH_COLLIDES.set(collide);
        let read = [0, 10].map(|max_rejects| {
            let read = read_terminal_records_with(
                std::slice::from_ref(&path),
                &ProfileChoice::default(),
                max_rejects,
            );
            // The folder differs from call to call; the rest must not.
            format!("{read:?}").replace(&dir.path().display().to_string(), "DIR")
        });
        EVERY_HASH_COLLIDES.set(false);
        read.to_vec()
    }

    #[test]
    fn repeated_identities_are_found_by_identity_not_by_hash() {
        let row = |terminal: &str, batch: &str, trace: &str| {
            format!(
                "898796573200000,{terminal},{batch},{trace},,,SALE,2026-11-23 08:32:40,\
                 9.60,CNY,436742******7242,,"
            )
        };
        let rows = [
            row("41000001", "000829", "491362"),
            row("41000001", "000829", "491363"),
            row("41000001", "000828", "491362"),
            row("41000002", "000829", "491362"),
            row("41000001", "000829", "491363"),
            row("41000002", "000829", "491362"),
            row("41000003", "000001", "000001"),
        ];
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let apart = read_both_ways(&rows, false);
        assert!(apart[0].contains("appears twice; first at"), "{}", apart[0]);
        assert!(apart[1].contains("appears 2 times"), "{}", apart[1]);
        assert_eq!(read_both_ways(&rows, true), apart);
        // Without repeats, every row is read either way.
        let distinct = [rows[0], rows[1], rows[2], rows[3], rows[6]];
        let read = read_both_ways(&distinct, true);
        assert_eq!(read, read_both_ways(&distinct, false));
        assert!(read[0].starts_with("Ok("), "{}", read[0]);
    }

    fn record(terminal_id: &str, batch_no: &str, trace_no: &str) -> TerminalRecord {
        TerminalRecord {
            origin: Origin { file: 0, line: 2 },
            merchant_id: Id::from("898796573200000"),
            terminal_id: Id::from(terminal_id),
            batch_no: Id::from(batch_no),
            trace_no: Id::from(trace_no),
            rrn: None,
            auth_code: None,
            txn_type: TxnType::Sale,
            txn_time: chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
                .unwrap()
                .and_hms_opt(8, 32, 40)
                .unwrap(),
            amount: Amount::from_minor(960),
            currency: Currency::CNY,
            card: MaskedPan::mask("436742******7242").unwrap(),
            orig_trace_no: None,
            orig_rrn: None,
        }
    }

    #[test]
    fn identity_tells_the_parts_apart() {
        let a = identity(&record("41000001", "000829", "491362"));
        assert_eq!(a, identity(&record("41000001", "000829", "491362")));
        for (terminal, batch, trace) in [
            ("41000001", "000829", "491363"),
            ("41000001", "000828", "491362"),
            ("41000002", "000829", "491362"),
        ] {
            assert_ne!(a, identity(&record(terminal, batch, trace)));
        }
    }
}
