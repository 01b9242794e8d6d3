//! The sample night against the expectations its generator wrote down: runs
//! the library as the first command of `sample-data/README.md` does and
//! compares the outcome counts and per-currency amounts with the
//! machine-readable block at the end of that README.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

use posrecon::InputKind;
use posrecon::matching::Outcome;
use posrecon::policy::Policy;
use posrecon::report::Summary;
use posrecon::totals::Side;

use crate::support::root;

/// The currencies the README gives amounts for.
const CURRENCIES: [&str; 2] = ["CNY", "USD"];

/// The lines of the README's machine-readable block: key → (name → value).
fn expectations() -> BTreeMap<String, BTreeMap<String, String>> {
    let readme = fs::read_to_string(root().join("sample-data/README.md")).unwrap();
    let (_, block) = readme
        .split_once("## Machine-readable expectations")
        .expect("sample-data/README.md has a machine-readable block");
    let mut lines = BTreeMap::new();
    for line in block.lines().filter(|l| l.starts_with("expected-")) {
        let (key, values) = line.split_once(": ").unwrap();
        let values: BTreeMap<String, String> = values
            .split(", ")
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap();
                (name.to_string(), value.to_string())
            })
            .collect();
        assert!(
            lines.insert(key.to_string(), values).is_none(),
            "{key} appears twice in the README"
        );
    }
    lines
}

/// One expectation line, checked to name every outcome exactly.
#[track_caller]
fn per_outcome(
    lines: &BTreeMap<String, BTreeMap<String, String>>,
    key: &str,
) -> Vec<(Outcome, String)> {
    let values = lines
        .get(key)
        .unwrap_or_else(|| panic!("sample-data/README.md has no {key} line"));
    let names: Vec<&str> = values.keys().map(String::as_str).collect();
    let mut all: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    all.sort_unstable();
    assert_eq!(names, all, "{key} names every outcome");
    Outcome::ALL
        .iter()
        .map(|&o| (o, values[o.as_str()].clone()))
        .collect()
}

fn minor(amount: &str) -> i64 {
    posrecon::read::parse_amount(amount)
        .unwrap_or_else(|err| panic!("amount {amount:?}: {err}"))
        .minor()
}

/// Runs the README's first command through the library.
fn run_sample_night(out: &Path) -> Summary {
    let sample = |name: &str| -> PathBuf { root().join("sample-data").join(name) };
    let config = posrecon::Config {
        terminal: vec![
            sample("terminal-2026-11-23.csv"),
            sample("terminal-2026-11-24.csv"),
        ],
        bank: vec![sample("bank-2026-11-24.csv")],
        merchants: Some(sample("merchants.csv")),
        card_status: Some(sample("card-status.csv")),
        cancellations: Some(sample("cancellations.csv")),
        policy: Policy::default(),
        as_of: NaiveDateTime::parse_from_str("2026-11-24 22:00:00", "%Y-%m-%d %H:%M:%S").unwrap(),
        as_of_given: true,
        out_dir: out.to_path_buf(),
        write_matches: true,
        xlsx: false,
        csv_bom: false,
        ledger: None,
        rerun: false,
        terminal_profiles: Default::default(),
        bank_profiles: Default::default(),
        max_rejects: 0,
    };
    posrecon::reconcile(&config).unwrap()
}

/// The rows of an output CSV file, each as column name → cell.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            header
                .iter()
                .zip(record.iter())
                .map(|(name, cell)| (name.to_string(), cell.to_string()))
                .collect()
        })
        .collect()
}

/// Amount in fen per (outcome, currency) of one side, from the outputs:
/// terminal records from `matches.csv`; settlements from the bank rows of
/// `exceptions.csv`, the MATCHED rest being the bank files' totals minus those.
fn amounts_from_outputs(
    summary: &Summary,
    out: &Path,
    side: Side,
) -> BTreeMap<(String, String), i64> {
    let mut amounts: BTreeMap<(String, String), i64> = BTreeMap::new();
    match side {
        Side::Terminal => {
            for row in read_csv(&out.join("matches.csv")) {
                *amounts
                    .entry((row["outcome"].clone(), row["currency"].clone()))
                    .or_default() += minor(&row["amount"]);
            }
        }
        Side::Bank => {
            let mut matched: BTreeMap<String, i64> = BTreeMap::new();
            for file in summary.inputs.iter().filter(|f| f.kind == InputKind::Bank) {
                for (currency, amount) in &file.amounts {
                    *matched.entry(currency.to_string()).or_default() += amount.minor();
                }
            }
            for row in read_csv(&out.join("exceptions.csv")) {
                if row["side"] != "bank" {
                    continue;
                }
                let amount = minor(&row["bank_amount"]);
                *amounts
                    .entry((row["outcome"].clone(), row["currency"].clone()))
                    .or_default() += amount;
                *matched.get_mut(&row["currency"]).unwrap() -= amount;
            }
            for (currency, amount) in matched {
                amounts.insert((Outcome::Matched.as_str().to_string(), currency), amount);
            }
        }
    }
    amounts.retain(|_, amount| *amount != 0);
    amounts
}

#[test]
fn sample_night_has_the_outcomes_its_readme_expects() {
    let lines = expectations();
    let out = tempfile::tempdir().unwrap();
    let summary = run_sample_night(out.path());

    for side in [Side::Terminal, Side::Bank] {
        let name = side.as_str();
        let expected: Vec<(Outcome, u64)> =
            per_outcome(&lines, &format!("expected-{name}-outcomes"))
                .into_iter()
                .map(|(o, n)| (o, n.parse().unwrap()))
                .collect();
        let actual: Vec<(Outcome, u64)> = Outcome::ALL
            .iter()
            .map(|&o| (o, summary.totals.get(side, o).count))
            .collect();
        assert_eq!(actual, expected, "{name} outcome counts");

        // Amounts per currency, and the totals' amounts as their sum.
        let mut expected_amounts: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut expected_totals: BTreeMap<Outcome, i64> = BTreeMap::new();
        for currency in CURRENCIES {
            for (outcome, amount) in
                per_outcome(&lines, &format!("expected-{name}-amounts-{currency}"))
            {
                let amount = minor(&amount);
                *expected_totals.entry(outcome).or_default() += amount;
                if amount != 0 {
                    expected_amounts
                        .insert((outcome.as_str().to_string(), currency.to_string()), amount);
                }
            }
        }
        assert_eq!(
            amounts_from_outputs(&summary, out.path(), side),
            expected_amounts,
            "{name} amounts per outcome and currency"
        );
        let actual_totals: BTreeMap<Outcome, i64> = Outcome::ALL
            .iter()
            .map(|&o| (o, summary.totals.get(side, o).amount.minor()))
            .collect();
        assert_eq!(
            actual_totals, expected_totals,
            "{name} amounts per outcome (CNY + USD)"
        );
    }
}

#[test]
fn sample_night_decides_what_its_readme_expects() {
    let lines = expectations();
    let out = tempfile::tempdir().unwrap();
    let summary = run_sample_night(out.path());

    let actions = &lines["expected-actions"];
    let actual = [
        ("void", summary.actions.void),
        ("refund", summary.actions.refund),
        ("reject", summary.actions.reject),
        ("dispute", summary.actions.dispute),
    ];
    for (name, count) in actual {
        assert_eq!(count.to_string(), actions[name], "{name} actions");
    }
    assert_eq!(
        actions.len(),
        actual.len(),
        "expected-actions names every action"
    );

    // Each request's decision: the file that names it in its source column.
    let mut decided: BTreeMap<String, &str> = BTreeMap::new();
    for (file, column, decision) in [
        ("void_requests.csv", "source", "VOID"),
        ("refund_instructions.csv", "source", "REFUND"),
        ("rejected_cancellations.csv", "request_ref", "REJECT"),
    ] {
        for row in read_csv(&out.path().join(file)) {
            if row[column].starts_with("CR-") {
                let previous = decided.insert(row[column].clone(), decision);
                assert!(previous.is_none(), "{} decided twice", row[column]);
            }
        }
    }
    let expected: BTreeMap<String, &str> = lines["expected-cancellations"]
        .iter()
        .map(|(request, decision)| (request.clone(), decision.as_str()))
        .collect();
    assert_eq!(decided, expected, "decision per cancellation request");
}
