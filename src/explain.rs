//! One line per record that a person understands: why it got its outcome.
//! Pure: built from the records and the matching result.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use crate::matching::{OrphanReason, Outcome, Reconciliation, settlement_order};
use crate::model::{Amount, Currency, Settlement, TerminalRecord};
use crate::policy::Policy;
use crate::totals::Side;

/// How a SUSPECTED_DUPLICATE's explanation begins; [`repeated_sale`] reads
/// the rest back.
const REPEATS: &str = "same card, amount and terminal as trace ";

/// The sale a SUSPECTED_DUPLICATE's explanation names (`same card, amount
/// and terminal as trace 000001 at 10:00:00, 60 s earlier; …`): its trace
/// and how many seconds before the record it was. An earlier run's verdict
/// comes back from the ledger as this text.
pub fn repeated_sale(explanation: &str) -> Option<(&str, i64)> {
    let rest = explanation.strip_prefix(REPEATS)?;
    let (trace, rest) = rest.split_once(" at ")?;
    let (_, rest) = rest.split_once(", ")?;
    let (seconds, _) = rest.split_once(" s earlier")?;
    Some((trace, seconds.parse().ok()?))
}

/// The records and results an explanation may refer to.
pub struct Night<'a> {
    pub terminal: &'a [TerminalRecord],
    pub bank: &'a [Settlement],
    pub result: &'a Reconciliation,
    pub policy: &'a Policy,
}

fn money(amount: Amount, currency: Currency, other: Currency) -> String {
    if currency == other {
        amount.to_string()
    } else {
        format!("{amount} {currency}")
    }
}

/// Writes a rate as a percentage: 0.0038 → `0.38%`.
pub fn percent(rate: Decimal) -> String {
    format!("{}%", (rate * Decimal::ONE_HUNDRED).normalize())
}

fn ambiguity(candidates: Option<usize>) -> String {
    candidates.map_or(String::new(), |n| {
        format!("ambiguous: {n} candidates equally close in time and amount, none paired; ")
    })
}

impl Night<'_> {
    fn amount_mismatch(&self, t: usize, b: usize) -> String {
        let (record, settlement) = (&self.terminal[t], &self.bank[b]);
        format!(
            "bank settled {}, terminal captured {}",
            money(settlement.amount, settlement.currency, record.currency),
            money(record.amount, record.currency, settlement.currency)
        )
    }

    /// Why terminal record `t` has its outcome.
    pub fn terminal(&self, t: usize) -> String {
        let record = &self.terminal[t];
        let result = &self.result.terminal[t];
        let settled = result.settlement().map(|(b, _)| &self.bank[b]);
        let trace_of = |i: usize| self.terminal[i].trace_no.as_str();
        // A VOID record of the night, or one an earlier run issued.
        let voided_by = |t: usize| match (result.void_partner(), self.result.earlier_void(t)) {
            (Some(v), _) => format!("VOID trace {}", trace_of(v)),
            (None, Some(action)) => action.to_string(),
            (None, None) => "VOID trace ?".to_string(),
        };
        match result.outcome {
            Outcome::Matched => match settled {
                Some(s) => format!("settled {} on {}", s.amount, s.settle_date),
                None => String::new(),
            },
            Outcome::AmountMismatch => {
                let (b, _) = result
                    .settlement()
                    .expect("IE: a mismatch has a settlement");
                self.amount_mismatch(t, b)
            }
            Outcome::Voided => match self.result.terminal_ambiguous(t) {
                None => format!("voided by {} and, correctly, not settled", voided_by(t)),
                ambiguous => format!("{}voided by {}", ambiguity(ambiguous), voided_by(t)),
            },
            Outcome::VoidApplied => format!(
                "cancels SALE trace {} of {}",
                result.void_partner().map_or("?", trace_of),
                record.amount
            ),
            Outcome::VoidedButSettled => format!(
                "voided by {}, yet the bank settled {} on {}: the cardholder was charged",
                voided_by(t),
                settled.map_or(Amount::ZERO, |s| s.amount),
                settled.map_or(String::new(), |s| s.settle_date.to_string())
            ),
            Outcome::Pending => format!(
                "{}not settled yet; becomes UNSETTLED on business day {} if still missing",
                ambiguity(self.result.terminal_ambiguous(t)),
                self.policy.unsettled_from(result.business_day)
            ),
            Outcome::Unsettled => format!(
                "{}not settled by business day {} (business day {} + {} day settlement lag): investigate",
                ambiguity(self.result.terminal_ambiguous(t)),
                self.policy.unsettled_from(result.business_day),
                result.business_day,
                self.policy.settlement_lag_days
            ),
            Outcome::OrphanVoid => {
                let orig = record.orig_trace_no.as_deref().unwrap_or("");
                match self.result.orphan_reason(t) {
                    Some(OrphanReason::NotAPurchase(kind)) => {
                        format!("VOID names trace {orig}, which is a {kind}, not a SALE")
                    }
                    Some(OrphanReason::AmountDiffers(sale, currency)) => format!(
                        "VOID of {} names trace {orig}, a SALE of {}; a void cancels the full amount",
                        money(record.amount, record.currency, currency),
                        money(sale, currency, record.currency)
                    ),
                    Some(OrphanReason::AlreadyVoided(first)) => format!(
                        "VOID names trace {orig}, which VOID trace {} already cancelled",
                        trace_of(first)
                    ),
                    Some(OrphanReason::NotInBatch) | None => format!(
                        "VOID names trace {orig}, which is not in batch {} of terminal {}",
                        record.batch_no, record.terminal_id
                    ),
                }
            }
            Outcome::SuspectedDuplicate => {
                let settlement = match settled {
                    Some(s) => format!("settled on {}", s.settle_date),
                    None => format!(
                        "{}not settled",
                        ambiguity(self.result.terminal_ambiguous(t))
                    ),
                };
                let Some(earlier) = result.duplicate_of() else {
                    let repeats = self
                        .result
                        .earlier_duplicate(t)
                        .expect("IE: a duplicate has an original, tonight or earlier");
                    return format!("{repeats}; {settlement}");
                };
                let earlier = &self.terminal[earlier];
                let seconds = (record.txn_time - earlier.txn_time).num_seconds();
                format!(
                    "{REPEATS}{} at {}, {seconds} s earlier; {settlement}",
                    earlier.trace_no,
                    earlier.txn_time.time()
                )
            }
            Outcome::FeeMismatch | Outcome::BankOnly | Outcome::DuplicateSettlement => {
                unreachable!("IE: {} is a bank-side outcome", result.outcome)
            }
        }
    }

    /// Why settlement `b` has its outcome.
    pub fn bank(&self, b: usize) -> String {
        let settlement = &self.bank[b];
        let result = &self.result.bank[b];
        match result.outcome {
            Outcome::Matched => match result.terminal() {
                Some((t, rule)) => format!(
                    "matches terminal trace {} ({})",
                    self.terminal[t].trace_no,
                    rule.as_str()
                ),
                None => String::new(),
            },
            Outcome::AmountMismatch => {
                let (t, _) = result
                    .terminal()
                    .expect("IE: a mismatch has a terminal record");
                self.amount_mismatch(t, b)
            }
            Outcome::FeeMismatch => {
                let rate = self
                    .policy
                    .fee_rates
                    .rate_for(&settlement.merchant_id)
                    .map_or(String::new(), percent);
                format!(
                    "fee {}, but the contracted rate {rate} of {} gives {}",
                    settlement.fee,
                    settlement.amount,
                    self.result.expected_fee(b).unwrap_or_default()
                )
            }
            Outcome::VoidedButSettled => {
                let (t, _) = result
                    .terminal()
                    .expect("IE: a voided settlement has a terminal record");
                let voided_by = match self.result.terminal[t].void_partner() {
                    Some(v) => format!(
                        "the terminal voided it (VOID trace {})",
                        self.terminal[v].trace_no
                    ),
                    None => format!(
                        "{} voided it",
                        self.result.earlier_void(t).unwrap_or("a VOID")
                    ),
                };
                format!("settled although {voided_by}: the cardholder was charged")
            }
            Outcome::BankOnly => format!(
                "{}settled {} on {} with no terminal record: dispute",
                ambiguity(self.result.bank_ambiguous(b)),
                settlement.amount,
                settlement.settle_date
            ),
            Outcome::DuplicateSettlement => {
                let first = &self.bank[result
                    .duplicate_of()
                    .expect("IE: a duplicate has an original")];
                let trace = self.bank_terminal_trace(result.duplicate_of());
                let who = if settlement.txn_type.is_purchase() {
                    "the cardholder paid twice"
                } else {
                    "the merchant paid this refund twice"
                };
                format!(
                    "settles again the {} (terminal trace {trace}) the bank already settled on {}: {who}",
                    if settlement.txn_type.is_purchase() {
                        "transaction"
                    } else {
                        "REFUND"
                    },
                    first.settle_date
                )
            }
            other => unreachable!("IE: {other} is a terminal-side outcome"),
        }
    }

    fn bank_terminal_trace(&self, b: Option<usize>) -> &str {
        b.and_then(|b| self.result.bank[b].terminal())
            .map_or("?", |(t, _)| self.terminal[t].trace_no.as_str())
    }
}

/// The order of rows in `exceptions.csv` and `pending.csv`: by outcome, then
/// merchant, terminal and time, so both rows of a mismatched pair sit together.
/// Ties are broken by content, never by input position.
pub fn exception_order(night: &Night<'_>, a: (Side, usize), b: (Side, usize)) -> Ordering {
    let key = |(side, i): (Side, usize)| match side {
        Side::Terminal => {
            let r = &night.terminal[i];
            (
                night.result.terminal[i].outcome,
                &r.merchant_id,
                &r.terminal_id,
                r.txn_time,
                side,
            )
        }
        Side::Bank => {
            let s = &night.bank[i];
            (
                night.result.bank[i].outcome,
                &s.merchant_id,
                &s.terminal_id,
                s.txn_time,
                side,
            )
        }
    };
    key(a).cmp(&key(b)).then_with(|| match (a, b) {
        ((Side::Terminal, x), (Side::Terminal, y)) => {
            let (x, y) = (&night.terminal[x], &night.terminal[y]);
            (&x.batch_no, &x.trace_no).cmp(&(&y.batch_no, &y.trace_no))
        }
        ((Side::Bank, x), (Side::Bank, y)) => settlement_order(&night.bank[x], &night.bank[y]),
        _ => Ordering::Equal,
    })
}

/// Records (terminal and bank) whose outcome passes `wanted`, in report order.
pub fn rows_where(night: &Night<'_>, wanted: impl Fn(Outcome) -> bool) -> Vec<(Side, usize)> {
    let mut rows: Vec<(Side, usize)> = night
        .result
        .terminal
        .iter()
        .enumerate()
        .filter(|(_, r)| wanted(r.outcome))
        .map(|(i, _)| (Side::Terminal, i))
        .chain(
            night
                .result
                .bank
                .iter()
                .enumerate()
                .filter(|(_, r)| wanted(r.outcome))
                .map(|(i, _)| (Side::Bank, i)),
        )
        .collect();
    rows.sort_by(|&a, &b| exception_order(night, a, b));
    rows
}
