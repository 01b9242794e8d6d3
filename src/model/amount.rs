//! Money as an exact count of minor units (fen for CNY).
//!
//! Amounts are integers so sums and comparisons are exact and cheap; the only
//! conversions are parsing (in `read`) and `Display` here.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Sub};

use rust_decimal::Decimal;

/// An exact amount of money in minor units (1.00 CNY = 100).
///
/// Input amounts are never negative; a difference of two amounts may be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// An amount of `minor` minor units (fen).
    pub const fn from_minor(minor: i64) -> Amount {
        Amount(minor)
    }

    /// The amount in minor units (fen).
    pub const fn minor(self) -> i64 {
        self.0
    }

    /// The distance between two amounts, never negative.
    pub fn abs_diff(self, other: Amount) -> Amount {
        Amount((self.0 - other.0).abs())
    }

    /// The amount as a `Decimal` with two places, for rate arithmetic.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Rounds a `Decimal` of currency units to the nearest minor unit, halves
    /// away from zero (the rounding banks use for fees).
    pub fn from_decimal_rounded(value: Decimal) -> Option<Amount> {
        let rounded =
            value.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let minor = rounded.checked_mul(Decimal::ONE_HUNDRED)?;
        i64::try_from(minor).ok().map(Amount)
    }
}

impl Add for Amount {
    type Output = Amount;
    fn add(self, rhs: Amount) -> Amount {
        // Sums stay far below i64::MAX fen (92 quadrillion yuan): the reader
        // refuses a file past 100 trillion. Overflow is a bug.
        Amount(
            self.0
                .checked_add(rhs.0)
                .expect("IE: amount sum overflowed i64"),
        )
    }
}

impl Sub for Amount {
    type Output = Amount;
    fn sub(self, rhs: Amount) -> Amount {
        Amount(
            self.0
                .checked_sub(rhs.0)
                .expect("IE: amount difference overflowed i64"),
        )
    }
}

impl Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, Add::add)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_always_has_two_places() {
        #[track_caller]
        fn case(minor: i64, want: &str) {
            assert_eq!(Amount::from_minor(minor).to_string(), want);
        }
        case(0, "0.00");
        case(5, "0.05");
        case(1230, "12.30");
        case(-1230, "-12.30");
        case(-5, "-0.05");
        case(123_456_789, "1234567.89");
    }

    #[test]
    fn rounding_of_fees_is_half_away_from_zero() {
        #[track_caller]
        fn case(value: &str, want: i64) {
            let value: Decimal = value.parse().unwrap();
            assert_eq!(
                Amount::from_decimal_rounded(value),
                Some(Amount::from_minor(want))
            );
        }
        case("0.385", 39);
        case("0.384", 38);
        case("0.375", 38);
        case("12", 1200);
    }
}
