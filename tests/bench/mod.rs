//! The benchmark's generator still describes what posrecon reports: a small
//! generated night (the generator at a tiny size, never timed) reconciles to
//! exactly the outcome counts the generator says it seeded.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::{BIN, root};

/// `NAME COUNT` pairs from the generator's `  terminal: MATCHED 95796, …` line.
fn expected(printed: &str, side: &str) -> BTreeMap<String, u64> {
    let line = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{side}:")))
        .unwrap_or_else(|| panic!("the generator prints a {side} line:\n{printed}"));
    line.split(',')
        .map(|pair| {
            let (name, count) = pair.trim().rsplit_once(' ').unwrap();
            (name.to_string(), count.parse().unwrap())
        })
        .collect()
}

#[test]
fn a_generated_night_reconciles_as_the_generator_says() {
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    let generated = Command::new("python3")
        .arg(root().join("bench/generate.py"))
        .args([
            "--rows",
            "4000",
            "--seed",
            "7",
            "--merchants",
            "40",
            "--out",
        ])
        .arg(&night)
        .output()
        .expect("run python3 bench/generate.py (python3 is on every machine of this project)");
    assert!(generated.status.success(), "{generated:?}");
    let printed = String::from_utf8(generated.stdout).unwrap();

    let run = Command::new(BIN)
        .arg("reconcile")
        .arg("--terminal")
        .arg(night.join("terminal.csv"))
        .arg("--bank")
        .arg(night.join("bank.csv"))
        .args([
            "--as-of",
            "2026-11-24 22:00",
            "--no-ledger",
            "--format",
            "json",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();

    for side in ["terminal", "bank"] {
        let want = expected(&printed, side);
        let got: BTreeMap<String, u64> = summary["outcomes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(outcome, tally)| (outcome.clone(), tally[side]["count"].as_u64().unwrap()))
            .filter(|&(_, count)| count > 0)
            .collect();
        assert_eq!(got, want, "{side} outcomes");
    }
}
