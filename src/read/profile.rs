//! Format profiles (SPEC §2): how to read a terminal or bank file in its
//! source's own layout, encoding and vocabulary.
//!
//! This module is pure: the profile schema (`[profiles.NAME]` in the config
//! file), the built-in profiles, their rendering as TOML, and the conversions
//! that turn one source cell into the canonical text the strict readers
//! validate. `profiled.rs` opens the files. A profile never validates a value
//! itself beyond what it must understand to convert it (a fen count, a date
//! format, a C/D letter): the canonical readers stay the one validation stack.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::format::{Item, ParseResult, Parsed, StrftimeItems};
use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::InputKind;
use super::field::{parse_date, parse_txn_type, quote};
use super::{settlement, terminal};
use crate::model::{Amount, TxnType};

/// The text encoding of a profiled file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Gbk,
    Gb18030,
}

impl Encoding {
    fn parse(raw: &str) -> Result<Encoding, String> {
        match raw.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "gbk" | "cp936" => Ok(Encoding::Gbk),
            "gb18030" => Ok(Encoding::Gb18030),
            _ => Err(format!(
                "{} is not an encoding posrecon reads (utf-8, gbk or gb18030)",
                quote(raw)
            )),
        }
    }

    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Gbk => "gbk",
            Encoding::Gb18030 => "gb18030",
        }
    }

    pub(crate) fn codec(self) -> &'static encoding_rs::Encoding {
        match self {
            Encoding::Utf8 => encoding_rs::UTF_8,
            Encoding::Gbk => encoding_rs::GBK,
            Encoding::Gb18030 => encoding_rs::GB18030,
        }
    }

    /// `bytes` as text, with anything not valid in this encoding replaced
    /// by U+FFFD: for showing a line, never for reading its fields.
    pub(crate) fn decode_lossy(self, bytes: &[u8]) -> std::borrow::Cow<'_, str> {
        self.codec().decode_without_bom_handling(bytes).0
    }
}

/// How a profiled file splits a line into fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// The canonical CSV format, read by the canonical reader itself.
    Canonical,
    /// Fields separated by one character, optionally quoted.
    Delimited {
        delimiter: char,
        quote: Option<char>,
    },
    /// Fields of fixed widths counted in encoded bytes, with `separator`
    /// bytes between them. Longer records are accepted: the rest is ignored.
    FixedWidth {
        widths: Vec<usize>,
        separator: usize,
    },
}

impl Layout {
    /// Byte offsets (start, end) of each fixed-width field, and the shortest
    /// record that holds them all (the last separator is optional).
    pub(crate) fn offsets(widths: &[usize], separator: usize) -> (Vec<(usize, usize)>, usize) {
        let mut offsets = Vec::with_capacity(widths.len());
        let mut at = 0;
        for width in widths {
            offsets.push((at, at + width));
            at += width + separator;
        }
        let min = offsets.last().map_or(0, |&(_, end)| end);
        (offsets, min)
    }
}

/// How an amount is written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountStyle {
    /// Decimal yuan, as in the canonical files: `12.30`.
    Yuan,
    /// A whole number of fen: `000000001230`.
    Fen,
    /// A credit/debit letter, then decimal yuan: `C12.30`.
    CdYuan,
    /// A credit/debit letter, then a whole number of fen: `C000000001230`.
    CdFen,
}

impl AmountStyle {
    fn parse(raw: &str) -> Result<AmountStyle, String> {
        match raw {
            "yuan" => Ok(AmountStyle::Yuan),
            "fen" => Ok(AmountStyle::Fen),
            "cd-yuan" => Ok(AmountStyle::CdYuan),
            "cd-fen" => Ok(AmountStyle::CdFen),
            _ => Err(format!(
                "{} is not an amount style (yuan, fen, cd-yuan or cd-fen)",
                quote(raw)
            )),
        }
    }

    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            AmountStyle::Yuan => "yuan",
            AmountStyle::Fen => "fen",
            AmountStyle::CdYuan => "cd-yuan",
            AmountStyle::CdFen => "cd-fen",
        }
    }
}

/// Where a canonical field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSource {
    /// The column with this header name.
    Column(String),
    /// The field at this 1-based position.
    Field(usize),
    /// The same value on every row.
    Value(String),
    /// A date in the file name, right after this prefix (`settle_date` only).
    FileName(String),
}

/// How to get one canonical field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub source: FieldSource,
    /// A chrono format for `txn_time` and `settle_date` (`%Y%m%d%H%M%S`);
    /// without a year (`%m%d%H%M%S`) the year is inferred from the settle date.
    pub format: Option<String>,
    /// For `amount`, `fee` and `net_amount`.
    pub style: AmountStyle,
}

/// A trailer line holding the record count and amount total to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// The trailer line starts with this text (in a summary file, empty
    /// means its first non-blank line).
    pub prefix: String,
    /// A summary file holding the trailer line instead of the data file:
    /// its name, beside the data file, `{name}` standing for the data file's.
    pub file: Option<String>,
    /// 1-based field of the trailer line holding the record count.
    pub count_field: Option<usize>,
    /// 1-based field of the trailer line holding the total of `amount`.
    pub amount_field: Option<usize>,
    pub amount_style: AmountStyle,
}

/// Where a profile was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileOrigin {
    BuiltIn,
    Config(PathBuf),
}

/// How to read one layout of terminal or bank file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// `Terminal` or `Bank`.
    pub kind: InputKind,
    pub origin: ProfileOrigin,
    pub encoding: Encoding,
    pub layout: Layout,
    /// Whether a header row names the columns.
    pub header: bool,
    /// Lines skipped at the start, before the header (or the first data row).
    pub skip_lines: usize,
    /// Before the header, lines starting with one of these are skipped; after
    /// the data, such a line ends the data, and only such lines may follow.
    pub skip_prefixes: Vec<String>,
    /// Lines at the end of the file that are not data (blank lines not counted).
    pub footer_lines: usize,
    /// Characters removed from the start of every cell (a leading `` ` `` or
    /// `'` that keeps a spreadsheet from reading a number).
    pub strip_leading: String,
    /// Canonical field name → where its value comes from, in canonical order.
    pub fields: Vec<(&'static str, FieldSpec)>,
    /// The source's transaction codes → canonical types; empty: canonical names.
    pub txn_types: Vec<(String, TxnType)>,
    pub trailer: Option<Trailer>,
}

impl Profile {
    /// Whether the profile takes the settlement date from the file name,
    /// the only date `--settle-date` replaces.
    pub fn takes_settle_date_from_file_name(&self) -> bool {
        self.fields.iter().any(|(name, spec)| {
            *name == "settle_date" && matches!(spec.source, FieldSource::FileName(_))
        })
    }
}

/// Fields a terminal profile must provide (the others may be empty).
const TERMINAL_NEEDS: &[&str] = &[
    "merchant_id",
    "terminal_id",
    "batch_no",
    "trace_no",
    "txn_type",
    "txn_time",
    "amount",
    "card_no",
];
/// Fields a bank profile must provide (the others may be empty).
const BANK_NEEDS: &[&str] = &[
    "settle_date",
    "merchant_id",
    "terminal_id",
    "trace_no",
    "txn_type",
    "txn_time",
    "amount",
    "fee",
    "net_amount",
    "card_no",
];
const AMOUNT_FIELDS: &[&str] = &["amount", "fee", "net_amount"];
const DATE_FIELDS: &[&str] = &["txn_time", "settle_date"];

/// The canonical field names of a kind, in file order.
pub(crate) fn canonical_fields(kind: InputKind) -> Vec<&'static str> {
    let columns = match kind {
        InputKind::Terminal => terminal::COLUMNS,
        _ => settlement::COLUMNS,
    };
    columns.iter().map(|c| c.name).collect()
}

/// The canonical fields of a kind whose column a file may lack.
fn optional_columns(kind: InputKind) -> Vec<&'static str> {
    let columns = match kind {
        InputKind::Terminal => terminal::COLUMNS,
        _ => settlement::COLUMNS,
    };
    columns
        .iter()
        .filter(|c| c.need == super::table::Need::Optional)
        .map(|c| c.name)
        .collect()
}

/// The names of the built-in profiles.
pub const BUILT_IN: [&str; 3] = ["terminal", "bank", "unionpay-zm"];

/// Byte widths of the 42 fields of a UnionPay 全渠道 ZM detail record.
const UNIONPAY_ZM_WIDTHS: [usize; 42] = [
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21,
    15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98,
];

/// The built-in profiles: the two canonical formats and `unionpay-zm`.
pub fn built_in_profiles() -> Vec<Profile> {
    let canonical = |name: &str, kind: InputKind, description: &str| Profile {
        name: name.into(),
        description: description.into(),
        kind,
        origin: ProfileOrigin::BuiltIn,
        encoding: Encoding::Utf8,
        layout: Layout::Canonical,
        header: true,
        skip_lines: 0,
        skip_prefixes: Vec::new(),
        footer_lines: 0,
        strip_leading: String::new(),
        fields: canonical_fields(kind)
            .into_iter()
            .map(|name| (name, spec(FieldSource::Column(name.into()))))
            .collect(),
        txn_types: Vec::new(),
        trailer: None,
    };
    let field = |n: usize| spec(FieldSource::Field(n));
    let unionpay = Profile {
        name: "unionpay-zm".into(),
        description:
            "China UnionPay 全渠道 merchant reconciliation detail file INN<yymmdd><nn>ZM_<merId>"
                .into(),
        kind: InputKind::Bank,
        origin: ProfileOrigin::BuiltIn,
        encoding: Encoding::Gbk,
        layout: Layout::FixedWidth {
            widths: UNIONPAY_ZM_WIDTHS.to_vec(),
            separator: 1,
        },
        header: false,
        skip_lines: 0,
        skip_prefixes: Vec::new(),
        footer_lines: 0,
        strip_leading: String::new(),
        fields: vec![
            (
                "settle_date",
                FieldSpec {
                    format: Some("%y%m%d".into()),
                    ..spec(FieldSource::FileName("INN".into()))
                },
            ),
            ("merchant_id", field(28)),
            ("terminal_id", field(34)),
            ("trace_no", field(4)),
            ("txn_type", field(20)),
            (
                "txn_time",
                FieldSpec {
                    format: Some("%m%d%H%M%S".into()),
                    ..field(5)
                },
            ),
            (
                "amount",
                FieldSpec {
                    style: AmountStyle::Fen,
                    ..field(7)
                },
            ),
            (
                "fee",
                FieldSpec {
                    style: AmountStyle::CdFen,
                    ..field(16)
                },
            ),
            (
                "net_amount",
                FieldSpec {
                    style: AmountStyle::CdFen,
                    ..field(17)
                },
            ),
            ("card_no", field(6)),
        ],
        txn_types: vec![
            ("01".into(), TxnType::Sale),
            ("31".into(), TxnType::Void),
            ("04".into(), TxnType::Refund),
            ("03".into(), TxnType::PreauthComplete),
        ],
        trailer: None,
    };
    vec![
        canonical(
            "terminal",
            InputKind::Terminal,
            "the canonical terminal batch file (SPEC §2)",
        ),
        canonical(
            "bank",
            InputKind::Bank,
            "the canonical bank settlement file (SPEC §2)",
        ),
        unionpay,
    ]
}

fn spec(source: FieldSource) -> FieldSpec {
    FieldSpec {
        source,
        format: None,
        style: AmountStyle::Yuan,
    }
}

/// Reads one `[profiles.NAME]` table of the config file. Errors name the key.
pub(crate) fn profile_from_toml(
    name: &str,
    table: &toml::Table,
    origin: ProfileOrigin,
) -> Result<Profile, String> {
    let at = |key: &str| format!("profiles.{name}.{key}");
    if BUILT_IN.contains(&name) {
        return Err(format!(
            "profiles.{name}: {name:?} is a built-in profile; give yours another name"
        ));
    }
    if name.is_empty() || name.contains(':') || name.contains(char::is_whitespace) {
        return Err(format!(
            "profiles.{name}: a profile name has no colon or blank (it is written NAME:FILE)"
        ));
    }
    const KEYS: &[&str] = &[
        "kind",
        "description",
        "encoding",
        "layout",
        "delimiter",
        "quote",
        "widths",
        "separator_bytes",
        "header",
        "skip_lines",
        "skip_prefixes",
        "footer_lines",
        "strip_leading",
        "fields",
        "txn_types",
        "trailer",
    ];
    unknown_keys(table, KEYS, &format!("profiles.{name}"))?;
    let text = |key: &str| -> Result<Option<&str>, String> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("{}: must be a string", at(key))),
        }
    };
    let count = |key: &str| -> Result<usize, String> {
        match table.get(key) {
            None => Ok(0),
            Some(value) => {
                as_count(value).ok_or_else(|| format!("{}: must be a whole number", at(key)))
            }
        }
    };
    let kind = match text("kind")? {
        Some("terminal") => InputKind::Terminal,
        Some("bank") => InputKind::Bank,
        Some(other) => {
            return Err(format!(
                "{}: {} is not a kind a profile reads (terminal or bank)",
                at("kind"),
                quote(other)
            ));
        }
        None => return Err(format!("{}: is missing (terminal or bank)", at("kind"))),
    };
    let encoding = Encoding::parse(text("encoding")?.unwrap_or("utf-8"))
        .map_err(|e| format!("{}: {e}", at("encoding")))?;
    let one_char = |key: &str, default: Option<char>| -> Result<Option<char>, String> {
        match text(key)? {
            None => Ok(default),
            Some("") => Ok(None),
            Some(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii() => Ok(Some(c)),
                    _ => Err(format!("{}: must be one ASCII character", at(key))),
                }
            }
        }
    };
    let layout = match text("layout")?.unwrap_or("delimited") {
        "delimited" => Layout::Delimited {
            delimiter: one_char("delimiter", Some(','))?
                .ok_or_else(|| format!("{}: must be one ASCII character", at("delimiter")))?,
            quote: one_char("quote", Some('"'))?,
        },
        "fixed-width" => {
            let widths = match table.get("widths") {
                Some(toml::Value::Array(items)) if !items.is_empty() => items
                    .iter()
                    .map(|w| as_count(w).filter(|&w| w > 0))
                    .collect::<Option<Vec<usize>>>(),
                _ => None,
            }
            .ok_or_else(|| {
                format!(
                    "{}: a fixed-width profile needs a list of field widths in bytes",
                    at("widths")
                )
            })?;
            Layout::FixedWidth {
                widths,
                separator: count("separator_bytes")?,
            }
        }
        other => {
            return Err(format!(
                "{}: {} is not a layout (delimited or fixed-width)",
                at("layout"),
                quote(other)
            ));
        }
    };
    let fixed = matches!(layout, Layout::FixedWidth { .. });
    let header = match table.get("header") {
        None => !fixed,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => return Err(format!("{}: must be true or false", at("header"))),
    };
    if fixed && header {
        return Err(format!(
            "{}: a fixed-width file has no header row to match; use skip_lines",
            at("header")
        ));
    }
    let skip_prefixes = match table.get("skip_prefixes") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                format!(
                    "{}: must be a list of non-empty strings",
                    at("skip_prefixes")
                )
            })?,
        Some(_) => {
            return Err(format!(
                "{}: must be a list of strings",
                at("skip_prefixes")
            ));
        }
    };
    let fields_table = match table.get("fields") {
        Some(toml::Value::Table(t)) => t,
        _ => {
            return Err(format!(
                "{}: is missing: map each canonical field to its source",
                at("fields")
            ));
        }
    };
    let known = canonical_fields(kind);
    let mut fields = Vec::new();
    for (key, value) in fields_table {
        let Some(&canonical) = known.iter().find(|k| **k == key.as_str()) else {
            return Err(format!(
                "{}: a {} has no field {key:?}; its fields are {}",
                at("fields"),
                kind.description(),
                known.join(", ")
            ));
        };
        let spec = field_from_toml(value, &at(&format!("fields.{key}")))?;
        check_field(
            canonical,
            &spec,
            header,
            &layout,
            &at(&format!("fields.{key}")),
        )?;
        fields.push((canonical, spec));
    }
    fields.sort_by_key(|(name, _)| known.iter().position(|k| k == name));
    let needs = if kind == InputKind::Terminal {
        TERMINAL_NEEDS
    } else {
        BANK_NEEDS
    };
    let missing: Vec<&str> = needs
        .iter()
        .copied()
        .filter(|n| !fields.iter().any(|(f, _)| f == n))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{}: a {} profile must map {}",
            at("fields"),
            kind,
            missing.join(", ")
        ));
    }
    let yearless = fields.iter().any(|(name, spec)| {
        *name == "txn_time" && spec.format.as_deref().is_some_and(|f| !has_year(f))
    });
    if yearless && kind != InputKind::Bank {
        return Err(format!(
            "{}: a time format without a year needs a settlement date to infer it from (bank profiles only)",
            at("fields.txn_time")
        ));
    }
    let mut txn_types = Vec::new();
    match table.get("txn_types") {
        None => {}
        Some(toml::Value::Table(map)) => {
            for (code, value) in map {
                let canonical = value
                    .as_str()
                    .ok_or_else(|| {
                        format!("{}: must be a string", at(&format!("txn_types.{code}")))
                    })
                    .and_then(|v| {
                        parse_txn_type(v)
                            .map_err(|e| format!("{}: {e}", at(&format!("txn_types.{code}"))))
                    })?;
                txn_types.push((code.clone(), canonical));
            }
        }
        Some(_) => {
            return Err(format!(
                "{}: must be a table of code = TYPE",
                at("txn_types")
            ));
        }
    }
    let trailer = match table.get("trailer") {
        None => None,
        Some(toml::Value::Table(t)) => Some(trailer_from_toml(t, &at("trailer"))?),
        Some(_) => return Err(format!("{}: must be a table", at("trailer"))),
    };
    let profile = Profile {
        name: name.to_string(),
        description: text("description")?.unwrap_or("").to_string(),
        kind,
        origin,
        encoding,
        layout,
        header,
        skip_lines: count("skip_lines")?,
        skip_prefixes,
        footer_lines: count("footer_lines")?,
        strip_leading: text("strip_leading")?.unwrap_or("").to_string(),
        fields,
        txn_types,
        trailer,
    };
    // A constant is converted like a cell of its field, so a mistake in it
    // is one error naming the key, not one per row.
    for (field, spec) in &profile.fields {
        if matches!(spec.source, FieldSource::Value(_)) {
            convert_constant(field, spec, &profile)
                .map_err(|e| format!("{}: {e}", at(&format!("fields.{field}.value"))))?;
        }
    }
    Ok(profile)
}

/// A constant (`value = "…"`) converted as a cell of its field would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Constant {
    /// The canonical text, the same on every row.
    Canonical(String),
    /// Source text that is converted on each row like a cell, because its
    /// conversion depends on the row: a C/D amount (its letter is checked
    /// against the row's `txn_type`) or a time without a year (the year
    /// comes from the row's settlement date). Already checked to convert.
    PerRow(String),
}

/// Converts the constant of canonical field `name` with the same code as a
/// cell of that field: its `style`, its `format` and the profile's
/// `txn_types` apply. `fee = { value = "000000000038", style = "fen" }` is
/// 0.38, not 38.00.
pub(crate) fn convert_constant(
    name: &str,
    spec: &FieldSpec,
    profile: &Profile,
) -> Result<Constant, String> {
    let FieldSource::Value(value) = &spec.source else {
        return Err(format!("{name} is not a constant"));
    };
    let raw = clean(value, &profile.strip_leading);
    let canonical = match (name, spec.format.as_deref()) {
        ("txn_type", _) if !profile.txn_types.is_empty() => {
            map_txn_type(raw, profile)?.as_str().to_string()
        }
        ("settle_date", Some(format)) => date_text(convert_date(raw, format)?),
        ("txn_time", Some(format)) if has_year(format) => {
            datetime_text(convert_datetime(raw, format, None)?)
        }
        ("txn_time", Some(format)) => {
            // Any leap year reads every month and day; the row gives the year.
            let with_year = format!("%Y|{format}");
            NaiveDateTime::parse_from_str(&format!("2000|{raw}"), &with_year).map_err(|_| {
                format!(
                    "{} is not a date-time in the format {format} (like {})",
                    quote(raw),
                    example(format)
                )
            })?;
            return Ok(Constant::PerRow(value.clone()));
        }
        _ if AMOUNT_FIELDS.contains(&name) => match spec.style {
            AmountStyle::Yuan => raw.to_string(),
            AmountStyle::Fen => parse_fen(raw)?.to_string(),
            AmountStyle::CdYuan | AmountStyle::CdFen => {
                convert_amount(raw, spec.style, name, None)?;
                return Ok(Constant::PerRow(value.clone()));
            }
        },
        _ => raw.to_string(),
    };
    Ok(Constant::Canonical(canonical))
}

fn as_count(value: &toml::Value) -> Option<usize> {
    value.as_integer().and_then(|n| usize::try_from(n).ok())
}

fn unknown_keys(table: &toml::Table, keys: &[&str], at: &str) -> Result<(), String> {
    match table.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "{at}: unknown key {key:?}; expected one of {}",
            keys.join(", ")
        )),
        None => Ok(()),
    }
}

fn field_from_toml(value: &toml::Value, at: &str) -> Result<FieldSpec, String> {
    let table = match value {
        toml::Value::String(name) => return Ok(spec(FieldSource::Column(name.clone()))),
        toml::Value::Table(table) => table,
        _ => {
            return Err(format!(
                "{at}: must be a column name or a table like {{ column = \"…\" }}"
            ));
        }
    };
    const KEYS: &[&str] = &["column", "field", "value", "file_name", "format", "style"];
    unknown_keys(table, KEYS, at)?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{at}.{key}: must be a string")),
        }
    };
    let mut sources = Vec::new();
    if let Some(column) = text("column")? {
        sources.push(FieldSource::Column(column));
    }
    if let Some(value) = table.get("field") {
        let n = as_count(value)
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{at}.field: must be a field number from 1"))?;
        sources.push(FieldSource::Field(n));
    }
    if let Some(value) = text("value")? {
        sources.push(FieldSource::Value(value));
    }
    if let Some(prefix) = text("file_name")? {
        sources.push(FieldSource::FileName(prefix));
    }
    if sources.len() != 1 {
        return Err(format!(
            "{at}: give exactly one of column, field, value or file_name"
        ));
    }
    let style = text("style")?
        .map(|s| AmountStyle::parse(&s).map_err(|e| format!("{at}.style: {e}")))
        .transpose()?
        .unwrap_or(AmountStyle::Yuan);
    Ok(FieldSpec {
        source: sources.remove(0),
        format: text("format")?,
        style,
    })
}

fn check_field(
    name: &str,
    spec: &FieldSpec,
    header: bool,
    layout: &Layout,
    at: &str,
) -> Result<(), String> {
    match &spec.source {
        FieldSource::Column(_) if !header => {
            return Err(format!(
                "{at}: a file without a header row names fields by number: {{ field = N }}"
            ));
        }
        FieldSource::Field(n) => {
            if let Layout::FixedWidth { widths, .. } = layout
                && *n > widths.len()
            {
                return Err(format!(
                    "{at}: field {n} is past the {} widths given",
                    widths.len()
                ));
            }
        }
        FieldSource::FileName(_) if name != "settle_date" => {
            return Err(format!(
                "{at}: only settle_date can come from the file name"
            ));
        }
        FieldSource::FileName(_) if spec.format.is_none() => {
            return Err(format!(
                "{at}: a date from the file name needs its format, like \"%y%m%d\""
            ));
        }
        _ => {}
    }
    if spec.format.is_some() && !DATE_FIELDS.contains(&name) {
        return Err(format!(
            "{at}.format: only txn_time and settle_date have a format"
        ));
    }
    if spec.style != AmountStyle::Yuan && !AMOUNT_FIELDS.contains(&name) {
        return Err(format!(
            "{at}.style: only amount, fee and net_amount have a style"
        ));
    }
    if let Some(format) = &spec.format {
        // Formatting a known moment proves the format is one chrono knows.
        let sample = NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(14, 5, 9))
            .expect("IE: a real date");
        let mut text = String::new();
        if write!(text, "{}", sample.format(format)).is_err() {
            return Err(format!(
                "{at}.format: {format:?} is not a valid date format"
            ));
        }
        let parsed = if name == "settle_date" {
            convert_date(&text, format).map(|_| ())
        } else {
            convert_datetime(&text, format, Some(sample.date())).map(|_| ())
        };
        if parsed.is_err() {
            return Err(format!(
                "{at}.format: {format:?} cannot be read back (it must give the whole {})",
                if name == "settle_date" {
                    "date"
                } else {
                    "date and time, to the second"
                }
            ));
        }
    }
    Ok(())
}

fn trailer_from_toml(table: &toml::Table, at: &str) -> Result<Trailer, String> {
    unknown_keys(
        table,
        &[
            "prefix",
            "file",
            "count_field",
            "amount_field",
            "amount_style",
        ],
        at,
    )?;
    let file = match table.get("file") {
        None => None,
        Some(toml::Value::String(f)) if !f.is_empty() => Some(f.clone()),
        Some(_) => {
            return Err(format!(
                "{at}.file: must be a file name, like \"{{name}}.sum\""
            ));
        }
    };
    let prefix = table
        .get("prefix")
        .and_then(toml::Value::as_str)
        .filter(|s| !s.is_empty() || file.is_some())
        .or(file.as_ref().map(|_| ""))
        .ok_or_else(|| format!("{at}.prefix: the text the trailer line starts with is required"))?
        .to_string();
    let number = |key: &str| -> Result<Option<usize>, String> {
        table
            .get(key)
            .map(|v| {
                as_count(v)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{at}.{key}: must be a field number from 1"))
            })
            .transpose()
    };
    let (count_field, amount_field) = (number("count_field")?, number("amount_field")?);
    if count_field.is_none() && amount_field.is_none() {
        return Err(format!("{at}: give count_field, amount_field or both"));
    }
    let amount_style = match table.get("amount_style") {
        None => AmountStyle::Yuan,
        Some(v) => AmountStyle::parse(v.as_str().unwrap_or(""))
            .map_err(|e| format!("{at}.amount_style: {e}"))?,
    };
    Ok(Trailer {
        prefix,
        file,
        count_field,
        amount_field,
        amount_style,
    })
}

/// A TOML string literal.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML key, quoted when it is not a bare key.
fn toml_key(s: &str) -> String {
    // Codes like 01 are quoted so nobody reads them as numbers.
    if s.chars().any(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.to_string()
    } else {
        toml_str(s)
    }
}

/// Renders a profile as the `[profiles.NAME]` TOML that defines it, to copy
/// into a config file and edit.
pub fn profile_to_toml(profile: &Profile) -> String {
    let mut out = String::new();
    let name = toml_key(&profile.name);
    let w = &mut out;
    // Writing to a String cannot fail.
    let _ = writeln!(w, "# {}: {}", profile.name, profile.description);
    if profile.origin == ProfileOrigin::BuiltIn {
        let _ = writeln!(
            w,
            "# Built in. To adapt it, copy it into your config file under another name."
        );
    }
    let _ = writeln!(w, "[profiles.{name}]");
    let _ = writeln!(w, "kind = {}", toml_str(profile.kind.as_str()));
    let _ = writeln!(w, "description = {}", toml_str(&profile.description));
    let _ = writeln!(w, "encoding = {}", toml_str(profile.encoding.as_str()));
    match &profile.layout {
        Layout::Canonical => {
            let _ = writeln!(w, "layout = \"delimited\"");
            let _ = writeln!(w, "delimiter = \",\"");
            let _ = writeln!(w, "quote = '\"'");
        }
        Layout::Delimited { delimiter, quote } => {
            let _ = writeln!(w, "layout = \"delimited\"");
            let _ = writeln!(w, "delimiter = {}", toml_str(&delimiter.to_string()));
            let _ = writeln!(
                w,
                "quote = {}",
                toml_str(&quote.map(String::from).unwrap_or_default())
            );
        }
        Layout::FixedWidth { widths, separator } => {
            let _ = writeln!(w, "layout = \"fixed-width\"");
            let list: Vec<String> = widths.iter().map(usize::to_string).collect();
            let _ = writeln!(w, "widths = [{}]", list.join(", "));
            let _ = writeln!(w, "separator_bytes = {separator}");
        }
    }
    let _ = writeln!(w, "header = {}", profile.header);
    let _ = writeln!(w, "skip_lines = {}", profile.skip_lines);
    let prefixes: Vec<String> = profile.skip_prefixes.iter().map(|p| toml_str(p)).collect();
    let _ = writeln!(w, "skip_prefixes = [{}]", prefixes.join(", "));
    let _ = writeln!(w, "footer_lines = {}", profile.footer_lines);
    let _ = writeln!(w, "strip_leading = {}", toml_str(&profile.strip_leading));
    let _ = writeln!(w, "\n[profiles.{name}.fields]");
    for (field, spec) in &profile.fields {
        let mut parts = vec![match &spec.source {
            FieldSource::Column(c) => format!("column = {}", toml_str(c)),
            FieldSource::Field(n) => format!("field = {n}"),
            FieldSource::Value(v) => format!("value = {}", toml_str(v)),
            FieldSource::FileName(p) => format!("file_name = {}", toml_str(p)),
        }];
        if let Some(format) = &spec.format {
            parts.push(format!("format = {}", toml_str(format)));
        }
        if spec.style != AmountStyle::Yuan {
            parts.push(format!("style = {}", toml_str(spec.style.as_str())));
        }
        let optional = matches!(spec.source, FieldSource::Column(_))
            && optional_columns(profile.kind).contains(field);
        let note = if optional {
            "  # optional: the file may lack this column"
        } else {
            ""
        };
        let _ = writeln!(w, "{field} = {{ {} }}{note}", parts.join(", "));
    }
    if !profile.txn_types.is_empty() {
        let _ = writeln!(w, "\n[profiles.{name}.txn_types]");
        for (code, txn_type) in &profile.txn_types {
            let _ = writeln!(w, "{} = {}", toml_key(code), toml_str(txn_type.as_str()));
        }
    }
    if let Some(trailer) = &profile.trailer {
        let _ = writeln!(w, "\n[profiles.{name}.trailer]");
        let _ = writeln!(w, "prefix = {}", toml_str(&trailer.prefix));
        if let Some(file) = &trailer.file {
            let _ = writeln!(w, "file = {}", toml_str(file));
        }
        if let Some(n) = trailer.count_field {
            let _ = writeln!(w, "count_field = {n}");
        }
        if let Some(n) = trailer.amount_field {
            let _ = writeln!(w, "amount_field = {n}");
        }
        let _ = writeln!(
            w,
            "amount_style = {}",
            toml_str(trailer.amount_style.as_str())
        );
    }
    out
}

/// True when a chrono format names the year.
pub(crate) fn has_year(format: &str) -> bool {
    ["%Y", "%y", "%C", "%F", "%D", "%G", "%g", "%c", "%+", "%s"]
        .iter()
        .any(|spec| format.contains(spec))
}

/// Removes blanks (a trailing tab included) and one leading character from
/// `strip` (the `` ` `` or `'` some exports put before numbers).
pub(crate) fn clean<'a>(raw: &'a str, strip: &str) -> &'a str {
    let text = raw.trim();
    match text.chars().next() {
        Some(first) if strip.contains(first) => text[first.len_utf8()..].trim(),
        _ => text,
    }
}

/// An example of `format`, for messages.
fn example(format: &str) -> String {
    let sample = NaiveDate::from_ymd_opt(2026, 11, 23)
        .and_then(|d| d.and_hms_opt(14, 5, 9))
        .expect("IE: a real date");
    let mut text = String::new();
    match write!(text, "{}", sample.format(format)) {
        Ok(()) => text,
        Err(_) => String::new(),
    }
}

/// Parses a date-time in a profile's format. A format without a year takes
/// the year of `settle_date`, or the one before when that would put the
/// transaction after it (a December transaction settled in January), and
/// the time must then be at most 31 days before `settle_date`.
pub(crate) fn convert_datetime(
    raw: &str,
    format: &str,
    settle_date: Option<NaiveDate>,
) -> Result<NaiveDateTime, String> {
    let bad = || {
        format!(
            "{} is not a date-time in the format {format} (like {})",
            quote(raw),
            example(format)
        )
    };
    if has_year(format) {
        // No offset adjustment, as `NaiveDateTime::parse_from_str` finishes.
        return parse_with(raw, format, |p| p.to_naive_datetime_with_offset(0))
            .unwrap_or_else(|| NaiveDateTime::parse_from_str(raw, format))
            .ok()
            .filter(|_| as_wide_as_written(raw, format))
            .ok_or_else(bad);
    }
    let settle_date = settle_date.ok_or_else(|| {
        format!(
            "{} has no year, and there is no settlement date to infer it from",
            quote(raw)
        )
    })?;
    let with_year = format!("%Y|{format}");
    let in_year = |year: i32| NaiveDateTime::parse_from_str(&format!("{year}|{raw}"), &with_year);
    let this_year = in_year(settle_date.year());
    let last_year = in_year(settle_date.year() - 1);
    if this_year.is_err() && last_year.is_err() {
        return Err(bad());
    }
    // The settlement year, or the one before for a December transaction
    // settled in January; never a date after settlement, never a guess
    // further back than a settlement lag can explain.
    let time = [&this_year, &last_year]
        .into_iter()
        .flatten()
        .find(|t| t.date() <= settle_date)
        .filter(|t| (settle_date - t.date()).num_days() <= YEARLESS_DAYS_BEFORE);
    if time.is_some() && !as_wide_as_written(raw, format) {
        return Err(bad());
    }
    time.copied().ok_or_else(|| {
        let when = match this_year {
            Ok(t) if t.date() > settle_date => "after".to_string(),
            _ => format!("more than {YEARLESS_DAYS_BEFORE} days before"),
        };
        format!(
            "{} has no year and is {when} the settlement date {settle_date}; a time without a year \
             must be on the settlement date or at most {YEARLESS_DAYS_BEFORE} days before it",
            quote(raw)
        )
    })
}

/// How far before its settlement date a year-less time may be.
const YEARLESS_DAYS_BEFORE: i64 = 31;

/// Whether `raw`, when it is digits alone (`20261123`), is as wide as the
/// format writes a date. chrono reads one or two digits for a month, a day
/// or a second, so in digits run together a short value would be read as
/// another date (`2026115` as 5 November, where it may be 15 January); such
/// a value is refused instead. With separators the parts cannot run into
/// each other, and chrono's leniency reads them right. The width is the
/// format's example's, found once per format: this runs on every row.
fn as_wide_as_written(raw: &str, format: &str) -> bool {
    thread_local! {
        static WIDTHS: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    WIDTHS.with(|widths| {
        let mut widths = widths.borrow_mut();
        let width = match widths.get(format) {
            Some(&width) => width,
            None => {
                let width = example(format).len();
                widths.insert(format.to_string(), width);
                width
            }
        };
        // A format chrono cannot write has no example: left unchecked.
        width == 0 || raw.len() == width
    })
}

/// Parses a date in a profile's format.
pub(crate) fn convert_date(raw: &str, format: &str) -> Result<NaiveDate, String> {
    let parsed = parse_with(raw, format, Parsed::to_naive_date);
    parsed
        .unwrap_or_else(|| NaiveDate::parse_from_str(raw, format))
        .ok()
        .filter(|_| as_wide_as_written(raw, format))
        .ok_or_else(|| {
            format!(
                "{} is not a date in the format {format} (like {})",
                quote(raw),
                example(format)
            )
        })
}

/// The settlement date written in a file name right after `prefix`, as in
/// UnionPay's `INN261124…`.
pub(crate) fn date_from_file_name(
    path: &Path,
    prefix: &str,
    format: &str,
) -> Result<NaiveDate, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bad = || {
        format!(
            "the file name {} does not hold the settlement date (expected {prefix}{} …); name it with --settle-date",
            quote(&name),
            example(format)
        )
    };
    let rest = name.strip_prefix(prefix).ok_or_else(bad)?;
    NaiveDate::parse_and_remainder(rest, format)
        .map(|(date, _)| date)
        .map_err(|_| bad())
}

/// The canonical date text of `date`.
pub(crate) fn date_text(date: NaiveDate) -> String {
    static ITEMS: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| items("%Y-%m-%d"));
    date.format_with_items(ITEMS.iter()).to_string()
}

/// A date-time as the canonical files write it.
pub(crate) fn datetime_text(time: NaiveDateTime) -> String {
    static ITEMS: LazyLock<Vec<Item<'static>>> = LazyLock::new(|| items("%Y-%m-%d %H:%M:%S"));
    time.format_with_items(ITEMS.iter()).to_string()
}

/// The items of a format that is known to be valid.
fn items(format: &str) -> Vec<Item<'static>> {
    StrftimeItems::new(format)
        .parse_to_owned()
        .expect("IE: a built-in format is valid")
}

/// Parses `raw` by `format` as `parse_from_str` does, with the format read
/// into items once per format instead of on every row (it was a fifth of
/// reading a profiled file). `None` for a format chrono cannot read, whose
/// error `parse_from_str` then gives.
fn parse_with<T>(
    raw: &str,
    format: &str,
    finish: impl FnOnce(&Parsed) -> ParseResult<T>,
) -> Option<ParseResult<T>> {
    thread_local! {
        static FORMATS: RefCell<HashMap<String, Option<Vec<Item<'static>>>>> =
            RefCell::new(HashMap::new());
    }
    FORMATS.with(|formats| {
        let mut formats = formats.borrow_mut();
        if !formats.contains_key(format) {
            let items = StrftimeItems::new(format).parse_to_owned().ok();
            formats.insert(format.to_string(), items);
        }
        let items = formats.get(format)?.as_ref()?;
        let mut parsed = Parsed::new();
        Some(chrono::format::parse(&mut parsed, raw, items.iter()).and_then(|()| finish(&parsed)))
    })
}

/// Parses a whole number of fen: `000000001230` is 12.30.
pub(crate) fn parse_fen(raw: &str) -> Result<Amount, String> {
    if raw.is_empty() {
        return Err("is empty; an amount is required".into());
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{} is not an amount in fen (digits only, like 000000001230 for 12.30)",
            quote(raw)
        ));
    }
    let significant = raw.trim_start_matches('0');
    if significant.len() > 12 {
        return Err(format!(
            "{} is too large for an amount (at most 999999999999 fen)",
            quote(raw)
        ));
    }
    Ok(Amount::from_minor(significant.parse().unwrap_or(0)))
}

/// Which way money moves for the merchant: a credit or a debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Letter {
    Credit,
    Debit,
}

impl Letter {
    fn name(self) -> &'static str {
        match self {
            Letter::Credit => "a credit (C)",
            Letter::Debit => "a debit (D)",
        }
    }
}

/// The letter a canonical amount field carries for a transaction type: a
/// purchase credits the merchant its amount and net amount and debits the
/// fee; a refund or void the other way round.
pub(crate) fn expected_letter(field: &str, txn_type: TxnType) -> Letter {
    let purchase = txn_type.is_purchase();
    match (field == "fee", purchase) {
        (false, true) | (true, false) => Letter::Credit,
        _ => Letter::Debit,
    }
}

/// Parses an amount in `style` into the canonical decimal text, or `None`
/// when the text is canonical already (`yuan`: the canonical reader checks
/// it). For C/D styles, `expected` is the letter the field must carry; a zero
/// amount may carry either.
pub(crate) fn convert_amount(
    raw: &str,
    style: AmountStyle,
    field: &str,
    txn_type: Option<TxnType>,
) -> Result<Option<Amount>, String> {
    let (letter, amount) = match style {
        AmountStyle::Yuan => return Ok(None),
        AmountStyle::Fen => return parse_fen(raw).map(Some),
        AmountStyle::CdYuan | AmountStyle::CdFen => parse_cd(raw, style)?,
    };
    if let Some(txn_type) = txn_type {
        let expected = expected_letter(field, txn_type);
        if letter != expected && amount != Amount::ZERO {
            return Err(format!(
                "{} is {}, but the {field} of a {txn_type} is {} for the merchant",
                quote(raw),
                letter.name(),
                expected.name()
            ));
        }
    }
    Ok(Some(amount))
}

/// An amount in `style` with its sign: a credit (`C`) is positive, a debit
/// (`D`) negative; `yuan` and `fen` have no letter and are positive. For a
/// trailer's total, which is a net of credits and debits.
pub(crate) fn parse_signed_amount(raw: &str, style: AmountStyle) -> Result<Amount, String> {
    match style {
        AmountStyle::Yuan => super::field::parse_amount(raw),
        AmountStyle::Fen => parse_fen(raw),
        AmountStyle::CdYuan | AmountStyle::CdFen => match parse_cd(raw, style)? {
            (Letter::Credit, amount) => Ok(amount),
            (Letter::Debit, amount) => Ok(Amount::ZERO - amount),
        },
    }
}

/// Splits a C/D amount into its letter and its (unsigned) amount.
fn parse_cd(raw: &str, style: AmountStyle) -> Result<(Letter, Amount), String> {
    let (letter, digits) = match raw.as_bytes().first() {
        Some(b'C' | b'c') => (Letter::Credit, &raw[1..]),
        Some(b'D' | b'd') => (Letter::Debit, &raw[1..]),
        None => return Err("is empty; an amount is required".into()),
        Some(_) => {
            return Err(format!(
                "{} does not start with C (credit) or D (debit)",
                quote(raw)
            ));
        }
    };
    let amount = if style == AmountStyle::CdFen {
        parse_fen(digits)
    } else {
        super::field::parse_amount(digits)
    }
    .map_err(|_| {
        format!(
            "{} is not a C or D followed by an amount{}",
            quote(raw),
            if style == AmountStyle::CdFen {
                " in fen (like C000000001230)"
            } else {
                " (like C12.30)"
            }
        )
    })?;
    Ok((letter, amount))
}

/// Maps a source transaction code to its canonical type.
pub(crate) fn map_txn_type(raw: &str, profile: &Profile) -> Result<TxnType, String> {
    profile
        .txn_types
        .iter()
        .find(|(code, _)| code == raw)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let codes: Vec<&str> = profile.txn_types.iter().map(|(c, _)| c.as_str()).collect();
            format!(
                "{} is not a transaction code of profile {:?} ({})",
                quote(raw),
                profile.name,
                codes.join(", ")
            )
        })
}

/// Splits one delimited line into `out`. A quoted field may hold the
/// delimiter and doubled quotes; it may not run onto the next line.
pub(crate) fn split_delimited(
    line: &str,
    delimiter: char,
    quote_char: Option<char>,
    out: &mut Vec<String>,
) -> Result<(), String> {
    out.clear();
    let mut chars = line.chars().peekable();
    loop {
        let mut cell = String::new();
        let quoted = quote_char.is_some() && chars.peek().copied() == quote_char;
        if quoted {
            chars.next();
            let q = quote_char.expect("IE: quoted implies a quote character");
            loop {
                match chars.next() {
                    None => {
                        return Err(
                            "has a quote that is never closed (a quoted field cannot run onto the next line)"
                                .into(),
                        );
                    }
                    Some(c) if c == q => {
                        if chars.peek() == Some(&q) {
                            chars.next();
                            cell.push(q);
                        } else {
                            break;
                        }
                    }
                    Some(c) => cell.push(c),
                }
            }
            // Blanks between a closing quote and the delimiter are allowed.
            while chars
                .peek()
                .is_some_and(|c| *c != delimiter && c.is_whitespace())
            {
                chars.next();
            }
            match chars.next() {
                None => {
                    out.push(cell);
                    return Ok(());
                }
                Some(c) if c == delimiter => out.push(cell),
                Some(_) => return Err("has text after a closing quote (check its quoting)".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(cell);
                        return Ok(());
                    }
                    Some(c) if c == delimiter => break,
                    Some(c) => cell.push(c),
                }
            }
            out.push(cell);
        }
    }
}

/// A profile and the value of every canonical field it leaves to a flag.
#[derive(Debug, Clone, Default)]
pub struct ProfileChoice {
    /// The profile for each file, in the order the files are given; `None`
    /// (or a missing entry) reads the canonical format.
    pub profiles: Vec<Option<std::sync::Arc<Profile>>>,
    /// `--settle-date`: wins over a date taken from the file name.
    pub settle_date: Option<NaiveDate>,
}

impl ProfileChoice {
    pub(crate) fn for_file(&self, index: usize) -> Option<&std::sync::Arc<Profile>> {
        self.profiles
            .get(index)
            .and_then(Option::as_ref)
            .filter(|p| p.layout != Layout::Canonical)
    }
}

/// Every profile known: the built-in ones, then those of the config file.
pub fn all_profiles(configured: &[Profile]) -> Vec<Profile> {
    let mut all = built_in_profiles();
    all.extend(configured.iter().cloned());
    all
}

/// Finds a profile by name.
pub fn find_profile<'a>(profiles: &'a [Profile], name: &str) -> Option<&'a Profile> {
    profiles.iter().find(|p| p.name == name)
}

/// Parses a date given on the command line (`--settle-date`).
pub fn parse_settle_date(raw: &str) -> Result<NaiveDate, String> {
    parse_date(raw)
}

/// For the `profiles` listing: which profiles exist and where they come from.
pub fn describe_origin(profile: &Profile) -> String {
    match &profile.origin {
        ProfileOrigin::BuiltIn => "built in".into(),
        ProfileOrigin::Config(path) => path.display().to_string(),
    }
}

/// Reads the `[profiles]` table of a config file.
pub(crate) fn profiles_from_toml(
    profiles: &BTreeMap<String, toml::Value>,
    path: &Path,
) -> Result<Vec<Profile>, String> {
    let mut out = Vec::new();
    for (name, value) in profiles {
        let toml::Value::Table(table) = value else {
            return Err(format!(
                "profiles.{name}: must be a table [profiles.{name}]"
            ));
        };
        out.push(profile_from_toml(
            name,
            table,
            ProfileOrigin::Config(path.to_path_buf()),
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dates and times read through the formats' cached items come out as
    /// `parse_from_str` reads them, errors included, and print as the
    /// canonical files write them.
    #[test]
    fn cached_formats_read_as_parse_from_str() {
        let formats = [
            "%Y%m%d%H%M%S",
            "%Y-%m-%d %H:%M:%S",
            "%d/%m/%Y %H:%M",
            "%Y%m%d",
            "%Q%Y",
        ];
        let raws = [
            "20261123210109",
            "2026-11-23 21:01:09",
            "23/11/2026 21:01",
            "20261123",
            "20261323000000",
            "2026112321010",
            "20261123235960",
            "",
        ];
        for format in formats {
            for raw in raws {
                let cached = parse_with(raw, format, |p| p.to_naive_datetime_with_offset(0));
                let direct = NaiveDateTime::parse_from_str(raw, format);
                match cached {
                    Some(cached) => assert_eq!(cached, direct, "{raw:?} by {format:?}"),
                    None => assert!(direct.is_err(), "{format:?} cannot be read into items"),
                }
                let cached = parse_with(raw, format, Parsed::to_naive_date);
                if let Some(cached) = cached {
                    assert_eq!(cached, NaiveDate::parse_from_str(raw, format), "{raw:?}");
                }
            }
        }
        let time =
            NaiveDateTime::parse_from_str("2026-11-23 21:01:09", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            datetime_text(time),
            time.format("%Y-%m-%d %H:%M:%S").to_string()
        );
        assert_eq!(date_text(time.date()), "2026-11-23");
    }

    fn date(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn convert_datetime_cases() {
        #[track_caller]
        fn case(raw: &str, format: &str, settle: Option<&str>, want: Result<&str, &str>) {
            let got = convert_datetime(raw, format, settle.map(date)).map(|t| t.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
        case(
            "20261123140509",
            "%Y%m%d%H%M%S",
            None,
            Ok("2026-11-23 14:05:09"),
        );
        case(
            "2026/11/23 14:05:09",
            "%Y/%m/%d %H:%M:%S",
            None,
            Ok("2026-11-23 14:05:09"),
        );
        case(
            "1123140509",
            "%m%d%H%M%S",
            Some("2026-11-24"),
            Ok("2026-11-23 14:05:09"),
        );
        // A December transaction settled in January is last year's.
        case(
            "1231235959",
            "%m%d%H%M%S",
            Some("2027-01-02"),
            Ok("2026-12-31 23:59:59"),
        );
        case(
            "0101000001",
            "%m%d%H%M%S",
            Some("2027-01-02"),
            Ok("2027-01-01 00:00:01"),
        );
        // The settlement day itself is this year's.
        case(
            "0102080000",
            "%m%d%H%M%S",
            Some("2027-01-02"),
            Ok("2027-01-02 08:00:00"),
        );
        // Feb 29 is never moved back to the last leap year.
        case(
            "0229120000",
            "%m%d%H%M%S",
            Some("2028-03-01"),
            Ok("2028-02-29 12:00:00"),
        );
        case(
            "0229120000",
            "%m%d%H%M%S",
            Some("2029-03-01"),
            Err(
                r#""0229120000" has no year and is more than 31 days before the settlement date 2029-03-01; a time without a year must be on the settlement date or at most 31 days before it"#,
            ),
        );
        // A date after its settlement is not last year's.
        case(
            "1125140509",
            "%m%d%H%M%S",
            Some("2026-11-24"),
            Err(
                r#""1125140509" has no year and is after the settlement date 2026-11-24; a time without a year must be on the settlement date or at most 31 days before it"#,
            ),
        );
        case(
            "1023140509",
            "%m%d%H%M%S",
            Some("2026-11-24"),
            Err(
                r#""1023140509" has no year and is more than 31 days before the settlement date 2026-11-24; a time without a year must be on the settlement date or at most 31 days before it"#,
            ),
        );
        case(
            "1024140509",
            "%m%d%H%M%S",
            Some("2026-11-24"),
            Ok("2026-10-24 14:05:09"),
        );
        // December settled in January, at the far edge of the window.
        case(
            "1202000000",
            "%m%d%H%M%S",
            Some("2027-01-02"),
            Ok("2026-12-02 00:00:00"),
        );
        case(
            "1332120000",
            "%m%d%H%M%S",
            Some("2027-01-02"),
            Err(r#""1332120000" is not a date-time in the format %m%d%H%M%S (like 1123140509)"#),
        );
        case(
            "1123140509",
            "%m%d%H%M%S",
            None,
            Err(r#""1123140509" has no year, and there is no settlement date to infer it from"#),
        );
        case(
            "2026-11-23",
            "%Y%m%d%H%M%S",
            None,
            Err(
                r#""2026-11-23" is not a date-time in the format %Y%m%d%H%M%S (like 20261123140509)"#,
            ),
        );
        // Digits run together must be as wide as the format writes them:
        // chrono alone reads a 13-digit time as 2026-11-23 15:40:01.
        case(
            "2026112315401",
            "%Y%m%d%H%M%S",
            None,
            Err(
                r#""202611***5401" is not a date-time in the format %Y%m%d%H%M%S (like 20261123140509)"#,
            ),
        );
        case(
            "112314051",
            "%m%d%H%M%S",
            Some("2026-11-24"),
            Err(r#""112314051" is not a date-time in the format %m%d%H%M%S (like 1123140509)"#),
        );
        // With separators, a part without its leading zero is read right.
        case(
            "2026/11/3 4:05:09",
            "%Y/%m/%d %H:%M:%S",
            None,
            Ok("2026-11-03 04:05:09"),
        );
    }

    #[test]
    fn convert_date_reads_digits_run_together_only_at_full_width() {
        assert_eq!(convert_date("20261105", "%Y%m%d"), Ok(date("2026-11-05")));
        assert_eq!(
            convert_date("2026115", "%Y%m%d"),
            Err(r#""2026115" is not a date in the format %Y%m%d (like 20261123)"#.to_string())
        );
        assert_eq!(convert_date("2026-1-5", "%Y-%m-%d"), Ok(date("2026-01-05")));
    }

    #[test]
    fn convert_amount_cases() {
        #[track_caller]
        fn case(
            raw: &str,
            style: AmountStyle,
            field: &str,
            txn: TxnType,
            want: Result<Option<&str>, &str>,
        ) {
            let got =
                convert_amount(raw, style, field, Some(txn)).map(|a| a.map(|a| a.to_string()));
            assert_eq!(
                got.as_ref().map(|a| a.as_deref()).map_err(String::as_str),
                want
            );
        }
        use AmountStyle::*;
        use TxnType::*;
        case("12.30", Yuan, "amount", Sale, Ok(None));
        case("000000001230", Fen, "amount", Sale, Ok(Some("12.30")));
        case("1", Fen, "amount", Sale, Ok(Some("0.01")));
        case("000000000000", Fen, "amount", Sale, Ok(Some("0.00")));
        case(
            "999999999999",
            Fen,
            "amount",
            Sale,
            Ok(Some("9999999999.99")),
        );
        case(
            "12.30",
            Fen,
            "amount",
            Sale,
            Err(r#""12.30" is not an amount in fen (digits only, like 000000001230 for 12.30)"#),
        );
        case(
            "",
            Fen,
            "amount",
            Sale,
            Err("is empty; an amount is required"),
        );
        case(
            "1000000000000",
            Fen,
            "amount",
            Sale,
            Err(r#""100000***0000" is too large for an amount (at most 999999999999 fen)"#),
        );
        case(
            "C000000009962",
            CdFen,
            "net_amount",
            Sale,
            Ok(Some("99.62")),
        );
        case("D000000000038", CdFen, "fee", Sale, Ok(Some("0.38")));
        case(
            "D000000009962",
            CdFen,
            "net_amount",
            Refund,
            Ok(Some("99.62")),
        );
        case("C000000000038", CdFen, "fee", Refund, Ok(Some("0.38")));
        case("C000000000000", CdFen, "fee", Sale, Ok(Some("0.00")));
        case(
            "C12.30",
            CdYuan,
            "net_amount",
            PreauthComplete,
            Ok(Some("12.30")),
        );
        case(
            "D000000009962",
            CdFen,
            "net_amount",
            Sale,
            Err(
                r#""D000000009962" is a debit (D), but the net_amount of a SALE is a credit (C) for the merchant"#,
            ),
        );
        case(
            "D000000000038",
            CdFen,
            "fee",
            Refund,
            Err(
                r#""D000000000038" is a debit (D), but the fee of a REFUND is a credit (C) for the merchant"#,
            ),
        );
        case(
            "X000000000038",
            CdFen,
            "fee",
            Sale,
            Err(r#""X000000000038" does not start with C (credit) or D (debit)"#),
        );
        case(
            "C0000000000A8",
            CdFen,
            "fee",
            Sale,
            Err(
                r#""C0000000000A8" is not a C or D followed by an amount in fen (like C000000001230)"#,
            ),
        );
    }

    #[test]
    fn constants_convert_like_cells() {
        #[track_caller]
        fn case(field: &str, toml_spec: &str, want: Result<Constant, &str>) {
            let text = "kind = \"bank\"\nstrip_leading = \"`\"\n[txn_types]\n\"消费\" = \"SALE\"\n\
                 [fields]\nsettle_date = \"d\"\nmerchant_id = \"m\"\nterminal_id = \"t\"\n\
                 trace_no = \"n\"\ntxn_type = \"y\"\ntxn_time = \"h\"\namount = \"a\"\n\
                 fee = \"f\"\nnet_amount = \"e\"\ncard_no = \"c\"\n";
            let mut parsed: toml::Table = toml::from_str(text).unwrap();
            let spec: toml::Value = toml::from_str::<toml::Table>(&format!("x = {toml_spec}"))
                .unwrap()
                .remove("x")
                .unwrap();
            parsed["fields"]
                .as_table_mut()
                .unwrap()
                .insert(field.into(), spec);
            let got = profile_from_toml("x", &parsed, ProfileOrigin::BuiltIn).and_then(|p| {
                let spec = &p.fields.iter().find(|(n, _)| *n == field).unwrap().1;
                convert_constant(field, spec, &p)
            });
            assert_eq!(
                got.as_ref().map_err(String::as_str),
                want.as_ref().map_err(|e| *e)
            );
        }
        use Constant::*;
        let canonical = |s: &str| Canonical(s.to_string());
        case(
            "fee",
            r#"{ value = "000000000038", style = "fen" }"#,
            Ok(canonical("0.38")),
        );
        case("fee", r#"{ value = "0.38" }"#, Ok(canonical("0.38")));
        case("fee", r#"{ value = "`0.38" }"#, Ok(canonical("0.38")));
        case(
            "fee",
            r#"{ value = "D000000000038", style = "cd-fen" }"#,
            Ok(PerRow("D000000000038".into())),
        );
        case(
            "settle_date",
            r#"{ value = "20261124", format = "%Y%m%d" }"#,
            Ok(canonical("2026-11-24")),
        );
        case(
            "txn_time",
            r#"{ value = "20261123140509", format = "%Y%m%d%H%M%S" }"#,
            Ok(canonical("2026-11-23 14:05:09")),
        );
        case(
            "txn_time",
            r#"{ value = "0229140509", format = "%m%d%H%M%S" }"#,
            Ok(PerRow("0229140509".into())),
        );
        case("txn_type", r#"{ value = "消费" }"#, Ok(canonical("SALE")));
        case("currency", r#"{ value = "CNY" }"#, Ok(canonical("CNY")));
        case(
            "fee",
            r#"{ value = "0.38", style = "fen" }"#,
            Err(
                r#"profiles.x.fields.fee.value: "0.38" is not an amount in fen (digits only, like 000000001230 for 12.30)"#,
            ),
        );
        case(
            "fee",
            r#"{ value = "X38", style = "cd-fen" }"#,
            Err(
                r#"profiles.x.fields.fee.value: "X38" does not start with C (credit) or D (debit)"#,
            ),
        );
        case(
            "txn_type",
            r#"{ value = "退货" }"#,
            Err(
                r#"profiles.x.fields.txn_type.value: "退货" is not a transaction code of profile "x" (消费)"#,
            ),
        );
        case(
            "txn_time",
            r#"{ value = "1332140509", format = "%m%d%H%M%S" }"#,
            Err(
                r#"profiles.x.fields.txn_time.value: "1332140509" is not a date-time in the format %m%d%H%M%S (like 1123140509)"#,
            ),
        );
    }

    #[test]
    fn signed_amount_cases() {
        #[track_caller]
        fn case(raw: &str, style: AmountStyle, want: Result<&str, &str>) {
            let got = parse_signed_amount(raw, style).map(|a| a.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
        use AmountStyle::*;
        case("C100.00", CdYuan, Ok("100.00"));
        case("D100.00", CdYuan, Ok("-100.00"));
        case("d000000010000", CdFen, Ok("-100.00"));
        case("D000000000000", CdFen, Ok("0.00"));
        case("150.00", Yuan, Ok("150.00"));
        case("15000", Fen, Ok("150.00"));
        case(
            "100.00",
            CdYuan,
            Err(r#""100.00" does not start with C (credit) or D (debit)"#),
        );
    }

    #[test]
    fn clean_cases() {
        #[track_caller]
        fn case(raw: &str, want: &str) {
            assert_eq!(clean(raw, "`'"), want);
        }
        case("`6228480012345671", "6228480012345671");
        case("'000123", "000123");
        case("100.00\t", "100.00");
        case("  `20261123\t", "20261123");
        case("``x", "`x");
        case("商户", "商户");
        case("", "");
    }

    #[test]
    fn split_delimited_cases() {
        #[track_caller]
        fn case(line: &str, delimiter: char, want: Result<&[&str], &str>) {
            let mut out = Vec::new();
            let got = split_delimited(line, delimiter, Some('"'), &mut out).map(|()| out.clone());
            let want = want
                .map(|cells| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>())
                .map_err(str::to_string);
            assert_eq!(got, want);
        }
        case("a,b,c", ',', Ok(&["a", "b", "c"]));
        case("a,,c,", ',', Ok(&["a", "", "c", ""]));
        case(r#""1,234.00",b"#, ',', Ok(&["1,234.00", "b"]));
        case(r#""say ""hi""",x"#, ',', Ok(&[r#"say "hi""#, "x"]));
        case("商户号\t终端号", '\t', Ok(&["商户号", "终端号"]));
        case(
            r#""open,b"#,
            ',',
            Err("has a quote that is never closed (a quoted field cannot run onto the next line)"),
        );
        case(
            r#""a"b,c"#,
            ',',
            Err("has text after a closing quote (check its quoting)"),
        );
    }

    #[test]
    fn date_from_file_name_cases() {
        #[track_caller]
        fn case(name: &str, want: Result<&str, &str>) {
            let got = date_from_file_name(Path::new(name), "INN", "%y%m%d").map(|d| d.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
        case("dir/INN26112401ZM_898310058120001", Ok("2026-11-24"));
        case("INN27010201ZM_898310058120001", Ok("2027-01-02"));
        case(
            "zm.txt",
            Err(
                r#"the file name "zm.txt" does not hold the settlement date (expected INN261123 …); name it with --settle-date"#,
            ),
        );
        case(
            "INN261399ZM",
            Err(
                r#"the file name "INN261399ZM" does not hold the settlement date (expected INN261123 …); name it with --settle-date"#,
            ),
        );
    }

    #[test]
    fn built_in_profiles_render_as_toml_that_reads_back() {
        for profile in built_in_profiles() {
            let text = profile_to_toml(&profile)
                .replace(&format!("[profiles.{}", profile.name), "[profiles.copy");
            let parsed: toml::Table = toml::from_str(&text).unwrap();
            let table = parsed["profiles"]["copy"].as_table().unwrap();
            let copy = profile_from_toml("copy", table, ProfileOrigin::BuiltIn).unwrap();
            let expected_layout = match &profile.layout {
                Layout::Canonical => Layout::Delimited {
                    delimiter: ',',
                    quote: Some('"'),
                },
                other => other.clone(),
            };
            assert_eq!(copy.layout, expected_layout, "{}", profile.name);
            assert_eq!(copy.fields, profile.fields, "{}", profile.name);
            assert_eq!(copy.txn_types.len(), profile.txn_types.len());
            assert_eq!(copy.encoding, profile.encoding);
            assert_eq!(copy.kind, profile.kind);
        }
    }

    #[test]
    fn unionpay_zm_records_are_607_bytes() {
        let (offsets, min) = Layout::offsets(&UNIONPAY_ZM_WIDTHS, 1);
        assert_eq!(min, 607);
        assert_eq!(offsets[3], (28, 34)); // field 4: trace number
        assert_eq!(offsets[41], (509, 607));
    }

    #[test]
    fn profile_errors_name_the_key() {
        #[track_caller]
        fn case(toml_text: &str, want: &str) {
            let parsed: toml::Table = toml::from_str(toml_text).unwrap();
            let got = profile_from_toml("x", &parsed, ProfileOrigin::BuiltIn).unwrap_err();
            assert_eq!(got, want);
        }
        case(
            "kind = \"bank\"\nencoding = \"big5\"",
            r#"profiles.x.encoding: "big5" is not an encoding posrecon reads (utf-8, gbk or gb18030)"#,
        );
        case(
            "kind = \"merchants\"",
            r#"profiles.x.kind: "merchants" is not a kind a profile reads (terminal or bank)"#,
        );
        case(
            "kind = \"bank\"\ndelimeter = \";\"",
            r#"profiles.x: unknown key "delimeter"; expected one of kind, description, encoding, layout, delimiter, quote, widths, separator_bytes, header, skip_lines, skip_prefixes, footer_lines, strip_leading, fields, txn_types, trailer"#,
        );
        case(
            "kind = \"terminal\"\n[fields]\nmerchant_id = \"商户号\"",
            "profiles.x.fields: a terminal profile must map terminal_id, batch_no, trace_no, txn_type, txn_time, amount, card_no",
        );
        case(
            "kind = \"terminal\"\n[fields]\nmerchant = \"商户号\"",
            r#"profiles.x.fields: a terminal batch file has no field "merchant"; its fields are merchant_id, terminal_id, batch_no, trace_no, rrn, auth_code, txn_type, txn_time, amount, currency, card_no, orig_trace_no, orig_rrn"#,
        );
        case(
            "kind = \"bank\"\n[fields]\namount = { column = \"a\", style = \"cents\" }",
            r#"profiles.x.fields.amount.style: "cents" is not an amount style (yuan, fen, cd-yuan or cd-fen)"#,
        );
        case(
            "kind = \"bank\"\n[fields]\ntxn_time = { column = \"t\", format = \"%H:%M\" }",
            r#"profiles.x.fields.txn_time.format: "%H:%M" cannot be read back (it must give the whole date and time, to the second)"#,
        );
    }
}
