//! Card numbers, masked on ingest so a full PAN never exists past the reader.
//!
//! [`MaskedPan`] can only be built by masking, so no code path can print a
//! full card number from it. [`redact_pans`] is the guard for free text and for
//! values quoted in error messages, where a PAN may hide in the wrong column.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Digits a masked card number may show at the start (the issuer's BIN).
const SHOWN_FIRST: usize = 6;
/// Digits a masked card number may show at the end.
const SHOWN_LAST: usize = 4;
/// Stars between the shown digits, whatever the card's length.
const HIDDEN: usize = 6;
/// The length of every masked card number.
const MASKED_LEN: usize = SHOWN_FIRST + HIDDEN + SHOWN_LAST;
/// The shortest and longest card numbers accepted (ISO/IEC 7812).
const PAN_LENGTHS: std::ops::RangeInclusive<usize> = 12..=19;
/// Digit runs this long in free text are treated as card numbers.
const PAN_RUN_IN_TEXT: std::ops::RangeInclusive<usize> = 13..=19;

/// A card number with at most the first 6 and last 4 digits visible, always
/// written as 6 + 6 stars + 4, e.g. `622848******1234`.
///
/// Its fixed length lets it live in a plain array: a million of them cost no
/// allocation. It orders, compares and hashes as its text does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MaskedPan([u8; MASKED_LEN]);

impl MaskedPan {
    /// Masks a card number as it arrives in a file, full or already masked.
    ///
    /// Spaces and dashes between digit groups are dropped; `*`, `x`, `X` and `#`
    /// count as mask characters. The error is safe to show: it quotes the
    /// value with everything but the first 6 and last 4 digits hidden.
    pub fn mask(raw: &str) -> Result<MaskedPan, String> {
        let not_a_card = || {
            format!(
                "{:?} is not a card number (12 to 19 digits, optionally masked with *)",
                mask_all_digits_but_edges(raw)
            )
        };
        // The number without its separators; spaces and dashes are ASCII, so
        // dropping their bytes never splits a character.
        let mut compact = [0u8; *PAN_LENGTHS.end()];
        let mut len = 0;
        for b in raw.bytes().filter(|b| !matches!(b, b' ' | b'-')) {
            let allowed = b.is_ascii_digit() || matches!(b, b'*' | b'x' | b'X' | b'#');
            if !allowed || len == compact.len() {
                return Err(not_a_card());
            }
            compact[len] = b;
            len += 1;
        }
        let compact = &compact[..len];
        let ends_are_digits = compact.first().is_some_and(u8::is_ascii_digit)
            && compact.last().is_some_and(u8::is_ascii_digit);
        if !PAN_LENGTHS.contains(&len) || !ends_are_digits {
            return Err(not_a_card());
        }
        // One shape for every card, whatever its length or however the source
        // masked it, so the bank's and the terminal's forms compare equal.
        let shown = |b: u8| if b.is_ascii_digit() { b } else { b'*' };
        let mut masked = [b'*'; MASKED_LEN];
        for (to, &from) in masked[..SHOWN_FIRST].iter_mut().zip(compact) {
            *to = shown(from);
        }
        for (to, &from) in masked[MASKED_LEN - SHOWN_LAST..]
            .iter_mut()
            .zip(&compact[len - SHOWN_LAST..])
        {
            *to = shown(from);
        }
        Ok(MaskedPan(masked))
    }

    /// Whether the two could be the same card: the same last 4 digits, and
    /// no visible digit of the first 6 that differs (a source that showed
    /// fewer digits masks more of them).
    pub fn could_be(&self, other: &MaskedPan) -> bool {
        self.0
            .iter()
            .zip(&other.0)
            .all(|(a, b)| a == b || *a == b'*' || *b == b'*')
            && self.0[MASKED_LEN - SHOWN_LAST..] == other.0[MASKED_LEN - SHOWN_LAST..]
    }

    /// True when some of the first 6 digits are hidden.
    pub fn is_loosely_masked(&self) -> bool {
        self.0[..SHOWN_FIRST].contains(&b'*')
    }

    /// The masked form, e.g. `622848******1234`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("IE: a masked card number is ASCII digits and stars")
    }
}

// Hashes as the text does (a derived hash would add the array's length), so
// hash-keyed structures behave as they did with a string inside.
impl Hash for MaskedPan {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedPan({})", self.as_str())
    }
}

/// A card number cell as it may be shown: its [`MaskedPan`] when it is one,
/// else the text with every digit but the first 6 and last 4 hidden (a
/// malformed card field may be a full PAN with a typo or an odd separator).
///
/// Unlike [`redact_pans`], it masks whatever the length of the number, so a
/// 12-digit card or one grouped by dots never shows in full.
pub fn mask_card_cell(raw: &str) -> String {
    match MaskedPan::mask(raw.trim()) {
        Ok(pan) => pan.to_string(),
        Err(_) => mask_all_digits_but_edges(raw),
    }
}

/// Whether `c` is a digit a card number may be written with: an ASCII one,
/// or any other a reader takes for one (fullwidth `６`, as Chinese input
/// methods type them, Arabic-Indic and the like).
fn is_any_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

/// Hides all digits of `raw` except its first 6 and last 4 digits.
///
/// Used to quote a malformed card field, which may be a full PAN with a typo.
fn mask_all_digits_but_edges(raw: &str) -> String {
    let digits = raw.chars().filter(|&c| is_any_digit(c)).count();
    let mut seen = 0;
    raw.chars()
        .map(|c| {
            if !is_any_digit(c) {
                return c;
            }
            seen += 1;
            if seen <= SHOWN_FIRST || seen > digits.saturating_sub(SHOWN_LAST) {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Quotes a value for a message (`{:?}`, so blanks show), with anything that
/// looks like a card number masked. Every message that echoes input uses it.
pub fn quoted(raw: &str) -> String {
    format!("{:?}", redact_pans(raw))
}

/// Masks anything in free text that looks like a card number:
/// - a run of 13 to 19 digits (fullwidth ones too) grouped by spaces or
///   dashes, any number of them, however the groups fall, as ever;
/// - digits set off by any other punctuation or space (dots, slashes,
///   underscores, commas, thin, ideographic and zero-width spaces…) in the
///   groups cards are printed in: 4-4-4-4 (to 19 digits), 4-6-5 and 4-6-4,
///   or the issuer's six digits and the rest. In other groups such digits
///   are dates, amounts and references (`2026/11/24`, `100.00`,
///   `CR_20261124_00007`), and stay.
///
/// Shorter runs are left alone: a 12-digit run is more often an rrn than a
/// card, and the card column has its own guard, [`mask_card_cell`].
///
/// Applied on ingest to every free-text field (names, reasons, request
/// references) and to every value an error message quotes.
pub fn redact_pans(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_any_digit) {
        return Cow::Borrowed(text);
    }
    let scan = Scan::new(text);
    let mut spans = scan.runs(*PAN_RUN_IN_TEXT.start(), is_space_or_dash);
    spans.extend(scan.card_groups());
    spans.extend(scan.luhn_numbers());
    masked(text, spans)
}

/// Like [`redact_pans`]'s runs, but from 12 digits, as short as a card
/// number may be, and grouped by dots, slashes and underscores too: for a
/// line that could not be split into its fields, where a 12-digit card
/// cannot be told from a 12-digit rrn (masked too). Commas, semicolons, bars
/// and tabs are taken for field delimiters.
pub fn redact_all_card_lengths(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_any_digit) {
        return Cow::Borrowed(text);
    }
    let grouping = |c: char| {
        is_space_or_dash(c) || matches!(c, '.' | '/' | '_' | '\u{ff0e}' | '\u{ff0f}' | '\u{ff3f}')
    };
    masked(text, Scan::new(text).runs(*PAN_LENGTHS.start(), grouping))
}

/// Spaces and dashes of every kind, the invisible ones included: what may
/// group a card number's digits in any way.
fn is_space_or_dash(c: char) -> bool {
    matches!(
        c,
        ' ' | '-'
            | '\u{a0}'
            | '\u{ad}'
            | '\u{2000}'..='\u{200b}'
            | '\u{2010}'..='\u{2015}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{2212}'
            | '\u{3000}'
            | '\u{fe63}'
            | '\u{ff0d}'
    )
}

/// `text` with the digits of every span (byte ranges, in any order, perhaps
/// overlapping) masked but the first 6 and last 4 of each merged span.
fn masked(text: &str, mut spans: Vec<(usize, usize)>) -> Cow<'_, str> {
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in merged {
        out.push_str(&text[last..start]);
        out.push_str(&mask_all_digits_but_edges(&text[start..end]));
        last = end;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// The most characters between two groups of a card number's digits.
const MOST_BETWEEN_GROUPS: usize = 3;

/// The most characters between two groups that [`Scan::luhn_numbers`] joins.
const MOST_BETWEEN_LUHN_GROUPS: usize = 5;

/// A text's characters with their byte offsets, scanned for card numbers.
/// Spans are byte ranges of the text; groups are char ranges of `chars`.
struct Scan {
    chars: Vec<(usize, char)>,
    len: usize,
}

impl Scan {
    fn new(text: &str) -> Scan {
        Scan {
            chars: text.char_indices().collect(),
            len: text.len(),
        }
    }

    /// The byte offset of char `k` (the text's end past the last).
    fn byte(&self, k: usize) -> usize {
        self.chars.get(k).map_or(self.len, |&(byte, _)| byte)
    }

    fn digit_at(&self, k: usize) -> bool {
        self.chars.get(k).is_some_and(|&(_, c)| is_any_digit(c))
    }

    /// The runs of at least `shortest` digits, grouped by `grouping`
    /// characters (however many between two groups).
    fn runs(&self, shortest: usize, grouping: impl Fn(char) -> bool) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut i = 0;
        while i < self.chars.len() {
            if !self.digit_at(i) {
                i += 1;
                continue;
            }
            let (start, mut end, mut digits, mut j) = (i, i, 0, i);
            while j < self.chars.len() {
                if self.digit_at(j) {
                    digits += 1;
                    j += 1;
                    end = j;
                } else if grouping(self.chars[j].1) {
                    let gap = self.chars[j..]
                        .iter()
                        .take_while(|&&(_, c)| grouping(c))
                        .count();
                    if !self.digit_at(j + gap) {
                        break;
                    }
                    j += gap;
                } else {
                    break;
                }
            }
            if digits >= shortest {
                spans.push((self.byte(start), self.byte(end)));
            }
            i = end.max(i + 1);
        }
        spans
    }

    /// Every chain of groups of digits set off by 1 to `most` characters
    /// for which `between` holds: each group as its (first, end) chars.
    fn chains(&self, most: usize, between: impl Fn(char) -> bool) -> Vec<Vec<(usize, usize)>> {
        let mut chains = Vec::new();
        let mut i = 0;
        while i < self.chars.len() {
            if !self.digit_at(i) {
                i += 1;
                continue;
            }
            let mut groups = Vec::new();
            let mut j = i;
            loop {
                let start = j;
                while self.digit_at(j) {
                    j += 1;
                }
                groups.push((start, j));
                let gap = self.chars[j..]
                    .iter()
                    .take(most + 1)
                    .take_while(|&&(_, c)| between(c))
                    .count();
                if (1..=most).contains(&gap) && self.digit_at(j + gap) {
                    j += gap;
                } else {
                    break;
                }
            }
            i = j;
            chains.push(groups);
        }
        chains
    }

    /// Groups of digits, set off by up to [`MOST_BETWEEN_GROUPS`]
    /// characters that are neither letters, digits nor line breaks, that
    /// fall as a card number's do (see [`redact_pans`]).
    fn card_groups(&self) -> Vec<(usize, usize)> {
        let between = |c: char| !c.is_alphanumeric() && !matches!(c, '\n' | '\r');
        let mut spans = Vec::new();
        for groups in self.chains(MOST_BETWEEN_GROUPS, between) {
            let sizes: Vec<usize> = groups.iter().map(|&(start, end)| end - start).collect();
            for first in 0..groups.len() {
                let card = match &sizes[first..] {
                    [4, 4, 4, 4, k, ..] if (1..=3).contains(k) => Some(5),
                    [4, 4, 4, k, ..] if (1..=4).contains(k) => Some(4),
                    [4, 6, k, ..] if (4..=5).contains(k) => Some(3),
                    _ => None,
                };
                if let Some(count) = card {
                    let last = groups[first + count - 1];
                    spans.push((self.byte(groups[first].0), self.byte(last.1)));
                }
            }
        }
        spans
    }

    /// The card numbers hidden in any other form: groups of digits set off
    /// by up to [`MOST_BETWEEN_LUHN_GROUPS`] characters that are not letters
    /// or digits (line breaks, invisible marks and combining marks
    /// included), where consecutive groups of three digits or more hold 13
    /// to 19 digits that pass the Luhn check every card number passes. It
    /// catches groupings no rule foresees (6-6-4, 8-8, a card split over two
    /// lines of a reason, a mark inside a run), at the price of masking one
    /// in ten other such numbers.
    fn luhn_numbers(&self) -> Vec<(usize, usize)> {
        let value = |k: usize| {
            let c = self.chars[k].1;
            c.to_digit(10).or_else(|| fullwidth_digit(c))
        };
        let mut spans = Vec::new();
        for groups in self.chains(MOST_BETWEEN_LUHN_GROUPS, |c| !c.is_alphanumeric()) {
            for first in 0..groups.len() {
                let mut number: Vec<u32> = Vec::new();
                for &(start, end) in &groups[first..] {
                    // Groups of one or two digits are dates, times and cents
                    // (`2026-11-23 12:10:00`, `100.00`), never a card's.
                    if end - start < 3 {
                        break;
                    }
                    let Some(digits) = (start..end).map(value).collect::<Option<Vec<u32>>>() else {
                        break;
                    };
                    number.extend(digits);
                    if number.len() > *PAN_LENGTHS.end() {
                        break;
                    }
                    if number.len() >= *PAN_RUN_IN_TEXT.start() && luhn_valid(&number) {
                        spans.push((self.byte(groups[first].0), self.byte(end)));
                    }
                }
            }
        }
        spans
    }
}

/// The value of a digit written other than in ASCII: fullwidth, and the
/// digits of the scripts a cardholder's name or a reason may be typed in.
fn fullwidth_digit(c: char) -> Option<u32> {
    const ZEROS: [u32; 9] = [
        0xff10, 0x0660, 0x06f0, 0x0966, 0x09e6, 0x0e50, 0x1040, 0x17e0, 0x1810,
    ];
    let code = u32::from(c);
    ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&code))
        .map(|&zero| code - zero)
}

/// Whether `digits` pass the Luhn check that card numbers are made to pass.
fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2, d * 2) {
            (1, doubled) if doubled > 9 => doubled - 9,
            (1, doubled) => doubled,
            _ => d,
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_cases() {
        #[track_caller]
        fn case(raw: &str, want: Result<&str, &str>) {
            let got = MaskedPan::mask(raw);
            assert_eq!(
                got.as_ref().map(MaskedPan::as_str).map_err(String::as_str),
                want
            );
        }
        case("6228480012345678", Ok("622848******5678"));
        case("622848******5678", Ok("622848******5678"));
        case("622848xxxxxx5678", Ok("622848******5678"));
        case("6228 4800 1234 5678", Ok("622848******5678"));
        case("6228-4800-1234-5678", Ok("622848******5678"));
        case("6228480012345678901", Ok("622848******8901"));
        case("622848*********8901", Ok("622848******8901"));
        case("622848****5678", Ok("622848******5678"));
        // Masked more tightly than we would: the hidden digits stay hidden.
        case("6228**********5678", Ok("6228********5678"));
        // Masked too loosely: the extra digits are hidden.
        case("6228480012****5678", Ok("622848******5678"));
        case(
            "62284800123456789x",
            Err(
                r#""622848*******6789x" is not a card number (12 to 19 digits, optionally masked with *)"#,
            ),
        );
        case(
            "6228480012345678ABC",
            Err(
                r#""622848******5678ABC" is not a card number (12 to 19 digits, optionally masked with *)"#,
            ),
        );
        case(
            "12345",
            Err(r#""12345" is not a card number (12 to 19 digits, optionally masked with *)"#),
        );
    }

    /// `MaskedPan::mask` as it was when it built strings: the new form must
    /// accept, refuse and show exactly what this did.
    fn mask_as_text(raw: &str) -> Result<String, String> {
        let compact: String = raw.chars().filter(|c| *c != ' ' && *c != '-').collect();
        let ends_are_digits = compact.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && compact.bytes().last().is_some_and(|b| b.is_ascii_digit());
        let well_formed = PAN_LENGTHS.contains(&compact.len())
            && ends_are_digits
            && compact
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'x' | b'X' | b'#'));
        if !well_formed {
            return Err(format!(
                "{:?} is not a card number (12 to 19 digits, optionally masked with *)",
                mask_all_digits_but_edges(raw)
            ));
        }
        let shown = |b: u8| if b.is_ascii_digit() { b as char } else { '*' };
        let bytes = compact.as_bytes();
        let mut masked = String::new();
        masked.extend(bytes[..SHOWN_FIRST].iter().map(|&b| shown(b)));
        masked.push_str("******");
        masked.extend(bytes[bytes.len() - SHOWN_LAST..].iter().map(|&b| shown(b)));
        Ok(masked)
    }

    #[track_caller]
    fn same_as_text(raw: &str) {
        let got = MaskedPan::mask(raw).map(|pan| pan.as_str().to_string());
        assert_eq!(got, mask_as_text(raw), "{raw:?}");
    }

    #[test]
    fn mask_accepts_and_refuses_as_the_text_form_did() {
        for raw in [
            "",
            "   ",
            "-",
            "12345678901",
            "123456789012",
            "1234567890123456789",
            "12345678901234567890",
            "1234 5678 9012 3456 7890",
            "1234-5678-9012-3456-789",
            "*22848001234567",
            "62284800123456*",
            "6228480012345678*",
            "622848001234567８",
            "上海6228480012345678",
            "6228480012345678 ",
            " 6228480012345678",
            "6228_4800_1234_5678",
            "6228#####xxxxX5678",
            "6228480012345678\n",
        ] {
            same_as_text(raw);
        }
    }

    proptest::proptest! {
        #[test]
        fn mask_matches_the_text_form(raw in "[0-9 *xX#-]{0,24}|[0-9]{10,21}|[0-9a -]{12,22}") {
            same_as_text(&raw);
        }

        #[test]
        fn mask_matches_the_text_form_on_any_text(raw in "\\PC{0,22}") {
            same_as_text(&raw);
        }
    }

    #[test]
    fn masked_pans_compare_and_hash_as_their_text() {
        use std::hash::BuildHasher;
        let raws = [
            "6228480012345678",
            "622848******5678",
            "6228**********5678",
            "4367420012347242",
            "524094******3872",
            "622848001234",
            "9999999999999999999",
            "0000000000000",
        ];
        let pans: Vec<MaskedPan> = raws
            .iter()
            .map(|raw| MaskedPan::mask(raw).unwrap())
            .collect();
        let hasher = std::hash::RandomState::new();
        for a in &pans {
            assert_eq!(a.as_str().len(), MASKED_LEN);
            assert_eq!(a.to_string(), a.as_str());
            assert_eq!(hasher.hash_one(a), hasher.hash_one(a.as_str()));
            for b in &pans {
                assert_eq!(a.cmp(b), a.as_str().cmp(b.as_str()), "{a} vs {b}");
                assert_eq!(a == b, a.as_str() == b.as_str(), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn could_be_the_same_card() {
        let pan = |raw: &str| MaskedPan::mask(raw).unwrap();
        assert!(pan("622848******5671").could_be(&pan("6228********5671")));
        assert!(pan("6228480012345671").could_be(&pan("622848****5671")));
        assert!(!pan("622848******5671").could_be(&pan("622849******5671")));
        assert!(!pan("622848******5671").could_be(&pan("622848******5672")));
        assert!(pan("6228********5671").is_loosely_masked());
        assert!(!pan("622848******5671").is_loosely_masked());
    }

    #[test]
    fn debug_and_display_show_only_the_masked_form() {
        let pan = MaskedPan::mask("6228480012345678").unwrap();
        assert_eq!(format!("{pan}"), "622848******5678");
        assert_eq!(format!("{pan:?}"), "MaskedPan(622848******5678)");
    }

    #[test]
    fn redact_cases() {
        #[track_caller]
        fn case(text: &str, want: &str) {
            assert_eq!(redact_pans(text), want);
        }
        case(
            "refund card 6228480012345678 please",
            "refund card 622848******5678 please",
        );
        case("card 6228 4800 1234 5678.", "card 6228 48** **** 5678.");
        case(
            "rrn 123456789012, trace 000123",
            "rrn 123456789012, trace 000123",
        );
        case(
            "amount 100.00 and 12345678901234",
            "amount 100.00 and 123456****1234",
        );
        case("", "");
        case("上海 6228480012345678", "上海 622848******5678");
        // Grouped however MaskedPan::mask accepts it.
        case("card 6228  4800  1234  5671", "card 6228  48**  ****  5671");
        case(
            "card 6228 - 4800 - 1234 - 5671",
            "card 6228 - 48** - **** - 5671",
        );
        // A dash or space with no digits after it ends the run.
        case("6228480012345678 - ok", "622848******5678 - ok");
        // Dates and times stay readable.
        case("2026-11-23 09:15:02", "2026-11-23 09:15:02");
        // Grouped by dots, slashes or underscores.
        case("time 6228.4800.1234.5674", "time 6228.48**.****.5674");
        case("6228/4800/1234/5675 x", "6228/48**/****/5675 x");
        case("6228_4800_1234_5675", "6228_48**_****_5675");
        // One dot is a decimal point, not a card's grouping.
        case("10000000000.00 is too large", "10000000000.00 is too large");
        case("12345678901234.00", "123456****1234.00");
        // A dot among other groupings groups too.
        case("card 6228 4800.1234 5678", "card 6228 48**.**** 5678");
        // Before two digits a dot is a decimal point: a date after an
        // amount stays readable.
        case(
            "refund 100.00 2026-11-24 asked",
            "refund 100.00 2026-11-24 asked",
        );
        // Set off by other than spaces or dashes, only groups of four are a
        // card's: a dated reference is not one.
        case("CR_20261124_00007", "CR_20261124_00007");
        case("REF 2026/11/24/000007", "REF 2026/11/24/000007");
        case("amex 3782.822463.10005", "amex 3782.82****.*0005");
        // Card-like groups beside a date or a number are masked.
        case(
            "2026-11-24 6228.4800.1234.5671 charged twice",
            "2026-11-24 6228.48**.****.5671 charged twice",
        );
        case("qty 2 6228/4800/1234/5671", "qty 2 6228/48**/****/5671");
        // Whatever sets the groups off: thin, zero-width and no-break
        // spaces, soft hyphens, minus signs, commas, middle dots, tabs.
        for between in [
            "\u{2009}", "\u{202f}", "\u{2007}", "\u{200b}", "\u{ad}", "\u{2212}", "\u{fe63}",
            "\u{ff0c}", "\u{3001}", "\u{b7}", "\u{30fb}", "\t", ",", ", ",
        ] {
            let card = ["6228", "4800", "1234", "5671"].join(between);
            let want = ["6228", "48**", "****", "5671"].join(between);
            assert_eq!(redact_pans(&card), want, "{between:?}");
        }
        // Any other grouping, a line break or an invisible mark inside, a
        // wide gap: caught by the Luhn check card numbers pass.
        for hidden in [
            "622848.001234.5671",
            "62284800.12345671",
            "6228.480012345671",
            "6228.4800.12345671",
            "6228 4800\n1234 5671",
            "6228480012\r\n345671",
            "62284800\u{200e}12345671",
            "62284800\u{2060}12345671",
            "62284800\u{301}12345671",
            "6228  /  4800  /  1234  /  5671",
            "６２２８４８．００１２３４．５６７１",
        ] {
            let masked = redact_pans(hidden);
            let digits: String = masked.chars().filter(char::is_ascii_digit).collect();
            assert!(
                !digits.contains("0012345") && !masked.contains("００１２３４"),
                "{hidden:?} → {masked:?}"
            );
        }
        // A number that fails the check, grouped so, stays.
        case("order 123456/1234567", "order 123456/1234567");
        // Amounts, dates and times stay.
        case("100.00 200.00 300.00", "100.00 200.00 300.00");
        case("2026.11.24 10.00 yuan", "2026.11.24 10.00 yuan");
        case(
            "at 2026-11-23 09:15:02, 1,234,567.00",
            "at 2026-11-23 09:15:02, 1,234,567.00",
        );
        // A card among other digits is masked whatever groups them.
        case("6228480012345678_01", "622848******5678_01");
        case(
            "card 6228480012345678 / 2026",
            "card 622848******5678 / 2026",
        );
        case("2026/11/23 6228480012345678", "2026/11/23 6228********5678");
        case(
            "CR_20261124_6228480012345678",
            "CR_20261124_622848******5678",
        );
        case("1.6228480012345678", "1.622848******5678");
        case("6228480012345671. 150 yuan", "622848******5671. 150 yuan");
        case("3782/822463/10005", "3782/82****/*0005");
        case("622848.0012345671", "622848.******5671");
        case(
            "３７８２\u{3000}８２２４６３\u{3000}１０００５",
            "３７８２\u{3000}８２****\u{3000}*０００５",
        );
        // Fullwidth and ideographic separators, as fullwidth input types them.
        case(
            "退到卡６２２８\u{3000}４８００\u{3000}１２３４\u{3000}５６７６",
            "退到卡６２２８\u{3000}４８**\u{3000}****\u{3000}５６７６",
        );
        // Fullwidth digits, as Chinese input methods type them.
        case(
            "卡号６２２８４８００１２３４５６７６",
            "卡号６２２８４８******５６７６",
        );
    }

    proptest::proptest! {
        /// Masking only ever turns digits into stars: every other character
        /// stays where it was, on any text (and nothing panics).
        #[test]
        fn redact_pans_changes_only_digits(text in "\\PC{0,40}|[0-9 ./_\\-\u{2009}\u{200e}\n]{0,40}") {
            let masked = redact_pans(&text);
            proptest::prop_assert_eq!(masked.chars().count(), text.chars().count());
            for (was, now) in text.chars().zip(masked.chars()) {
                proptest::prop_assert!(was == now || (is_any_digit(was) && now == '*'));
            }
        }
    }

    #[test]
    fn redact_all_card_lengths_cases() {
        #[track_caller]
        fn case(text: &str, want: &str) {
            assert_eq!(redact_all_card_lengths(text), want);
        }
        case("a|622848001234|b", "a|622848**1234|b");
        case("a|6228  4800  1234|b", "a|6228  48**  1234|b");
        case("a|62284800123|b", "a|62284800123|b");
        case("a|6228480012345671|b", "a|622848******5671|b");
        case("a,6228.4800.1234.5679,b", "a,6228.48**.****.5679,b");
        case("a;6228/4800/1234/5679;b", "a;6228/48**/****/5679;b");
        case("12.30,5.00", "12.30,5.00");
    }

    #[test]
    fn mask_card_cell_cases() {
        #[track_caller]
        fn case(raw: &str, want: &str) {
            assert_eq!(mask_card_cell(raw), want);
        }
        case("6228480012345671", "622848******5671");
        case("622848001234", "622848******1234");
        case("6228  4800  1234  5671", "622848******5671");
        case(" 6228-4800-1234-5671 ", "622848******5671");
        case("6228.4800.1234.5671", "6228.48**.****.5671");
        case(
            "６２２８４８００１２３４５６７６",
            "６２２８４８******５６７６",
        );
        case("622848******1234", "622848******1234");
        case("", "");
        case("n/a", "n/a");
    }
}
