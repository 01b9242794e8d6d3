//! The Excel workbook (`--xlsx`), read back with calamine: its sheets, their
//! headers, typed cells, and that every sheet holds exactly its CSV file.

use std::fs;
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};

use crate::support::{BIN, reconcile_requests_in, root, run_case, sample_day};

const CASE: &str = "sample-day-xlsx";

fn open(path: &Path) -> Xlsx<std::io::BufReader<fs::File>> {
    open_workbook(path).unwrap()
}

/// A CSV file's header and rows, its byte-order mark removed.
fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).unwrap();
    parse_csv(text.strip_prefix('\u{feff}').unwrap())
}

/// The header and rows of CSV text.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// A cell of `column` as the CSV file spells it.
fn as_csv_text(cell: &Data, column: &str) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f:.2}"),
        Data::DateTime(dt) => {
            let time = dt.as_datetime().unwrap();
            if column == "settle_date" {
                time.date().to_string()
            } else {
                time.to_string()
            }
        }
        other => panic!("unexpected cell {other:?}"),
    }
}

#[test]
fn workbook_has_the_summary_and_one_sheet_per_csv() {
    let run = run_case(CASE);
    assert_eq!(run.output.status.code(), Some(1));
    let out = run.out_dir.path().join("out");
    let mut book = open(&out.join("report.xlsx"));
    let files = [
        "exceptions",
        "pending",
        "matches",
        "void_requests",
        "refund_instructions",
        "disputes",
        "rejected_cancellations",
        "rejected_rows",
    ];
    let mut want = vec!["Summary".to_string()];
    want.extend(files.iter().map(|f| f.to_string()));
    assert_eq!(book.sheet_names(), want);

    for file in files {
        let csv = read_csv(&out.join(format!("{file}.csv")));
        let sheet = book.worksheet_range(file).unwrap();
        let cells: Vec<Vec<String>> = sheet
            .rows()
            .map(|row| {
                let mut cells: Vec<String> = row
                    .iter()
                    .zip(&csv[0])
                    .map(|(cell, column)| as_csv_text(cell, column))
                    .collect();
                cells.resize(csv[0].len(), String::new());
                cells
            })
            .collect();
        assert_eq!(cells[0], csv[0], "{file}: header row");
        assert_eq!(cells, csv, "{file}: every cell as in {file}.csv");
    }
}

#[test]
fn amounts_are_numbers_ids_are_text_times_are_dates() {
    let run = run_case(CASE);
    let mut book = open(&run.out_dir.path().join("out/report.xlsx"));
    let exceptions = book.worksheet_range("exceptions").unwrap();
    let header: Vec<String> = exceptions
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    // The AMOUNT_MISMATCH pair: the terminal captured 10.00, the bank settled 100.00.
    let mismatch = exceptions
        .rows()
        .find(|row| row[column("outcome")] == Data::String("AMOUNT_MISMATCH".into()))
        .unwrap();
    assert_eq!(mismatch[column("amount")], Data::Float(10.0));
    assert_eq!(mismatch[column("bank_amount")], Data::Float(100.0));
    let batch = &mismatch[column("batch_no")];
    assert!(
        matches!(batch, Data::String(s) if s.len() == 6 && s.starts_with('0')),
        "batch_no is text with its leading zeros: {batch:?}"
    );
    let card = &mismatch[column("card_no")];
    assert!(
        matches!(card, Data::String(s) if s.contains("******")),
        "card_no is the masked text: {card:?}"
    );
    assert!(matches!(mismatch[column("txn_time")], Data::DateTime(_)));

    let summary = book.worksheet_range("Summary").unwrap();
    let total = summary
        .rows()
        .find(|row| row[0] == Data::String("total".into()))
        .unwrap();
    // The quick start's control totals: 251 terminal records for 20246.29.
    assert_eq!(total[1], Data::Float(251.0));
    assert_eq!(total[2], Data::Float(20246.29));
    assert_eq!(total[3], Data::Float(130.0));
    assert_eq!(total[4], Data::Float(12965.62));
    let as_of = summary
        .rows()
        .find(|row| row[0] == Data::String("as of".into()))
        .unwrap();
    match &as_of[1] {
        Data::DateTime(dt) => {
            assert_eq!(dt.as_datetime().unwrap().to_string(), "2026-11-24 22:00:00")
        }
        other => panic!("as of is not a date: {other:?}"),
    }
}

#[test]
fn csv_files_start_with_a_byte_order_mark_only_when_asked() {
    let with = run_case(CASE);
    let without = run_case("sample-day");
    for file in [
        "exceptions.csv",
        "void_requests.csv",
        "rejected_cancellations.csv",
    ] {
        let with = fs::read(with.out_dir.path().join("out").join(file)).unwrap();
        let without = fs::read(without.out_dir.path().join("out").join(file)).unwrap();
        assert_eq!(&with[..3], "\u{feff}".as_bytes(), "{file}");
        assert_eq!(
            &with[3..],
            &without[..],
            "{file}: the same bytes after the mark"
        );
    }
}

#[test]
fn a_run_that_fails_writes_no_workbook() {
    let run = run_case("reconcile-bad-input-writes-nothing");
    assert_eq!(run.output.status.code(), Some(3));
    assert!(!run.out_dir.path().join("out/report.xlsx").exists());

    // Killed before the outputs are renamed into place: no workbook either.
    let dir = tempfile::tempdir().unwrap();
    let args = fs::read_to_string(root().join("tests/cases").join(CASE).join("args")).unwrap();
    let out = dir.path().join("out");
    let args: Vec<String> = args
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.replace("{out}", out.to_str().unwrap()))
        .collect();
    let output = std::process::Command::new(BIN)
        .args(&args)
        .current_dir(root())
        .env("POSRECON_CRASH_AT", "before-ledger")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!out.join("report.xlsx").exists());
    assert!(!out.join("exceptions.csv").exists());
}

/// A run without `--xlsx` and `--write-matches` removes the `report.xlsx` and
/// `matches.csv` an earlier run left in the same folder (an accountant would
/// open last night's workbook), and leaves every other file alone.
#[test]
fn a_run_removes_the_outputs_it_does_not_write_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let night = |extra: &[&str]| {
        let output = sample_day("2026-11-24 22:00", &out)
            .args(["--fail-on", "never"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    };
    let listing = || {
        let mut names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    night(&["--xlsx", "--write-matches"]);
    // The list of names a run may remove is exactly what a run can write.
    let mut every = posrecon::write::OUTPUT_FILES.to_vec();
    every.sort_unstable();
    assert_eq!(listing(), every);
    fs::write(out.join("notes.txt"), "mine").unwrap();
    fs::write(out.join("report-copy.xlsx"), "mine").unwrap();

    night(&[]);
    assert!(!out.join("report.xlsx").exists());
    assert!(!out.join("matches.csv").exists());
    assert!(out.join("exceptions.csv").exists());
    assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    assert_eq!(
        fs::read_to_string(out.join("report-copy.xlsx")).unwrap(),
        "mine"
    );
    assert_eq!(
        listing(),
        [
            "disputes.csv",
            "exceptions.csv",
            "notes.txt",
            "pending.csv",
            "refund_instructions.csv",
            "rejected_cancellations.csv",
            "rejected_rows.csv",
            "report-copy.xlsx",
            "summary.json",
            "void_requests.csv",
        ]
    );
}

/// Killed while tonight's files are being renamed into place, a run leaves no
/// `summary.json` and never last night's workbook beside tonight's CSV files;
/// with every file in place, `summary.json` is tonight's.
#[test]
fn a_run_killed_while_renaming_leaves_no_summary_and_no_stale_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let night = |as_of: &str, crash_at: Option<&str>| {
        let mut command = sample_day(as_of, &out);
        command.arg("--xlsx").env_remove("POSRECON_CRASH_AT");
        if let Some(point) = crash_at {
            command.env("POSRECON_CRASH_AT", point);
        }
        command.output().unwrap()
    };
    assert!(night("2026-11-24 22:00", None).status.code().is_some());
    let last_nights_workbook = fs::read(out.join("report.xlsx")).unwrap();

    for point in ["after-rename:exceptions.csv", "after-rename:report.xlsx"] {
        let killed = night("2026-11-25 22:00", Some(point));
        assert!(!killed.status.success(), "{point}");
        assert!(!out.join("summary.json").exists(), "{point}");
        if let Ok(workbook) = fs::read(out.join("report.xlsx")) {
            assert_ne!(workbook, last_nights_workbook, "{point}");
        }
    }
    let killed = night("2026-11-25 22:00", Some("after-rename:summary.json"));
    assert!(!killed.status.success());
    let summary = fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("2026-11-25 22:00"), "{summary}");
}

/// A text longer than an Excel cell holds (a request's reason may be
/// anything) is cut in the workbook, and says so, instead of failing the
/// night; the CSV file holds it whole.
#[test]
fn a_text_longer_than_a_cell_holds_is_cut_in_the_workbook_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let sale = "898310058120001,10000101,000231,000001,633012000001,A1B2C3,SALE,\
                2026-11-23 09:15:02,88.00,CNY,622848******5671,,";
    fs::write(
        path("t.csv"),
        format!(
            "merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,\
             currency,card_no,orig_trace_no,orig_rrn\n{sale}\n"
        ),
    )
    .unwrap();
    fs::write(
        path("b.csv"),
        "settle_date,merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,\
         txn_time,amount,fee,net_amount,currency,card_no\n\
         2026-11-24,898310058120001,10000101,000231,000001,633012000001,A1B2C3,SALE,\
         2026-11-23 09:15:02,88.00,0.33,87.67,CNY,622848******5671\n",
    )
    .unwrap();
    let reason = "x".repeat(33_000);
    fs::write(
        path("c.csv"),
        format!(
            "request_ref,merchant_id,merchant_name,terminal_id,trace_no,rrn,txn_time,amount,\
             refund_amount,reason,customer_consent\n\
             CR-1,898310058120001,,10000101,000001,633012000001,2026-11-23 09:15:02,88.00,\
             5.00,{reason},yes\n"
        ),
    )
    .unwrap();
    reconcile_requests_in(dir.path(), "2026-11-25 22:00", &["--xlsx"], 1);
    let csv = parse_csv(&fs::read_to_string(path("out/refund_instructions.csv")).unwrap());
    let column = csv[0].iter().position(|c| c == "reason").unwrap();
    assert_eq!(csv[1][column], reason);
    let mut book = open(&path("out/report.xlsx"));
    let sheet = book.worksheet_range("refund_instructions").unwrap();
    let Data::String(cut) = &sheet.rows().nth(1).unwrap()[column] else {
        panic!("the reason is not a text cell");
    };
    assert_eq!(cut.chars().count(), 32_767);
    assert!(cut.starts_with("xxxx"), "{}", &cut[..10]);
    assert!(
        cut.ends_with(" [cut at Excel's 32,767-character limit; the CSV file holds it whole]"),
        "{}",
        &cut[cut.len() - 80..]
    );
}
