//! The help a shell user reads: `--help` on every command ends with an
//! example and the exit statuses, completion scripts and man pages generate,
//! and the README lists every command.

use std::fs;
use std::process::{Command, Output};

use crate::support::{BIN, root};

/// Every command, and "" for the program itself.
const COMMANDS: &[&str] = &[
    "",
    "reconcile",
    "check",
    "show",
    "runs",
    "completions",
    "man",
];

fn posrecon(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args.iter().filter(|a| !a.is_empty()))
        .current_dir(root())
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

#[track_caller]
fn stdout_of(args: &[&str]) -> String {
    let output = posrecon(args);
    assert_eq!(output.status.code(), Some(0), "posrecon {args:?}");
    assert!(
        output.stderr.is_empty(),
        "posrecon {args:?} wrote to stderr"
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn every_help_ends_with_an_example_and_the_exit_statuses() {
    for command in COMMANDS {
        let help = stdout_of(&[command, "--help"]);
        let (before, table) = help
            .rsplit_once("\nExit status:\n")
            .unwrap_or_else(|| panic!("posrecon {command} --help has no exit-status table"));
        assert!(
            before.contains("\nExample:\n  posrecon ")
                || before.contains("\nExamples:\n  posrecon "),
            "posrecon {command} --help has no example before its exit statuses"
        );
        let statuses: Vec<&str> = table
            .lines()
            .map(|line| line.trim_start().split(' ').next().unwrap())
            .collect();
        assert!(
            statuses.iter().all(|s| s.parse::<u8>().is_ok()),
            "posrecon {command} --help: only exit statuses after the table's title: {table:?}"
        );
        assert!(
            statuses.contains(&"0") && statuses.contains(&"2"),
            "{command}: {statuses:?}"
        );
    }
}

#[test]
fn completion_scripts_generate_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        // fish spells a long flag `-l xlsx`, the others `--xlsx`.
        for word in ["reconcile", "terminal", "xlsx", "csv-bom", "card-status"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    // bash is at hand wherever the tests run (.ci/run is a bash script):
    // load its script and press tab after `posrecon reconcile --xl`.
    let script = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("posrecon.bash");
    fs::write(&path, script).unwrap();
    let tab = Command::new("bash")
        .arg("-c")
        .arg(
            r#"source "$1" && COMP_WORDS=(posrecon reconcile --xl) && COMP_CWORD=2 \
               && _posrecon posrecon --xl reconcile && echo "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&tab.stdout).trim(),
        "--xlsx",
        "bash completes --xl to --xlsx; stderr: {}",
        String::from_utf8_lossy(&tab.stderr)
    );
}

#[test]
fn man_pages_generate() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH posrecon 1"), "{page}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH SUBCOMMANDS",
        "Exit status:",
    ] {
        assert!(page.contains(section), "posrecon(1) lacks {section}");
    }
    for command in &COMMANDS[1..] {
        let page = stdout_of(&["man", command]);
        assert!(
            page.contains(&format!(".TH posrecon\\-{command} 1"))
                || page.contains(&format!(".TH posrecon-{command} 1")),
            "posrecon man {command}: {}",
            &page[..page.len().min(300)]
        );
        assert!(
            page.contains("Exit status:"),
            "posrecon-{command}(1) lacks the exit statuses"
        );
    }
    assert!(stdout_of(&["man", "reconcile"]).contains("\\-\\-xlsx"));
    // Every page a man page names can be printed: no posrecon-help(1),
    // which `posrecon man help` would refuse.
    for command in &COMMANDS[1..] {
        let page = stdout_of(&["man", command]);
        assert!(
            !page.contains("help("),
            "posrecon man {command} names a help page"
        );
    }
    assert!(!page.contains("help("), "posrecon(1) names a help page");
}

#[test]
fn the_readme_lists_every_command() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    for command in &COMMANDS[1..] {
        assert!(
            readme.contains(&format!("| `posrecon {command}")),
            "the README's command table lacks {command}"
        );
    }
}
