//! What to do about each transaction that must be cancelled, and which
//! differences become dispute cases (SPEC §4). Pure: records in, actions out.
//!
//! Cancellations are decided one at a time in a fixed order (requests by
//! `request_ref`, then VOIDED_BUT_SETTLED, DUPLICATE_SETTLEMENT and, where the
//! policy says so, SUSPECTED_DUPLICATE records in their canonical order), so
//! "refunds decided earlier in this run" never depends on row order.

use std::collections::HashMap;

use chrono::{Days, NaiveDate, NaiveDateTime};
use sha2::{Digest, Sha256};

use crate::explain::{Night, exception_order, rows_where};
use crate::matching::Outcome;
use crate::model::{Amount, CancellationRequest, CardState, MaskedPan, Merchant, TxnType};
use crate::policy::DuplicatePolicy;
use crate::totals::Side;

/// The reference data decisions consult.
#[derive(Debug, Default)]
pub struct References<'a> {
    /// `None` when no merchants file was given: every merchant may void and refund.
    pub merchants: Option<HashMap<&'a str, &'a Merchant>>,
    pub cards: HashMap<&'a MaskedPan, CardState>,
}

/// What asked for a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A row of the cancellations file (by index).
    Request(usize),
    /// An outcome that means the cardholder paid when they should not have.
    Outcome(Outcome),
}

/// A void to send while the batch is still open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidRequest {
    pub action_id: String,
    /// The terminal record voided.
    pub original: usize,
    pub source: Source,
    pub reason: String,
}

/// A refund to instruct after settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInstruction {
    pub action_id: String,
    /// The terminal record refunded.
    pub original: usize,
    pub refund_amount: Amount,
    pub source: Source,
    pub reason: String,
}

/// A difference to take up with the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub action_id: String,
    pub outcome: Outcome,
    pub terminal: Option<usize>,
    pub bank: Option<usize>,
}

/// A cancellation that cannot be carried out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub source: Source,
    /// The terminal record it was about, when one was found.
    pub original: Option<usize>,
    pub reason: String,
}

/// Every action of one run, in decision order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    pub voids: Vec<VoidRequest>,
    pub refunds: Vec<RefundInstruction>,
    pub disputes: Vec<Dispute>,
    pub rejections: Vec<Rejection>,
}

/// How a transaction could be cancelled right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Voidable until the cutoff of this business day.
    Void { until: NaiveDate },
    /// Refundable (this amount) until this day.
    Refund { amount: Amount, until: NaiveDate },
    /// Not cancellable, with the reason.
    None(String),
}

/// The state decisions build up: indexes and refunds decided so far.
pub struct Decider<'a> {
    night: &'a Night<'a>,
    refs: &'a References<'a>,
    as_of_day: NaiveDate,
    by_rrn: HashMap<&'a str, Vec<usize>>,
    by_trace: HashMap<(&'a str, &'a str), Vec<usize>>,
    /// Refunded so far per original: REFUND records plus instructions of this run.
    refunded: HashMap<usize, Amount>,
    /// Originals voided by an action of this run.
    voided_now: HashMap<usize, String>,
}

fn action_id(kind: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    for part in parts {
        hasher.update([0x1f]);
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02X}")).collect();
    format!("{kind}-{hex}")
}

impl<'a> Decider<'a> {
    /// Indexes the night for look-ups by rrn and by terminal + trace.
    pub fn new(night: &'a Night<'a>, refs: &'a References<'a>, as_of: NaiveDateTime) -> Self {
        let mut by_rrn: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_trace: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (t, record) in night.terminal.iter().enumerate() {
            if record.txn_type == TxnType::Void {
                continue;
            }
            if let Some(rrn) = record.rrn.as_deref() {
                by_rrn.entry(rrn).or_default().push(t);
            }
            by_trace
                .entry((&record.terminal_id, &record.trace_no))
                .or_default()
                .push(t);
        }
        let mut refunded: HashMap<usize, Amount> = HashMap::new();
        for record in night.terminal {
            if record.txn_type != TxnType::Refund {
                continue;
            }
            let original = record.orig_rrn.as_deref().and_then(|rrn| {
                by_rrn
                    .get(rrn)?
                    .iter()
                    .copied()
                    .find(|&o| night.terminal[o].txn_type.is_purchase())
            });
            if let Some(original) = original {
                *refunded.entry(original).or_default() =
                    refunded.get(&original).copied().unwrap_or_default() + record.amount;
            }
        }
        Decider {
            night,
            refs,
            as_of_day: night.policy.business_day(as_of),
            by_rrn,
            by_trace,
            refunded,
            voided_now: HashMap::new(),
        }
    }

    fn merchant(&self, merchant_id: &str) -> Result<Option<&'a Merchant>, String> {
        match &self.refs.merchants {
            None => Ok(None),
            Some(merchants) => merchants.get(merchant_id).copied().map(Some).ok_or_else(|| {
                format!("merchant {merchant_id} is not in the merchants file, so its permissions are unknown")
            }),
        }
    }

    /// The merchant's name from the merchants file, or "".
    pub fn merchant_name(&self, merchant_id: &str) -> &str {
        self.merchant(merchant_id)
            .ok()
            .flatten()
            .map_or("", |m| m.merchant_name.as_str())
    }

    /// How original `t` could be cancelled now, for `amount` (its full amount
    /// when `None`). Every condition of SPEC §4 steps 2 to 5 except consent.
    pub fn route(&self, t: usize, amount: Option<Amount>) -> Route {
        let night = self.night;
        let record = &night.terminal[t];
        let result = &night.result.terminal[t];
        if !record.txn_type.is_purchase() {
            return Route::None(format!("a {} cannot be cancelled", record.txn_type));
        }
        let settled = result.settlement.is_some();
        if let Some(v) = result.void_partner
            && !settled
        {
            return Route::None(format!(
                "already voided on the terminal by VOID trace {}",
                night.terminal[v].trace_no
            ));
        }
        if let Some(action) = self.voided_now.get(&t) {
            return Route::None(format!("already voided by {action} in this run"));
        }
        if let Some(state) = self
            .refs
            .cards
            .get(&record.card)
            .filter(|s| **s != CardState::Normal)
        {
            return Route::None(format!(
                "card {} is {state}; the bank would refuse",
                record.card
            ));
        }
        let merchant = match self.merchant(&record.merchant_id) {
            Ok(merchant) => merchant,
            Err(reason) => return Route::None(reason),
        };
        let already = self.refunded.get(&t).copied().unwrap_or_default();
        let wanted = amount.unwrap_or(record.amount);
        let voidable = !settled
            && result.void_partner.is_none()
            && already == Amount::ZERO
            && wanted == record.amount
            && self.as_of_day == result.business_day
            && merchant.is_none_or(|m| m.void_enabled);
        if voidable {
            return Route::Void {
                until: result.business_day,
            };
        }
        let last_day = result.business_day + Days::new(u64::from(night.policy.refund_window_days));
        if self.as_of_day > last_day {
            return Route::None(format!("the refund window ended on {last_day}"));
        }
        if let Some(m) = merchant.filter(|m| !m.refund_enabled) {
            return Route::None(format!(
                "refunds are frozen for merchant {} ({})",
                m.merchant_id, m.merchant_name
            ));
        }
        if already + wanted > record.amount {
            return Route::None(format!(
                "over-refund: refunds would total {}, more than the original {}",
                already + wanted,
                record.amount
            ));
        }
        Route::Refund {
            amount: wanted,
            until: last_day,
        }
    }

    /// The `cancel_route` cell for a terminal record: what cancelling it would
    /// take as of now.
    pub fn cancel_route(&self, t: usize) -> String {
        let remaining =
            self.night.terminal[t].amount - self.refunded.get(&t).copied().unwrap_or_default();
        let amount = (remaining != self.night.terminal[t].amount).then_some(remaining);
        match self.route(t, amount) {
            Route::Void { until } => {
                format!(
                    "VOID until {until} {}",
                    self.night.policy.cutoff.format("%H:%M")
                )
            }
            Route::Refund { until, .. } if remaining > Amount::ZERO => {
                format!("REFUND until {until}")
            }
            Route::Refund { .. } => "NONE: already fully refunded".to_string(),
            Route::None(reason) => format!("NONE: {reason}"),
        }
    }

    fn identity(&self, t: usize) -> [&str; 4] {
        let r = &self.night.terminal[t];
        [&r.merchant_id, &r.terminal_id, &r.batch_no, &r.trace_no]
    }

    /// Decides one cancellation of original `t` and records the result.
    fn cancel(
        &mut self,
        t: usize,
        amount: Option<Amount>,
        source: Source,
        source_tag: &str,
        reason: String,
        decisions: &mut Decisions,
    ) {
        let note = match self.route(t, amount) {
            Route::Void { .. } => {
                let [m, tid, b, trace] = self.identity(t);
                let id = action_id("VOID", &[m, tid, b, trace, source_tag]);
                self.voided_now.insert(t, id.clone());
                decisions.voids.push(VoidRequest {
                    action_id: id,
                    original: t,
                    source,
                    reason,
                });
                return;
            }
            Route::Refund { amount, .. } => {
                let [m, tid, b, trace] = self.identity(t);
                let id = action_id("REFUND", &[m, tid, b, trace, source_tag]);
                let total = self.refunded.get(&t).copied().unwrap_or_default() + amount;
                self.refunded.insert(t, total);
                decisions.refunds.push(RefundInstruction {
                    action_id: id,
                    original: t,
                    refund_amount: amount,
                    source,
                    reason,
                });
                return;
            }
            Route::None(note) => note,
        };
        decisions.rejections.push(Rejection {
            source,
            original: Some(t),
            reason: note,
        });
    }

    /// Finds the transaction a request names, or says why it cannot.
    fn find_original(&self, request: &CancellationRequest) -> Result<usize, String> {
        let terminal = self.night.terminal;
        let by_rrn = request.rrn.as_deref().and_then(|rrn| self.by_rrn.get(rrn));
        let by_trace = match (&request.terminal_id, &request.trace_no) {
            (Some(tid), Some(trace)) => self.by_trace.get(&(tid.as_str(), trace.as_str())),
            _ => None,
        };
        let candidates: Vec<usize> = by_rrn.or(by_trace).cloned().unwrap_or_default();
        let exact = candidates.iter().copied().find(|&t| {
            terminal[t].txn_time == request.txn_time && terminal[t].amount == request.amount
        });
        if let Some(t) = exact.or(if candidates.len() == 1 {
            Some(candidates[0])
        } else {
            None
        }) {
            return Ok(t);
        }
        let named = match (&request.rrn, &request.terminal_id, &request.trace_no) {
            (Some(rrn), _, _) => format!("rrn {rrn}"),
            (None, Some(tid), Some(trace)) => format!("terminal {tid} trace {trace}"),
            _ => "the request".to_string(),
        };
        Err(if candidates.is_empty() {
            format!("not found: no transaction with {named} in the terminal files")
        } else {
            format!(
                "not found: {} transactions with {named}, none at {} for {}",
                candidates.len(),
                request.txn_time,
                request.amount
            )
        })
    }

    /// Checks that the request's details agree with the original's.
    fn verify(&self, request: &CancellationRequest, t: usize) -> Result<(), String> {
        let original = &self.night.terminal[t];
        let mut differences = Vec::new();
        if request.merchant_id != original.merchant_id {
            differences.push(format!(
                "merchant {} ≠ {}",
                request.merchant_id, original.merchant_id
            ));
        }
        if let Some(name) = request.merchant_name.as_deref().filter(|n| !n.is_empty()) {
            let known = self.merchant_name(&original.merchant_id);
            if !known.is_empty() && name != known {
                differences.push(format!("merchant name {name} ≠ {known}"));
            }
        }
        if let Some(tid) = &request.terminal_id
            && *tid != original.terminal_id
        {
            differences.push(format!("terminal {tid} ≠ {}", original.terminal_id));
        }
        if request.txn_time != original.txn_time {
            differences.push(format!("time {} ≠ {}", request.txn_time, original.txn_time));
        }
        if request.amount != original.amount {
            differences.push(format!("amount {} ≠ {}", request.amount, original.amount));
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(format!("details do not match: {}", differences.join(", ")))
        }
    }
}

/// Decides every cancellation and dispute of one night (SPEC §4). The
/// returned [`Decider`] answers [`Decider::cancel_route`] as of after them.
pub fn decide<'a>(
    night: &'a Night<'a>,
    refs: &'a References<'a>,
    requests: &[CancellationRequest],
    as_of: NaiveDateTime,
) -> (Decisions, Decider<'a>) {
    let mut decider = Decider::new(night, refs, as_of);
    let mut decisions = Decisions::default();

    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| requests[a].request_ref.cmp(&requests[b].request_ref));
    for r in order {
        let request = &requests[r];
        let source = Source::Request(r);
        let found = decider.find_original(request).and_then(|t| {
            decider
                .verify(request, t)
                .map(|()| t)
                .map_err(|e| (e, Some(t)))
                .map_err(|(e, _)| e)
        });
        let t = match found {
            Ok(t) => t,
            Err(reason) => {
                let original = decider.find_original(request).ok();
                decisions.rejections.push(Rejection {
                    source,
                    original,
                    reason,
                });
                continue;
            }
        };
        if !request.has_consent() {
            decisions.rejections.push(Rejection {
                source,
                original: Some(t),
                reason: format!(
                    "the cardholder has not agreed (customer_consent {:?}); it must be \"yes\"",
                    request.customer_consent
                ),
            });
            continue;
        }
        decider.cancel(
            t,
            request.refund_amount,
            source,
            &request.request_ref,
            request.reason.clone(),
            &mut decisions,
        );
    }

    let mut terminal_order: Vec<usize> = (0..night.terminal.len()).collect();
    terminal_order.sort_by(|&a, &b| {
        let (a, b) = (&night.terminal[a], &night.terminal[b]);
        (&a.merchant_id, &a.terminal_id, &a.batch_no, &a.trace_no).cmp(&(
            &b.merchant_id,
            &b.terminal_id,
            &b.batch_no,
            &b.trace_no,
        ))
    });
    for &t in &terminal_order {
        if night.result.terminal[t].outcome == Outcome::VoidedButSettled {
            let explanation = night.terminal(t);
            decider.cancel(
                t,
                None,
                Source::Outcome(Outcome::VoidedButSettled),
                "VOIDED_BUT_SETTLED",
                explanation,
                &mut decisions,
            );
        }
    }
    let mut duplicates: Vec<usize> = (0..night.bank.len())
        .filter(|&b| night.result.bank[b].outcome == Outcome::DuplicateSettlement)
        .collect();
    duplicates.sort_by(|&a, &b| exception_order(night, (Side::Bank, a), (Side::Bank, b)));
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for b in duplicates {
        let original = night.result.bank[b]
            .duplicate_of
            .and_then(|first| night.result.bank[first].terminal)
            .map(|(t, _)| t);
        let Some(t) = original else { continue };
        let occurrence = seen.entry(t).or_default();
        *occurrence += 1;
        let tag = format!("DUPLICATE_SETTLEMENT#{occurrence}");
        decider.cancel(
            t,
            Some(night.bank[b].amount),
            Source::Outcome(Outcome::DuplicateSettlement),
            &tag,
            night.bank(b),
            &mut decisions,
        );
    }
    if night.policy.suspected_duplicates == DuplicatePolicy::Cancel {
        for &t in &terminal_order {
            if night.result.terminal[t].outcome == Outcome::SuspectedDuplicate {
                decider.cancel(
                    t,
                    None,
                    Source::Outcome(Outcome::SuspectedDuplicate),
                    "SUSPECTED_DUPLICATE",
                    night.terminal(t),
                    &mut decisions,
                );
            }
        }
    }

    decisions.disputes = disputes(night);
    (decisions, decider)
}

/// One dispute case per BANK_ONLY, FEE_MISMATCH and UNSETTLED record and per
/// AMOUNT_MISMATCH pair, in report order.
fn disputes(night: &Night<'_>) -> Vec<Dispute> {
    let rows = rows_where(night, |o| {
        matches!(
            o,
            Outcome::BankOnly | Outcome::AmountMismatch | Outcome::FeeMismatch | Outcome::Unsettled
        )
    });
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut disputes = Vec::new();
    for (side, i) in rows {
        let (outcome, terminal, bank) = match side {
            Side::Terminal => {
                let result = &night.result.terminal[i];
                (result.outcome, Some(i), result.settlement.map(|(b, _)| b))
            }
            Side::Bank => {
                let result = &night.result.bank[i];
                // A mismatched pair is one case, raised from its terminal row.
                if result.outcome == Outcome::AmountMismatch {
                    continue;
                }
                (result.outcome, result.terminal.map(|(t, _)| t), Some(i))
            }
        };
        let mut parts: Vec<String> = vec![outcome.as_str().to_string()];
        if let Some(t) = terminal {
            let r = &night.terminal[t];
            parts.extend([
                r.merchant_id.to_string(),
                r.terminal_id.to_string(),
                r.batch_no.to_string(),
                r.trace_no.to_string(),
            ]);
        }
        if let Some(b) = bank.filter(|_| terminal.is_none() || outcome == Outcome::FeeMismatch) {
            let s = &night.bank[b];
            parts.extend([
                s.settle_date.to_string(),
                s.merchant_id.to_string(),
                s.terminal_id.to_string(),
                s.trace_no.to_string(),
                s.rrn.as_deref().unwrap_or("").to_string(),
                s.txn_time.to_string(),
                s.amount.to_string(),
            ]);
        }
        // Identical bank rows get the same parts; number them so ids stay unique.
        let key = parts.join("\u{1f}");
        let occurrence = seen.entry(key).or_default();
        *occurrence += 1;
        parts.push(occurrence.to_string());
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        disputes.push(Dispute {
            action_id: action_id("DISPUTE", &refs),
            outcome,
            terminal,
            bank,
        });
    }
    disputes
}
