#![allow(clippy::unwrap_used)] // clippy's allow-unwrap-in-tests does not cover tests/ (rust-clippy#13981)

mod bench;
mod help;
mod ledger;
mod pan_leak;
mod profiles;
mod properties;
mod readme;
mod sample_night;
mod support;
mod terminal;
mod workbook;

use support::{check_case, root};

#[test]
fn ambiguous_suspected_duplicate_says_so() {
    check_case("ambiguous-suspected-duplicate-says-so");
}

/// A request reference that is a card number grouped by dots or
/// underscores is shown masked; a dated reference is shown as it is.
#[test]
fn cancellations_references_masked_as_cards_only() {
    check_case("cancellations-references-masked-as-cards-only");
}

#[test]
fn bad_amount() {
    check_case("bad-amount");
}

#[test]
fn bad_card_number_is_masked() {
    check_case("bad-card-number-is-masked");
}

#[test]
fn bad_config() {
    check_case("bad-config");
}

#[test]
fn bad_config_unknown_key() {
    check_case("bad-config-unknown-key");
}

#[test]
fn bad_date() {
    check_case("bad-date");
}

#[test]
fn bad_ids() {
    check_case("bad-ids");
}

#[test]
fn bad_settle_date() {
    check_case("bad-settle-date");
}

#[test]
fn cancellations_problems() {
    check_case("cancellations-problems");
}

#[test]
fn card_status_problems() {
    check_case("card-status-problems");
}

#[test]
fn check_cancellations_unclosed_quote() {
    check_case("check-cancellations-unclosed-quote");
}

#[test]
fn check_merchants_unclosed_quote() {
    check_case("check-merchants-unclosed-quote");
}

#[test]
fn check_crlf_names_the_right_line() {
    check_case("check-crlf-names-the-right-line");
}

#[test]
fn check_card_status_same_card_twice() {
    check_case("check-card-status-same-card-twice");
}

/// References holding dates (13 digits and more, grouped by underscores)
/// are identifiers: never masked, so never two alike.
#[test]
fn check_cancellations_dated_references() {
    check_case("check-cancellations-dated-references");
}

#[test]
fn check_cancellations_quote_closed_by_a_later_row() {
    check_case("check-cancellations-quote-closed-by-a-later-row");
}

#[test]
fn check_cancellations_reason_over_lines() {
    check_case("check-cancellations-reason-over-lines");
}

/// Blank lines before the header are skipped, and the bad row after two
/// blank lines is named by its own line (7).
#[test]
fn check_blank_lines_before_the_header() {
    check_case("check-blank-lines-before-the-header");
}

#[test]
fn check_bom_reordered_columns() {
    check_case("check-bom-reordered-columns");
}

#[test]
fn check_header_only() {
    check_case("check-header-only");
}

#[test]
fn check_valid_bank() {
    check_case("check-valid-bank");
}

#[test]
fn check_valid_cancellations() {
    check_case("check-valid-cancellations");
}

#[test]
fn check_valid_card_status() {
    check_case("check-valid-card-status");
}

#[test]
fn check_valid_merchants() {
    check_case("check-valid-merchants");
}

#[test]
fn check_valid_terminal() {
    check_case("check-valid-terminal");
}

#[test]
fn clean_night() {
    check_case("clean-night");
}

#[test]
fn max_rejects_sets_bad_rows_aside() {
    check_case("max-rejects-sets-bad-rows-aside");
}

#[test]
fn max_rejects_exceeded() {
    check_case("max-rejects-exceeded");
}

#[test]
fn max_rejects_file_problem_still_fails() {
    check_case("max-rejects-file-problem-still-fails");
}

/// An unclosed quote swallowed eight later rows into one record, which was
/// set aside as a single bad row while the totals still balanced.
#[test]
fn max_rejects_unclosed_quote_fails() {
    check_case("max-rejects-unclosed-quote-fails");
}

/// `file` of golden case `name`, as read when comparing two row orders of a
/// night: the `-order-ba/` case's paths spelled as the `-order-ab/` one's, and
/// without the files' SHA-256 (the files differ in order, so in hash).
fn order_case_file(name: &str, file: &str) -> String {
    std::fs::read_to_string(root().join("tests/cases").join(name).join(file))
        .unwrap()
        .replace("-order-ba/", "-order-ab/")
        .lines()
        .filter(|line| !line.contains("\"sha256\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks that `files` of the golden cases `{stem}-order-ab` and
/// `{stem}-order-ba` are the same but for paths and hashes.
#[track_caller]
fn assert_order_independent(stem: &str, files: &[&str]) {
    for file in files {
        assert_eq!(
            order_case_file(&format!("{stem}-order-ab"), file),
            order_case_file(&format!("{stem}-order-ba"), file),
            "{file} differs"
        );
    }
}

#[test]
fn max_rejects_duplicate_order_ab() {
    check_case("max-rejects-duplicate-order-ab");
}

#[test]
fn max_rejects_duplicate_order_ba() {
    check_case("max-rejects-duplicate-order-ba");
}

/// The same night with the two rows of a duplicated terminal + batch + trace
/// swapped gives the same results: every row of the identity is set aside,
/// not the later one. Only `rejected_rows.csv` pairs lines with other rows.
#[test]
fn max_rejects_duplicate_either_order_gives_the_same_results() {
    assert_order_independent(
        "max-rejects-duplicate",
        &[
            "status",
            "stdout",
            "stderr",
            "out/exceptions.csv",
            "out/disputes.csv",
            "out/pending.csv",
            "out/summary.json",
        ],
    );
    // The same rows set aside, each with the same problem.
    let rejected = |name: &str| {
        let text = order_case_file(name, "out/rejected_rows.csv");
        let mut rows: Vec<(String, String)> = csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[4].to_string(), r[6].to_string())
            })
            .collect();
        rows.sort();
        rows
    };
    let rows = rejected("max-rejects-duplicate-order-ab");
    assert_eq!(rows.len(), 2, "both rows of the identity: {rows:?}");
    assert_eq!(rows, rejected("max-rejects-duplicate-order-ba"));
}

#[test]
fn decide_shared_rrn_refund_order_ab() {
    check_case("decide-shared-rrn-refund-order-ab");
}

#[test]
fn decide_shared_rrn_refund_order_ba() {
    check_case("decide-shared-rrn-refund-order-ba");
}

/// Two sales of one merchant and card share an rrn and a REFUND names it:
/// which sale it returned money for cannot be known, so it counts against
/// both. Two sales of different merchants share the placeholder rrn, and a
/// REFUND of one of them names it: it counts against that one only. Swapping
/// the sales' rows changes no decision (it once decided between a refund and
/// a reject).
#[test]
fn decide_shared_rrn_refund_either_order_gives_the_same_decisions() {
    assert_order_independent(
        "decide-shared-rrn-refund",
        &[
            "status",
            "stdout",
            "stderr",
            "out/exceptions.csv",
            "out/refund_instructions.csv",
            "out/rejected_cancellations.csv",
            "out/void_requests.csv",
            "out/disputes.csv",
            "out/summary.json",
        ],
    );
    assert!(
        order_case_file(
            "decide-shared-rrn-refund-order-ab",
            "out/rejected_cancellations.csv"
        ).contains(
            "over-refund: refunds would total 60.00, more than the original 30.00 \
             (rrn 632711000001 is shared: REFUND records naming it count against each sale of this merchant and card with it)"
        ),
        "the sale charged after its void is not refunded a second time"
    );
    assert!(
        order_case_file(
            "decide-shared-rrn-refund-order-ab",
            "out/refund_instructions.csv"
        )
        .contains(",898310058120004,,40000101,000060,000001,000000000000,C1D2E3,2026-11-23 10:05:00,2026-11-24,80.00,80.00,"),
        "a REFUND of another merchant and card naming the placeholder rrn blocks nothing"
    );
}

/// A bank file whose date format changed had every row set aside under a
/// standing allowance, leaving every sale of the night unsettled.
#[test]
fn max_rejects_every_row_of_a_file_bad() {
    check_case("max-rejects-every-row-of-a-file-bad");
}

/// A 12-digit card, one grouped by dots and one by double spaces showed in
/// full in `rejected_rows.csv`'s `raw` column.
#[test]
fn max_rejects_card_numbers_masked_in_raw() {
    check_case("max-rejects-card-numbers-masked-in-raw");
}

#[test]
fn max_rejects_card_numbers_in_other_columns_masked() {
    check_case("max-rejects-card-numbers-in-other-columns-masked");
}

#[test]
fn clean_night_json() {
    check_case("clean-night-json");
}

#[test]
fn config_file_output() {
    check_case("config-file-output");
}

#[test]
fn config_file_policy() {
    check_case("config-file-policy");
}

#[test]
fn same_file_given_twice() {
    check_case("same-file-given-twice");
}

#[test]
fn duplicate_terminal_identity() {
    check_case("duplicate-terminal-identity");
}

#[test]
fn empty_file() {
    check_case("empty-file");
}

#[test]
fn exact_key_duplicate_currency_fee() {
    check_case("exact-key-duplicate-currency-fee");
}

#[test]
fn fail_on_never() {
    check_case("fail-on-never");
}

#[test]
fn many_problems_are_capped() {
    check_case("many-problems-are-capped");
}

#[test]
fn merchants_problems() {
    check_case("merchants-problems");
}

#[test]
fn missing_column() {
    check_case("missing-column");
}

#[test]
fn missing_file() {
    check_case("missing-file");
}

#[test]
fn net_not_amount_minus_fee() {
    check_case("net-not-amount-minus-fee");
}

#[test]
fn output_folder_is_a_file() {
    check_case("output-folder-is-a-file");
}

#[test]
fn pending_turns_unsettled() {
    check_case("pending-turns-unsettled");
}

#[test]
fn reconcile_bad_input_writes_nothing() {
    check_case("reconcile-bad-input-writes-nothing");
}

#[test]
fn reconcile_quiet() {
    check_case("reconcile-quiet");
}

#[test]
fn sample_day() {
    check_case("sample-day");
}

#[test]
fn sample_day_json() {
    check_case("sample-day-json");
}

#[test]
fn sample_day_xlsx() {
    check_case("sample-day-xlsx");
}

#[test]
fn sample_day_matches() {
    check_case("sample-day-matches");
}

#[test]
fn tolerant_closest_first() {
    check_case("tolerant-closest-first");
}

#[test]
fn unknown_txn_type() {
    check_case("unknown-txn-type");
}

#[test]
fn usage_bad_as_of() {
    check_case("usage-bad-as-of");
}

#[test]
fn usage_missing_kind() {
    check_case("usage-missing-kind");
}

#[test]
fn usage_reconcile_without_bank() {
    check_case("usage-reconcile-without-bank");
}

#[test]
fn usage_unknown_shell() {
    check_case("usage-unknown-shell");
}

#[test]
fn usage_unknown_kind() {
    check_case("usage-unknown-kind");
}

#[test]
fn void_without_orig_trace() {
    check_case("void-without-orig-trace");
}

#[test]
fn wrong_encoding_gbk() {
    check_case("wrong-encoding-gbk");
}

#[test]
fn wrong_field_count() {
    check_case("wrong-field-count");
}
#[test]
fn duplicate_identity_across_files() {
    check_case("duplicate-identity-across-files");
}

// The README quick start prints exactly this case's stdout.
#[test]
fn quick_start() {
    check_case("quick-start");
}

#[test]
fn decide_void_asked_after_cutoff_becomes_refund() {
    check_case("decide-void-asked-after-cutoff-becomes-refund");
}

#[test]
fn decide_next_business_day_becomes_refund() {
    check_case("decide-next-business-day-becomes-refund");
}

#[test]
fn decide_refund_window_expired() {
    check_case("decide-refund-window-expired");
}

/// Requests that name only an rrn find their sale by it: every other case's
/// requests name the terminal and trace as well.
#[test]
fn decide_requests_by_rrn_only() {
    check_case("decide-requests-by-rrn-only");
}

#[test]
fn decide_suspected_duplicates_cancel() {
    check_case("decide-suspected-duplicates-cancel");
}

#[test]
fn same_content_under_two_names() {
    check_case("same-content-under-two-names");
}

#[test]
fn same_file_as_terminal_and_bank() {
    check_case("same-file-as-terminal-and-bank");
}

#[test]
fn no_header_row() {
    check_case("no-header-row");
}

#[test]
fn usage_bad_span() {
    check_case("usage-bad-span");
}

#[test]
fn profiles_list() {
    check_case("profiles-list");
}

#[test]
fn profiles_show_unionpay_zm() {
    check_case("profiles-show-unionpay-zm");
}

#[test]
fn unionpay_zm_night() {
    check_case("unionpay-zm-night");
}

#[test]
fn profile_trailer_disagrees() {
    check_case("profile-trailer-disagrees");
}

#[test]
fn profile_file_is_utf8_but_gbk_declared() {
    check_case("profile-file-is-utf8-but-gbk-declared");
}

#[test]
fn profile_bad_config() {
    check_case("profile-bad-config");
}

#[test]
fn usage_unknown_profile() {
    check_case("usage-unknown-profile");
}

// The sample bank file in an acquirer's GBK layout reconciles exactly like
// the canonical one (same outputs as sample-day but for the input's name).
#[test]
fn sample_day_acquirer_gbk() {
    check_case("sample-day-acquirer-gbk");
}

#[test]
fn check_acquirer_gbk() {
    check_case("check-acquirer-gbk");
}

#[test]
fn usage_settle_date_unused() {
    check_case("usage-settle-date-unused");
}

#[test]
fn timings_are_printed_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let run = |timings: bool| {
        let mut command = support::sample_day("2026-11-24 22:00", dir.path());
        command.env_remove("POSRECON_TIMINGS");
        if timings {
            command.env("POSRECON_TIMINGS", "1");
        }
        let output = command.output().unwrap();
        String::from_utf8(output.stderr).unwrap()
    };
    assert_eq!(run(false), "");
    let stderr = run(true);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("posrecon: stage seconds: reading "),
        "{stderr}"
    );
    for stage in ["matching", "deciding", "writing"] {
        assert!(lines[0].contains(&format!(", {stage} ")), "{stderr}");
    }
    assert!(
        lines[1].starts_with("posrecon: peak MiB at stage start: reading "),
        "{stderr}"
    );
}

/// A file whose amounts add up past what any night holds is refused with a
/// problem naming the row, not a panic when the sum leaves 64 bits.
#[test]
fn a_file_of_implausible_amounts_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.csv");
    let mut text = String::from(
        "merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,\
         currency,card_no,orig_trace_no,orig_rrn\n",
    );
    // 10,001 rows of the largest amount a row may hold: just past 100 trillion.
    for trace in 1..=10_001 {
        text.push_str(&format!(
            "898310058120001,10000101,000231,{trace:06},,,SALE,2026-11-23 09:15:02,\
             9999999999.99,CNY,622848******5671,,\n"
        ));
    }
    std::fs::write(&path, text).unwrap();
    let output = std::process::Command::new(support::BIN)
        .args(["check", path.to_str().unwrap(), "--kind", "terminal"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "huge.csv:10002: amount: the CNY amounts of this file add up to more than \
             100000000000000.00 by this row"
        ),
        "{stderr}"
    );
}

/// A reason that runs over lines, a blank one and one holding a space among
/// them, reaches the outputs as it was written (the reader marks blank lines
/// to count them, and takes the marks out again).
#[test]
fn a_reason_over_lines_keeps_its_blank_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(
        path("t.csv"),
        "merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,\
         currency,card_no,orig_trace_no,orig_rrn\n\
         898310058120001,10000101,000231,000001,633012000001,A1B2C3,SALE,\
         2026-11-23 09:15:02,88.00,CNY,622848******5671,,\n",
    )
    .unwrap();
    std::fs::write(
        path("b.csv"),
        "settle_date,merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,\
         txn_time,amount,fee,net_amount,currency,card_no\n",
    )
    .unwrap();
    std::fs::write(
        path("c.csv"),
        "request_ref,merchant_id,merchant_name,terminal_id,trace_no,rrn,txn_time,amount,\
         refund_amount,reason,customer_consent\n\
         CR-1,898310058120001,,10000101,000001,633012000001,2026-11-23 09:15:02,88.00,,\
         \"customer asked\n\n \ntwice\",yes\n",
    )
    .unwrap();
    support::reconcile_requests_in(dir.path(), "2026-11-23 20:00", &[], 1);
    let voids = std::fs::read_to_string(path("out/void_requests.csv")).unwrap();
    assert!(voids.contains("\"customer asked\n\n \ntwice\""), "{voids}");
}
