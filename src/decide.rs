//! What to do about each transaction that must be cancelled, and which
//! differences become dispute cases (SPEC §4). Pure: records in, actions out.
//!
//! Cancellations are decided one at a time in a fixed order (requests by
//! `request_ref`, then VOIDED_BUT_SETTLED, DUPLICATE_SETTLEMENT and, where the
//! policy says so, SUSPECTED_DUPLICATE records in their canonical order), so
//! "refunds decided earlier in this run" never depends on row order.

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use sha2::{Digest, Sha256};

use crate::explain::{Night, exception_order, rows_where};
use crate::matching::Outcome;
use crate::model::{
    Amount, CancellationRequest, CardState, Currency, Id, MaskedPan, Merchant, TerminalRecord,
    TxnType,
};
use crate::policy::DuplicatePolicy;
use crate::totals::Side;

/// A terminal transaction's identity: merchant, terminal, batch, trace.
pub type TxnKey = (Id, Id, Id, Id);

/// The key of a terminal record.
pub fn txn_key(record: &TerminalRecord) -> TxnKey {
    (
        record.merchant_id.clone(),
        record.terminal_id.clone(),
        record.batch_no.clone(),
        record.trace_no.clone(),
    )
}

/// A terminal record an earlier run saw, as the ledger remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierRecord {
    pub record: TerminalRecord,
    /// Its outcome in the latest run that saw it.
    pub outcome: Outcome,
    /// When the bank settled it, if it did.
    pub settle_date: Option<NaiveDate>,
    /// The trace of the VOID that cancelled it, for a VOIDED sale.
    pub void_trace: Option<Id>,
    /// For a settled record: what the bank settled, when the ledger shows it.
    pub settled_amount: Option<(Amount, Currency)>,
}

/// What earlier runs decided, from the ledger. Empty when running stateless.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Earlier terminal records that tonight's requests may name.
    pub earlier: Vec<EarlierRecord>,
    /// Refunded per transaction in earlier runs: refund instructions and REFUND records.
    pub refunded: HashMap<TxnKey, Amount>,
    /// VOIDs issued in earlier runs: the action id and its run.
    pub voided: HashMap<TxnKey, (String, i64)>,
    /// Every action id issued in an earlier run, with its run.
    pub issued: HashMap<String, i64>,
    /// Transactions charged with an earlier run's REFUND record whose rrn
    /// other purchases of the same merchant and card have too: that rrn.
    pub shared_rrn: HashMap<TxnKey, String>,
    /// When set, `refunded`, `voided`, `issued` and `shared_rrn` were read
    /// for these transactions and action ids only (see
    /// [`Decider::history_lookups`]);
    /// looking up any other is a bug, checked in debug builds.
    pub loaded_for: Option<Lookups>,
}

/// What a night's decisions look up in what earlier runs decided: the
/// transactions (refunded, voided), each purchase's rrn and card among them
/// (REFUND records naming it), and the action ids (issued).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookups {
    pub keys: HashSet<TxnKey>,
    pub purchases: HashSet<(TxnKey, Id, MaskedPan)>,
    pub action_ids: HashSet<String>,
}

/// Whether REFUND record `refund` returned money for `purchase`: it names
/// the purchase's rrn, and has its merchant and card (money goes back to the
/// card that paid). Judged pair by pair, so no other record, row order or
/// night changes it. Where several purchases of one merchant and card share
/// the rrn (an offline terminal's placeholder), which one it was cannot be
/// known, and it counts against each: money is not paid out twice on a
/// guess. The ledger's SQL in `Ledger::read_decided` applies the same rule
/// to earlier runs' REFUND records.
pub fn refund_counts_against(refund: &TerminalRecord, purchase: &TerminalRecord) -> bool {
    purchase.txn_type.is_purchase()
        && refund.orig_rrn.is_some()
        && refund.orig_rrn == purchase.rrn
        && refund.merchant_id == purchase.merchant_id
        && refund.card == purchase.card
}

impl References<'_> {
    /// The card's state when the card status file blocks it (LOST, FROZEN or
    /// CANCELLED). A card listed with fewer visible digits is matched by the
    /// digits both forms show; any blocked match blocks.
    pub fn card_state(&self, card: &MaskedPan) -> Option<CardState> {
        let blocked = |state: &CardState| *state != CardState::Normal;
        if let Some(state) = self.cards.get(card).filter(|s| blocked(s)) {
            return Some(*state);
        }
        self.cards
            .iter()
            .filter(|(listed, state)| {
                (card.is_loosely_masked() || listed.is_loosely_masked())
                    && blocked(state)
                    && listed.could_be(card)
            })
            .map(|(_, state)| *state)
            .min()
    }
}

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

/// An action this run would issue, but an earlier run already did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadyIssued {
    pub action_id: String,
    pub run: i64,
    pub source: Source,
    pub original: Option<usize>,
}

/// Every action of one run, in decision order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    pub voids: Vec<VoidRequest>,
    pub refunds: Vec<RefundInstruction>,
    pub disputes: Vec<Dispute>,
    pub rejections: Vec<Rejection>,
    /// Actions not issued again because an earlier run issued them.
    pub already_issued: Vec<AlreadyIssued>,
}

/// One cancellation to decide.
struct Ask<'s> {
    original: usize,
    /// The amount asked for; `None` is the full amount.
    amount: Option<Amount>,
    limit: RefundLimit,
    source: Source,
    /// What the action id is derived from besides the original.
    source_tag: &'s str,
    reason: String,
}

/// What a refund is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundLimit {
    /// The original's amount, shared with every other refund on it.
    Original,
    /// This much in all (for a sale voided yet settled: what the bank took).
    UpTo(Amount),
    /// Nothing but itself: the refund of a second settlement returns a
    /// charge that was never part of the sale.
    Separate,
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
#[derive(Clone)]
pub struct Decider<'a> {
    night: &'a Night<'a>,
    refs: &'a References<'a>,
    history: &'a History,
    as_of_day: NaiveDate,
    // Indexes over every record of the night: foldhash, not SipHash, for speed.
    by_rrn: foldhash::HashMap<&'a str, Vec<usize>>,
    by_trace: foldhash::HashMap<(&'a str, &'a str), Vec<usize>>,
    /// Refunded so far per original: REFUND records plus instructions of this run.
    refunded: HashMap<usize, Amount>,
    /// Originals charged with tonight's REFUND records whose rrn other
    /// purchases of the same merchant and card have too: that rrn.
    shared_rrn: HashMap<usize, &'a str>,
    /// Originals voided by an action of this run.
    voided_now: HashMap<usize, String>,
    /// Merchant, terminal and batch of every settlement tonight that names
    /// its batch: those batches are closed, and none of their sales can be
    /// voided any more. With each, whether a settlement of it is unpaired
    /// (and so may be an unpaired sale's). Built on first use: only an
    /// unsettled sale inside its lag asks, and many nights have none.
    settled_batches: OnceCell<foldhash::HashMap<(&'a str, &'a str, &'a str), bool>>,
    /// Every look-up in the history, while [`Decider::history_lookups`]
    /// records them.
    recording: Option<RefCell<Lookups>>,
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

/// What a [`Decider`] looks up in the night's terminal records and the
/// earlier records of its history. Built from the records alone, it can
/// be made while the night is still being matched.
pub struct Indexes<'a> {
    by_rrn: foldhash::HashMap<&'a str, Vec<usize>>,
    by_trace: foldhash::HashMap<(&'a str, &'a str), Vec<usize>>,
    refunded: HashMap<usize, Amount>,
    shared_rrn: HashMap<usize, &'a str>,
    /// How many records of each kind it was built from.
    built_from: (usize, usize),
}

impl<'a> Indexes<'a> {
    /// Indexes the records for look-ups by rrn and by terminal + trace:
    /// only the keys something will look up (the requests' rrns and
    /// terminal + trace, and the rrns REFUND records name), so a night of
    /// millions of records with a handful of requests indexes a handful.
    ///
    /// Earlier records of `history` get the indexes after tonight's; one that
    /// tonight's files hold again is left to tonight's copy.
    pub fn new(
        terminal: &'a [TerminalRecord],
        history: &'a History,
        requests: &[CancellationRequest],
    ) -> Indexes<'a> {
        // Ids, not `&str`s: every record's rrn is looked up, and an `Id`
        // hashes as its text does without checking that it is UTF-8.
        let wanted_rrns: foldhash::HashSet<Id> = requests
            .iter()
            .filter_map(|r| r.rrn.clone())
            .chain(
                terminal
                    .iter()
                    .filter(|r| r.txn_type == TxnType::Refund)
                    .filter_map(|r| r.orig_rrn.clone()),
            )
            .collect();
        let wanted_traces: foldhash::HashSet<(&str, &str)> = requests
            .iter()
            .filter_map(|r| Some((r.terminal_id.as_deref()?, r.trace_no.as_deref()?)))
            .collect();
        let identity = |r: &'a TerminalRecord| (&*r.terminal_id, &*r.batch_no, &*r.trace_no);
        let earlier: foldhash::HashSet<(&str, &str, &str)> = history
            .earlier
            .iter()
            .map(|e| identity(&e.record))
            .collect();
        let held_tonight: foldhash::HashSet<(&str, &str, &str)> = if earlier.is_empty() {
            foldhash::HashSet::default()
        } else {
            terminal
                .iter()
                .map(identity)
                .filter(|key| earlier.contains(key))
                .collect()
        };

        let mut by_rrn: foldhash::HashMap<&str, Vec<usize>> = foldhash::HashMap::default();
        let mut by_trace: foldhash::HashMap<(&str, &str), Vec<usize>> =
            foldhash::HashMap::default();
        let offset = terminal.len();
        let indexed = terminal.iter().enumerate().chain(
            history
                .earlier
                .iter()
                .map(|e| &e.record)
                .enumerate()
                .map(|(i, r)| (offset + i, r)),
        );
        for (t, record) in indexed {
            if record.txn_type == TxnType::Void
                || (t >= offset && held_tonight.contains(&identity(record)))
            {
                continue;
            }
            if let Some(rrn) = record.rrn.as_ref().filter(|rrn| wanted_rrns.contains(*rrn)) {
                by_rrn.entry(rrn).or_default().push(t);
            }
            // Only a night with requests wants any: most nights have none.
            if !wanted_traces.is_empty() {
                let trace = (&*record.terminal_id, &*record.trace_no);
                if wanted_traces.contains(&trace) {
                    by_trace.entry(trace).or_default().push(t);
                }
            }
        }
        let mut refunded: HashMap<usize, Amount> = HashMap::new();
        let mut shared_rrn: HashMap<usize, &'a str> = HashMap::new();
        for record in terminal {
            if record.txn_type != TxnType::Refund {
                continue;
            }
            let Some((&rrn, candidates)) = record
                .orig_rrn
                .as_deref()
                .and_then(|rrn| by_rrn.get_key_value(rrn))
            else {
                continue;
            };
            let original = |o: usize| match o.checked_sub(offset) {
                None => &terminal[o],
                Some(i) => &history.earlier[i].record,
            };
            let charged: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&o| refund_counts_against(record, original(o)))
                .collect();
            for &o in &charged {
                *refunded.entry(o).or_default() =
                    refunded.get(&o).copied().unwrap_or_default() + record.amount;
                if charged.len() > 1 {
                    shared_rrn.insert(o, rrn);
                }
            }
        }
        Indexes {
            by_rrn,
            by_trace,
            refunded,
            shared_rrn,
            built_from: (terminal.len(), history.earlier.len()),
        }
    }
}

impl<'a> Decider<'a> {
    /// A decider of `night`, indexed by [`Indexes::new`].
    pub fn new(
        night: &'a Night<'a>,
        refs: &'a References<'a>,
        history: &'a History,
        requests: &[CancellationRequest],
        as_of: NaiveDateTime,
    ) -> Self {
        let indexes = Indexes::new(night.terminal, history, requests);
        Decider::with_indexes(night, refs, history, indexes, as_of)
    }

    /// A decider of `night` with the indexes of its terminal records and
    /// `history`'s earlier ones.
    pub fn with_indexes(
        night: &'a Night<'a>,
        refs: &'a References<'a>,
        history: &'a History,
        indexes: Indexes<'a>,
        as_of: NaiveDateTime,
    ) -> Self {
        assert_eq!(
            indexes.built_from,
            (night.terminal.len(), history.earlier.len()),
            "IE: the indexes were built from other records"
        );
        let Indexes {
            by_rrn,
            by_trace,
            refunded,
            shared_rrn,
            built_from: _,
        } = indexes;
        Decider {
            night,
            refs,
            history,
            as_of_day: night.policy.business_day(as_of),
            by_rrn,
            by_trace,
            refunded,
            shared_rrn,
            voided_now: HashMap::new(),
            settled_batches: OnceCell::new(),
            recording: None,
        }
    }

    /// What deciding the night, then the `cancel_route` of the terminal
    /// records `routed`, looks up in what earlier runs decided: the ledger
    /// need read no more than that (`Ledger::read_decided`). Which originals
    /// are asked about, and which action ids checked, depends on the night
    /// and the requests alone, never on what the history holds, so a pass
    /// without it finds them all; a pass with it may stop short of some
    /// look-ups, never make others. Runs on a copy: `self` stays as built.
    pub fn history_lookups(
        &self,
        requests: &[CancellationRequest],
        routed: impl IntoIterator<Item = usize>,
    ) -> Lookups {
        let mut first_pass = self.clone();
        first_pass.recording = Some(RefCell::default());
        let (_, first_pass) = decide_with(first_pass, requests);
        for t in routed {
            first_pass.cancel_route(t);
        }
        first_pass
            .recording
            .map(RefCell::into_inner)
            .unwrap_or_default()
    }

    /// This decider, its indexes kept, reading what earlier runs decided
    /// from `history`, which must hold the same earlier records as the one
    /// it was built with (the indexes point into them).
    pub fn with_history<'b>(self, history: &'b History) -> Decider<'b>
    where
        'a: 'b,
    {
        debug_assert_eq!(history.earlier, self.history.earlier);
        Decider {
            night: self.night,
            refs: self.refs,
            history,
            as_of_day: self.as_of_day,
            by_rrn: self.by_rrn,
            by_trace: self.by_trace,
            refunded: self.refunded,
            shared_rrn: self.shared_rrn,
            voided_now: self.voided_now,
            settled_batches: self
                .settled_batches
                .into_inner()
                .map_or_else(OnceCell::new, OnceCell::from),
            recording: None,
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

    /// Original `t`: one of tonight's terminal records, or after them, one
    /// that an earlier run saw.
    pub fn record(&self, t: usize) -> &'a TerminalRecord {
        match t.checked_sub(self.night.terminal.len()) {
            None => &self.night.terminal[t],
            Some(i) => &self.history.earlier[i].record,
        }
    }

    /// When the bank settled original `t`, if it has.
    pub fn settle_date(&self, t: usize) -> Option<NaiveDate> {
        match t.checked_sub(self.night.terminal.len()) {
            None => self.night.result.terminal[t]
                .settlement()
                .map(|(b, _)| self.night.bank[b].settle_date),
            Some(i) => self.history.earlier[i].settle_date,
        }
    }

    /// The trace of the VOID that cancelled original `t` on the terminal, if any.
    fn void_trace(&self, t: usize) -> Option<&'a str> {
        match t.checked_sub(self.night.terminal.len()) {
            None => self.night.result.terminal[t]
                .void_partner()
                .map(|v| self.night.terminal[v].trace_no.as_str()),
            Some(i) => self.history.earlier[i].void_trace.as_deref(),
        }
    }

    fn business_day(&self, t: usize) -> NaiveDate {
        match t.checked_sub(self.night.terminal.len()) {
            None => self.night.result.terminal[t].business_day,
            Some(i) => self
                .night
                .policy
                .business_day(self.history.earlier[i].record.txn_time),
        }
    }

    /// The most that refunds of original `t` may return: its amount, or less
    /// when the bank settled less (an AMOUNT_MISMATCH, a VOIDED_BUT_SETTLED,
    /// or a match within the amount tolerance: the cardholder paid what the
    /// bank took). `Err` says why it cannot be told.
    fn refundable(&self, t: usize) -> Result<Amount, String> {
        let record = self.record(t);
        let (outcome, settled) = match t.checked_sub(self.night.terminal.len()) {
            None => {
                let result = &self.night.result.terminal[t];
                let settled = result.settlement().map(|(b, _)| {
                    let s = &self.night.bank[b];
                    (s.amount, s.currency)
                });
                (result.outcome, settled)
            }
            Some(i) => {
                let earlier = &self.history.earlier[i];
                (earlier.outcome, earlier.settled_amount)
            }
        };
        if self.settle_date(t).is_none() {
            return Ok(record.amount);
        }
        match settled {
            Some((amount, currency)) if currency == record.currency => {
                Ok(amount.min(record.amount))
            }
            Some((amount, currency)) => Err(format!(
                "the bank settled {amount} {currency} for {} {} captured: \
                 refund by hand once the dispute is settled",
                record.amount, record.currency
            )),
            None => Err(format!(
                "the bank settled it ({outcome}), but the ledger does not show for how much: \
                 refund by hand"
            )),
        }
    }

    /// Whether tonight's bank files settle `record`'s batch: `None` when
    /// not; else whether one of those settlements is unpaired.
    fn batch_settled(&self, record: &TerminalRecord) -> Option<bool> {
        let batches = self.settled_batches.get_or_init(|| {
            let night = self.night;
            let mut batches = foldhash::HashMap::default();
            for (s, result) in night.bank.iter().zip(&night.result.bank) {
                // A settlement without a batch settles its record's.
                let paired = result.terminal().map(|(t, _)| &night.terminal[t]);
                let batch = s.batch_no.as_deref().or(paired.map(|r| &*r.batch_no));
                if let Some(batch) = batch {
                    let unpaired = batches
                        .entry((&*s.merchant_id, &*s.terminal_id, batch))
                        .or_insert(false);
                    // A second settlement of a paired sale is no one else's.
                    *unpaired |= paired.is_none() && result.duplicate_of().is_none();
                }
            }
            batches
        });
        batches
            .get(&(
                &*record.merchant_id,
                &*record.terminal_id,
                &*record.batch_no,
            ))
            .copied()
    }

    /// Refunded so far on original `t`: earlier runs, REFUND records and this run.
    fn refunded(&self, t: usize) -> Amount {
        let key = self.looked_up(self.record(t));
        let earlier = self.history.refunded.get(&key).copied().unwrap_or_default();
        earlier + self.refunded.get(&t).copied().unwrap_or_default()
    }

    /// The key of `record`, to look up in the history: recorded while
    /// recording, and checked against what the history was read for.
    fn looked_up(&self, record: &TerminalRecord) -> TxnKey {
        let key = txn_key(record);
        if let Some(recording) = &self.recording {
            let mut recording = recording.borrow_mut();
            recording.keys.insert(key.clone());
            if let (true, Some(rrn)) = (record.txn_type.is_purchase(), &record.rrn) {
                let purchase = (key.clone(), rrn.clone(), record.card.clone());
                recording.purchases.insert(purchase);
            }
        }
        debug_assert!(
            self.history
                .loaded_for
                .as_ref()
                .is_none_or(|l| l.keys.contains(&key)),
            "IE: the history was not read for {key:?}"
        );
        key
    }

    /// The run that issued action `id` before, if one did.
    fn issued_before(&self, id: &str) -> Option<i64> {
        if let Some(recording) = &self.recording {
            recording.borrow_mut().action_ids.insert(id.to_string());
        }
        debug_assert!(
            self.history
                .loaded_for
                .as_ref()
                .is_none_or(|l| l.action_ids.contains(id)),
            "IE: the history was not read for {id}"
        );
        self.history.issued.get(id).copied()
    }

    /// How original `t` could be cancelled now, for `amount` (its full amount
    /// when `None`). Every condition of SPEC §4 steps 2 to 5 except consent.
    pub fn route(&self, t: usize, amount: Option<Amount>, limit: RefundLimit) -> Route {
        let night = self.night;
        let record = self.record(t);
        if !record.txn_type.is_purchase() {
            return Route::None(format!("a {} cannot be cancelled", record.txn_type));
        }
        let settled = self.settle_date(t).is_some();
        let void_trace = self.void_trace(t);
        if let Some(trace) = void_trace
            && !settled
        {
            return Route::None(format!(
                "already voided on the terminal by VOID trace {trace}"
            ));
        }
        if let Some(action) = self.voided_now.get(&t) {
            return Route::None(format!("already voided by {action} in this run"));
        }
        // An earlier run's VOID, like a terminal's, stands only while the bank
        // has not settled the sale: settled, the void did not take, the
        // cardholder paid, and a refund may go ahead.
        if !settled && let Some((action, run)) = self.history.voided.get(&self.looked_up(record)) {
            return Route::None(format!("already voided by {action} in run {run}"));
        }
        if let Some(state) = self.refs.card_state(&record.card) {
            return Route::None(format!(
                "card {} is {state}; the bank would refuse",
                record.card
            ));
        }
        let merchant = match self.merchant(&record.merchant_id) {
            Ok(merchant) => merchant,
            Err(reason) => return Route::None(reason),
        };
        let already = self.refunded(t);
        let refundable = self.refundable(t);
        // The full amount of a refund is what the cardholder paid.
        let full = match (&refundable, settled) {
            (Ok(paid), true) => *paid,
            _ => record.amount,
        };
        let wanted = amount.unwrap_or(full);
        let business_day = self.business_day(t);
        let voidable = !settled
            && void_trace.is_none()
            && already == Amount::ZERO
            && wanted == record.amount
            && self.as_of_day == business_day
            && merchant.is_none_or(|m| m.void_enabled)
            && self.batch_settled(record).is_none();
        if voidable {
            return Route::Void {
                until: business_day,
            };
        }
        let last_day = night.policy.last_refund_day(business_day);
        if self.as_of_day > last_day {
            return Route::None(format!("the refund window ended on {last_day}"));
        }
        if let Some(m) = merchant.filter(|m| !m.refund_enabled) {
            return Route::None(format!(
                "refunds are frozen for merchant {} ({})",
                m.merchant_id, m.merchant_name
            ));
        }
        // Not settled once the lag has passed, it may never be: a refund
        // would return money the cardholder may not have paid. It can go
        // ahead once a settlement comes (a later night brings the record back).
        let overdue_from = night.policy.unsettled_from(business_day);
        if !settled && self.as_of_day >= overdue_from {
            return Route::None(format!(
                "not settled by business day {overdue_from}, so the cardholder may not have \
                 been charged: refund once the bank settles it"
            ));
        }
        // Nor when the bank settled its batch without it: every settlement
        // of the batch is another record's.
        if !settled && self.batch_settled(record) == Some(false) {
            return Route::None(format!(
                "the bank settled its batch {} without it: the batch is closed to voids, and \
                 the cardholder may not have been charged: refund once the bank settles it",
                record.batch_no
            ));
        }
        let ceiling = match limit {
            RefundLimit::Original => match refundable {
                Ok(paid) => Some(paid),
                Err(reason) => return Route::None(reason),
            },
            RefundLimit::UpTo(amount) => Some(amount),
            RefundLimit::Separate => None,
        };
        if let Some(ceiling) = ceiling
            && already + wanted > ceiling
        {
            let mut reason = format!(
                "over-refund: refunds would total {}, more than the original {ceiling}",
                already + wanted
            );
            if limit == RefundLimit::Original && ceiling < record.amount {
                reason = format!(
                    "over-refund: refunds would total {}, more than the {ceiling} the bank \
                     settled ({} captured)",
                    already + wanted,
                    record.amount
                );
            }
            reason += &self.shared_rrn_note(t);
            return Route::None(reason);
        }
        Route::Refund {
            amount: wanted,
            until: last_day,
        }
    }

    /// Why original `t` counts refunds that may be another purchase's, or "".
    fn shared_rrn_note(&self, t: usize) -> String {
        let tonight = self.shared_rrn.get(&t).copied();
        let earlier = || {
            let rrn = self
                .history
                .shared_rrn
                .get(&self.looked_up(self.record(t)))?;
            Some(rrn.as_str())
        };
        tonight.or_else(earlier).map_or(String::new(), |rrn| {
            format!(
                " (rrn {rrn} is shared: REFUND records naming it count against each sale of this merchant and card with it)"
            )
        })
    }

    /// The `cancel_route` cell for a terminal record: what cancelling it would
    /// take as of now.
    pub fn cancel_route(&self, t: usize) -> String {
        let full = self.refundable(t).unwrap_or(self.record(t).amount);
        let remaining = full - self.refunded(t);
        let amount = (remaining != full).then_some(remaining);
        match self.route(t, amount, RefundLimit::Original) {
            Route::Void { until } => {
                let end = self.night.policy.business_day_end(until);
                format!("VOID until {}", end.format("%Y-%m-%d %H:%M"))
            }
            Route::Refund { until, .. } if remaining > Amount::ZERO => {
                format!("REFUND until {until}")
            }
            Route::Refund { .. } => {
                format!("NONE: already fully refunded{}", self.shared_rrn_note(t))
            }
            Route::None(reason) => format!("NONE: {reason}"),
        }
    }

    fn identity(&self, t: usize) -> [&'a str; 4] {
        let r = self.record(t);
        [&r.merchant_id, &r.terminal_id, &r.batch_no, &r.trace_no]
    }

    /// Decides one cancellation of original `t` and records the result.
    fn cancel(&mut self, ask: Ask<'_>, decisions: &mut Decisions) {
        let Ask {
            original: t,
            amount,
            limit,
            source,
            source_tag,
            reason,
        } = ask;
        let [m, tid, b, trace] = self.identity(t);
        // The same cause on the same original always gives the same ids, so an
        // earlier run that issued either kind settles it.
        for kind in ["VOID", "REFUND"] {
            let id = action_id(kind, &[m, tid, b, trace, source_tag]);
            if let Some(run) = self.issued_before(&id) {
                decisions.already_issued.push(AlreadyIssued {
                    action_id: id,
                    run,
                    source,
                    original: Some(t),
                });
                return;
            }
        }
        let note = match self.route(t, amount, limit) {
            Route::Void { .. } => {
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
                let id = action_id("REFUND", &[m, tid, b, trace, source_tag]);
                if limit != RefundLimit::Separate {
                    let total = self.refunded.get(&t).copied().unwrap_or_default() + amount;
                    self.refunded.insert(t, total);
                }
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
        let by_rrn = request.rrn.as_deref().and_then(|rrn| self.by_rrn.get(rrn));
        let by_trace = match (&request.terminal_id, &request.trace_no) {
            (Some(tid), Some(trace)) => self.by_trace.get(&(tid.as_str(), trace.as_str())),
            _ => None,
        };
        let (candidates, named): (Vec<usize>, String) = match (
            by_rrn,
            by_trace,
            &request.rrn,
            &request.terminal_id,
            &request.trace_no,
        ) {
            (Some(found), _, Some(rrn), _, _) => (found.clone(), format!("rrn {rrn}")),
            (None, Some(found), _, Some(tid), Some(trace)) => {
                (found.clone(), format!("terminal {tid} trace {trace}"))
            }
            (_, _, rrn, tid, trace) => {
                let mut names = Vec::new();
                if let Some(rrn) = rrn {
                    names.push(format!("rrn {rrn}"));
                }
                if let (Some(tid), Some(trace)) = (tid, trace) {
                    names.push(format!("terminal {tid} trace {trace}"));
                }
                return Err(format!(
                    "not found: no transaction with {}",
                    names.join(" or ")
                ));
            }
        };
        let exact: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&t| {
                let original = self.record(t);
                original.txn_time == request.txn_time && original.amount == request.amount
            })
            .collect();
        match (exact.as_slice(), candidates.as_slice()) {
            ([t], _) | ([], [t]) => Ok(*t),
            ([], _) => Err(format!(
                "not found: {} transactions with {named}, none at {} for {}",
                candidates.len(),
                request.txn_time,
                request.amount
            )),
            (several, _) => Err(format!(
                "ambiguous: {} transactions with {named} at {} for {}; name it by terminal_id and trace_no",
                several.len(),
                request.txn_time,
                request.amount
            )),
        }
    }

    /// Checks that the request's details agree with the original's.
    fn verify(&self, request: &CancellationRequest, t: usize) -> Result<(), String> {
        let original = self.record(t);
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

/// Decides every cancellation and dispute of one night (SPEC §4), with no
/// earlier runs to consider. See [`decide_with_history`].
pub fn decide<'a>(
    night: &'a Night<'a>,
    refs: &'a References<'a>,
    requests: &[CancellationRequest],
    as_of: NaiveDateTime,
) -> (Decisions, Decider<'a>) {
    static NO_HISTORY: std::sync::OnceLock<History> = std::sync::OnceLock::new();
    decide_with_history(
        night,
        refs,
        NO_HISTORY.get_or_init(History::default),
        requests,
        as_of,
    )
}

/// Decides every cancellation and dispute of one night (SPEC §4), counting
/// what earlier runs issued. The returned [`Decider`] answers
/// [`Decider::cancel_route`] as of after these decisions.
pub fn decide_with_history<'a>(
    night: &'a Night<'a>,
    refs: &'a References<'a>,
    history: &'a History,
    requests: &[CancellationRequest],
    as_of: NaiveDateTime,
) -> (Decisions, Decider<'a>) {
    let decider = Decider::new(night, refs, history, requests, as_of);
    decide_with(decider, requests)
}

/// Decides every cancellation and dispute of the night with `decider`, as
/// [`decide_with_history`] does with a new one.
pub fn decide_with<'a>(
    mut decider: Decider<'a>,
    requests: &[CancellationRequest],
) -> (Decisions, Decider<'a>) {
    let night = decider.night;
    let mut decisions = Decisions::default();

    // Money the bank took that it should not have comes back first; a request
    // on the same sale then sees that refund.
    let cancel_duplicates = night.policy.suspected_duplicates == DuplicatePolicy::Cancel;
    let mut terminal_order: Vec<usize> = (0..night.terminal.len())
        .filter(|&t| match night.result.terminal[t].outcome {
            Outcome::VoidedButSettled => true,
            Outcome::SuspectedDuplicate => cancel_duplicates,
            _ => false,
        })
        .collect();
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
        let result = &night.result.terminal[t];
        if result.outcome == Outcome::VoidedButSettled {
            // Refund what the bank charged, which may differ from what was voided.
            let charged = result
                .settlement()
                .map_or(night.terminal[t].amount, |(b, _)| night.bank[b].amount);
            decider.cancel(
                Ask {
                    original: t,
                    amount: Some(charged),
                    limit: RefundLimit::UpTo(charged.max(night.terminal[t].amount)),
                    source: Source::Outcome(Outcome::VoidedButSettled),
                    source_tag: "VOIDED_BUT_SETTLED",
                    reason: night.terminal(t),
                },
                &mut decisions,
            );
        }
    }
    let mut duplicates: Vec<usize> = (0..night.bank.len())
        .filter(|&b| night.result.bank[b].outcome == Outcome::DuplicateSettlement)
        .collect();
    duplicates.sort_by(|&a, &b| exception_order(night, (Side::Bank, a), (Side::Bank, b)));
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut duplicate_disputes = Vec::new();
    for b in duplicates {
        let original = night.result.bank[b]
            .duplicate_of()
            .and_then(|first| night.result.bank[first].terminal())
            .map(|(t, _)| t);
        let Some(t) = original else { continue };
        if !night.bank[b].txn_type.is_purchase() {
            // A REFUND settled twice paid the cardholder twice: the merchant's
            // money, to claim back from the bank, not to refund again.
            duplicate_disputes.push((t, b));
            continue;
        }
        let occurrence = seen.entry(t).or_default();
        *occurrence += 1;
        let tag = format!("DUPLICATE_SETTLEMENT#{occurrence}");
        decider.cancel(
            Ask {
                original: t,
                amount: Some(night.bank[b].amount),
                limit: RefundLimit::Separate,
                source: Source::Outcome(Outcome::DuplicateSettlement),
                source_tag: &tag,
                reason: night.bank(b),
            },
            &mut decisions,
        );
    }
    if cancel_duplicates {
        for &t in &terminal_order {
            if night.result.terminal[t].outcome == Outcome::SuspectedDuplicate {
                decider.cancel(
                    Ask {
                        original: t,
                        amount: None,
                        limit: RefundLimit::Original,
                        source: Source::Outcome(Outcome::SuspectedDuplicate),
                        source_tag: "SUSPECTED_DUPLICATE",
                        reason: night.terminal(t),
                    },
                    &mut decisions,
                );
            }
        }
    }

    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| requests[a].request_ref.cmp(&requests[b].request_ref));
    for r in order {
        let request = &requests[r];
        let source = Source::Request(r);
        let t = match decider.find_original(request) {
            Ok(t) => t,
            Err(reason) => {
                decisions.rejections.push(Rejection {
                    source,
                    original: None,
                    reason,
                });
                continue;
            }
        };
        if let Err(reason) = decider.verify(request, t) {
            decisions.rejections.push(Rejection {
                source,
                original: Some(t),
                reason,
            });
            continue;
        }
        if !request.has_consent() {
            decisions.rejections.push(Rejection {
                source,
                original: Some(t),
                reason: format!(
                    "the cardholder has not agreed (customer_consent {}); it must be \"yes\"",
                    crate::model::quoted(&request.customer_consent)
                ),
            });
            continue;
        }
        decider.cancel(
            Ask {
                original: t,
                amount: request.refund_amount,
                limit: RefundLimit::Original,
                source,
                source_tag: &request.request_ref,
                reason: request.reason.clone(),
            },
            &mut decisions,
        );
    }

    for dispute in disputes(night, &duplicate_disputes) {
        match decider.issued_before(&dispute.action_id) {
            Some(run) => decisions.already_issued.push(AlreadyIssued {
                action_id: dispute.action_id,
                run,
                source: Source::Outcome(dispute.outcome),
                original: dispute.terminal,
            }),
            None => decisions.disputes.push(dispute),
        }
    }
    (decisions, decider)
}

/// One dispute case per BANK_ONLY, FEE_MISMATCH and UNSETTLED record and per
/// AMOUNT_MISMATCH pair, in report order.
fn disputes(night: &Night<'_>, duplicate_refunds: &[(usize, usize)]) -> Vec<Dispute> {
    let rows = rows_where(night, |o| {
        matches!(
            o,
            Outcome::BankOnly | Outcome::AmountMismatch | Outcome::FeeMismatch | Outcome::Unsettled
        )
    });
    let mut cases: Vec<(Outcome, Option<usize>, Option<usize>)> = Vec::new();
    for (side, i) in rows {
        match side {
            Side::Terminal => {
                let result = &night.result.terminal[i];
                cases.push((result.outcome, Some(i), result.settlement().map(|(b, _)| b)));
            }
            // A mismatched pair is one case, raised from its terminal row.
            Side::Bank if night.result.bank[i].outcome == Outcome::AmountMismatch => {}
            Side::Bank => {
                let result = &night.result.bank[i];
                cases.push((result.outcome, result.terminal().map(|(t, _)| t), Some(i)));
            }
        }
    }
    cases.extend(
        duplicate_refunds
            .iter()
            .map(|&(t, b)| (Outcome::DuplicateSettlement, Some(t), Some(b))),
    );

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut disputes = Vec::new();
    for (outcome, terminal, bank) in cases {
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
        let bank_side = matches!(outcome, Outcome::FeeMismatch | Outcome::DuplicateSettlement);
        if let Some(b) = bank.filter(|_| terminal.is_none() || bank_side) {
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

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // `&[record.clone()]` reads like the other rows of a table
mod tests {
    use std::collections::HashSet;

    use rust_decimal::Decimal;

    use super::*;
    use crate::matching;
    use crate::model::{Settlement, TerminalRecord};
    use crate::policy::Policy;
    use crate::testkit::*;

    /// One night to decide: what was captured and settled, the reference
    /// data, the requests, and the moment they are judged against.
    #[derive(Clone)]
    struct Inputs {
        terminal: Vec<TerminalRecord>,
        bank: Vec<Settlement>,
        policy: Policy,
        merchants: Option<Vec<Merchant>>,
        cards: Vec<(MaskedPan, CardState)>,
        requests: Vec<CancellationRequest>,
        as_of: NaiveDateTime,
    }

    impl Inputs {
        /// The records, as of `AS_OF`, with the default policy and no
        /// reference files or requests.
        fn new(terminal: &[TerminalRecord], bank: &[Settlement]) -> Inputs {
            Inputs {
                terminal: terminal.to_vec(),
                bank: bank.to_vec(),
                policy: Policy::default(),
                merchants: None,
                cards: Vec::new(),
                requests: Vec::new(),
                as_of: at(AS_OF),
            }
        }

        fn requests(self, requests: &[CancellationRequest]) -> Inputs {
            Inputs {
                requests: requests.to_vec(),
                ..self
            }
        }

        fn merchants(self, merchants: &[Merchant]) -> Inputs {
            Inputs {
                merchants: Some(merchants.to_vec()),
                ..self
            }
        }

        fn card(mut self, raw: &str, state: CardState) -> Inputs {
            self.cards.push((card(raw), state));
            self
        }

        fn judged_at(self, raw: &str) -> Inputs {
            Inputs {
                as_of: at(raw),
                ..self
            }
        }

        fn policy(self, policy: Policy) -> Inputs {
            Inputs { policy, ..self }
        }

        /// Matches and decides the night: the decisions, and every terminal
        /// record's `cancel_route` as of after them.
        fn decide(&self) -> (Decisions, Vec<String>) {
            let result = matching::reconcile(&self.terminal, &self.bank, &self.policy, self.as_of);
            let night = Night {
                terminal: &self.terminal,
                bank: &self.bank,
                result: &result,
                policy: &self.policy,
            };
            let refs = References {
                merchants: self
                    .merchants
                    .as_ref()
                    .map(|list| list.iter().map(|m| (m.merchant_id.as_str(), m)).collect()),
                cards: self.cards.iter().map(|(c, s)| (c, *s)).collect(),
            };
            let (decisions, decider) = decide(&night, &refs, &self.requests, self.as_of);
            let routes = (0..self.terminal.len())
                .map(|t| decider.cancel_route(t))
                .collect();
            (decisions, routes)
        }

        /// Each terminal record's outcome.
        fn outcomes(&self) -> Vec<Outcome> {
            let result = matching::reconcile(&self.terminal, &self.bank, &self.policy, self.as_of);
            result.terminal.iter().map(|r| r.outcome).collect()
        }

        /// What asked for an action: its `request_ref`, or the outcome.
        fn source(&self, source: Source) -> &str {
            match source {
                Source::Request(r) => &self.requests[r].request_ref,
                Source::Outcome(outcome) => outcome.as_str(),
            }
        }

        /// The decisions as one line each, in decision order: voids, refunds,
        /// rejections, then disputes. `t0` is terminal record 0, `b0` bank
        /// record 0.
        fn lines(&self, decisions: &Decisions) -> Vec<String> {
            let mut lines = Vec::new();
            for v in &decisions.voids {
                lines.push(format!("VOID t{} {}", v.original, self.source(v.source)));
            }
            for r in &decisions.refunds {
                lines.push(format!(
                    "REFUND t{} {} {}",
                    r.original,
                    r.refund_amount,
                    self.source(r.source)
                ));
            }
            for r in &decisions.rejections {
                let on = r.original.map_or(String::new(), |t| format!(" t{t}"));
                lines.push(format!(
                    "REJECT {}{on}: {}",
                    self.source(r.source),
                    r.reason
                ));
            }
            for d in &decisions.disputes {
                let mut line = format!("DISPUTE {}", d.outcome);
                if let Some(t) = d.terminal {
                    line += &format!(" t{t}");
                }
                if let Some(b) = d.bank {
                    line += &format!(" b{b}");
                }
                lines.push(line);
            }
            lines
        }
    }

    /// Every action id of a night, in decision order.
    fn action_ids(decisions: &Decisions) -> Vec<&str> {
        let voids = decisions.voids.iter().map(|v| v.action_id.as_str());
        let refunds = decisions.refunds.iter().map(|r| r.action_id.as_str());
        let disputes = decisions.disputes.iter().map(|d| d.action_id.as_str());
        voids.chain(refunds).chain(disputes).collect()
    }

    /// Decides `inputs` and checks the decisions against `want` (see
    /// [`Inputs::lines`]). Also checks what holds for every night: the ids
    /// name their kind and are unique, and neither a second run nor the
    /// requests in reverse row order changes any decision or id.
    #[track_caller]
    fn case(inputs: &Inputs, want: &[&str]) -> Decisions {
        let (decisions, _) = inputs.decide();
        assert_eq!(inputs.lines(&decisions), want);

        let kinds = (decisions.voids.iter().map(|v| ("VOID-", &v.action_id)))
            .chain(decisions.refunds.iter().map(|r| ("REFUND-", &r.action_id)))
            .chain(
                decisions
                    .disputes
                    .iter()
                    .map(|d| ("DISPUTE-", &d.action_id)),
            );
        for (kind, id) in kinds {
            let hex = id
                .strip_prefix(kind)
                .unwrap_or_else(|| panic!("{id} is not a {kind}"));
            assert!(
                hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id}: 16 hex digits after the kind"
            );
        }
        let ids = action_ids(&decisions);
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "action ids repeat: {ids:?}");

        let (again, _) = inputs.decide();
        assert_eq!(again, decisions, "a second run decides differently");

        let mut reversed = inputs.clone();
        reversed.requests.reverse();
        let (backward, _) = reversed.decide();
        assert_eq!(
            reversed.lines(&backward),
            want,
            "the decisions depend on the order of the request rows"
        );
        assert_eq!(action_ids(&backward), ids, "ids depend on the row order");
        decisions
    }

    /// The `cancel_route` of every terminal record, as of after the night's
    /// decisions.
    #[track_caller]
    fn routes(inputs: &Inputs, want: &[&str]) {
        let (_, routes) = inputs.decide();
        assert_eq!(routes, want);
    }

    /// A request for part of `original`.
    fn partial(reference: &str, original: &TerminalRecord, minor: i64) -> CancellationRequest {
        CancellationRequest {
            refund_amount: Some(fen(minor)),
            ..request(reference, original)
        }
    }

    fn frozen(void_enabled: bool, refund_enabled: bool) -> Merchant {
        merchant(MERCHANT, MERCHANT_NAME, void_enabled, refund_enabled)
    }

    /// An unsettled SALE of 100.00 on business day 2026-11-24: PENDING, and
    /// voidable as of `AS_OF`. Its batch is today's, which the bank has not
    /// settled; yesterday's sales are in the default batch.
    fn today() -> TerminalRecord {
        TerminalRecord {
            batch_no: "000232".into(),
            ..sale_rrn("000101", "632800000101", "2026-11-24 10:00:00", 10000)
        }
    }

    /// A SALE of 100.00 on business day 2026-11-23; settle it with `settled`.
    fn yesterday() -> TerminalRecord {
        sale_rrn("000201", "632700000201", "2026-11-23 10:00:00", 10000)
    }

    /// Found in review: cases where an earlier version paid out the wrong
    /// money or refunded the wrong card.
    #[test]
    fn review_findings() {
        // A card status listing the card with fewer visible digits still
        // blocks it.
        let sold = yesterday();
        let night =
            Inputs::new(&[sold.clone()], &[settled(&sold)]).requests(&[request("CR-1", &sold)]);
        case(
            &night.clone().card("6228********1234", CardState::Lost),
            &["REJECT CR-1 t0: card 622848******1234 is LOST; the bank would refuse"],
        );

        // Two sales that share an rrn, time and amount: the request is
        // ambiguous, whatever the row order.
        let twin = TerminalRecord {
            trace_no: "000299".into(),
            card: card(OTHER_CARD),
            ..sold.clone()
        };
        for rows in [[sold.clone(), twin.clone()], [twin.clone(), sold.clone()]] {
            let (decisions, _) = Inputs::new(&rows, &[])
                .requests(&[request("CR-1", &sold)])
                .decide();
            assert!(decisions.voids.is_empty() && decisions.refunds.is_empty());
            assert_eq!(
                decisions.rejections[0].reason,
                "ambiguous: 2 transactions with rrn 632700000201 at 2026-11-23 10:00:00 for 100.00; name it by terminal_id and trace_no"
            );
        }

        // A REFUND the bank settled twice is the merchant's money: a dispute,
        // not a refund to the cardholder.
        let returned = refund_of("000202", "2026-11-23 12:00:00", 2000, &sold);
        let twice = Inputs::new(
            &[sold.clone(), returned.clone()],
            &[settled(&sold), settled(&returned), settled(&returned)],
        );
        case(&twice, &["DISPUTE DUPLICATE_SETTLEMENT t1 b2"]);

        // A voided sale the bank settled for more than was captured is
        // refunded what the bank took.
        let voided = void("000203", "2026-11-23 10:05:00", &sold);
        let overcharged = Inputs::new(
            &[sold.clone(), voided],
            &[for_amount(settled(&sold), 15000)],
        );
        case(&overcharged, &["REFUND t0 150.00 VOIDED_BUT_SETTLED"]);
    }

    #[test]
    fn void_while_the_batch_is_open_otherwise_refund() {
        let today = today();
        let asked = Inputs::new(&[today.clone()], &[]).requests(&[request("CR-1", &today)]);

        // Unsettled, same business day, before the cutoff, full amount.
        case(&asked, &["VOID t0 CR-1"]);
        case(
            &asked.clone().merchants(&[frozen(true, true)]),
            &["VOID t0 CR-1"],
        );
        case(
            &asked.clone().judged_at("2026-11-24 22:59:59"),
            &["VOID t0 CR-1"],
        );
        // By terminal + trace, without rrn.
        let no_rrn = sale("000102", "2026-11-24 10:00:00", 10000);
        case(
            &Inputs::new(&[no_rrn.clone()], &[]).requests(&[request("CR-1", &no_rrn)]),
            &["VOID t0 CR-1"],
        );
        // A PREAUTH_COMPLETE is voided like a SALE.
        let completion = TerminalRecord {
            txn_type: TxnType::PreauthComplete,
            ..today.clone()
        };
        case(
            &Inputs::new(&[completion.clone()], &[]).requests(&[request("CR-1", &completion)]),
            &["VOID t0 CR-1"],
        );
        // Captured after yesterday's cutoff: it belongs to today.
        let late = sale_rrn("000103", "632800000103", "2026-11-23 23:10:00", 10000);
        case(
            &Inputs::new(&[late.clone()], &[]).requests(&[request("CR-1", &late)]),
            &["VOID t0 CR-1"],
        );

        // Asked at or after the cutoff: business day 2026-11-25, so the batch
        // is closed, and the sale is now UNSETTLED too: never settled, the
        // cardholder may not have paid, so no refund either.
        let closed = [
            "REJECT CR-1 t0: not settled by business day 2026-11-25, so the cardholder may \
             not have been charged: refund once the bank settles it",
            "DISPUTE UNSETTLED t0",
        ];
        case(&asked.clone().judged_at("2026-11-24 23:00:00"), &closed);
        case(&asked.clone().judged_at("2026-11-24 23:30:00"), &closed);
        case(&asked.clone().judged_at("2026-11-25 09:00:00"), &closed);
        // Still inside a longer settlement lag (PENDING), it is refunded: it
        // is expected to settle.
        let two_day_lag = Policy {
            settlement_lag_days: 2,
            ..Policy::default()
        };
        let pending = asked.clone().policy(two_day_lag);
        case(
            &pending.clone().judged_at("2026-11-24 23:00:00"),
            &["REFUND t0 100.00 CR-1"],
        );
        case(
            &pending.judged_at("2026-11-25 09:00:00"),
            &["REFUND t0 100.00 CR-1"],
        );
        // Voids frozen for the merchant.
        case(
            &asked.clone().merchants(&[frozen(false, true)]),
            &["REFUND t0 100.00 CR-1"],
        );
        // Part of the amount: a void is full amount only.
        case(
            &asked.clone().requests(&[partial("CR-1", &today, 4000)]),
            &["REFUND t0 40.00 CR-1"],
        );
        // Settled already (the same day).
        let settled_today = sale_rrn("000104", "632800000104", "2026-11-24 08:00:00", 10000);
        case(
            &Inputs::new(&[settled_today.clone()], &[settled(&settled_today)])
                .requests(&[request("CR-1", &settled_today)]),
            &["REFUND t0 100.00 CR-1"],
        );

        // Another sale of its batch settled already: the bank has closed the
        // batch, so the sale can no longer be voided (SPEC §1: a VOID cancels
        // a SALE inside its own open batch); and settled without it, it may
        // never be charged, so no refund either until it settles. A
        // settlement that does not name its batch closes none.
        let batch_mate = TerminalRecord {
            batch_no: today.batch_no.clone(),
            ..sale_rrn("000106", "632800000106", "2026-11-24 08:30:00", 5000)
        };
        let closed = Inputs::new(
            &[today.clone(), batch_mate.clone()],
            &[settled(&batch_mate)],
        )
        .requests(&[request("CR-1", &today)]);
        let without_it = "the bank settled its batch 000232 without it: the batch is closed to \
                          voids, and the cardholder may not have been charged: refund once the \
                          bank settles it";
        case(&closed, &[&format!("REJECT CR-1 t0: {without_it}")]);
        routes(
            &closed,
            &[&format!("NONE: {without_it}"), "REFUND until 2027-05-23"],
        );
        // With a settlement of the batch that pairs with nothing, which may be
        // its own, it may be refunded (as any PENDING sale that cannot be
        // voided).
        let stray = TerminalRecord {
            batch_no: today.batch_no.clone(),
            ..sale_rrn("000107", "632800000107", "2026-11-24 08:40:00", 700)
        };
        case(
            &Inputs::new(
                &[today.clone(), batch_mate.clone()],
                &[settled(&batch_mate), settled(&stray)],
            )
            .requests(&[request("CR-1", &today)]),
            &["REFUND t0 100.00 CR-1", "DISPUTE BANK_ONLY b1"],
        );
        // A second settlement of the batch mate is its, not the sale's.
        case(
            &Inputs::new(
                &[today.clone(), batch_mate.clone()],
                &[settled(&batch_mate), settled(&batch_mate)],
            )
            .requests(&[request("CR-1", &today)]),
            &[
                "REFUND t1 50.00 DUPLICATE_SETTLEMENT",
                &format!("REJECT CR-1 t0: {without_it}"),
            ],
        );
        // A settlement that does not name its batch settles its record's.
        let unnamed = Settlement {
            batch_no: None,
            ..settled(&batch_mate)
        };
        case(
            &Inputs::new(&[today.clone(), batch_mate.clone()], &[unnamed])
                .requests(&[request("CR-1", &today)]),
            &[&format!("REJECT CR-1 t0: {without_it}")],
        );
        // Unpaired, it names no batch at all.
        let unnamed_stray = Settlement {
            batch_no: None,
            ..settled(&stray)
        };
        case(
            &Inputs::new(&[today.clone(), batch_mate], &[unnamed_stray])
                .requests(&[request("CR-1", &today)]),
            &["VOID t0 CR-1", "DISPUTE BANK_ONLY b0"],
        );

        // A REFUND record on the sale blocks the void; the rest may be refunded.
        let refunded = refund_of("000105", "2026-11-24 11:00:00", 3000, &today);
        let with_refund = Inputs::new(&[today.clone(), refunded], &[]);
        case(
            &with_refund
                .clone()
                .requests(&[partial("CR-1", &today, 7000)]),
            &["REFUND t0 70.00 CR-1"],
        );
        case(
            &with_refund.requests(&[request("CR-1", &today)]),
            &[
                "REJECT CR-1 t0: over-refund: refunds would total 130.00, more than the original 100.00",
            ],
        );

        // Voided in this run: a second request for it is rejected, naming the void.
        let twice = asked
            .clone()
            .requests(&[request("CR-1", &today), request("CR-2", &today)]);
        let (decisions, _) = twice.decide();
        let void_id = &decisions.voids[0].action_id;
        case(
            &twice,
            &[
                "VOID t0 CR-1",
                &format!("REJECT CR-2 t0: already voided by {void_id} in this run"),
            ],
        );
    }

    /// An AMOUNT_MISMATCH where the bank settled less: the cardholder paid
    /// what the bank took, so refunds of it stop there (the difference is the
    /// dispute's); where it settled more, at the captured amount.
    #[test]
    fn refunds_of_an_amount_mismatch_stop_at_what_the_cardholder_paid() {
        let sold = yesterday();
        let with_bank = |minor: i64| {
            let bank = Settlement {
                amount: fen(minor),
                net_amount: fen(minor),
                ..settled(&sold)
            };
            Inputs::new(&[sold.clone()], &[bank])
        };
        let dispute = "DISPUTE AMOUNT_MISMATCH t0 b0";
        let less = with_bank(1000);
        case(
            &less.clone().requests(&[request("CR-1", &sold)]),
            &["REFUND t0 10.00 CR-1", dispute],
        );
        case(
            &less.clone().requests(&[partial("CR-1", &sold, 1001)]),
            &[
                "REJECT CR-1 t0: over-refund: refunds would total 10.01, more than the 10.00 \
                 the bank settled (100.00 captured)",
                dispute,
            ],
        );
        routes(&less, &["REFUND until 2027-05-22"]);
        case(
            &with_bank(11000).requests(&[request("CR-1", &sold)]),
            &["REFUND t0 100.00 CR-1", dispute],
        );
        let other_currency = Settlement {
            currency: Currency::from_code("USD").unwrap(),
            ..settled(&sold)
        };
        case(
            &Inputs::new(&[sold.clone()], &[other_currency]).requests(&[request("CR-1", &sold)]),
            &[
                "REJECT CR-1 t0: the bank settled 100.00 USD for 100.00 CNY captured: \
                 refund by hand once the dispute is settled",
                dispute,
            ],
        );
    }

    #[test]
    fn refund_after_settlement_within_the_window_and_the_amount() {
        let sold = yesterday();
        let night = Inputs::new(&[sold.clone()], &[settled(&sold)]);

        case(
            &night.clone().requests(&[request("CR-1", &sold)]),
            &["REFUND t0 100.00 CR-1"],
        );
        // refund_amount is honoured.
        case(
            &night.clone().requests(&[partial("CR-1", &sold, 2500)]),
            &["REFUND t0 25.00 CR-1"],
        );
        // Two partial refunds that fit.
        case(
            &night
                .clone()
                .requests(&[partial("CR-1", &sold, 6000), partial("CR-2", &sold, 4000)]),
            &["REFUND t0 60.00 CR-1", "REFUND t0 40.00 CR-2"],
        );
        // Two that do not: the first by request_ref wins, whatever the row
        // order (`case` also runs the rows reversed).
        let over = "REJECT CR-2 t0: over-refund: refunds would total 110.00, more than the original 100.00";
        case(
            &night
                .clone()
                .requests(&[partial("CR-2", &sold, 5000), partial("CR-1", &sold, 6000)]),
            &["REFUND t0 60.00 CR-1", over],
        );
        case(
            &night
                .clone()
                .requests(&[partial("CR-1", &sold, 6000), partial("CR-2", &sold, 5000)]),
            &["REFUND t0 60.00 CR-1", over],
        );
        // A REFUND record already returned 30.00 of it.
        let refunded = refund_of("000202", "2026-11-23 11:00:00", 3000, &sold);
        let with_refund = Inputs::new(&[sold.clone(), refunded.clone()], &[settled(&sold)]);
        case(
            &with_refund
                .clone()
                .requests(&[partial("CR-1", &sold, 7000)]),
            &["REFUND t0 70.00 CR-1", "DISPUTE UNSETTLED t1"],
        );
        case(
            &with_refund.requests(&[partial("CR-1", &sold, 7001)]),
            &[
                "REJECT CR-1 t0: over-refund: refunds would total 100.01, more than the original 100.00",
                "DISPUTE UNSETTLED t1",
            ],
        );

        // Refunds frozen for the merchant (voids do not matter once settled).
        case(
            &night
                .clone()
                .merchants(&[frozen(true, false)])
                .requests(&[request("CR-1", &sold)]),
            &[
                "REJECT CR-1 t0: refunds are frozen for merchant 898310058120001 (上海静安咖啡有限公司)",
            ],
        );
        // Both frozen, batch still open: neither a void nor a refund.
        let today = today();
        case(
            &Inputs::new(&[today.clone()], &[])
                .merchants(&[frozen(false, false)])
                .requests(&[request("CR-1", &today)]),
            &[
                "REJECT CR-1 t0: refunds are frozen for merchant 898310058120001 (上海静安咖啡有限公司)",
            ],
        );

        // The window: 180 days from business day 2026-05-28 is 2026-11-24.
        #[track_caller]
        fn window_case(time: &str, window_days: u32, want: &str) {
            let old = sale_rrn("000301", "632500000301", time, 10000);
            let policy = Policy {
                refund_window_days: window_days,
                ..Policy::default()
            };
            case(
                &Inputs::new(&[old.clone()], &[settled(&old)])
                    .policy(policy)
                    .requests(&[request("CR-1", &old)]),
                &[want],
            );
        }
        window_case("2026-05-28 10:00:00", 180, "REFUND t0 100.00 CR-1");
        window_case(
            "2026-05-27 22:59:59",
            180,
            "REJECT CR-1 t0: the refund window ended on 2026-11-23",
        );
        // After the cutoff it belongs to the next business day.
        window_case("2026-05-27 23:00:00", 180, "REFUND t0 100.00 CR-1");
        window_case(
            "2026-05-01 10:00:00",
            180,
            "REJECT CR-1 t0: the refund window ended on 2026-10-28",
        );
        window_case("2026-10-25 10:00:00", 30, "REFUND t0 100.00 CR-1");
        window_case(
            "2026-10-24 10:00:00",
            30,
            "REJECT CR-1 t0: the refund window ended on 2026-11-23",
        );
    }

    #[test]
    fn requests_that_do_not_match_their_transaction() {
        let sold = TerminalRecord {
            amount: fen(1000),
            ..yesterday()
        };
        let night = Inputs::new(&[sold.clone()], &[settled(&sold)]);
        let asked = |request: CancellationRequest| night.clone().requests(&[request]);
        let fine = "REFUND t0 10.00 CR-1";

        case(
            &asked(CancellationRequest {
                amount: fen(10000),
                ..request("CR-1", &sold)
            }),
            &["REJECT CR-1 t0: details do not match: amount 100.00 ≠ 10.00"],
        );
        case(
            &asked(CancellationRequest {
                txn_time: at("2026-11-23 10:05:00"),
                ..request("CR-1", &sold)
            }),
            &[
                "REJECT CR-1 t0: details do not match: time 2026-11-23 10:05:00 ≠ 2026-11-23 10:00:00",
            ],
        );
        case(
            &asked(CancellationRequest {
                txn_time: at("2026-11-23 10:05:00"),
                amount: fen(1001),
                ..request("CR-1", &sold)
            }),
            &[
                "REJECT CR-1 t0: details do not match: time 2026-11-23 10:05:00 ≠ 2026-11-23 10:00:00, amount 10.01 ≠ 10.00",
            ],
        );
        case(
            &asked(CancellationRequest {
                merchant_id: OTHER_MERCHANT.into(),
                ..request("CR-1", &sold)
            }),
            &["REJECT CR-1 t0: details do not match: merchant 898330154110002 ≠ 898310058120001"],
        );
        // Named by rrn, but on another terminal.
        case(
            &asked(CancellationRequest {
                terminal_id: id(OTHER_TERMINAL),
                trace_no: id("000201"),
                ..request("CR-1", &sold)
            }),
            &["REJECT CR-1 t0: details do not match: terminal 31000102 ≠ 31000101"],
        );
        // The merchant name is checked against the merchants file, when given.
        let named = |name: &str| CancellationRequest {
            merchant_name: Some(name.into()),
            ..request("CR-1", &sold)
        };
        case(&asked(named("杭州西湖书店")), &[fine]);
        case(
            &asked(named("杭州西湖书店")).merchants(&[frozen(true, true)]),
            &[
                "REJECT CR-1 t0: details do not match: merchant name 杭州西湖书店 ≠ 上海静安咖啡有限公司",
            ],
        );
        case(
            &asked(named(MERCHANT_NAME)).merchants(&[frozen(true, true)]),
            &[fine],
        );
        case(&asked(named("")).merchants(&[frozen(true, true)]), &[fine]);

        // The cardholder must agree.
        let consent = |said: &str| CancellationRequest {
            customer_consent: said.into(),
            ..request("CR-1", &sold)
        };
        case(&asked(consent("YES")), &[fine]);
        case(
            &asked(consent("no")),
            &[
                r#"REJECT CR-1 t0: the cardholder has not agreed (customer_consent "no"); it must be "yes""#,
            ],
        );
        case(
            &asked(consent("")),
            &[
                r#"REJECT CR-1 t0: the cardholder has not agreed (customer_consent ""); it must be "yes""#,
            ],
        );
        // Details are checked first.
        case(
            &asked(CancellationRequest {
                amount: fen(10000),
                ..consent("no")
            }),
            &["REJECT CR-1 t0: details do not match: amount 100.00 ≠ 10.00"],
        );

        // The bank would refuse a card that is not NORMAL.
        for (state, name) in [
            (CardState::Lost, "LOST"),
            (CardState::Frozen, "FROZEN"),
            (CardState::Cancelled, "CANCELLED"),
        ] {
            let want =
                format!("REJECT CR-1 t0: card 622848******1234 is {name}; the bank would refuse");
            case(&asked(request("CR-1", &sold)).card(CARD, state), &[&want]);
            // Also while the batch is open.
            let today = today();
            case(
                &Inputs::new(&[today.clone()], &[])
                    .card(CARD, state)
                    .requests(&[request("CR-1", &today)]),
                &[&want],
            );
        }
        case(
            &asked(request("CR-1", &sold)).card(CARD, CardState::Normal),
            &[fine],
        );
        case(
            &asked(request("CR-1", &sold)).card(OTHER_CARD, CardState::Lost),
            &[fine],
        );
        // Consent is asked before the card.
        case(
            &asked(consent("no")).card(CARD, CardState::Lost),
            &[
                r#"REJECT CR-1 t0: the cardholder has not agreed (customer_consent "no"); it must be "yes""#,
            ],
        );

        // Merchants file given, merchant not in it.
        case(
            &asked(request("CR-1", &sold)).merchants(&[merchant(
                OTHER_MERCHANT,
                "杭州西湖书店",
                true,
                true,
            )]),
            &[
                "REJECT CR-1 t0: merchant 898310058120001 is not in the merchants file, so its permissions are unknown",
            ],
        );
    }

    #[test]
    fn requests_for_what_cannot_be_cancelled() {
        // Not found, by rrn or by terminal + trace.
        let sold = yesterday();
        let night = Inputs::new(&[sold.clone()], &[settled(&sold)]);
        case(
            &night.clone().requests(&[CancellationRequest {
                rrn: id("632799999999"),
                ..request("CR-1", &sold)
            }]),
            &["REJECT CR-1: not found: no transaction with rrn 632799999999"],
        );
        case(
            &night.clone().requests(&[CancellationRequest {
                rrn: None,
                terminal_id: id(TERMINAL),
                trace_no: id("000999"),
                ..request("CR-1", &sold)
            }]),
            &["REJECT CR-1: not found: no transaction with terminal 31000101 trace 000999"],
        );

        // A trace number recurs in the next batch: time and amount pick one.
        let first = sale("000101", "2026-11-23 10:00:00", 1000);
        let second = TerminalRecord {
            batch_no: "000232".into(),
            ..sale("000101", "2026-11-24 10:00:00", 2000)
        };
        let both = Inputs::new(&[first.clone(), second.clone()], &[settled(&first)]);
        case(
            &both.clone().requests(&[request("CR-1", &second)]),
            &["VOID t1 CR-1"],
        );
        case(
            &both.clone().requests(&[request("CR-1", &first)]),
            &["REFUND t0 10.00 CR-1"],
        );
        case(
            &both.requests(&[CancellationRequest {
                amount: fen(1500),
                ..request("CR-1", &first)
            }]),
            &[
                "REJECT CR-1: not found: 2 transactions with terminal 31000101 trace 000101, none at 2026-11-23 10:00:00 for 15.00",
            ],
        );

        // Already voided on the terminal.
        let today = today();
        let voided = void("000102", "2026-11-24 10:05:00", &today);
        case(
            &Inputs::new(&[today.clone(), voided.clone()], &[])
                .requests(&[request("CR-1", &today)]),
            &["REJECT CR-1 t0: already voided on the terminal by VOID trace 000102"],
        );
        // A VOID is not in the index: naming one finds nothing.
        case(
            &Inputs::new(&[today.clone(), voided.clone()], &[])
                .requests(&[request("CR-1", &voided)]),
            &["REJECT CR-1: not found: no transaction with terminal 31000101 trace 000102"],
        );

        // A REFUND is not cancelled by another refund.
        let refund = refund_of("000203", "2026-11-23 11:00:00", 3000, &sold);
        case(
            &Inputs::new(
                &[sold.clone(), refund.clone()],
                &[settled(&sold), settled(&refund)],
            )
            .requests(&[request("CR-1", &refund)]),
            &["REJECT CR-1 t1: a REFUND cannot be cancelled"],
        );
    }

    #[test]
    fn outcomes_that_are_cancellations() {
        // VOIDED_BUT_SETTLED: the cardholder was charged after the void.
        let sold = yesterday();
        let voided = void("000202", "2026-11-23 10:05:00", &sold);
        let night = Inputs::new(&[sold.clone(), voided], &[settled(&sold)]);
        let decisions = case(&night, &["REFUND t0 100.00 VOIDED_BUT_SETTLED"]);
        assert_eq!(
            decisions.refunds[0].reason,
            "voided by VOID trace 000202, yet the bank settled 100.00 on 2026-11-24: the cardholder was charged"
        );
        case(
            &night.clone().card(CARD, CardState::Frozen),
            &[
                "REJECT VOIDED_BUT_SETTLED t0: card 622848******1234 is FROZEN; the bank would refuse",
            ],
        );
        case(
            &night.clone().merchants(&[frozen(true, false)]),
            &[
                "REJECT VOIDED_BUT_SETTLED t0: refunds are frozen for merchant 898310058120001 (上海静安咖啡有限公司)",
            ],
        );
        // The charge after the void comes back first; a request for the same
        // sale then finds it refunded.
        case(
            &night.clone().requests(&[request("CR-1", &sold)]),
            &[
                "REFUND t0 100.00 VOIDED_BUT_SETTLED",
                "REJECT CR-1 t0: over-refund: refunds would total 200.00, more than the original 100.00",
            ],
        );
        // The bank took less than was voided: that comes back, and no request
        // then returns the rest, which the cardholder never paid.
        let took_less = Settlement {
            amount: fen(1000),
            net_amount: fen(1000),
            ..settled(&sold)
        };
        let voided = void("000202", "2026-11-23 10:05:00", &sold);
        case(
            &Inputs::new(&[sold.clone(), voided], &[took_less])
                .requests(&[partial("CR-1", &sold, 9000)]),
            &[
                "REFUND t0 10.00 VOIDED_BUT_SETTLED",
                "REJECT CR-1 t0: over-refund: refunds would total 100.00, more than the 10.00 \
                 the bank settled (100.00 captured)",
            ],
        );
        // Settled the same day it was voided: still a refund, never a void.
        let today = today();
        let voided_today = void("000102", "2026-11-24 10:05:00", &today);
        case(
            &Inputs::new(&[today.clone(), voided_today], &[settled(&today)]),
            &["REFUND t0 100.00 VOIDED_BUT_SETTLED"],
        );

        // DUPLICATE_SETTLEMENT: the cardholder paid twice; refund the second
        // settlement's amount.
        let twice = Inputs::new(&[sold.clone()], &[settled(&sold), settled(&sold)]);
        let decisions = case(&twice, &["REFUND t0 100.00 DUPLICATE_SETTLEMENT"]);
        assert_eq!(
            decisions.refunds[0].reason,
            "settles again the transaction (terminal trace 000201) the bank already settled on 2026-11-24: the cardholder paid twice"
        );
        let more = for_amount(settled(&sold), 4000);
        case(
            &Inputs::new(&[sold.clone()], &[settled(&sold), more.clone()]),
            &["REFUND t0 40.00 DUPLICATE_SETTLEMENT"],
        );
        // Two more settlements of it: two refunds, two ids (`case` checks).
        case(
            &Inputs::new(
                &[sold.clone()],
                &[settled(&sold), more, for_amount(settled(&sold), 5000)],
            ),
            &[
                "REFUND t0 40.00 DUPLICATE_SETTLEMENT",
                "REFUND t0 50.00 DUPLICATE_SETTLEMENT",
            ],
        );
        case(
            &twice.clone().card(CARD, CardState::Lost),
            &[
                "REJECT DUPLICATE_SETTLEMENT t0: card 622848******1234 is LOST; the bank would refuse",
            ],
        );

        // SUSPECTED_DUPLICATE: cancelled only when the policy says so.
        let earlier = sale_rrn("000103", "632800000103", "2026-11-24 08:47:12", 3600);
        let later = TerminalRecord {
            trace_no: "000104".into(),
            rrn: id("632800000104"),
            txn_time: at("2026-11-24 08:47:52"),
            ..earlier.clone()
        };
        let cancel = Policy {
            suspected_duplicates: DuplicatePolicy::Cancel,
            ..Policy::default()
        };
        let open = Inputs::new(&[earlier.clone(), later.clone()], &[]);
        case(&open, &[]);
        case(
            &open.clone().policy(cancel.clone()),
            &["VOID t1 SUSPECTED_DUPLICATE"],
        );
        let settled_both = Inputs::new(
            &[earlier.clone(), later.clone()],
            &[settled(&earlier), settled(&later)],
        );
        case(&settled_both, &[]);
        case(
            &settled_both.policy(cancel.clone()),
            &["REFUND t1 36.00 SUSPECTED_DUPLICATE"],
        );
        // The policy voids it first: a request for it finds it voided, and
        // the rejection names the void.
        let asked = open.policy(cancel).requests(&[request("CR-1", &later)]);
        let (decisions, _) = asked.decide();
        let void_id = &decisions.voids[0].action_id;
        case(
            &asked,
            &[
                "VOID t1 SUSPECTED_DUPLICATE",
                &format!("REJECT CR-1 t1: already voided by {void_id} in this run"),
            ],
        );
    }

    #[test]
    fn disputes_one_per_difference() {
        let sold = yesterday();
        let other = sale_rrn("000202", "632700000202", "2026-11-23 11:00:00", 5000);

        // BANK_ONLY: settled, never captured.
        case(
            &Inputs::new(&[], &[settled(&sold)]),
            &["DISPUTE BANK_ONLY b0"],
        );
        // UNSETTLED: captured, not settled after the lag.
        case(
            &Inputs::new(&[sold.clone()], &[]),
            &["DISPUTE UNSETTLED t0"],
        );
        // AMOUNT_MISMATCH: one case for the pair, not one per side.
        case(
            &Inputs::new(&[sold.clone()], &[for_amount(settled(&sold), 1000)]),
            &["DISPUTE AMOUNT_MISMATCH t0 b0"],
        );
        // FEE_MISMATCH: 100.00 at the contracted 0.38 % is 0.38, not 1.00.
        let mut contracted = Policy::default();
        contracted
            .fee_rates
            .by_merchant
            .insert(MERCHANT.into(), Decimal::new(38, 4));
        case(
            &Inputs::new(&[sold.clone()], &[with_fee(settled(&sold), 100)])
                .policy(contracted.clone()),
            &["DISPUTE FEE_MISMATCH t0 b0"],
        );
        case(
            &Inputs::new(&[sold.clone()], &[with_fee(settled(&sold), 38)]).policy(contracted),
            &[],
        );

        // No case for what is as it should be: MATCHED, PENDING, VOIDED,
        // ORPHAN_VOID, SUSPECTED_DUPLICATE (flagged).
        let today = today();
        let voided = sale_rrn("000102", "632800000102", "2026-11-24 10:10:00", 2000);
        let orphan = TerminalRecord {
            orig_trace_no: id("000999"),
            ..void("000104", "2026-11-24 10:20:00", &voided)
        };
        let again = TerminalRecord {
            trace_no: "000203".into(),
            rrn: id("632700000203"),
            txn_time: at("2026-11-23 10:00:30"),
            ..sold.clone()
        };
        let fine = Inputs::new(
            &[
                sold.clone(),
                again.clone(),
                today.clone(),
                voided.clone(),
                void("000103", "2026-11-24 10:15:00", &voided),
                orphan,
            ],
            &[settled(&sold), settled(&again)],
        );
        assert_eq!(
            fine.outcomes(),
            [
                Outcome::Matched,
                Outcome::SuspectedDuplicate,
                Outcome::Pending,
                Outcome::Voided,
                Outcome::VoidApplied,
                Outcome::OrphanVoid,
            ]
        );
        case(&fine, &[]);

        // Identical bank rows are two cases with two ids.
        let decisions = case(
            &Inputs::new(&[], &[settled(&sold), settled(&sold)]),
            &["DISPUTE BANK_ONLY b0", "DISPUTE BANK_ONLY b1"],
        );
        assert_ne!(
            decisions.disputes[0].action_id,
            decisions.disputes[1].action_id
        );

        // All of them in one night, in report order.
        case(
            &Inputs::new(
                &[sold.clone(), other.clone()],
                &[
                    for_amount(settled(&sold), 1000),
                    settled(&sale_rrn(
                        "000209",
                        "632700000209",
                        "2026-11-23 12:00:00",
                        700,
                    )),
                ],
            ),
            &[
                "DISPUTE AMOUNT_MISMATCH t0 b0",
                "DISPUTE UNSETTLED t1",
                "DISPUTE BANK_ONLY b1",
            ],
        );
    }

    #[test]
    fn action_ids_are_deterministic_and_unique() {
        let sold = yesterday();
        let today = today();
        let night = Inputs::new(&[sold.clone(), today.clone()], &[settled(&sold)]);
        let id_of = |inputs: &Inputs| {
            let (decisions, _) = inputs.decide();
            action_ids(&decisions)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };

        // Same inputs, same ids; another run, another Inputs value, same ids.
        let one = night.clone().requests(&[partial("CR-1", &sold, 3000)]);
        assert_eq!(id_of(&one), id_of(&one.clone()));
        // Not on the position of the records either.
        let reversed = Inputs::new(&[today.clone(), sold.clone()], &[settled(&sold)])
            .requests(&[partial("CR-1", &sold, 3000)]);
        assert_eq!(id_of(&one), id_of(&reversed));
        // Nor on the amount refunded: the id is the transaction and the request.
        let more = night.clone().requests(&[partial("CR-1", &sold, 4000)]);
        assert_eq!(id_of(&one), id_of(&more));

        // Another request for the same transaction: another id.
        let two = case(
            &night
                .clone()
                .requests(&[partial("CR-1", &sold, 3000), partial("CR-2", &sold, 4000)]),
            &["REFUND t0 30.00 CR-1", "REFUND t0 40.00 CR-2"],
        );
        assert_eq!(two.refunds[0].action_id, id_of(&one)[0]);
        assert_ne!(two.refunds[0].action_id, two.refunds[1].action_id);
        // The same request ref on another transaction: another id.
        let elsewhere = night.clone().requests(&[partial("CR-1", &today, 3000)]);
        assert_ne!(id_of(&elsewhere), id_of(&one));
        // A void and a refund of the same transaction by the same request differ.
        let voided = night.clone().requests(&[request("CR-1", &today)]);
        let refunded = night
            .clone()
            .judged_at("2026-11-25 09:00:00")
            .policy(Policy {
                settlement_lag_days: 2,
                ..Policy::default()
            })
            .requests(&[request("CR-1", &today)]);
        let (v, r) = (id_of(&voided), id_of(&refunded));
        assert!(v[0].starts_with("VOID-") && r[0].starts_with("REFUND-"));
        assert_ne!(v[0][5..], r[0][7..]);

        // Unique within a busy night (`case` checks uniqueness).
        let dup = sale_rrn("000203", "632700000203", "2026-11-23 12:00:00", 5000);
        let voided_settled = sale_rrn("000204", "632700000204", "2026-11-23 13:00:00", 6000);
        let fee_short = sale_rrn("000208", "632700000208", "2026-11-23 16:00:00", 9000);
        let mut contracted = Policy::default();
        contracted
            .fee_rates
            .by_merchant
            .insert(MERCHANT.into(), Decimal::new(38, 4));
        let busy = Inputs::new(
            &[
                sold.clone(),
                today.clone(),
                dup.clone(),
                voided_settled.clone(),
                void("000205", "2026-11-23 13:01:00", &voided_settled),
                sale_rrn("000206", "632700000206", "2026-11-23 14:00:00", 7000),
                fee_short.clone(),
            ],
            &[
                with_fee(settled(&sold), 38),
                with_fee(settled(&dup), 19),
                with_fee(settled(&dup), 19),
                with_fee(settled(&dup), 19),
                with_fee(settled(&voided_settled), 0),
                with_fee(
                    settled(&sale_rrn(
                        "000207",
                        "632700000207",
                        "2026-11-23 15:00:00",
                        800,
                    )),
                    3,
                ),
                with_fee(
                    settled(&sale_rrn(
                        "000207",
                        "632700000207",
                        "2026-11-23 15:00:00",
                        800,
                    )),
                    3,
                ),
                settled(&fee_short),
            ],
        )
        .policy(contracted)
        .requests(&[
            partial("CR-1", &sold, 3000),
            partial("CR-2", &sold, 3000),
            request("CR-3", &today),
        ]);
        case(
            &busy,
            &[
                "VOID t1 CR-3",
                "REFUND t3 60.00 VOIDED_BUT_SETTLED",
                // Each second settlement is its own charge, refunded in full.
                "REFUND t2 50.00 DUPLICATE_SETTLEMENT",
                "REFUND t2 50.00 DUPLICATE_SETTLEMENT",
                "REFUND t0 30.00 CR-1",
                "REFUND t0 30.00 CR-2",
                "DISPUTE FEE_MISMATCH t6 b7",
                "DISPUTE UNSETTLED t5",
                "DISPUTE BANK_ONLY b5",
                "DISPUTE BANK_ONLY b6",
            ],
        );
    }

    /// A REFUND record counts against each purchase with its rrn, merchant
    /// and card, so no row order can refund one of them twice, and against
    /// no purchase of another card or merchant.
    #[test]
    fn a_refund_counts_against_the_purchases_with_its_rrn_merchant_and_card() {
        let rrn = "632700000301";
        let kept = sale_rrn("000301", rrn, "2026-11-23 09:00:00", 3000);
        let voided = sale_rrn("000302", rrn, "2026-11-23 09:10:00", 3000);
        let void_it = void("000303", "2026-11-23 09:15:00", &voided);
        let refund = refund_of("000304", "2026-11-23 12:00:00", 3000, &kept);
        let bank = [settled(&kept), settled(&voided)];
        let shared = "(rrn 632700000301 is shared: REFUND records naming it count against each sale of this merchant and card with it)";
        let over = |t: usize, source: &str, total: &str| {
            format!(
                "REJECT {source} t{t}: over-refund: refunds would total {total}, more than the original 30.00 {shared}"
            )
        };
        // The sale charged after its void, and a request on the other sale:
        // in either row order of the two sales, neither is refunded again.
        for (terminal, kept_at, voided_at) in [
            ([&kept, &voided, &void_it, &refund], 0, 1),
            ([&voided, &kept, &void_it, &refund], 1, 0),
        ] {
            let terminal: Vec<TerminalRecord> = terminal.into_iter().cloned().collect();
            let night = Inputs::new(&terminal, &bank).requests(&[partial("CR-1", &kept, 100)]);
            case(
                &night,
                &[
                    over(voided_at, "VOIDED_BUT_SETTLED", "60.00"),
                    over(kept_at, "CR-1", "31.00"),
                    "DISPUTE UNSETTLED t3".to_string(),
                ]
                .each_ref()
                .map(String::as_str),
            );
            let mut want = vec![String::new(); 4];
            want[kept_at] = format!("NONE: already fully refunded {shared}");
            want[voided_at] = format!("NONE: already fully refunded {shared}");
            want[2] = "NONE: a VOID cannot be cancelled".to_string();
            want[3] = "NONE: a REFUND cannot be cancelled".to_string();
            routes(&night, &want.iter().map(String::as_str).collect::<Vec<_>>());
        }

        // The sales sharing the rrn are on two cards: the REFUND's card says
        // which one it returned money for, so the other is refunded.
        let other_card = TerminalRecord {
            card: card("622848******9999"),
            ..voided.clone()
        };
        let void_other = void("000303", "2026-11-23 09:15:00", &other_card);
        for terminal in [
            [&kept, &other_card, &void_other, &refund],
            [&other_card, &kept, &void_other, &refund],
        ] {
            let terminal: Vec<TerminalRecord> = terminal.into_iter().cloned().collect();
            let voided_at = usize::from(terminal[0] != other_card);
            let night = Inputs::new(&terminal, &[settled(&kept), settled(&other_card)]);
            case(
                &night,
                &[
                    &format!("REFUND t{voided_at} 30.00 VOIDED_BUT_SETTLED"),
                    "DISPUTE UNSETTLED t3",
                ],
            );
        }
        // A REFUND of another card, or of another merchant, returned
        // nobody's money of these sales, whatever rrn it names.
        let other_merchant = TerminalRecord {
            merchant_id: "898310058129999".into(),
            ..refund.clone()
        };
        for stranger in [
            TerminalRecord {
                card: card("622848******8888"),
                ..refund.clone()
            },
            other_merchant,
        ] {
            let night = Inputs::new(
                &[kept.clone(), voided.clone(), void_it.clone(), stranger],
                &bank,
            );
            case(
                &night,
                &["REFUND t1 30.00 VOIDED_BUT_SETTLED", "DISPUTE UNSETTLED t3"],
            );
        }

        // An rrn only one purchase has: the refund counts against it alone,
        // and the reason does not speak of sharing.
        let other = sale_rrn("000305", "632700000305", "2026-11-23 09:20:00", 3000);
        let night = Inputs::new(
            &[kept.clone(), other.clone(), refund.clone()],
            &[settled(&kept), settled(&other)],
        )
        .requests(&[partial("CR-1", &kept, 100), partial("CR-2", &other, 3000)]);
        case(
            &night,
            &[
                "REFUND t1 30.00 CR-2",
                "REJECT CR-1 t0: over-refund: refunds would total 31.00, more than the original 30.00",
                "DISPUTE UNSETTLED t2",
            ],
        );
    }

    #[test]
    fn cancel_route_cases() {
        let today = today();
        let sold = yesterday();
        let settled_today = sale_rrn("000104", "632800000104", "2026-11-24 08:00:00", 10000);

        routes(
            &Inputs::new(&[today.clone()], &[]),
            &["VOID until 2026-11-24 23:00"],
        );
        routes(
            &Inputs::new(&[today.clone()], &[]).policy(Policy {
                cutoff: chrono::NaiveTime::from_hms_opt(22, 30, 0).unwrap(),
                ..Policy::default()
            }),
            &["VOID until 2026-11-24 22:30"],
        );
        // A midnight cutoff ends the business day at the midnight after it.
        routes(
            &Inputs::new(&[today.clone()], &[]).policy(Policy {
                cutoff: chrono::NaiveTime::MIN,
                ..Policy::default()
            }),
            &["VOID until 2026-11-25 00:00"],
        );
        routes(
            &Inputs::new(&[settled_today.clone()], &[settled(&settled_today)]),
            &["REFUND until 2027-05-23"],
        );
        routes(
            &Inputs::new(&[sold.clone()], &[settled(&sold)]),
            &["REFUND until 2027-05-22"],
        );
        // After the cutoff, an open batch is closed for voids; still PENDING,
        // it may be refunded; UNSETTLED, not.
        routes(
            &Inputs::new(&[today.clone()], &[])
                .judged_at("2026-11-24 23:00:00")
                .policy(Policy {
                    settlement_lag_days: 2,
                    ..Policy::default()
                }),
            &["REFUND until 2027-05-23"],
        );
        routes(
            &Inputs::new(&[today.clone()], &[]).judged_at("2026-11-24 23:00:00"),
            &[
                "NONE: not settled by business day 2026-11-25, so the cardholder may not have \
               been charged: refund once the bank settles it",
            ],
        );
        routes(
            &Inputs::new(&[today.clone()], &[]).merchants(&[frozen(false, true)]),
            &["REFUND until 2027-05-23"],
        );
        routes(
            &Inputs::new(&[sold.clone()], &[settled(&sold)]).merchants(&[frozen(true, false)]),
            &["NONE: refunds are frozen for merchant 898310058120001 (上海静安咖啡有限公司)"],
        );
        routes(
            &Inputs::new(&[sold.clone()], &[settled(&sold)]).merchants(&[merchant(
                OTHER_MERCHANT,
                "杭州西湖书店",
                true,
                true,
            )]),
            &[
                "NONE: merchant 898310058120001 is not in the merchants file, so its permissions are unknown",
            ],
        );
        routes(
            &Inputs::new(&[sold.clone()], &[settled(&sold)]).judged_at("2027-05-22 22:59:59"),
            &["REFUND until 2027-05-22"],
        );
        routes(
            &Inputs::new(&[sold.clone()], &[settled(&sold)]).judged_at("2027-05-22 23:00:00"),
            &["NONE: the refund window ended on 2027-05-22"],
        );
        routes(
            &Inputs::new(&[sold.clone()], &[settled(&sold)]).card(CARD, CardState::Lost),
            &["NONE: card 622848******1234 is LOST; the bank would refuse"],
        );

        // Voided, refunded, and what is not a purchase.
        let voided = void("000102", "2026-11-24 10:05:00", &today);
        routes(
            &Inputs::new(&[today.clone(), voided], &[]),
            &[
                "NONE: already voided on the terminal by VOID trace 000102",
                "NONE: a VOID cannot be cancelled",
            ],
        );
        let part = refund_of("000202", "2026-11-23 11:00:00", 3000, &sold);
        routes(
            &Inputs::new(
                &[sold.clone(), part.clone()],
                &[settled(&sold), settled(&part)],
            ),
            &[
                "REFUND until 2027-05-22",
                "NONE: a REFUND cannot be cancelled",
            ],
        );
        let all = refund_of("000202", "2026-11-23 11:00:00", 10000, &sold);
        routes(
            &Inputs::new(
                &[sold.clone(), all.clone()],
                &[settled(&sold), settled(&all)],
            ),
            &[
                "NONE: already fully refunded",
                "NONE: a REFUND cannot be cancelled",
            ],
        );
        // Partly refunded in the open batch: no void any more.
        let part_today = refund_of("000105", "2026-11-24 11:00:00", 3000, &today);
        routes(
            &Inputs::new(&[today.clone(), part_today], &[]),
            &[
                "REFUND until 2027-05-23",
                "NONE: a REFUND cannot be cancelled",
            ],
        );

        // As of after this run's decisions.
        let (decisions, after) = Inputs::new(&[today.clone(), sold.clone()], &[settled(&sold)])
            .requests(&[request("CR-1", &today), request("CR-2", &sold)])
            .decide();
        assert_eq!(
            after,
            [
                format!(
                    "NONE: already voided by {} in this run",
                    decisions.voids[0].action_id
                ),
                "NONE: already fully refunded".to_string(),
            ]
        );
    }
}
