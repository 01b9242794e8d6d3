//! The policy settings of SPEC §3 and the calendar rules they imply. Pure.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use rust_decimal::Decimal;

use crate::model::{Amount, Id, quoted};

/// Whether a SUSPECTED_DUPLICATE is only reported or also cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicatePolicy {
    /// Report the later transaction; take no action.
    #[default]
    Flag,
    /// Report it and treat it as a cancellation.
    Cancel,
}

impl DuplicatePolicy {
    /// The spelling used in the config file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicatePolicy::Flag => "flag",
            DuplicatePolicy::Cancel => "cancel",
        }
    }
}

/// Contracted fee rates: one for everyone, overridden per merchant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeeRates {
    pub default: Option<Decimal>,
    pub by_merchant: HashMap<Id, Decimal>,
}

impl FeeRates {
    /// The rate contracted with `merchant_id`, if any is configured.
    pub fn rate_for(&self, merchant_id: &str) -> Option<Decimal> {
        self.by_merchant.get(merchant_id).copied().or(self.default)
    }
}

/// The settings that decide outcomes and actions (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// A transaction at or after this time belongs to the next business day.
    pub cutoff: NaiveTime,
    /// Business days a terminal record may wait for its settlement.
    pub settlement_lag_days: u32,
    /// Days after the business day during which a refund may be instructed.
    pub refund_window_days: u32,
    /// Largest amount difference that still counts as equal.
    pub amount_tolerance: Amount,
    /// Largest time difference for the tolerant matching pass.
    pub time_tolerance: TimeDelta,
    /// Same card, amount and terminal within this window is a suspected duplicate.
    pub duplicate_window: TimeDelta,
    pub suspected_duplicates: DuplicatePolicy,
    pub fee_rates: FeeRates,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            cutoff: NaiveTime::from_hms_opt(23, 0, 0).expect("IE: 23:00 is a valid time"),
            settlement_lag_days: 1,
            refund_window_days: 180,
            amount_tolerance: Amount::ZERO,
            time_tolerance: TimeDelta::minutes(10),
            duplicate_window: TimeDelta::minutes(2),
            suspected_duplicates: DuplicatePolicy::Flag,
            fee_rates: FeeRates::default(),
        }
    }
}

impl Policy {
    /// The business day a moment belongs to: its date, or the next day at or
    /// after the cutoff.
    pub fn business_day(&self, at: NaiveDateTime) -> NaiveDate {
        // A cutoff at midnight is the calendar day's end, not a turn at its
        // start that would put every transaction on the next day.
        if self.cutoff != NaiveTime::MIN && at.time() >= self.cutoff {
            at.date() + Days::new(1)
        } else {
            at.date()
        }
    }

    /// When business day `day` ends, and with it the void window of its
    /// transactions: its cutoff, or with a cutoff at midnight, the midnight
    /// after it.
    pub fn business_day_end(&self, day: NaiveDate) -> NaiveDateTime {
        if self.cutoff == NaiveTime::MIN {
            (day + Days::new(1)).and_time(NaiveTime::MIN)
        } else {
            day.and_time(self.cutoff)
        }
    }

    /// The first business day on which an unsettled record of business day
    /// `day` counts as UNSETTLED rather than PENDING.
    pub fn unsettled_from(&self, day: NaiveDate) -> NaiveDate {
        day.checked_add_days(Days::new(u64::from(self.settlement_lag_days)))
            .unwrap_or(NaiveDate::MAX)
    }

    /// The last business day on which a transaction of business day `day`
    /// may still be refunded.
    pub fn last_refund_day(&self, day: NaiveDate) -> NaiveDate {
        day.checked_add_days(Days::new(u64::from(self.refund_window_days)))
            .unwrap_or(NaiveDate::MAX)
    }
}

/// Policy settings given in the config file or on the command line; `None`
/// leaves the setting as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOverrides {
    pub cutoff: Option<NaiveTime>,
    pub settlement_lag_days: Option<u32>,
    pub refund_window_days: Option<u32>,
    pub amount_tolerance: Option<Amount>,
    pub time_tolerance: Option<TimeDelta>,
    pub duplicate_window: Option<TimeDelta>,
    pub suspected_duplicates: Option<DuplicatePolicy>,
    /// The rate for every merchant without one of its own.
    pub fee_rate: Option<Decimal>,
    /// Rates per merchant id.
    pub fee_rates: BTreeMap<Id, Decimal>,
}

impl PolicyOverrides {
    /// Applies the settings that are given, leaving the others as they are.
    pub fn apply_to(self, policy: &mut Policy) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        set(&mut policy.cutoff, self.cutoff);
        set(&mut policy.settlement_lag_days, self.settlement_lag_days);
        set(&mut policy.refund_window_days, self.refund_window_days);
        set(&mut policy.amount_tolerance, self.amount_tolerance);
        set(&mut policy.time_tolerance, self.time_tolerance);
        set(&mut policy.duplicate_window, self.duplicate_window);
        set(&mut policy.suspected_duplicates, self.suspected_duplicates);
        if self.fee_rate.is_some() {
            policy.fee_rates.default = self.fee_rate;
        }
        policy.fee_rates.by_merchant.extend(self.fee_rates);
    }
}

/// A duration written as `90s`, `10m` or `2h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub TimeDelta);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.num_seconds();
        if seconds % 3600 == 0 && seconds != 0 {
            write!(f, "{}h", seconds / 3600)
        } else if seconds % 60 == 0 && seconds != 0 {
            write!(f, "{}m", seconds / 60)
        } else {
            write!(f, "{seconds}s")
        }
    }
}

/// Parses a duration such as `90s`, `10m` or `2h`.
pub fn parse_span(raw: &str) -> Result<TimeDelta, String> {
    let raw = raw.trim();
    let bad = || format!("{} is not a duration like 90s, 10m or 2h", quoted(raw));
    let (number, seconds_per_unit) = if let Some(n) = raw.strip_suffix('s') {
        (n, 1)
    } else if let Some(n) = raw.strip_suffix('m') {
        (n, 60)
    } else if let Some(n) = raw.strip_suffix('h') {
        (n, 3600)
    } else {
        return Err(bad());
    };
    let count: i64 = number.trim().parse().map_err(|_| bad())?;
    // A week is far beyond any sensible tolerance; beyond it lies overflow.
    if !(0..=7 * 24 * 3600).contains(&count.saturating_mul(seconds_per_unit)) {
        return Err(format!("{} is not a duration from 0s to 168h", quoted(raw)));
    }
    Ok(TimeDelta::seconds(count * seconds_per_unit))
}

/// Parses a time of day `HH:MM`.
pub fn parse_cutoff(raw: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map_err(|_| format!("{} is not a time of day like 23:00", quoted(raw)))
}

/// Parses the moment to judge windows against: `YYYY-MM-DD HH:MM[:SS]`,
/// with a space or `T`.
pub fn parse_as_of(raw: &str) -> Result<NaiveDateTime, String> {
    let normal = raw.trim().replacen('T', " ", 1);
    NaiveDateTime::parse_from_str(&normal, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(&normal, "%Y-%m-%d %H:%M"))
        .map_err(|_| format!("{} is not a date-time like 2026-11-24 22:00", quoted(raw)))
}

/// Parses `flag` or `cancel`.
pub fn parse_duplicate_policy(raw: &str) -> Result<DuplicatePolicy, String> {
    match raw.trim() {
        "flag" => Ok(DuplicatePolicy::Flag),
        "cancel" => Ok(DuplicatePolicy::Cancel),
        _ => Err(format!("{} is not flag or cancel", quoted(raw))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> NaiveDateTime {
        parse_as_of(raw).unwrap()
    }

    #[test]
    fn business_day_turns_at_the_cutoff() {
        let policy = Policy::default();
        #[track_caller]
        fn case(policy: &Policy, time: &str, day: &str) {
            assert_eq!(policy.business_day(at(time)).to_string(), day);
        }
        case(&policy, "2026-11-23 22:59:59", "2026-11-23");
        case(&policy, "2026-11-23 23:00:00", "2026-11-24");
        case(&policy, "2026-11-23 23:59:59", "2026-11-24");
        case(&policy, "2026-11-24 00:00:00", "2026-11-24");
        case(&policy, "2026-12-31 23:30:00", "2027-01-01");
        // A cutoff at midnight keeps every transaction on its calendar day.
        let midnight = Policy {
            cutoff: NaiveTime::MIN,
            ..Policy::default()
        };
        case(&midnight, "2026-11-24 00:00:00", "2026-11-24");
        case(&midnight, "2026-11-24 10:00:00", "2026-11-24");
        case(&midnight, "2026-11-24 23:59:59", "2026-11-24");
    }

    #[test]
    fn span_cases() {
        assert_eq!(parse_span("10m"), Ok(TimeDelta::minutes(10)));
        assert_eq!(parse_span("90s"), Ok(TimeDelta::seconds(90)));
        assert_eq!(parse_span("2h"), Ok(TimeDelta::hours(2)));
        assert_eq!(parse_span("0s"), Ok(TimeDelta::zero()));
        assert_eq!(
            parse_span("10 minutes"),
            Err(r#""10 minutes" is not a duration like 90s, 10m or 2h"#.into())
        );
        assert!(parse_span("-1m").is_err());
        assert_eq!(Span(TimeDelta::minutes(10)).to_string(), "10m");
        assert_eq!(Span(TimeDelta::seconds(90)).to_string(), "90s");
    }

    #[test]
    fn as_of_and_cutoff_cases() {
        assert_eq!(at("2026-11-24T22:00").to_string(), "2026-11-24 22:00:00");
        assert_eq!(at("2026-11-24 22:00:05").to_string(), "2026-11-24 22:00:05");
        assert!(parse_as_of("24/11/2026").is_err());
        assert_eq!(parse_cutoff("23:00").unwrap().to_string(), "23:00:00");
        assert!(parse_cutoff("25:00").is_err());
    }
}
