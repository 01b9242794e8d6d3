//! Reads the optional reference files: merchants, card status and
//! cancellation requests (SPEC §2).

use std::collections::HashMap;
use std::path::Path;

use super::field::{
    IdShape, parse_amount, parse_card, parse_card_state, parse_datetime, parse_fee_rate,
    parse_flag, parse_id, quote,
};
use super::table::{Column, optional, required};
use super::terminal::{MERCHANT_ID, RRN, TERMINAL_ID, TRACE_NO};
use super::{InputError, InputKind, ProfileChoice, Read, read_all};
use crate::matching::Outcome;
use crate::model::{
    CancellationRequest, CardState, CardStatus, Id, MaskedPan, Merchant, Origin, redact_pans,
};

/// Free text is kept, but never with a card number in it.
fn free_text(raw: &str) -> Result<String, String> {
    Ok(redact_pans(raw).into_owned())
}

fn first_seen(path: &Path, origin: Origin) -> String {
    format!("{}:{}", path.display(), origin.line)
}

const MERCHANT_COLUMNS: &[Column] = &[
    required("merchant_id"),
    required("merchant_name"),
    required("void_enabled"),
    required("refund_enabled"),
    optional("fee_rate"),
];

/// Reads the merchants file; each merchant may appear once.
pub fn read_merchants(path: &Path) -> Result<Read<Merchant>, InputError> {
    let paths = [path.to_path_buf()];
    let mut seen: HashMap<Id, Origin> = HashMap::new();
    read_all(
        &paths,
        InputKind::Merchants,
        MERCHANT_COLUMNS,
        &ProfileChoice::default(),
        0,
        |row, origin, problems, _| {
            let merchant_id = row.required(0, problems, |s| parse_id(s, MERCHANT_ID));
            let merchant_name = row.required(1, problems, free_text);
            let void_enabled = row.required(2, problems, parse_flag);
            let refund_enabled = row.required(3, problems, parse_flag);
            let fee_rate = row.optional(4, problems, parse_fee_rate);
            let merchant_id = merchant_id?;
            if let Some(first) = seen.get(&merchant_id) {
                row.report(
                    0,
                    format!(
                        "merchant {merchant_id} is listed twice; first at {}",
                        first_seen(path, *first)
                    ),
                    problems,
                );
                return None;
            }
            seen.insert(merchant_id.clone(), origin);
            Some(Merchant {
                origin,
                merchant_id,
                merchant_name: merchant_name?,
                void_enabled: void_enabled?,
                refund_enabled: refund_enabled?,
                fee_rate: fee_rate?,
            })
        },
        |_| None,
    )
}

const CARD_STATUS_COLUMNS: &[Column] = &[required("card_no"), required("status")];

/// Reads the card status file. A masked card listed twice must have one status.
pub fn read_card_statuses(path: &Path) -> Result<Read<CardStatus>, InputError> {
    let paths = [path.to_path_buf()];
    let mut seen: HashMap<MaskedPan, (CardState, Origin)> = HashMap::new();
    read_all(
        &paths,
        InputKind::CardStatus,
        CARD_STATUS_COLUMNS,
        &ProfileChoice::default(),
        0,
        |row, origin, problems, _| {
            let card = row.required(0, problems, parse_card);
            let state = row.required(1, problems, parse_card_state);
            let (card, state) = (card?, state?);
            // The same card with the same status again says nothing new,
            // and is read like any row.
            match seen.get(&card) {
                Some((first_state, _)) if *first_state == state => {}
                Some((first_state, first)) => {
                    row.report(
                        1,
                        format!(
                            "card {card} is {state} here but {first_state} at {}; \
                             masked card numbers cannot tell the two apart",
                            first_seen(path, *first)
                        ),
                        problems,
                    );
                    return None;
                }
                None => {}
            }
            seen.entry(card.clone()).or_insert((state, origin));
            Some(CardStatus {
                origin,
                card,
                state,
            })
        },
        |_| None,
    )
}

const CANCELLATION_COLUMNS: &[Column] = &[
    required("request_ref"),
    required("merchant_id"),
    optional("merchant_name"),
    required("terminal_id"),
    required("trace_no"),
    required("rrn"),
    required("txn_time"),
    required("amount"),
    optional("refund_amount"),
    optional("reason"),
    required("customer_consent"),
];

/// Reads the cancellation requests; each `request_ref` may appear once.
pub fn read_cancellations(path: &Path) -> Result<Read<CancellationRequest>, InputError> {
    let paths = [path.to_path_buf()];
    let mut seen: HashMap<Id, Origin> = HashMap::new();
    read_all(
        &paths,
        InputKind::Cancellations,
        CANCELLATION_COLUMNS,
        &ProfileChoice::default(),
        0,
        |row, origin, problems, _| {
            let request_ref = row.required(0, problems, |s| parse_id(s, IdShape::Text(40)));
            let merchant_id = row.required(1, problems, |s| parse_id(s, MERCHANT_ID));
            let merchant_name = row.optional(2, problems, free_text);
            let terminal_id = row.optional(3, problems, |s| parse_id(s, TERMINAL_ID));
            let trace_no = row.optional(4, problems, |s| parse_id(s, TRACE_NO));
            let rrn = row.optional(5, problems, |s| parse_id(s, RRN));
            let txn_time = row.required(6, problems, parse_datetime);
            let amount = row.required(7, problems, parse_amount);
            let refund_amount = row.optional(8, problems, parse_amount);
            let reason = row.required(9, problems, free_text);
            let customer_consent = row.required(10, problems, free_text);
            let (terminal_id, trace_no, rrn) = (terminal_id?, trace_no?, rrn?);
            if rrn.is_none() && (terminal_id.is_none() || trace_no.is_none()) {
                row.report(
                    5,
                    "is empty, and terminal_id + trace_no are incomplete; \
                     name the transaction by rrn or by terminal_id and trace_no"
                        .into(),
                    problems,
                );
                return None;
            }
            let (request_ref, amount, refund_amount) = (request_ref?, amount?, refund_amount?);
            if refund_amount.is_some_and(|refund| refund > amount || refund.minor() == 0) {
                row.report(
                    8,
                    format!(
                        "{} must be more than 0.00 and at most the amount {amount}",
                        refund_amount.unwrap_or_default()
                    ),
                    problems,
                );
                return None;
            }
            // The action files' `source` column and the ledger tell a
            // request's action from an outcome's by this name, and action ids
            // are made from it as from an outcome's tag (`DUPLICATE_SETTLEMENT#2`).
            let named_like = |o: &&Outcome| {
                let (name, reference) = (o.as_str(), request_ref.as_bytes());
                reference.len() >= name.len()
                    && reference[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                    && matches!(reference.get(name.len()), None | Some(b'#'))
            };
            if let Some(outcome) = Outcome::ALL.iter().find(named_like) {
                row.report(
                    0,
                    format!(
                        "{} is named like the outcome {outcome}, which the `source` column \
                         gives for actions no request asked for; give the request another reference",
                        quote(&request_ref)
                    ),
                    problems,
                );
                return None;
            }
            if let Some(first) = seen.get(&request_ref) {
                row.report(
                    0,
                    format!(
                        "request {} is listed twice; first at {}",
                        quote(&request_ref),
                        first_seen(path, *first)
                    ),
                    problems,
                );
                return None;
            }
            seen.insert(request_ref.clone(), origin);
            Some(CancellationRequest {
                origin,
                request_ref,
                merchant_id: merchant_id?,
                merchant_name: merchant_name?,
                terminal_id,
                trace_no,
                rrn,
                txn_time: txn_time?,
                amount,
                refund_amount,
                reason: reason?,
                customer_consent: customer_consent?,
            })
        },
        |request| Some((crate::model::Currency::CNY, request.amount, None)),
    )
}
