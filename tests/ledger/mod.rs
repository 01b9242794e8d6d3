//! The ledger across nights, through the real binary: carried PENDING
//! records, refunds counted across runs, actions never issued twice, inputs
//! fed twice, `--rerun`, and crashes at every write point.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{BIN, root};

const NIGHTS: &str = "tests/ledger/nights";

/// A scratch folder holding one ledger and the outputs of each night.
struct Books {
    dir: tempfile::TempDir,
}

impl Books {
    fn new() -> Books {
        Books {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("posrecon.db")
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `posrecon reconcile` for night `n` with `extra` arguments.
    fn night(&self, n: u32, out: &str, extra: &[&str], crash_at: Option<&str>) -> Output {
        let as_of = match n {
            1 => "2026-11-24 22:00",
            2 => "2026-11-25 22:00",
            _ => "2026-11-27 22:00",
        };
        let nights = root().join(NIGHTS);
        let mut command = Command::new(BIN);
        command
            .arg("reconcile")
            .arg("--terminal")
            .arg(nights.join(format!("terminal-{n}.csv")))
            .arg("--bank")
            .arg(nights.join(format!("bank-{n}.csv")))
            .args(["--as-of", as_of, "--ledger"])
            .arg(self.ledger())
            .arg("--out")
            .arg(self.out(out))
            .args(extra);
        let cancellations = nights.join(format!("cancellations-{n}.csv"));
        if cancellations.is_file() {
            command.arg("--cancellations").arg(cancellations);
        }
        command.env_remove("POSRECON_CRASH_AT");
        if let Some(point) = crash_at {
            command.env("POSRECON_CRASH_AT", point);
        }
        command.output().unwrap()
    }

    fn read(&self, out: &str, file: &str) -> String {
        fs::read_to_string(self.out(out).join(file)).unwrap()
    }

    /// Every table of the ledger, row by row, as text, with this scratch
    /// folder's path written `{dir}` so two scratch folders compare equal.
    fn dump(&self) -> String {
        let conn = rusqlite::Connection::open(self.ledger()).unwrap();
        let mut text = String::new();
        for (table, order) in [
            ("runs", "run_id"),
            ("inputs", "run_id, position"),
            (
                "records",
                "run_id, side, terminal_id, batch_no, trace_no, rrn, amount",
            ),
            ("carried", "terminal_id, batch_no, trace_no, from_run"),
            ("actions", "action_id"),
        ] {
            let mut statement = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
                .unwrap();
            let columns = statement.column_count();
            let mut rows = statement.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                let cells: Vec<String> = (0..columns)
                    .map(|i| match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(text) => {
                            String::from_utf8_lossy(text).into_owned()
                        }
                        other => format!("{other:?}"),
                    })
                    .collect();
                text.push_str(&format!("{table}: {}\n", cells.join(" | ")));
            }
        }
        text.replace(self.dir.path().to_str().unwrap(), "{dir}")
    }

    /// Every output file of a night, by name.
    fn outputs(&self, out: &str) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(self.out(out))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    /// Runs `posrecon reconcile` on one terminal and one bank file of the
    /// test's own, into this ledger and the folder `out`.
    fn reconcile(&self, batch: &Path, bank: &Path, as_of: &str, extra: &[&str]) -> Output {
        self.reconcile_crashing(batch, bank, as_of, extra, None)
    }

    /// Writes night `n`'s terminal and bank files (`t{n}.csv`, `b{n}.csv`)
    /// with these rows under their headers, and returns their paths.
    fn files(&self, n: &str, terminal: &str, bank: &str) -> (PathBuf, PathBuf) {
        let dir = self.dir.path();
        let (t, b) = (dir.join(format!("t{n}.csv")), dir.join(format!("b{n}.csv")));
        fs::write(&t, format!("{TERMINAL_HEADER}{terminal}")).unwrap();
        fs::write(&b, format!("{BANK_HEADER}{bank}")).unwrap();
        (t, b)
    }

    /// [`Books::reconcile`] into the folder `out`.
    fn reconcile_into(&self, batch: &Path, bank: &Path, as_of: &str, out: &str) -> Output {
        self.command(batch, bank, as_of, out).output().unwrap()
    }

    /// The `reconcile` command of these files into this ledger and `out`.
    fn command(&self, batch: &Path, bank: &Path, as_of: &str, out: &str) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("reconcile")
            .arg("--terminal")
            .arg(batch)
            .arg("--bank")
            .arg(bank)
            .args(["--as-of", as_of, "--ledger"])
            .arg(self.ledger())
            .arg("--out")
            .arg(self.out(out))
            .env_remove("POSRECON_CRASH_AT");
        command
    }

    /// Night `n` of these terminal and bank rows into this ledger and the
    /// folder `n`, with `--suspected-duplicates policy`; its exceptions.
    fn night_under(&self, n: &str, rows: [&str; 2], as_of: &str, policy: &str) -> (Output, String) {
        let (t, b) = self.files(n, rows[0], rows[1]);
        let output = self
            .command(&t, &b, as_of, n)
            .args(["--suspected-duplicates", policy])
            .output()
            .unwrap();
        let exceptions = self.read(n, "exceptions.csv");
        (output, exceptions)
    }

    /// How many rows the output file `file` of folder `out` holds.
    fn count(&self, out: &str, file: &str) -> usize {
        rows(&self.read(out, file)).len()
    }

    /// The refunds in folder `out`: trace and refund amount, in order.
    fn refunds(&self, out: &str) -> Vec<[String; 2]> {
        let mut refunds: Vec<[String; 2]> = rows(&self.read(out, "refund_instructions.csv"))
            .into_iter()
            .map(|r| [r[5].clone(), r[11].clone()])
            .collect();
        refunds.sort();
        refunds
    }

    /// Night 2 (header-only files, as of 2026-11-25 22:00) with these
    /// requests: checks that it refunds exactly `want` (trace, amount).
    #[track_caller]
    fn assert_next_night_refunds(&self, requests: &str, want: &[[&str; 2]]) {
        let (_, out) = self.night_with_requests("2", ["", "", requests], "2026-11-25 22:00");
        let rejected = self.read(&out, "rejected_cancellations.csv");
        let want: Vec<[String; 2]> = want.iter().map(|r| r.map(String::from)).collect();
        assert_eq!(self.refunds(&out), want, "{rejected}");
    }

    /// Night `n` of these terminal, bank and request rows (each under its
    /// header) into this ledger and the folder `out{n}`, which it returns.
    fn night_with_requests(&self, n: &str, rows: [&str; 3], as_of: &str) -> (Output, String) {
        let [terminal, bank, requests] = rows;
        let (t, b) = self.files(n, terminal, bank);
        let c = self.dir.path().join(format!("c{n}.csv"));
        fs::write(&c, format!("{REQUEST_HEADER}{requests}")).unwrap();
        let out = format!("out{n}");
        let output = self
            .command(&t, &b, as_of, &out)
            .arg("--cancellations")
            .arg(&c)
            .output()
            .unwrap();
        (output, out)
    }

    /// [`Books::reconcile`], crashing at `crash_at` when given.
    fn reconcile_crashing(
        &self,
        batch: &Path,
        bank: &Path,
        as_of: &str,
        extra: &[&str],
        crash_at: Option<&str>,
    ) -> Output {
        let mut command = self.command(batch, bank, as_of, "out");
        command.args(extra);
        if let Some(point) = crash_at {
            command.env("POSRECON_CRASH_AT", point);
        }
        command.output().unwrap()
    }

    fn show(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("show")
            .args(args)
            .arg("--ledger")
            .arg(self.ledger())
            .output()
            .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_status(output: &Output, want: i32) {
    assert_eq!(
        output.status.code(),
        Some(want),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

/// Rows of a CSV file, header excluded, as cells.
fn rows(csv: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn three_nights_carry_refund_and_rerun() {
    let books = Books::new();

    // Night 1: sale 1 settles and is partly refunded; sale 2 waits (PENDING).
    let night1 = books.night(1, "n1", &[], None);
    assert_status(&night1, 1);
    let refunds = rows(&books.read("n1", "refund_instructions.csv"));
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0][11], "60.00", "refund_amount of CR-1");
    let pending = rows(&books.read("n1", "pending.csv"));
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0][5], "000002");

    // Night 2: sale 2 settles from the carried record; CR-1 again is not
    // issued twice; CR-2 would take sale 1's refunds to 110.00 of 100.00.
    let night2 = books.night(2, "n2", &[], None);
    assert_status(&night2, 1);
    let summary: serde_json::Value =
        serde_json::from_str(&books.read("n2", "summary.json")).unwrap();
    let carried = summary["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "carried")
        .expect("the carried records are an input of night 2");
    assert_eq!(carried["rows"], 1);
    assert_eq!(carried["outcomes"]["MATCHED"]["count"], 1);
    assert_eq!(summary["run"], 2);
    assert_eq!(summary["actions"]["refund"], 0);
    assert_eq!(summary["actions"]["already_issued"], 1);
    let rejected = books.read("n2", "rejected_cancellations.csv");
    assert!(
        rejected.contains("CR-1,") && rejected.contains("already issued in run 1 as REFUND-"),
        "{rejected}"
    );
    assert!(
        rejected.contains(
            "CR-2,898310058120001,31000101,000001,700000000001,50.00,\"over-refund: refunds would total 110.00, more than the original 100.00\""
        ),
        "{rejected}"
    );
    let pending = rows(&books.read("n2", "pending.csv"));
    assert_eq!(pending.len(), 1, "only the new sale 3 waits");
    assert_eq!(pending[0][5], "000003");

    // The same night again is refused, and changes nothing.
    let before = books.dump();
    let again = books.night(2, "n2-again", &[], None);
    assert_status(&again, 3);
    assert!(
        stderr(&again).contains("was already reconciled in run 2; nothing was written"),
        "{}",
        stderr(&again)
    );
    assert!(!books.out("n2-again").exists());
    assert_eq!(books.dump(), before);

    // --rerun replaces night 2: byte-identical outputs, no duplicate actions.
    let first_outputs = books.outputs("n2");
    fs::remove_dir_all(books.out("n2")).unwrap();
    let rerun = books.night(2, "n2", &["--rerun"], None);
    assert_status(&rerun, 1);
    assert_eq!(
        books.outputs("n2"),
        first_outputs,
        "outputs differ after --rerun"
    );
    // Only the recorded arguments may differ: they say --rerun was given.
    let without_rerun_flag = |dump: String| dump.replace(r#""rerun":true"#, r#""rerun":false"#);
    assert_eq!(
        without_rerun_flag(books.dump()),
        before,
        "--rerun left the ledger as one clean run"
    );

    // Night 3: nothing new, and sale 3 is now past its settlement lag.
    let night3 = books.night(3, "n3", &[], None);
    assert_status(&night3, 1);
    let disputes = rows(&books.read("n3", "disputes.csv"));
    assert_eq!(disputes.len(), 1);
    assert_eq!(disputes[0][1], "UNSETTLED");
    assert_eq!(disputes[0][5], "000003");
    assert_eq!(rows(&books.read("n3", "pending.csv")).len(), 0);

    // Sale 1 can be looked up by rrn: its records and both decisions on it.
    let show = books.show(&["--rrn", "700000000001", "--format", "json"]);
    assert_status(&show, 0);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let kinds: Vec<&str> = shown["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    // The refund of night 1, and the over-refund rejected on night 2 (CR-1 again
    // was not issued twice, so it adds nothing).
    assert_eq!(kinds, ["REFUND", "REJECT"]);
    let by_trace = books.show(&["--terminal", "31000101", "--trace", "000002"]);
    assert_status(&by_trace, 0);
    let table = stdout(&by_trace);
    assert!(
        table.contains("PENDING") && table.contains("MATCHED"),
        "{table}"
    );
    assert_status(&books.show(&["--rrn", "799999999999"]), 1);

    // A run's rows are written with SQLite's foreign-key check off, for
    // speed: every row must still name a run the ledger holds.
    let conn = rusqlite::Connection::open(books.ledger()).unwrap();
    let mut check = conn.prepare("PRAGMA foreign_key_check").unwrap();
    let dangling: Vec<String> = check
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(dangling.is_empty(), "rows of no run in {dangling:?}");
}

#[test]
fn the_same_file_under_another_name_is_refused() {
    let books = Books::new();
    assert_status(&books.night(1, "n1", &[], None), 1);
    let renamed = books.dir.path().join("bank-copy.csv");
    fs::copy(root().join(NIGHTS).join("bank-1.csv"), &renamed).unwrap();
    let nights = root().join(NIGHTS);
    let output = Command::new(BIN)
        .arg("reconcile")
        .arg("--terminal")
        .arg(nights.join("terminal-2.csv"))
        .arg("--bank")
        .arg(&renamed)
        .args(["--as-of", "2026-11-25 22:00", "--ledger"])
        .arg(books.ledger())
        .arg("--out")
        .arg(books.out("n2"))
        .output()
        .unwrap();
    assert_status(&output, 3);
    let message = stderr(&output);
    assert!(
        message.contains("bank-copy.csv: was already reconciled in run 1 under the name")
            && message.contains("bank-1.csv (same content)"),
        "{message}"
    );
    assert!(!books.out("n2").exists());
}

/// Every point where the run writes something durable.
const CRASH_POINTS: &[&str] = &[
    "before-ledger",
    "after-ledger",
    "after-rename:exceptions.csv",
    "after-rename:rejected_cancellations.csv",
    "after-rename:summary.json",
    "after-outputs",
];

#[test]
fn a_crash_at_any_write_point_then_a_rerun_equals_one_clean_run() {
    let clean = Books::new();
    assert_status(&clean.night(1, "out", &[], None), 1);
    assert_status(&clean.night(2, "out2", &[], None), 1);
    let clean_ledger = clean.dump();

    for point in CRASH_POINTS {
        let books = Books::new();
        assert_status(&books.night(1, "out", &[], None), 1);
        let crashed = books.night(2, "out2", &[], Some(point));
        assert!(
            crashed.status.code() != Some(1) && !crashed.status.success(),
            "{point}: the injected crash did not happen: {}",
            stderr(&crashed)
        );
        // A new night cannot start on top of an unfinished one...
        if *point != "before-ledger" {
            let blocked = books.night(3, "out3", &[], None);
            assert_status(&blocked, 3);
            assert!(stderr(&blocked).contains("did not finish writing its outputs"));
        }
        // ...but the same night again finishes it, without --rerun.
        assert_status(&books.night(2, "out2", &[], None), 1);
        assert_eq!(books.dump(), clean_ledger, "{point}: the ledger differs");
        let normalise = |books: &Books| -> Vec<(String, String)> {
            books
                .outputs("out2")
                .into_iter()
                .map(|(name, bytes)| {
                    let text = String::from_utf8(bytes).unwrap();
                    (
                        name,
                        text.replace(books.dir.path().to_str().unwrap(), "{dir}"),
                    )
                })
                .collect()
        };
        assert_eq!(
            normalise(&books),
            normalise(&clean),
            "{point}: the outputs differ"
        );
        let leftovers: Vec<_> = fs::read_dir(books.out("out2"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".tmp-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{point}: temp files left: {leftovers:?}"
        );
    }
}

#[test]
fn the_ledger_holds_no_full_card_number() {
    let books = Books::new();
    assert_status(&books.night(1, "n1", &[], None), 1);
    assert_status(&books.night(2, "n2", &[], None), 1);
    let pans = ["6228480012345671", "4000123456789017", "6228480087654320"];
    let fixtures: String = ["terminal-1.csv", "terminal-2.csv"]
        .iter()
        .map(|f| fs::read_to_string(root().join(NIGHTS).join(f)).unwrap())
        .collect();
    for pan in pans {
        assert!(fixtures.contains(pan), "the fixtures carry {pan}");
    }
    let mut scanned = 0;
    for entry in fs::read_dir(books.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = fs::read(&path).unwrap();
            scanned += bytes.len();
            for pan in pans {
                assert!(
                    !bytes.windows(pan.len()).any(|w| w == pan.as_bytes()),
                    "{} holds the full card number {pan}",
                    path.display()
                );
            }
        }
    }
    assert!(scanned > 0);
}

/// Rows set aside by `--max-rejects` are no records: the ledger holds the
/// good rows and the count in the run's summary; correcting the file and
/// re-running the night with `--rerun` replaces the run, the rows included.
#[test]
fn rows_set_aside_are_counted_not_recorded_and_come_back_with_rerun() {
    let books = Books::new();
    let case = root().join("tests/cases/max-rejects-sets-bad-rows-aside");
    let batch = books.out("batch.csv");
    let bank = books.out("bank.csv");
    fs::copy(case.join("batch.csv"), &batch).unwrap();
    fs::copy(case.join("bank.csv"), &bank).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["--max-rejects", "7"];
        args.extend_from_slice(extra);
        books.reconcile(&batch, &bank, "2026-11-24 08:00", &args)
    };
    let ledger_state = || {
        let conn = rusqlite::Connection::open(books.ledger()).unwrap();
        let records: Vec<(i64, String, i64)> = conn
            // A MATCHED settlement may be kept on its terminal record's row.
            .prepare(
                "SELECT run_id, side, COUNT(*) FROM (
                     SELECT run_id, side FROM records
                     UNION ALL SELECT run_id, 'bank' FROM records WHERE bank_folded = 1)
                 GROUP BY run_id, side ORDER BY run_id, side",
            )
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let summary: String = conn
            .query_row("SELECT summary FROM runs", [], |row| row.get(0))
            .unwrap();
        let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
        (
            records,
            summary["outcomes"]["REJECTED_ROW"]["count"].clone(),
        )
    };

    assert_status(&run(&[]), 1);
    assert_eq!(
        ledger_state(),
        (
            vec![(1, "bank".into(), 3), (1, "terminal".into(), 3)],
            serde_json::json!(7)
        )
    );

    // The accountant corrects the terminal rows (the bank row stays bad).
    let text = fs::read_to_string(&batch).unwrap();
    let corrected: Vec<&str> = text.lines().take(6).collect();
    fs::write(
        &batch,
        corrected.join("\n").replace("12.3O", "12.30") + "\n",
    )
    .unwrap();
    assert_status(&run(&[]), 3);
    assert_status(&run(&["--rerun"]), 1);
    assert_eq!(
        ledger_state(),
        (
            vec![(1, "bank".into(), 3), (1, "terminal".into(), 5)],
            serde_json::json!(1)
        )
    );
    assert_eq!(books.read("out", "rejected_rows.csv").lines().count(), 2);
}

/// A MATCHED settlement kept on its terminal record's row still shows as its
/// own record, with its own batch, and every settlement read is accounted for.
#[test]
fn a_matched_pair_shows_both_records() {
    let books = Books::new();
    let sample = root().join("sample-data");
    let output = Command::new(BIN)
        .arg("reconcile")
        .arg("--terminal")
        .arg(sample.join("terminal-2026-11-23.csv"))
        .arg("--terminal")
        .arg(sample.join("terminal-2026-11-24.csv"))
        .arg("--bank")
        .arg(sample.join("bank-2026-11-24.csv"))
        .args(["--as-of", "2026-11-24 22:00", "--ledger"])
        .arg(books.ledger())
        .arg("--out")
        .arg(books.out("out"))
        .output()
        .unwrap();
    assert_status(&output, 1);

    let records = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let show = books.show(&all);
        assert_status(&show, 0);
        let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        shown["records"].as_array().unwrap().clone()
    };
    let pick = |r: &serde_json::Value| {
        [
            "side",
            "batch_no",
            "trace_no",
            "rrn",
            "outcome",
            "rule",
            "settle_date",
            "amount",
        ]
        .map(|k| r[k].as_str().unwrap_or("").to_string())
    };
    let by_rrn: Vec<[String; 8]> = records(&["--rrn", "632709392331"])
        .iter()
        .map(pick)
        .collect();
    let want = |side: &str| {
        [
            side,
            "000309",
            "015530",
            "632709392331",
            "MATCHED",
            "exact:rrn",
            "2026-11-24",
            "10.29",
        ]
        .map(String::from)
    };
    assert_eq!(by_rrn, [want("terminal"), want("bank")]);
    let by_trace: Vec<[String; 8]> = records(&[
        "--terminal",
        "11000301",
        "--trace",
        "015530",
        "--batch",
        "000309",
    ])
    .iter()
    .map(pick)
    .collect();
    assert_eq!(by_trace, by_rrn);

    let conn = rusqlite::Connection::open(books.ledger()).unwrap();
    let bank_records: i64 = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM records WHERE side = 'bank')
                  + (SELECT COUNT(*) FROM records WHERE bank_folded = 1)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(bank_records, 130);
    let folded: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM records WHERE bank_folded = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    // The 124 MATCHED pairs, but for those whose two sides differ.
    assert!((100..=124).contains(&folded), "{folded}");
}

/// When every file of the night was corrected, no hash names the run that
/// `--rerun` redoes: the night's as-of does. `--rerun` then replaces that
/// run rather than adding a second copy of the night's records, and with
/// another as-of it is refused, never silently ignored.
#[test]
fn rerun_with_every_file_corrected_replaces_the_run_of_that_night() {
    let books = Books::new();
    let nights = root().join(NIGHTS);
    let batch = books.out("batch.csv");
    let bank = books.out("bank.csv");
    fs::copy(nights.join("terminal-1.csv"), &batch).unwrap();
    fs::copy(nights.join("bank-1.csv"), &bank).unwrap();
    let run = |as_of: &str, extra: &[&str]| books.reconcile(&batch, &bank, as_of, extra);
    let runs = || {
        let conn = rusqlite::Connection::open(books.ledger()).unwrap();
        let runs: Vec<(i64, String)> = conn
            .prepare("SELECT run_id, as_of FROM runs ORDER BY run_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let records: i64 = conn
            .query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))
            .unwrap();
        (runs, records)
    };
    let night = "2026-11-24 22:00";
    let nothing_to_redo = run(night, &["--rerun"]);
    assert_status(&nothing_to_redo, 3);
    assert!(
        stderr(&nothing_to_redo)
            .contains("--rerun redoes the latest run, but the ledger holds no run yet"),
        "{}",
        stderr(&nothing_to_redo)
    );
    let first = run(night, &[]);
    assert!(
        matches!(first.status.code(), Some(0 | 1)),
        "{}",
        stderr(&first)
    );
    let (runs_before, records_before) = runs();
    assert_eq!(runs_before, [(1, "2026-11-24 22:00:00".to_string())]);

    // The accountant corrects a row in each file: neither hash is known now.
    let correct = |path: &PathBuf, from: &str, to: &str| {
        let text = fs::read_to_string(path).unwrap();
        assert!(text.contains(from));
        fs::write(path, text.replacen(from, to, 1)).unwrap();
    };
    correct(&batch, ",100.00,", ",100.10,");
    correct(&bank, ",100.00,0.00,100.00,", ",100.10,0.00,100.10,");

    let elsewhen = run("2026-11-25 22:00", &["--rerun"]);
    assert_status(&elsewhen, 3);
    assert!(
        stderr(&elsewhen).contains(
            "--rerun redoes the latest run, run 1 (as of 2026-11-24 22:00:00), but none of \
             these files was read by it and this run is as of 2026-11-25 22:00:00"
        ),
        "{}",
        stderr(&elsewhen)
    );
    assert_eq!(
        runs(),
        (runs_before.clone(), records_before),
        "nothing written"
    );

    let rerun = run(night, &["--rerun"]);
    assert!(
        matches!(rerun.status.code(), Some(0 | 1)),
        "{}",
        stderr(&rerun)
    );
    assert_eq!(
        runs(),
        (runs_before, records_before),
        "run 1 replaced, its records not doubled"
    );
    let listed = Command::new(BIN)
        .arg("runs")
        .arg("--ledger")
        .arg(books.ledger())
        .output()
        .unwrap();
    assert_status(&listed, 0);
    let listed = stdout(&listed);
    assert!(listed.contains("2026-11-24 22:00"), "{listed}");
    assert!(!listed.contains("2026-11-25"), "{listed}");
    // The bank file now says 100.10 where the terminal said 100.00 before:
    // the night as corrected is the one recorded.
    let bank_amounts: Vec<i64> = {
        let conn = rusqlite::Connection::open(books.ledger()).unwrap();
        // Amounts are stored in fen.
        // A MATCHED settlement may be kept on its terminal record's row.
        conn.prepare(
            "SELECT amount FROM (
                 SELECT side, amount FROM records
                 UNION ALL SELECT 'bank', amount FROM records WHERE bank_folded = 1)
             WHERE side = 'bank' AND amount / 100 = 100",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    assert_eq!(bank_amounts, [10010]);
}

/// A PENDING record is carried to the next night unless that night's file
/// holds it again (a terminal that sent its batch once more): then it is
/// counted once, from the file.
#[test]
fn a_pending_record_sent_again_is_not_also_carried() {
    let books = Books::new();
    assert_status(&books.night(1, "n1", &[], None), 1);
    let pending = rows(&books.read("n1", "pending.csv"));
    assert_eq!(pending.len(), 1);

    let nights = root().join(NIGHTS);
    let first = fs::read_to_string(nights.join("terminal-1.csv")).unwrap();
    let sent_again = first
        .lines()
        .find(|line| line.contains(",000002,"))
        .expect("night 1's PENDING sale");
    let mut second = fs::read_to_string(nights.join("terminal-2.csv")).unwrap();
    second.push_str(sent_again);
    second.push('\n');
    let batch = books.out("terminal-2-again.csv");
    fs::write(&batch, &second).unwrap();

    let night2 = books.reconcile(&batch, &nights.join("bank-2.csv"), "2026-11-25 22:00", &[]);
    assert!(
        matches!(night2.status.code(), Some(0 | 1)),
        "{}",
        stderr(&night2)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&books.read("out", "summary.json")).unwrap();
    let inputs = summary["inputs"].as_array().unwrap();
    assert!(inputs.iter().all(|i| i["kind"] != "carried"), "{inputs:#?}");
    let file_rows = second.lines().count() as u64 - 1;
    assert_eq!(inputs[0]["rows"], file_rows);
}

/// The arguments a run records name the output options it was given, and
/// only those, so a run without them records what it always did.
#[test]
fn a_run_records_the_output_options_it_was_given() {
    let books = Books::new();
    assert_status(&books.night(1, "n1", &[], None), 1);
    let options = ["--write-matches", "--xlsx", "--csv-bom"];
    assert_status(&books.night(2, "n2", &options, None), 1);
    let conn = rusqlite::Connection::open(books.ledger()).unwrap();
    let arguments = |run: i64| -> serde_json::Value {
        let text: String = conn
            .query_row("SELECT arguments FROM runs WHERE run_id = ?1", [run], |r| {
                r.get(0)
            })
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    for name in ["write_matches", "xlsx", "csv_bom"] {
        assert_eq!(arguments(1).get(name), None, "{name}");
        assert_eq!(arguments(2)[name], true, "{name}");
    }
}

const TERMINAL_HEADER: &str = "merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,currency,card_no,orig_trace_no,orig_rrn\n";
const BANK_HEADER: &str = "settle_date,merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,fee,net_amount,currency,card_no\n";
const REQUEST_HEADER: &str = "request_ref,merchant_id,merchant_name,terminal_id,trace_no,rrn,txn_time,amount,refund_amount,reason,customer_consent\n";

/// The bank's line settling terminal line `line` on 2026-11-24, without a fee.
fn settled(line: &str) -> String {
    let f: Vec<&str> = line.trim_end().split(',').collect();
    format!(
        "2026-11-24,{},{},{},{},{},{},{},{},{},0.00,{},CNY,{}\n",
        f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[8], f[10]
    )
}

/// Night 1 (`terminal`, `bank`, as of 2026-11-24 22:00), then night 2 with
/// header-only files and the cancellation requests `requests` (as of the
/// next evening), into one ledger. Returns night 2's output folder.
fn two_nights(books: &Books, terminal: &str, bank: &str, requests: &str) -> PathBuf {
    let dir = books.dir.path();
    fs::write(dir.join("t1.csv"), format!("{TERMINAL_HEADER}{terminal}")).unwrap();
    fs::write(dir.join("b1.csv"), format!("{BANK_HEADER}{bank}")).unwrap();
    fs::write(dir.join("t2.csv"), TERMINAL_HEADER).unwrap();
    fs::write(dir.join("b2.csv"), BANK_HEADER).unwrap();
    fs::write(dir.join("c2.csv"), format!("{REQUEST_HEADER}{requests}")).unwrap();
    for (night, as_of, extra) in [
        ("1", "2026-11-24 22:00", &[][..]),
        ("2", "2026-11-25 22:00", &["--cancellations", "c2.csv"][..]),
    ] {
        let output = Command::new(BIN)
            .current_dir(dir)
            .args(["reconcile", "--terminal"])
            .arg(format!("t{night}.csv"))
            .arg("--bank")
            .arg(format!("b{night}.csv"))
            .args(["--as-of", as_of, "--ledger", "posrecon.db", "--out"])
            .arg(format!("out{night}"))
            .args(extra)
            .env_remove("POSRECON_CRASH_AT")
            .output()
            .unwrap();
        assert!(
            output.status.code().is_some_and(|c| c < 2),
            "{}",
            stderr(&output)
        );
    }
    dir.join("out2")
}

/// A REFUND record of an earlier night naming an rrn that two of that
/// night's sales share (same merchant, same card) counts against both, and a
/// later night's request on either says why it is an over-refund.
#[test]
fn an_earlier_refund_naming_a_shared_rrn_is_counted_and_named() {
    let sale = |trace: &str, time: &str| {
        format!(
            "898310058120001,10000101,000231,{trace},632711000001,A1B2C3,SALE,2026-11-23 {time},30.00,CNY,622848******1234,,\n"
        )
    };
    let refund = "898310058120001,10000102,000040,000011,632711000099,A1B2C9,REFUND,2026-11-23 12:00:30,30.00,CNY,622848******1234,,632711000001\n";
    let (first, second) = (sale("000001", "09:00:00"), sale("000002", "09:10:00"));
    let books = Books::new();
    let out = two_nights(
        &books,
        &format!("{first}{second}{refund}"),
        &format!("{}{}{}", settled(&first), settled(&second), settled(refund)),
        "CR-9,898310058120001,,10000101,000002,,2026-11-23 09:10:00,30.00,10.00,customer asked,yes\n",
    );
    let rejected = fs::read_to_string(out.join("rejected_cancellations.csv")).unwrap();
    assert_eq!(
        rows(&rejected)[0][6],
        "over-refund: refunds would total 40.00, more than the original 30.00 \
         (rrn 632711000001 is shared: REFUND records naming it count against each sale of this merchant and card with it)"
    );
}

/// The refund of a second settlement gives back a charge the sale never
/// owed: on a later night, as on its own, a full refund of the sale is
/// still honoured (found in review: the ledger counted it).
#[test]
fn an_earlier_duplicate_settlements_refund_does_not_count_toward_the_sale() {
    let sale = "898310058120001,10000101,000231,000001,632711000001,A1B2C3,SALE,2026-11-23 09:00:00,50.00,CNY,622848******1234,,\n";
    let books = Books::new();
    let out = two_nights(
        &books,
        sale,
        &format!("{}{}", settled(sale), settled(sale)),
        "CR-1,898310058120001,,10000101,000001,,2026-11-23 09:00:00,50.00,,customer asked,yes\n",
    );
    let night_one =
        fs::read_to_string(books.dir.path().join("out1/refund_instructions.csv")).unwrap();
    assert_eq!(rows(&night_one)[0][15], "DUPLICATE_SETTLEMENT");
    let refunds = fs::read_to_string(out.join("refund_instructions.csv")).unwrap();
    let refunds = rows(&refunds);
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(
        (refunds[0][11].as_str(), refunds[0][15].as_str()),
        ("50.00", "CR-1")
    );
}

/// A night is written whatever else has the ledger open: with nothing, it
/// goes through SQLite's rollback journal; with a reader holding a read
/// transaction (a report, a backup), through the write-ahead log, and the
/// reader is not disturbed. Both leave the same ledger, which rests in WAL
/// mode between nights.
#[test]
fn a_night_is_written_beside_a_reader_as_without_one() {
    let (alone, beside) = (Books::new(), Books::new());
    for books in [&alone, &beside] {
        assert_status(&books.night(1, "n1", &[], None), 1);
    }
    assert_status(&alone.night(2, "n2", &[], None), 1);
    let reader = rusqlite::Connection::open(beside.ledger()).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let runs_seen = |reader: &rusqlite::Connection| -> i64 {
        reader
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(runs_seen(&reader), 1);
    assert_status(&beside.night(2, "n2", &[], None), 1);
    assert_eq!(runs_seen(&reader), 1, "the reader keeps its snapshot");
    reader.execute_batch("COMMIT").unwrap();
    assert_eq!(runs_seen(&reader), 2);
    drop(reader);
    assert_eq!(alone.dump(), beside.dump());
    // The outputs name the ledger, in each scratch folder.
    let outputs = |books: &Books| -> Vec<(String, String)> {
        let dir = books.dir.path().to_str().unwrap();
        books
            .outputs("n2")
            .into_iter()
            .map(|(name, bytes)| {
                (
                    name,
                    String::from_utf8(bytes).unwrap().replace(dir, "{dir}"),
                )
            })
            .collect()
    };
    assert_eq!(outputs(&alone), outputs(&beside));
    for books in [&alone, &beside] {
        let conn = rusqlite::Connection::open(books.ledger()).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

/// One `reconcile` at a time per ledger: while another holds the ledger's
/// lock, a second is refused (exit 4) without writing anything, and runs
/// once the lock is free.
#[test]
fn a_reconcile_beside_another_on_the_same_ledger_is_refused() {
    let books = Books::new();
    let lock_path = PathBuf::from(format!("{}.lock", books.ledger().display()));
    let lock = fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    let refused = books.night(1, "n1", &[], None);
    assert_status(&refused, 4);
    assert!(
        stderr(&refused).contains("is in use by another posrecon reconcile"),
        "{}",
        stderr(&refused)
    );
    assert!(!books.out("n1").join("summary.json").exists());
    assert!(!books.ledger().exists(), "no ledger was created");
    drop(lock);
    assert_status(&books.night(1, "n1", &[], None), 1);
}

/// A quiet night (header-only files) that crashed after its ledger write is
/// finished by the same quiet night again, as a night with rows is; it does
/// not leave the ledger refusing every later night.
#[test]
fn a_quiet_night_that_crashed_is_finished_by_running_it_again() {
    let (clean, crashed) = (Books::new(), Books::new());
    let files = tempfile::tempdir().unwrap();
    let (terminal, bank) = (files.path().join("t.csv"), files.path().join("b.csv"));
    fs::write(&terminal, TERMINAL_HEADER).unwrap();
    fs::write(&bank, BANK_HEADER).unwrap();
    let quiet = |books: &Books, crash_at: Option<&str>| -> Output {
        books.reconcile_crashing(&terminal, &bank, "2026-11-24 22:00", &[], crash_at)
    };
    assert_status(&quiet(&clean, None), 0);
    let crash = quiet(&crashed, Some("after-ledger"));
    assert!(!crash.status.success(), "the injected crash did not happen");
    assert_status(&quiet(&crashed, None), 0);
    assert_eq!(crashed.dump(), clean.dump());
    // A quiet night as of another time is a new night, not the same one.
    assert_status(&crashed.night(1, "n1", &[], None), 1);
}

/// A night redone is judged as of its own as-of, whenever it is redone: a
/// void issued before the cutoff stays that void, and is not turned into a
/// refund of the same sale (cancelling it twice) because the clock has
/// passed the cutoff since. An `--as-of` given must be the night's own.
#[test]
fn a_night_redone_later_keeps_its_own_as_of_and_actions() {
    let books = Books::new();
    let dir = books.dir.path();
    let sale = "898310058120001,10000101,000231,000001,632711000001,A1B2C3,SALE,\
                2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let request = "R1,898310058120001,,10000101,000001,632711000001,2026-11-23 10:00:00,\
                   100.00,,wrong amount keyed,yes\n";
    fs::write(dir.join("t.csv"), format!("{TERMINAL_HEADER}{sale}")).unwrap();
    fs::write(dir.join("b.csv"), BANK_HEADER).unwrap();
    fs::write(dir.join("c.csv"), format!("{REQUEST_HEADER}{request}")).unwrap();
    let run = |out: &str, extra: &[&str]| {
        Command::new(BIN)
            .current_dir(dir)
            .args(["reconcile", "--terminal", "t.csv", "--bank", "b.csv"])
            .args([
                "--cancellations",
                "c.csv",
                "--ledger",
                "posrecon.db",
                "--out",
                out,
            ])
            .args(extra)
            .env_remove("POSRECON_CRASH_AT")
            .output()
            .unwrap()
    };
    let first = run("first", &["--as-of", "2026-11-23 20:00"]);
    assert_status(&first, 1);
    let voids = books.read("first", "void_requests.csv");
    assert!(voids.contains("wrong amount keyed"), "{voids}");
    let ledger = books.dump();

    // Redone without --as-of, days after the cutoff: the same night.
    let redone = run("redone", &["--rerun"]);
    assert_status(&redone, 1);
    assert_eq!(books.outputs("redone"), books.outputs("first"));
    // Only the recorded arguments differ: --rerun, and the output folder.
    let as_first = |dump: String| {
        dump.replace(r#""rerun":true"#, r#""rerun":false"#)
            .replace(r#""out":"redone""#, r#""out":"first""#)
    };
    assert_eq!(as_first(books.dump()), ledger);

    // Redone with another --as-of: refused, nothing written.
    let elsewhen = run("elsewhen", &["--rerun", "--as-of", "2026-11-24 08:00"]);
    assert_status(&elsewhen, 3);
    assert!(
        stderr(&elsewhen).contains(
            "this redoes run 1, which was as of 2026-11-23 20:00:00, but --as-of is \
             2026-11-24 08:00:00; nothing was written"
        ),
        "{}",
        stderr(&elsewhen)
    );
    assert!(!books.out("elsewhen").exists());
    assert_eq!(as_first(books.dump()), ledger);
}

/// A quiet night's header-only files name no run, so its as-of does: the
/// same quiet night again is refused, not recorded as a second run that
/// reports the first one's actions as issued already and drops them from
/// the outputs. `--rerun` redoes it.
#[test]
fn the_same_quiet_night_again_is_refused_unless_rerun() {
    let books = Books::new();
    let dir = books.dir.path();
    let sale = "898310058120001,10000101,000231,000001,632711000001,A1B2C3,SALE,\
                2026-11-24 10:00:00,100.00,CNY,622848******1234,,\n";
    let request = "R1,898310058120001,,10000101,000001,632711000001,2026-11-24 10:00:00,\
                   100.00,5.00,partial return,yes\n";
    fs::write(dir.join("t1.csv"), format!("{TERMINAL_HEADER}{sale}")).unwrap();
    fs::write(
        dir.join("b1.csv"),
        format!("{BANK_HEADER}{}", settled(sale)),
    )
    .unwrap();
    assert_status(
        &books.reconcile(
            &dir.join("t1.csv"),
            &dir.join("b1.csv"),
            "2026-11-24 22:00",
            &[],
        ),
        0,
    );
    fs::write(dir.join("t2.csv"), TERMINAL_HEADER).unwrap();
    fs::write(dir.join("b2.csv"), BANK_HEADER).unwrap();
    fs::write(dir.join("c2.csv"), format!("{REQUEST_HEADER}{request}")).unwrap();
    let quiet = |extra: &[&str]| {
        let mut args = vec!["--cancellations", "c2.csv"];
        args.extend_from_slice(extra);
        Command::new(BIN)
            .current_dir(dir)
            .args(["reconcile", "--terminal", "t2.csv", "--bank", "b2.csv"])
            .args([
                "--as-of",
                "2026-11-25 22:00",
                "--ledger",
                "posrecon.db",
                "--out",
                "quiet",
            ])
            .args(args)
            .env_remove("POSRECON_CRASH_AT")
            .output()
            .unwrap()
    };
    assert_status(&quiet(&[]), 1);
    let refunds = books.read("quiet", "refund_instructions.csv");
    assert!(refunds.contains("partial return"), "{refunds}");
    let (ledger, outputs) = (books.dump(), books.outputs("quiet"));

    let again = quiet(&[]);
    assert_status(&again, 3);
    assert!(
        stderr(&again).contains(
            "run 2 is as of the same time (2026-11-25 22:00:00), and these files hold no \
             row: this is that night again; nothing was written. To redo it, add --rerun"
        ),
        "{}",
        stderr(&again)
    );
    assert_eq!(books.dump(), ledger);
    assert_eq!(books.outputs("quiet"), outputs);

    assert_status(&quiet(&["--rerun"]), 1);
    assert_eq!(books.outputs("quiet"), outputs);
    assert_eq!(
        books.dump().replace(r#""rerun":true"#, r#""rerun":false"#),
        ledger
    );
}

/// A SALE voided on the terminal, its settlement not yet in: the SALE and
/// its VOID go on to the next night together, so that a settlement coming
/// then is VOIDED_BUT_SETTLED and refunded, as in one run of both files,
/// not BANK_ONLY. Unsettled past the lag, they stay VOIDED and go no further.
#[test]
fn a_voided_sale_settled_a_night_later_is_refunded() {
    let sale = "898310058120001,10000101,000232,000010,633012000010,A1B2C3,SALE,\
                2026-11-24 09:15:02,128.00,CNY,622848******5671,,\n";
    let void = "898310058120001,10000101,000232,000011,633012000011,A1B2C3,VOID,\
                2026-11-24 09:20:00,128.00,CNY,622848******5671,000010,\n";
    let night = |books: &Books, n: &str, terminal: &str, bank: &str, as_of: &str| {
        let (t, b) = books.files(n, terminal, bank);
        let out = format!("out{n}");
        let output = books.reconcile_into(&t, &b, as_of, &out);
        assert!(
            output.status.code().is_some_and(|c| c < 2),
            "{}",
            stderr(&output)
        );
        (
            books.read(&out, "exceptions.csv"),
            books.read(&out, "refund_instructions.csv"),
        )
    };
    let settled_late = Books::new();
    night(
        &settled_late,
        "1",
        &format!("{sale}{void}"),
        "",
        "2026-11-24 22:00",
    );
    let (exceptions, refunds) = night(&settled_late, "2", "", &settled(sale), "2026-11-25 22:00");
    assert!(exceptions.contains("VOIDED_BUT_SETTLED"), "{exceptions}");
    assert!(!exceptions.contains("BANK_ONLY"), "{exceptions}");
    assert_eq!(rows(&refunds).len(), 1, "{refunds}");
    assert!(refunds.contains("128.00"), "{refunds}");

    let never_settled = Books::new();
    night(
        &never_settled,
        "1",
        &format!("{sale}{void}"),
        "",
        "2026-11-24 22:00",
    );
    let (exceptions, _) = night(&never_settled, "2", "", "", "2026-11-25 22:00");
    assert!(!exceptions.contains("UNSETTLED"), "{exceptions}");
    let open = |books: &Books| -> i64 {
        rusqlite::Connection::open(books.ledger())
            .unwrap()
            .query_row(
                "SELECT count(*) FROM carried WHERE cleared_run IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(
        open(&never_settled),
        0,
        "a voided sale past its lag is carried no further"
    );
}

/// A repeated sale not yet settled is reported SUSPECTED_DUPLICATE and goes
/// on to the next night like a PENDING record, so that its settlement then
/// meets it instead of coming out BANK_ONLY with a dispute about a sale the
/// terminal captured; when it was cancelled by a void, VOIDED_BUT_SETTLED and
/// refunded.
#[test]
fn an_unsettled_suspected_duplicate_meets_its_late_settlement() {
    let first = "898310058120001,10000101,000232,000020,633012000020,A1B2C3,SALE,\
                 2026-11-24 09:15:02,36.00,CNY,622848******5671,,\n";
    let repeat = "898310058120001,10000101,000232,000021,633012000021,A1B2C4,SALE,\
                  2026-11-24 09:16:00,36.00,CNY,622848******5671,,\n";
    for policy in ["flag", "cancel"] {
        let books = Books::new();
        // Neither settled yet (a settled one would close the batch, and the
        // repeat could no longer be voided).
        let both = format!("{first}{repeat}");
        let (one, exceptions) = books.night_under("1", [&both, ""], "2026-11-24 22:00", policy);
        assert_status(&one, 1);
        assert!(exceptions.contains("SUSPECTED_DUPLICATE"), "{exceptions}");
        let voids = books.count("1", "void_requests.csv");
        assert_eq!(voids, usize::from(policy == "cancel"), "{policy}");

        let both = format!("{}{}", settled(first), settled(repeat));
        let (two, exceptions) = books.night_under("2", ["", &both], "2026-11-25 22:00", policy);
        assert_status(&two, 1);
        assert!(!exceptions.contains("BANK_ONLY"), "{policy}: {exceptions}");
        assert_eq!(books.count("2", "disputes.csv"), 0, "{policy}");
        let refunds = books.count("2", "refund_instructions.csv");
        if policy == "cancel" {
            assert!(exceptions.contains("VOIDED_BUT_SETTLED"), "{exceptions}");
            assert_eq!(refunds, 1);
        } else {
            // Reported again with the sale it repeats, as one run of both
            // nights' files would; no refund, as before.
            assert!(exceptions.contains("SUSPECTED_DUPLICATE"), "{exceptions}");
            assert_eq!(refunds, 0);
        }
    }
}

/// A SUSPECTED_DUPLICATE that goes on without the sale it repeats (carried,
/// or brought back by a late settlement) stays one, as in one run of every
/// night's files: with `cancel`, its late settlement is refunded; past its
/// lag, it is no UNSETTLED dispute.
#[test]
fn a_suspected_duplicate_stays_one_without_the_sale_it_repeats() {
    let first = "898310058120001,10000101,000231,000060,633012000060,A1B2C3,SALE,\
                 2026-11-23 10:00:00,50.00,CNY,622848******1234,,\n";
    let repeat = "898310058120001,10000101,000231,000061,633012000061,A1B2C4,SALE,\
                  2026-11-23 10:01:00,50.00,CNY,622848******1234,,\n";
    let both = format!("{first}{repeat}");

    // Not settled by its lag: no refund then; settled a night later, it is.
    let late = Books::new();
    let one = [both.as_str(), &settled(first)];
    late.night_under("1", one, "2026-11-24 22:00", "cancel");
    assert_eq!(late.refunds("1"), Vec::<[String; 2]>::new());
    let (_, exceptions) =
        late.night_under("2", ["", &settled(repeat)], "2026-11-25 22:00", "cancel");
    assert!(exceptions.contains("SUSPECTED_DUPLICATE"), "{exceptions}");
    assert!(exceptions.contains("60 s earlier (run 1)"), "{exceptions}");
    assert_eq!(late.refunds("2"), [["000061", "50.00"].map(String::from)]);
    assert_eq!(late.count("2", "disputes.csv"), 0);

    // Carried inside its lag, then past it unsettled: still only reported.
    let carried = Books::new();
    let (_, exceptions) = carried.night_under("1", one, "2026-11-23 22:00", "flag");
    assert!(exceptions.contains("SUSPECTED_DUPLICATE"), "{exceptions}");
    let (_, exceptions) = carried.night_under("2", ["", ""], "2026-11-24 22:00", "flag");
    assert!(exceptions.contains("SUSPECTED_DUPLICATE"), "{exceptions}");
    assert!(!exceptions.contains("UNSETTLED"), "{exceptions}");
    assert_eq!(carried.count("2", "disputes.csv"), 0);
}

/// The earlier verdict stands only while the sale repeated stays behind:
/// carried along and voided the next night, that sale is no original any
/// more, and the repeat is MATCHED as in one run, not refunded.
#[test]
fn a_carried_duplicate_of_a_sale_voided_later_is_no_duplicate() {
    let first = "898310058120001,10000101,000231,000070,633012000070,A1B2C3,SALE,\
                 2026-11-23 10:00:00,50.00,CNY,622848******1234,,\n";
    let repeat = "898310058120001,10000101,000231,000071,633012000071,A1B2C4,SALE,\
                  2026-11-23 10:01:00,50.00,CNY,622848******1234,,\n";
    let void = "898310058120001,10000101,000231,000072,633012000072,A1B2C5,VOID,\
                2026-11-23 22:30:00,50.00,CNY,622848******1234,000070,\n";
    let books = Books::new();
    let both = format!("{first}{repeat}");
    let (_, exceptions) = books.night_under("1", [&both, ""], "2026-11-23 22:00", "flag");
    assert!(exceptions.contains("SUSPECTED_DUPLICATE"), "{exceptions}");
    let night_two = [void, &settled(repeat)];
    let (two, exceptions) = books.night_under("2", night_two, "2026-11-24 22:00", "cancel");
    assert!(!exceptions.contains("SUSPECTED_DUPLICATE"), "{exceptions}");
    assert_eq!(books.count("2", "refund_instructions.csv"), 0);
    assert_status(&two, 0);
}

/// Refunds on a later night are measured against the sale's own settlement:
/// not another batch's with the same trace, and for a settled
/// SUSPECTED_DUPLICATE (whose bank row is MATCHED) too.
#[test]
fn a_later_refund_finds_the_sales_own_settlement() {
    let sale = "898310058120001,10000101,000231,000001,633012000081,AAA111,SALE,\
                2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let other_batch = "898310058120001,10000101,000232,000001,633012000082,BBB222,SALE,\
                       2026-11-24 09:00:00,10.00,CNY,622848******5678,,\n";
    let first = "898310058120001,10000101,000231,000090,633012000090,A1B2C3,SALE,\
                 2026-11-23 11:00:00,50.00,CNY,622848******4321,,\n";
    let repeat = "898310058120001,10000101,000231,000091,633012000091,A1B2C4,SALE,\
                  2026-11-23 11:01:00,50.00,CNY,622848******4321,,\n";
    let terminal = format!("{sale}{other_batch}{first}{repeat}");
    // The other batch's settlement differs from its record (no auth code),
    // so the ledger keeps it as a row of its own.
    let bank = [sale, other_batch, first, repeat]
        .map(settled)
        .join("")
        .replace(",BBB222,", ",,");
    let books = Books::new();
    let (one, _) = books.night_with_requests("1", [&terminal, &bank, ""], "2026-11-24 22:00");
    assert_status(&one, 1);
    let requests = "CR-1,898310058120001,,10000101,000001,633012000081,2026-11-23 10:00:00,\
                    100.00,,customer return,yes\n\
                    CR-2,898310058120001,,10000101,000091,633012000091,2026-11-23 11:01:00,\
                    50.00,,double swipe,yes\n";
    books.assert_next_night_refunds(requests, &[["000001", "100.00"], ["000091", "50.00"]]);
}

/// Which earlier record a late settlement brings back does not depend on
/// the order of the bank rows: another settlement with the same trace (of
/// another batch) ahead of the sale's own does not hide the sale.
#[test]
fn what_a_late_settlement_brings_back_does_not_depend_on_row_order() {
    let sale = "898310058120001,10000101,000231,000001,633012000001,AAA111,SALE,\
                2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let void = "898310058120001,10000101,000231,000002,633012000002,AAA112,VOID,\
                2026-11-23 10:05:00,100.00,CNY,622848******1234,000001,\n";
    let stranger = "2026-11-25,898310058120001,10000101,000232,000001,633012000099,BBB222,SALE,\
                    2026-11-24 09:00:00,10.00,0.00,10.00,CNY,622848******5678\n";
    let own = settled(sale).replace("2026-11-24,", "2026-11-25,");
    for bank in [format!("{stranger}{own}"), format!("{own}{stranger}")] {
        let books = Books::new();
        let (one, _) =
            books.night_with_requests("1", [&format!("{sale}{void}"), "", ""], "2026-11-24 22:00");
        assert_status(&one, 0);
        let (_, out) = books.night_with_requests("2", ["", &bank, ""], "2026-11-25 22:00");
        assert!(
            books
                .read(&out, "exceptions.csv")
                .contains("VOIDED_BUT_SETTLED")
        );
        assert_eq!(
            books.refunds(&out),
            [["000001", "100.00"].map(String::from)]
        );
    }
}

/// The settled amount a later refund is measured against is the sale's own
/// settlement, in its direction: a bank REFUND row that carries the sale's
/// rrn is not it.
#[test]
fn a_later_refund_is_measured_against_a_settlement_in_its_direction() {
    let sale = "898310058120001,10000101,000231,000001,633012000001,AAA111,SALE,\
                2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let refund = "898310058120001,10000101,000231,000005,633012000005,AAA115,REFUND,\
                  2026-11-23 10:30:00,30.00,CNY,622848******1234,,633012000001\n";
    // The bank's REFUND row carries the sale's rrn, so only the tolerant
    // pass pairs it with the REFUND record.
    let bank_refund = "2026-11-24,898310058120001,10000101,000231,000005,633012000001,AAA115,\
                       REFUND,2026-11-23 10:30:00,30.00,0.00,30.00,CNY,622848******1234\n";
    let books = Books::new();
    let terminal = format!("{sale}{refund}");
    let bank = format!("{}{bank_refund}", settled(sale));
    let (one, _) = books.night_with_requests("1", [&terminal, &bank, ""], "2026-11-24 22:00");
    assert!(one.status.code().is_some_and(|c| c < 2), "{}", stderr(&one));
    let request = "CR-1,898310058120001,,10000101,000001,633012000001,2026-11-23 10:00:00,\
                   100.00,70.00,customer return,yes\n";
    books.assert_next_night_refunds(request, &[["000001", "70.00"]]);
}

/// A pair the tolerant pass made (another rrn, 0.05 less, within the
/// tolerance) is refunded on a later night what the bank settled, found as
/// the tolerant pair of its terminal and card.
#[test]
fn a_later_refund_of_a_tolerant_pair_stops_at_what_the_bank_settled() {
    let sale = "898310058120001,10000101,000231,000001,633012000001,AAA111,SALE,\
                2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let bank = settled(sale)
        .replace(",633012000001,", ",633012000777,")
        .replace(",100.00,0.00,100.00,", ",99.95,0.00,99.95,");
    let books = Books::new();
    let (t1, b1) = books.files("1", sale, &bank);
    let mut one = books.command(&t1, &b1, "2026-11-24 22:00", "1");
    let one = one.args(["--amount-tolerance", "0.05"]).output().unwrap();
    assert_status(&one, 0);
    let request = "CR-1,898310058120001,,10000101,000001,633012000001,2026-11-23 10:00:00,\
                   100.00,,customer return,yes\n";
    books.assert_next_night_refunds(request, &[["000001", "99.95"]]);
}

/// A late settlement that the tolerant pass gave to another sale of the same
/// card (carried, within ten minutes) still brings back the record it names
/// exactly, which then takes it: the other sale is not refunded money the
/// cardholder never paid.
#[test]
fn a_late_settlement_is_not_lost_to_the_tolerant_pass() {
    let named = "898310058120001,10000101,000231,000001,633012000001,AAA111,SALE,\
                 2026-11-23 22:55:00,100.00,CNY,622848******1234,,\n";
    let other = "898310058120001,10000101,000231,000002,633012000002,AAA112,SALE,\
                 2026-11-23 23:03:00,100.00,CNY,622848******1234,,\n";
    let books = Books::new();
    let (one, _) = books.night_with_requests(
        "1",
        [&format!("{named}{other}"), "", ""],
        "2026-11-24 22:00",
    );
    assert_status(&one, 1);
    let late = settled(named).replace("2026-11-24,", "2026-11-25,");
    let request = "CR-9,898310058120001,,10000101,000002,633012000002,2026-11-23 23:03:00,\
                   100.00,,customer return,yes\n";
    let (_, out) = books.night_with_requests("2", ["", &late, request], "2026-11-25 22:00");
    let exceptions = books.read(&out, "exceptions.csv");
    assert!(
        exceptions.contains("UNSETTLED,terminal,898310058120001,10000101,000231,000002"),
        "{exceptions}"
    );
    assert_eq!(
        books.count(&out, "refund_instructions.csv"),
        0,
        "{exceptions}"
    );
}

/// A carried duplicate whose verdict a later night overturns (the sale it
/// repeated was voided) carries the new verdict on: a third night does not
/// bring the old one back.
#[test]
fn a_carried_duplicate_carries_tonights_verdict() {
    let first = "898310058120001,10000101,000231,000001,633012000001,AAA111,SALE,\
                 2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let repeat = "898310058120001,10000101,000231,000002,633012000002,AAA112,SALE,\
                  2026-11-23 10:01:00,100.00,CNY,622848******1234,,\n";
    let void = "898310058120001,10000101,000231,000003,633012000003,AAA113,VOID,\
                2026-11-23 10:05:00,100.00,CNY,622848******1234,000001,\n";
    let books = Books::new();
    let nights = [
        (
            "1",
            format!("{first}{repeat}"),
            String::new(),
            "2026-11-23 22:00",
        ),
        ("2", void.to_string(), settled(first), "2026-11-24 22:00"),
        ("3", String::new(), settled(repeat), "2026-11-25 22:00"),
    ];
    for (n, terminal, bank, as_of) in &nights {
        let (t, b) = books.files(n, terminal, bank);
        let mut command = books.command(&t, &b, as_of, n);
        let output = command
            .args(["--settlement-lag-days", "2"])
            .output()
            .unwrap();
        assert!(
            output.status.code().is_some_and(|c| c < 2),
            "{}",
            stderr(&output)
        );
    }
    assert!(
        books
            .read("1", "exceptions.csv")
            .contains("SUSPECTED_DUPLICATE")
    );
    let exceptions = books.read("3", "exceptions.csv");
    assert_eq!(rows(&exceptions).len(), 0, "{exceptions}");
}

/// An exact pair whose settlement the ledger cannot single out (two sales
/// share a placeholder rrn) counts as settled for what was captured, as a
/// MATCHED pair is: a later night's request is refunded, not sent to be
/// refunded by hand.
#[test]
fn a_later_refund_of_a_matched_pair_with_a_shared_rrn_goes_ahead() {
    let sales = "898310058120001,10000101,000001,000001,000000000000,AAA111,SALE,\
                 2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n\
                 898310058120001,10000101,000001,000002,000000000000,AAA112,SALE,\
                 2026-11-23 11:00:00,50.00,CNY,622848******5678,,\n";
    // A few seconds off each record, so that the ledger keeps them as rows.
    let bank = sales
        .lines()
        .map(settled)
        .collect::<String>()
        .replace("10:00:00", "10:00:05")
        .replace("11:00:00", "11:00:05");
    let books = Books::new();
    let (one, _) = books.night_with_requests("1", [sales, &bank, ""], "2026-11-24 22:00");
    assert!(one.status.code().is_some_and(|c| c < 2), "{}", stderr(&one));
    let request = "CR-1,898310058120001,,10000101,000001,,2026-11-23 10:00:00,\
                   100.00,,customer return,yes\n";
    books.assert_next_night_refunds(request, &[["000001", "100.00"]]);
}

/// A sale the bank settled for less (AMOUNT_MISMATCH) is refunded on a later
/// night up to what the bank settled, which the ledger gives: the cardholder
/// paid that, and the difference is the dispute's.
#[test]
fn a_later_refund_of_an_amount_mismatch_stops_at_what_the_bank_settled() {
    let sale = "898310058120001,10000101,000232,000030,633012000030,A1B2C3,SALE,\
                2026-11-24 09:15:02,100.00,CNY,622848******5671,,\n";
    let bank = settled(sale).replace(",100.00,0.00,100.00,", ",10.00,0.00,10.00,");
    let books = Books::new();
    let (one, out) = books.night_with_requests("1", [sale, &bank, ""], "2026-11-24 22:00");
    assert_status(&one, 1);
    assert!(
        books
            .read(&out, "exceptions.csv")
            .contains("AMOUNT_MISMATCH")
    );

    let requests = "R1,898310058120001,,10000101,000030,633012000030,2026-11-24 09:15:02,100.00,,return,yes\n\
                    R2,898310058120001,,10000101,000030,633012000030,2026-11-24 09:15:02,100.00,0.01,return,yes\n";
    let (two, out) = books.night_with_requests("2", ["", "", requests], "2026-11-25 22:00");
    assert_status(&two, 1);
    let refunds = rows(&books.read(&out, "refund_instructions.csv"));
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0][11], "10.00", "{refunds:?}");
    let rejected = books.read(&out, "rejected_cancellations.csv");
    assert!(
        rejected.contains("more than the 10.00 the bank settled (100.00 captured)"),
        "{rejected}"
    );
}

/// A settlement that comes after the lag brings back the record an earlier
/// night left UNSETTLED (or VOIDED, with its VOID), so that the two pair as
/// in one run of every night's files, not as a BANK_ONLY dispute. While it is
/// UNSETTLED, a request to refund it is rejected: the cardholder may never
/// have been charged; once it has settled, it is refunded.
#[test]
fn a_settlement_after_the_lag_meets_the_record_left_unsettled() {
    let sale = "898310058120001,10000101,000232,000040,633012000040,A1B2C3,SALE,\
                2026-11-24 09:15:02,30.00,CNY,622848******5671,,\n";
    let voided = "898310058120001,10000101,000232,000041,633012000041,A1B2C4,SALE,\
                  2026-11-24 10:00:00,40.00,CNY,622848******7777,,\n";
    let void = "898310058120001,10000101,000232,000042,633012000042,A1B2C4,VOID,\
                2026-11-24 10:05:00,40.00,CNY,622848******7777,000041,\n";
    let request = |reference: &str| {
        format!(
            "{reference},898310058120001,,10000101,000040,633012000040,2026-11-24 09:15:02,\
             30.00,,return,yes\n"
        )
    };
    let books = Books::new();
    let all = format!("{sale}{voided}{void}");
    let (one, _) = books.night_with_requests("1", [&all, "", ""], "2026-11-24 22:00");
    assert_status(&one, 0);

    let (two, out) = books.night_with_requests("2", ["", "", &request("R1")], "2026-11-25 22:00");
    assert_status(&two, 1);
    assert!(books.read(&out, "exceptions.csv").contains("UNSETTLED"));
    let rejected = books.read(&out, "rejected_cancellations.csv");
    assert!(
        rejected.contains("not settled by business day 2026-11-25"),
        "{rejected}"
    );
    assert!(rows(&books.read(&out, "refund_instructions.csv")).is_empty());

    let bank = format!("{}{}", settled(sale), settled(voided));
    let (three, out) =
        books.night_with_requests("3", ["", &bank, &request("R2")], "2026-11-26 22:00");
    assert_status(&three, 1);
    let exceptions = books.read(&out, "exceptions.csv");
    assert!(!exceptions.contains("BANK_ONLY"), "{exceptions}");
    assert!(exceptions.contains("VOIDED_BUT_SETTLED"), "{exceptions}");
    assert!(rows(&books.read(&out, "disputes.csv")).is_empty());
    assert_eq!(
        books.refunds(&out),
        [["000040", "30.00"], ["000041", "40.00"]].map(|r| r.map(String::from))
    );
}

/// What comes back for a late settlement is the latest copy of the record (a
/// later night's file corrected its amount), and only for a settlement in its
/// direction: a bank REFUND that carries a sale's rrn brings nothing back.
#[test]
fn a_late_settlement_brings_back_the_latest_copy_in_its_direction() {
    let sale = "898310058120001,10000101,000232,000050,633012000050,A1B2C3,SALE,\
                2026-11-24 09:15:02,20.00,CNY,622848******5671,,\n";
    let corrected = sale.replace(",20.00,", ",25.00,");
    let books = Books::new();
    let (one, _) = books.night_with_requests("1", [sale, "", ""], "2026-11-24 22:00");
    assert_status(&one, 0);
    let (two, out) = books.night_with_requests("2", [&corrected, "", ""], "2026-11-25 22:00");
    assert_status(&two, 1);
    assert!(books.read(&out, "exceptions.csv").contains("UNSETTLED"));

    let refund = settled(&corrected).replace(",SALE,", ",REFUND,");
    let (three, out) = books.night_with_requests("3", ["", &refund, ""], "2026-11-26 22:00");
    assert_status(&three, 1);
    let exceptions = books.read(&out, "exceptions.csv");
    assert!(exceptions.contains("BANK_ONLY"), "{exceptions}");
    assert!(!exceptions.contains("UNSETTLED"), "{exceptions}");

    let (four, out) =
        books.night_with_requests("4", ["", &settled(&corrected), ""], "2026-11-27 22:00");
    assert_status(&four, 0);
    assert_eq!(rows(&books.read(&out, "exceptions.csv")).len(), 0);
}

/// Night 1 of `sale` alone as of `first` (all reconciled), then header-only
/// files as of `then`; the second run's output.
fn a_sale_then_header_only(books: &Books, sale: &str, first: &str, then: &str) -> Output {
    let (t1, b1) = books.files("1", sale, "");
    assert_status(&books.reconcile_into(&t1, &b1, first, "one"), 0);
    let (tq, bq) = books.files("q", "", "");
    books.reconcile_into(&tq, &bq, then, "quiet")
}

/// The records carried from the ledger are an input like the files: the
/// summary table gives their amount, so that amounts in add up to amounts out.
#[test]
fn the_summary_table_gives_the_carried_amount() {
    let books = Books::new();
    let sale = "898310058120001,10000101,000232,000003,633012000003,A1B2C5,SALE,\
                2026-11-24 09:15:02,30.00,CNY,622848******9999,,\n";
    let two = a_sale_then_header_only(&books, sale, "2026-11-24 22:00", "2026-11-25 22:00");
    assert_status(&two, 1);
    let table = stdout(&two);
    let carried = table
        .lines()
        .find(|line| line.contains("(carried from the ledger)"))
        .unwrap_or_else(|| panic!("no carried row in\n{table}"));
    let cells: Vec<&str> = carried.split('|').map(str::trim).collect();
    assert_eq!(cells[2..5], ["carried", "1", "30.00"], "{carried}");
}

/// A sale an earlier run's VOID cancels is voided as if by a VOID record:
/// settled anyway, the void did not take and the cardholder paid, so it is
/// VOIDED_BUT_SETTLED and refunded (a later request for the same money is an
/// over-refund); never settled, it is VOIDED once the lag has passed, not
/// UNSETTLED with a dispute about posrecon's own void.
#[test]
fn a_sale_an_earlier_run_voided_is_voided_on_later_nights() {
    let sale = "898310058120001,10000101,000231,000001,632711000001,A1B2C3,SALE,\
                2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let void_request = "R1,898310058120001,,10000101,000001,632711000001,2026-11-23 10:00:00,\
                        100.00,,wrong amount keyed,yes\n";
    let refund_request = "R9,898310058120001,,10000101,000001,632711000001,2026-11-23 10:00:00,\
                          100.00,,customer asks money back,yes\n";
    let run = |books: &Books, n: &str, rows: [&str; 3], as_of: &str, status: i32| {
        let (output, out) = books.night_with_requests(n, rows, as_of);
        assert_status(&output, status);
        out
    };

    // The bank settles the sale anyway.
    let settled_anyway = Books::new();
    let one = run(
        &settled_anyway,
        "1",
        [sale, "", void_request],
        "2026-11-23 20:00",
        1,
    );
    let voids = settled_anyway.read(&one, "void_requests.csv");
    let void_id = rows(&voids)[0][0].clone();
    let two = run(
        &settled_anyway,
        "2",
        ["", &settled(sale), refund_request],
        "2026-11-25 02:30",
        1,
    );
    let exceptions = settled_anyway.read(&two, "exceptions.csv");
    assert!(
        exceptions.contains(&format!(
            "voided by {void_id} in run 1, yet the bank settled 100.00 on 2026-11-24"
        )),
        "{exceptions}"
    );
    assert!(
        exceptions.contains(&format!("settled although {void_id} in run 1 voided it")),
        "{exceptions}"
    );
    let refunds = rows(&settled_anyway.read(&two, "refund_instructions.csv"));
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert!(
        refunds[0].contains(&"VOIDED_BUT_SETTLED".to_string()),
        "{refunds:?}"
    );
    let rejected = settled_anyway.read(&two, "rejected_cancellations.csv");
    assert!(rejected.contains("over-refund"), "{rejected}");

    // The void goes through: the bank never settles the sale.
    let voided = Books::new();
    run(
        &voided,
        "1",
        [sale, "", void_request],
        "2026-11-23 20:00",
        1,
    );
    // Nothing to act on: the sale is VOIDED, and exit status 0.
    let two = run(&voided, "2", ["", "", ""], "2026-11-25 22:00", 0);
    let exceptions = voided.read(&two, "exceptions.csv");
    assert!(!exceptions.contains("UNSETTLED"), "{exceptions}");
    assert_eq!(rows(&voided.read(&two, "disputes.csv")).len(), 0);
}

/// Header-only files as of the time of a run that read rows are not that
/// night again (its files would name it): they are recorded as a run of
/// their own, and the earlier run's records and carried sale stay.
#[test]
fn header_only_files_as_of_a_night_with_rows_are_a_run_of_their_own() {
    let books = Books::new();
    let sale = "898310058120001,10000101,000231,000001,632711000001,A1B2C3,SALE,\
                2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let quiet = a_sale_then_header_only(&books, sale, "2026-11-23 20:00", "2026-11-23 20:00");
    assert_status(&quiet, 0);
    let conn = rusqlite::Connection::open(books.ledger()).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM runs"), 2);
    assert_eq!(count("SELECT count(*) FROM records WHERE run_id = 1"), 1);
    assert_eq!(
        count("SELECT count(*) FROM carried WHERE cleared_run IS NULL"),
        1
    );
}

/// A quiet night that crashed under cron, run again as cron runs it (no
/// `--as-of`), is not taken for the unfinished night (another quiet night
/// may hold other requests): the refusal names the `--as-of` that finishes it.
#[test]
fn a_quiet_night_that_crashed_names_the_as_of_that_finishes_it() {
    let (clean, crashed) = (Books::new(), Books::new());
    let files = tempfile::tempdir().unwrap();
    let (terminal, bank) = (files.path().join("t.csv"), files.path().join("b.csv"));
    fs::write(&terminal, TERMINAL_HEADER).unwrap();
    fs::write(&bank, BANK_HEADER).unwrap();
    let night = "2026-11-24 22:00";
    assert_status(
        &clean.reconcile_crashing(&terminal, &bank, night, &[], None),
        0,
    );
    let crash = crashed.reconcile_crashing(&terminal, &bank, night, &[], Some("after-ledger"));
    assert!(!crash.status.success(), "the injected crash did not happen");
    let under_cron = Command::new(BIN)
        .args(["reconcile", "--terminal"])
        .arg(&terminal)
        .arg("--bank")
        .arg(&bank)
        .arg("--ledger")
        .arg(crashed.ledger())
        .arg("--out")
        .arg(crashed.out("out"))
        .env_remove("POSRECON_CRASH_AT")
        .output()
        .unwrap();
    assert_status(&under_cron, 3);
    assert!(
        stderr(&under_cron).contains(
            "run 1 (as of 2026-11-24 22:00:00) did not finish writing its outputs; run it \
             again with the same files and --as-of \"2026-11-24 22:00:00\" first"
        ),
        "{}",
        stderr(&under_cron)
    );
    assert_status(
        &crashed.reconcile_crashing(&terminal, &bank, night, &[], None),
        0,
    );
    assert_eq!(crashed.dump(), clean.dump());
}

/// Void and ring it up again: a sale an earlier run's VOID cancels is no
/// original of a duplicate, so the re-rung sale keeps its own settlement and
/// nothing is refunded (the cardholder paid once).
#[test]
fn a_sale_voided_by_an_earlier_run_and_rung_again_is_no_duplicate() {
    let books = Books::new();
    let first = "898310058120001,10000101,000231,000001,632711000001,A1B2C3,SALE,\
                 2026-11-23 10:00:00,100.00,CNY,622848******1234,,\n";
    let again = "898310058120001,10000101,000231,000002,632711000002,A1B2C4,SALE,\
                 2026-11-23 10:01:00,100.00,CNY,622848******1234,,\n";
    let void_request = "R1,898310058120001,,10000101,000001,632711000001,2026-11-23 10:00:00,\
                        100.00,,customer re-rings,yes\n";
    let run = |n: &str, terminal: &str, bank: &str, requests: &str, as_of: &str| {
        books
            .night_with_requests(n, [terminal, bank, requests], as_of)
            .0
    };
    assert_status(&run("1", first, "", void_request, "2026-11-23 10:00:40"), 1);
    let two = run("2", again, "", "", "2026-11-23 20:00");
    assert_status(&two, 0);
    let three = run("3", "", &settled(again), "", "2026-11-24 20:00");
    assert_status(&three, 0);
    assert_eq!(
        rows(&books.read("out3", "refund_instructions.csv")).len(),
        0
    );
    assert_eq!(rows(&books.read("out3", "exceptions.csv")).len(), 0);
}
