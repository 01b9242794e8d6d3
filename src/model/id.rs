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

/// The bytes of a complete `str`, then their length in the last byte, where
/// the 240 values `Len` does not use mark the other variant (and `None`).
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
        let mut bytes = [0; INLINE];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(Inline { bytes, len })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
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

impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        self.as_bytes() == other.as_bytes()
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
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Id {
    // The same as the `str`'s, which `Borrow<str>` lookups rely on.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
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

    use super::*;

    #[test]
    fn sixteen_bytes_and_so_is_an_option() {
        assert_eq!(size_of::<Id>(), 16);
        assert_eq!(size_of::<Option<Id>>(), 16);
    }

    #[test]
    fn behaves_as_its_str() {
        fn hash(value: impl Hash) -> u64 {
            let mut state = DefaultHasher::new();
            value.hash(&mut state);
            state.finish()
        }

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
            "ab\u{0}c",
        ];
        for a in texts {
            let id = Id::from(a);
            assert_eq!(id.as_str(), a);
            assert_eq!(Id::from(a.to_string()), id);
            assert_eq!(id.to_string(), a);
            assert_eq!(format!("{id:?}"), format!("{a:?}"));
            assert_eq!(format!("[{id:>20}]"), format!("[{a:>20}]"));
            assert_eq!(hash(&id), hash(a));
            for b in texts {
                assert_eq!(id.cmp(&Id::from(b)), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(id == Id::from(b), a == b);
            }
        }
        assert_eq!(Id::default(), Id::from(""));
    }
}
