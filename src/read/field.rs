//! Parsers for single field values. Pure: each takes the trimmed text of one
//! cell and returns the value or a message saying what is wrong with it.
//!
//! Messages quote the offending value with `{:?}` (so blanks and stray
//! characters show) after [`redact_pans`], because a card number can turn up
//! in any column.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rust_decimal::Decimal;

use crate::model::{Amount, CardState, Currency, Id, MaskedPan, TxnType, redact_pans};

/// The largest whole-currency part accepted (9,999,999,999.99). Some 9
/// million such rows would take a sum out of i64 fen; a file's total is
/// held far below that (`FILE_TOTAL_LIMIT` in `read`).
const MAX_AMOUNT_DIGITS: usize = 10;

pub(crate) use crate::model::quoted as quote;

/// Parses a decimal amount in currency units: `12`, `12.3`, `12.30`.
///
/// Strict on purpose: no sign, no thousands separator, at most two decimal
/// places. A value that fits none of these is a file problem, not a guess.
pub fn parse_amount(raw: &str) -> Result<Amount, String> {
    match plain_amount(raw.as_bytes()) {
        Some(amount) => Ok(amount),
        None => parse_amount_checked(raw),
    }
}

/// The amount of `digits[.d[d]]` with at most 10 significant digits before
/// the point, in one pass; `None` for anything else, which the checked
/// parser accepts or explains.
fn plain_amount(raw: &[u8]) -> Option<Amount> {
    const LIMIT: i64 = 10_i64.pow(MAX_AMOUNT_DIGITS as u32);
    let digit = |b: u8| b.is_ascii_digit().then(|| i64::from(b - b'0'));
    let point = raw.iter().position(|&b| b == b'.').unwrap_or(raw.len());
    let (whole, frac) = raw.split_at(point);
    if whole.is_empty() {
        return None;
    }
    let mut units: i64 = 0;
    for &b in whole {
        units = units * 10 + digit(b)?;
        if units >= LIMIT {
            return None;
        }
    }
    let cents = match frac {
        [] => 0,
        [b'.', d] => digit(*d)? * 10,
        [b'.', d, e] => digit(*d)? * 10 + digit(*e)?,
        _ => return None,
    };
    Some(Amount::from_minor(units * 100 + cents))
}

/// [`parse_amount`] for any text, saying what is wrong with a bad one.
fn parse_amount_checked(raw: &str) -> Result<Amount, String> {
    if raw.is_empty() {
        return Err("is empty; an amount is required".into());
    }
    if raw.starts_with('-') {
        return Err(format!(
            "{} is negative; amounts are positive and txn_type gives the direction",
            quote(raw)
        ));
    }
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.contains(',') && all_digits(&whole.replace(',', "")) && all_digits(frac) {
        return Err(format!(
            "{} has a thousands separator; write it as {}",
            quote(raw),
            quote(&raw.replace(',', ""))
        ));
    }
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || (raw.ends_with('.')) {
        return Err(format!(
            "{} is not a decimal number (write it like 1234.50)",
            quote(raw)
        ));
    }
    if frac.len() > 2 {
        return Err(format!("{} has more than 2 decimal places", quote(raw)));
    }
    let significant = whole.trim_start_matches('0');
    if significant.len() > MAX_AMOUNT_DIGITS {
        return Err(format!(
            "{} is too large for an amount (at most 9999999999.99)",
            quote(raw)
        ));
    }
    let units: i64 = if significant.is_empty() {
        0
    } else {
        significant
            .parse()
            .map_err(|_| format!("{} is not a decimal number", quote(raw)))?
    };
    let cents: i64 = match frac.len() {
        0 => 0,
        1 => i64::from(frac.as_bytes()[0] - b'0') * 10,
        _ => i64::from(frac.as_bytes()[0] - b'0') * 10 + i64::from(frac.as_bytes()[1] - b'0'),
    };
    Ok(Amount::from_minor(units * 100 + cents))
}

/// Parses `YYYY-MM-DD HH:MM:SS` or the ISO form `YYYY-MM-DDTHH:MM:SS`.
pub(crate) fn parse_datetime(raw: &str) -> Result<NaiveDateTime, String> {
    let bad = || format!("{} is not a date-time like 2026-11-23 14:05:09", quote(raw));
    if raw.len() != 19 || !matches!(raw.as_bytes()[10], b' ' | b'T') {
        return Err(bad());
    }
    let date = parse_date(&raw[..10]).map_err(|_| bad())?;
    // chrono's parser interprets its pattern for every call: read the common
    // `HH:MM:SS` directly, and leave anything else (a leap second, a bad
    // value) to chrono so that what is accepted stays the same.
    let b = &raw.as_bytes()[11..];
    let two = |i: usize| {
        (b[i].is_ascii_digit() && b[i + 1].is_ascii_digit())
            .then(|| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0'))
    };
    let direct = (b[2] == b':' && b[5] == b':')
        .then(|| NaiveTime::from_hms_opt(two(0)?, two(3)?, two(6)?))
        .flatten();
    let time = match direct {
        Some(time) => time,
        None => NaiveTime::parse_from_str(&raw[11..], "%H:%M:%S").map_err(|_| bad())?,
    };
    Ok(date.and_time(time))
}

/// Parses a calendar date `YYYY-MM-DD`.
pub(crate) fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let b = raw.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return Err(format!("{} is not a date like 2026-11-23", quote(raw)));
    }
    let number = |range: std::ops::Range<usize>| raw[range].parse::<u32>().unwrap_or(0);
    let year = i32::try_from(number(0..4)).unwrap_or(0);
    NaiveDate::from_ymd_opt(year, number(5..7), number(8..10))
        .ok_or_else(|| format!("{} is not a real calendar date", quote(raw)))
}

/// The shape an identifier must have.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IdShape {
    /// Exactly this many ASCII digits.
    Digits(usize),
    /// Exactly this many ASCII letters or digits.
    Alnum(usize),
    /// 1 to this many characters without control characters.
    Text(usize),
}

/// Checks an identifier's shape; it stays text so leading zeros survive.
pub(crate) fn parse_id(raw: &str, shape: IdShape) -> Result<Id, String> {
    if raw.is_empty() {
        return Err("is empty".into());
    }
    let ok = match shape {
        IdShape::Digits(n) => raw.len() == n && raw.bytes().all(|b| b.is_ascii_digit()),
        IdShape::Alnum(n) => raw.len() == n && raw.bytes().all(|b| b.is_ascii_alphanumeric()),
        IdShape::Text(n) => raw.chars().count() <= n && !raw.chars().any(char::is_control),
    };
    if ok {
        // Free-form references could hold anything, a card number included.
        return Ok(match shape {
            IdShape::Text(_) => Id::from(redact_pans(raw).as_ref()),
            _ => Id::from(raw),
        });
    }
    Err(match shape {
        IdShape::Digits(n) => format!("{} must be {n} digits (leading zeros kept)", quote(raw)),
        IdShape::Alnum(n) => format!("{} must be {n} letters or digits", quote(raw)),
        IdShape::Text(n) => format!("{} must be at most {n} characters", quote(raw)),
    })
}

/// Masks a card number on ingest; the full number goes no further.
pub(crate) fn parse_card(raw: &str) -> Result<MaskedPan, String> {
    if raw.is_empty() {
        return Err("is empty; a card number is required".into());
    }
    MaskedPan::mask(raw)
}

/// Parses a transaction type, in any letter case.
pub(crate) fn parse_txn_type(raw: &str) -> Result<TxnType, String> {
    TxnType::ALL
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(raw))
        .ok_or_else(|| {
            format!(
                "{} is not a transaction type (SALE, VOID, REFUND or PREAUTH_COMPLETE)",
                quote(raw)
            )
        })
}

/// Parses an ISO 4217 code, alphabetic or numeric; empty means CNY.
pub(crate) fn parse_currency(raw: &str) -> Result<Currency, String> {
    if raw.is_empty() {
        return Ok(Currency::CNY);
    }
    Currency::from_code(raw).ok_or_else(|| {
        format!(
            "{} is not an ISO 4217 currency code (like CNY or 156)",
            quote(raw)
        )
    })
}

/// Parses a card status, in any letter case.
pub(crate) fn parse_card_state(raw: &str) -> Result<CardState, String> {
    CardState::ALL
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(raw))
        .ok_or_else(|| {
            format!(
                "{} is not a card status (NORMAL, LOST, FROZEN or CANCELLED)",
                quote(raw)
            )
        })
}

/// Parses a permission flag: yes/no, true/false, y/n, 1/0, enabled/disabled/frozen.
pub(crate) fn parse_flag(raw: &str) -> Result<bool, String> {
    const YES: [&str; 5] = ["yes", "y", "true", "1", "enabled"];
    const NO: [&str; 6] = ["no", "n", "false", "0", "disabled", "frozen"];
    if YES.iter().any(|w| w.eq_ignore_ascii_case(raw)) {
        Ok(true)
    } else if NO.iter().any(|w| w.eq_ignore_ascii_case(raw)) {
        Ok(false)
    } else {
        Err(format!("{} is not yes or no", quote(raw)))
    }
}

/// Parses a fee rate as a fraction (`0.0038`) or a percentage (`0.38%`).
pub fn parse_fee_rate(raw: &str) -> Result<Decimal, String> {
    let (number, percent) = match raw.strip_suffix('%') {
        Some(number) => (number.trim_end(), true),
        None => (raw, false),
    };
    let bad = || format!("{} is not a fee rate like 0.0038 or 0.38%", quote(raw));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let value: Decimal = number.parse().map_err(|_| bad())?;
    let rate = if percent {
        value / Decimal::ONE_HUNDRED
    } else {
        value
    };
    if rate > Decimal::ONE {
        return Err(format!("{} is more than 100%", quote(raw)));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The one-pass reading of a plain amount gives what the checked
        /// parser gives, for text that looks like an amount and text that
        /// nearly does.
        #[test]
        fn a_plain_amount_reads_as_the_checked_parser_reads_it(
            raw in "[0-9]{0,13}(\\.[0-9]{0,3})?|[0-9.,+ -]{0,14}"
        ) {
            proptest::prop_assert_eq!(parse_amount(&raw), parse_amount_checked(&raw));
        }
    }

    #[test]
    fn parse_amount_cases() {
        #[track_caller]
        fn case(raw: &str, want: Result<&str, &str>) {
            let got = parse_amount(raw).map(|a| a.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
        case("12.30", Ok("12.30"));
        case("12.3", Ok("12.30"));
        case("7", Ok("7.00"));
        case("0.05", Ok("0.05"));
        case("000100.00", Ok("100.00"));
        case("9999999999.99", Ok("9999999999.99"));
        case(
            "10000000000.00",
            Err(r#""10000000000.00" is too large for an amount (at most 9999999999.99)"#),
        );
        case("", Err("is empty; an amount is required"));
        case(
            "12.3O",
            Err(r#""12.3O" is not a decimal number (write it like 1234.50)"#),
        );
        case(
            "12,30",
            Err(r#""12,30" has a thousands separator; write it as "1230""#),
        );
        case(
            "1,234.50",
            Err(r#""1,234.50" has a thousands separator; write it as "1234.50""#),
        );
        case(
            "-5.00",
            Err(r#""-5.00" is negative; amounts are positive and txn_type gives the direction"#),
        );
        case(
            "+5.00",
            Err(r#""+5.00" is not a decimal number (write it like 1234.50)"#),
        );
        case("1.234", Err(r#""1.234" has more than 2 decimal places"#));
        case(
            ".5",
            Err(r#"".5" is not a decimal number (write it like 1234.50)"#),
        );
        case(
            "5.",
            Err(r#""5." is not a decimal number (write it like 1234.50)"#),
        );
        case(
            "1e3",
            Err(r#""1e3" is not a decimal number (write it like 1234.50)"#),
        );
        case(
            "¥5.00",
            Err(r#""¥5.00" is not a decimal number (write it like 1234.50)"#),
        );
        // Long digit runs are quoted as card numbers would be, even here.
        case(
            "99999999999999.00",
            Err(r#""999999****9999.00" is too large for an amount (at most 9999999999.99)"#),
        );
        case(
            "6228480012345678",
            Err(r#""622848******5678" is too large for an amount (at most 9999999999.99)"#),
        );
    }

    /// The direct reading of `HH:MM:SS` accepts and rejects exactly what
    /// chrono's parser does.
    #[test]
    fn parse_datetime_agrees_with_chrono() {
        for h in ["00", "09", "23", "24", "2x", "-1"] {
            for m in ["00", "59", "60", "5 "] {
                for sec in ["00", "59", "60", "61", "+1"] {
                    let raw = format!("2026-11-23 {h}:{m}:{sec}");
                    let chrono = NaiveTime::parse_from_str(&raw[11..], "%H:%M:%S")
                        .map(|t| NaiveDate::from_ymd_opt(2026, 11, 23).unwrap().and_time(t));
                    assert_eq!(parse_datetime(&raw).ok(), chrono.ok(), "{raw}");
                }
            }
        }
    }

    #[test]
    fn parse_datetime_cases() {
        #[track_caller]
        fn case(raw: &str, want: Result<&str, &str>) {
            let got = parse_datetime(raw).map(|t| t.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
        case("2026-11-23 14:05:09", Ok("2026-11-23 14:05:09"));
        case("2026-11-23T14:05:09", Ok("2026-11-23 14:05:09"));
        case("2026-11-23 23:59:59", Ok("2026-11-23 23:59:59"));
        case(
            "2026/11/23 14:05:09",
            Err(r#""2026/11/23 14:05:09" is not a date-time like 2026-11-23 14:05:09"#),
        );
        case(
            "2026-11-23 14:05",
            Err(r#""2026-11-23 14:05" is not a date-time like 2026-11-23 14:05:09"#),
        );
        case(
            "2026-02-30 10:00:00",
            Err(r#""2026-02-30 10:00:00" is not a date-time like 2026-11-23 14:05:09"#),
        );
        case(
            "2026-11-23 24:00:00",
            Err(r#""2026-11-23 24:00:00" is not a date-time like 2026-11-23 14:05:09"#),
        );
        case("", Err(r#""" is not a date-time like 2026-11-23 14:05:09"#));
    }

    #[test]
    fn parse_date_cases() {
        #[track_caller]
        fn case(raw: &str, want: Result<&str, &str>) {
            let got = parse_date(raw).map(|t| t.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
        case("2026-11-24", Ok("2026-11-24"));
        case("2028-02-29", Ok("2028-02-29"));
        case(
            "2026-02-29",
            Err(r#""2026-02-29" is not a real calendar date"#),
        );
        case(
            "20261124",
            Err(r#""20261124" is not a date like 2026-11-23"#),
        );
        case(
            "2026-1-24",
            Err(r#""2026-1-24" is not a date like 2026-11-23"#),
        );
    }

    #[test]
    fn parse_id_cases() {
        #[track_caller]
        fn case(raw: &str, shape: IdShape, want: Result<&str, &str>) {
            let got = parse_id(raw, shape);
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
        case("000123", IdShape::Digits(6), Ok("000123"));
        case(
            "123",
            IdShape::Digits(6),
            Err(r#""123" must be 6 digits (leading zeros kept)"#),
        );
        case(
            "12345a",
            IdShape::Digits(6),
            Err(r#""12345a" must be 6 digits (leading zeros kept)"#),
        );
        case("", IdShape::Digits(6), Err("is empty"));
        case("T0000001", IdShape::Alnum(8), Ok("T0000001"));
        case(
            "T000 001",
            IdShape::Alnum(8),
            Err(r#""T000 001" must be 8 letters or digits"#),
        );
        case("CR-1", IdShape::Text(40), Ok("CR-1"));
    }

    #[test]
    fn parse_enum_cases() {
        assert_eq!(parse_txn_type("sale"), Ok(TxnType::Sale));
        assert_eq!(
            parse_txn_type("Preauth_Complete"),
            Ok(TxnType::PreauthComplete)
        );
        assert_eq!(
            parse_txn_type("SAL"),
            Err(
                r#""SAL" is not a transaction type (SALE, VOID, REFUND or PREAUTH_COMPLETE)"#
                    .into()
            )
        );
        assert_eq!(parse_card_state("lost"), Ok(CardState::Lost));
        assert!(parse_card_state("STOLEN").is_err());
        assert_eq!(parse_flag("Yes"), Ok(true));
        assert_eq!(parse_flag("frozen"), Ok(false));
        assert_eq!(
            parse_flag("maybe"),
            Err(r#""maybe" is not yes or no"#.into())
        );
    }

    #[test]
    fn parse_currency_cases() {
        #[track_caller]
        fn case(raw: &str, want: Result<&str, &str>) {
            let got = parse_currency(raw).map(Currency::code);
            assert_eq!(got, want.map_err(String::from));
        }
        case("", Ok("CNY"));
        case("CNY", Ok("CNY"));
        case("cny", Ok("CNY"));
        case("156", Ok("CNY"));
        case("840", Ok("USD"));
        case(
            "RMB",
            Err(r#""RMB" is not an ISO 4217 currency code (like CNY or 156)"#),
        );
        case(
            "000",
            Err(r#""000" is not an ISO 4217 currency code (like CNY or 156)"#),
        );
    }

    #[test]
    fn parse_fee_rate_cases() {
        #[track_caller]
        fn case(raw: &str, want: Result<&str, &str>) {
            let got = parse_fee_rate(raw).map(|d| d.normalize().to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
        case("0.0038", Ok("0.0038"));
        case("0.38%", Ok("0.0038"));
        case("0.6 %", Ok("0.006"));
        case(
            "abc",
            Err(r#""abc" is not a fee rate like 0.0038 or 0.38%"#),
        );
        case("150%", Err(r#""150%" is more than 100%"#));
    }
}
