//! Format profiles end to end: each test writes its own fixtures (GBK bytes
//! included) into a temporary folder and runs the real binary on them.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::BIN;

/// Byte widths of the UnionPay 全渠道 ZM detail record (42 fields).
const ZM_WIDTHS: [usize; 42] = [
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21,
    15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98,
];

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable, "{text} is not GBK");
    bytes.into_owned()
}

/// One ZM record: the given (1-based field, text) pairs GBK-encoded and
/// space-padded to their byte widths, a space after every field.
fn zm_record(fields: &[(usize, &str)]) -> Vec<u8> {
    let mut record = Vec::new();
    for (i, width) in ZM_WIDTHS.iter().enumerate() {
        let mut cell = fields
            .iter()
            .find(|(n, _)| *n == i + 1)
            .map_or_else(Vec::new, |(_, text)| gbk(text));
        assert!(cell.len() <= *width, "field {} too long", i + 1);
        cell.resize(*width, b' ');
        record.extend(cell);
        record.push(b' ');
    }
    record
}

/// A ZM detail record of a transaction at terminal 31000101.
fn zm_txn(
    trace: &str,
    time: &str,
    card: &str,
    fen: &str,
    fee: &str,
    net: &str,
    code: &str,
) -> Vec<u8> {
    zm_record(&[
        (1, "S22"),
        (4, trace),
        (5, time),
        (6, card),
        (7, fen),
        (16, fee),
        (17, net),
        (20, code),
        (28, "898310058120001"),
        // A Chinese merchant name: 8 bytes of GBK in a 32-byte field.
        (31, "测试商户"),
        (34, "31000101"),
    ])
}

fn zm_file(records: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for record in records {
        bytes.extend(record);
        bytes.extend(b"\r\n");
    }
    bytes
}

const TERMINAL_HEADER: &str = "merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,currency,card_no,orig_trace_no,orig_rrn\n";

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the posrecon binary")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Every byte the run wrote under `out/`, as text.
fn written(dir: &Path) -> String {
    let mut all = String::new();
    if let Ok(entries) = fs::read_dir(dir.join("out")) {
        for entry in entries {
            all.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    all
}

#[test]
fn unionpay_zm_file_reconciles_with_no_config() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // Settled 2027-01-02: a sale on 31 Dec (last year), a refund on 1 Jan.
    let zm = zm_file(&[
        zm_txn(
            "000101",
            "1231235959",
            "6228480012345671",
            "000000010000",
            "D000000000038",
            "C000000009962",
            "01",
        ),
        zm_txn(
            "000102",
            "0101080000",
            "622848******1234",
            "000000005000",
            "C000000000019",
            "D000000004981",
            "04",
        ),
    ]);
    fs::write(dir.join("INN27010201ZM_898310058120001"), zm).unwrap();
    fs::write(
        dir.join("terminal.csv"),
        format!(
            "{TERMINAL_HEADER}\
             898310058120001,31000101,000001,000101,,,SALE,2026-12-31 23:59:59,100.00,CNY,6228480012345671,,\n\
             898310058120001,31000101,000002,000102,,,REFUND,2027-01-01 08:00:00,50.00,CNY,6228481234561234,,\n"
        ),
    )
    .unwrap();
    let output = run(
        dir,
        &[
            "reconcile",
            "--terminal",
            "terminal.csv",
            "--bank",
            "unionpay-zm:INN27010201ZM_898310058120001",
            "--as-of",
            "2027-01-02 10:00",
            "--no-ledger",
            "--write-matches",
        ],
    );
    assert_eq!(stderr(&output), "");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("all reconciled"),
        "{}",
        stdout(&output)
    );
    let matches = fs::read_to_string(dir.join("out/matches.csv")).unwrap();
    assert!(matches.contains("2026-12-31 23:59:59"), "{matches}");
    assert!(matches.contains("MATCHED"), "{matches}");
    assert!(!written(dir).contains("6228480012345671"));

    let check = run(
        dir,
        &[
            "check",
            "INN27010201ZM_898310058120001",
            "--profile",
            "unionpay-zm",
        ],
    );
    assert_eq!(
        stdout(&check),
        "INN27010201ZM_898310058120001: valid bank settlement file: 2 rows, amount 150.00 CNY\n"
    );
}

#[test]
fn unionpay_zm_settle_date_from_the_flag_and_longer_or_stripped_records() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut longer = zm_txn(
        "000101",
        "1123140509",
        "622848******5671",
        "000000010000",
        "D000000000038",
        "C000000009962",
        "01",
    );
    longer.extend(b"NEW FIELDS OF A LATER VERSION");
    // Some exports strip a record's trailing blanks: it ends after field 34.
    let mut stripped = zm_txn(
        "000102",
        "1123150000",
        "622848******5671",
        "000000005000",
        "D000000000019",
        "C000000004981",
        "01",
    );
    while stripped.last() == Some(&b' ') {
        stripped.pop();
    }
    assert_eq!(stripped.len(), 396);
    fs::write(dir.join("zm.txt"), zm_file(&[longer, stripped])).unwrap();
    let without = run(dir, &["check", "zm.txt", "--profile", "unionpay-zm"]);
    assert_eq!(without.status.code(), Some(3));
    assert_eq!(
        stderr(&without),
        "posrecon: error: zm.txt: settle_date: the file name \"zm.txt\" does not hold the settlement date \
         (expected INN261123 …); name it with --settle-date\n"
    );
    let with = run(
        dir,
        &[
            "check",
            "zm.txt",
            "--profile",
            "unionpay-zm",
            "--settle-date",
            "2026-11-24",
        ],
    );
    assert_eq!(stderr(&with), "");
    assert_eq!(
        stdout(&with),
        "zm.txt: valid bank settlement file: 2 rows, amount 150.00 CNY\n"
    );
}

#[test]
fn unionpay_zm_problems_name_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut short = zm_txn(
        "000103",
        "1123140509",
        "622848******5671",
        "000000001000",
        "D000000000004",
        "C000000000996",
        "01",
    );
    // Cut inside field 34, the terminal id: too short to read.
    short.truncate(390);
    let zm = zm_file(&[
        // The fee is a credit on a sale: the merchant would be paid the fee.
        zm_txn(
            "000101",
            "1123140509",
            "6228480012345671",
            "000000010000",
            "C000000000038",
            "C000000009962",
            "01",
        ),
        zm_txn(
            "000102",
            "1123140509",
            "622848******5671",
            "00000001000A",
            "D000000000038",
            "C000000009962",
            "99",
        ),
        short,
        // The fee and the net do not add up to the amount.
        zm_txn(
            "000104",
            "1123140509",
            "622848******5671",
            "000000010000",
            "D000000000038",
            "C000000009952",
            "01",
        ),
    ]);
    fs::write(dir.join("INN26112401ZM_898310058120001"), zm).unwrap();
    let output = run(
        dir,
        &[
            "check",
            "INN26112401ZM_898310058120001",
            "--kind",
            "bank",
            "--profile",
            "unionpay-zm",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: the input has 5 problems\n\
         INN26112401ZM_898310058120001:1: fee: \"C000000000038\" is a credit (C), but the fee of a SALE is a debit (D) for the merchant\n\
         INN26112401ZM_898310058120001:2: txn_type: \"99\" is not a transaction code of profile \"unionpay-zm\" (01, 31, 04, 03)\n\
         INN26112401ZM_898310058120001:2: amount: \"00000001000A\" is not an amount in fen (digits only, like 000000001230 for 12.30)\n\
         INN26112401ZM_898310058120001:3: is 390 bytes long, but a record of profile \"unionpay-zm\" is at least 396 bytes (through field 34, the last it reads)\n\
         INN26112401ZM_898310058120001:4: net_amount: 99.52 is not amount - fee (100.00 - 0.38 = 99.62)\n"
    );
    assert!(!stderr(&output).contains("6228480012345671"));
}

/// An acquirer's CSV: GBK, a `#` preamble, Chinese headers, cells quoted
/// with a backtick and ending in a tab, Chinese transaction codes, and a
/// totals trailer.
const ACQUIRER_CONFIG: &str = r##"
[profiles.acquirer]
kind = "bank"
encoding = "gbk"
delimiter = ","
skip_prefixes = ["#"]
strip_leading = "`'"

[profiles.acquirer.fields]
settle_date = { column = "清算日期", format = "%Y%m%d" }
merchant_id = "商户号"
terminal_id = "终端号"
batch_no = "交易批次号"
trace_no = "凭证号"
rrn = "参考号"
txn_type = "交易类型"
txn_time = { column = "交易时间", format = "%Y%m%d%H%M%S" }
amount = "交易金额"
fee = "手续费"
net_amount = "结算金额"
card_no = "卡号"

[profiles.acquirer.txn_types]
"消费" = "SALE"
"退货" = "REFUND"

[profiles.acquirer.trailer]
prefix = "合计"
count_field = 2
amount_field = 3
"##;

fn acquirer_csv(rows: &[&str], trailer: &str) -> Vec<u8> {
    let mut text = String::from(
        "# 某某银行 商户交易明细\n# 导出时间 2026-11-24 06:00:00\n\
         清算日期,商户号,商户名称,终端号,交易时间,交易类型,交易批次号,凭证号,参考号,卡号,交易金额,手续费,结算金额\n",
    );
    for row in rows {
        text.push_str(row);
        text.push_str("\r\n");
    }
    text.push_str(trailer);
    text.push('\n');
    gbk(&text)
}

const ACQUIRER_ROW_1: &str = "`20261124,`898310058120001,测试商户,31000101,`20261123140509\t,消费,`000001,`000101,`632711000101,`6228480012345671\t,100.00,0.38,99.62";
const ACQUIRER_ROW_2: &str = "`20261124,`898310058120001,\"测试商户,二店\",31000101,'20261123150000,退货,`000001,`000102,`632711000102,622848******1234,50.00,0.19,49.81";

fn acquirer_night(dir: &Path, trailer: &str) {
    fs::write(dir.join("posrecon.toml"), ACQUIRER_CONFIG).unwrap();
    fs::write(
        dir.join("bank.csv"),
        acquirer_csv(&[ACQUIRER_ROW_1, ACQUIRER_ROW_2], trailer),
    )
    .unwrap();
    fs::write(
        dir.join("terminal.csv"),
        format!(
            "{TERMINAL_HEADER}\
             898310058120001,31000101,000001,000101,632711000101,,SALE,2026-11-23 14:05:09,100.00,CNY,6228480012345671,,\n\
             898310058120001,31000101,000001,000102,632711000102,,REFUND,2026-11-23 15:00:00,50.00,CNY,6228481234561234,,\n"
        ),
    )
    .unwrap();
}

#[test]
fn acquirer_gbk_csv_reconciles_through_its_profile() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    acquirer_night(dir, "合计,2,150.00");
    let output = run(
        dir,
        &[
            "reconcile",
            "--config",
            "posrecon.toml",
            "--terminal",
            "terminal.csv",
            "--bank-profile",
            "acquirer",
            "--bank",
            "bank.csv",
            "--as-of",
            "2026-11-24 10:00",
            "--no-ledger",
        ],
    );
    assert_eq!(stderr(&output), "");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(!written(dir).contains("6228480012345671"));
    let listed = run(dir, &["profiles", "--config", "posrecon.toml"]);
    assert!(
        stdout(&listed).contains("| acquirer    | bank     | posrecon.toml |"),
        "{}",
        stdout(&listed)
    );
}

#[test]
fn trailer_that_disagrees_is_bad_input_naming_both_figures() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    acquirer_night(dir, "合计,3,250.00");
    let output = run(
        dir,
        &[
            "reconcile",
            "--config",
            "posrecon.toml",
            "--terminal",
            "terminal.csv",
            "--bank",
            "acquirer:bank.csv",
            "--as-of",
            "2026-11-24 10:00",
            "--no-ledger",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: the input has 2 problems\n\
         bank.csv:6: trailer: states 3 records, but the file holds 2\n\
         bank.csv:6: trailer: states a total of 250.00, but the amounts read total 150.00\n"
    );
    assert!(!dir.join("out").exists(), "nothing is written on bad input");
}

#[test]
fn missing_trailer_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    acquirer_night(dir, "");
    let output = run(
        dir,
        &[
            "check",
            "bank.csv",
            "--config",
            "posrecon.toml",
            "--profile",
            "acquirer",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: bank.csv: trailer: there is no trailer line starting with \"合计\", \
         which profile \"acquirer\" expects after the data\n"
    );
}

#[test]
fn a_wrong_encoding_declared_is_a_clear_error_not_mojibake() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    acquirer_night(dir, "合计,2,150.00");
    // The same file in UTF-8, read by a profile that says GBK.
    let utf8 = encoding_rs::GBK
        .decode(&fs::read(dir.join("bank.csv")).unwrap())
        .0
        .into_owned();
    fs::write(dir.join("bank-utf8.csv"), utf8).unwrap();
    let output = run(
        dir,
        &[
            "check",
            "bank-utf8.csv",
            "--config",
            "posrecon.toml",
            "--profile",
            "acquirer",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: bank-utf8.csv:1: is UTF-8 text, but profile \"acquirer\" declares encoding \"gbk\": \
         set encoding = \"utf-8\" in the profile, or check that this is the right file\n"
    );
    // A GBK file read by a profile that says UTF-8.
    let config = ACQUIRER_CONFIG.replace("encoding = \"gbk\"", "encoding = \"utf-8\"");
    fs::write(dir.join("utf8.toml"), config).unwrap();
    let output = run(
        dir,
        &[
            "check",
            "bank.csv",
            "--config",
            "utf8.toml",
            "--profile",
            "acquirer",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: bank.csv:3: is not UTF-8 text, but profile \"acquirer\" declares encoding \"utf-8\". \
         Chinese bank files are often GBK-encoded: set encoding = \"gbk\" in the profile\n"
    );
}

#[test]
fn profile_names_are_checked_and_other_colons_are_paths() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let unknown = run(
        dir,
        &[
            "reconcile",
            "--terminal",
            "t.csv",
            "--bank",
            "b.csv",
            "--bank-profile",
            "nope",
            "--no-ledger",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(
        stderr(&unknown),
        "posrecon: error: --bank-profile: there is no profile named \"nope\"; `posrecon profiles` lists them\n"
    );
    let wrong_kind = run(
        dir,
        &[
            "reconcile",
            "--terminal",
            "unionpay-zm:t.csv",
            "--bank",
            "b.csv",
            "--no-ledger",
        ],
    );
    assert_eq!(wrong_kind.status.code(), Some(2));
    assert_eq!(
        stderr(&wrong_kind),
        "posrecon: error: --terminal: profile \"unionpay-zm\" reads bank settlement files, not terminal batch files\n"
    );
    // "night:1" is no profile's name: the whole argument is the path.
    fs::write(dir.join("night:1.csv"), TERMINAL_HEADER).unwrap();
    let check = run(dir, &["check", "night:1.csv", "--kind", "terminal"]);
    assert_eq!(
        stdout(&check),
        "night:1.csv: valid terminal batch file: 0 rows, amount 0.00\n"
    );
    let colon = run(
        dir,
        &[
            "reconcile",
            "--terminal",
            "night:1.csv",
            "--bank",
            "missing.csv",
            "--no-ledger",
        ],
    );
    assert_eq!(
        stderr(&colon),
        "posrecon: error: missing.csv: cannot open the file: No such file or directory (os error 2)\n"
    );
}

const POS_EXPORT_CONFIG: &str = r#"
[profiles.pos-export]
kind = "terminal"
delimiter = "|"
header = false
skip_lines = 1
footer_lines = 1

[profiles.pos-export.fields]
merchant_id = { field = 1 }
terminal_id = { field = 2 }
batch_no = { field = 3 }
trace_no = { field = 4 }
txn_type = { field = 5 }
txn_time = { field = 6, format = "%Y%m%d%H%M%S" }
amount = { field = 7, style = "fen" }
card_no = { field = 8 }
currency = { value = "CNY" }
"#;

#[test]
fn headerless_terminal_profile_with_fen_amounts() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fs::write(dir.join("posrecon.toml"), POS_EXPORT_CONFIG).unwrap();
    fs::write(
        dir.join("pos.txt"),
        "EXPORT v2\n\
         898310058120001|31000101|000001|000101|SALE|20261123140509|10000|6228480012345671\n\
         898310058120001|31000101|000001|000102|SALE|20261123140609|1|6228480012345671\n\
         END 2\n",
    )
    .unwrap();
    let output = run(
        dir,
        &[
            "check",
            "pos.txt",
            "--config",
            "posrecon.toml",
            "--profile",
            "pos-export",
        ],
    );
    assert_eq!(stderr(&output), "");
    assert_eq!(
        stdout(&output),
        "pos.txt: valid terminal batch file: 2 rows, amount 100.01 CNY\n"
    );
}

#[test]
fn sample_bank_file_in_the_acquirer_layout_reconciles_like_the_canonical_one() {
    let root = crate::support::root();
    let night = |bank: &str, out: &Path| {
        let out = out.to_str().unwrap();
        let output = run(
            root,
            &[
                "reconcile",
                "--config",
                "sample-data/acquirer-gbk.toml",
                "--terminal",
                "sample-data/terminal-2026-11-23.csv",
                "--terminal",
                "sample-data/terminal-2026-11-24.csv",
                "--bank",
                bank,
                "--merchants",
                "sample-data/merchants.csv",
                "--card-status",
                "sample-data/card-status.csv",
                "--cancellations",
                "sample-data/cancellations.csv",
                "--as-of",
                "2026-11-24 22:00",
                "--out",
                out,
                "--no-ledger",
            ],
        );
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    };
    let dir = tempfile::tempdir().unwrap();
    let (canonical, acquirer) = (dir.path().join("canonical"), dir.path().join("acquirer"));
    night("sample-data/bank-2026-11-24.csv", &canonical);
    night(
        "acquirer-gbk:sample-data/bank-2026-11-24-acquirer-gbk.csv",
        &acquirer,
    );
    for name in [
        "exceptions.csv",
        "pending.csv",
        "void_requests.csv",
        "refund_instructions.csv",
        "disputes.csv",
        "rejected_cancellations.csv",
    ] {
        assert_eq!(
            fs::read_to_string(canonical.join(name)).unwrap(),
            fs::read_to_string(acquirer.join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn trailer_figures_from_a_summary_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let config = ACQUIRER_CONFIG.replace(
        "prefix = \"合计\"\ncount_field = 2\namount_field = 3",
        "file = \"{name}.sum\"\ncount_field = 1\namount_field = 2\namount_style = \"fen\"",
    );
    fs::write(dir.join("posrecon.toml"), config).unwrap();
    fs::write(
        dir.join("bank.csv"),
        acquirer_csv(&[ACQUIRER_ROW_1, ACQUIRER_ROW_2], ""),
    )
    .unwrap();
    let check = || {
        run(
            dir,
            &[
                "check",
                "bank.csv",
                "--config",
                "posrecon.toml",
                "--profile",
                "acquirer",
            ],
        )
    };

    let missing = check();
    assert_eq!(missing.status.code(), Some(3));
    assert_eq!(
        stderr(&missing),
        "posrecon: error: bank.csv.sum: trailer: cannot open the summary file of bank.csv: \
         No such file or directory (os error 2)\n"
    );

    fs::write(dir.join("bank.csv.sum"), gbk("\n2,15000\n")).unwrap();
    let agrees = check();
    assert_eq!(stderr(&agrees), "");
    assert_eq!(
        stdout(&agrees),
        "bank.csv: valid bank settlement file: 2 rows, amount 150.00 CNY\n"
    );

    fs::write(dir.join("bank.csv.sum"), gbk("3,15000\n")).unwrap();
    let disagrees = check();
    assert_eq!(disagrees.status.code(), Some(3));
    assert_eq!(
        stderr(&disagrees),
        "posrecon: error: bank.csv.sum:1: trailer: states 3 records, but bank.csv holds 2\n"
    );
}

/// A constant goes through its field's style like a cell: a fee of
/// `000000000038` fen is 0.38, and `net_amount = amount - fee` holds.
#[test]
fn a_constant_in_fen_is_read_as_fen() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fs::write(
        dir.join("posrecon.toml"),
        r#"
[profiles.flat-fee]
kind = "bank"

[profiles.flat-fee.fields]
settle_date = { value = "20261124", format = "%Y%m%d" }
merchant_id = "mid"
terminal_id = "tid"
trace_no = "trace"
txn_type = "type"
txn_time = "time"
amount = "amount"
fee = { value = "000000000038", style = "fen" }
net_amount = "net"
card_no = "card"
"#,
    )
    .unwrap();
    fs::write(
        dir.join("bank.csv"),
        "mid,tid,trace,type,time,amount,net,card\n\
         898310058120001,31000101,000101,SALE,2026-11-23 14:05:09,100.00,99.62,622848******5671\n",
    )
    .unwrap();
    let output = run(
        dir,
        &[
            "check",
            "bank.csv",
            "--config",
            "posrecon.toml",
            "--profile",
            "flat-fee",
        ],
    );
    assert_eq!(stderr(&output), "");
    assert_eq!(
        stdout(&output),
        "bank.csv: valid bank settlement file: 1 row, amount 100.00 CNY\n"
    );

    // A constant that its style cannot read is one error naming the key.
    let config = fs::read_to_string(dir.join("posrecon.toml"))
        .unwrap()
        .replace("\"000000000038\"", "\"0.38\"");
    fs::write(dir.join("posrecon.toml"), config).unwrap();
    let output = run(
        dir,
        &[
            "check",
            "bank.csv",
            "--config",
            "posrecon.toml",
            "--profile",
            "flat-fee",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains(
            "profiles.flat-fee.fields.fee.value: \"0.38\" is not an amount in fen (digits only, like 000000001230 for 12.30)"
        ),
        "{}",
        stderr(&output)
    );
}

/// A trailer total with a C/D letter is a net: purchases less refunds and
/// voids, its letter the sign. `D` and `C` of the same figure differ.
#[test]
fn a_cd_trailer_total_is_a_signed_net() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let config = ACQUIRER_CONFIG.replace(
        "amount_field = 3",
        "amount_field = 3\namount_style = \"cd-yuan\"",
    );
    fs::write(dir.join("posrecon.toml"), config).unwrap();
    let check = |trailer: &str| {
        fs::write(
            dir.join("bank.csv"),
            acquirer_csv(&[ACQUIRER_ROW_1, ACQUIRER_ROW_2], trailer),
        )
        .unwrap();
        run(
            dir,
            &[
                "check",
                "bank.csv",
                "--config",
                "posrecon.toml",
                "--profile",
                "acquirer",
            ],
        )
    };
    // A sale of 100.00 and a refund of 50.00: a net credit of 50.00.
    let agrees = check("合计,2,C50.00");
    assert_eq!(stderr(&agrees), "");
    assert_eq!(agrees.status.code(), Some(0));

    let debit = check("合计,2,D50.00");
    assert_eq!(debit.status.code(), Some(3));
    assert_eq!(
        stderr(&debit),
        "posrecon: error: bank.csv:6: trailer: states a net total of \"D50.00\" (-50.00), \
         but the amounts read net 50.00 (purchases less refunds and voids)\n"
    );

    let gross = check("合计,2,C150.00");
    assert_eq!(gross.status.code(), Some(3));
    assert_eq!(
        stderr(&gross),
        "posrecon: error: bank.csv:6: trailer: states a net total of \"C150.00\" (150.00), \
         but the amounts read net 50.00 (purchases less refunds and voids)\n"
    );

    let no_letter = check("合计,2,50.00");
    assert_eq!(no_letter.status.code(), Some(3));
    assert_eq!(
        stderr(&no_letter),
        "posrecon: error: bank.csv:6: trailer: total: \"50.00\" does not start with C (credit) or D (debit)\n"
    );
}

/// `footer_lines` drops the last lines unseen; on a day the source leaves
/// its footer out, the last of them is a real row, and that is an error
/// rather than a transaction lost.
#[test]
fn a_footer_line_that_reads_as_a_row_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fs::write(dir.join("posrecon.toml"), POS_EXPORT_CONFIG).unwrap();
    fs::write(
        dir.join("pos.txt"),
        "EXPORT v2\n\
         898310058120001|31000101|000001|000101|SALE|20261123140509|10000|6228480012345671\n\
         898310058120001|31000101|000001|000102|SALE|20261123140609|1|6228480012345671\n",
    )
    .unwrap();
    let output = run(
        dir,
        &[
            "check",
            "pos.txt",
            "--config",
            "posrecon.toml",
            "--profile",
            "pos-export",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: pos.txt:3: looks like a data row, not a footer: profile \"pos-export\" \
         drops the last 1 non-blank line (footer_lines), but this one has the data's fields and a \
         valid txn_type, txn_time and amount; is the file's footer missing?\n"
    );
    assert!(!stderr(&output).contains("6228480012345671"));
}

/// A year-less time after its settlement date is a problem of the row, not
/// last year's transaction; a December one settled in January is last year's.
#[test]
fn a_yearless_time_after_settlement_is_a_row_problem() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let zm = zm_file(&[
        zm_txn(
            "000101",
            "1231235959",
            "622848******5671",
            "000000010000",
            "D000000000038",
            "C000000009962",
            "01",
        ),
        zm_txn(
            "000102",
            "0103080000",
            "622848******5671",
            "000000010000",
            "D000000000038",
            "C000000009962",
            "01",
        ),
    ]);
    fs::write(dir.join("INN27010201ZM_898310058120001"), zm).unwrap();
    let output = run(
        dir,
        &[
            "check",
            "INN27010201ZM_898310058120001",
            "--profile",
            "unionpay-zm",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: INN27010201ZM_898310058120001:2: txn_time: \"0103080000\" has no year and \
         is after the settlement date 2027-01-02; a time without a year must be on the settlement \
         date or at most 31 days before it\n"
    );
}

/// A zero-byte file is refused whatever the format (SPEC §7): an
/// interrupted transfer leaves the same file as a quiet night, and only the
/// source can tell them apart.
#[test]
fn a_zero_byte_file_is_refused_with_or_without_a_header_row() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    fs::write(dir.join("INN26112401ZM_898310058120001"), b"").unwrap();
    let output = run(
        dir,
        &[
            "check",
            "INN26112401ZM_898310058120001",
            "--profile",
            "unionpay-zm",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: INN26112401ZM_898310058120001: the file is empty (0 bytes); an \
         interrupted transfer leaves the same empty file as a quiet night; fetch it again, or \
         leave it out if the source really sent nothing\n"
    );

    // With a header row, the message says what even a quiet night has.
    fs::write(dir.join("acquirer.toml"), ACQUIRER_CONFIG).unwrap();
    fs::write(dir.join("bank.csv"), b"").unwrap();
    let output = run(
        dir,
        &[
            "check",
            "bank.csv",
            "--config",
            "acquirer.toml",
            "--profile",
            "acquirer",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "posrecon: error: bank.csv: the file is empty (0 bytes); even a night with no transactions has a header row\n"
    );
}

/// `profiles show terminal`, copied under another name, reads a terminal
/// file without the `orig_rrn` column, as the canonical reader does.
#[test]
fn a_copied_terminal_profile_accepts_a_file_without_orig_rrn() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let shown = stdout(&run(dir, &["profiles", "show", "terminal"]));
    assert!(
        shown.contains(
            "orig_rrn = { column = \"orig_rrn\" }  # optional: the file may lack this column"
        ),
        "{shown}"
    );
    fs::write(
        dir.join("posrecon.toml"),
        shown.replace("[profiles.terminal", "[profiles.pos"),
    )
    .unwrap();
    fs::write(
        dir.join("terminal.csv"),
        "merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,amount,currency,card_no,orig_trace_no\n\
         898310058120001,31000101,000001,000101,,,SALE,2026-11-23 14:05:09,100.00,CNY,622848******5671,\n",
    )
    .unwrap();
    for profile in ["pos", "terminal"] {
        let output = run(
            dir,
            &[
                "check",
                "terminal.csv",
                "--config",
                "posrecon.toml",
                "--profile",
                profile,
            ],
        );
        assert_eq!(stderr(&output), "", "{profile}");
        assert_eq!(
            stdout(&output),
            "terminal.csv: valid terminal batch file: 1 row, amount 100.00 CNY\n",
            "{profile}"
        );
    }
}
