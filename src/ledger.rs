//! The embedded SQLite ledger (SPEC §5): every run, the records it saw with
//! their outcomes, the PENDING records carried to the next run, and every
//! action issued. The only module that knows SQL.
//!
//! A run's rows go in with one transaction; the run stays `writing` until its
//! output files are in place, so a crash at any point leaves either nothing or
//! a run that the next invocation with the same files replaces.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};

use anyhow::{Context, bail};
use chrono::{NaiveDate, NaiveDateTime};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use crate::decide::{Decider, Decisions, EarlierRecord, History, Lookups, TxnKey, txn_key};
use crate::explain::Night;
use crate::matching::{Outcome, same_direction};
use crate::model::{
    Amount, CancellationRequest, Currency, Id, MaskedPan, Origin, Settlement, TerminalRecord,
    TxnType,
};

/// Each entry upgrades the schema by one version; never edit a released one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    run_id    INTEGER PRIMARY KEY,
    as_of     TEXT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('writing', 'complete')),
    arguments TEXT NOT NULL,
    summary   TEXT NOT NULL
);
CREATE TABLE inputs (
    run_id   INTEGER NOT NULL REFERENCES runs(run_id),
    position INTEGER NOT NULL,
    path     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    rows     INTEGER NOT NULL,
    amount   INTEGER NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX inputs_by_sha256 ON inputs(sha256);
CREATE TABLE records (
    run_id        INTEGER NOT NULL REFERENCES runs(run_id),
    side          TEXT NOT NULL CHECK (side IN ('terminal', 'bank')),
    merchant_id   TEXT NOT NULL,
    terminal_id   TEXT NOT NULL,
    batch_no      TEXT,
    trace_no      TEXT NOT NULL,
    rrn           TEXT,
    auth_code     TEXT,
    txn_type      TEXT NOT NULL,
    txn_time      TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    card_no       TEXT NOT NULL,
    orig_trace_no TEXT,
    orig_rrn      TEXT,
    settle_date   TEXT,
    outcome       TEXT NOT NULL,
    rule          TEXT,
    void_trace    TEXT,
    explanation   TEXT NOT NULL
);
CREATE INDEX records_by_rrn ON records(rrn);
CREATE INDEX records_by_trace ON records(terminal_id, trace_no);
CREATE INDEX records_by_run ON records(run_id);
CREATE TABLE carried (
    merchant_id   TEXT NOT NULL,
    terminal_id   TEXT NOT NULL,
    batch_no      TEXT NOT NULL,
    trace_no      TEXT NOT NULL,
    rrn           TEXT,
    auth_code     TEXT,
    txn_type      TEXT NOT NULL,
    txn_time      TEXT NOT NULL,
    amount        INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    card_no       TEXT NOT NULL,
    orig_trace_no TEXT,
    orig_rrn      TEXT,
    from_run      INTEGER NOT NULL,
    cleared_run   INTEGER
);
CREATE INDEX carried_by_key ON carried(terminal_id, batch_no, trace_no);
CREATE TABLE actions (
    action_id   TEXT PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(run_id),
    kind        TEXT NOT NULL,
    merchant_id TEXT,
    terminal_id TEXT,
    batch_no    TEXT,
    trace_no    TEXT,
    rrn         TEXT,
    amount      INTEGER,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX actions_by_txn ON actions(terminal_id, trace_no);
"#,
    r#"
-- A MATCHED settlement identical to its terminal record but for the batch is
-- kept on the terminal record's row: half the rows and index entries.
ALTER TABLE records ADD COLUMN bank_folded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN bank_batch_no TEXT;
"#,
    r#"
-- Each night looks up the REFUND records of earlier runs: read only those,
-- not every record the ledger holds.
CREATE INDEX records_refunds ON records(run_id) WHERE txn_type = 'REFUND';
"#,
    r#"
-- Each night reads only the REFUND records naming the rrns of the sales its
-- decisions look up, not every one the ledger holds.
DROP INDEX records_refunds;
CREATE INDEX records_refunds_by_orig_rrn ON records(orig_rrn) WHERE txn_type = 'REFUND';
"#,
    r#"
-- A run's records are inserted in one transaction, so their rowids are one
-- range; the run keeps it, and the index of every record by run goes: it cost
-- an index entry per record each night and served only the removal of a run.
-- A run whose records are not one range (none are) gets none.
ALTER TABLE runs ADD COLUMN first_record INTEGER;
ALTER TABLE runs ADD COLUMN last_record INTEGER;
UPDATE runs SET (first_record, last_record) = (
    SELECT min(rowid), max(rowid) FROM records WHERE records.run_id = runs.run_id
    HAVING max(rowid) - min(rowid) + 1 = count(*));
DROP INDEX records_by_run;
"#,
    r#"
-- A carried SUSPECTED_DUPLICATE keeps what it repeats: the sale it repeats is
-- not carried with it.
ALTER TABLE carried ADD COLUMN repeats TEXT;
"#,
];

/// The page size of a new ledger, in bytes.
const LEDGER_PAGE_BYTES: i64 = 16 * 1024;

/// SQLite's page cache for the ledger, in KiB.
const LEDGER_CACHE_KIB: i64 = 64 * 1024;

/// An open ledger.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

/// A run as the ledger lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: i64,
    pub as_of: String,
    pub status: String,
    /// The run's summary.json.
    pub summary: serde_json::Value,
}

/// One row of a run's record table, for `show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeenRecord {
    pub run_id: i64,
    pub as_of: String,
    pub side: String,
    pub merchant_id: String,
    pub terminal_id: String,
    pub batch_no: Option<String>,
    pub trace_no: String,
    pub rrn: Option<String>,
    pub txn_type: String,
    pub txn_time: String,
    pub amount: String,
    pub card_no: String,
    pub settle_date: Option<String>,
    pub outcome: String,
    pub rule: Option<String>,
    pub explanation: String,
}

/// One issued action, for `show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuedAction {
    pub action_id: String,
    pub run_id: i64,
    pub kind: String,
    pub amount: Option<String>,
    pub source: String,
    pub reason: String,
}

/// What identifies a run and what it read.
pub struct RunHead<'a> {
    pub run_id: i64,
    /// An earlier version of this run to replace (`--rerun`, or a run that
    /// did not finish).
    pub replaces: bool,
    pub as_of: NaiveDateTime,
    /// The run's arguments, as JSON.
    pub arguments: String,
    /// The run's summary.json.
    pub summary: String,
    pub inputs: &'a [crate::read::InputFile],
}

/// Everything one run puts into the ledger.
pub struct RunRows<'a> {
    pub head: RunHead<'a>,
    /// Tonight's records; their rows are built while they are inserted.
    pub night: &'a Night<'a>,
    pub actions: Vec<ActionRow>,
}

/// A record and what the run concluded about it.
#[derive(Clone)]
pub struct RecordRow<'a> {
    pub merchant_id: &'a str,
    pub terminal_id: &'a str,
    pub batch_no: Option<&'a str>,
    pub trace_no: &'a str,
    pub rrn: Option<&'a str>,
    pub auth_code: Option<&'a str>,
    pub txn_type: TxnType,
    pub txn_time: NaiveDateTime,
    pub amount: Amount,
    pub currency: Currency,
    pub card: &'a MaskedPan,
    pub orig_trace_no: Option<&'a str>,
    pub orig_rrn: Option<&'a str>,
    pub settle_date: Option<NaiveDate>,
    pub outcome: Outcome,
    pub rule: Option<&'static str>,
    pub void_trace: Option<&'a str>,
    pub explanation: String,
    /// On a terminal record: its MATCHED settlement, when that differs from
    /// it in nothing the ledger keeps but the batch (which it carries here).
    pub folded_bank: Option<Option<&'a str>>,
    /// On a terminal record: whether it goes on to the next night.
    pub carried: bool,
}

/// An action issued by the run.
pub struct ActionRow {
    pub action_id: String,
    pub kind: &'static str,
    pub key: Option<TxnKey>,
    pub rrn: Option<String>,
    pub amount: Option<Amount>,
    pub source: String,
    pub reason: String,
    /// The action's output row, as JSON.
    pub payload: String,
}

/// How the ledger writes a time (an as-of, a transaction's time).
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

fn time_text(time: NaiveDateTime) -> String {
    let mut text = String::with_capacity(19);
    push_time(&mut text, time);
    text
}

/// Appends `time` as chrono's `%Y-%m-%d %H:%M:%S` writes it.
fn push_time(text: &mut String, time: NaiveDateTime) {
    use chrono::{Datelike, Timelike};
    let Ok(year @ 0..=9999) = u32::try_from(time.year()) else {
        text.push_str(&time.format(TIME_FORMAT).to_string());
        return;
    };
    // chrono's format parses its pattern on every call, and even `format!`
    // costs more than the digits themselves; a run writes millions.
    // A leap second is second 59 with a nanosecond count past one second.
    let second = time.second() + time.nanosecond() / 1_000_000_000;
    let fields = [
        (year, 1000, Some('-')),
        (time.month(), 10, Some('-')),
        (time.day(), 10, Some(' ')),
        (time.hour(), 10, Some(':')),
        (time.minute(), 10, Some(':')),
        (second, 10, None),
    ];
    for (value, mut place, separator) in fields {
        while place > 0 {
            let digit = u8::try_from(value / place % 10).expect("IE: a decimal digit");
            text.push(char::from(b'0' + digit));
            place /= 10;
        }
        text.extend(separator);
    }
}

/// A reused buffer for the time text of one row after another.
#[derive(Default)]
struct TimeText(String);

impl TimeText {
    fn of(&mut self, time: NaiveDateTime) -> &str {
        self.0.clear();
        push_time(&mut self.0, time);
        &self.0
    }
}

fn parse_stored_time(raw: &str) -> rusqlite::Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(raw, TIME_FORMAT).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
    })
}

fn stored_error(what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("the ledger holds an invalid {what}").into(),
    )
}

/// Rebuilds a terminal record from the 13 columns `merchant_id … orig_rrn`
/// starting at column `at`.
fn terminal_record(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<TerminalRecord> {
    let text = |i: usize| row.get::<_, String>(at + i);
    let optional = |i: usize| -> rusqlite::Result<Option<Id>> {
        Ok(row.get::<_, Option<String>>(at + i)?.map(Id::from))
    };
    let txn_type = text(6)?;
    let currency = text(9)?;
    let card = text(10)?;
    Ok(TerminalRecord {
        origin: Origin { file: 0, line: 0 },
        merchant_id: text(0)?.into(),
        terminal_id: text(1)?.into(),
        batch_no: row
            .get::<_, Option<String>>(at + 2)?
            .unwrap_or_default()
            .into(),
        trace_no: text(3)?.into(),
        rrn: optional(4)?,
        auth_code: optional(5)?,
        txn_type: TxnType::ALL
            .into_iter()
            .find(|t| t.as_str() == txn_type)
            .ok_or_else(|| stored_error("txn_type"))?,
        txn_time: parse_stored_time(&text(7)?)?,
        amount: Amount::from_minor(row.get(at + 8)?),
        currency: Currency::from_code(&currency).ok_or_else(|| stored_error("currency"))?,
        card: MaskedPan::mask(&card).map_err(|_| stored_error("card number"))?,
        orig_trace_no: optional(11)?,
        orig_rrn: optional(12)?,
    })
}

const RECORD_COLUMNS: &str = "merchant_id, terminal_id, batch_no, trace_no, rrn, auth_code, \
     txn_type, txn_time, amount, currency, card_no, orig_trace_no, orig_rrn";

/// Whether `settlement` names `record` as SPEC §3's exact pass pairs them:
/// the same rrn when both have one; otherwise the same merchant, terminal
/// and trace, and batch where the settlement gives one, on the same date.
fn names_exactly(settlement: &Settlement, record: &TerminalRecord) -> bool {
    match (&settlement.rrn, &record.rrn) {
        (Some(a), Some(b)) => a == b,
        _ => {
            settlement.merchant_id == record.merchant_id
                && settlement.terminal_id == record.terminal_id
                && settlement.trace_no == record.trace_no
                && settlement
                    .batch_no
                    .as_ref()
                    .is_none_or(|b| *b == record.batch_no)
                && settlement.txn_time.date() == record.txn_time.date()
        }
    }
}

/// For a settled terminal row: the amount and currency (`"1000 CNY"`) the
/// bank settled. A MATCHED settlement folded into its record's row is the
/// record's own; otherwise the bank row paired with it in the same run, in
/// its direction, found as the exact pass pairs (the same rrn; or, where
/// either has none, the same merchant, terminal and trace, batch where the
/// bank gives one, on the same date), or for a pair the tolerant pass made,
/// the tolerant pair of the same terminal and card; when exactly one fits.
/// Where more fit an exact pair (a shared rrn, a bank file without batches),
/// a MATCHED one settled what was captured, within the amount tolerance;
/// otherwise NULL.
const SETTLED_AMOUNT: &str = "
    CASE WHEN settle_date IS NULL THEN NULL
    WHEN bank_folded = 1 THEN amount || ' ' || currency
    WHEN rule = 'tolerant' THEN (
        SELECT CASE WHEN count(*) = 1 THEN max(b.amount) || ' ' || max(b.currency) END
        FROM records b
        WHERE b.terminal_id = records.terminal_id AND b.run_id = records.run_id
          AND b.side = 'bank' AND b.rule = 'tolerant' AND b.card_no = records.card_no
          AND (b.txn_type = 'REFUND') = (records.txn_type = 'REFUND')
    )
    ELSE coalesce((
        SELECT CASE WHEN count(*) = 1 THEN max(b.amount) || ' ' || max(b.currency) END
        FROM records b
        WHERE b.run_id = records.run_id AND b.side = 'bank' AND b.rule IS NOT 'tolerant'
          AND b.outcome NOT IN ('BANK_ONLY', 'DUPLICATE_SETTLEMENT')
          AND (b.txn_type = 'REFUND') = (records.txn_type = 'REFUND')
          AND (b.rrn = records.rrn
               OR ((b.rrn IS NULL OR records.rrn IS NULL)
                   AND b.terminal_id = records.terminal_id AND b.trace_no = records.trace_no
                   AND b.merchant_id = records.merchant_id
                   AND (b.batch_no IS NULL OR b.batch_no = records.batch_no)
                   AND substr(b.txn_time, 1, 10) = substr(records.txn_time, 1, 10)))
    ), CASE WHEN outcome IN ('MATCHED', 'SUSPECTED_DUPLICATE') THEN amount || ' ' || currency END)
    END";

impl Ledger {
    /// Opens the ledger at `path` to write a night, creating it and upgrading
    /// its schema as needed.
    pub fn open(path: &Path) -> anyhow::Result<Ledger> {
        Ledger::open_as(path, true)
    }

    fn open_as(path: &Path, writer: bool) -> anyhow::Result<Ledger> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening the ledger {}", path.display()))?;
        conn.busy_timeout(BUSY_WAIT)?;
        // At rest the ledger keeps SQLite's write-ahead log, so that readers
        // (show, runs, a backup, a reporting tool) and a night's write through
        // the log do not block each other; `record_run` writes a night with
        // the rollback journal when nothing else has the ledger open. Only a
        // writer asks for the log: the switch is itself a write.
        if writer {
            // Before anything is written, so that only a new ledger takes it
            // (an existing one keeps its size). A night's inserts into 16 KiB
            // pages took 15 % less time than into SQLite's default 4 KiB
            // (fresh 1 M night, six interleaved pairs); 64 KiB gained no more.
            conn.pragma_update(None, "page_size", LEDGER_PAGE_BYTES)?;
            rest_in_wal_mode(&conn)?;
        }
        // EXTRA, not FULL: with the rollback journal a commit is the journal's
        // deletion, which only EXTRA makes durable (it syncs the folder).
        conn.pragma_update(None, "synchronous", "EXTRA")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A night inserts millions of index entries in random key order; with
        // SQLite's default 2 MiB page cache most of them re-read a page.
        conn.pragma_update(None, "cache_size", -LEDGER_CACHE_KIB)?;
        let mut ledger = Ledger {
            conn,
            path: path.to_path_buf(),
        };
        ledger
            .migrate()
            .with_context(|| format!("upgrading the ledger {}", path.display()))?;
        Ok(ledger)
    }

    /// Opens an existing ledger for reading; a missing file is bad input.
    pub fn open_existing(path: &Path) -> anyhow::Result<Ledger> {
        if !path.is_file() {
            return Err(crate::InputError::single(crate::read::Problem {
                path: path.to_path_buf(),
                line: None,
                field: None,
                message: "no ledger here; name one with --ledger (reconcile creates it)".into(),
            })
            .into());
        }
        Ledger::open_as(path, false)
    }

    /// The path it was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> anyhow::Result<()> {
        let known = MIGRATIONS.len() as i64;
        let version = |conn: &Connection| -> anyhow::Result<i64> {
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version > known {
                bail!(
                    "the ledger has schema version {version}, newer than this posrecon knows ({known}); use a newer posrecon"
                );
            }
            Ok(version)
        };
        // Most opens find the schema current, and take no write lock.
        if version(&self.conn)? == known {
            return Ok(());
        }
        // Two posrecons opening a new or older ledger at once: the write lock
        // lets one upgrade it, and the other then reads the version anew.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for migration in MIGRATIONS.iter().skip(version(&tx)? as usize) {
            tx.execute_batch(migration)?;
        }
        tx.pragma_update(None, "user_version", known)?;
        tx.commit()?;
        Ok(())
    }

    /// The runs that already read a file with one of these hashes.
    pub fn runs_with_inputs(&self, sha256: &[&str]) -> anyhow::Result<Vec<(i64, String, String)>> {
        let mut statement = self.conn.prepare(
            "SELECT DISTINCT run_id, path, sha256 FROM inputs WHERE sha256 = ?1 ORDER BY run_id",
        )?;
        let mut found = Vec::new();
        for sha in sha256 {
            let rows = statement.query_map([sha], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            for row in rows {
                found.push(row?);
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// How many terminal and bank rows run `run_id` read.
    pub fn rows_read(&self, run_id: i64) -> anyhow::Result<i64> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(rows), 0) FROM inputs
             WHERE run_id = ?1 AND kind IN ('terminal', 'bank')",
            [run_id],
            |r| r.get(0),
        )?)
    }

    /// The newest run, if any.
    pub fn latest_run(&self) -> anyhow::Result<Option<RunInfo>> {
        Ok(self.runs(1)?.into_iter().next())
    }

    /// The most recent runs, newest first.
    pub fn runs(&self, limit: usize) -> anyhow::Result<Vec<RunInfo>> {
        let mut statement = self.conn.prepare(
            "SELECT run_id, as_of, status, summary FROM runs ORDER BY run_id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([limit as i64], |r| {
            let summary: String = r.get(3)?;
            Ok(RunInfo {
                run_id: r.get(0)?,
                as_of: r.get(1)?,
                status: r.get(2)?,
                summary: serde_json::from_str(&summary).unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Tonight's terminal records that a VOID issued by a run before
    /// `run_id` cancels, by index, with that VOID (`VOID-… in run N`). VOIDs
    /// are few (a request each), so all of them are read.
    pub fn voided_before(
        &self,
        run_id: i64,
        tonight: &[TerminalRecord],
    ) -> anyhow::Result<HashMap<usize, String>> {
        let mut statement = self.conn.prepare(
            "SELECT merchant_id, terminal_id, batch_no, trace_no, action_id, run_id FROM actions
             WHERE kind = 'VOID' AND run_id < ?1",
        )?;
        let mut voids: HashMap<[String; 4], String> = HashMap::new();
        let rows = statement.query_map([run_id], |r| {
            let key: [String; 4] = [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?];
            let (id, run): (String, i64) = (r.get(4)?, r.get(5)?);
            Ok((key, format!("{id} in run {run}")))
        })?;
        for row in rows {
            let (key, void) = row?;
            voids.insert(key, void);
        }
        if voids.is_empty() {
            return Ok(HashMap::new());
        }
        let terminals: HashSet<&str> = voids.keys().map(|k| k[1].as_str()).collect();
        Ok(tonight
            .iter()
            .enumerate()
            .filter(|(_, r)| r.txn_type.is_purchase() && terminals.contains(r.terminal_id.as_str()))
            .filter_map(|(t, r)| {
                let key = [&r.merchant_id, &r.terminal_id, &r.batch_no, &r.trace_no]
                    .map(|id| id.to_string());
                Some((t, voids.get(&key)?.clone()))
            })
            .collect())
    }

    /// PENDING records carried into run `run_id` from earlier runs.
    /// With each, for a SUSPECTED_DUPLICATE, what it repeats.
    pub fn carried(&self, run_id: i64) -> anyhow::Result<Vec<(TerminalRecord, Option<String>)>> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS}, repeats FROM carried
             WHERE from_run < ?1 AND (cleared_run IS NULL OR cleared_run >= ?1)
             ORDER BY terminal_id, batch_no, trace_no"
        ))?;
        let rows = statement.query_map([run_id], |r| Ok((terminal_record(r, 0)?, r.get(13)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Earlier terminal records that tonight's `late` settlements (those
    /// matching left BANK_ONLY or paired only by the tolerant pass) settle,
    /// so that they come back and pair as in one run of every night's files:
    /// a record UNSETTLED (or an unsettled SUSPECTED_DUPLICATE) when it was
    /// last seen, and a VOIDED sale with the VOID that cancelled it, which its
    /// lag had stopped carrying. Only a record that the settlement names
    /// exactly (SPEC §3's exact pass) is brought back; one that tonight's
    /// files hold again is left to them by the caller, as carried records are.
    /// With each, for a SUSPECTED_DUPLICATE, what it repeats.
    pub fn overdue(
        &self,
        run_id: i64,
        late: &[&Settlement],
    ) -> anyhow::Result<Vec<(TerminalRecord, Option<String>)>> {
        if late.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_rrn = self.conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records
             WHERE side = 'terminal' AND rrn = ?1 AND run_id < ?2"
        ))?;
        let mut by_trace = self.conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records
             WHERE side = 'terminal' AND terminal_id = ?1 AND trace_no = ?2 AND run_id < ?3"
        ))?;
        // The latest row of a record: later runs may have settled or
        // corrected it.
        let mut latest = self.conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS}, outcome, settle_date, explanation, run_id FROM records
             WHERE side = 'terminal' AND merchant_id = ?1 AND terminal_id = ?2
               AND coalesce(batch_no, '') = ?3 AND trace_no = ?4 AND run_id < ?5
             ORDER BY run_id DESC LIMIT 1"
        ))?;
        let mut voids = self.conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records
             WHERE side = 'terminal' AND terminal_id = ?1 AND coalesce(batch_no, '') = ?2
               AND txn_type = 'VOID' AND orig_trace_no = ?3 AND merchant_id = ?4
               AND run_id < ?5
             ORDER BY run_id DESC LIMIT 1"
        ))?;
        let mut found: BTreeMap<TxnKey, (TerminalRecord, Option<String>)> = BTreeMap::new();
        // Each record's latest row, read once: several settlements may find
        // it, and whether it comes back depends only on the one naming it.
        type Latest = (TerminalRecord, String, Option<String>, String, i64);
        let mut latest_of: HashMap<TxnKey, Option<Latest>> = HashMap::new();
        for settlement in late {
            let mut candidates = Vec::new();
            if let Some(rrn) = &settlement.rrn {
                let rows =
                    by_rrn.query_map(params![rrn.as_str(), run_id], |r| terminal_record(r, 0))?;
                candidates.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            let rows = by_trace.query_map(
                params![
                    settlement.terminal_id.as_str(),
                    settlement.trace_no.as_str(),
                    run_id
                ],
                |r| terminal_record(r, 0),
            )?;
            candidates.extend(rows.collect::<Result<Vec<_>, _>>()?);
            for candidate in candidates {
                let key = txn_key(&candidate);
                if found.contains_key(&key) {
                    continue;
                }
                let [m, t, b, trace] = [&key.0, &key.1, &key.2, &key.3].map(|id| id.as_str());
                if !latest_of.contains_key(&key) {
                    let row = latest
                        .query_row(params![m, t, b, trace, run_id], |r| {
                            Ok((
                                terminal_record(r, 0)?,
                                r.get::<_, String>(13)?,
                                r.get::<_, Option<String>>(14)?,
                                r.get::<_, String>(15)?,
                                r.get::<_, i64>(16)?,
                            ))
                        })
                        .optional()?;
                    latest_of.insert(key.clone(), row);
                }
                let Some((record, outcome, settle_date, explanation, seen_in)) = &latest_of[&key]
                else {
                    continue;
                };
                if record.txn_type == TxnType::Void
                    || !same_direction(record.txn_type, settlement.txn_type)
                    || !names_exactly(settlement, record)
                {
                    continue;
                }
                let unsettled = settle_date.is_none();
                let repeated = unsettled && outcome == Outcome::SuspectedDuplicate.as_str();
                let revive = outcome == Outcome::Unsettled.as_str() || repeated;
                let voided = unsettled && outcome == Outcome::Voided.as_str();
                let (record, explanation, seen_in) = (record.clone(), explanation, *seen_in);
                if voided {
                    // Its VOID: a sale voided by an earlier run's VOID action
                    // has none, and is voided again by that action.
                    let void = voids
                        .query_row(params![t, b, trace, m, run_id], |r| terminal_record(r, 0))
                        .optional()?;
                    if let Some(void) = void {
                        found.insert(txn_key(&void), (void, None));
                    }
                }
                if revive || voided {
                    let repeats = repeated.then(|| repeats_of(explanation, seen_in));
                    found.insert(key, (record, repeats));
                }
            }
        }
        Ok(found.into_values().collect())
    }

    /// The earlier terminal records that tonight's requests may name, as
    /// the latest run before `run_id` saw them. `tonight` holds tonight's
    /// terminal records (carried ones included): a record it holds again
    /// speaks for itself. What earlier runs decided about the transactions
    /// tonight looks up is read after matching, by [`Ledger::read_decided`].
    pub fn history(
        &self,
        run_id: i64,
        requests: &[CancellationRequest],
        tonight: &[TerminalRecord],
    ) -> anyhow::Result<History> {
        let mut history = History::default();
        let mut by_rrn = self.conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS}, outcome, settle_date, void_trace, run_id, {SETTLED_AMOUNT}
             FROM records
             WHERE side = 'terminal' AND rrn = ?1 AND run_id < ?2 ORDER BY run_id DESC"
        ))?;
        let mut by_trace = self.conn.prepare(&format!(
            "SELECT {RECORD_COLUMNS}, outcome, settle_date, void_trace, run_id, {SETTLED_AMOUNT}
             FROM records
             WHERE side = 'terminal' AND terminal_id = ?1 AND trace_no = ?2 AND run_id < ?3
             ORDER BY run_id DESC"
        ))?;
        let earlier_record = |r: &rusqlite::Row<'_>| -> rusqlite::Result<EarlierRecord> {
            let outcome: String = r.get(13)?;
            let settle_date: Option<String> = r.get(14)?;
            Ok(EarlierRecord {
                record: terminal_record(r, 0)?,
                outcome: Outcome::ALL
                    .into_iter()
                    .find(|o| o.as_str() == outcome)
                    .ok_or_else(|| stored_error("outcome"))?,
                settle_date: settle_date
                    .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
                    .transpose()
                    .map_err(|_| stored_error("settle_date"))?,
                void_trace: r.get::<_, Option<String>>(15)?.map(Id::from),
                settled_amount: r
                    .get::<_, Option<String>>(17)?
                    .map(|text| {
                        let (minor, code) = text.split_once(' ')?;
                        Some((
                            Amount::from_minor(minor.parse().ok()?),
                            Currency::from_code(code)?,
                        ))
                    })
                    .map(|parsed| parsed.ok_or_else(|| stored_error("settled amount")))
                    .transpose()?,
            })
        };
        let mut found_per_request = Vec::with_capacity(requests.len());
        for request in requests {
            let mut found = Vec::new();
            if let Some(rrn) = &request.rrn {
                for row in by_rrn.query_map(params![rrn.as_str(), run_id], earlier_record)? {
                    found.push(row?);
                }
            }
            if let (Some(tid), Some(trace)) = (&request.terminal_id, &request.trace_no) {
                for row in by_trace.query_map(
                    params![tid.as_str(), trace.as_str(), run_id],
                    earlier_record,
                )? {
                    found.push(row?);
                }
            }
            found_per_request.push(found);
        }
        let mentioned = found_per_request
            .iter()
            .flatten()
            .map(|earlier| txn_key(&earlier.record));
        let tonight = keys_held(tonight, mentioned);
        let mut seen: HashSet<TxnKey> = HashSet::new();
        for found in found_per_request {
            // Newest first: the first time a key shows up is its latest state.
            for earlier in found {
                let key = txn_key(&earlier.record);
                if !tonight.contains(&key) && seen.insert(key) {
                    history.earlier.push(earlier);
                }
            }
        }
        Ok(history)
    }

    /// Reads into `history` what runs before `run_id` decided about the
    /// transactions and action ids of `lookups` (from
    /// [`decide::history_lookups`]): refunds and voids issued on them, REFUND
    /// records counted against them, and which of the ids were issued.
    ///
    /// Only these: reading every earlier action and REFUND record made each
    /// night slower than the one before, as the ledger grew.
    pub fn read_decided(
        &self,
        run_id: i64,
        lookups: Lookups,
        tonight: &[TerminalRecord],
        history: &mut History,
    ) -> anyhow::Result<()> {
        // A key is (merchant, terminal, batch, trace); the indexes are on
        // terminal and trace.
        let mut actions = self.conn.prepare(
            "SELECT action_id, run_id, kind, amount, source FROM actions
             WHERE terminal_id = ?2 AND trace_no = ?4 AND merchant_id = ?1 AND batch_no = ?3
               AND run_id < ?5
             ORDER BY rowid",
        )?;
        let mut issued = self
            .conn
            .prepare("SELECT run_id FROM actions WHERE action_id = ?1 AND run_id < ?2")?;
        for key in &lookups.keys {
            let (m, t, b, tr) = (
                key.0.as_str(),
                key.1.as_str(),
                key.2.as_str(),
                key.3.as_str(),
            );
            let rows = actions.query_map(params![m, t, b, tr, run_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            for row in rows {
                let (action_id, run, kind, amount, source) = row?;
                match kind.as_str() {
                    // The refund of a second charge gives back what the sale
                    // never owed: it counts toward the sale's refunded total
                    // on no night, as on its own (`RefundLimit::Separate`).
                    "REFUND" if source == Outcome::DuplicateSettlement.as_str() => {}
                    "REFUND" => {
                        let total = history.refunded.entry(key.clone()).or_default();
                        *total = *total + Amount::from_minor(amount.unwrap_or(0));
                    }
                    "VOID" => {
                        history.voided.insert(key.clone(), (action_id, run));
                    }
                    _ => {}
                }
            }
        }
        for id in &lookups.action_ids {
            let run = issued
                .query_row(params![id, run_id], |r| r.get::<_, i64>(0))
                .optional()?;
            if let Some(run) = run {
                history.issued.insert(id.clone(), run);
            }
        }

        // REFUND records seen by earlier runs count against each purchase
        // looked up that they name with its merchant and card (the rule of
        // `decide::refund_counts_against`), once each, unless tonight's files
        // (or the carried records) hold them again.
        let mut refunds = self.conn.prepare(
            "SELECT DISTINCT merchant_id, terminal_id, batch_no, trace_no, amount FROM records
             WHERE orig_rrn = ?1 AND txn_type = 'REFUND' AND side = 'terminal'
               AND merchant_id = ?2 AND card_no = ?3 AND run_id < ?4",
        )?;
        let mut sharing = self.conn.prepare(
            "SELECT DISTINCT merchant_id, terminal_id, batch_no, trace_no FROM records
             WHERE rrn = ?1 AND merchant_id = ?2 AND card_no = ?3 AND side = 'terminal'
               AND txn_type IN ('SALE', 'PREAUTH_COMPLETE') AND run_id < ?4",
        )?;
        let text_key = |r: &rusqlite::Row<'_>| -> rusqlite::Result<TxnKey> {
            let text = |i: usize| -> rusqlite::Result<Id> {
                Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default().into())
            };
            Ok((text(0)?, text(1)?, text(2)?, text(3)?))
        };
        // Each charge (purchase, its rrn, merchant and card; the REFUND and
        // its amount), and the purchases that share each such rrn, merchant
        // and card, for the note that the REFUND counts against each.
        type Triple = (String, String, String);
        let mut charges: Vec<(&TxnKey, Triple, TxnKey, Amount)> = Vec::new();
        let mut shared: BTreeMap<Triple, HashSet<TxnKey>> = BTreeMap::new();
        for (key, rrn, card) in &lookups.purchases {
            let triple: Triple = (rrn.to_string(), key.0.to_string(), card.to_string());
            let params = params![triple.0, triple.1, triple.2, run_id];
            let found = refunds.query_map(params, |r| {
                Ok((text_key(r)?, Amount::from_minor(r.get(4)?)))
            })?;
            let before = charges.len();
            for row in found {
                let (refund, amount) = row?;
                charges.push((key, triple.clone(), refund, amount));
            }
            if charges.len() > before {
                let mut purchases: HashSet<TxnKey> = HashSet::from([key.clone()]);
                for row in sharing.query_map(params, text_key)? {
                    purchases.insert(row?);
                }
                shared.entry(triple).or_default().extend(purchases);
            }
        }
        let shared_rrns: HashSet<String> = shared.keys().map(|(rrn, _, _)| rrn.clone()).collect();
        for record in tonight {
            let Some(rrn) = &record.rrn else { continue };
            if !record.txn_type.is_purchase() || !shared_rrns.contains(rrn.as_str()) {
                continue;
            }
            let triple = (
                rrn.to_string(),
                record.merchant_id.to_string(),
                record.card.to_string(),
            );
            if let Some(purchases) = shared.get_mut(&triple) {
                purchases.insert(txn_key(record));
            }
        }
        let held = keys_held(
            tonight,
            charges.iter().map(|(_, _, refund, _)| refund.clone()),
        );
        for (purchase, triple, refund, amount) in charges {
            if held.contains(&refund) {
                continue;
            }
            let total = history.refunded.entry(purchase.clone()).or_default();
            *total = *total + amount;
            if shared.get(&triple).is_some_and(|p| p.len() > 1) {
                history.shared_rrn.insert(purchase.clone(), triple.0);
            }
        }
        history.loaded_for = Some(lookups);
        Ok(())
    }

    /// Writes one run in one transaction. When `rows.replaces`, the earlier
    /// version of the run is removed first, so a re-run leaves no trace of it.
    pub fn record_run(&mut self, rows: &RunRows<'_>) -> anyhow::Result<()> {
        // Every row written names the run inserted first in the same
        // transaction, so SQLite's check of each row's run_id proves nothing;
        // it cost about 4 % of a night's inserts. The pragma cannot change
        // inside a transaction: it is off around it.
        self.conn.pragma_update(None, "foreign_keys", "OFF")?;
        let rollback = self.use_rollback_journal();
        let written = self.write_run(rows, rollback);
        let restored = self.conn.pragma_update(None, "foreign_keys", "ON");
        // Should a reader hold the ledger now, it stays in rollback mode
        // until a later night's `open` sets the log again; both are sound.
        let rested = if rollback {
            rest_in_wal_mode(&self.conn)
        } else {
            Ok(())
        };
        written?;
        restored?;
        Ok(rested?)
    }

    /// Switches to SQLite's rollback journal for a night's write, when no
    /// other connection has the ledger open (SQLite refuses the switch
    /// otherwise, and the night is written through the log as before). A
    /// night is almost all new pages, which the journal never copies: the log
    /// wrote each twice, to the log and then into the ledger. While the
    /// night is written in rollback mode, its transaction is exclusive: a
    /// reader that opens the ledger meanwhile waits for the night (up to
    /// [`BUSY_WAIT`]), rather than the night's commit waiting for the reader.
    fn use_rollback_journal(&self) -> bool {
        self.set_journal_mode("DELETE")
            .is_ok_and(|mode| mode.eq_ignore_ascii_case("delete"))
    }

    /// Asks SQLite for journal mode `mode`; answers the mode now in effect.
    fn set_journal_mode(&self, mode: &str) -> rusqlite::Result<String> {
        self.conn
            .pragma_update_and_check(None, "journal_mode", mode, |r| r.get(0))
    }

    fn write_run(&mut self, rows: &RunRows<'_>, exclusive: bool) -> anyhow::Result<()> {
        let head = &rows.head;
        let tx = self.conn.transaction_with_behavior(if exclusive {
            rusqlite::TransactionBehavior::Exclusive
        } else {
            rusqlite::TransactionBehavior::Deferred
        })?;
        if head.replaces {
            remove_run(&tx, head.run_id)?;
        }
        tx.execute(
            "INSERT INTO runs (run_id, as_of, status, arguments, summary) VALUES (?1, ?2, 'writing', ?3, ?4)",
            params![head.run_id, time_text(head.as_of), head.arguments, head.summary],
        )?;
        {
            let mut input = tx.prepare(
                "INSERT INTO inputs (run_id, position, path, kind, sha256, rows, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (position, file) in head.inputs.iter().enumerate() {
                input.execute(params![
                    head.run_id,
                    position as i64,
                    file.path.display().to_string(),
                    file.kind.as_str(),
                    file.sha256,
                    file.rows as i64,
                    file.amount().minor()
                ])?;
            }
            let record = tx.prepare(
                "INSERT INTO records (run_id, side, merchant_id, terminal_id, batch_no, trace_no, rrn, auth_code,
                    txn_type, txn_time, amount, currency, card_no, orig_trace_no, orig_rrn, settle_date,
                    outcome, rule, void_trace, explanation, bank_folded, bank_batch_no)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            )?;
            let last_before = last_record(&tx)?;
            let mut carried = CarriedUpdate::new(&tx, head.run_id)?;
            let mut record = RecordInsert::new(record, head.run_id)?;
            // Building a row (explanations, folding) overlaps inserting the
            // previous ones: SQLite keeps this thread busy, the other core
            // builds. The chunks come back to be reused, so the night's rows
            // are never all in memory at once.
            std::thread::scope(|scope| -> anyhow::Result<()> {
                let (full, chunks) = mpsc::sync_channel(2);
                let (reuse, empty) = mpsc::channel();
                scope.spawn(move || build_record_rows(rows.night, &full, &empty));
                for (side, chunk) in chunks {
                    record.insert(side, &chunk)?;
                    if side == "terminal" {
                        carried.follow(&chunk)?;
                    }
                    // The builder may be done and gone; then the chunk is freed here.
                    let _ = reuse.send(chunk);
                }
                Ok(())
            })?;
            // An empty range (first after last) when the night held no record.
            tx.execute(
                "UPDATE runs SET first_record = ?2, last_record = ?3 WHERE run_id = ?1",
                params![head.run_id, last_before + 1, last_record(&tx)?],
            )?;
            let mut action = tx.prepare(
                "INSERT INTO actions (action_id, run_id, kind, merchant_id, terminal_id, batch_no, trace_no, rrn,
                    amount, source, reason, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for a in &rows.actions {
                let key = a.key.as_ref();
                action.execute(params![
                    a.action_id,
                    head.run_id,
                    a.kind,
                    key.map(|k| k.0.as_str()),
                    key.map(|k| k.1.as_str()),
                    key.map(|k| k.2.as_str()),
                    key.map(|k| k.3.as_str()),
                    a.rrn,
                    a.amount.map(Amount::minor),
                    a.source,
                    a.reason,
                    a.payload
                ])?;
            }
        }
        tx.commit()
            .with_context(|| format!("committing run {} to the ledger", head.run_id))?;
        Ok(())
    }

    /// Marks a run complete once its output files are in place.
    pub fn mark_complete(&self, run_id: i64) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = 'complete' WHERE run_id = ?1",
            [run_id],
        )?;
        Ok(())
    }

    /// Every record and action the ledger holds for a transaction, found by
    /// rrn or by terminal + trace (+ batch).
    pub fn show(
        &self,
        rrn: Option<&str>,
        terminal_trace: Option<(&str, &str, Option<&str>)>,
    ) -> anyhow::Result<(Vec<SeenRecord>, Vec<IssuedAction>)> {
        let mut keys: Vec<(String, String)> = Vec::new();
        let mut records = Vec::new();
        let mut statement = self.conn.prepare(
            "SELECT r.run_id, runs.as_of, r.side, r.merchant_id, r.terminal_id, r.batch_no, r.trace_no, r.rrn,
                    r.txn_type, r.txn_time, r.amount, r.card_no, r.settle_date, r.outcome, r.rule, r.explanation
             FROM records r JOIN runs USING (run_id)
             WHERE (?1 IS NOT NULL AND r.rrn = ?1)
                OR (?2 IS NOT NULL AND r.terminal_id = ?2 AND r.trace_no = ?3 AND (?4 IS NULL OR r.batch_no = ?4))
             UNION ALL
             SELECT r.run_id, runs.as_of, 'bank', r.merchant_id, r.terminal_id, r.bank_batch_no, r.trace_no, r.rrn,
                    r.txn_type, r.txn_time, r.amount, r.card_no, r.settle_date, r.outcome, r.rule, ''
             FROM records r JOIN runs USING (run_id)
             WHERE r.bank_folded = 1
               AND ((?1 IS NOT NULL AND r.rrn = ?1)
                OR (?2 IS NOT NULL AND r.terminal_id = ?2 AND r.trace_no = ?3 AND (?4 IS NULL OR r.bank_batch_no = ?4)))
             ORDER BY 1, 3 DESC, 10, 14, 6, 7, 5, 4, 11, 12, 8",
        )?;
        let (tid, trace, batch) =
            terminal_trace.map_or((None, None, None), |(t, tr, b)| (Some(t), Some(tr), b));
        let rows = statement.query_map(params![rrn, tid, trace, batch], |r| {
            Ok(SeenRecord {
                run_id: r.get(0)?,
                as_of: r.get(1)?,
                side: r.get(2)?,
                merchant_id: r.get(3)?,
                terminal_id: r.get(4)?,
                batch_no: r.get(5)?,
                trace_no: r.get(6)?,
                rrn: r.get(7)?,
                txn_type: r.get(8)?,
                txn_time: r.get(9)?,
                amount: Amount::from_minor(r.get(10)?).to_string(),
                card_no: r.get(11)?,
                settle_date: r.get(12)?,
                outcome: r.get(13)?,
                rule: r.get(14)?,
                explanation: r.get(15)?,
            })
        })?;
        for row in rows {
            let row = row?;
            keys.push((row.terminal_id.clone(), row.trace_no.clone()));
            records.push(row);
        }
        keys.sort();
        keys.dedup();
        let mut actions = Vec::new();
        let mut statement = self.conn.prepare(
            "SELECT action_id, run_id, kind, amount, source, reason FROM actions
             WHERE (terminal_id = ?1 AND trace_no = ?2) OR (?3 IS NOT NULL AND rrn = ?3)
             ORDER BY run_id, action_id",
        )?;
        let mut seen = HashSet::new();
        let lookups: Vec<(Option<&str>, Option<&str>)> = if keys.is_empty() {
            vec![(None, None)]
        } else {
            keys.iter()
                .map(|(t, tr)| (Some(t.as_str()), Some(tr.as_str())))
                .collect()
        };
        for (tid, trace) in lookups {
            let rows = statement.query_map(params![tid, trace, rrn], |r| {
                Ok(IssuedAction {
                    action_id: r.get(0)?,
                    run_id: r.get(1)?,
                    kind: r.get(2)?,
                    amount: r
                        .get::<_, Option<i64>>(3)?
                        .map(|m| Amount::from_minor(m).to_string()),
                    source: r.get(4)?,
                    reason: r.get(5)?,
                })
            })?;
            for row in rows {
                let row = row?;
                if seen.insert(row.action_id.clone()) {
                    actions.push(row);
                }
            }
        }
        actions.sort_by(|a, b| (a.run_id, &a.action_id).cmp(&(b.run_id, &b.action_id)));
        Ok((records, actions))
    }
}

/// Keeps the carried set in step with tonight's terminal records: a PENDING
/// record is carried (once), any other clears its carried row.
struct CarriedUpdate<'s> {
    run_id: i64,
    clear: rusqlite::Statement<'s>,
    open: rusqlite::Statement<'s>,
    carry: rusqlite::Statement<'s>,
    /// The keys that may have an open carried row. Every record that is not
    /// PENDING clears its row, but few records have one: look for them in
    /// memory, not with a million UPDATEs that find nothing. A key may stay
    /// listed after its row is cleared; that costs only an UPDATE that finds
    /// nothing.
    may_be_open: HashSet<String>,
    key: String,
}

impl<'s> CarriedUpdate<'s> {
    fn new(tx: &'s Transaction<'_>, run_id: i64) -> rusqlite::Result<CarriedUpdate<'s>> {
        let mut may_be_open = HashSet::new();
        let mut key = String::new();
        let mut open_keys = tx.prepare(
            "SELECT terminal_id, batch_no, trace_no FROM carried WHERE cleared_run IS NULL",
        )?;
        let mut open_rows = open_keys.query([])?;
        while let Some(row) = open_rows.next()? {
            let parts = [
                row.get_ref(0)?.as_str()?,
                row.get_ref(1)?.as_str()?,
                row.get_ref(2)?.as_str()?,
            ];
            may_be_open.insert(carried_key(&mut key, parts).to_owned());
        }
        Ok(CarriedUpdate {
            run_id,
            clear: tx.prepare(
                "UPDATE carried SET cleared_run = ?1
                 WHERE terminal_id = ?2 AND batch_no = ?3 AND trace_no = ?4 AND cleared_run IS NULL",
            )?,
            open: tx.prepare(
                "SELECT repeats FROM carried
                 WHERE terminal_id = ?1 AND batch_no = ?2 AND trace_no = ?3 AND cleared_run IS NULL",
            )?,
            carry: tx.prepare(
                "INSERT INTO carried (merchant_id, terminal_id, batch_no, trace_no, rrn, auth_code, txn_type,
                    txn_time, amount, currency, card_no, orig_trace_no, orig_rrn, from_run, repeats)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?,
            may_be_open,
            key,
        })
    }

    /// Carries or clears each of these terminal records.
    fn follow(&mut self, terminal: &[RecordRow<'_>]) -> rusqlite::Result<()> {
        for r in terminal {
            let batch = r.batch_no.unwrap_or("");
            let key = carried_key(&mut self.key, [r.terminal_id, batch, r.trace_no]);
            if !r.carried {
                if self.may_be_open.contains(key) {
                    self.clear
                        .execute(params![self.run_id, r.terminal_id, batch, r.trace_no])?;
                }
            } else {
                let repeats = (r.outcome == Outcome::SuspectedDuplicate)
                    .then(|| repeats_of(&r.explanation, self.run_id));
                let held: Option<Option<String>> = self
                    .open
                    .query_row(params![r.terminal_id, batch, r.trace_no], |row| row.get(0))
                    .optional()?;
                match held {
                    Some(held) if same_verdict(held.as_deref(), repeats.as_deref()) => continue,
                    // Tonight's verdict differs (a sale it repeated was voided,
                    // say): the row is replaced, not changed, so that a re-run
                    // of tonight finds the one before it.
                    Some(_) => {
                        self.clear.execute(params![
                            self.run_id,
                            r.terminal_id,
                            batch,
                            r.trace_no
                        ])?;
                    }
                    None => {}
                }
                self.may_be_open.insert(key.to_owned());
                self.carry.execute(params![
                    r.merchant_id,
                    r.terminal_id,
                    batch,
                    r.trace_no,
                    r.rrn,
                    r.auth_code,
                    r.txn_type.as_str(),
                    time_text(r.txn_time),
                    r.amount.minor(),
                    r.currency.code(),
                    r.card.as_str(),
                    r.orig_trace_no,
                    r.orig_rrn,
                    self.run_id,
                    repeats,
                ])?;
            }
        }
        Ok(())
    }
}

/// What a SUSPECTED_DUPLICATE of run `run_id` repeats, from its explanation
/// there: its first clause, with the run that found it (once).
fn repeats_of(explanation: &str, run_id: i64) -> String {
    let clause = explanation.split("; ").next().unwrap_or(explanation);
    if clause.ends_with(')') {
        clause.to_string()
    } else {
        format!("{clause} (run {run_id})")
    }
}

/// Whether two verdicts of what a record repeats say the same, whichever run
/// found them.
fn same_verdict(a: Option<&str>, b: Option<&str>) -> bool {
    fn clause(verdict: &str) -> &str {
        verdict.split(" (run ").next().unwrap_or(verdict)
    }
    a.map(clause) == b.map(clause)
}

/// A carried row's key (terminal, batch, trace) as one string, in `key`.
fn carried_key<'k>(key: &'k mut String, parts: [&str; 3]) -> &'k str {
    key.clear();
    for part in parts {
        key.push_str(part);
        key.push('\u{1f}');
    }
    key
}

/// The records INSERT, binding only what changed.
///
/// SQLite keeps a statement's bindings across executions, and rusqlite's
/// `raw_execute` leaves them alone; every text binding is a copy (rusqlite
/// binds text as `SQLITE_TRANSIENT`). Neighbouring rows mostly share their
/// merchant, terminal, batch, type, currency, outcome and settle date, so
/// each parameter is bound again only when it differs from the previous row's.
struct RecordInsert<'s, 'a> {
    statement: rusqlite::Statement<'s>,
    side: Option<&'static str>,
    /// The row inserted last, whose values are bound.
    prev: Option<RecordRow<'a>>,
    time: TimeText,
}

impl<'s, 'a> RecordInsert<'s, 'a> {
    /// Takes the prepared 22-parameter INSERT into `records` of run `run_id`.
    fn new(
        mut statement: rusqlite::Statement<'s>,
        run_id: i64,
    ) -> rusqlite::Result<RecordInsert<'s, 'a>> {
        statement.raw_bind_parameter(1, run_id)?;
        Ok(RecordInsert {
            statement,
            side: None,
            prev: None,
            time: TimeText::default(),
        })
    }

    /// Inserts `rows`, of the records of `side`, after those inserted before.
    fn insert(&mut self, side: &'static str, rows: &[RecordRow<'a>]) -> rusqlite::Result<()> {
        let RecordInsert {
            statement,
            side: bound_side,
            prev: last,
            time,
        } = self;
        if *bound_side != Some(side) {
            statement.raw_bind_parameter(2, side)?;
            *bound_side = Some(side);
        }
        for (i, r) in rows.iter().enumerate() {
            let prev = match i.checked_sub(1) {
                Some(before) => rows.get(before),
                None => last.as_ref(),
            };
            // Whether field `f` must be bound again for this row.
            macro_rules! changed {
            ($($f:tt)+) => {
                prev.is_none_or(|p| p.$($f)+ != r.$($f)+)
            };
        }
            if changed!(merchant_id) {
                statement.raw_bind_parameter(3, r.merchant_id)?;
            }
            if changed!(terminal_id) {
                statement.raw_bind_parameter(4, r.terminal_id)?;
            }
            if changed!(batch_no) {
                statement.raw_bind_parameter(5, r.batch_no)?;
            }
            if changed!(trace_no) {
                statement.raw_bind_parameter(6, r.trace_no)?;
            }
            if changed!(rrn) {
                statement.raw_bind_parameter(7, r.rrn)?;
            }
            if changed!(auth_code) {
                statement.raw_bind_parameter(8, r.auth_code)?;
            }
            if changed!(txn_type) {
                statement.raw_bind_parameter(9, r.txn_type.as_str())?;
            }
            if changed!(txn_time) {
                statement.raw_bind_parameter(10, time.of(r.txn_time))?;
            }
            statement.raw_bind_parameter(11, r.amount.minor())?;
            if changed!(currency) {
                statement.raw_bind_parameter(12, r.currency.code())?;
            }
            if changed!(card.as_str()) {
                statement.raw_bind_parameter(13, r.card.as_str())?;
            }
            if changed!(orig_trace_no) {
                statement.raw_bind_parameter(14, r.orig_trace_no)?;
            }
            if changed!(orig_rrn) {
                statement.raw_bind_parameter(15, r.orig_rrn)?;
            }
            if changed!(settle_date) {
                statement.raw_bind_parameter(16, r.settle_date.map(|d| d.to_string()))?;
            }
            if changed!(outcome) {
                statement.raw_bind_parameter(17, r.outcome.as_str())?;
            }
            if changed!(rule) {
                statement.raw_bind_parameter(18, r.rule)?;
            }
            if changed!(void_trace) {
                statement.raw_bind_parameter(19, r.void_trace)?;
            }
            if changed!(explanation) {
                statement.raw_bind_parameter(20, r.explanation.as_str())?;
            }
            if changed!(folded_bank) {
                statement.raw_bind_parameter(21, r.folded_bank.is_some())?;
                statement.raw_bind_parameter(22, r.folded_bank.flatten())?;
            }
            statement.raw_execute()?;
        }
        if let Some(r) = rows.last() {
            *last = Some(r.clone());
        }
        Ok(())
    }
}

/// Puts the ledger in WAL mode if SQLite lets it. A switch that another
/// connection is in the way of is refused at once (two posrecons creating
/// one ledger at the same moment) or after SQLite's busy wait (a reader in
/// a transaction on a ledger left in rollback mode); it is asked again for a
/// second, and then, as every command works in either mode, the ledger
/// stays as it is.
fn rest_in_wal_mode(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                if std::time::Instant::now() >= deadline {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            done => return done,
        }
    }
}

/// Takes the lock that lets one `reconcile` at a time use the ledger at
/// `path`, held until the returned file is dropped. Two nights planned side
/// by side would take the same run number, or record nights out of order;
/// SQLite's own locks cover single statements and transactions, not a whole
/// run. The lock is the operating system's on `<ledger>.lock`: a process
/// that dies releases it, and the empty file left behind is harmless.
pub fn lock_for_night(path: &Path) -> anyhow::Result<std::fs::File> {
    // One ledger reached by two names (a symbolic link) takes one lock.
    let ledger = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut lock_path = ledger.into_os_string();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let created = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path);
    // A lock file another user made, on a ledger shared by a group, may not
    // be writable for this one; the lock needs no more than reading it.
    let file = match created {
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied && lock_path.is_file() => {
            std::fs::File::open(&lock_path)
        }
        other => other,
    }
    .with_context(|| {
        format!(
            "creating the ledger's lock file {} beside the ledger: does the folder exist, and \
             may posrecon write there?",
            lock_path.display()
        )
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "the ledger {} is in use by another posrecon reconcile (it holds {}); run this one \
             again when that has finished",
            path.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => Err(err)
            .with_context(|| format!("locking the ledger's lock file {}", lock_path.display())),
    }
}

/// How long a command waits for another posrecon's write to finish.
pub const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether `err` comes from a ledger that another posrecon kept locked for
/// longer than [`BUSY_WAIT`].
pub fn is_busy(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy
        )
    })
}

/// The rowid of the last record the ledger holds, 0 when it holds none; the
/// next record inserted gets the one after it.
fn last_record(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    tx.query_row("SELECT coalesce(max(rowid), 0) FROM records", [], |r| {
        r.get(0)
    })
}

/// Removes every row of run `run_id` and undoes what it did to the carried set.
fn remove_run(tx: &Transaction<'_>, run_id: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM actions WHERE run_id = ?1", [run_id])?;
    // The run's rowid range finds its records, and the run_id test keeps any
    // other run's row safe. A range that no longer holds exactly the run's
    // records (SQLite's VACUUM may renumber rowids) leaves the rest to a scan
    // of every record, which is slow on a large ledger but finds them all.
    let range: Option<(i64, i64)> = tx
        .query_row(
            "SELECT first_record, last_record FROM runs WHERE run_id = ?1",
            [run_id],
            |r| Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?)),
        )
        .optional()?
        .flatten();
    let in_range = match range {
        Some((first, last)) => Some((
            (last - first + 1).max(0),
            tx.execute(
                "DELETE FROM records WHERE rowid BETWEEN ?2 AND ?3 AND run_id = ?1",
                params![run_id, first, last],
            )?,
        )),
        None => None,
    };
    let whole = in_range.is_some_and(|(held, deleted)| usize::try_from(held) == Ok(deleted));
    if !whole {
        tx.execute("DELETE FROM records WHERE run_id = ?1", [run_id])?;
    }
    debug_assert_eq!(
        tx.query_row(
            "SELECT count(*) FROM records WHERE run_id = ?1",
            [run_id],
            |r| r.get::<_, i64>(0)
        )?,
        0,
        "IE: records of run {run_id} left after its removal"
    );
    tx.execute("DELETE FROM inputs WHERE run_id = ?1", [run_id])?;
    tx.execute("DELETE FROM carried WHERE from_run = ?1", [run_id])?;
    tx.execute(
        "UPDATE carried SET cleared_run = NULL WHERE cleared_run = ?1",
        [run_id],
    )?;
    tx.execute("DELETE FROM runs WHERE run_id = ?1", [run_id])?;
    Ok(())
}

/// Whether settlement `b`, paired with terminal record `t`, is kept on the
/// terminal record's row: both MATCHED, and alike in every column the ledger
/// keeps for a settlement but the batch.
fn folds(night: &Night<'_>, t: usize, b: usize) -> bool {
    let (r, s) = (&night.terminal[t], &night.bank[b]);
    night.result.terminal[t].outcome == Outcome::Matched
        && night.result.bank[b].outcome == Outcome::Matched
        && r.merchant_id == s.merchant_id
        && r.terminal_id == s.terminal_id
        && r.trace_no == s.trace_no
        && r.rrn == s.rrn
        && r.auth_code == s.auth_code
        && r.txn_type == s.txn_type
        && r.txn_time == s.txn_time
        && r.amount == s.amount
        && r.currency == s.currency
        && r.card == s.card
}

/// How many rows go from the thread that builds them to the one that
/// inserts them at a time: enough to make the hand-over cheap, few enough
/// that the chunks in flight stay small.
const CHUNK_ROWS: usize = 4096;

/// A chunk of one side's record rows.
type Chunk<'a> = (&'static str, Vec<RecordRow<'a>>);

/// Builds tonight's record rows, terminal side first, and sends them in
/// chunks to `full`, reusing the chunks that come back on `empty`. Stops
/// early when the inserting side hangs up.
fn build_record_rows<'a>(
    night: &'a Night<'a>,
    full: &SyncSender<Chunk<'a>>,
    empty: &Receiver<Vec<RecordRow<'a>>>,
) {
    let explain = |outcome: Outcome, text: &dyn Fn() -> String| {
        if outcome == Outcome::Matched {
            String::new()
        } else {
            text()
        }
    };
    let terminal = night
        .terminal
        .iter()
        .zip(&night.result.terminal)
        .enumerate()
        .map(|(t, (r, result))| RecordRow {
            merchant_id: &r.merchant_id,
            terminal_id: &r.terminal_id,
            batch_no: Some(&r.batch_no),
            trace_no: &r.trace_no,
            rrn: r.rrn.as_deref(),
            auth_code: r.auth_code.as_deref(),
            txn_type: r.txn_type,
            txn_time: r.txn_time,
            amount: r.amount,
            currency: r.currency,
            card: &r.card,
            orig_trace_no: r.orig_trace_no.as_deref(),
            orig_rrn: r.orig_rrn.as_deref(),
            settle_date: result.settlement().map(|(b, _)| night.bank[b].settle_date),
            outcome: result.outcome,
            rule: result.settlement().map(|(_, rule)| rule.as_str()),
            void_trace: match r.txn_type {
                TxnType::Void => None,
                _ => result
                    .void_partner()
                    .map(|v| night.terminal[v].trace_no.as_str()),
            },
            explanation: explain(result.outcome, &|| night.terminal(t)),
            folded_bank: result
                .settlement()
                .filter(|&(b, _)| folds(night, t, b))
                .map(|(b, _)| night.bank[b].batch_no.as_deref()),
            carried: result.carried_forward(),
        });
    let bank = night
        .bank
        .iter()
        .zip(&night.result.bank)
        .enumerate()
        .filter(|&(b, (_, result))| !result.terminal().is_some_and(|(t, _)| folds(night, t, b)))
        .map(|(b, (s, result))| RecordRow {
            merchant_id: &s.merchant_id,
            terminal_id: &s.terminal_id,
            batch_no: s.batch_no.as_deref(),
            trace_no: &s.trace_no,
            rrn: s.rrn.as_deref(),
            auth_code: s.auth_code.as_deref(),
            txn_type: s.txn_type,
            txn_time: s.txn_time,
            amount: s.amount,
            currency: s.currency,
            card: &s.card,
            orig_trace_no: None,
            orig_rrn: None,
            settle_date: Some(s.settle_date),
            outcome: result.outcome,
            rule: result.terminal().map(|(_, rule)| rule.as_str()),
            void_trace: None,
            explanation: explain(result.outcome, &|| night.bank(b)),
            folded_bank: None,
            carried: false,
        });
    if send_in_chunks("terminal", terminal, full, empty).is_ok() {
        let _ = send_in_chunks("bank", bank, full, empty);
    }
}

fn send_in_chunks<'a>(
    side: &'static str,
    rows: impl Iterator<Item = RecordRow<'a>>,
    full: &SyncSender<Chunk<'a>>,
    empty: &Receiver<Vec<RecordRow<'a>>>,
) -> Result<(), ()> {
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let mut chunk = empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK_ROWS));
        chunk.clear();
        chunk.extend(rows.by_ref().take(CHUNK_ROWS));
        full.send((side, chunk)).map_err(drop)?;
    }
    Ok(())
}

/// Builds a run's ledger rows: every record with its outcome, and every
/// action (and rejection) with its output row as the payload.
pub fn run_rows<'a>(
    night: &'a Night<'a>,
    decider: &Decider<'a>,
    decisions: &Decisions,
    action_rows: &[Vec<Vec<String>>; 4],
    head: RunHead<'a>,
) -> RunRows<'a> {
    let payload = |columns: &[&str], row: &[String]| {
        let object: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .zip(row)
            .map(|(c, v)| (c.to_string(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::Value::Object(object).to_string()
    };
    let original = |t: usize| {
        let r = decider.record(t);
        (Some(txn_key(r)), r.rrn.as_ref().map(ToString::to_string))
    };
    let [void_rows, refund_rows, dispute_rows, rejection_rows] = action_rows;
    let mut actions = Vec::new();
    for (void, row) in decisions.voids.iter().zip(void_rows) {
        let (key, rrn) = original(void.original);
        actions.push(ActionRow {
            action_id: void.action_id.clone(),
            kind: "VOID",
            key,
            rrn,
            amount: Some(decider.record(void.original).amount),
            source: row[13].clone(),
            reason: void.reason.clone(),
            payload: payload(crate::write::VOID_REQUEST_COLUMNS, row),
        });
    }
    for (refund, row) in decisions.refunds.iter().zip(refund_rows) {
        let (key, rrn) = original(refund.original);
        actions.push(ActionRow {
            action_id: refund.action_id.clone(),
            kind: "REFUND",
            key,
            rrn,
            amount: Some(refund.refund_amount),
            source: row[15].clone(),
            reason: refund.reason.clone(),
            payload: payload(crate::write::REFUND_INSTRUCTION_COLUMNS, row),
        });
    }
    for (dispute, row) in decisions.disputes.iter().zip(dispute_rows) {
        let (key, rrn) = match (dispute.terminal, dispute.bank) {
            (Some(t), _) => original(t),
            (None, Some(b)) => {
                let s = &night.bank[b];
                (
                    Some((
                        s.merchant_id.clone(),
                        s.terminal_id.clone(),
                        s.batch_no.clone().unwrap_or_default(),
                        s.trace_no.clone(),
                    )),
                    s.rrn.as_ref().map(ToString::to_string),
                )
            }
            (None, None) => (None, None),
        };
        actions.push(ActionRow {
            action_id: dispute.action_id.clone(),
            kind: "DISPUTE",
            key,
            rrn,
            amount: dispute.bank.map(|b| night.bank[b].amount),
            source: dispute.outcome.as_str().to_string(),
            reason: row[11].clone(),
            payload: payload(crate::write::DISPUTE_COLUMNS, row),
        });
    }
    // Rejections are recorded too (not as actions to issue), so `show` can
    // say why a request went nowhere. Their ids only need to be unique.
    let rejections = decisions.rejections.iter().zip(rejection_rows);
    for (index, (rejection, row)) in rejections.enumerate() {
        let (key, rrn) = rejection.original.map_or((None, None), original);
        let id_parts = [
            head.run_id.to_string(),
            index.to_string(),
            row.join("\u{1f}"),
        ];
        let mut hasher = Sha256::new();
        for part in &id_parts {
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02X}")).collect();
        actions.push(ActionRow {
            action_id: format!("REJECT-{hex}"),
            kind: "REJECT",
            key,
            rrn,
            amount: None,
            source: row[0].clone(),
            reason: rejection.reason.clone(),
            payload: payload(crate::write::REJECTED_CANCELLATION_COLUMNS, row),
        });
    }
    RunRows {
        head,
        night,
        actions,
    }
}

/// Maps the ledger's stored keys for quick membership tests.
/// Which of the `mentioned` keys tonight's records hold. Only those few are
/// looked for: a set of every record's key cost seconds and gigabytes at
/// 5 M records.
fn keys_held(
    records: &[TerminalRecord],
    mentioned: impl Iterator<Item = TxnKey>,
) -> HashSet<TxnKey> {
    let mentioned: HashSet<TxnKey> = mentioned.collect();
    if mentioned.is_empty() {
        return mentioned;
    }
    let wanted: HashSet<(&str, &str, &str, &str)> = mentioned
        .iter()
        .map(|(m, t, b, tr)| (m.as_str(), t.as_str(), b.as_str(), tr.as_str()))
        .collect();
    records
        .iter()
        .filter(|r| {
            wanted.contains(&(
                r.merchant_id.as_str(),
                r.terminal_id.as_str(),
                r.batch_no.as_str(),
                r.trace_no.as_str(),
            ))
        })
        .map(txn_key)
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime};

    use super::*;

    fn page_size(ledger: &Ledger) -> i64 {
        ledger
            .conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_ledger_has_large_pages() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(page_size(&ledger), LEDGER_PAGE_BYTES);
    }

    /// A ledger written by the first schema (every settlement its own row) is
    /// upgraded in place, and what it holds is still shown and can be removed.
    #[test]
    fn a_version_1_ledger_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                "INSERT INTO runs VALUES (1, '2026-11-24 22:00:00', 'complete', '{}', '{}');
                 INSERT INTO records (run_id, side, merchant_id, terminal_id, batch_no, trace_no,
                     rrn, txn_type, txn_time, amount, currency, card_no, settle_date, outcome,
                     rule, explanation)
                 VALUES
                 (1, 'terminal', '898310058120001', '31000101', '000231', '001212', '632711879714',
                  'SALE', '2026-11-23 11:26:14', 1000, 'CNY', '622202******0056', '2026-11-24',
                  'MATCHED', 'exact:rrn', ''),
                 (1, 'bank', '898310058120001', '31000101', NULL, '001212', '632711879714',
                  'SALE', '2026-11-23 11:26:14', 1000, 'CNY', '622202******0056', '2026-11-24',
                  'MATCHED', 'exact:rrn', '');",
            )
            .unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        let version: i64 = ledger
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert_eq!(
            page_size(&ledger),
            4096,
            "an existing ledger keeps its pages"
        );
        let (records, _) = ledger.show(Some("632711879714"), None).unwrap();
        let sides: Vec<(&str, Option<&str>)> = records
            .iter()
            .map(|r| (r.side.as_str(), r.batch_no.as_deref()))
            .collect();
        assert_eq!(sides, [("terminal", Some("000231")), ("bank", None)]);
        // The upgrade gave the run its records' range, so a re-run can remove them.
        let range: (i64, i64) = ledger
            .conn
            .query_row(
                "SELECT first_record, last_record FROM runs WHERE run_id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(range, (1, 2));
        let mut ledger = ledger;
        let tx = ledger.conn.transaction().unwrap();
        remove_run(&tx, 1).unwrap();
        let left: i64 = tx
            .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    /// Two posrecons that open a new ledger at the same moment both find
    /// it created once, with the current schema.
    #[test]
    fn a_new_ledger_opened_twice_at_once_is_created_once() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ledger.db");
            let start = std::sync::Barrier::new(2);
            std::thread::scope(|scope| {
                let opens: Vec<_> = (0..2)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            Ledger::open(&path)
                                .map(|_| ())
                                .map_err(|e| format!("{e:#}"))
                        })
                    })
                    .collect();
                for open in opens {
                    assert_eq!(open.join().unwrap(), Ok(()));
                }
            });
        }
    }

    /// `show` and `runs` only read: on a ledger left in rollback mode, with
    /// another reader in a transaction, they read and leave the mode alone.
    #[test]
    fn a_reader_never_changes_the_journal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let writer = Ledger::open(&path).unwrap();
        assert_eq!(writer.set_journal_mode("DELETE").unwrap(), "delete");
        drop(writer);
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN").unwrap();
        let runs: i64 = other
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 0);
        let mode = |ledger: &Ledger| -> String {
            ledger
                .conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap()
        };
        let reader = Ledger::open_existing(&path).unwrap();
        assert!(reader.runs(10).unwrap().is_empty());
        assert_eq!(mode(&reader), "delete");
        drop((reader, other));
        // Alone, a writer would switch it; a reader still does not.
        assert_eq!(mode(&Ledger::open_existing(&path).unwrap()), "delete");
    }

    /// A night's write takes the rollback journal only when no other
    /// connection has the ledger open; otherwise it stays in WAL mode.
    #[test]
    fn a_night_takes_the_rollback_journal_only_when_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let ledger = Ledger::open(&path).unwrap();
        let other = Connection::open(&path).unwrap();
        let runs: i64 = other
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 0);
        assert!(!ledger.use_rollback_journal());
        assert_eq!(ledger.set_journal_mode("WAL").unwrap(), "wal");
        drop(other);
        assert!(ledger.use_rollback_journal());
        assert_eq!(ledger.set_journal_mode("WAL").unwrap(), "wal");
    }

    /// A ledger another connection holds locked is told apart from other
    /// failures, so the binary can say to try again later.
    #[test]
    fn a_locked_ledger_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let writer = Ledger::open(&path).unwrap();
        writer.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let second = Connection::open(&path).unwrap();
        second.busy_timeout(std::time::Duration::ZERO).unwrap();
        let err = second
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(anyhow::Error::from)
            .unwrap_err();
        assert!(is_busy(&err.context("writing a night")));
        let other = anyhow::Error::from(rusqlite::Error::QueryReturnedNoRows);
        assert!(!is_busy(&other));
    }

    /// Removing a run for a re-run takes exactly its records, by their rowid
    /// range, or by a scan when the rowids moved (as SQLite's VACUUM may do).
    #[test]
    fn removing_a_run_takes_its_records_even_after_their_rowids_moved() {
        let row = |run: i64, trace: &str| {
            format!(
                "({run}, 'terminal', '898310058120001', '31000101', '000231', '{trace}', NULL, \
                 'SALE', '2026-11-23 11:26:14', 1000, 'CNY', '622202******0056', NULL, 'MATCHED', '')"
            )
        };
        let (_dir, mut ledger) = run_one_holding(&[row(1, "000001"), row(1, "000002")].join(", "));
        ledger
            .conn
            .execute_batch(&format!(
                "INSERT INTO runs (run_id, as_of, status, arguments, summary)
                     VALUES (2, '2026-11-24 22:00:00', 'complete', '{{}}', '{{}}'),
                            (3, '2026-11-25 22:00:00', 'complete', '{{}}', '{{}}');
                 INSERT INTO records (run_id, side, merchant_id, terminal_id, batch_no, trace_no,
                     rrn, txn_type, txn_time, amount, currency, card_no, orig_rrn, outcome,
                     explanation)
                 VALUES {}, {}, {}, {};
                 UPDATE runs SET first_record = 1, last_record = 2 WHERE run_id = 1;
                 UPDATE runs SET first_record = 3, last_record = 4 WHERE run_id = 2;
                 UPDATE runs SET first_record = 5, last_record = 6 WHERE run_id = 3;
                 -- Run 1's records move past run 3's.
                 UPDATE records SET rowid = rowid + 10 WHERE run_id = 1;",
                row(2, "000003"),
                row(2, "000004"),
                row(3, "000005"),
                row(3, "000006"),
            ))
            .unwrap();
        let runs_held = |ledger: &Ledger| -> Vec<i64> {
            let mut statement = ledger
                .conn
                .prepare("SELECT run_id FROM records ORDER BY trace_no")
                .unwrap();
            let runs = statement.query_map([], |r| r.get(0)).unwrap();
            runs.map(Result::unwrap).collect()
        };
        for (run, left) in [(1, vec![2, 2, 3, 3]), (3, vec![2, 2]), (2, vec![])] {
            let tx = ledger.conn.transaction().unwrap();
            remove_run(&tx, run).unwrap();
            tx.commit().unwrap();
            assert_eq!(runs_held(&ledger), left, "after removing run {run}");
        }
    }

    /// A ledger whose run 1 holds the terminal records `values`, rows of
    /// `(run_id, side, merchant_id, terminal_id, batch_no, trace_no, rrn,
    /// txn_type, txn_time, amount, currency, card_no, orig_rrn, outcome,
    /// explanation)`; and its folder, to keep.
    fn run_one_holding(values: &str) -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
        ledger
            .conn
            .execute_batch(&format!(
                "INSERT INTO runs (run_id, as_of, status, arguments, summary)
                     VALUES (1, '2026-11-23 22:00:00', 'complete', '{{}}', '{{}}');
                 INSERT INTO records (run_id, side, merchant_id, terminal_id, batch_no, trace_no,
                     rrn, txn_type, txn_time, amount, currency, card_no, orig_rrn, outcome,
                     explanation)
                 VALUES {values};"
            ))
            .unwrap();
        (dir, ledger)
    }

    /// What run 2 reads: the earlier records `requests` name, then what
    /// earlier runs decided about `purchases` (key, rrn, card).
    fn read_for(
        ledger: &Ledger,
        requests: &[CancellationRequest],
        purchases: &[(TxnKey, &str, &str)],
        tonight: &[TerminalRecord],
    ) -> History {
        let mut history = ledger.history(2, requests, tonight).unwrap();
        let lookups = Lookups {
            keys: purchases.iter().map(|(key, _, _)| key.clone()).collect(),
            purchases: purchases
                .iter()
                .map(|(key, rrn, card)| (key.clone(), Id::from(*rrn), crate::testkit::card(card)))
                .collect(),
            action_ids: HashSet::new(),
        };
        ledger
            .read_decided(2, lookups, tonight, &mut history)
            .unwrap();
        history
    }

    /// An earlier run's REFUND record counts against its sale, and an earlier
    /// record is what a request names, unless tonight's files hold that
    /// record again: then tonight's copy speaks for it.
    #[test]
    fn what_tonight_holds_again_is_not_taken_from_earlier_runs() {
        use crate::testkit::{fen, refund_of, request, sale_rrn};
        let (_dir, ledger) = run_one_holding(
            "(1, 'terminal', '898310058120001', '31000101', '000231', '000001',
                  '632711879714', 'SALE', '2026-11-23 10:00:00', 1000, 'CNY',
                  '622848******1234', NULL, 'MATCHED', ''),
                 (1, 'terminal', '898310058120001', '31000101', '000231', '000002',
                  NULL, 'REFUND', '2026-11-23 11:00:00', 400, 'CNY',
                  '622848******1234', '632711879714', 'MATCHED', '')",
        );
        let sale = sale_rrn("000001", "632711879714", "2026-11-23 10:00:00", 1000);
        let refund = refund_of("000002", "2026-11-23 11:00:00", 400, &sale);
        let requests = [request("REQ-1", &sale)];

        let looked_up = [(txn_key(&sale), "632711879714", "622848******1234")];
        let history = read_for(&ledger, &requests, &looked_up, &[]);
        assert_eq!(history.refunded.get(&txn_key(&sale)), Some(&fen(400)));
        let earlier: Vec<TxnKey> = history.earlier.iter().map(|e| txn_key(&e.record)).collect();
        assert_eq!(earlier, [txn_key(&sale)]);
        // Only what the night looks up is read.
        assert!(read_for(&ledger, &requests, &[], &[]).refunded.is_empty());

        let history = read_for(
            &ledger,
            &requests,
            &looked_up,
            std::slice::from_ref(&refund),
        );
        assert_eq!(history.refunded.get(&txn_key(&sale)), None);
        assert_eq!(history.earlier.len(), 1);

        let history = read_for(&ledger, &requests, &looked_up, &[sale, refund]);
        assert!(history.refunded.is_empty());
        assert!(history.earlier.is_empty());
    }

    /// An earlier run's REFUND record naming an rrn that several earlier
    /// sales share counts against each of them with its merchant and card,
    /// saying so where there are several, and against no other.
    #[test]
    fn an_earlier_refund_naming_a_shared_rrn_counts_as_tonights_would() {
        use crate::testkit::fen;
        // Sales 1 and 2 (merchant ...001, card 1234) and 3 (merchant ...002)
        // share rrn 000000000000; REFUND 4 of merchant ...002 names it, and
        // so does REFUND 5 of merchant ...001.
        let (_dir, ledger) = run_one_holding(
            "(1, 'terminal', '898310058120001', '31000101', '000231', '000001',
                  '000000000000', 'SALE', '2026-11-23 10:00:00', 1000, 'CNY',
                  '622848******1234', NULL, 'MATCHED', ''),
                 (1, 'terminal', '898310058120001', '31000101', '000231', '000002',
                  '000000000000', 'SALE', '2026-11-23 10:01:00', 1000, 'CNY',
                  '622848******1234', NULL, 'MATCHED', ''),
                 (1, 'terminal', '898310058120002', '32000101', '000100', '000001',
                  '000000000000', 'SALE', '2026-11-23 10:02:00', 8000, 'CNY',
                  '623668******2222', NULL, 'MATCHED', ''),
                 (1, 'terminal', '898310058120002', '32000101', '000100', '000004',
                  NULL, 'REFUND', '2026-11-23 11:00:00', 500, 'CNY',
                  '623668******2222', '000000000000', 'MATCHED', ''),
                 (1, 'terminal', '898310058120001', '31000101', '000231', '000005',
                  NULL, 'REFUND', '2026-11-23 11:00:00', 300, 'CNY',
                  '622848******1234', '000000000000', 'MATCHED', '')",
        );
        let key = |m: &str, t: &str, b: &str, tr: &str| -> TxnKey {
            (m.into(), t.into(), b.into(), tr.into())
        };
        let first = key("898310058120001", "31000101", "000231", "000001");
        let second = key("898310058120001", "31000101", "000231", "000002");
        let other = key("898310058120002", "32000101", "000100", "000001");

        let looked_up = [
            (first.clone(), "000000000000", "622848******1234"),
            (second.clone(), "000000000000", "622848******1234"),
            (other.clone(), "000000000000", "623668******2222"),
        ];
        let history = read_for(&ledger, &[], &looked_up, &[]);
        let refunded: std::collections::HashMap<TxnKey, Amount> = [
            (first.clone(), fen(300)),
            (second.clone(), fen(300)),
            (other.clone(), fen(500)),
        ]
        .into();
        assert_eq!(history.refunded, refunded);
        let shared: std::collections::HashMap<TxnKey, String> = [
            (first, "000000000000".to_string()),
            (second, "000000000000".to_string()),
        ]
        .into();
        assert_eq!(history.shared_rrn, shared);
    }

    /// Binding only what changed from the previous row stores what binding
    /// every parameter of every row stores, whichever fields change, including
    /// a value turning into NULL and back.
    #[test]
    fn records_bound_only_where_they_change_are_stored_whole() {
        let cards = [
            MaskedPan::mask("6222020000000056").unwrap(),
            MaskedPan::mask("4367420000007242").unwrap(),
        ];
        let time = |h: u32, s: u32| {
            NaiveDate::from_ymd_opt(2026, 11, 23)
                .unwrap()
                .and_hms_opt(h, 0, s)
                .unwrap()
        };
        let date = NaiveDate::from_ymd_opt(2026, 11, 24);
        // Each field takes its own pseudo-random walk over its values, so
        // every field changes in some row where others do not.
        let pick = |n: usize, field: u64, values: u64| {
            let mut x = (n as u64) << 8 | field;
            x = (x ^ x >> 30).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ x >> 27).wrapping_mul(0x94D0_49BB_1331_11EB);
            usize::try_from((x ^ x >> 31) % values).unwrap()
        };
        let row = |n: usize| RecordRow {
            merchant_id: ["898310058120001", "898310058120002"][pick(n, 0, 2)],
            terminal_id: ["31000101", "31000102"][pick(n, 1, 2)],
            batch_no: [Some("000231"), None][pick(n, 2, 2)],
            trace_no: ["001212", "001213"][pick(n, 3, 2)],
            rrn: [Some("632711879714"), None][pick(n, 4, 2)],
            auth_code: [Some("3M10SC"), None][pick(n, 5, 2)],
            txn_type: [TxnType::ALL[0], TxnType::ALL[1]][pick(n, 6, 2)],
            txn_time: time(9 + u32::try_from(pick(n, 7, 2)).unwrap(), 7),
            amount: Amount::from_minor([1000, -250][pick(n, 8, 2)]),
            currency: [Currency::CNY, Currency::from_code("USD").unwrap()][pick(n, 9, 2)],
            card: &cards[pick(n, 10, 2)],
            orig_trace_no: [None, Some("001212")][pick(n, 11, 2)],
            orig_rrn: [None, Some("632711879714")][pick(n, 12, 2)],
            settle_date: [date, None][pick(n, 13, 2)],
            outcome: [Outcome::Matched, Outcome::Pending][pick(n, 14, 2)],
            rule: [Some("exact:rrn"), None][pick(n, 15, 2)],
            void_trace: [None, Some("001213")][pick(n, 16, 2)],
            explanation: ["", "not settled yet"][pick(n, 17, 2)].to_string(),
            folded_bank: [None, Some(None), Some(Some("000130"))][pick(n, 18, 3)],
            carried: false,
        };
        let terminal: Vec<RecordRow<'_>> = (0..40).map(row).collect();
        let bank: Vec<RecordRow<'_>> = (40..60).map(row).collect();
        let conn = Connection::open_in_memory().unwrap();
        for migration in MIGRATIONS {
            conn.execute_batch(migration).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO runs (run_id, as_of, status, arguments, summary)
             VALUES (6, '', 'writing', '{}', '{}'), (7, '', 'writing', '{}', '{}');",
        )
        .unwrap();
        let insert = "INSERT INTO records (run_id, side, merchant_id, terminal_id, batch_no, trace_no,
                rrn, auth_code, txn_type, txn_time, amount, currency, card_no, orig_trace_no, orig_rrn,
                settle_date, outcome, rule, void_trace, explanation, bank_folded, bank_batch_no)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                ?19, ?20, ?21, ?22)";
        let mut every = conn.prepare(insert).unwrap();
        for (side, list) in [("terminal", &terminal), ("bank", &bank)] {
            for r in list {
                every
                    .execute(params![
                        6,
                        side,
                        r.merchant_id,
                        r.terminal_id,
                        r.batch_no,
                        r.trace_no,
                        r.rrn,
                        r.auth_code,
                        r.txn_type.as_str(),
                        time_text(r.txn_time),
                        r.amount.minor(),
                        r.currency.code(),
                        r.card.as_str(),
                        r.orig_trace_no,
                        r.orig_rrn,
                        r.settle_date.map(|d| d.to_string()),
                        r.outcome.as_str(),
                        r.rule,
                        r.void_trace,
                        r.explanation,
                        r.folded_bank.is_some(),
                        r.folded_bank.flatten()
                    ])
                    .unwrap();
            }
        }
        // In chunks, as the rows arrive from the thread that builds them.
        let mut changed = RecordInsert::new(conn.prepare(insert).unwrap(), 7).unwrap();
        changed.insert("terminal", &terminal[..17]).unwrap();
        changed.insert("terminal", &terminal[17..]).unwrap();
        changed.insert("bank", &bank).unwrap();
        drop(changed);

        let stored = |run_id: i64| -> Vec<Vec<rusqlite::types::Value>> {
            let mut statement = conn
                .prepare("SELECT * FROM records WHERE run_id = ?1 ORDER BY rowid")
                .unwrap();
            let rows = statement.query_map([run_id], |r| {
                (1..22).map(|i| r.get(i)).collect::<Result<Vec<_>, _>>()
            });
            rows.unwrap().map(Result::unwrap).collect()
        };
        let (every, changed) = (stored(6), stored(7));
        assert_eq!(every.len(), 60);
        assert_eq!(changed, every);
    }

    /// The ledger's time text is what chrono's `%Y-%m-%d %H:%M:%S` writes,
    /// and reads back as the same time.
    #[test]
    fn time_text_matches_chrono_and_round_trips() {
        let leap = NaiveTime::from_hms_nano_opt(23, 59, 59, 1_000_000_000).unwrap();
        let times = [
            NaiveDate::from_ymd_opt(2026, 11, 23)
                .unwrap()
                .and_hms_opt(9, 5, 7)
                .unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 31)
                .unwrap()
                .and_time(leap),
            NaiveDate::from_ymd_opt(1, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            NaiveDate::from_ymd_opt(12345, 6, 7)
                .unwrap()
                .and_hms_opt(1, 2, 3)
                .unwrap(),
        ];
        for time in times {
            let text = time_text(time);
            assert_eq!(text, time.format("%Y-%m-%d %H:%M:%S").to_string());
            assert_eq!(parse_stored_time(&text).unwrap(), time, "{text}");
        }
    }
}
