//! Golden-case harness: runs the real binary on `tests/cases/<name>/` and
//! compares exit status, stdout, stderr and written files byte for byte.
//!
//! A case directory holds `args` (one argument per line, paths relative to
//! the repository root; `{out}` stands for a fresh temporary output folder
//! and `{ledger}` for a ledger file beside it), the expected `status`,
//! `stdout` and `stderr`, and, when the run writes
//! files, an `out/` folder with the expected files. `BLESS=1 cargo test`
//! rewrites the expectations; read `git diff tests/cases` before committing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_posrecon");

/// The repository root, where case arguments are resolved.
pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `posrecon reconcile`, stateless, of the files `t.csv`, `b.csv` and
/// `c.csv` (cancellations) in `dir` into `dir/out`, as of `as_of` and with
/// `extra` arguments; fails unless it exits with `status`.
pub(crate) fn reconcile_requests_in(dir: &Path, as_of: &str, extra: &[&str], status: i32) {
    let output = Command::new(BIN)
        .current_dir(dir)
        .args(["reconcile", "--terminal", "t.csv", "--bank", "b.csv"])
        .args(["--cancellations", "c.csv", "--as-of", as_of])
        .args(["--out", "out", "--no-ledger"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(status),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `posrecon reconcile` of the first sample day (its one terminal file and
/// the bank file) as of `as_of`, stateless and quiet, writing to `out`, run
/// from the repository root; callers add flags and environment.
pub(crate) fn sample_day(as_of: &str, out: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args([
            "reconcile",
            "--terminal",
            "sample-data/terminal-2026-11-23.csv",
            "--bank",
            "sample-data/bank-2026-11-24.csv",
            "--as-of",
            as_of,
            "--no-ledger",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .current_dir(root());
    command
}

/// Every case directory, sorted.
pub(crate) fn all_cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join("tests/cases"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The result of running one case: its output and the folder it wrote to.
pub(crate) struct Run {
    pub(crate) output: Output,
    pub(crate) out_dir: tempfile::TempDir,
}

impl Run {
    /// Every file the run wrote under `out/`, with its path relative to the
    /// temporary folder (the ledger beside it is not an output file).
    pub(crate) fn written_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let out = self.out_dir.path().join("out");
        if out.is_dir() {
            collect_files(self.out_dir.path(), &out, &mut files);
        }
        files.sort();
        files
    }
}

fn collect_files(base: &Path, dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(base, &path, files);
        } else {
            let bytes = fs::read(&path).unwrap();
            files.push((path.strip_prefix(base).unwrap().to_path_buf(), bytes));
        }
    }
}

/// Runs the binary with a case's arguments, from the repository root.
pub(crate) fn run_case(name: &str) -> Run {
    let dir = root().join("tests/cases").join(name);
    let args = fs::read_to_string(dir.join("args"))
        .unwrap_or_else(|err| panic!("{}: {err}", dir.join("args").display()));
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out");
    let args: Vec<String> = args
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.replace("{out}", out.to_str().unwrap()).replace(
                "{ledger}",
                out_dir.path().join("posrecon.db").to_str().unwrap(),
            )
        })
        .collect();
    let output = Command::new(BIN)
        .args(&args)
        .current_dir(root())
        .env_remove("NO_COLOR")
        .output()
        .expect("run the posrecon binary");
    Run { output, out_dir }
}

/// Runs a case and compares everything it produced with the expectations.
#[track_caller]
pub(crate) fn check_case(name: &str) {
    let dir = root().join("tests/cases").join(name);
    let run = run_case(name);
    let output = &run.output;
    let status = output
        .status
        .code()
        .map_or("signal".into(), |c| c.to_string());
    let temp = run.out_dir.path().join("out");
    let scrub =
        |text: &[u8]| String::from_utf8_lossy(text).replace(temp.to_str().unwrap(), "{out}");
    let mut actual = vec![
        (PathBuf::from("status"), (status + "\n").into_bytes()),
        (PathBuf::from("stdout"), scrub(&output.stdout).into_bytes()),
        (PathBuf::from("stderr"), scrub(&output.stderr).into_bytes()),
    ];
    for (path, bytes) in run.written_files() {
        actual.push((
            Path::new("out").join(path.strip_prefix("out").unwrap()),
            bytes,
        ));
    }
    let bless = std::env::var_os("BLESS").is_some();
    if bless {
        let _ = fs::remove_dir_all(dir.join("out"));
    }
    let mut expected_written = Vec::new();
    if dir.join("out").is_dir() {
        collect_files(&dir, &dir.join("out"), &mut expected_written);
    }
    for (file, bytes) in &actual {
        let path = dir.join(file);
        if bless {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, bytes).unwrap();
            continue;
        }
        let expected = fs::read(&path).unwrap_or_default();
        assert!(
            expected == *bytes,
            "{} differs (BLESS=1 cargo test accepts the new output)\n\
             --- expected\n{}\n+++ actual\n{}",
            path.strip_prefix(root()).unwrap().display(),
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(bytes),
        );
    }
    if !bless {
        for (file, _) in expected_written {
            assert!(
                actual.iter().any(|(written, _)| *written == file),
                "{name}: expected {} to be written, but it was not",
                file.display()
            );
        }
    }
}
