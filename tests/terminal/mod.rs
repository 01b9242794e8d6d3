//! Progress bars and colour are for a person at a terminal only: run with
//! stdout and stderr piped (as cron, CI and scripts do), posrecon writes no
//! escape sequence and no carriage return, whatever TERM says.

use std::process::{Command, Output};

use crate::support::{BIN, root};

const SAMPLE_NIGHT: &[&str] = &[
    "reconcile",
    "--terminal",
    "sample-data/terminal-2026-11-23.csv",
    "--terminal",
    "sample-data/terminal-2026-11-24.csv",
    "--bank",
    "sample-data/bank-2026-11-24.csv",
    "--cancellations",
    "sample-data/cancellations.csv",
    "--as-of",
    "2026-11-24 22:00",
    "--no-ledger",
    "--xlsx",
];

/// Runs posrecon with pipes for stdout and stderr, in an environment that
/// would allow colour on a terminal.
fn piped(args: &[&str], out: &std::path::Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--out")
        .arg(out)
        .current_dir(root())
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .output()
        .unwrap()
}

#[track_caller]
fn assert_plain(what: &str, bytes: &[u8]) {
    assert!(
        !bytes.contains(&0x1b),
        "{what} holds an escape sequence: {}",
        String::from_utf8_lossy(bytes)
    );
    assert!(
        !bytes.contains(&b'\r'),
        "{what} holds a carriage return (a redrawn progress line)"
    );
}

#[test]
fn no_progress_or_colour_when_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let night = piped(SAMPLE_NIGHT, &dir.path().join("night"));
    assert_eq!(night.status.code(), Some(1));
    assert!(
        night.stderr.is_empty(),
        "a successful run writes nothing on stderr"
    );
    assert_plain("stdout", &night.stdout);
    assert!(String::from_utf8_lossy(&night.stdout).starts_with("posrecon: as of"));

    let mut bad = SAMPLE_NIGHT.to_vec();
    bad[2] = "tests/cases/bad-amount/batch.csv";
    let bad = piped(&bad, &dir.path().join("bad"));
    assert_eq!(bad.status.code(), Some(3));
    assert_plain("stderr of a bad-input run", &bad.stderr);
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("posrecon: error: "));

    let usage = piped(&["reconcile", "--bogus"], &dir.path().join("usage"));
    assert_eq!(usage.status.code(), Some(2));
    assert_plain("stderr of a usage error", &usage.stderr);

    let help = piped(&["reconcile", "--help"], &dir.path().join("help"));
    assert_plain("reconcile --help", &help.stdout);
}

/// Runs posrecon with `args` from the repository root, its stdout a pipe
/// whose reading end is closed before it writes anything.
fn stdout_closed(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// A reader that stops early (`posrecon … | head`) closes the pipe before
/// the summary is written: the run is done all the same, so its exit status
/// stands and stderr stays empty, as with a reader that read everything.
#[test]
fn a_closed_stdout_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("night");
    let mut args = SAMPLE_NIGHT.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    let night = stdout_closed(&args);
    assert_eq!(
        String::from_utf8_lossy(&night.stderr),
        "",
        "nothing to report on stderr"
    );
    assert_eq!(night.status.code(), Some(1), "the night's own exit status");
    assert!(out.join("summary.json").is_file());

    // clap_complete panicked on a closed pipe: the script is made in memory.
    let completions = stdout_closed(&["completions", "bash"]);
    assert_eq!(String::from_utf8_lossy(&completions.stderr), "");
    assert_eq!(completions.status.code(), Some(0));
}
