//! A short identifier held in 16 bytes, inline up to 15 bytes.
//!
//! A night holds millions of records with six to eight identifiers each, so
//! their size is most of a run's memory. Identifiers in the files are short
//! digit strings (a merchant id, the longest, has 15), so they live inline;
//! a longer one (a free-text reference) goes to the heap.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The most bytes held inline.
const INLINE: usize = 15;

/// A short identifier as it appears in the file (MID, TID, batch, trace, rrn).
///
/// Compares, orders and hashes exactly as its `&str` does, so maps keyed by
/// `Id` can be looked up with a `&str`.
#[derive(Clone)]
pub struct Id(Repr);

#[derive(Clone)]
enum Repr {
    Inline(Inline),
    // A thin pointer: a `Box<str>` would be 16 bytes and cover the byte that
    // tells the variants apart.
    Heap(Box<Box<str>>),
}

/// The bytes of a complete `str` and zeros after them, then their length in
/// the last byte, where the 240 values `Len` does not use mark the other
/// variant (and `None`).
#[derive(Clone, Copy)]
#[repr(C)]
struct Inline {
    bytes: [u8; INLINE],
    len: Len,
}

#[derive(Clone, Copy)]
#[repr(u8)]
enum Len {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
}

/// `LENS[n]` is the `Len` of `n` bytes.
const LENS: [Len; INLINE + 1] = [
    Len::L0,
    Len::L1,
    Len::L2,
    Len::L3,
    Len::L4,
    Len::L5,
    Len::L6,
    Len::L7,
    Len::L8,
    Len::L9,
    Len::L10,
    Len::L11,
    Len::L12,
    Len::L13,
    Len::L14,
    Len::L15,
];

const _: () = assert!(size_of::<Id>() == 16 && size_of::<Option<Id>>() == 16);

impl Id {
    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(inline) => std::str::from_utf8(inline.as_bytes())
                .expect("IE: inline bytes are always a whole str"),
            Repr::Heap(text) => text,
        }
    }

    /// The identifier's UTF-8 bytes, without the check `as_str` makes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(inline) => inline.as_bytes(),
            Repr::Heap(text) => text.as_bytes(),
        }
    }
}

impl Inline {
    fn new(text: &str) -> Option<Inline> {
        let len = *LENS.get(text.len())?;
        Some(Inline {
            bytes: padded(text.as_bytes()),
            len,
        })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The text, the zeros after it and its length as one number. Numbers
    /// order as their texts do: past the shorter text, a zero is less than
    /// any byte the longer one holds, and with every byte equal the shorter
    /// is less.
    fn key(self) -> u128 {
        let mut all = [self.len as u8; INLINE + 1];
        all[..INLINE].copy_from_slice(&self.bytes);
        u128::from_be_bytes(all)
    }
}

/// `src` (at most 15 bytes) and zeros after it. A copy of a length known
/// only at run time calls `memcpy`, and reading its bytes back as words
/// stalls; a row builds several ids, so `src` is read instead as two
/// overlapping words of the widest size it holds.
fn padded(src: &[u8]) -> [u8; INLINE] {
    // A word read from `src` at `at`, moved to its place among the 16 bytes.
    let shifted = |word: u128, at: usize| word << (8 * at);
    let n = src.len();
    let word = if let (Some(first), Some(last)) = (src.first_chunk(), src.last_chunk()) {
        u128::from(u64::from_le_bytes(*first)) | shifted(u64::from_le_bytes(*last).into(), n - 8)
    } else if let (Some(first), Some(last)) = (src.first_chunk(), src.last_chunk()) {
        u128::from(u32::from_le_bytes(*first)) | shifted(u32::from_le_bytes(*last).into(), n - 4)
    } else if let (Some(first), Some(last)) = (src.first_chunk(), src.last_chunk()) {
        u128::from(u16::from_le_bytes(*first)) | shifted(u16::from_le_bytes(*last).into(), n - 2)
    } else {
        src.first().copied().map_or(0, u128::from)
    };
    let [bytes @ .., _] = word.to_le_bytes();
    bytes
}

impl Default for Id {
    fn default() -> Id {
        Id::from("")
    }
}

impl From<&str> for Id {
    fn from(text: &str) -> Id {
        Id(match Inline::new(text) {
            Some(inline) => Repr::Inline(inline),
            None => Repr::Heap(Box::new(text.into())),
        })
    }
}

impl From<String> for Id {
    fn from(text: String) -> Id {
        Id(match Inline::new(&text) {
            Some(inline) => Repr::Inline(inline),
            None => Repr::Heap(Box::new(text.into_boxed_str())),
        })
    }
}

impl Deref for Id {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Id {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        match (&self.0, &other.0) {
            (Repr::Inline(a), Repr::Inline(b)) => a.key() == b.key(),
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for Id {}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Id) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Id {
    // `str` orders by its bytes.
    fn cmp(&self, other: &Id) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Inline(a), Repr::Inline(b)) => a.key().cmp(&b.key()),
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

impl Hash for Id {
    // Exactly what `str`'s `Hash` does through `Hasher::write_str`, which
    // stable Rust does not let a hasher override; `Borrow<str>` lookups
    // rely on the two agreeing (tested with the hashers this crate uses).
    // Hashing the bytes, not `as_str`, skips the UTF-8 check.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn sixteen_bytes_and_so_is_an_option() {
        assert_eq!(size_of::<Id>(), 16);
        assert_eq!(size_of::<Option<Id>>(), 16);
    }

    /// Checks that `Id`s of `a` and `b` behave as the `str`s do.
    #[track_caller]
    fn same_as_str(a: &str, b: &str) {
        // Each hasher the crate keys maps or digests with.
        fn hashes(value: impl Hash) -> [u64; 3] {
            let mut state = DefaultHasher::new();
            value.hash(&mut state);
            [
                state.finish(),
                foldhash::fast::FixedState::default().hash_one(&value),
                foldhash::fast::FixedState::with_seed(7).hash_one(&value),
            ]
        }

        let id = Id::from(a);
        assert_eq!(id.as_str(), a);
        assert_eq!(Id::from(a.to_string()), id);
        assert_eq!(id.to_string(), a);
        assert_eq!(format!("{id:?}"), format!("{a:?}"));
        assert_eq!(format!("[{id:>20}]"), format!("[{a:>20}]"));
        assert_eq!(hashes(&id), hashes(a));
        assert_eq!(id.cmp(&Id::from(b)), a.cmp(b), "{a:?} vs {b:?}");
        assert_eq!(id == Id::from(b), a == b, "{a:?} vs {b:?}");
    }

    #[test]
    fn behaves_as_its_str() {
        let texts = [
            "",
            "0",
            "000829",
            "41000001",
            "898796573200000",
            "8987965732000001",
            "REF-2026-11-24-00001234",
            "退款",
            "退款申请编号一二三",
            "ab",
            "ab\u{0}",
            "ab\u{0}\u{0}",
            "ab\u{0}c",
            "abc",
            "\u{0}",
            "\u{7f}",
            "\u{80}",
        ];
        for a in texts {
            for b in texts {
                same_as_str(a, b);
            }
        }
        assert_eq!(Id::default(), Id::from(""));
    }

    #[test]
    fn keeps_every_length_whole() {
        let digits = "0123456789abcdefghij";
        for n in 0..=digits.len() {
            assert_eq!(Id::from(&digits[..n]).as_str(), &digits[..n]);
        }
        for n in 0..=8 {
            let text = "é".repeat(n);
            assert_eq!(Id::from(text.as_str()).as_str(), text);
        }
    }

    proptest::proptest! {
        // Few letters, so that texts often share a prefix; zeros, as padding
        // is zeros; lengths on both sides of the inline limit.
        #[test]
        fn any_two_texts_behave_as_their_strs(a in "[ab\\x00é]{0,17}", b in "[ab\\x00é]{0,17}") {
            same_as_str(&a, &b);
        }
    }
}
