//! Record builders shared by the unit tests (`#[cfg(test)]` only): terminal
//! records, settlements and reference data, built directly so tests need no
//! files. Every builder starts from one plain, valid record; a test changes
//! only what it is about, with struct update syntax.

use chrono::{NaiveDate, NaiveDateTime};

use crate::model::{
    Amount, CancellationRequest, Currency, Id, MaskedPan, Merchant, Origin, Settlement,
    TerminalRecord, TxnType,
};

pub(crate) const MERCHANT: &str = "898310058120001";
pub(crate) const OTHER_MERCHANT: &str = "898330154110002";
pub(crate) const TERMINAL: &str = "31000101";
pub(crate) const OTHER_TERMINAL: &str = "31000102";
pub(crate) const BATCH: &str = "000231";
pub(crate) const CARD: &str = "622848******1234";
pub(crate) const OTHER_CARD: &str = "621700******8662";
/// The moment every test judges against unless it says otherwise: the
/// evening after business day 2026-11-23, whose unsettled records are
/// therefore UNSETTLED; still business day 2026-11-24 (before the 23:00
/// cutoff), whose unsettled sales can therefore still be voided.
pub(crate) const AS_OF: &str = "2026-11-24 22:00:00";

pub(crate) fn at(raw: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S").unwrap()
}

pub(crate) fn id(raw: &str) -> Option<Id> {
    Some(Id::from(raw))
}

pub(crate) fn card(raw: &str) -> MaskedPan {
    MaskedPan::mask(raw).unwrap()
}

pub(crate) fn fen(minor: i64) -> Amount {
    Amount::from_minor(minor)
}

/// A CNY SALE on `TERMINAL`, batch `BATCH`, card `CARD`, without rrn.
pub(crate) fn sale(trace: &str, time: &str, minor: i64) -> TerminalRecord {
    TerminalRecord {
        origin: Origin { file: 0, line: 0 },
        merchant_id: MERCHANT.into(),
        terminal_id: TERMINAL.into(),
        batch_no: BATCH.into(),
        trace_no: trace.into(),
        rrn: None,
        auth_code: None,
        txn_type: TxnType::Sale,
        txn_time: at(time),
        amount: fen(minor),
        currency: Currency::CNY,
        card: card(CARD),
        orig_trace_no: None,
        orig_rrn: None,
    }
}

/// A SALE with an rrn.
pub(crate) fn sale_rrn(trace: &str, rrn: &str, time: &str, minor: i64) -> TerminalRecord {
    TerminalRecord {
        rrn: id(rrn),
        ..sale(trace, time, minor)
    }
}

/// The VOID of `original`, with its own `trace`, in the same batch.
pub(crate) fn void(trace: &str, time: &str, original: &TerminalRecord) -> TerminalRecord {
    TerminalRecord {
        txn_type: TxnType::Void,
        batch_no: original.batch_no.clone(),
        orig_trace_no: Some(original.trace_no.clone()),
        amount: original.amount,
        card: original.card.clone(),
        ..sale(trace, time, 0)
    }
}

/// The bank's settlement of `record` exactly as captured, settled on
/// 2026-11-24 without a fee.
pub(crate) fn settled(record: &TerminalRecord) -> Settlement {
    Settlement {
        origin: Origin { file: 0, line: 0 },
        settle_date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        merchant_id: record.merchant_id.clone(),
        terminal_id: record.terminal_id.clone(),
        batch_no: Some(record.batch_no.clone()),
        trace_no: record.trace_no.clone(),
        rrn: record.rrn.clone(),
        auth_code: record.auth_code.clone(),
        txn_type: record.txn_type,
        txn_time: record.txn_time,
        amount: record.amount,
        fee: Amount::ZERO,
        net_amount: record.amount,
        currency: record.currency,
        card: record.card.clone(),
    }
}

/// `settlement` with another amount (net follows).
pub(crate) fn for_amount(settlement: Settlement, minor: i64) -> Settlement {
    Settlement {
        amount: fen(minor),
        net_amount: fen(minor) - settlement.fee,
        ..settlement
    }
}

/// `settlement` with a fee (net follows).
pub(crate) fn with_fee(settlement: Settlement, minor: i64) -> Settlement {
    Settlement {
        fee: fen(minor),
        net_amount: settlement.amount - fen(minor),
        ..settlement
    }
}

/// A settlement the exact pass cannot find for `record`: no rrn, another trace.
pub(crate) fn untraceable(record: &TerminalRecord, trace: &str, time: &str) -> Settlement {
    Settlement {
        rrn: None,
        trace_no: trace.into(),
        txn_time: at(time),
        ..settled(record)
    }
}

/// The name the merchants file gives `MERCHANT`.
pub(crate) const MERCHANT_NAME: &str = "上海静安咖啡有限公司";

/// A REFUND of `minor` fen on `TERMINAL` that names `original` by its rrn.
pub(crate) fn refund_of(
    trace: &str,
    time: &str,
    minor: i64,
    original: &TerminalRecord,
) -> TerminalRecord {
    TerminalRecord {
        txn_type: TxnType::Refund,
        card: original.card.clone(),
        orig_rrn: original.rrn.clone(),
        ..sale(trace, time, minor)
    }
}

/// A line of the merchants file, without a fee rate.
pub(crate) fn merchant(
    merchant_id: &str,
    name: &str,
    void_enabled: bool,
    refund_enabled: bool,
) -> Merchant {
    Merchant {
        origin: Origin { file: 0, line: 0 },
        merchant_id: merchant_id.into(),
        merchant_name: name.into(),
        void_enabled,
        refund_enabled,
        fee_rate: None,
    }
}

/// A request `reference` to cancel all of `original`, with the cardholder's
/// consent, naming it by rrn when it has one and by terminal + trace
/// otherwise, with its merchant, time and amount.
pub(crate) fn request(reference: &str, original: &TerminalRecord) -> CancellationRequest {
    let by_trace = original.rrn.is_none();
    CancellationRequest {
        origin: Origin { file: 0, line: 0 },
        request_ref: reference.into(),
        merchant_id: original.merchant_id.clone(),
        merchant_name: None,
        terminal_id: by_trace.then(|| original.terminal_id.clone()),
        trace_no: by_trace.then(|| original.trace_no.clone()),
        rrn: original.rrn.clone(),
        txn_time: original.txn_time,
        amount: original.amount,
        refund_amount: None,
        reason: "customer changed mind".into(),
        customer_consent: "yes".into(),
    }
}

/// Hands out `bytes` a few at a time, in turn as many as `sizes` says, as
/// a pipe, a slow disk or a network file system may.
pub(crate) struct Trickle<'a> {
    bytes: &'a [u8],
    sizes: std::iter::Cycle<std::vec::IntoIter<usize>>,
}

impl Trickle<'_> {
    pub(crate) fn new(bytes: &[u8], sizes: Vec<usize>) -> Trickle<'_> {
        Trickle {
            bytes,
            sizes: sizes.into_iter().cycle(),
        }
    }
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes.next().unwrap_or(1);
        let n = size.min(out.len()).min(self.bytes.len());
        out[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}
