//! Property tests of whole runs through the library: small random nights are
//! written as canonical CSV files, reconciled by `posrecon::reconcile`, and the
//! outputs are checked against SPEC §3 and §4 — every record accounted for
//! exactly once, control totals that balance, and outputs that do not depend
//! on the order of the input rows.
//!
//! The generator keeps to few terminals, cards, amounts and close times, so
//! the tolerant pass, its ties, suspected duplicates and duplicate
//! settlements really happen; every field obeys the strict readers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, TimeDelta};
use proptest::prelude::*;
use serde_json::Value;

use posrecon::matching::Outcome;
use posrecon::policy::{DuplicatePolicy, Policy};
use posrecon::report::Summary;
use posrecon::totals::Side;

const TERMINAL_HEADER: &str = "merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,currency,card_no,orig_trace_no,orig_rrn";
const BANK_HEADER: &str = "settle_date,merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,fee,net_amount,currency,card_no";
const MERCHANT_HEADER: &str = "merchant_id,merchant_name,void_enabled,refund_enabled,fee_rate";
const CARD_STATUS_HEADER: &str = "card_no,status";
const CANCELLATION_HEADER: &str = "request_ref,merchant_id,merchant_name,terminal_id,trace_no,rrn,txn_time,amount,refund_amount,reason,customer_consent";

/// (merchant_id, terminal_id); the first two share a merchant.
const TERMINALS: [(&str, &str); 3] = [
    ("898310058120001", "31000101"),
    ("898310058120001", "31000102"),
    ("898330154110002", "3300020A"),
];
const CARDS: [&str; 2] = ["622848******1234", "621700******8662"];
/// The merchants of `TERMINALS`, with their names in the merchants file.
const MERCHANTS: [(&str, &str); 2] = [
    ("898310058120001", "上海静安咖啡有限公司"),
    ("898330154110002", "杭州西湖书店"),
];
const CARD_STATES: [&str; 4] = ["NORMAL", "LOST", "FROZEN", "CANCELLED"];
/// Amounts in fen.
const AMOUNTS: [i64; 3] = [1000, 3500, 12850];
/// Where the captures of a night bunch up: a morning, the 23:00 cutoff, and
/// the next morning (PENDING as of the evening of 2026-11-24).
const CLUSTERS: [&str; 3] = [
    "2026-11-23 10:00:00",
    "2026-11-23 22:55:00",
    "2026-11-24 09:00:00",
];
const AS_OF: &str = "2026-11-24 22:00:00";
/// Every file a run writes besides `summary.json`.
const CSV_OUTPUTS: [&str; 8] = [
    "exceptions.csv",
    "pending.csv",
    "matches.csv",
    "void_requests.csv",
    "refund_instructions.csv",
    "disputes.csv",
    "rejected_cancellations.csv",
    "rejected_rows.csv",
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Sale,
    PreauthComplete,
    Refund,
    /// The VOID of an earlier record of the night (whatever its type).
    Void,
    /// A VOID naming a trace that does not exist.
    OrphanVoid,
    /// A SALE repeating the previous purchase's terminal, card, amount and
    /// currency `2 * half_gap` seconds later; when `midway`, the bank settles
    /// it untraceably halfway between the two, so neither can claim it.
    Repeat {
        half_gap: i64,
        midway: bool,
    },
}

/// What the bank does with a captured transaction.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Settled,
    Dropped,
    /// Settled for this many fen more.
    AmountRaised(i64),
    /// Settled twice, identically.
    Duplicated,
    /// Settled without rrn, under another trace (`100 + trace % 60`, which may
    /// belong to another record) and this many seconds later or earlier.
    Untraceable {
        shift: i64,
        trace: usize,
    },
    /// Settled in the other currency.
    CurrencyChanged,
    /// Settled untraceably twice, `shift` seconds before and after.
    Straddled {
        shift: i64,
        trace: usize,
    },
}

/// How a settlement row is written.
#[derive(Debug, Clone, Copy)]
struct BankShape {
    blank_batch: bool,
    fee: i64,
    /// Index into the spellings of its currency.
    spelling: usize,
    second_file: bool,
}

/// One captured transaction and its fate.
#[derive(Debug, Clone)]
struct Capture {
    terminal: usize,
    card: usize,
    amount: usize,
    cluster: usize,
    offset: i64,
    kind: Kind,
    /// For a VOID: which earlier record it cancels, modulo their number;
    /// for a midway Repeat: the trace its settlement gets.
    target: usize,
    has_rrn: bool,
    /// `""`, `CNY`, `156` or `USD` as written on the terminal.
    currency: &'static str,
    second_file: bool,
    fate: Fate,
    bank: BankShape,
}

/// A settlement with no terminal record behind it.
#[derive(Debug, Clone)]
struct BankOnly {
    terminal: usize,
    card: usize,
    amount: usize,
    cluster: usize,
    offset: i64,
    refund: bool,
    /// None: no rrn; Some(even): a fresh one; Some(odd): reuse a terminal rrn.
    rrn: Option<usize>,
    trace: usize,
    bank: BankShape,
}

/// A detail a cancellation request gets wrong on purpose.
#[derive(Debug, Clone, Copy)]
enum Wrong {
    Nothing,
    /// 1.00 more than the original.
    Amount,
    /// A minute later than the original.
    Time,
    /// Another merchant's name.
    MerchantName,
    /// Another terminal (with the same trace number).
    Terminal,
}

/// A merchant's cancellation request for one of the night's terminal rows.
#[derive(Debug, Clone)]
struct RequestSpec {
    /// Which terminal row it names, modulo their number (any type).
    target: usize,
    /// Name a purchase of business day 2026-11-24 that the bank dropped
    /// (still voidable as of `AS_OF`) instead, when there is one.
    open_batch: bool,
    /// Name it by rrn when the row has one; otherwise by terminal + trace.
    by_rrn: bool,
    /// Quarters of the amount to refund; `None` leaves refund_amount empty.
    quarters: Option<i64>,
    /// Give the merchant's name (`Wrong::MerchantName` always gives one).
    named: bool,
    consent: &'static str,
    wrong: Wrong,
    /// Makes the order of `request_ref`s differ from the order of the rows.
    tag: usize,
}

/// One line of the merchants file.
#[derive(Debug, Clone, Copy)]
struct MerchantSpec {
    void_enabled: bool,
    refund_enabled: bool,
    /// Contract the fee rate 0.38 % (most generated fees then mismatch).
    fee_rate: bool,
}

/// The optional reference files and the policy of a night.
#[derive(Debug, Clone)]
struct ReferenceSpec {
    /// `None`: no merchants file. Per merchant of `MERCHANTS`, `None` leaves
    /// it out of the file.
    merchants: Option<Vec<Option<MerchantSpec>>>,
    /// `None`: no card status file. Per card of `CARDS`, an index into
    /// `CARD_STATES`, or `None` to leave it out.
    cards: Option<Vec<Option<usize>>>,
    requests: Vec<RequestSpec>,
    /// `suspected_duplicates = cancel` rather than `flag`.
    cancel_duplicates: bool,
}

#[derive(Debug, Clone)]
struct NightSpec {
    captures: Vec<Capture>,
    bank_only: Vec<BankOnly>,
    two_terminal_files: bool,
    two_bank_files: bool,
    shuffle_seed: u64,
    references: ReferenceSpec,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        8 => Just(Kind::Sale),
        1 => Just(Kind::PreauthComplete),
        2 => Just(Kind::Refund),
        2 => Just(Kind::Void),
        1 => Just(Kind::OrphanVoid),
        2 => (1i64..=6, any::<bool>()).prop_map(|(n, midway)| Kind::Repeat { half_gap: n * 30, midway }),
    ]
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Settled),
        3 => Just(Fate::Dropped),
        1 => (1i64..=2000).prop_map(Fate::AmountRaised),
        1 => Just(Fate::Duplicated),
        3 => (-12i64..=12, 0usize..60).prop_map(|(n, trace)| Fate::Untraceable { shift: n * 30, trace }),
        1 => Just(Fate::CurrencyChanged),
        1 => (1i64..=10, 0usize..60).prop_map(|(n, trace)| Fate::Straddled { shift: n * 30, trace }),
    ]
}

fn bank_shape() -> impl Strategy<Value = BankShape> {
    (
        prop::bool::weighted(0.15),
        0i64..=60,
        0usize..3,
        any::<bool>(),
    )
        .prop_map(|(blank_batch, fee, spelling, second_file)| BankShape {
            blank_batch,
            fee,
            spelling,
            second_file,
        })
}

fn capture() -> impl Strategy<Value = Capture> {
    (
        (
            0..TERMINALS.len(),
            0..CARDS.len(),
            0..AMOUNTS.len(),
            0..CLUSTERS.len(),
            (0i64..=12).prop_map(|n| n * 30),
        ),
        (
            kind(),
            0usize..64,
            prop::bool::weighted(0.7),
            prop_oneof![3 => Just(""), 3 => Just("CNY"), 1 => Just("156"), 1 => Just("USD")],
            any::<bool>(),
        ),
        (fate(), bank_shape()),
    )
        .prop_map(
            |(
                (terminal, card, amount, cluster, offset),
                (kind, target, has_rrn, currency, second_file),
                (fate, bank),
            )| Capture {
                terminal,
                card,
                amount,
                cluster,
                offset,
                kind,
                target,
                has_rrn,
                currency,
                second_file,
                fate,
                bank,
            },
        )
}

fn bank_only() -> impl Strategy<Value = BankOnly> {
    (
        (
            0..TERMINALS.len(),
            0..CARDS.len(),
            0..AMOUNTS.len(),
            0..CLUSTERS.len(),
            (0i64..=12).prop_map(|n| n * 30),
        ),
        (
            prop::bool::weighted(0.2),
            prop::option::of(0usize..64),
            0usize..60,
            bank_shape(),
        ),
    )
        .prop_map(
            |((terminal, card, amount, cluster, offset), (refund, rrn, trace, bank))| BankOnly {
                terminal,
                card,
                amount,
                cluster,
                offset,
                refund,
                rrn,
                trace,
                bank,
            },
        )
}

fn request() -> impl Strategy<Value = RequestSpec> {
    (
        (0usize..64, prop::bool::weighted(0.5)),
        prop::bool::weighted(0.7),
        prop::option::weighted(0.5, 1i64..=4),
        any::<bool>(),
        prop_oneof![6 => Just("yes"), 1 => Just("YES"), 1 => Just("no"), 1 => Just("")],
        prop_oneof![
            8 => Just(Wrong::Nothing),
            1 => Just(Wrong::Amount),
            1 => Just(Wrong::Time),
            1 => Just(Wrong::MerchantName),
            1 => Just(Wrong::Terminal),
        ],
        0usize..10,
    )
        .prop_map(
            |((target, open_batch), by_rrn, quarters, named, consent, wrong, tag)| RequestSpec {
                target,
                open_batch,
                by_rrn,
                quarters,
                named,
                consent,
                wrong,
                tag,
            },
        )
}

fn references() -> impl Strategy<Value = ReferenceSpec> {
    let merchant = (
        prop::bool::weighted(0.75),
        prop::bool::weighted(0.75),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(void_enabled, refund_enabled, fee_rate)| MerchantSpec {
            void_enabled,
            refund_enabled,
            fee_rate,
        });
    (
        prop::option::weighted(
            0.7,
            prop::collection::vec(prop::option::weighted(0.85, merchant), MERCHANTS.len()),
        ),
        prop::option::weighted(
            0.5,
            prop::collection::vec(
                prop::option::weighted(
                    0.8,
                    prop_oneof![5 => Just(0usize), 1 => Just(1), 1 => Just(2), 1 => Just(3)],
                ),
                CARDS.len(),
            ),
        ),
        prop::collection::vec(request(), 0..=12),
        any::<bool>(),
    )
        .prop_map(
            |(merchants, cards, requests, cancel_duplicates)| ReferenceSpec {
                merchants,
                cards,
                requests,
                cancel_duplicates,
            },
        )
}

fn night() -> impl Strategy<Value = NightSpec> {
    (
        prop::collection::vec(capture(), 0..=40),
        prop::collection::vec(bank_only(), 0..=8),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        references(),
    )
        .prop_map(
            |(
                captures,
                bank_only,
                two_terminal_files,
                two_bank_files,
                shuffle_seed,
                references,
            )| {
                NightSpec {
                    captures,
                    bank_only,
                    two_terminal_files,
                    two_bank_files,
                    shuffle_seed,
                    references,
                }
            },
        )
}

/// One data row of a terminal batch file, as written.
#[derive(Debug, Clone)]
struct TerminalRow {
    file: usize,
    merchant_id: String,
    terminal_id: String,
    batch_no: String,
    trace_no: String,
    rrn: String,
    txn_type: &'static str,
    txn_time: NaiveDateTime,
    amount: i64,
    /// As written (may be empty or numeric).
    currency: &'static str,
    card: &'static str,
    orig_trace_no: String,
    /// For a REFUND: the rrn of the purchase it returns money for, or empty.
    orig_rrn: String,
    auth_code: String,
}

impl TerminalRow {
    fn line(&self) -> String {
        [
            self.merchant_id.as_str(),
            &self.terminal_id,
            &self.batch_no,
            &self.trace_no,
            &self.rrn,
            &self.auth_code,
            self.txn_type,
            &time_text(self.txn_time),
            &money(self.amount),
            self.currency,
            self.card,
            &self.orig_trace_no,
            &self.orig_rrn,
        ]
        .join(",")
    }

    fn is_usd(&self) -> bool {
        self.currency == "USD"
    }
}

/// One data row of a bank settlement file, as written.
#[derive(Debug, Clone)]
struct BankRow {
    file: usize,
    merchant_id: String,
    terminal_id: String,
    batch_no: String,
    trace_no: String,
    rrn: String,
    txn_type: &'static str,
    txn_time: NaiveDateTime,
    amount: i64,
    fee: i64,
    usd: bool,
    spelling: usize,
    card: &'static str,
}

impl BankRow {
    fn currency_written(&self) -> &'static str {
        if self.usd {
            ["USD", "840", "usd"][self.spelling]
        } else {
            ["", "CNY", "156"][self.spelling]
        }
    }

    fn line(&self) -> String {
        [
            "2026-11-24",
            &self.merchant_id,
            &self.terminal_id,
            &self.batch_no,
            &self.trace_no,
            &self.rrn,
            "",
            self.txn_type,
            &time_text(self.txn_time),
            &money(self.amount),
            &money(self.fee),
            &money(self.amount - self.fee),
            self.currency_written(),
            self.card,
        ]
        .join(",")
    }

    /// What `exceptions.csv` shows of this row, to find it there.
    fn shown(&self) -> BankKey {
        (
            self.merchant_id.clone(),
            self.terminal_id.clone(),
            self.batch_no.clone(),
            self.trace_no.clone(),
            self.rrn.clone(),
            self.txn_type.to_string(),
            time_text(self.txn_time),
            money(self.amount),
            if self.usd { "USD" } else { "CNY" }.to_string(),
        )
    }
}

/// mid, tid, batch, trace, rrn, type, time, amount, currency of a settlement.
type BankKey = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn time_text(time: NaiveDateTime) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn at(raw: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S").unwrap()
}

/// The batch of a capture: one per terminal and business day (cutoff 23:00).
fn batch_of(time: NaiveDateTime) -> String {
    let day = (time + TimeDelta::hours(1)).date();
    match day.to_string().as_str() {
        "2026-11-23" => "000231",
        "2026-11-24" => "000232",
        other => panic!("no batch for business day {other}"),
    }
    .to_string()
}

/// Builds the rows of a night from its specification.
fn build(spec: &NightSpec) -> (Vec<TerminalRow>, Vec<BankRow>) {
    // Each batch numbers its traces from 000100, as terminals do after a
    // settlement, so a trace number recurs in the next batch.
    let mut next_trace: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut new_trace = |terminal_id: &str, batch_no: &str| {
        let next = next_trace
            .entry((terminal_id.to_string(), batch_no.to_string()))
            .or_insert(100);
        *next += 1;
        format!("{:06}", *next - 1)
    };
    let mut terminal: Vec<TerminalRow> = Vec::new();
    // For a midway Repeat: where (seconds from its own time) the bank settles it.
    let mut settled_at: Vec<Option<i64>> = Vec::new();
    for (n, capture) in spec.captures.iter().enumerate() {
        let file = usize::from(spec.two_terminal_files && capture.second_file);
        let rrn = if capture.has_rrn {
            format!("6327{n:08}")
        } else {
            String::new()
        };
        let auth_code = format!("{:06}", (n * 7919) % 1_000_000);
        let previous_purchase = terminal
            .iter()
            .rev()
            .find(|r| matches!(r.txn_type, "SALE" | "PREAUTH_COMPLETE"))
            .cloned();
        let refundable: Vec<&TerminalRow> = terminal
            .iter()
            .filter(|r| matches!(r.txn_type, "SALE" | "PREAUTH_COMPLETE") && !r.rrn.is_empty())
            .collect();
        let mut midway = None;
        let row = match (capture.kind, terminal.is_empty(), previous_purchase) {
            (Kind::Void, false, _) => {
                let target = terminal[capture.target % terminal.len()].clone();
                TerminalRow {
                    file,
                    trace_no: new_trace(&target.terminal_id, &target.batch_no),
                    rrn,
                    txn_type: "VOID",
                    txn_time: target.txn_time + TimeDelta::seconds(1 + capture.offset % 300),
                    orig_trace_no: target.trace_no.clone(),
                    orig_rrn: String::new(),
                    auth_code,
                    ..target
                }
            }
            // Two REFUNDs in three name an earlier purchase with an rrn, for a
            // quarter to all of its amount (so several may over-refund it).
            (Kind::Refund, _, _) if capture.target % 3 != 0 && !refundable.is_empty() => {
                let sale = refundable[capture.target % refundable.len()].clone();
                let txn_time = sale.txn_time + TimeDelta::seconds(1 + capture.offset % 300);
                let quarters = 1 + (capture.offset / 30) % 4;
                TerminalRow {
                    file,
                    batch_no: batch_of(txn_time),
                    trace_no: new_trace(&sale.terminal_id, &batch_of(txn_time)),
                    rrn,
                    txn_type: "REFUND",
                    txn_time,
                    amount: sale.amount * quarters / 4,
                    orig_trace_no: String::new(),
                    orig_rrn: sale.rrn.clone(),
                    auth_code,
                    ..sale
                }
            }
            (
                Kind::Repeat {
                    half_gap,
                    midway: m,
                },
                _,
                Some(previous),
            ) => {
                let txn_time = previous.txn_time + TimeDelta::seconds(2 * half_gap);
                midway = m.then_some(-half_gap);
                TerminalRow {
                    file,
                    batch_no: batch_of(txn_time),
                    trace_no: new_trace(&previous.terminal_id, &batch_of(txn_time)),
                    rrn,
                    txn_type: "SALE",
                    txn_time,
                    orig_rrn: String::new(),
                    auth_code,
                    ..previous
                }
            }
            (kind, _, _) => {
                let (merchant_id, terminal_id) = TERMINALS[capture.terminal];
                let txn_time = at(CLUSTERS[capture.cluster]) + TimeDelta::seconds(capture.offset);
                let (txn_type, orig_trace_no) = match kind {
                    Kind::PreauthComplete => ("PREAUTH_COMPLETE", String::new()),
                    Kind::Refund => ("REFUND", String::new()),
                    Kind::OrphanVoid => ("VOID", "099999".to_string()),
                    // A VOID or Repeat with nothing before it is a plain SALE.
                    Kind::Sale | Kind::Void | Kind::Repeat { .. } => ("SALE", String::new()),
                };
                TerminalRow {
                    file,
                    merchant_id: merchant_id.to_string(),
                    terminal_id: terminal_id.to_string(),
                    batch_no: batch_of(txn_time),
                    trace_no: new_trace(terminal_id, &batch_of(txn_time)),
                    rrn,
                    txn_type,
                    txn_time,
                    amount: AMOUNTS[capture.amount],
                    currency: capture.currency,
                    card: CARDS[capture.card],
                    orig_trace_no,
                    orig_rrn: String::new(),
                    auth_code,
                }
            }
        };
        terminal.push(row);
        settled_at.push(midway);
    }

    let bank_file = |shape: &BankShape| usize::from(spec.two_bank_files && shape.second_file);
    let mut bank: Vec<BankRow> = Vec::new();
    for ((capture, record), midway) in spec.captures.iter().zip(&terminal).zip(&settled_at) {
        if record.txn_type == "VOID" {
            continue;
        }
        let shape = capture.bank;
        let settled = BankRow {
            file: bank_file(&shape),
            merchant_id: record.merchant_id.clone(),
            terminal_id: record.terminal_id.clone(),
            batch_no: if shape.blank_batch {
                String::new()
            } else {
                record.batch_no.clone()
            },
            trace_no: record.trace_no.clone(),
            rrn: record.rrn.clone(),
            txn_type: record.txn_type,
            txn_time: record.txn_time,
            amount: record.amount,
            fee: if record.txn_type == "REFUND" {
                0
            } else {
                shape.fee
            },
            usd: record.is_usd(),
            spelling: shape.spelling,
            card: record.card,
        };
        let untraceable = |shift: i64, trace: usize| BankRow {
            rrn: String::new(),
            trace_no: format!("{:06}", 100 + trace),
            txn_time: settled.txn_time + TimeDelta::seconds(shift),
            ..settled.clone()
        };
        if let Some(shift) = midway {
            bank.push(untraceable(*shift, capture.target));
            continue;
        }
        match capture.fate {
            Fate::Settled => bank.push(settled),
            Fate::Dropped => {}
            Fate::AmountRaised(more) => bank.push(BankRow {
                amount: settled.amount + more,
                ..settled
            }),
            Fate::Duplicated => {
                bank.push(settled.clone());
                bank.push(settled);
            }
            Fate::Untraceable { shift, trace } => bank.push(untraceable(shift, trace)),
            Fate::Straddled { shift, trace } => {
                bank.push(untraceable(-shift, trace));
                bank.push(untraceable(shift, trace + 1));
            }
            Fate::CurrencyChanged => bank.push(BankRow {
                usd: !settled.usd,
                ..settled
            }),
        }
    }
    let rrns: Vec<&str> = terminal
        .iter()
        .map(|r| r.rrn.as_str())
        .filter(|rrn| !rrn.is_empty())
        .collect();
    for (n, extra) in spec.bank_only.iter().enumerate() {
        let (merchant_id, terminal_id) = TERMINALS[extra.terminal];
        let txn_time = at(CLUSTERS[extra.cluster]) + TimeDelta::seconds(extra.offset);
        let rrn = match extra.rrn {
            None => String::new(),
            Some(k) if k % 2 == 1 && !rrns.is_empty() => rrns[k % rrns.len()].to_string(),
            Some(_) => format!("6399{n:08}"),
        };
        let amount = AMOUNTS[extra.amount];
        bank.push(BankRow {
            file: bank_file(&extra.bank),
            merchant_id: merchant_id.to_string(),
            terminal_id: terminal_id.to_string(),
            batch_no: if extra.bank.blank_batch {
                String::new()
            } else {
                batch_of(txn_time)
            },
            trace_no: format!("{:06}", 100 + extra.trace),
            rrn,
            txn_type: if extra.refund { "REFUND" } else { "SALE" },
            txn_time,
            amount,
            fee: if extra.refund { 0 } else { extra.bank.fee },
            usd: false,
            spelling: extra.bank.spelling,
            card: CARDS[extra.card],
        });
    }
    (terminal, bank)
}

/// A cancellation request as written.
#[derive(Debug, Clone)]
struct RequestRow {
    request_ref: String,
    line: String,
}

/// The night's cancellation requests: each names one of its terminal rows
/// (perhaps a VOID or REFUND, perhaps with a detail wrong on purpose).
fn requests_of(spec: &NightSpec, terminal: &[TerminalRow]) -> Vec<RequestRow> {
    if terminal.is_empty() {
        return Vec::new();
    }
    let name_of = |merchant_id: &str| {
        MERCHANTS
            .iter()
            .find(|(m, _)| *m == merchant_id)
            .map_or("", |(_, name)| *name)
    };
    let open: Vec<&TerminalRow> = terminal
        .iter()
        .zip(&spec.captures)
        .filter(|(r, c)| {
            matches!(c.fate, Fate::Dropped)
                && r.batch_no == "000232"
                && matches!(r.txn_type, "SALE" | "PREAUTH_COMPLETE")
        })
        .map(|(r, _)| r)
        .collect();
    spec.references
        .requests
        .iter()
        .enumerate()
        .map(|(n, request)| {
            let target = if request.open_batch && !open.is_empty() {
                open[request.target % open.len()]
            } else {
                &terminal[request.target % terminal.len()]
            };
            let request_ref = format!("CR{}{n:02}", request.tag);
            let merchant_name = match request.wrong {
                Wrong::MerchantName => "北京朝阳便利店",
                _ if request.named => name_of(&target.merchant_id),
                _ => "",
            };
            let other_terminal = TERMINALS
                .iter()
                .map(|(_, t)| *t)
                .find(|t| *t != target.terminal_id)
                .unwrap();
            let terminal_id = match request.wrong {
                Wrong::Terminal => other_terminal,
                _ => &target.terminal_id,
            };
            let by_rrn = request.by_rrn && !target.rrn.is_empty();
            // By rrn, half of them also give terminal + trace.
            let (terminal_id, trace_no, rrn) = if !by_rrn {
                (terminal_id, target.trace_no.as_str(), "")
            } else if request.tag % 2 == 0 || matches!(request.wrong, Wrong::Terminal) {
                (terminal_id, target.trace_no.as_str(), target.rrn.as_str())
            } else {
                ("", "", target.rrn.as_str())
            };
            let amount = target.amount
                + if matches!(request.wrong, Wrong::Amount) {
                    100
                } else {
                    0
                };
            let time = target.txn_time
                + TimeDelta::seconds(if matches!(request.wrong, Wrong::Time) {
                    60
                } else {
                    0
                });
            let refund = request
                .quarters
                .map_or(String::new(), |q| money(target.amount * q / 4));
            let line = [
                request_ref.as_str(),
                &target.merchant_id,
                merchant_name,
                terminal_id,
                trace_no,
                rrn,
                &time_text(time),
                &money(amount),
                &refund,
                "customer changed mind",
                request.consent,
            ]
            .join(",");
            RequestRow { request_ref, line }
        })
        .collect()
}

/// The lines of the merchants and card status files, when the night has them.
fn reference_lines(spec: &NightSpec) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let flag = |on: bool| if on { "yes" } else { "no" };
    let merchants = spec.references.merchants.as_ref().map(|list| {
        list.iter()
            .zip(MERCHANTS)
            .filter_map(|(m, (merchant_id, name))| {
                m.map(|m| {
                    format!(
                        "{merchant_id},{name},{},{},{}",
                        flag(m.void_enabled),
                        flag(m.refund_enabled),
                        if m.fee_rate { "0.0038" } else { "" }
                    )
                })
            })
            .collect()
    });
    let cards = spec.references.cards.as_ref().map(|list| {
        list.iter()
            .zip(CARDS)
            .filter_map(|(state, card)| state.map(|s| format!("{card},{}", CARD_STATES[s])))
            .collect()
    });
    (merchants, cards)
}

/// A night's input files on disk.
struct Inputs {
    dir: tempfile::TempDir,
    terminal: Vec<PathBuf>,
    bank: Vec<PathBuf>,
    merchants: Option<PathBuf>,
    card_status: Option<PathBuf>,
    cancellations: Option<PathBuf>,
    policy: Policy,
}

/// Writes each file's rows under its header, in the order `arrange` gives.
fn write_files(
    dir: &Path,
    prefix: &str,
    header: &str,
    files: usize,
    lines: &[(usize, String)],
    arrange: &mut dyn FnMut(&mut Vec<String>),
) -> Vec<PathBuf> {
    (0..files)
        .map(|file| {
            let mut rows: Vec<String> = lines
                .iter()
                .filter(|(f, _)| *f == file)
                .map(|(_, line)| line.clone())
                .collect();
            arrange(&mut rows);
            let mut text = format!("{header}\n");
            for row in rows {
                text.push_str(&row);
                text.push('\n');
            }
            let path = dir.join(format!("{prefix}-{}.csv", file + 1));
            fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

impl Inputs {
    fn new(spec: &NightSpec, terminal: &[TerminalRow], bank: &[BankRow]) -> Inputs {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy {
            suspected_duplicates: if spec.references.cancel_duplicates {
                DuplicatePolicy::Cancel
            } else {
                DuplicatePolicy::Flag
            },
            ..Policy::default()
        };
        let mut inputs = Inputs {
            dir,
            terminal: Vec::new(),
            bank: Vec::new(),
            merchants: None,
            card_status: None,
            cancellations: None,
            policy,
        };
        inputs.write(spec, terminal, bank, &mut |_| {});
        inputs
    }

    /// (Re)writes every input file, rows arranged by `arrange`.
    fn write(
        &mut self,
        spec: &NightSpec,
        terminal: &[TerminalRow],
        bank: &[BankRow],
        arrange: &mut dyn FnMut(&mut Vec<String>),
    ) {
        let terminal_lines: Vec<(usize, String)> =
            terminal.iter().map(|r| (r.file, r.line())).collect();
        let bank_lines: Vec<(usize, String)> = bank.iter().map(|r| (r.file, r.line())).collect();
        self.terminal = write_files(
            self.dir.path(),
            "terminal",
            TERMINAL_HEADER,
            1 + usize::from(spec.two_terminal_files),
            &terminal_lines,
            arrange,
        );
        self.bank = write_files(
            self.dir.path(),
            "bank",
            BANK_HEADER,
            1 + usize::from(spec.two_bank_files),
            &bank_lines,
            arrange,
        );
        let mut one_file = |name: &str, header: &str, lines: Vec<String>| {
            let numbered: Vec<(usize, String)> = lines.into_iter().map(|l| (0, l)).collect();
            write_files(self.dir.path(), name, header, 1, &numbered, arrange).remove(0)
        };
        let (merchants, cards) = reference_lines(spec);
        self.merchants = merchants.map(|lines| one_file("merchants", MERCHANT_HEADER, lines));
        self.card_status = cards.map(|lines| one_file("cards", CARD_STATUS_HEADER, lines));
        let requests = requests_of(spec, terminal);
        self.cancellations = (!requests.is_empty()).then(|| {
            let lines = requests.into_iter().map(|r| r.line).collect();
            one_file("requests", CANCELLATION_HEADER, lines)
        });
    }

    /// Runs the real pipeline into `out` (a folder inside the input folder).
    fn reconcile(&self, out: &str) -> (Summary, PathBuf) {
        let out_dir = self.dir.path().join(out);
        let config = posrecon::Config {
            terminal: self.terminal.clone(),
            bank: self.bank.clone(),
            merchants: self.merchants.clone(),
            card_status: self.card_status.clone(),
            cancellations: self.cancellations.clone(),
            policy: self.policy.clone(),
            as_of: at(AS_OF),
            as_of_given: true,
            out_dir: out_dir.clone(),
            write_matches: true,
            xlsx: false,
            csv_bom: false,
            ledger: None,
            rerun: false,
            terminal_profiles: Default::default(),
            bank_profiles: Default::default(),
            max_rejects: 0,
        };
        let summary = posrecon::reconcile(&config)
            .unwrap_or_else(|err| panic!("the generated night was refused: {err:#}"));
        (summary, out_dir)
    }
}

/// The rows of an output CSV file, each as column name → cell.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            header
                .iter()
                .zip(record.iter())
                .map(|(name, cell)| (name.to_string(), cell.to_string()))
                .collect()
        })
        .collect()
}

fn minor(amount: &str) -> i64 {
    posrecon::read::parse_amount(amount)
        .unwrap_or_else(|err| panic!("amount {amount:?}: {err}"))
        .minor()
}

fn outcome_named(name: &str) -> Outcome {
    *Outcome::ALL
        .iter()
        .find(|o| o.as_str() == name)
        .unwrap_or_else(|| panic!("unknown outcome {name:?}"))
}

/// A terminal record's identity: terminal, batch, trace.
fn identity(row: &BTreeMap<String, String>) -> (String, String, String) {
    (
        row["terminal_id"].clone(),
        row["batch_no"].clone(),
        row["trace_no"].clone(),
    )
}

/// Count and amount (fen) per outcome.
type Tallies = BTreeMap<Outcome, (u64, i64)>;

fn tally(tallies: &mut Tallies, outcome: Outcome, amount: i64) {
    let entry = tallies.entry(outcome).or_default();
    entry.0 += 1;
    entry.1 += amount;
}

/// The summary's tallies of one side, without empty outcomes.
fn summary_tallies(summary: &Summary, side: Side) -> Tallies {
    Outcome::ALL
        .iter()
        .map(|&o| (o, summary.totals.get(side, o)))
        .filter(|(_, t)| t.count > 0)
        .map(|(o, t)| (o, (t.count, t.amount.minor())))
        .collect()
}

/// Property (a): each record sits in exactly the outputs its outcome says,
/// and the outputs agree with the summary's counts and amounts.
fn check_every_record_is_accounted_for(
    terminal: &[TerminalRow],
    bank: &[BankRow],
    summary: &Summary,
    out: &Path,
) {
    let matches = read_csv(&out.join("matches.csv"));
    let exceptions = read_csv(&out.join("exceptions.csv"));
    let pending = read_csv(&out.join("pending.csv"));

    // matches.csv: one row per terminal record, each exactly once.
    assert_eq!(matches.len(), terminal.len(), "rows in matches.csv");
    let mut outcome_of: BTreeMap<(String, String, String), Outcome> = BTreeMap::new();
    let mut from_matches = Tallies::new();
    for row in &matches {
        let outcome = outcome_named(&row["outcome"]);
        assert!(
            outcome_of.insert(identity(row), outcome).is_none(),
            "{:?} appears twice in matches.csv",
            identity(row)
        );
        tally(&mut from_matches, outcome, minor(&row["amount"]));
    }
    let written: BTreeSet<_> = terminal
        .iter()
        .map(|r| {
            (
                r.terminal_id.clone(),
                r.batch_no.clone(),
                r.trace_no.clone(),
            )
        })
        .collect();
    assert_eq!(
        outcome_of.keys().cloned().collect::<BTreeSet<_>>(),
        written,
        "terminal records in matches.csv"
    );
    assert_eq!(
        from_matches,
        summary_tallies(summary, Side::Terminal),
        "terminal outcomes in matches.csv vs the summary"
    );

    // exceptions.csv and pending.csv: each exception or PENDING terminal
    // record exactly once, with the outcome matches.csv gives it.
    for (file, rows, wanted) in [
        (
            "exceptions.csv",
            &exceptions,
            &Outcome::is_exception as &dyn Fn(Outcome) -> bool,
        ),
        ("pending.csv", &pending, &|o: Outcome| o == Outcome::Pending),
    ] {
        let mut seen: BTreeMap<(String, String, String), Outcome> = BTreeMap::new();
        for row in rows.iter().filter(|r| r["side"] == "terminal") {
            let outcome = outcome_named(&row["outcome"]);
            assert!(
                seen.insert(identity(row), outcome).is_none(),
                "{:?} appears twice in {file}",
                identity(row)
            );
        }
        let expected: BTreeMap<_, _> = outcome_of
            .iter()
            .filter(|(_, o)| wanted(**o))
            .map(|(k, o)| (k.clone(), *o))
            .collect();
        assert_eq!(seen, expected, "terminal records in {file}");
    }
    assert!(
        pending
            .iter()
            .all(|r| r["side"] == "terminal" && r["outcome"] == "PENDING"),
        "pending.csv holds only PENDING terminal records"
    );

    // Bank side: every settlement that is not MATCHED is one row of
    // exceptions.csv, and that row is one of the input rows.
    let mut unclaimed: BTreeMap<BankKey, u64> = BTreeMap::new();
    for row in bank {
        *unclaimed.entry(row.shown()).or_default() += 1;
    }
    let mut from_exceptions = Tallies::new();
    for row in exceptions.iter().filter(|r| r["side"] == "bank") {
        let outcome = outcome_named(&row["outcome"]);
        assert!(outcome.is_exception(), "{outcome} in exceptions.csv");
        let key: BankKey = (
            row["merchant_id"].clone(),
            row["terminal_id"].clone(),
            row["batch_no"].clone(),
            row["trace_no"].clone(),
            row["rrn"].clone(),
            row["txn_type"].clone(),
            row["txn_time"].clone(),
            row["bank_amount"].clone(),
            row["currency"].clone(),
        );
        let left = unclaimed
            .get_mut(&key)
            .filter(|n| **n > 0)
            .unwrap_or_else(|| panic!("exceptions.csv has a bank row not in the input: {key:?}"));
        *left -= 1;
        tally(&mut from_exceptions, outcome, minor(&row["bank_amount"]));
    }
    let matched_count: u64 = unclaimed.values().sum();
    let matched_amount: i64 = unclaimed
        .iter()
        .map(|(key, n)| minor(&key.7) * i64::try_from(*n).unwrap())
        .sum();
    if matched_count > 0 {
        from_exceptions.insert(Outcome::Matched, (matched_count, matched_amount));
    }
    assert_eq!(
        from_exceptions,
        summary_tallies(summary, Side::Bank),
        "bank outcomes in exceptions.csv (the rest MATCHED) vs the summary"
    );

    // Pairing is one to one: as many paired terminal records as paired settlements.
    let paired_terminal = matches.iter().filter(|r| !r["rule"].is_empty()).count() as u64;
    let paired_bank: u64 = [
        Outcome::Matched,
        Outcome::AmountMismatch,
        Outcome::FeeMismatch,
        Outcome::VoidedButSettled,
    ]
    .iter()
    .map(|&o| summary.totals.get(Side::Bank, o).count)
    .sum();
    assert_eq!(paired_terminal, paired_bank, "paired records per side");

    // And the counts add up to the rows written.
    let count = |side| -> u64 { summary_tallies(summary, side).values().map(|t| t.0).sum() };
    assert_eq!(count(Side::Terminal), terminal.len() as u64);
    assert_eq!(count(Side::Bank), bank.len() as u64);
}

/// Property (b): in `summary.json`, per side and per file, the outcomes add up
/// to the rows and amount read.
fn check_control_totals_balance(terminal: &[TerminalRow], bank: &[BankRow], out: &Path) {
    let json: Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let number = |v: &Value| v.as_u64().unwrap();
    let amount = |v: &Value| minor(v.as_str().unwrap());
    for (kind, side, rows_written, amount_written, files_written) in [
        (
            "terminal",
            "terminal",
            terminal.len() as u64,
            terminal.iter().map(|r| r.amount).sum::<i64>(),
            terminal.iter().map(|r| r.file).collect::<Vec<_>>(),
        ),
        (
            "bank",
            "bank",
            bank.len() as u64,
            bank.iter().map(|r| r.amount).sum::<i64>(),
            bank.iter().map(|r| r.file).collect::<Vec<_>>(),
        ),
    ] {
        let inputs: Vec<&Value> = json["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == kind)
            .collect();
        let rows_in: u64 = inputs.iter().map(|i| number(&i["rows"])).sum();
        let amount_in: i64 = inputs.iter().map(|i| amount(&i["amount"])).sum();
        assert_eq!(
            (rows_in, amount_in),
            (rows_written, amount_written),
            "{kind} inputs in summary.json vs the rows written"
        );
        for (file, input) in inputs.iter().enumerate() {
            let written = files_written.iter().filter(|f| **f == file).count() as u64;
            assert_eq!(
                number(&input["rows"]),
                written,
                "rows of {kind} file {file}"
            );
            let outcomes = input["outcomes"].as_object().unwrap();
            let out_rows: u64 = outcomes.values().map(|t| number(&t["count"])).sum();
            let out_amount: i64 = outcomes.values().map(|t| amount(&t["amount"])).sum();
            assert_eq!(
                (out_rows, out_amount),
                (number(&input["rows"]), amount(&input["amount"])),
                "outcomes of {kind} file {file}"
            );
        }
        let outcomes = json["outcomes"].as_object().unwrap();
        assert_eq!(
            outcomes.len(),
            Outcome::ALL.len() + 1,
            "every outcome is listed, and REJECTED_ROW"
        );
        let out_rows: u64 = outcomes.values().map(|o| number(&o[side]["count"])).sum();
        let out_amount: i64 = outcomes.values().map(|o| amount(&o[side]["amount"])).sum();
        assert_eq!(
            (out_rows, out_amount),
            (rows_in, amount_in),
            "{side} outcomes in summary.json vs its inputs"
        );
    }
    for (name, both) in json["outcomes"].as_object().unwrap() {
        assert_eq!(
            number(&both["count"]),
            number(&both["terminal"]["count"]) + number(&both["bank"]["count"]),
            "{name}: count is terminal + bank"
        );
    }
}

/// A transaction's identity in the action files: merchant, terminal, batch, trace.
fn transaction(row: &BTreeMap<String, String>) -> (String, String, String, String) {
    (
        row["merchant_id"].clone(),
        row["terminal_id"].clone(),
        row["batch_no"].clone(),
        row["trace_no"].clone(),
    )
}

/// Property (c) of the cancellations: SPEC §4 applied to every request and
/// every outcome that asks for a cancellation.
/// (a) no original is refunded beyond its amount: the refund instructions
///     for it plus the REFUND records naming it by `orig_rrn`. Where the
///     REFUND records alone already exceed it (the generator allows that),
///     no instruction may be issued at all, which the same sum checks;
/// (b) no transaction is both voided and refunded;
/// (c) every request is answered exactly once: a void, a refund or a rejection;
/// (d) action ids are unique across the action files.
fn check_cancellations(terminal: &[TerminalRow], requests: &[RequestRow], out: &Path) {
    let voids = read_csv(&out.join("void_requests.csv"));
    let refunds = read_csv(&out.join("refund_instructions.csv"));
    let disputes = read_csv(&out.join("disputes.csv"));
    let rejected = read_csv(&out.join("rejected_cancellations.csv"));
    let key_of = |r: &TerminalRow| {
        (
            r.merchant_id.clone(),
            r.terminal_id.clone(),
            r.batch_no.clone(),
            r.trace_no.clone(),
        )
    };
    let amount_of: BTreeMap<_, i64> = terminal.iter().map(|r| (key_of(r), r.amount)).collect();

    // (a)
    // A second settlement's refund returns a charge outside the sale, so it
    // does not count against the sale; a voided sale the bank settled anyway
    // is refunded what the bank took, which may exceed what was captured.
    let mut instructed: BTreeMap<_, i64> = BTreeMap::new();
    let mut charged_after_void: BTreeMap<_, i64> = BTreeMap::new();
    for row in &refunds {
        if row["source"] == "DUPLICATE_SETTLEMENT" {
            continue;
        }
        if row["source"] == "VOIDED_BUT_SETTLED" {
            charged_after_void.insert(transaction(row), minor(&row["refund_amount"]));
        }
        let key = transaction(row);
        let original = *amount_of
            .get(&key)
            .unwrap_or_else(|| panic!("refund of {key:?}, which is not a terminal record"));
        assert_eq!(
            minor(&row["original_amount"]),
            original,
            "original_amount of {key:?}"
        );
        let refund = minor(&row["refund_amount"]);
        assert!(refund > 0, "refund of {} for {key:?}", row["refund_amount"]);
        *instructed.entry(key).or_default() += refund;
    }
    let mut by_records: BTreeMap<_, i64> = BTreeMap::new();
    for refund in terminal
        .iter()
        .filter(|r| r.txn_type == "REFUND" && !r.orig_rrn.is_empty())
    {
        let original = terminal
            .iter()
            .find(|r| r.rrn == refund.orig_rrn && matches!(r.txn_type, "SALE" | "PREAUTH_COMPLETE"))
            .expect("a REFUND names a purchase of the night");
        *by_records.entry(key_of(original)).or_default() += refund.amount;
    }
    for (key, instructions) in &instructed {
        let records = by_records.get(key).copied().unwrap_or_default();
        let ceiling = amount_of[key].max(charged_after_void.get(key).copied().unwrap_or(0));
        assert!(
            records + instructions <= ceiling,
            "{key:?} of {} refunded {} by REFUND records and {} by instructions",
            money(amount_of[key]),
            money(records),
            money(*instructions)
        );
    }

    // (b)
    let voided: BTreeSet<_> = voids.iter().map(transaction).collect();
    let refunded: BTreeSet<_> = refunds.iter().map(transaction).collect();
    assert_eq!(voids.len(), voided.len(), "a transaction voided twice");
    let both: Vec<_> = voided.intersection(&refunded).collect();
    assert!(both.is_empty(), "both voided and refunded: {both:?}");

    // (c)
    let mut answers: BTreeMap<&str, Vec<&str>> = requests
        .iter()
        .map(|r| (r.request_ref.as_str(), Vec::new()))
        .collect();
    let caused_by_outcome = [
        "VOIDED_BUT_SETTLED",
        "DUPLICATE_SETTLEMENT",
        "SUSPECTED_DUPLICATE",
    ];
    for (file, rows, column) in [
        ("void_requests.csv", &voids, "source"),
        ("refund_instructions.csv", &refunds, "source"),
        ("rejected_cancellations.csv", &rejected, "request_ref"),
    ] {
        for row in rows {
            let source = row[column].as_str();
            match answers.get_mut(source) {
                Some(found) => found.push(file),
                None => assert!(
                    caused_by_outcome.contains(&source),
                    "{file}: {column} {source:?} is neither a request nor an outcome"
                ),
            }
        }
    }
    for (request_ref, found) in &answers {
        assert_eq!(
            found.len(),
            1,
            "request {request_ref} is answered in {found:?}"
        );
    }

    // (d) — in every action file that has an action_id column.
    let mut ids: BTreeMap<&str, &str> = BTreeMap::new();
    for (file, rows) in [
        ("void_requests.csv", &voids),
        ("refund_instructions.csv", &refunds),
        ("disputes.csv", &disputes),
        ("rejected_cancellations.csv", &rejected),
    ] {
        for row in rows {
            let Some(id) = row.get("action_id") else {
                continue;
            };
            assert!(!id.is_empty(), "{file}: an empty action_id");
            if let Some(first) = ids.insert(id, file) {
                panic!("action id {id} in {file} and in {first}");
            }
        }
    }
}

/// A small deterministic shuffle (xorshift64*, Fisher–Yates), so a failing
/// case replays from its seed.
fn shuffle(rows: &mut [String], state: &mut u64) {
    for i in (1..rows.len()).rev() {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let random = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let j = usize::try_from(random % (i as u64 + 1)).unwrap();
        rows.swap(i, j);
    }
}

/// `summary.json` without the input files' hashes.
fn summary_without_hashes(out: &Path) -> Value {
    let mut json: Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for input in json["inputs"].as_array_mut().unwrap() {
        assert!(
            input.as_object_mut().unwrap().remove("sha256").is_some(),
            "every input has a sha256"
        );
    }
    json
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_record_is_accounted_for_once(spec in night()) {
        let (terminal, bank) = build(&spec);
        let inputs = Inputs::new(&spec, &terminal, &bank);
        let (summary, out) = inputs.reconcile("out");
        check_every_record_is_accounted_for(&terminal, &bank, &summary, &out);
    }

    #[test]
    fn control_totals_balance(spec in night()) {
        let (terminal, bank) = build(&spec);
        let inputs = Inputs::new(&spec, &terminal, &bank);
        let (_, out) = inputs.reconcile("out");
        check_control_totals_balance(&terminal, &bank, &out);
    }

    #[test]
    fn row_order_changes_no_output(spec in night()) {
        let (terminal, bank) = build(&spec);
        let mut inputs = Inputs::new(&spec, &terminal, &bank);
        let (_, first) = inputs.reconcile("first");
        let mut state = spec.shuffle_seed | 1;
        inputs.write(&spec, &terminal, &bank, &mut |rows| shuffle(rows, &mut state));
        let (_, second) = inputs.reconcile("second");
        for name in CSV_OUTPUTS {
            let (a, b) = (fs::read(first.join(name)).unwrap(), fs::read(second.join(name)).unwrap());
            prop_assert!(
                a == b,
                "{} differs after shuffling the input rows\n--- in file order\n{}\n+++ shuffled\n{}",
                name,
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            );
        }
        prop_assert_eq!(summary_without_hashes(&first), summary_without_hashes(&second));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cancellations_are_answered_once_and_never_over_refunded(spec in night()) {
        let (terminal, bank) = build(&spec);
        let inputs = Inputs::new(&spec, &terminal, &bank);
        let (_, out) = inputs.reconcile("out");
        check_cancellations(&terminal, &requests_of(&spec, &terminal), &out);
    }
}
