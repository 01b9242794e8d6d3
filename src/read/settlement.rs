//! Reads bank settlement files (SPEC §2). A transaction settled twice is not an
//! input problem: it is the DUPLICATE_SETTLEMENT outcome, found by matching.

use std::path::PathBuf;

use super::field::{
    parse_amount, parse_card, parse_currency, parse_date, parse_datetime, parse_id, parse_txn_type,
};
use super::table::{Column, Row, required};
use super::terminal::{AUTH_CODE, BATCH_NO, MERCHANT_ID, RRN, TERMINAL_ID, TRACE_NO};
use super::{InputError, InputKind, Problems, ProfileChoice, Read, read_all};
use crate::model::{Origin, Settlement};

pub(super) const COLUMNS: &[Column] = &[
    required("settle_date"),
    required("merchant_id"),
    required("terminal_id"),
    required("batch_no"),
    required("trace_no"),
    required("rrn"),
    required("auth_code"),
    required("txn_type"),
    required("txn_time"),
    required("amount"),
    required("fee"),
    required("net_amount"),
    required("currency"),
    required("card_no"),
];
const C_SETTLE_DATE: usize = 0;
const C_MERCHANT_ID: usize = 1;
const C_TERMINAL_ID: usize = 2;
const C_BATCH_NO: usize = 3;
const C_TRACE_NO: usize = 4;
const C_RRN: usize = 5;
const C_AUTH_CODE: usize = 6;
const C_TXN_TYPE: usize = 7;
const C_TXN_TIME: usize = 8;
const C_AMOUNT: usize = 9;
const C_FEE: usize = 10;
const C_NET_AMOUNT: usize = 11;
const C_CURRENCY: usize = 12;
const C_CARD_NO: usize = 13;

/// Reads every bank settlement file; fails with all problems found in all of them.
pub fn read_settlements(paths: &[PathBuf]) -> Result<Read<Settlement>, InputError> {
    read_settlements_with(paths, &ProfileChoice::default(), 0)
}

/// Reads every bank settlement file, each through its profile in `choice`,
/// setting up to `max_rejects` bad rows aside.
pub fn read_settlements_with(
    paths: &[PathBuf],
    choice: &ProfileChoice,
    max_rejects: u64,
) -> Result<Read<Settlement>, InputError> {
    read_all(
        paths,
        InputKind::Bank,
        COLUMNS,
        choice,
        max_rejects,
        |row, origin, problems, _| parse_row(row, origin, problems),
        |s| Some((s.currency, s.amount, Some(s.txn_type))),
    )
}

fn parse_row(row: &Row<'_>, origin: Origin, problems: &mut Problems) -> Option<Settlement> {
    let settle_date = row.required(C_SETTLE_DATE, problems, parse_date);
    let merchant_id = row.required(C_MERCHANT_ID, problems, |s| parse_id(s, MERCHANT_ID));
    let terminal_id = row.required(C_TERMINAL_ID, problems, |s| parse_id(s, TERMINAL_ID));
    let batch_no = row.optional(C_BATCH_NO, problems, |s| parse_id(s, BATCH_NO));
    let trace_no = row.required(C_TRACE_NO, problems, |s| parse_id(s, TRACE_NO));
    let rrn = row.optional(C_RRN, problems, |s| parse_id(s, RRN));
    let auth_code = row.optional(C_AUTH_CODE, problems, |s| parse_id(s, AUTH_CODE));
    let txn_type = row.required(C_TXN_TYPE, problems, parse_txn_type);
    let txn_time = row.required(C_TXN_TIME, problems, parse_datetime);
    let amount = row.required(C_AMOUNT, problems, parse_amount);
    let fee = row.required(C_FEE, problems, parse_amount);
    let net_amount = row.required(C_NET_AMOUNT, problems, parse_amount);
    let currency = row.required(C_CURRENCY, problems, parse_currency);
    let card = row.required(C_CARD_NO, problems, parse_card);
    let (amount, fee, net_amount) = (amount?, fee?, net_amount?);
    if amount.minor() - fee.minor() != net_amount.minor() {
        row.report(
            C_NET_AMOUNT,
            format!(
                "{net_amount} is not amount - fee ({amount} - {fee} = {})",
                amount - fee
            ),
            problems,
        );
        return None;
    }
    Some(Settlement {
        origin,
        settle_date: settle_date?,
        merchant_id: merchant_id?,
        terminal_id: terminal_id?,
        batch_no: batch_no?,
        trace_no: trace_no?,
        rrn: rrn?,
        auth_code: auth_code?,
        txn_type: txn_type?,
        txn_time: txn_time?,
        amount,
        fee,
        net_amount,
        currency: currency?,
        card: card?,
    })
}
