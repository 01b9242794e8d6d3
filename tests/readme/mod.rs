//! The README's quick start is the `quick-start` golden case: the same
//! arguments, and the output it shows is the case's stdout.

use std::fs;

use crate::support::root;

fn readme() -> String {
    fs::read_to_string(root().join("README.md")).unwrap()
}

/// Splits a shell command line on spaces, keeping double-quoted words whole.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[test]
fn readme_first_command_is_the_quick_start_case() {
    let readme = readme();
    let first = readme
        .lines()
        .find(|line| line.starts_with("cargo run --release -- "))
        .expect("the README opens with a cargo run command");
    let args: Vec<String> = words(first.trim_start_matches("cargo run --release -- "));
    let case: Vec<String> = fs::read_to_string(root().join("tests/cases/quick-start/args"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(args, case);
    let second = readme.lines().skip_while(|l| *l != first).nth(1).unwrap();
    assert_eq!(second, "cargo test --locked", "the README's second command");
    let ci = fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l == second),
        ".ci/run runs the README's test command"
    );
}

#[test]
fn readme_shows_the_quick_start_output() {
    let readme = readme();
    let stdout = fs::read_to_string(root().join("tests/cases/quick-start/stdout")).unwrap();
    let start = readme
        .find("```text\nposrecon: as of")
        .expect("the README shows the quick start's output")
        + "```text\n".len();
    let end = start + readme[start..].find("```").unwrap();
    assert_eq!(&readme[start..end], stdout);
}
