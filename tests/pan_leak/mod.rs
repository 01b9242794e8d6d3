//! Proves that no full card number leaves the process: every golden case is
//! run, and no full PAN found in its inputs may appear in its stdout, stderr
//! or any file it wrote (a workbook's cells are read back and scanned too).

use std::fs;

use crate::support::{all_cases, root, run_case};

/// `text` with fullwidth digits (`６`, as Chinese input methods type them)
/// written as ASCII ones, so a card number typed so is found like any other.
fn ascii_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            _ => c,
        })
        .collect()
}

/// What may group a card number's digits: spaces and dashes of every kind
/// (thin, no-break, ideographic, zero-width; soft hyphens, minus signs),
/// dots, slashes, underscores and middle dots.
fn is_grouping(c: char) -> bool {
    matches!(
        c,
        ' ' | '-'
            | '.'
            | '/'
            | '_'
            | '\u{a0}'
            | '\u{ad}'
            | '\u{b7}'
            | '\u{2000}'..='\u{200b}'
            | '\u{2010}'..='\u{2015}'
            | '\u{202f}'
            | '\u{2212}'
            | '\u{3000}'
            | '\u{30fb}'
            | '\u{fe63}'
            | '\u{ff0d}'
    )
}

/// Card numbers in `text`: Luhn-valid runs of 16 to 19 digits (UnionPay,
/// Visa, Mastercard lengths), possibly grouped by spaces, dashes, dots,
/// slashes or underscores, returned as plain digit strings. The Luhn check keeps 15-digit merchant ids and other
/// long references out; the fixtures' test PANs are all Luhn-valid.
fn full_pans(text: &str) -> Vec<String> {
    let mut pans = Vec::new();
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            let grouped = chars.peek().is_some_and(|&c| is_grouping(c));
            if grouped {
                let mut ahead = chars.clone();
                ahead.next();
                if ahead.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
            }
            continue;
        }
        if is_card_number(&digits) {
            pans.push(std::mem::take(&mut digits));
        }
        digits.clear();
    }
    if is_card_number(&digits) {
        pans.push(digits);
    }
    pans
}

fn is_card_number(digits: &str) -> bool {
    let luhn_sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2, d * 2) {
                (1, doubled) if doubled > 9 => doubled - 9,
                (1, doubled) => doubled,
                _ => d,
            }
        })
        .sum();
    (16..=19).contains(&digits.len()) && luhn_sum.is_multiple_of(10)
}

/// Full card numbers in the `card_no` column of a CSV input, as plain digit
/// strings: any value of 12 to 19 digits once its separators are dropped,
/// whatever they are (`6228.4800.1234.5671`, `6228  4800  1234  5671`), and
/// whatever the Luhn sum (a file may hold a card number with a typo).
fn card_column_pans(text: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let Ok(headers) = reader.headers() else {
        return Vec::new();
    };
    let Some(column) = headers.iter().position(|h| h.trim() == "card_no") else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|record| {
            let cell = record.get(column)?;
            let digits: String = cell.chars().filter(char::is_ascii_digit).collect();
            let separators_only = cell
                .trim()
                .chars()
                .all(|c| c.is_ascii_digit() || is_grouping(c));
            (separators_only && (12..=19).contains(&digits.len())).then_some(digits)
        })
        .collect()
}

/// The input files a case names in its arguments.
fn case_inputs(name: &str) -> Vec<String> {
    let args = fs::read_to_string(root().join("tests/cases").join(name).join("args")).unwrap();
    let mut texts = Vec::new();
    for arg in args.lines() {
        // A file may be named PROFILE:FILE, and bank files (UnionPay's
        // INN…ZM_…) may have no extension.
        let named = arg.split_once(':').map_or(arg, |(_, file)| file);
        for candidate in [arg, named] {
            let path = root().join(candidate);
            if !candidate.is_empty() && path.is_file() {
                texts.push(ascii_digits(&String::from_utf8_lossy(
                    &fs::read(&path).unwrap(),
                )));
                break;
            }
        }
    }
    texts
}

fn digits_only(bytes: &[u8]) -> String {
    ascii_digits(&String::from_utf8_lossy(bytes))
        .chars()
        .filter(|&c| !is_grouping(c))
        .collect()
}

#[test]
fn no_full_pan_leaves_the_process() {
    let mut pans_checked = 0;
    let mut workbooks = 0;
    for name in all_cases() {
        let pans: Vec<String> = case_inputs(&name)
            .iter()
            .flat_map(|t| full_pans(t).into_iter().chain(card_column_pans(t)))
            .collect();
        if pans.is_empty() {
            continue;
        }
        let run = run_case(&name);
        let mut outputs = vec![
            ("stdout".to_string(), run.output.stdout.clone()),
            ("stderr".to_string(), run.output.stderr.clone()),
        ];
        for (path, bytes) in run.written_files() {
            // A workbook is zipped XML: scan the text of its cells instead.
            if path.extension().is_some_and(|e| e == "xlsx") {
                workbooks += 1;
                outputs.push((path.display().to_string(), workbook_text(&bytes)));
            }
            outputs.push((path.display().to_string(), bytes));
        }
        for pan in &pans {
            pans_checked += 1;
            for (what, bytes) in &outputs {
                assert!(
                    !digits_only(bytes).contains(pan.as_str()),
                    "case {name}: a full card number from the input appears in {what}"
                );
            }
        }
    }
    // The fixtures deliberately carry full PANs; finding none means this test
    // has stopped looking at anything.
    assert!(
        pans_checked >= 5,
        "only {pans_checked} full PANs in the fixtures"
    );
    assert!(workbooks >= 1, "no case with full PANs writes a workbook");
}

/// Every cell of every sheet of an xlsx file, one cell per line.
fn workbook_text(bytes: &[u8]) -> Vec<u8> {
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).unwrap();
        for cell in range.cells() {
            text.push_str(&cell.2.to_string());
            text.push('\n');
        }
    }
    text.into_bytes()
}

#[test]
fn card_column_pans_finds_every_full_card_number() {
    let text = "rrn,card_no,x\n\
                633012000001,622848001234,1\n\
                633012000002,6228.4800.1234.5671,2\n\
                633012000003,6228  4800  1234  5671,3\n\
                633012000004,622848******1234,4\n\
                633012000005,12345,5\n";
    assert_eq!(
        card_column_pans(text),
        ["622848001234", "6228480012345671", "6228480012345671"]
    );
}

#[test]
fn full_pans_finds_grouped_and_plain_numbers() {
    assert_eq!(
        full_pans("a,6228480012345671,b 4000 1234 5678 9017, 6228480012345678 mid 898310058120005"),
        vec![
            "6228480012345671".to_string(),
            "4000123456789017".to_string()
        ]
    );
}
