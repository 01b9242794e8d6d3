//! Domain types shared by every stage. No I/O, no parsing rules.
//!
//! Identifiers stay text (leading zeros are meaningful) and are short enough to
//! live inline in an [`Id`], so a record costs no heap allocation.

mod amount;
mod id;
mod pan;

use std::cell::Cell;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

pub use amount::Amount;
pub use id::Id;
pub use pan::{MaskedPan, mask_card_cell, quoted, redact_all_card_lengths, redact_pans};

/// The kind of a card transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxnType {
    /// A purchase.
    Sale,
    /// Cancellation of a SALE inside its own open batch, full amount only.
    Void,
    /// Return of money after settlement, possibly partial.
    Refund,
    /// Completion of a pre-authorisation; settles like a SALE.
    PreauthComplete,
}

impl TxnType {
    /// Every type, in the order the spec lists them.
    pub const ALL: [TxnType; 4] = [
        TxnType::Sale,
        TxnType::Void,
        TxnType::Refund,
        TxnType::PreauthComplete,
    ];

    /// The canonical spelling used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            TxnType::Sale => "SALE",
            TxnType::Void => "VOID",
            TxnType::Refund => "REFUND",
            TxnType::PreauthComplete => "PREAUTH_COMPLETE",
        }
    }

    /// True for the types that take money from the cardholder.
    pub fn is_purchase(self) -> bool {
        matches!(self, TxnType::Sale | TxnType::PreauthComplete)
    }
}

impl fmt::Display for TxnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ISO 4217 currency; amounts in different currencies never match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// The currency an empty currency field means.
    pub const CNY: Currency = Currency(iso_currency::Currency::CNY);

    /// Looks up an alphabetic (`CNY`) or numeric (`156`) ISO 4217 code.
    pub fn from_code(code: &str) -> Option<Currency> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) {
            let numeric: u16 = code.parse().ok()?;
            iso_currency::Currency::from_numeric(numeric).map(Currency)
        } else if let &[a, b, c] = code.as_bytes() {
            // Every alphabetic code has three letters: upper-case them on the
            // stack, as this runs once per row.
            let upper = [a, b, c].map(|b| b.to_ascii_uppercase());
            thread_local! {
                // The code this thread looked up last: a file's rows mostly
                // share one, and the crate compares with code after code.
                static LAST: Cell<Option<([u8; 3], Currency)>> = const { Cell::new(None) };
            }
            if let Some((code, currency)) = LAST.get()
                && code == upper
            {
                return Some(currency);
            }
            let currency = iso_currency::Currency::from_code(std::str::from_utf8(&upper).ok()?)
                .map(Currency)?;
            LAST.set(Some((upper, currency)));
            Some(currency)
        } else {
            iso_currency::Currency::from_code(&code.to_ascii_uppercase()).map(Currency)
        }
    }

    /// The alphabetic code, e.g. `CNY`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }
}

impl Default for Currency {
    fn default() -> Currency {
        Currency::CNY
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where a record came from: which input file (by position) and which line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// Index of the file among the inputs of its kind.
    pub file: u32,
    /// 1-based line number of the record in that file.
    pub line: u64,
}

/// One transaction as a POS terminal captured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRecord {
    pub origin: Origin,
    pub merchant_id: Id,
    pub terminal_id: Id,
    pub batch_no: Id,
    pub trace_no: Id,
    pub rrn: Option<Id>,
    pub auth_code: Option<Id>,
    pub txn_type: TxnType,
    pub txn_time: NaiveDateTime,
    pub amount: Amount,
    pub currency: Currency,
    pub card: MaskedPan,
    /// For a VOID: the trace of the SALE it cancels, in the same batch.
    pub orig_trace_no: Option<Id>,
    /// For a REFUND: the rrn of the sale it returns money for.
    pub orig_rrn: Option<Id>,
}

/// One transaction as the acquiring bank settled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub origin: Origin,
    pub settle_date: NaiveDate,
    pub merchant_id: Id,
    pub terminal_id: Id,
    pub batch_no: Option<Id>,
    pub trace_no: Id,
    pub rrn: Option<Id>,
    pub auth_code: Option<Id>,
    pub txn_type: TxnType,
    pub txn_time: NaiveDateTime,
    pub amount: Amount,
    pub fee: Amount,
    pub net_amount: Amount,
    pub currency: Currency,
    pub card: MaskedPan,
}

/// A merchant's permissions and contracted fee rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub origin: Origin,
    pub merchant_id: Id,
    pub merchant_name: String,
    pub void_enabled: bool,
    pub refund_enabled: bool,
    /// Contracted fee as a fraction of the amount (0.0038 = 0.38 %).
    pub fee_rate: Option<Decimal>,
}

/// What the issuer says about a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CardState {
    Normal,
    Lost,
    Frozen,
    Cancelled,
}

impl CardState {
    /// Every state, in the order the spec lists them.
    pub const ALL: [CardState; 4] = [
        CardState::Normal,
        CardState::Lost,
        CardState::Frozen,
        CardState::Cancelled,
    ];

    /// The canonical spelling used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            CardState::Normal => "NORMAL",
            CardState::Lost => "LOST",
            CardState::Frozen => "FROZEN",
            CardState::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for CardState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the card status file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStatus {
    pub origin: Origin,
    pub card: MaskedPan,
    pub state: CardState,
}

/// A merchant's request to cancel one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancellationRequest {
    pub origin: Origin,
    /// The reference, any card number in it masked. Action ids are made
    /// from it as shown, so that an id gives away no more of a card than
    /// the reference beside it does.
    pub request_ref: Id,
    pub merchant_id: Id,
    pub merchant_name: Option<String>,
    pub terminal_id: Option<Id>,
    pub trace_no: Option<Id>,
    pub rrn: Option<Id>,
    pub txn_time: NaiveDateTime,
    pub amount: Amount,
    /// `None` means the full amount.
    pub refund_amount: Option<Amount>,
    pub reason: String,
    /// The consent field as written (masked of card numbers), e.g. `yes`.
    pub customer_consent: String,
}

impl CancellationRequest {
    /// True when the cardholder agreed: the consent field says `yes`.
    pub fn has_consent(&self) -> bool {
        self.customer_consent.eq_ignore_ascii_case("yes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_from_code_cases() {
        #[track_caller]
        fn case(code: &str, want: Option<&str>) {
            assert_eq!(Currency::from_code(code).map(Currency::code), want);
        }
        case("CNY", Some("CNY"));
        case("cny", Some("CNY"));
        case("Usd", Some("USD"));
        case("156", Some("CNY"));
        case("840", Some("USD"));
        case("999", Some("XXX"));
        case("000", None);
        case("AAA", None);
        case("", None);
        case("CN", None);
        case("CNY ", None);
        case("CNYY", None);
        case("元", None);
        case("人民币", None);
    }
}
