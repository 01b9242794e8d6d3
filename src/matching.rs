//! Pairs terminal records with settlements and gives every record exactly one
//! [`Outcome`] (SPEC §3). Pure: slices in, values out; no I/O.
//!
//! Results never depend on input order: records are visited in a canonical
//! order, and where the tolerant pass finds equally good candidates it pairs
//! none of them instead of taking whichever came first.

use std::cmp::Ordering;
use std::sync::Mutex;
// foldhash: these maps hold every record of a night, and SipHash was a tenth of the run.
use foldhash::{HashMap, HashMapExt, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hash};

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike};

use crate::model::{Amount, Currency, Id, MaskedPan, Settlement, TerminalRecord, TxnType};
use crate::order::{self, put_i32};
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
    /// The SALE's amount or currency differs from the VOID's (voids are full
    /// amount only): the SALE's amount and currency.
    AmountDiffers(Amount, Currency),
    /// Another VOID (this terminal record index) already cancelled that SALE.
    AlreadyVoided(usize),
}

/// What matching found for one terminal record.
///
/// A night holds one per record, so links are 4 bytes and the rare details
/// (orphan reasons, ambiguity, expected fees) live in [`Reconciliation`]'s
/// maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalResult {
    pub outcome: Outcome,
    /// Its business day.
    pub business_day: NaiveDate,
    settlement: Option<(u32, Rule)>,
    void_partner: Link,
    duplicate_of: Link,
    carried: bool,
}

impl TerminalResult {
    /// Whether the record goes on to the next night, to meet a settlement
    /// that may still come: a PENDING record, and, while it would be PENDING
    /// but for its VOID, a voided SALE with its VOID. Then a SALE voided on
    /// the terminal that the bank settles a night later is VOIDED_BUT_SETTLED
    /// (the cardholder paid: a refund), as in one run, not BANK_ONLY. An
    /// unsettled SUSPECTED_DUPLICATE goes on in the same way.
    pub fn carried_forward(&self) -> bool {
        self.carried
    }

    /// The settlement it was paired with, and by which rule.
    pub fn settlement(&self) -> Option<(usize, Rule)> {
        self.settlement.map(|(b, rule)| (b as usize, rule))
    }

    /// For a voided SALE: the VOID record; for a VOID: the SALE it cancels.
    pub fn void_partner(&self) -> Option<usize> {
        self.void_partner.get()
    }

    /// For a SUSPECTED_DUPLICATE: the earlier record it repeats.
    pub fn duplicate_of(&self) -> Option<usize> {
        self.duplicate_of.get()
    }
}

/// What matching found for one settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankResult {
    pub outcome: Outcome,
    terminal: Option<(u32, Rule)>,
    duplicate_of: Link,
}

impl BankResult {
    /// What a settlement's result is until its outcome is worked out.
    const UNSET: BankResult = BankResult {
        outcome: Outcome::BankOnly,
        terminal: None,
        duplicate_of: Link::NONE,
    };

    /// The terminal record it was paired with, and by which rule.
    pub fn terminal(&self) -> Option<(usize, Rule)> {
        self.terminal.map(|(t, rule)| (t as usize, rule))
    }

    /// For a DUPLICATE_SETTLEMENT: the settlement it repeats.
    pub fn duplicate_of(&self) -> Option<usize> {
        self.duplicate_of.get()
    }
}

/// Every record's outcome, index for index with the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub terminal: Vec<TerminalResult>,
    pub bank: Vec<BankResult>,
    /// Details few records have, by record index.
    orphan_reasons: HashMap<usize, OrphanReason>,
    terminal_ambiguous: HashMap<usize, usize>,
    bank_ambiguous: HashMap<usize, usize>,
    expected_fees: HashMap<usize, Amount>,
    earlier_voids: HashMap<usize, String>,
    earlier_duplicates: HashMap<usize, String>,
}

impl Reconciliation {
    /// The VOID an earlier run issued for terminal record `t`, if one did
    /// (`VOID-… in run N`).
    pub fn earlier_void(&self, t: usize) -> Option<&str> {
        self.earlier_voids.get(&t).map(String::as_str)
    }

    /// What terminal record `t` repeats, when an earlier run found it a
    /// SUSPECTED_DUPLICATE of a record tonight does not hold.
    pub fn earlier_duplicate(&self, t: usize) -> Option<&str> {
        self.earlier_duplicates.get(&t).map(String::as_str)
    }

    /// Why VOID `t` could not be applied, when it is an ORPHAN_VOID.
    pub fn orphan_reason(&self, t: usize) -> Option<OrphanReason> {
        self.orphan_reasons.get(&t).copied()
    }

    /// How many equally good candidates kept the tolerant pass from pairing
    /// terminal record `t`.
    pub fn terminal_ambiguous(&self, t: usize) -> Option<usize> {
        self.terminal_ambiguous.get(&t).copied()
    }

    /// How many equally good candidates kept the tolerant pass from pairing
    /// settlement `b`.
    pub fn bank_ambiguous(&self, b: usize) -> Option<usize> {
        self.bank_ambiguous.get(&b).copied()
    }

    /// For a FEE_MISMATCH: the fee the contracted rate gives.
    pub fn expected_fee(&self, b: usize) -> Option<Amount> {
        self.expected_fees.get(&b).copied()
    }
}

/// Whether a terminal record and a settlement can be the same transaction.
pub(crate) fn same_direction(terminal: TxnType, bank: TxnType) -> bool {
    match terminal {
        TxnType::Sale | TxnType::PreauthComplete => bank.is_purchase(),
        TxnType::Refund => bank == TxnType::Refund,
        TxnType::Void => false,
    }
}

/// The canonical order of settlements: by content, so identical rows tie.
pub(crate) fn settlement_order(a: &Settlement, b: &Settlement) -> Ordering {
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

/// What terminal records are ordered by: merchant, then their identity
/// (terminal + batch + trace), which is unique, so the order is total.
fn canonical_key(r: &TerminalRecord) -> (&Id, &Id, &Id, &Id) {
    (&r.merchant_id, &r.terminal_id, &r.batch_no, &r.trace_no)
}

/// The canonical order of terminal records ([`canonical_key`]).
fn sort_terminal(terminal: &[TerminalRecord]) -> Vec<usize> {
    // Merchant, batch and trace numbers are digits of fixed widths (15, 6, 6),
    // so they go in as numbers: 21 bytes instead of 40, and the sort's
    // array, the first pass's peak at 5 M records, is 32 bytes a record
    // instead of 48.
    order::sorted::<3>(
        terminal.len(),
        |i, key| {
            let r = &terminal[i];
            let fits = order::put_digits(key, &r.merchant_id, 15, 7)
                & order::put_text(key, &r.terminal_id, 8)
                & order::put_digits(key, &r.batch_no, 6, 3)
                & order::put_digits(key, &r.trace_no, 6, 3);
            key.extend_from_slice(&[0; 3]);
            fits
        },
        |a, b| canonical_key(&terminal[a]).cmp(&canonical_key(&terminal[b])),
    )
}

/// The canonical order of settlements ([`settlement_order`]).
fn sort_bank(bank: &[Settlement]) -> Vec<usize> {
    // The key holds settlement_order's first fields in 3 words: the two
    // days, the second of the day in 3 bytes and its nanoseconds, the
    // merchant as a number and the terminal's first two bytes. Records that
    // tie on it (one merchant's in one second) are compared in full. The
    // sort took 10 to 15 % less time than with every field in the key (6
    // words; 1 M and 5 M settlements).
    order::sorted::<3>(
        bank.len(),
        |i, key| {
            let s = &bank[i];
            let time = s.txn_time.time();
            put_i32(key, s.settle_date.num_days_from_ce());
            put_i32(key, s.txn_time.date().num_days_from_ce());
            key.extend_from_slice(&time.num_seconds_from_midnight().to_be_bytes()[1..]);
            key.extend_from_slice(&time.nanosecond().to_be_bytes());
            let terminal = s.terminal_id.as_bytes();
            order::put_digits(key, &s.merchant_id, 15, 7)
                & order::put_text(key, &terminal[..terminal.len().min(2)], 2)
        },
        |a, b| settlement_order(&bank[a], &bank[b]),
    )
}

/// What matching needs of the settlements alone: the exact pass's indexes,
/// in canonical order. Its first part, [`BankOrder`], can be made while the
/// terminal files are still being read.
pub struct BankIndex {
    exact: ExactIndex,
    settlements: usize,
}

impl BankIndex {
    pub fn new(bank: &[Settlement]) -> BankIndex {
        BankIndex::in_order(bank, BankOrder::new(bank))
    }

    /// The index of `bank`, whose canonical order is known: it is built on
    /// both cores.
    pub fn in_order(bank: &[Settlement], order: BankOrder) -> BankIndex {
        assert_eq!(
            order.0.len(),
            bank.len(),
            "IE: the order is of other settlements"
        );
        BankIndex {
            exact: ExactIndex::new(bank, &order.0),
            settlements: bank.len(),
        }
    }
}

/// The settlements' canonical order, the first part of their [`BankIndex`]:
/// one core sorts them while the other still reads the terminal files.
pub struct BankOrder(Vec<usize>);

impl BankOrder {
    pub fn new(bank: &[Settlement]) -> BankOrder {
        BankOrder(sort_bank(bank))
    }
}

/// Reconciles one night: SPEC §3's passes, then one outcome per record.
pub fn reconcile(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    policy: &Policy,
    as_of: NaiveDateTime,
) -> Reconciliation {
    reconcile_indexed(
        terminal,
        bank,
        BankIndex::new(bank),
        policy,
        as_of,
        Earlier::default(),
    )
}

/// What earlier runs found about tonight's terminal records, by index.
#[derive(Debug, Clone, Default)]
pub struct Earlier {
    /// Records an earlier run's VOID cancels, with that VOID's name: voided
    /// as if by a VOID record, so that one the bank settles anyway is
    /// VOIDED_BUT_SETTLED, and one it does not is VOIDED rather than
    /// UNSETTLED.
    pub voids: HashMap<usize, String>,
    /// Records from the ledger (carried, or brought back by a late
    /// settlement) that an earlier run found SUSPECTED_DUPLICATE, with what
    /// it repeats: the sale it repeats stayed behind, so they stay
    /// SUSPECTED_DUPLICATE as in one run of both nights' files.
    pub duplicates: HashMap<usize, String>,
}

/// [`reconcile`] with the settlements' index already built (from `bank`),
/// and what earlier runs found about tonight's terminal records.
pub fn reconcile_indexed(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    index: BankIndex,
    policy: &Policy,
    as_of: NaiveDateTime,
    earlier: Earlier,
) -> Reconciliation {
    reconcile_beside(terminal, bank, (index, policy, as_of), earlier, || ()).0
}

/// [`reconcile_indexed`], and `beside`: work run on the core that the
/// exact pass's first tier leaves idle (it pairs the records in order, on
/// one core), with its result.
pub fn reconcile_beside<T: Send>(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    (index, policy, as_of): (BankIndex, &Policy, NaiveDateTime),
    earlier: Earlier,
    beside: impl FnOnce() -> T + Send,
) -> (Reconciliation, T) {
    let Earlier {
        voids: earlier_voids,
        duplicates: earlier_duplicates,
    } = earlier;
    let earlier_duplicates = standing_duplicates(terminal, earlier_duplicates);
    assert_eq!(
        index.settlements,
        bank.len(),
        "IE: the bank index was built from other settlements"
    );
    let index = index.exact;
    // Two cores: none of these passes needs the night's canonical order, so
    // they run beside its sort. The rrn count is on the sort's side: beside
    // the void and duplicate passes it made the sort's core wait for them.
    let ((voids, duplicates), (unique_rrns, terminal_order)) = join(
        || {
            let voids = pair_voids(terminal);
            let duplicates = suspected_duplicates(terminal, &voids, &earlier_voids, policy);
            (voids, duplicates)
        },
        || (unique_rrns(terminal), sort_terminal(terminal)),
    );
    let (mut pairing, beside) = pair_exact(
        terminal,
        bank,
        &terminal_order,
        (index, unique_rrns),
        beside,
    );
    pair_tolerant(terminal, bank, policy, &terminal_order, &mut pairing);
    let as_of_day = policy.business_day(as_of);

    // The two sides' outcomes are independent. A settlement's takes about
    // twice a terminal record's (its paired record lies anywhere in memory),
    // so the settlements are worked out a chunk at a time by both cores:
    // one starts on them, the other once the terminal side is done.
    let voided = |t: usize| voids.voided_by[t].is_some() || earlier_voids.contains_key(&t);
    let mut bank_results = vec![BankResult::UNSET; bank.len()];
    let chunks = Mutex::new(bank_results.chunks_mut(BANK_CHUNK).enumerate());
    let settle = || {
        let mut expected_fees = HashMap::new();
        loop {
            let next = chunks
                .lock()
                .expect("IE: taking a chunk never panics")
                .next();
            let Some((chunk, results)) = next else {
                break expected_fees;
            };
            let first = chunk * BANK_CHUNK;
            let paired = (terminal, &pairing);
            fill_bank_results(
                paired,
                (bank, first, results),
                policy,
                &voided,
                &mut expected_fees,
            );
        }
    };
    let (mut expected_fees, (terminal_results, more_fees)) = join(settle, || {
        let results = terminal_results(
            terminal,
            bank,
            policy,
            as_of_day,
            (&voids, &voided),
            (&duplicates, &earlier_duplicates),
            &pairing,
        );
        (results, settle())
    });
    expected_fees.extend(more_fees);
    let reconciliation = Reconciliation {
        terminal: terminal_results,
        bank: bank_results,
        orphan_reasons: voids.orphan,
        terminal_ambiguous: pairing.terminal_ambiguous,
        bank_ambiguous: pairing.bank_ambiguous,
        expected_fees,
        earlier_voids,
        earlier_duplicates,
    };
    (reconciliation, beside)
}

/// Each terminal record's outcome, once pairing is done.
fn terminal_results(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    policy: &Policy,
    as_of_day: NaiveDate,
    (voids, voided): (&Voids, &(dyn Fn(usize) -> bool + Sync)),
    (duplicates, earlier_duplicates): (&[Link], &HashMap<usize, String>),
    pairing: &Pairing,
) -> Vec<TerminalResult> {
    terminal
        .iter()
        .enumerate()
        .map(|(t, record)| {
            let business_day = policy.business_day(record.txn_time);
            let settlement = pairing.settlement(t);
            let is_voided = voided(t);
            let repeats = duplicates[t].is_some() || earlier_duplicates.contains_key(&t);
            let outcome = if record.txn_type == TxnType::Void {
                if voids.orphan.contains_key(&t) {
                    Outcome::OrphanVoid
                } else {
                    Outcome::VoidApplied
                }
            } else if let Some((b, _)) = settlement {
                if is_voided {
                    Outcome::VoidedButSettled
                } else if pairing.amounts_differ((record, t), (&bank[b], b), policy) {
                    Outcome::AmountMismatch
                } else if repeats {
                    Outcome::SuspectedDuplicate
                } else {
                    Outcome::Matched
                }
            } else if is_voided {
                Outcome::Voided
            } else if repeats {
                Outcome::SuspectedDuplicate
            } else if as_of_day < policy.unsettled_from(business_day) {
                Outcome::Pending
            } else {
                Outcome::Unsettled
            };
            let void_partner = match voids.voided_by[t] {
                Link::NONE => voids.voids[t],
                voided_by => voided_by,
            };
            // A voided SALE and its VOID go on together, so that the two
            // pair again; while the SALE's settlement may still come. So does
            // an unsettled repeat: reported tonight, its settlement meets it
            // later rather than coming out BANK_ONLY.
            let awaits_settlement = |sale: usize| {
                pairing.settlement(sale).is_none()
                    && as_of_day
                        < policy.unsettled_from(policy.business_day(terminal[sale].txn_time))
            };
            let carried = match outcome {
                Outcome::Pending => true,
                Outcome::Voided | Outcome::SuspectedDuplicate => awaits_settlement(t),
                Outcome::VoidApplied => voids.voids[t].get().is_some_and(awaits_settlement),
                _ => false,
            };
            TerminalResult {
                outcome,
                business_day,
                settlement: pairing.terminal[t],
                void_partner,
                duplicate_of: duplicates[t],
                carried,
            }
        })
        .collect()
}

/// Settlements are given to the two cores in chunks of this many (a few in
/// unit tests, whose nights are small, so that they take several chunks).
#[cfg(not(test))]
const BANK_CHUNK: usize = 1 << 16;
#[cfg(test)]
const BANK_CHUNK: usize = 3;

/// Each settlement's outcome, once pairing is done, for the settlements
/// from `first` on that `results` has room for; the contracted fee of each
/// whose fee differs from it goes to `expected_fees`.
fn fill_bank_results(
    (terminal, pairing): (&[TerminalRecord], &Pairing),
    (bank, first, results): (&[Settlement], usize, &mut [BankResult]),
    policy: &Policy,
    voided: &(dyn Fn(usize) -> bool + Sync),
    expected_fees: &mut HashMap<usize, Amount>,
) {
    let settlements = bank[first..].iter().zip(first..);
    for (result, (settlement, b)) in results.iter_mut().zip(settlements) {
        let outcome = if let Some((t, _)) = pairing.terminal_of(b) {
            let record = &terminal[t];
            if voided(t) {
                Outcome::VoidedButSettled
            } else if pairing.amounts_differ((record, t), (settlement, b), policy) {
                Outcome::AmountMismatch
            } else if let Some(expected) = fee_differs(settlement, policy) {
                expected_fees.insert(b, expected);
                Outcome::FeeMismatch
            } else {
                Outcome::Matched
            }
        } else if pairing.bank_duplicate_of[b].is_some() {
            Outcome::DuplicateSettlement
        } else {
            Outcome::BankOnly
        };
        *result = BankResult {
            outcome,
            terminal: pairing.bank[b],
            duplicate_of: pairing.bank_duplicate_of[b],
        };
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
    voided_by: Vec<Link>,
    /// For an applied VOID: the SALE it cancelled.
    voids: Vec<Link>,
    /// For a VOID that cancels nothing: why (few records, so a map).
    orphan: HashMap<usize, OrphanReason>,
}

/// Pairs the VOIDs with the SALEs they name. The VOIDs are taken in the
/// terminal records' canonical order ([`canonical_key`]), so that of two
/// VOIDs of one SALE the same one is applied whatever the order of the rows.
fn pair_voids(terminal: &[TerminalRecord]) -> Voids {
    let mut result = Voids {
        voided_by: vec![Link::NONE; terminal.len()],
        voids: vec![Link::NONE; terminal.len()],
        orphan: HashMap::new(),
    };
    fn named(r: &TerminalRecord) -> Option<(&Id, &Id, &Id)> {
        let orig_trace = r.orig_trace_no.as_ref()?;
        (r.txn_type == TxnType::Void).then_some((&r.terminal_id, &r.batch_no, orig_trace))
    }
    // The few VOIDs are sorted on their own: walking the night's canonical
    // order read every record out of place, and needed the whole sort.
    let mut void_order: Vec<usize> = (0..terminal.len())
        .filter(|&t| named(&terminal[t]).is_some())
        .collect();
    void_order.sort_by_key(|&v| canonical_key(&terminal[v]));
    // Only the few identities some VOID names are indexed; a map of every
    // record was most of this pass's time.
    let wanted: HashSet<u64> = void_order
        .iter()
        .filter_map(|&v| named(&terminal[v]))
        .map(digest)
        .collect();
    let mut by_identity: HashMap<(&Id, &Id, &Id), usize> = HashMap::new();
    if !wanted.is_empty() {
        for (i, r) in terminal.iter().enumerate() {
            let identity = (&r.terminal_id, &r.batch_no, &r.trace_no);
            if wanted.contains(&digest(identity)) {
                by_identity.insert(identity, i);
            }
        }
    }
    for v in void_order {
        let void = &terminal[v];
        let orig_trace = void
            .orig_trace_no
            .as_ref()
            .expect("IE: only VOIDs that name a trace");
        let reason = match by_identity.get(&(&void.terminal_id, &void.batch_no, orig_trace)) {
            None => Some(OrphanReason::NotInBatch),
            Some(&sale) => {
                let original = &terminal[sale];
                if !original.txn_type.is_purchase() {
                    Some(OrphanReason::NotAPurchase(original.txn_type))
                } else if original.amount != void.amount || original.currency != void.currency {
                    Some(OrphanReason::AmountDiffers(
                        original.amount,
                        original.currency,
                    ))
                } else if let Some(first) = result.voided_by[sale].get() {
                    Some(OrphanReason::AlreadyVoided(first))
                } else {
                    result.voided_by[sale] = Link::to(v);
                    result.voids[v] = Link::to(sale);
                    None
                }
            }
        };
        if let Some(reason) = reason {
            result.orphan.insert(v, reason);
        }
    }
    result
}

/// Which records are paired, duplicated or ambiguous so far.
struct Pairing {
    terminal: Vec<Option<(u32, Rule)>>,
    bank: Vec<Option<(u32, Rule)>>,
    bank_duplicate_of: Vec<Link>,
    /// For each paired terminal record: whether its settlement has the same
    /// amount and currency. Known when they are paired, so the outcomes need
    /// not read the partner record from wherever it lies (at 5 M records,
    /// a cache miss a record on each side).
    same_amount: Vec<bool>,
    /// Few records are ambiguous, so these are maps (of candidate counts).
    terminal_ambiguous: HashMap<usize, usize>,
    bank_ambiguous: HashMap<usize, usize>,
}

impl Pairing {
    fn new(terminal: usize, bank: usize) -> Pairing {
        Pairing {
            terminal: vec![None; terminal],
            bank: vec![None; bank],
            bank_duplicate_of: vec![Link::NONE; bank],
            same_amount: vec![false; terminal],
            terminal_ambiguous: HashMap::new(),
            bank_ambiguous: HashMap::new(),
        }
    }

    fn pair(&mut self, t: usize, b: usize, rule: Rule, same_amount: bool) {
        self.terminal[t] = Some((Link::to(b).0, rule));
        self.bank[b] = Some((Link::to(t).0, rule));
        self.same_amount[t] = same_amount;
    }

    /// Whether paired records `t` and `b` differ in amount beyond the
    /// tolerance, or in currency ([`amounts_differ`]).
    fn amounts_differ(
        &self,
        (record, t): (&TerminalRecord, usize),
        (settlement, b): (&Settlement, usize),
        policy: &Policy,
    ) -> bool {
        debug_assert_eq!(self.settlement(t).map(|(b, _)| b), Some(b));
        if self.same_amount[t] {
            Amount::ZERO > policy.amount_tolerance
        } else {
            amounts_differ(record, settlement, policy)
        }
    }

    /// The settlement terminal record `t` is paired with, and by which rule.
    fn settlement(&self, t: usize) -> Option<(usize, Rule)> {
        self.terminal[t].map(|(b, rule)| (b as usize, rule))
    }

    /// The terminal record settlement `b` is paired with, and by which rule.
    fn terminal_of(&self, b: usize) -> Option<(usize, Rule)> {
        self.bank[b].map(|(t, rule)| (t as usize, rule))
    }

    fn bank_is_free(&self, b: usize) -> bool {
        self.bank[b].is_none() && self.bank_duplicate_of[b].is_none()
    }
}

/// The `Link` that points nowhere.
const NO_INDEX: u32 = u32::MAX;

/// An optional record index in 4 bytes: matching keeps several of these per
/// record, and `Option<usize>` is 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link(u32);

impl Link {
    const NONE: Link = Link(NO_INDEX);

    fn to(index: usize) -> Link {
        let index = u32::try_from(index).ok().filter(|&i| i != NO_INDEX);
        Link(index.expect("IE: fewer than 2^32 - 1 records"))
    }

    fn get(self) -> Option<usize> {
        (self.0 != NO_INDEX).then_some(self.0 as usize)
    }

    fn is_some(self) -> bool {
        self.0 != NO_INDEX
    }

    fn is_none(self) -> bool {
        self.0 == NO_INDEX
    }
}

/// Runs `elsewhere` on a second thread (the second core) and `here` on this
/// one, and returns both results; a panic on either side is raised here.
fn join<A: Send, B>(elsewhere: impl FnOnce() -> A + Send, here: impl FnOnce() -> B) -> (A, B) {
    #[cfg(test)]
    let collide = tests::EVERY_DIGEST_COLLIDES.get();
    std::thread::scope(|scope| {
        let other = scope.spawn(move || {
            #[cfg(test)]
            tests::EVERY_DIGEST_COLLIDES.set(collide);
            elsewhere()
        });
        let mine = here();
        let other = other
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (other, mine)
    })
}

/// A 64-bit digest of a key. The whole-night indexes hold digests instead of
/// the keys' text: 8 bytes a record instead of up to 56, and a probe never
/// reads another record's strings. Digests can collide, so whatever is found
/// through one is compared field by field before it is used.
fn digest(key: impl Hash) -> u64 {
    #[cfg(test)]
    if tests::EVERY_DIGEST_COLLIDES.get() {
        return 0;
    }
    foldhash::fast::FixedState::default().hash_one(key)
}

/// The exact pass's key without an rrn: merchant + terminal + trace + date.
/// Ids, here and on the other per-record paths, are hashed and compared as
/// `Id`s: the same digests as their `&str`s, without a UTF-8 check each.
fn exact_key(merchant: &Id, terminal: &Id, trace: &Id, date: NaiveDate) -> u64 {
    digest((merchant, terminal, trace, date))
}

/// Each record's rank in `order`, a permutation of the records: a pass that
/// keys records by rank reads them in place, in memory order, instead of in
/// `order`, where nearly every record missed the cache. (The bank index's
/// two sides were built in 40 % less time on the 1 M night; the terminal
/// side's probes, built beside the sort of a join, gained nothing.)
fn ranks(order: &[usize]) -> Vec<u32> {
    let mut rank_of = vec![0; order.len()];
    for (rank, &i) in order.iter().enumerate() {
        rank_of[i] = Link::to(rank).0;
    }
    rank_of
}

/// One side of a sort-merge join: (digest of a key, rank, record index),
/// sorted, so the entries of one digest lie together in rank order.
type JoinSide = Vec<(u64, u32, u32)>;

fn join_side(entries: impl Iterator<Item = (u64, usize, usize)>) -> JoinSide {
    let mut side: JoinSide = entries
        .map(|(d, rank, i)| (d, Link::to(rank).0, Link::to(i).0))
        .collect();
    side.sort_unstable();
    side
}

/// Calls `pair(probe, entry)` for every probe and entry of equal digest: in
/// probe order, and for each probe in entry order. Both sides are sorted.
fn merge_join(
    probes: &[(u64, u32, u32)],
    entries: &[(u64, u32, u32)],
    mut pair: impl FnMut(&(u64, u32, u32), &(u64, u32, u32)),
) {
    let mut start = 0;
    for probe in probes {
        while entries.get(start).is_some_and(|e| e.0 < probe.0) {
            start += 1;
        }
        for entry in entries[start..].iter().take_while(|e| e.0 == probe.0) {
            pair(probe, entry);
        }
    }
}

/// The settlements by rrn and by exact key, each in canonical order: the
/// bank side of the exact pass's two joins.
struct ExactIndex {
    by_rrn: JoinSide,
    by_key: JoinSide,
}

impl ExactIndex {
    /// The two sides are built one per core, once both kinds of file are read.
    fn new(bank: &[Settlement], bank_order: &[usize]) -> ExactIndex {
        let rank_of = ranks(bank_order);
        let by_rrn = || {
            join_side(
                bank.iter()
                    .enumerate()
                    .filter_map(|(b, s)| Some((digest(s.rrn.as_ref()?), rank_of[b] as usize, b))),
            )
        };
        let by_key = || {
            join_side(bank.iter().enumerate().map(|(b, s)| {
                let key = exact_key(
                    &s.merchant_id,
                    &s.terminal_id,
                    &s.trace_no,
                    s.txn_time.date(),
                );
                (key, rank_of[b] as usize, b)
            }))
        };
        let (by_rrn, by_key) = join(by_rrn, by_key);
        ExactIndex { by_rrn, by_key }
    }
}

/// For each terminal record, whether its rrn identifies it. An rrn is unique
/// at the acquirer; one that several terminal records share (an offline
/// terminal's placeholder) identifies none of them. VOIDs do not count.
fn unique_rrns(terminal: &[TerminalRecord]) -> Vec<bool> {
    let rrn = |t: usize| {
        let record = &terminal[t];
        record
            .rrn
            .as_ref()
            .filter(|_| record.txn_type != TxnType::Void)
    };
    let runs = DigestRuns::new((0..terminal.len()).filter_map(|t| Some((digest(rrn(t)?), t))));
    let mut unique = vec![false; terminal.len()];
    let mut counts: HashMap<&Id, usize> = HashMap::new();
    for run in runs.iter() {
        // Nearly every run is one record, unique without reading its rrn.
        if let [(_, t)] = run {
            unique[*t as usize] = true;
            continue;
        }
        // Several: a shared placeholder rrn can have thousands of records,
        // so count each rrn once rather than compare every pair.
        counts.clear();
        for t in DigestRuns::records(run) {
            *counts
                .entry(rrn(t).expect("IE: only records with an rrn"))
                .or_default() += 1;
        }
        for t in DigestRuns::records(run) {
            unique[t] = counts[rrn(t).expect("IE: only records with an rrn")] == 1;
        }
    }
    unique
}

/// Record indexes grouped by a digest of some key of theirs. Sorting the
/// (digest, index) pairs once and walking the runs reads memory in order;
/// a whole-night hash map missed the cache on nearly every record (at 5 M
/// records most of matching's time). A run may mix keys whose digests
/// collide, so users compare the keys themselves.
struct DigestRuns {
    /// (digest, record index), sorted. Kept as they were sorted: splitting
    /// them into two arrays held both at once, at the first pass's peak.
    pairs: Vec<(u64, u32)>,
}

/// The (digest, record index) pairs of one digest, by index.
type DigestRun<'a> = &'a [(u64, u32)];

impl DigestRuns {
    fn new(pairs: impl Iterator<Item = (u64, usize)>) -> DigestRuns {
        let mut pairs: Vec<(u64, u32)> = pairs.map(|(d, i)| (d, Link::to(i).0)).collect();
        pairs.sort_unstable();
        DigestRuns { pairs }
    }

    /// The records of each digest.
    fn iter(&self) -> impl Iterator<Item = DigestRun<'_>> + '_ {
        self.pairs.chunk_by(|a, b| a.0 == b.0)
    }

    /// The record indexes of `run`, ascending.
    fn records(run: DigestRun<'_>) -> impl Iterator<Item = usize> + '_ {
        run.iter().map(|&(_, i)| i as usize)
    }
}

/// Pass 1: same rrn where both sides have one; otherwise merchant + terminal +
/// trace (+ batch where both have it) on the same date. Further settlements of
/// a matched transaction are its duplicates.
fn pair_exact<T: Send>(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    terminal_order: &[usize],
    (index, unique_rrns): (ExactIndex, Vec<bool>),
    beside: impl FnOnce() -> T + Send,
) -> (Pairing, T) {
    // Finding the candidates reads the records and the indexes, but not the
    // pairing, so it runs on two cores. Choosing among them depends on what
    // earlier records took, so it runs in order.
    let found = ExactCandidates::find(terminal, bank, terminal_order, &index, &unique_rrns);
    // The pairing is made only now, and the indexes freed first: all three
    // at once with the joins' arrays was the 5 M night's peak.
    drop((index, unique_rrns));
    let mut pairing = Pairing::new(terminal.len(), bank.len());
    // Each matched record's other candidates, to be judged once every
    // terminal record has had its turn.
    let mut leftovers: Vec<(usize, Vec<usize>)> = Vec::new();
    // The strongest evidence pairs first, across all records: a settlement
    // with a record's own rrn is that record's (an rrn is unique at the
    // acquirer), then by key those that agree on amount and time, then on the
    // amount, then the rest. Taking each record's best in turn let a record
    // without an rrn, or with another amount, take by trace a settlement that
    // a later record matched by rrn or exactly.
    let tiers: [fn(&Candidate) -> bool; 4] = [
        |c| c.rule == Rule::ExactRrn,
        |c| c.fit == Fit::AmountAndTime,
        |c| c.fit <= Fit::Amount,
        |_| true,
    ];
    // Nearly every record pairs in the first tier; the later ones visit
    // only the records left (their ranks: a copy of their candidates would
    // double what a crowded key costs).
    let mut left: Vec<(u32, usize)> = Vec::new();
    let mut candidates: Vec<&Candidate> = Vec::new();
    // The first tier's first read of each candidate's pairing state missed
    // the cache, one record after another. A block of records' states is
    // read first, together, so that the processor fetches them at once (the
    // tier took a fifth less time on the 5 M night).
    let mut records = found.each().peekable();
    let mut block = Vec::with_capacity(64);
    // The tier pairs in order, on one core: the other runs `beside`.
    let (beside, ()) = join(beside, || {
        while records.peek().is_some() {
            block.extend(records.by_ref().take(64));
            let read = block.iter().fold(false, |read, (_, t, of_t)| {
                let read = read ^ pairing.settlement(*t).is_some();
                of_t.clone()
                    .fold(read, |read, c| read ^ pairing.bank_is_free(c.bank as usize))
            });
            // What was read means nothing; `black_box` keeps the reads.
            std::hint::black_box(read);
            for (rank, t, of_t) in block.drain(..) {
                candidates.clear();
                candidates.extend(of_t);
                if !pair_in_tier(t, &candidates, tiers[0], bank, &mut pairing, &mut leftovers) {
                    left.push((rank, t));
                }
            }
        }
    });
    for in_tier in &tiers[1..] {
        for &(rank, t) in &left {
            if pairing.settlement(t).is_none() {
                candidates.clear();
                candidates.extend(found.of(rank));
                pair_in_tier(t, &candidates, *in_tier, bank, &mut pairing, &mut leftovers);
            }
        }
    }
    for (chosen, others) in leftovers {
        for b in others {
            if pairing.bank_is_free(b) {
                pairing.bank_duplicate_of[b] = Link::to(chosen);
            }
        }
    }
    (pairing, beside)
}

/// Pairs terminal record `t` with its best free candidate of those `in_tier`
/// (agreeing on amount and time, then on the amount, then the canonical
/// first), and lists its other free candidates that settle the same
/// transaction again in `leftovers`. False when none is in the tier.
fn pair_in_tier(
    t: usize,
    found: &[&Candidate],
    in_tier: fn(&Candidate) -> bool,
    bank: &[Settlement],
    pairing: &mut Pairing,
    leftovers: &mut Vec<(usize, Vec<usize>)>,
) -> bool {
    let free = |c: &&&Candidate| pairing.bank_is_free(c.bank as usize);
    let in_reach = || found.iter().filter(free).filter(|c| in_tier(c));
    let Some(chosen) = in_reach()
        .find(|c| c.fit == Fit::AmountAndTime)
        .or_else(|| in_reach().find(|c| c.fit <= Fit::Amount))
        .or_else(|| in_reach().next())
    else {
        return false;
    };
    let same_amount = chosen.fit <= Fit::Amount;
    let (chosen, rule) = (chosen.bank as usize, chosen.rule);
    // Only the others that settle the chosen one's transaction again can
    // become its duplicates, and whether they do depends on the two
    // settlements alone: keeping every other candidate made a key that
    // thousands of records share cost memory in its square.
    let others: Vec<usize> = found
        .iter()
        .filter(free)
        .map(|c| c.bank as usize)
        .filter(|&b| b != chosen && settles_again(&bank[chosen], &bank[b]))
        .collect();
    pairing.pair(t, chosen, rule, same_amount);
    // Nearly every record has no other candidate: an entry for each was the
    // pass's largest allocation, and on a 1 M night the run's peak.
    if !others.is_empty() {
        leftovers.push((chosen, others));
    }
    true
}

/// How well an exact-pass candidate agrees with the terminal record; the
/// better ones come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    AmountAndTime,
    Amount,
    KeyOnly,
}

/// A settlement the exact pass could pair a terminal record with.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    bank: u32,
    rule: Rule,
    fit: Fit,
}

/// The exact pass's candidates of some terminal records, before any pairing:
/// by the rrn, then by the key, of the same direction, in canonical order.
struct ExactCandidates<'o> {
    /// The terminal records in canonical order.
    order: &'o [usize],
    /// The rrn join's candidates and the key join's, each sorted by rank:
    /// kept apart, they are sorted one per core and never copied into one.
    by_rrn: Vec<Found>,
    by_key: Vec<Found>,
}

/// A candidate of the terminal record at `rank` in canonical order.
#[derive(Debug, Clone, Copy)]
struct Found {
    rank: u32,
    /// The settlement's rank in canonical order.
    bank_rank: u32,
    candidate: Candidate,
}

/// Sorts one join's candidates by terminal record, then settlement, both
/// in canonical order.
fn by_rank(mut found: Vec<Found>) -> Vec<Found> {
    found.sort_unstable_by_key(|f| (f.rank, f.bank_rank));
    found
}

impl<'o> ExactCandidates<'o> {
    /// Two sort-merge joins (by rrn, by key), one per core: probing a
    /// whole-night hash map missed the cache on nearly every record.
    fn find(
        terminal: &[TerminalRecord],
        bank: &[Settlement],
        order: &'o [usize],
        index: &ExactIndex,
        unique_rrns: &[bool],
    ) -> ExactCandidates<'o> {
        let unique_rrn = |t: usize| terminal[t].rrn.as_ref().filter(|_| unique_rrns[t]);
        let wanted = |t: usize| terminal[t].txn_type != TxnType::Void;
        let candidate = |t: usize, b: usize, rule: Rule| {
            let (record, s) = (&terminal[t], &bank[b]);
            if !same_direction(record.txn_type, s.txn_type) {
                return None;
            }
            let same_amount = s.amount == record.amount && s.currency == record.currency;
            let fit = match (same_amount, s.txn_time == record.txn_time) {
                (true, true) => Fit::AmountAndTime,
                (true, false) => Fit::Amount,
                (false, _) => Fit::KeyOnly,
            };
            let bank = Link::to(b).0;
            Some(Candidate { bank, rule, fit })
        };
        let by_rrn = || {
            let probes = join_side(order.iter().enumerate().filter_map(|(rank, &t)| {
                let rrn = unique_rrn(t).filter(|_| wanted(t))?;
                Some((digest(rrn), rank, t))
            }));
            let mut found = Vec::new();
            merge_join(&probes, &index.by_rrn, |&(_, rank, t), &(_, b_rank, b)| {
                let (t, b) = (t as usize, b as usize);
                if bank[b].rrn.as_ref() == unique_rrn(t)
                    && let Some(c) = candidate(t, b, Rule::ExactRrn)
                {
                    found.push(Found {
                        rank,
                        bank_rank: b_rank,
                        candidate: c,
                    });
                }
            });
            found
        };
        let by_key = || {
            let probes = join_side(order.iter().enumerate().filter_map(|(rank, &t)| {
                let r = &terminal[t];
                let date = r.txn_time.date();
                let key = exact_key(&r.merchant_id, &r.terminal_id, &r.trace_no, date);
                wanted(t).then_some((key, rank, t))
            }));
            let mut found = Vec::new();
            merge_join(&probes, &index.by_key, |&(_, rank, t), &(_, b_rank, b)| {
                let (t, b) = (t as usize, b as usize);
                let (record, s) = (&terminal[t], &bank[b]);
                let same_key = s.merchant_id == record.merchant_id
                    && s.terminal_id == record.terminal_id
                    && s.trace_no == record.trace_no
                    && s.txn_time.date() == record.txn_time.date();
                let rrn_allows = s.rrn.is_none() || unique_rrn(t).is_none();
                let batch_allows = s
                    .batch_no
                    .as_ref()
                    .is_none_or(|batch| *batch == record.batch_no);
                if same_key
                    && rrn_allows
                    && batch_allows
                    && let Some(c) = candidate(t, b, Rule::ExactKey)
                {
                    found.push(Found {
                        rank,
                        bank_rank: b_rank,
                        candidate: c,
                    });
                }
            });
            found
        };
        let (by_key, by_rrn) = join(|| by_rank(by_key()), || by_rank(by_rrn()));
        ExactCandidates {
            order,
            by_rrn,
            by_key,
        }
    }

    /// The candidates of the terminal record at `rank` in canonical order,
    /// as [`ExactCandidates::each`] gives them.
    fn of(&self, rank: u32) -> impl Iterator<Item = &Candidate> + '_ {
        fn of_rank(found: &[Found], rank: u32) -> &[Found] {
            let start = found.partition_point(|f| f.rank < rank);
            let end = start + found[start..].partition_point(|f| f.rank == rank);
            &found[start..end]
        }
        of_rank(&self.by_rrn, rank)
            .iter()
            .chain(of_rank(&self.by_key, rank))
            .map(|f| &f.candidate)
    }

    /// Each terminal record that has candidates, in order, with them: the
    /// rrn's before the key's, each in canonical order, the order the pass
    /// has always taken them in. A record comes with its rank.
    fn each(
        &self,
    ) -> impl Iterator<Item = (u32, usize, impl Iterator<Item = &Candidate> + Clone)> + '_ {
        let same_record = |a: &Found, b: &Found| a.rank == b.rank;
        let mut by_rrn = self.by_rrn.chunk_by(same_record).peekable();
        let mut by_key = self.by_key.chunk_by(same_record).peekable();
        std::iter::from_fn(move || {
            let rank = match (by_rrn.peek(), by_key.peek()) {
                (None, None) => return None,
                (Some(r), None) => r[0].rank,
                (None, Some(k)) => k[0].rank,
                (Some(r), Some(k)) => r[0].rank.min(k[0].rank),
            };
            let from_rrn = by_rrn.next_if(|r| r[0].rank == rank).unwrap_or_default();
            let from_key = by_key.next_if(|k| k[0].rank == rank).unwrap_or_default();
            let found = from_rrn.iter().chain(from_key).map(|f| &f.candidate);
            Some((rank, self.order[rank as usize], found))
        })
    }
}

/// Whether `other`, an exact-pass candidate left over after `chosen` was
/// matched, settles the same transaction again. The same rrn says so; without
/// rrns, a trace number can recur in the next batch, so amount, card and time
/// must agree too before another terminal record's settlement is called a
/// duplicate.
fn settles_again(chosen: &Settlement, other: &Settlement) -> bool {
    match (&chosen.rrn, &other.rrn) {
        (Some(a), Some(b)) => a == b,
        _ => {
            chosen.amount == other.amount
                && chosen.currency == other.currency
                && chosen.card == other.card
                && chosen.txn_time == other.txn_time
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
    let mut buckets: HashMap<(&Id, &MaskedPan), Vec<usize>> = HashMap::new();
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
        let Some(list) = buckets.get(&(&record.terminal_id, &record.card)) else {
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
                let same_amount = terminal[t].amount == bank[b].amount
                    && terminal[t].currency == bank[b].currency;
                pairing.pair(t, b, Rule::Tolerant, same_amount);
                continue;
            }
            let candidates = dt.max(db);
            blocked_terminal[t] = true;
            blocked_bank[b] = true;
            let note = |slot: &mut usize| *slot = (*slot).max(candidates);
            note(pairing.terminal_ambiguous.entry(t).or_default());
            note(pairing.bank_ambiguous.entry(b).or_default());
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
    earlier_voids: &HashMap<usize, String>,
    policy: &Policy,
) -> Vec<Link> {
    let group_of = |t: usize| {
        let record = &terminal[t];
        (
            &record.terminal_id,
            &record.card,
            record.amount,
            record.currency,
        )
    };
    let groups = DigestRuns::new(terminal.iter().enumerate().filter_map(|(t, record)| {
        // A voided sale, by a VOID record or an earlier run's VOID, is
        // neither a duplicate nor what another duplicates (void and re-ring).
        let counted = record.txn_type.is_purchase()
            && voids.voided_by[t].is_none()
            && !earlier_voids.contains_key(&t);
        counted.then(|| (digest(group_of(t)), t))
    }));
    let mut duplicate_of = vec![Link::NONE; terminal.len()];
    let mut list = Vec::new();
    // A digest's records may belong to more than one group (a collision):
    // sorting by group first keeps each group's records together.
    for run in groups.iter().filter(|run| run.len() > 1) {
        list.clear();
        list.extend(DigestRuns::records(run));
        let order_key = |t: usize| {
            let record = &terminal[t];
            (
                group_of(t),
                record.txn_time,
                &record.batch_no,
                &record.trace_no,
            )
        };
        list.sort_by(|&a, &b| order_key(a).cmp(&order_key(b)));
        for pair in list.windows(2) {
            let (earlier, later) = (&terminal[pair[0]], &terminal[pair[1]]);
            if group_of(pair[0]) == group_of(pair[1])
                && later.txn_time - earlier.txn_time <= policy.duplicate_window
            {
                duplicate_of[pair[1]] = Link::to(pair[0]);
            }
        }
    }
    duplicate_of
}

/// The earlier runs' SUSPECTED_DUPLICATE verdicts that still stand: those
/// whose sale repeated (named in the verdict by its trace and how long
/// before) tonight does not hold. Where tonight holds it, it came along, and
/// tonight's detection decides, as in one run of both nights' files (a sale
/// voided meanwhile is no original).
fn standing_duplicates(
    terminal: &[TerminalRecord],
    earlier: HashMap<usize, String>,
) -> HashMap<usize, String> {
    if earlier.is_empty() {
        return earlier;
    }
    let group_of = |r: &TerminalRecord| digest((&r.terminal_id, &r.card, r.amount, r.currency));
    let wanted: HashSet<u64> = earlier.keys().map(|&t| group_of(&terminal[t])).collect();
    let mut members: HashMap<u64, Vec<usize>> = HashMap::new();
    for (u, record) in terminal.iter().enumerate() {
        if record.txn_type.is_purchase() {
            let group = group_of(record);
            if wanted.contains(&group) {
                members.entry(group).or_default().push(u);
            }
        }
    }
    earlier
        .into_iter()
        .filter(|(t, verdict)| {
            let record = &terminal[*t];
            let Some((trace, seconds)) = crate::explain::repeated_sale(verdict) else {
                return true;
            };
            let when = record.txn_time - TimeDelta::seconds(seconds);
            let is_repeated = |u: usize| {
                let other = &terminal[u];
                u != *t
                    && other.trace_no.as_str() == trace
                    && other.txn_time == when
                    && (
                        &other.terminal_id,
                        &other.card,
                        other.amount,
                        other.currency,
                    ) == (
                        &record.terminal_id,
                        &record.card,
                        record.amount,
                        record.currency,
                    )
            };
            !members[&group_of(record)].iter().any(|&u| is_repeated(u))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // `&[record.clone()]` reads like the other rows of a table
mod tests {
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    use super::Outcome::*;
    use super::Rule::*;
    use super::*;
    use crate::testkit::*;

    thread_local! {
        /// Makes every digest the same, so each index lookup finds every
        /// record. Results must not change: they may only depend on the
        /// fields compared. Per thread (and passed on by `join`), so the
        /// tests running beside the one that sets it are not affected.
        pub(super) static EVERY_DIGEST_COLLIDES: std::cell::Cell<bool> =
            const { std::cell::Cell::new(false) };
    }

    #[test]
    fn outcomes_are_listed_in_declaration_order() {
        for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome as usize, i, "{outcome}");
        }
    }

    #[test]
    fn results_do_not_depend_on_digests() {
        EVERY_DIGEST_COLLIDES.set(true);
        let outcome = std::panic::catch_unwind(|| {
            exact_pass_cases();
            recurring_trace_in_the_next_batch_is_not_a_duplicate();
            recurring_trace_with_the_same_card_and_amount_pairs_by_time();
            an_rrn_shared_by_several_sales_is_ignored();
            second_settlement_of_one_rrn_is_a_duplicate();
            void_cases();
            suspected_duplicate_cases();
        });
        EVERY_DIGEST_COLLIDES.set(false);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// One record's expected outcome, and its partner on the other side with
    /// the rule that paired them.
    type Want = (Outcome, Option<(usize, Rule)>);

    fn policy_with_tolerance(minor: i64) -> Policy {
        Policy {
            amount_tolerance: fen(minor),
            ..Policy::default()
        }
    }

    /// Maps a result computed on reversed inputs back to the original indices.
    fn unreverse(result: Reconciliation, terminals: usize, banks: usize) -> Reconciliation {
        let t = |i: usize| terminals - 1 - i;
        let b = |i: usize| banks - 1 - i;
        let link = |link: Link, back: &dyn Fn(usize) -> usize| {
            link.get().map_or(Link::NONE, |i| Link::to(back(i)))
        };
        let paired = |pair: Option<(u32, Rule)>, back: &dyn Fn(usize) -> usize| {
            pair.map(|(i, rule)| (Link::to(back(i as usize)).0, rule))
        };
        let keys = |map: HashMap<usize, usize>, back: &dyn Fn(usize) -> usize| {
            map.into_iter().map(|(i, n)| (back(i), n)).collect()
        };
        Reconciliation {
            terminal: result
                .terminal
                .into_iter()
                .rev()
                .map(|r| TerminalResult {
                    settlement: paired(r.settlement, &b),
                    void_partner: link(r.void_partner, &t),
                    duplicate_of: link(r.duplicate_of, &t),
                    ..r
                })
                .collect(),
            bank: result
                .bank
                .into_iter()
                .rev()
                .map(|r| BankResult {
                    terminal: paired(r.terminal, &t),
                    duplicate_of: link(r.duplicate_of, &b),
                    ..r
                })
                .collect(),
            orphan_reasons: result
                .orphan_reasons
                .into_iter()
                .map(|(v, reason)| {
                    let reason = match reason {
                        OrphanReason::AlreadyVoided(first) => OrphanReason::AlreadyVoided(t(first)),
                        other => other,
                    };
                    (t(v), reason)
                })
                .collect(),
            terminal_ambiguous: keys(result.terminal_ambiguous, &t),
            bank_ambiguous: keys(result.bank_ambiguous, &b),
            expected_fees: result
                .expected_fees
                .into_iter()
                .map(|(i, fee)| (b(i), fee))
                .collect(),
            earlier_voids: result
                .earlier_voids
                .into_iter()
                .map(|(i, void)| (t(i), void))
                .collect(),
            earlier_duplicates: result
                .earlier_duplicates
                .into_iter()
                .map(|(i, repeats)| (t(i), repeats))
                .collect(),
        }
    }

    /// Reconciles the night as given and reversed, and checks that the order
    /// of the inputs changed nothing (SPEC §3).
    #[track_caller]
    fn run(
        terminal: &[TerminalRecord],
        bank: &[Settlement],
        policy: &Policy,
        as_of: &str,
    ) -> Reconciliation {
        let forward = reconcile(terminal, bank, policy, at(as_of));
        let terminal_reversed: Vec<TerminalRecord> = terminal.iter().rev().cloned().collect();
        let bank_reversed: Vec<Settlement> = bank.iter().rev().cloned().collect();
        let backward = reconcile(&terminal_reversed, &bank_reversed, policy, at(as_of));
        assert_eq!(
            unreverse(backward, terminal.len(), bank.len()),
            forward,
            "the result depends on the order of the inputs"
        );
        forward
    }

    /// Reconciles as of `AS_OF` and checks every record's outcome and partner.
    #[track_caller]
    fn case(
        terminal: &[TerminalRecord],
        bank: &[Settlement],
        policy: &Policy,
        want_terminal: &[Want],
        want_bank: &[Want],
    ) -> Reconciliation {
        let result = run(terminal, bank, policy, AS_OF);
        let got_terminal: Vec<Want> = result
            .terminal
            .iter()
            .map(|r| (r.outcome, r.settlement()))
            .collect();
        let got_bank: Vec<Want> = result
            .bank
            .iter()
            .map(|r| (r.outcome, r.terminal()))
            .collect();
        assert_eq!(got_terminal, want_terminal, "terminal side");
        assert_eq!(got_bank, want_bank, "bank side");
        result
    }

    #[test]
    fn exact_pass_cases() {
        let policy = Policy::default();
        let with_rrn = sale_rrn("001204", "632708446859", "2026-11-23 08:32:10", 9600);
        let without_rrn = sale("001204", "2026-11-23 08:32:10", 9600);
        // Settlements that only an exact rule can find: other card, hours away.
        let far = |record: &TerminalRecord| Settlement {
            card: card(OTHER_CARD),
            txn_time: at("2026-11-23 15:00:00"),
            ..settled(record)
        };
        let unpaired: (&[Want], &[Want]) = (&[(Unsettled, None)], &[(BankOnly, None)]);

        // Same rrn pairs although trace, batch, time and card all differ.
        case(
            &[with_rrn.clone()],
            &[Settlement {
                trace_no: "991204".into(),
                batch_no: id("000999"),
                ..far(&with_rrn)
            }],
            &policy,
            &[(Matched, Some((0, ExactRrn)))],
            &[(Matched, Some((0, ExactRrn)))],
        );
        // The bank row has no rrn: merchant + terminal + trace + date.
        case(
            &[with_rrn.clone()],
            &[Settlement {
                rrn: None,
                ..far(&with_rrn)
            }],
            &policy,
            &[(Matched, Some((0, ExactKey)))],
            &[(Matched, Some((0, ExactKey)))],
        );
        // The terminal record has no rrn, the bank row has one.
        case(
            &[without_rrn.clone()],
            &[Settlement {
                rrn: id("632708446859"),
                ..far(&without_rrn)
            }],
            &policy,
            &[(Matched, Some((0, ExactKey)))],
            &[(Matched, Some((0, ExactKey)))],
        );
        // The bank row leaves batch_no empty: the key needs no batch.
        case(
            &[without_rrn.clone()],
            &[Settlement {
                batch_no: None,
                ..far(&without_rrn)
            }],
            &policy,
            &[(Matched, Some((0, ExactKey)))],
            &[(Matched, Some((0, ExactKey)))],
        );
        // Both carry a batch and they differ: no key match.
        case(
            &[without_rrn.clone()],
            &[Settlement {
                batch_no: id("000232"),
                ..far(&without_rrn)
            }],
            &policy,
            unpaired.0,
            unpaired.1,
        );
        // Both carry an rrn and they differ: the key is not consulted.
        case(
            &[with_rrn.clone()],
            &[Settlement {
                rrn: id("632708000000"),
                ..far(&with_rrn)
            }],
            &policy,
            unpaired.0,
            unpaired.1,
        );
        // Same key on another date.
        case(
            &[without_rrn.clone()],
            &[Settlement {
                txn_time: at("2026-11-24 08:32:10"),
                ..far(&without_rrn)
            }],
            &policy,
            unpaired.0,
            unpaired.1,
        );
        // Same terminal and trace, another merchant.
        case(
            &[without_rrn.clone()],
            &[Settlement {
                merchant_id: OTHER_MERCHANT.into(),
                ..far(&without_rrn)
            }],
            &policy,
            unpaired.0,
            unpaired.1,
        );
        // A REFUND never pairs with a settled SALE, even under its rrn.
        let refund = TerminalRecord {
            txn_type: TxnType::Refund,
            ..with_rrn.clone()
        };
        case(
            &[refund],
            &[settled(&with_rrn)],
            &policy,
            unpaired.0,
            unpaired.1,
        );
    }

    /// A trace number that recurs in the next batch is not a second settlement
    /// of the first sale: each sale keeps its own settlement.
    #[test]
    fn recurring_trace_in_the_next_batch_is_not_a_duplicate() {
        let policy = Policy::default();
        let first = sale_rrn("000101", "632700000001", "2026-11-23 22:58:00", 3500);
        let second = TerminalRecord {
            batch_no: "000232".into(),
            card: card(OTHER_CARD),
            ..sale("000101", "2026-11-23 23:02:00", 12850)
        };
        let second_settled = Settlement {
            batch_no: None,
            ..settled(&second)
        };
        case(
            &[first.clone(), second],
            &[settled(&first), second_settled],
            &policy,
            &[
                (Matched, Some((0, ExactRrn))),
                (Matched, Some((1, ExactKey))),
            ],
            &[
                (Matched, Some((0, ExactRrn))),
                (Matched, Some((1, ExactKey))),
            ],
        );
    }

    /// The same trace in the next batch, same card and amount, six hours
    /// later, neither with an rrn and the bank without batches: each sale
    /// keeps its own settlement, chosen by time.
    #[test]
    fn recurring_trace_with_the_same_card_and_amount_pairs_by_time() {
        let policy = Policy::default();
        let morning = sale("000101", "2026-11-23 09:00:00", 2000);
        let afternoon = TerminalRecord {
            batch_no: "000232".into(),
            ..sale("000101", "2026-11-23 15:00:00", 2000)
        };
        let unbatched = |r: &TerminalRecord| Settlement {
            batch_no: None,
            ..settled(r)
        };
        for bank in [
            [unbatched(&morning), unbatched(&afternoon)],
            [unbatched(&afternoon), unbatched(&morning)],
        ] {
            let result = run(&[morning.clone(), afternoon.clone()], &bank, &policy, AS_OF);
            let outcomes: Vec<Outcome> = result.bank.iter().map(|r| r.outcome).collect();
            assert_eq!(outcomes, [Matched, Matched]);
            for (t, record) in [&morning, &afternoon].into_iter().enumerate() {
                let (b, rule) = result.terminal[t].settlement().unwrap();
                assert_eq!((bank[b].txn_time, rule), (record.txn_time, ExactKey));
            }
        }
    }

    /// The same trace in two batches of one day, and one settlement without
    /// a batch: the record its rrn names takes it, though the other comes
    /// first in canonical order and matches it by terminal + trace.
    #[test]
    fn a_settlement_goes_to_the_record_its_rrn_names_before_any_by_trace() {
        let morning = TerminalRecord {
            card: card(OTHER_CARD),
            ..sale("000005", "2026-11-23 09:00:00", 2000)
        };
        let afternoon = TerminalRecord {
            batch_no: "000232".into(),
            ..sale_rrn("000005", "633012000009", "2026-11-23 15:00:00", 2000)
        };
        afternoon_takes_the_unbatched_settlement(morning, afternoon, ExactRrn);
    }

    /// The same trace in two batches of one day, and the afternoon's
    /// settlement without a batch: the afternoon's record takes it by `rule`,
    /// the morning's is left UNSETTLED.
    #[track_caller]
    fn afternoon_takes_the_unbatched_settlement(
        morning: TerminalRecord,
        afternoon: TerminalRecord,
        rule: Rule,
    ) {
        let unbatched = Settlement {
            batch_no: None,
            ..settled(&afternoon)
        };
        case(
            &[morning, afternoon],
            &[unbatched],
            &Policy::default(),
            &[(Unsettled, None), (Matched, Some((0, rule)))],
            &[(Matched, Some((1, rule)))],
        );
    }

    /// The same, without rrns: the record that agrees with the settlement on
    /// amount and time takes it, not the first in canonical order whose
    /// amount differs (a false AMOUNT_MISMATCH, and the right one UNSETTLED).
    #[test]
    fn a_settlement_goes_to_the_record_that_agrees_on_amount_and_time() {
        let morning = sale("000005", "2026-11-23 09:00:00", 1000);
        let afternoon = TerminalRecord {
            batch_no: "000232".into(),
            card: card(OTHER_CARD),
            ..sale("000005", "2026-11-23 15:00:00", 2000)
        };
        afternoon_takes_the_unbatched_settlement(morning, afternoon, ExactKey);
    }

    /// A placeholder rrn shared by several terminal records identifies none
    /// of them: they pair by terminal + trace instead, and no settlement is
    /// taken for a duplicate of another sale's.
    #[test]
    fn an_rrn_shared_by_several_sales_is_ignored() {
        let policy = Policy::default();
        let placeholder = "000000000000";
        let sales: Vec<TerminalRecord> = (1..=3)
            .map(|i| {
                let time = format!("2026-11-23 1{i}:00:00");
                sale_rrn(
                    &format!("00010{i}"),
                    placeholder,
                    &time,
                    1000 * i64::from(i),
                )
            })
            .collect();
        let bank: Vec<Settlement> = sales.iter().map(settled).collect();
        let result = run(&sales, &bank, &policy, AS_OF);
        for (t, r) in result.terminal.iter().enumerate() {
            assert_eq!(r.outcome, Matched);
            let (b, rule) = r.settlement().unwrap();
            assert_eq!(
                (bank[b].trace_no.as_str(), rule),
                (sales[t].trace_no.as_str(), ExactKey)
            );
        }
        assert!(result.bank.iter().all(|r| r.outcome == Matched));
    }

    #[test]
    fn second_settlement_of_one_rrn_is_a_duplicate() {
        let policy = Policy::default();
        let record = sale_rrn("008828", "632714387684", "2026-11-23 14:36:02", 21900);
        let right = settled(&record);
        // Sorts first (smaller amount), yet the one with the equal amount wins.
        let wrong = for_amount(settled(&record), 2190);
        let result = case(
            &[record.clone()],
            &[wrong.clone(), right.clone()],
            &policy,
            &[(Matched, Some((1, ExactRrn)))],
            &[(DuplicateSettlement, None), (Matched, Some((0, ExactRrn)))],
        );
        assert_eq!(result.bank[0].duplicate_of(), Some(1));
        // Also when the wrong one is settled a day earlier.
        let earlier_wrong = Settlement {
            settle_date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            ..wrong
        };
        case(
            &[record.clone()],
            &[right.clone(), earlier_wrong],
            &policy,
            &[(Matched, Some((0, ExactRrn)))],
            &[(Matched, Some((0, ExactRrn))), (DuplicateSettlement, None)],
        );
        // Two that fit equally: the one settled first wins, wherever it is
        // in the file.
        let settled_later = Settlement {
            settle_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            ..right.clone()
        };
        case(
            &[record.clone()],
            &[settled_later, right.clone()],
            &policy,
            &[(Matched, Some((1, ExactRrn)))],
            &[(DuplicateSettlement, None), (Matched, Some((0, ExactRrn)))],
        );
        // The same settlement twice (one copy without batch_no): one of each.
        let result = run(
            &[record],
            &[
                right.clone(),
                Settlement {
                    batch_no: None,
                    ..right
                },
            ],
            &policy,
            AS_OF,
        );
        let mut outcomes: Vec<Outcome> = result.bank.iter().map(|r| r.outcome).collect();
        outcomes.sort();
        assert_eq!(outcomes, [Matched, DuplicateSettlement]);
        assert_eq!(result.terminal[0].outcome, Matched);
    }

    #[test]
    fn tolerant_pass_cases() {
        let policy = Policy::default();
        let record = sale_rrn("001213", "632712936029", "2026-11-23 12:14:26", 5700);
        // No rrn, another trace, same terminal, card and amount, 3 min later.
        case(
            &[record.clone()],
            &[untraceable(&record, "991911", "2026-11-23 12:17:26")],
            &policy,
            &[(Matched, Some((0, Tolerant)))],
            &[(Matched, Some((0, Tolerant)))],
        );
        // 10 min 1 s away: outside the time tolerance.
        case(
            &[record.clone()],
            &[untraceable(&record, "991911", "2026-11-23 12:24:27")],
            &policy,
            &[(Unsettled, None)],
            &[(BankOnly, None)],
        );
        // Another card, or another terminal.
        for other in [
            Settlement {
                card: card(OTHER_CARD),
                ..untraceable(&record, "991911", "2026-11-23 12:17:26")
            },
            Settlement {
                terminal_id: OTHER_TERMINAL.into(),
                ..untraceable(&record, "991911", "2026-11-23 12:17:26")
            },
        ] {
            case(
                &[record.clone()],
                &[other],
                &policy,
                &[(Unsettled, None)],
                &[(BankOnly, None)],
            );
        }

        // Closest first: 10:05↔10:04 (1 min) pairs before 10:00↔10:04 (4 min),
        // which leaves 10:00↔10:09. Five minutes apart: not duplicates.
        let first = sale("000101", "2026-11-23 10:00:00", 3500);
        let second = sale("000102", "2026-11-23 10:05:00", 3500);
        case(
            &[first.clone(), second.clone()],
            &[
                untraceable(&first, "990001", "2026-11-23 10:04:00"),
                untraceable(&first, "990002", "2026-11-23 10:09:00"),
            ],
            &policy,
            &[
                (Matched, Some((1, Tolerant))),
                (Matched, Some((0, Tolerant))),
            ],
            &[
                (Matched, Some((1, Tolerant))),
                (Matched, Some((0, Tolerant))),
            ],
        );
        // A tie that a closer pair already resolved is no tie: 10:04↔10:04:30
        // pairs first, then 10:00 is the only candidate left for 10:02.
        case(
            &[first.clone(), sale("000102", "2026-11-23 10:04:00", 3500)],
            &[
                untraceable(&first, "990001", "2026-11-23 10:02:00"),
                untraceable(&first, "990002", "2026-11-23 10:04:30"),
            ],
            &policy,
            &[
                (Matched, Some((0, Tolerant))),
                (Matched, Some((1, Tolerant))),
            ],
            &[
                (Matched, Some((0, Tolerant))),
                (Matched, Some((1, Tolerant))),
            ],
        );
    }

    #[test]
    fn tolerant_pass_does_not_guess_between_equal_candidates() {
        let policy = Policy::default();
        // Two terminal sales 2 min either side of one bank row.
        let first = sale("004416", "2026-11-23 10:00:00", 3500);
        let second = sale("004417", "2026-11-23 10:04:00", 3500);
        let result = case(
            &[first.clone(), second],
            &[untraceable(&first, "962862", "2026-11-23 10:02:00")],
            &policy,
            &[(Unsettled, None), (Unsettled, None)],
            &[(BankOnly, None)],
        );
        let ambiguous: Vec<Option<usize>> = (0..result.terminal.len())
            .map(|t| result.terminal_ambiguous(t))
            .collect();
        assert_eq!(ambiguous, [Some(2), Some(2)]);
        assert_eq!(result.bank_ambiguous(0), Some(2));

        // One terminal sale, two bank rows 2 min either side.
        let result = case(
            &[first.clone()],
            &[
                untraceable(&first, "962861", "2026-11-23 09:58:00"),
                untraceable(&first, "962862", "2026-11-23 10:02:00"),
            ],
            &policy,
            &[(Unsettled, None)],
            &[(BankOnly, None), (BankOnly, None)],
        );
        assert_eq!(result.terminal_ambiguous(0), Some(2));
        let ambiguous: Vec<Option<usize>> = (0..result.bank.len())
            .map(|b| result.bank_ambiguous(b))
            .collect();
        assert_eq!(ambiguous, [Some(2), Some(2)]);

        // A paired record is never marked ambiguous.
        let result = case(
            &[first.clone()],
            &[untraceable(&first, "962862", "2026-11-23 10:02:00")],
            &policy,
            &[(Matched, Some((0, Tolerant)))],
            &[(Matched, Some((0, Tolerant)))],
        );
        assert_eq!(result.terminal_ambiguous(0), None);
        assert_eq!(result.bank_ambiguous(0), None);
    }

    /// Settlements are worked out in chunks (of 3 in these tests): each
    /// gets its own outcome and partner, whichever chunk it falls in.
    #[test]
    fn every_chunk_of_settlements_gets_its_own_outcomes() {
        let records: Vec<TerminalRecord> = (0..8)
            .map(|i| {
                sale_rrn(
                    &format!("00120{i}"),
                    &format!("63271187971{i}"),
                    "2026-11-23 11:26:14",
                    5700 + i,
                )
            })
            .collect();
        // Every third settled for another amount, the last one's record
        // never settled, and one settlement of no record.
        let mut bank: Vec<Settlement> = records[..7]
            .iter()
            .enumerate()
            .map(|(i, r)| match i % 3 {
                2 => for_amount(settled(r), 1),
                _ => settled(r),
            })
            .collect();
        bank.push(Settlement {
            rrn: Some("632700000999".into()),
            trace_no: "009999".into(),
            card: card(OTHER_CARD),
            ..settled(&records[0])
        });
        let paired = |i: usize, outcome| (outcome, Some((i, ExactRrn)));
        let want_bank: Vec<Want> = (0..7)
            .map(|i| paired(i, if i % 3 == 2 { AmountMismatch } else { Matched }))
            .chain([(BankOnly, None)])
            .collect();
        let want_terminal: Vec<Want> = (0..7)
            .map(|i| paired(i, if i % 3 == 2 { AmountMismatch } else { Matched }))
            .chain([(Unsettled, None)])
            .collect();
        case(
            &records,
            &bank,
            &Policy::default(),
            &want_terminal,
            &want_bank,
        );
    }

    #[test]
    fn amount_tolerance_and_currency_cases() {
        let record = sale_rrn("001212", "632711879714", "2026-11-23 11:26:14", 5700);
        let mismatch = (
            [(AmountMismatch, Some((0, ExactRrn)))],
            [(AmountMismatch, Some((0, ExactRrn)))],
        );
        let matched = (
            [(Matched, Some((0, ExactRrn)))],
            [(Matched, Some((0, ExactRrn)))],
        );
        #[track_caller]
        fn amount_case(
            record: &TerminalRecord,
            tolerance: i64,
            bank_minor: i64,
            want: &([Want; 1], [Want; 1]),
        ) {
            case(
                &[record.clone()],
                &[for_amount(settled(record), bank_minor)],
                &policy_with_tolerance(tolerance),
                &want.0,
                &want.1,
            );
        }
        amount_case(&record, 0, 5700, &matched);
        amount_case(&record, 0, 5701, &mismatch);
        amount_case(&record, 0, 57000, &mismatch);
        amount_case(&record, 5, 5705, &matched);
        amount_case(&record, 5, 5695, &matched);
        amount_case(&record, 5, 5706, &mismatch);
        amount_case(&record, 5, 5694, &mismatch);

        // Same amount, another currency: never equal, whatever the tolerance.
        let usd = Currency::from_code("USD").unwrap();
        for tolerance in [0, 100] {
            case(
                &[record.clone()],
                &[Settlement {
                    currency: usd,
                    ..settled(&record)
                }],
                &policy_with_tolerance(tolerance),
                &mismatch.0,
                &mismatch.1,
            );
        }

        // In the tolerant pass the tolerance decides whether they pair at all.
        let near =
            |minor: i64| for_amount(untraceable(&record, "991911", "2026-11-23 11:29:14"), minor);
        case(
            &[record.clone()],
            &[near(5703)],
            &policy_with_tolerance(5),
            &[(Matched, Some((0, Tolerant)))],
            &[(Matched, Some((0, Tolerant)))],
        );
        case(
            &[record.clone()],
            &[near(5706)],
            &policy_with_tolerance(5),
            &[(Unsettled, None)],
            &[(BankOnly, None)],
        );
        case(
            &[record.clone()],
            &[Settlement {
                currency: usd,
                ..near(5700)
            }],
            &policy_with_tolerance(5),
            &[(Unsettled, None)],
            &[(BankOnly, None)],
        );
    }

    #[test]
    fn void_cases() {
        let policy = Policy::default();
        let sold = sale_rrn("001208", "632709769028", "2026-11-23 09:41:07", 4600);
        let voided = void("001209", "2026-11-23 09:49:50", &sold);

        // Voided and, correctly, not settled.
        let result = case(
            &[sold.clone(), voided.clone()],
            &[],
            &policy,
            &[(Voided, None), (VoidApplied, None)],
            &[],
        );
        assert_eq!(result.terminal[0].void_partner(), Some(1));
        assert_eq!(result.terminal[1].void_partner(), Some(0));

        // Voided, yet settled: both sides say so; the VOID itself is applied.
        let result = case(
            &[sold.clone(), voided.clone()],
            &[settled(&sold)],
            &policy,
            &[(VoidedButSettled, Some((0, ExactRrn))), (VoidApplied, None)],
            &[(VoidedButSettled, Some((0, ExactRrn)))],
        );
        assert_eq!(result.terminal[0].void_partner(), Some(1));

        // The VOID names a trace that is not in its batch: the SALE stands.
        let elsewhere = TerminalRecord {
            batch_no: "000232".into(),
            ..void("001209", "2026-11-23 09:49:50", &sold)
        };
        let missing = TerminalRecord {
            orig_trace_no: id("015507"),
            ..voided.clone()
        };
        for orphan in [missing, elsewhere] {
            let result = case(
                &[sold.clone(), orphan],
                &[],
                &policy,
                &[(Unsettled, None), (OrphanVoid, None)],
                &[],
            );
            assert_eq!(result.orphan_reason(1), Some(OrphanReason::NotInBatch));
            assert_eq!(result.terminal[1].void_partner(), None);
        }

        // A VOID for another amount cancels nothing (voids are full amount).
        let partial = TerminalRecord {
            amount: fen(2300),
            ..voided.clone()
        };
        let result = case(
            &[sold.clone(), partial],
            &[],
            &policy,
            &[(Unsettled, None), (OrphanVoid, None)],
            &[],
        );
        assert_eq!(
            result.orphan_reason(1),
            Some(OrphanReason::AmountDiffers(fen(4600), Currency::CNY))
        );

        // A second VOID of the same SALE is an orphan.
        let result = case(
            &[
                sold.clone(),
                voided.clone(),
                void("001210", "2026-11-23 09:50:10", &sold),
            ],
            &[],
            &policy,
            &[(Voided, None), (VoidApplied, None), (OrphanVoid, None)],
            &[],
        );
        assert_eq!(
            result.orphan_reason(2),
            Some(OrphanReason::AlreadyVoided(1))
        );
    }

    /// An earlier run's verdict stands while tonight holds no sale the
    /// record could repeat; where it holds one, tonight's detection decides
    /// (a voided sale is no original).
    #[test]
    fn earlier_duplicates_stand_only_without_the_sale_repeated() {
        const VERDICT: &str =
            "same card, amount and terminal as trace 004412 at 08:47:12, 40 s earlier (run 1)";
        assert_eq!(crate::explain::repeated_sale(VERDICT), Some(("004412", 40)));
        let policy = Policy::default();
        let original = sale_rrn("004412", "632708987300", "2026-11-23 08:47:12", 3600);
        let repeat = TerminalRecord {
            trace_no: "004413".into(),
            rrn: id("632708102622"),
            txn_time: at("2026-11-23 08:47:52"),
            ..original.clone()
        };
        let with = |terminal: &[TerminalRecord], repeated: usize| {
            let earlier = Earlier {
                duplicates: [(repeated, VERDICT.to_string())].into_iter().collect(),
                ..Earlier::default()
            };
            let bank = [settled(&repeat)];
            let index = BankIndex::new(&bank);
            let result = reconcile_indexed(terminal, &bank, index, &policy, at(AS_OF), earlier);
            let outcomes: Vec<Outcome> = result.terminal.iter().map(|r| r.outcome).collect();
            (outcomes, result.earlier_duplicate(repeated).is_some())
        };
        // Alone: still a SUSPECTED_DUPLICATE, saying what it repeats.
        assert_eq!(with(&[repeat.clone()], 0), (vec![SuspectedDuplicate], true));
        // With the sale it repeats: tonight decides, the same.
        assert_eq!(
            with(&[original.clone(), repeat.clone()], 1),
            (vec![Unsettled, SuspectedDuplicate], false)
        );
        // With that sale voided: no duplicate.
        let voiding = void("004414", "2026-11-23 08:50:00", &original);
        assert_eq!(
            with(&[original.clone(), voiding, repeat.clone()], 2),
            (vec![Voided, VoidApplied, Matched], false)
        );
        // With another sale of the group voided, but not the one repeated:
        // the verdict stands.
        let other = TerminalRecord {
            trace_no: "004411".into(),
            rrn: id("632708102600"),
            txn_time: at("2026-11-23 08:47:30"),
            ..original.clone()
        };
        let other_void = void("004415", "2026-11-23 08:50:00", &other);
        assert_eq!(
            with(&[other, other_void, repeat.clone()], 2),
            (vec![Voided, VoidApplied, SuspectedDuplicate], true)
        );
    }

    #[test]
    fn suspected_duplicate_cases() {
        let policy = Policy::default();
        let earlier = sale_rrn("004412", "632708987300", "2026-11-23 08:47:12", 3600);
        let later = |time: &str| TerminalRecord {
            trace_no: "004413".into(),
            rrn: id("632708102622"),
            txn_time: at(time),
            ..earlier.clone()
        };
        let forty_seconds = later("2026-11-23 08:47:52");
        let three_minutes = later("2026-11-23 08:50:12");

        // Both settled: reported on the later one only, which keeps its settlement.
        let result = case(
            &[earlier.clone(), forty_seconds.clone()],
            &[settled(&earlier), settled(&forty_seconds)],
            &policy,
            &[
                (Matched, Some((0, ExactRrn))),
                (SuspectedDuplicate, Some((1, ExactRrn))),
            ],
            &[
                (Matched, Some((0, ExactRrn))),
                (Matched, Some((1, ExactRrn))),
            ],
        );
        assert_eq!(result.terminal[1].duplicate_of(), Some(0));
        assert_eq!(result.terminal[0].duplicate_of(), None);
        // Neither settled.
        case(
            &[earlier.clone(), forty_seconds.clone()],
            &[],
            &policy,
            &[(Unsettled, None), (SuspectedDuplicate, None)],
            &[],
        );
        // Three minutes later: outside the 2 minute window.
        case(
            &[earlier.clone(), three_minutes.clone()],
            &[settled(&earlier), settled(&three_minutes)],
            &policy,
            &[
                (Matched, Some((0, ExactRrn))),
                (Matched, Some((1, ExactRrn))),
            ],
            &[
                (Matched, Some((0, ExactRrn))),
                (Matched, Some((1, ExactRrn))),
            ],
        );
        // Another card, amount or terminal is another purchase.
        for other in [
            TerminalRecord {
                card: card(OTHER_CARD),
                ..forty_seconds.clone()
            },
            TerminalRecord {
                amount: fen(3700),
                ..forty_seconds.clone()
            },
            TerminalRecord {
                terminal_id: OTHER_TERMINAL.into(),
                ..forty_seconds.clone()
            },
        ] {
            case(
                &[earlier.clone(), other],
                &[],
                &policy,
                &[(Unsettled, None), (Unsettled, None)],
                &[],
            );
        }

        // A voided double swipe is the terminal working as intended, whichever
        // of the two was voided.
        case(
            &[
                earlier.clone(),
                forty_seconds.clone(),
                void("004414", "2026-11-23 08:48:30", &forty_seconds),
            ],
            &[settled(&earlier)],
            &policy,
            &[
                (Matched, Some((0, ExactRrn))),
                (Voided, None),
                (VoidApplied, None),
            ],
            &[(Matched, Some((0, ExactRrn)))],
        );
        case(
            &[
                earlier.clone(),
                forty_seconds.clone(),
                void("004414", "2026-11-23 08:48:30", &earlier),
            ],
            &[],
            &policy,
            &[(Voided, None), (Unsettled, None), (VoidApplied, None)],
            &[],
        );
    }

    #[test]
    fn pending_until_the_settlement_lag_is_over() {
        #[track_caller]
        fn case(policy: &Policy, as_of: &str, time: &str, want: Outcome, business_day: &str) {
            let result = run(&[sale("000101", time, 1000)], &[], policy, as_of);
            assert_eq!(result.terminal[0].outcome, want);
            assert_eq!(result.terminal[0].business_day.to_string(), business_day);
        }
        let lag_1 = Policy::default();
        let lag_2 = Policy {
            settlement_lag_days: 2,
            ..Policy::default()
        };
        let evening = "2026-11-24 22:00:00";
        case(
            &lag_1,
            evening,
            "2026-11-23 10:00:00",
            Unsettled,
            "2026-11-23",
        );
        case(
            &lag_1,
            evening,
            "2026-11-23 22:59:59",
            Unsettled,
            "2026-11-23",
        );
        // At or after the 23:00 cutoff a sale belongs to the next business day.
        case(
            &lag_1,
            evening,
            "2026-11-23 23:00:00",
            Pending,
            "2026-11-24",
        );
        case(
            &lag_1,
            evening,
            "2026-11-23 23:30:00",
            Pending,
            "2026-11-24",
        );
        case(
            &lag_1,
            evening,
            "2026-11-24 10:00:00",
            Pending,
            "2026-11-24",
        );
        // Just after midnight the previous day is already over.
        case(
            &lag_1,
            "2026-11-24 00:00:01",
            "2026-11-23 10:00:00",
            Unsettled,
            "2026-11-23",
        );
        // As of 23:30 it is business day 2026-11-25.
        let late = "2026-11-24 23:30:00";
        case(&lag_1, late, "2026-11-23 23:30:00", Unsettled, "2026-11-24");
        case(&lag_1, late, "2026-11-24 10:00:00", Unsettled, "2026-11-24");
        case(&lag_1, late, "2026-11-24 23:10:00", Pending, "2026-11-25");
        // A longer lag keeps it pending a day longer.
        case(
            &lag_2,
            evening,
            "2026-11-23 10:00:00",
            Pending,
            "2026-11-23",
        );
        case(
            &lag_2,
            evening,
            "2026-11-22 23:30:00",
            Pending,
            "2026-11-23",
        );
        case(
            &lag_2,
            evening,
            "2026-11-22 10:00:00",
            Unsettled,
            "2026-11-22",
        );
    }

    #[test]
    fn fee_mismatch_cases() {
        let rate = |merchant: &str, rate: Decimal| {
            let mut policy = Policy::default();
            policy.fee_rates.by_merchant.insert(merchant.into(), rate);
            policy
        };
        let standard = Decimal::new(38, 4); // 0.38 %
        let contracted = rate(MERCHANT, standard);
        let for_everyone = Policy {
            fee_rates: crate::policy::FeeRates {
                default: Some(standard),
                ..Default::default()
            },
            ..Policy::default()
        };
        let for_someone_else = rate(OTHER_MERCHANT, standard);

        #[track_caller]
        fn fee_case(
            policy: &Policy,
            record: &TerminalRecord,
            fee: i64,
            want: Outcome,
            expected_fee: Option<i64>,
        ) {
            let result = case(
                &[record.clone()],
                &[with_fee(settled(record), fee)],
                policy,
                &[(Matched, Some((0, ExactRrn)))],
                &[(want, Some((0, ExactRrn)))],
            );
            assert_eq!(result.expected_fee(0), expected_fee.map(fen));
        }

        let purchase = sale_rrn("001222", "632715601547", "2026-11-23 15:08:51", 10000);
        // No rate configured: any fee is accepted.
        fee_case(&Policy::default(), &purchase, 100, Matched, None);
        fee_case(&for_someone_else, &purchase, 100, Matched, None);
        // 100.00 at 0.38 % is 0.38.
        fee_case(&contracted, &purchase, 100, FeeMismatch, Some(38));
        fee_case(&contracted, &purchase, 0, FeeMismatch, Some(38));
        fee_case(&contracted, &purchase, 38, Matched, None);
        fee_case(&for_everyone, &purchase, 100, FeeMismatch, Some(38));
        fee_case(&for_everyone, &purchase, 38, Matched, None);
        // Half a fen rounds up: 75.00 at 0.38 % is 0.285, so 0.29.
        let half = sale_rrn("004436", "632716175902", "2026-11-23 16:31:27", 7500);
        fee_case(&contracted, &half, 29, Matched, None);
        fee_case(&contracted, &half, 28, FeeMismatch, Some(29));
        // PREAUTH_COMPLETE is a purchase too.
        let completion = TerminalRecord {
            txn_type: TxnType::PreauthComplete,
            ..purchase.clone()
        };
        fee_case(&contracted, &completion, 100, FeeMismatch, Some(38));
        // A REFUND settles without a fee: never a FEE_MISMATCH.
        let refund = TerminalRecord {
            txn_type: TxnType::Refund,
            ..purchase.clone()
        };
        fee_case(&contracted, &refund, 0, Matched, None);
        fee_case(&for_everyone, &refund, 0, Matched, None);
    }

    proptest::proptest! {
        /// The keyed sort of settlements gives the order a stable sort by
        /// `settlement_order` gives: settlements in one second, of one
        /// merchant, of terminals alike in their first bytes, and identical;
        /// in year 0 (negative days), and in a leap second (a file's `:60`).
        #[test]
        fn settlements_sort_in_their_full_order(
            rows in proptest::collection::vec(
                (0..3usize, 0..3u32, 0..4usize, 0..3usize, 0..4usize, 0..3u8, 0..3i64),
                0..40,
            )
        ) {
            const MERCHANTS: [&str; 3] = ["898310058120001", "898310058120002", "998310058120001"];
            const TERMINALS: [&str; 4] = ["31000101", "31000102", "3A000101", "41000101"];
            const DAYS: [(i32, u32, u32); 3] = [(0, 1, 1), (2026, 11, 24), (2026, 11, 25)];
            // 2^24 needs all four bytes; 10^9 and more is a leap second.
            const NANOS: [u32; 4] = [0, 1, 1 << 24, 1_000_000_000];
            let bank: Vec<Settlement> = rows
                .iter()
                .map(|&(day, second, nanos, merchant, terminal, trace, amount)| {
                    let mut s = settled(&sale(&format!("00000{trace}"), "2026-11-23 10:00:00", 100 + amount));
                    let (year, month, date) = DAYS[day];
                    s.settle_date = NaiveDate::from_ymd_opt(year, month, date).unwrap();
                    // Seconds that may be followed by a leap second.
                    let seconds = [86_399, 35_999, 59][second as usize];
                    let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(seconds, NANOS[nanos]).unwrap();
                    s.txn_time = NaiveDateTime::new(NaiveDate::from_ymd_opt(year, month, date).unwrap() - chrono::Days::new(u64::from(second)), time);
                    s.merchant_id = MERCHANTS[merchant].into();
                    s.terminal_id = TERMINALS[terminal].into();
                    s
                })
                .collect();
            let mut want: Vec<usize> = (0..bank.len()).collect();
            want.sort_by(|&a, &b| settlement_order(&bank[a], &bank[b]));
            proptest::prop_assert_eq!(sort_bank(&bank), want);
        }
    }
}
