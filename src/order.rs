//! Sorting a night's records into the content-derived order matching visits
//! them in, fast. Pure.
//!
//! Comparing two records through their indexes reads both from wherever they
//! lie in memory; over millions of records that was a sixth of a run (perf).
//! Here each record's leading sort fields are copied once into a fixed-width
//! byte key, the keys are sorted side by side, and only records whose keys tie
//! are compared in full. The result is exactly that of a stable sort by the
//! full comparison.

use std::cmp::Ordering;

/// Writes `field` into `key` padded with zero bytes to `width`; `false` when
/// it does not fit or holds a zero byte, where padding would no longer
/// compare like the text. Any bytes will do: an `Id`'s, unlike its `&str`,
/// cost no UTF-8 check.
pub(crate) fn put_text(key: &mut Vec<u8>, field: impl AsRef<[u8]>, width: usize) -> bool {
    let bytes = field.as_ref();
    if bytes.len() > width || bytes.contains(&0) {
        return false;
    }
    key.extend_from_slice(bytes);
    key.resize(key.len() + width - bytes.len(), 0);
    true
}

/// Writes `field`, exactly `digits` ASCII digits, as a big-endian number in
/// `bytes` bytes; `false` for any other text. Numbers of as many digits
/// order like their text, in fewer bytes than the text.
pub(crate) fn put_digits(
    key: &mut Vec<u8>,
    field: impl AsRef<[u8]>,
    digits: usize,
    bytes: usize,
) -> bool {
    let text = field.as_ref();
    debug_assert!(digits <= 19 && bytes <= 8 && 10u128.pow(digits as u32) <= 1u128 << (8 * bytes));
    if text.len() != digits || !text.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let value = text
        .iter()
        .fold(0u64, |value, &digit| value * 10 + u64::from(digit - b'0'));
    key.extend_from_slice(&value.to_be_bytes()[8 - bytes..]);
    true
}

/// Writes `value` so that bytes compare like the signed numbers.
pub(crate) fn put_i32(key: &mut Vec<u8>, value: i32) {
    key.extend_from_slice(&(value.cast_unsigned() ^ (1 << 31)).to_be_bytes());
}

/// Sorts `0..count` as a stable sort by `full` would.
///
/// `key(i, buffer)` appends record `i`'s key of `W` × 8 bytes to `buffer`, or
/// returns `false` when it cannot; then the plain sort is used. A key must be
/// a coarser form of `full`: key(a) < key(b) only when full(a, b) is `Less`.
/// Keys are compared as big-endian 64-bit words, which order like the bytes
/// but take a few integer comparisons instead of a `memcmp` call.
pub(crate) fn sorted<const W: usize>(
    count: usize,
    key: impl Fn(usize, &mut Vec<u8>) -> bool,
    full: impl Fn(usize, usize) -> Ordering,
) -> Vec<usize> {
    let plain = || {
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by(|&a, &b| full(a, b));
        order
    };
    let Ok(count32) = u32::try_from(count) else {
        return plain();
    };
    let mut keyed: Vec<([u64; W], u32)> = Vec::with_capacity(count);
    let mut buffer = Vec::with_capacity(W * 8);
    for i in 0..count32 {
        buffer.clear();
        if !key(i as usize, &mut buffer) || buffer.len() != W * 8 {
            return plain();
        }
        let mut words = [0u64; W];
        for (word, bytes) in words.iter_mut().zip(buffer.chunks_exact(8)) {
            *word = u64::from_be_bytes(bytes.try_into().expect("chunks of 8"));
        }
        keyed.push((words, i));
    }
    // Unstable is fine: the index is part of what is sorted.
    keyed.sort_unstable();
    let mut order: Vec<usize> = keyed.iter().map(|&(_, i)| i as usize).collect();
    let mut start = 0;
    while start < keyed.len() {
        let end = start
            + keyed[start..]
                .iter()
                .take_while(|(k, _)| *k == keyed[start].0)
                .count();
        if end - start > 1 {
            // Indexes within a run are ascending, so this stable sort breaks
            // full ties by position, as the plain sort does.
            order[start..end].sort_by(|&a, &b| full(a, b));
        }
        start = end;
    }
    order
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Records as (name, number, tiebreak): the key holds name and number,
    /// the full comparison also the tiebreak.
    fn check(records: &[(String, i32, u8)], width: usize) {
        let full = |a: usize, b: usize| records[a].cmp(&records[b]);
        let mut want: Vec<usize> = (0..records.len()).collect();
        want.sort_by(|&a, &b| full(a, b));
        let got = match width {
            4 => sorted::<2>(
                records.len(),
                |i, key| {
                    // The number spans both words, so that their order counts.
                    let fits = put_text(key, &records[i].0, 4);
                    key.extend_from_slice(&[0; 2]);
                    put_i32(key, records[i].1);
                    key.extend_from_slice(&[0; 6]);
                    fits
                },
                full,
            ),
            _ => unreachable!(),
        };
        assert_eq!(got, want);
    }

    #[test]
    fn only_digits_of_the_width_fit() {
        let mut key = Vec::new();
        for text in ["12345", "1234567", "12a456", "-12345", "１２３４５６"] {
            assert!(!put_digits(&mut key, text, 6, 3), "{text}");
        }
        assert!(key.is_empty());
        assert!(put_digits(&mut key, "999999", 6, 3));
        assert_eq!(key, [0x0f, 0x42, 0x3f]);
    }

    #[test]
    fn ties_and_fallback() {
        let r = |name: &str, n: i32, t: u8| (name.to_string(), n, t);
        // Prefixes, negative numbers, full ties in file order.
        check(
            &[
                r("ab", 1, 0),
                r("a", 5, 0),
                r("abc", -3, 2),
                r("ab", 1, 0),
                r("abc", -3, 1),
                r("", 0, 0),
            ],
            4,
        );
        // Too long for the key, or a zero byte: the plain sort.
        check(&[r("abcde", 1, 0), r("abcd", 2, 0)], 4);
        check(&[r("a\0", 1, 0), r("a", 2, 0)], 4);
    }

    proptest! {
        #[test]
        fn digits_compare_as_their_bytes(a in "[0-9]{6}", b in "[0-9]{6}", c in "[0-9]{15}") {
            let bytes = |text: &str, digits, width| {
                let mut key = Vec::new();
                prop_assert!(put_digits(&mut key, text, digits, width));
                prop_assert_eq!(key.len(), width);
                Ok(key)
            };
            prop_assert_eq!(bytes(&a, 6, 3)?.cmp(&bytes(&b, 6, 3)?), a.cmp(&b));
            prop_assert_eq!(bytes(&c, 15, 7)?.cmp(&bytes(&a.repeat(3)[..15], 15, 7)?), c.as_str().cmp(&a.repeat(3)[..15]));
        }

        #[test]
        fn signed_numbers_compare_as_their_bytes(c: i32, d: i32) {
            let bytes = |put: &dyn Fn(&mut Vec<u8>)| {
                let mut key = Vec::new();
                put(&mut key);
                key
            };
            prop_assert_eq!(
                bytes(&|k| put_i32(k, c)).cmp(&bytes(&|k| put_i32(k, d))),
                c.cmp(&d)
            );
        }

        #[test]
        fn same_order_as_a_stable_sort(
            records in prop::collection::vec(("[ab\\x00]{0,5}", -3i32..3, 0u8..3), 0..40)
        ) {
            check(&records, 4);
        }
    }
}
