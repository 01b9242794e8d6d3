//! Pairs terminal records with settlements and gives every record exactly one
//! [`Outcome`] (SPEC §3). Pure: slices in, values out; no I/O.
//!
//! Results never depend on input order: records are visited in a canonical
//! order, and where the tolerant pass finds equally good candidates it pairs
//! none of them instead of taking whichever came first.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use crate::model::{Amount, Currency, MaskedPan, Settlement, TerminalRecord, TxnType};
use crate::policy::Policy;

/// What happened to one record (SPEC §3's outcome table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Matched,
    AmountMismatch,
    FeeMismatch,
    Voided,
    VoidApplied,
    VoidedButSettled,
    Pending,
    Unsettled,
    OrphanVoid,
    SuspectedDuplicate,
    BankOnly,
    DuplicateSettlement,
}

impl Outcome {
    /// Every outcome, in the spec's order (also the order of reports).
    pub const ALL: [Outcome; 12] = [
        Outcome::Matched,
        Outcome::AmountMismatch,
        Outcome::FeeMismatch,
        Outcome::Voided,
        Outcome::VoidApplied,
        Outcome::VoidedButSettled,
        Outcome::Pending,
        Outcome::Unsettled,
        Outcome::OrphanVoid,
        Outcome::SuspectedDuplicate,
        Outcome::BankOnly,
        Outcome::DuplicateSettlement,
    ];

    /// The name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "MATCHED",
            Outcome::AmountMismatch => "AMOUNT_MISMATCH",
            Outcome::FeeMismatch => "FEE_MISMATCH",
            Outcome::Voided => "VOIDED",
            Outcome::VoidApplied => "VOID_APPLIED",
            Outcome::VoidedButSettled => "VOIDED_BUT_SETTLED",
            Outcome::Pending => "PENDING",
            Outcome::Unsettled => "UNSETTLED",
            Outcome::OrphanVoid => "ORPHAN_VOID",
            Outcome::SuspectedDuplicate => "SUSPECTED_DUPLICATE",
            Outcome::BankOnly => "BANK_ONLY",
            Outcome::DuplicateSettlement => "DUPLICATE_SETTLEMENT",
        }
    }

    /// True for the outcomes that go to `exceptions.csv` (all but the expected
    /// ones: MATCHED, VOIDED, VOID_APPLIED and PENDING).
    pub fn is_exception(self) -> bool {
        !matches!(
            self,
            Outcome::Matched | Outcome::Voided | Outcome::VoidApplied | Outcome::Pending
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule that paired a terminal record with a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Same rrn on both sides.
    ExactRrn,
    /// Same merchant, terminal, trace (and batch where both have it), same date.
    ExactKey,
    /// Same terminal and card, amount and time within tolerance.
    Tolerant,
}

impl Rule {
    /// The name used in `matches.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ExactRrn => "exact:rrn",
            Rule::ExactKey => "exact:terminal+trace",
            Rule::Tolerant => "tolerant",
        }
    }
}

/// Why a VOID could not be applied to a SALE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanReason {
    /// No record with that trace in the VOID's terminal and batch.
    NotInBatch,
    /// The trace names a record that is not a SALE or PREAUTH_COMPLETE.
    NotAPurchase(TxnType),
    /// The SALE's amount differs from the VOID's (voids are full amount only).
    AmountDiffers(Amount),
    /// Another VOID (this terminal record index) already cancelled that SALE.
    AlreadyVoided(usize),
}

/// What matching found for one terminal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalResult {
    pub outcome: Outcome,
    /// The settlement it was paired with, and by which rule.
    pub settlement: Option<(usize, Rule)>,
    /// For a voided SALE: the VOID record; for a VOID: the SALE it cancels.
    pub void_partner: Option<usize>,
    /// For a SUSPECTED_DUPLICATE: the earlier record it repeats.
    pub duplicate_of: Option<usize>,
    pub orphan_reason: Option<OrphanReason>,
    /// Equally good candidates that kept the tolerant pass from pairing it.
    pub ambiguous: Option<usize>,
    /// Its business day.
    pub business_day: NaiveDate,
}

/// What matching found for one settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankResult {
    pub outcome: Outcome,
    /// The terminal record it was paired with, and by which rule.
    pub terminal: Option<(usize, Rule)>,
    /// For a DUPLICATE_SETTLEMENT: the settlement it repeats.
    pub duplicate_of: Option<usize>,
    /// For a FEE_MISMATCH: the fee the contracted rate gives.
    pub expected_fee: Option<Amount>,
    /// Equally good candidates that kept the tolerant pass from pairing it.
    pub ambiguous: Option<usize>,
}

/// Every record's outcome, index for index with the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub terminal: Vec<TerminalResult>,
    pub bank: Vec<BankResult>,
}

/// Whether a terminal record and a settlement can be the same transaction.
fn same_direction(terminal: TxnType, bank: TxnType) -> bool {
    match terminal {
        TxnType::Sale | TxnType::PreauthComplete => bank.is_purchase(),
        TxnType::Refund => bank == TxnType::Refund,
        TxnType::Void => false,
    }
}

/// The canonical order of settlements: by content, so identical rows tie.
fn settlement_order(a: &Settlement, b: &Settlement) -> Ordering {
    (
        a.settle_date,
        a.txn_time,
        &a.merchant_id,
        &a.terminal_id,
        &a.trace_no,
    )
        .cmp(&(
            b.settle_date,
            b.txn_time,
            &b.merchant_id,
            &b.terminal_id,
            &b.trace_no,
        ))
        .then_with(|| {
            (&a.batch_no, &a.rrn, a.amount, a.fee).cmp(&(&b.batch_no, &b.rrn, b.amount, b.fee))
        })
        .then_with(|| {
            (&a.auth_code, a.txn_type, a.currency, &a.card).cmp(&(
                &b.auth_code,
                b.txn_type,
                b.currency,
                &b.card,
            ))
        })
        .then_with(|| a.net_amount.cmp(&b.net_amount))
}

/// Reconciles one night: SPEC §3's passes, then one outcome per record.
pub fn reconcile(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    policy: &Policy,
    as_of: NaiveDateTime,
) -> Reconciliation {
    // Terminal identity (terminal + batch + trace) is unique, so this order is total.
    let mut terminal_order: Vec<usize> = (0..terminal.len()).collect();
    terminal_order.sort_by(|&a, &b| {
        let (a, b) = (&terminal[a], &terminal[b]);
        (&a.merchant_id, &a.terminal_id, &a.batch_no, &a.trace_no).cmp(&(
            &b.merchant_id,
            &b.terminal_id,
            &b.batch_no,
            &b.trace_no,
        ))
    });
    let mut bank_order: Vec<usize> = (0..bank.len()).collect();
    bank_order.sort_by(|&a, &b| settlement_order(&bank[a], &bank[b]));

    let voids = pair_voids(terminal, &terminal_order);
    let mut pairing = Pairing::new(terminal.len(), bank.len());
    pair_exact(terminal, bank, &terminal_order, &bank_order, &mut pairing);
    pair_tolerant(terminal, bank, policy, &terminal_order, &mut pairing);
    let duplicates = suspected_duplicates(terminal, &voids, policy);
    let as_of_day = policy.business_day(as_of);

    let terminal_results = terminal
        .iter()
        .enumerate()
        .map(|(t, record)| {
            let business_day = policy.business_day(record.txn_time);
            let settlement = pairing.terminal[t];
            let voided_by = voids.voided_by[t];
            let outcome = if record.txn_type == TxnType::Void {
                if voids.orphan[t].is_some() {
                    Outcome::OrphanVoid
                } else {
                    Outcome::VoidApplied
                }
            } else if let Some((b, _)) = settlement {
                if voided_by.is_some() {
                    Outcome::VoidedButSettled
                } else if amounts_differ(record, &bank[b], policy) {
                    Outcome::AmountMismatch
                } else if duplicates[t].is_some() {
                    Outcome::SuspectedDuplicate
                } else {
                    Outcome::Matched
                }
            } else if voided_by.is_some() {
                Outcome::Voided
            } else if duplicates[t].is_some() {
                Outcome::SuspectedDuplicate
            } else if as_of_day < policy.unsettled_from(business_day) {
                Outcome::Pending
            } else {
                Outcome::Unsettled
            };
            TerminalResult {
                outcome,
                settlement,
                void_partner: voided_by.or(voids.voids[t]),
                duplicate_of: duplicates[t],
                orphan_reason: voids.orphan[t],
                ambiguous: pairing.terminal_ambiguous[t],
                business_day,
            }
        })
        .collect();

    let bank_results = bank
        .iter()
        .enumerate()
        .map(|(b, settlement)| {
            let mut expected_fee = None;
            let outcome = if let Some((t, _)) = pairing.bank[b] {
                let record = &terminal[t];
                if voids.voided_by[t].is_some() {
                    Outcome::VoidedButSettled
                } else if amounts_differ(record, settlement, policy) {
                    Outcome::AmountMismatch
                } else {
                    expected_fee = fee_differs(settlement, policy);
                    if expected_fee.is_some() {
                        Outcome::FeeMismatch
                    } else {
                        Outcome::Matched
                    }
                }
            } else if pairing.bank_duplicate_of[b].is_some() {
                Outcome::DuplicateSettlement
            } else {
                Outcome::BankOnly
            };
            BankResult {
                outcome,
                terminal: pairing.bank[b],
                duplicate_of: pairing.bank_duplicate_of[b],
                expected_fee,
                ambiguous: pairing.bank_ambiguous[b],
            }
        })
        .collect();

    Reconciliation {
        terminal: terminal_results,
        bank: bank_results,
    }
}

fn amounts_differ(record: &TerminalRecord, settlement: &Settlement, policy: &Policy) -> bool {
    record.currency != settlement.currency
        || record.amount.abs_diff(settlement.amount) > policy.amount_tolerance
}

/// The contracted fee when a purchase's settled fee differs from it.
fn fee_differs(settlement: &Settlement, policy: &Policy) -> Option<Amount> {
    if !settlement.txn_type.is_purchase() {
        return None;
    }
    let rate = policy.fee_rates.rate_for(&settlement.merchant_id)?;
    let expected = Amount::from_decimal_rounded(settlement.amount.to_decimal() * rate)?;
    (expected != settlement.fee).then_some(expected)
}

/// VOIDs paired with the SALEs they cancel, inside the terminal files.
struct Voids {
    /// For a SALE: the VOID that cancelled it.
    voided_by: Vec<Option<usize>>,
    /// For an applied VOID: the SALE it cancelled.
    voids: Vec<Option<usize>>,
    /// For a VOID that cancels nothing: why.
    orphan: Vec<Option<OrphanReason>>,
}

fn pair_voids(terminal: &[TerminalRecord], order: &[usize]) -> Voids {
    let mut result = Voids {
        voided_by: vec![None; terminal.len()],
        voids: vec![None; terminal.len()],
        orphan: vec![None; terminal.len()],
    };
    let by_identity: HashMap<(&str, &str, &str), usize> = terminal
        .iter()
        .enumerate()
        .map(|(i, r)| ((&*r.terminal_id, &*r.batch_no, &*r.trace_no), i))
        .collect();
    for &v in order {
        let void = &terminal[v];
        let Some(orig_trace) = void.orig_trace_no.as_deref() else {
            continue;
        };
        if void.txn_type != TxnType::Void {
            continue;
        }
        let reason = match by_identity.get(&(&*void.terminal_id, &*void.batch_no, orig_trace)) {
            None => Some(OrphanReason::NotInBatch),
            Some(&sale) => {
                let original = &terminal[sale];
                if !original.txn_type.is_purchase() {
                    Some(OrphanReason::NotAPurchase(original.txn_type))
                } else if original.amount != void.amount || original.currency != void.currency {
                    Some(OrphanReason::AmountDiffers(original.amount))
                } else if let Some(first) = result.voided_by[sale] {
                    Some(OrphanReason::AlreadyVoided(first))
                } else {
                    result.voided_by[sale] = Some(v);
                    result.voids[v] = Some(sale);
                    None
                }
            }
        };
        result.orphan[v] = reason;
    }
    result
}

/// Which records are paired, duplicated or ambiguous so far.
struct Pairing {
    terminal: Vec<Option<(usize, Rule)>>,
    bank: Vec<Option<(usize, Rule)>>,
    bank_duplicate_of: Vec<Option<usize>>,
    terminal_ambiguous: Vec<Option<usize>>,
    bank_ambiguous: Vec<Option<usize>>,
}

impl Pairing {
    fn new(terminal: usize, bank: usize) -> Pairing {
        Pairing {
            terminal: vec![None; terminal],
            bank: vec![None; bank],
            bank_duplicate_of: vec![None; bank],
            terminal_ambiguous: vec![None; terminal],
            bank_ambiguous: vec![None; bank],
        }
    }

    fn pair(&mut self, t: usize, b: usize, rule: Rule) {
        self.terminal[t] = Some((b, rule));
        self.bank[b] = Some((t, rule));
    }

    fn bank_is_free(&self, b: usize) -> bool {
        self.bank[b].is_none() && self.bank_duplicate_of[b].is_none()
    }
}

/// Pass 1: same rrn where both sides have one; otherwise merchant + terminal +
/// trace (+ batch where both have it) on the same date. Further settlements of
/// a matched transaction are its duplicates.
fn pair_exact(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    terminal_order: &[usize],
    bank_order: &[usize],
    pairing: &mut Pairing,
) {
    let mut by_rrn: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_key: HashMap<(&str, &str, &str, NaiveDate), Vec<usize>> = HashMap::new();
    for &b in bank_order {
        let s = &bank[b];
        if let Some(rrn) = s.rrn.as_deref() {
            by_rrn.entry(rrn).or_default().push(b);
        }
        by_key
            .entry((
                &s.merchant_id,
                &s.terminal_id,
                &s.trace_no,
                s.txn_time.date(),
            ))
            .or_default()
            .push(b);
    }
    let mut candidates: Vec<(usize, Rule)> = Vec::new();
    for &t in terminal_order {
        let record = &terminal[t];
        if record.txn_type == TxnType::Void {
            continue;
        }
        candidates.clear();
        if let Some(rrn) = record.rrn.as_deref() {
            for &b in by_rrn.get(rrn).into_iter().flatten() {
                candidates.push((b, Rule::ExactRrn));
            }
        }
        let key = (
            &*record.merchant_id,
            &*record.terminal_id,
            &*record.trace_no,
            record.txn_time.date(),
        );
        for &b in by_key.get(&key).into_iter().flatten() {
            let s = &bank[b];
            let rrn_allows = s.rrn.is_none() || record.rrn.is_none();
            let batch_allows = s
                .batch_no
                .as_ref()
                .is_none_or(|batch| *batch == record.batch_no);
            if rrn_allows && batch_allows {
                candidates.push((b, Rule::ExactKey));
            }
        }
        candidates.retain(|&(b, _)| {
            pairing.bank_is_free(b) && same_direction(record.txn_type, bank[b].txn_type)
        });
        // Prefer the settlement that agrees on the amount, then the canonical first.
        let Some(&(chosen, rule)) = candidates
            .iter()
            .find(|(b, _)| bank[*b].amount == record.amount && bank[*b].currency == record.currency)
            .or(candidates.first())
        else {
            continue;
        };
        pairing.pair(t, chosen, rule);
        for &(b, _) in &candidates {
            if b != chosen && pairing.bank_is_free(b) {
                pairing.bank_duplicate_of[b] = Some(chosen);
            }
        }
    }
}

/// Pass 2: same terminal and card, amount and time within tolerance; one to
/// one, closest first; equally good candidates pair with nobody.
fn pair_tolerant(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    policy: &Policy,
    terminal_order: &[usize],
    pairing: &mut Pairing,
) {
    let mut buckets: HashMap<(&str, &MaskedPan), Vec<usize>> = HashMap::new();
    for (b, s) in bank.iter().enumerate() {
        if pairing.bank_is_free(b) {
            buckets
                .entry((&s.terminal_id, &s.card))
                .or_default()
                .push(b);
        }
    }
    if buckets.is_empty() {
        return;
    }
    for list in buckets.values_mut() {
        list.sort_by_key(|&b| bank[b].txn_time);
    }
    // (time distance, amount distance, terminal, bank)
    let mut edges: Vec<(TimeDelta, Amount, usize, usize)> = Vec::new();
    for &t in terminal_order {
        let record = &terminal[t];
        if record.txn_type == TxnType::Void || pairing.terminal[t].is_some() {
            continue;
        }
        let Some(list) = buckets.get(&(&*record.terminal_id, &record.card)) else {
            continue;
        };
        let earliest = record.txn_time - policy.time_tolerance;
        let start = list.partition_point(|&b| bank[b].txn_time < earliest);
        for &b in &list[start..] {
            let s = &bank[b];
            let time_distance = (s.txn_time - record.txn_time).abs();
            if time_distance > policy.time_tolerance {
                break;
            }
            let amount_distance = s.amount.abs_diff(record.amount);
            if amount_distance <= policy.amount_tolerance
                && s.currency == record.currency
                && same_direction(record.txn_type, s.txn_type)
            {
                edges.push((time_distance, amount_distance, t, b));
            }
        }
    }
    edges.sort();
    let mut blocked_terminal = vec![false; terminal.len()];
    let mut blocked_bank = vec![false; bank.len()];
    let mut group_start = 0;
    while group_start < edges.len() {
        let (time, amount, _, _) = edges[group_start];
        let group_end = edges[group_start..]
            .iter()
            .position(|e| (e.0, e.1) != (time, amount))
            .map_or(edges.len(), |n| group_start + n);
        let free: Vec<(usize, usize)> = edges[group_start..group_end]
            .iter()
            .filter(|&&(_, _, t, b)| {
                pairing.terminal[t].is_none()
                    && pairing.bank[b].is_none()
                    && !blocked_terminal[t]
                    && !blocked_bank[b]
            })
            .map(|&(_, _, t, b)| (t, b))
            .collect();
        let mut terminal_degree: HashMap<usize, usize> = HashMap::new();
        let mut bank_degree: HashMap<usize, usize> = HashMap::new();
        for &(t, b) in &free {
            *terminal_degree.entry(t).or_default() += 1;
            *bank_degree.entry(b).or_default() += 1;
        }
        for &(t, b) in &free {
            let (dt, db) = (terminal_degree[&t], bank_degree[&b]);
            if dt == 1 && db == 1 {
                pairing.pair(t, b, Rule::Tolerant);
                continue;
            }
            let candidates = dt.max(db);
            blocked_terminal[t] = true;
            blocked_bank[b] = true;
            let note = |slot: &mut Option<usize>| *slot = Some(slot.unwrap_or(0).max(candidates));
            note(&mut pairing.terminal_ambiguous[t]);
            note(&mut pairing.bank_ambiguous[b]);
        }
        group_start = group_end;
    }
}

/// For each SALE that repeats an earlier one (same terminal, card, amount,
/// within the duplicate window), the earlier one. Voided sales are left out:
/// a voided double swipe is the terminal working as intended.
fn suspected_duplicates(
    terminal: &[TerminalRecord],
    voids: &Voids,
    policy: &Policy,
) -> Vec<Option<usize>> {
    let mut groups: HashMap<(&str, &MaskedPan, Amount, Currency), Vec<usize>> = HashMap::new();
    for (t, record) in terminal.iter().enumerate() {
        if record.txn_type.is_purchase() && voids.voided_by[t].is_none() {
            groups
                .entry((
                    &record.terminal_id,
                    &record.card,
                    record.amount,
                    record.currency,
                ))
                .or_default()
                .push(t);
        }
    }
    let mut duplicate_of = vec![None; terminal.len()];
    for list in groups.values_mut().filter(|list| list.len() > 1) {
        list.sort_by(|&a, &b| {
            (
                terminal[a].txn_time,
                &terminal[a].batch_no,
                &terminal[a].trace_no,
            )
                .cmp(&(
                    terminal[b].txn_time,
                    &terminal[b].batch_no,
                    &terminal[b].trace_no,
                ))
        });
        for pair in list.windows(2) {
            let (earlier, later) = (&terminal[pair[0]], &terminal[pair[1]]);
            if later.txn_time - earlier.txn_time <= policy.duplicate_window {
                duplicate_of[pair[1]] = Some(pair[0]);
            }
        }
    }
    duplicate_of
}
