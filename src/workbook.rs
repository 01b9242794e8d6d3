//! The Excel workbook (`--xlsx`): a Summary sheet, then one sheet per output
//! CSV file with the same columns and rows.
//!
//! Cells are typed for Excel: amounts are numbers shown with two decimals,
//! `txn_time` is a date-time and `settle_date` a date, and everything else,
//! identifiers and masked card numbers included, is text (leading zeros kept,
//! never scientific notation). Text cells go through the same formula guard
//! as the CSV files, so a cell reads the same in both. Writes the workbook
//! to the writer it is handed and spools each table sheet's rows through an
//! unnamed temp file; the bytes depend on nothing but the run's results.

use std::borrow::Cow;
use std::io::Write;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use anyhow::Context;
use chrono::{NaiveDate, NaiveDateTime};
use rust_xlsxwriter::{
    ColNum, DocProperties, Format, FormatAlign, IgnoreError, RowNum, Workbook, Worksheet, utility,
};

use crate::matching::Outcome;
use crate::model::Amount;
use crate::report::{Summary, has_amounts};
use crate::totals::{REJECTED_ROW, Side, Tally};
use crate::write::neutralise;

/// The workbook's file name in the output folder.
pub const FILE: &str = "report.xlsx";

/// The Summary sheet's name.
pub const SUMMARY_SHEET: &str = "Summary";

/// Rows an Excel sheet holds, the header included.
const EXCEL_MAX_ROWS: usize = 1_048_576;

/// Widest a column is made, in pixels (about 60 characters); longer text
/// wraps nowhere but stays readable by widening the column by hand.
const MAX_COLUMN_PIXELS: u32 = 420;

/// One output CSV file as a sheet: its name, columns and rows (the exact
/// cells written to the CSV, before the formula guard).
#[derive(Clone, Copy)]
pub struct Sheet<'a> {
    /// The CSV file's name; the sheet is named after it, without `.csv`.
    pub file: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Rows<'a>,
}

/// A sheet's rows: held in memory, or made one at a time as the sheet is
/// written, so a night's million matches are not held a second time.
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    Held(&'a [Vec<String>]),
    Made {
        len: usize,
        row: &'a dyn Fn(usize) -> Vec<String>,
    },
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::Held(rows) => rows.len(),
            Rows::Made { len, .. } => *len,
        }
    }

    fn row(&self, i: usize) -> Cow<'_, [String]> {
        match self {
            Rows::Held(rows) => Cow::Borrowed(&rows[i]),
            Rows::Made { row, .. } => Cow::Owned(row(i)),
        }
    }
}

/// How a column's cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellKind {
    Text,
    Amount,
    DateTime,
    Date,
}

fn cell_kind(column: &str) -> CellKind {
    match column {
        "amount" | "bank_amount" | "terminal_amount" | "original_amount" | "refund_amount" => {
            CellKind::Amount
        }
        "txn_time" => CellKind::DateTime,
        "settle_date" => CellKind::Date,
        _ => CellKind::Text,
    }
}

/// The formats every sheet uses.
struct Formats {
    header: Format,
    /// The header of a column of numbers, aligned with them.
    number_header: Format,
    text: Format,
    amount: Format,
    datetime: Format,
    date: Format,
    title: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold(),
            number_header: Format::new().set_bold().set_align(FormatAlign::Right),
            text: Format::new().set_num_format("@"),
            amount: Format::new().set_num_format("#,##0.00"),
            datetime: Format::new()
                .set_num_format("yyyy-mm-dd hh:mm:ss")
                .set_align(FormatAlign::Left),
            date: Format::new()
                .set_num_format("yyyy-mm-dd")
                .set_align(FormatAlign::Left),
            title: Format::new().set_bold().set_font_size(14),
        }
    }
}

/// Writes the workbook for `summary` and `sheets` to `out`, spooling each
/// sheet's rows through an unnamed temp file in `tempdir`.
pub fn write_workbook(
    out: &mut (impl Write + Send),
    summary: &Summary,
    sheets: &[Sheet<'_>],
    tempdir: &Path,
) -> anyhow::Result<()> {
    caught(tempdir, || {
        write_split(out, summary, sheets, tempdir, EXCEL_MAX_ROWS - 1)
    })
}

/// Runs `write`, turning rust_xlsxwriter's panic when a row cannot go to its
/// temp file (a full disk, in constant-memory mode) into an I/O error: exit
/// status 4 with a message, as any other failed write. Any other panic is a
/// bug and goes on as one. The panic's own message is still printed first,
/// by the standard hook: swapping the process-wide hook here would race with
/// the progress bar's thread and with parallel tests.
fn caught(tempdir: &Path, write: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    std::panic::catch_unwind(AssertUnwindSafe(write)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !message.starts_with(XLSX_WRITE_FAILED) {
            std::panic::resume_unwind(payload);
        }
        Err(anyhow::anyhow!(
            "writing a sheet through a temp file in {} failed ({message}); \
             check that its disk has room (about 1 GB per million rows of matches.csv)",
            tempdir.display()
        ))
    })
}

/// How rust_xlsxwriter's panic message starts when it cannot write a row.
const XLSX_WRITE_FAILED: &str = "Couldn't write to xml file";

/// Writes the workbook, `rows_per_sheet` data rows at most to a sheet.
fn write_split(
    out: &mut (impl Write + Send),
    summary: &Summary,
    sheets: &[Sheet<'_>],
    tempdir: &Path,
    rows_per_sheet: usize,
) -> anyhow::Result<()> {
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    // Excel stamps a workbook with the time it was made; the run's as-of
    // instead makes a re-run of the same night give the same bytes.
    workbook.set_properties(
        &DocProperties::new()
            .set_title("posrecon reconciliation")
            .set_creation_datetime(&summary.as_of),
    );
    workbook
        .set_tempdir(tempdir)
        .with_context(|| format!("making a temp file in {}", tempdir.display()))?;
    write_summary_sheet(workbook.add_worksheet(), summary, &formats)?;
    for sheet in sheets {
        let name = sheet.file.trim_end_matches(".csv");
        let len = sheet.rows.len();
        for part in 0..len.div_ceil(rows_per_sheet).max(1) {
            let first = part * rows_per_sheet;
            // Held in memory, a sheet of a million rows takes gigabytes;
            // written in constant-memory mode, each row goes to the temp
            // file as soon as the next one starts.
            let worksheet = workbook
                .add_worksheet_with_constant_memory()
                .with_context(|| format!("making a temp file in {}", tempdir.display()))?;
            worksheet.set_name(sheet_name(name, part))?;
            let rows = first..len.min(first + rows_per_sheet);
            write_table_sheet(worksheet, sheet.columns, sheet.rows, rows, &formats)
                .with_context(|| format!("sheet {name}"))?;
        }
    }
    workbook
        .save_to_writer(out)
        .context("saving the workbook")?;
    Ok(())
}

/// A sheet's name: the file's, then ` (2)`, ` (3)` for the rows that do not
/// fit in one sheet.
fn sheet_name(name: &str, part: usize) -> String {
    if part == 0 {
        name.to_string()
    } else {
        format!("{name} ({})", part + 1)
    }
}

/// One output file as a sheet: a frozen bold header row with an autofilter,
/// typed cells, columns fitted to their contents.
///
/// The sheet is in constant-memory mode, so everything is written in row
/// order and the text columns are fitted here, as `Worksheet::autofit` would
/// fit them: it only sees the last row in this mode.
fn write_table_sheet(
    sheet: &mut Worksheet,
    columns: &[&str],
    rows: Rows<'_>,
    range: Range<usize>,
    formats: &Formats,
) -> anyhow::Result<()> {
    let kinds: Vec<CellKind> = columns.iter().map(|c| cell_kind(c)).collect();
    let mut widths = vec![0; columns.len()];
    for (c, (column, kind)) in columns.iter().zip(&kinds).enumerate() {
        let format = if *kind == CellKind::Amount {
            &formats.number_header
        } else {
            &formats.header
        };
        sheet.write_string_with_format(0, col(c)?, *column, format)?;
        widths[c] = fitted_width(column, true);
    }
    let last_row = row_number(range.len())?;
    let last_col = col(columns.len().saturating_sub(1))?;
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, last_row, last_col)?;
    // Identifiers are text on purpose; spare the reader Excel's green
    // "number stored as text" triangles.
    sheet.ignore_error_range(0, 0, last_row, last_col, IgnoreError::NumberStoredAsText)?;
    for (r, i) in range.enumerate() {
        let r = row_number(r + 1)?;
        for (c, cell) in rows.row(i).iter().enumerate() {
            let kind = kinds.get(c).copied().unwrap_or(CellKind::Text);
            write_cell(sheet, r, col(c)?, kind, cell, formats)
                .with_context(|| format!("column {}", columns.get(c).unwrap_or(&"?")))?;
            if kind == CellKind::Text
                && let Some(width) = widths.get_mut(c)
            {
                *width = (*width).max(fitted_width(&neutralise(cell), false));
            }
        }
    }
    // Dates and amounts get widths that show them as formatted, where
    // autofit would measure their stored number and Excel would show "#####".
    for (c, ((kind, column), width)) in kinds.iter().zip(columns).zip(widths).enumerate() {
        let width = match kind {
            CellKind::DateTime => DATETIME_WIDTH,
            CellKind::Date => DATE_WIDTH,
            CellKind::Amount => header_width(column).max(AMOUNT_WIDTH),
            CellKind::Text => {
                if width > 0 {
                    sheet.set_column_autofit_width(col(c)?, width)?;
                }
                continue;
            }
        };
        sheet.set_column_width(col(c)?, width)?;
    }
    Ok(())
}

/// The width in pixels `Worksheet::autofit` gives a column for a text cell:
/// its widest line, padding, and room for the filter button in the header,
/// at most `MAX_COLUMN_PIXELS`; 0 for a cell without text.
fn fitted_width(text: &str, header: bool) -> u32 {
    const PADDING: u32 = 7;
    const FILTER_BUTTON: u32 = 16;
    let widest = text
        .lines()
        .map(|line| utility::cell_autofit_width(line) - PADDING)
        .max()
        .unwrap_or(0);
    if widest == 0 {
        return 0;
    }
    let button = if header { FILTER_BUTTON } else { 0 };
    (widest + button + PADDING).min(MAX_COLUMN_PIXELS)
}

/// Widths, in characters, that show `yyyy-mm-dd hh:mm:ss`, `yyyy-mm-dd`
/// and `999,999,999.99`.
const DATETIME_WIDTH: f64 = 20.5;
const DATE_WIDTH: f64 = 12.0;
const AMOUNT_WIDTH: f64 = 15.0;

/// A width that shows a bold header name and its autofilter button.
fn header_width(name: &str) -> f64 {
    f64::from(u32::try_from(name.len() + 5).unwrap_or(u32::MAX))
}

/// Writes one cell of an output file by its column's kind. An empty cell
/// stays empty; a cell that does not parse as its kind is a bug upstream.
fn write_cell(
    sheet: &mut Worksheet,
    row: RowNum,
    col: ColNum,
    kind: CellKind,
    cell: &str,
    formats: &Formats,
) -> anyhow::Result<()> {
    if cell.is_empty() {
        return Ok(());
    }
    match kind {
        CellKind::Text => {
            let text = neutralise(cell);
            sheet.write_string_with_format(row, col, within_excel_limit(&text), &formats.text)?;
        }
        CellKind::Amount => {
            let amount = crate::read::parse_amount(cell)
                .map_err(|problem| anyhow::anyhow!("IE: amount cell {problem}"))?;
            write_amount(sheet, row, col, amount, formats)?;
        }
        CellKind::DateTime => {
            let time = NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S")
                .with_context(|| format!("IE: date-time cell {cell:?}"))?;
            sheet.write_datetime_with_format(row, col, time, &formats.datetime)?;
        }
        CellKind::Date => {
            let date = NaiveDate::parse_from_str(cell, "%Y-%m-%d")
                .with_context(|| format!("IE: date cell {cell:?}"))?;
            sheet.write_datetime_with_format(row, col, date, &formats.date)?;
        }
    }
    Ok(())
}

/// The most characters Excel lets a cell hold, counted as UTF-16 units (an
/// emoji is two), as rust_xlsxwriter checks them.
const EXCEL_CELL_UNITS: usize = 32_767;

/// What a text cut to fit a cell ends with.
const CUT: &str = " [cut at Excel's 32,767-character limit; the CSV file holds it whole]";

/// `text` as a workbook cell can hold it: a longer one (a request's reason
/// may be anything) is cut and says so, rather than failing the night; the
/// CSV file keeps the whole text.
fn within_excel_limit(text: &str) -> Cow<'_, str> {
    if text.len() <= EXCEL_CELL_UNITS || text.encode_utf16().count() <= EXCEL_CELL_UNITS {
        return Cow::Borrowed(text);
    }
    let room = EXCEL_CELL_UNITS - CUT.encode_utf16().count();
    let mut units = 0;
    let end = text
        .char_indices()
        .find(|&(_, c)| {
            units += c.len_utf16();
            units > room
        })
        .map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!("{}{CUT}", &text[..end]))
}

/// Writes an amount as a number shown with two decimals: the one place an
/// `Amount` becomes a float.
fn write_amount(
    sheet: &mut Worksheet,
    row: RowNum,
    col: ColNum,
    amount: Amount,
    formats: &Formats,
) -> anyhow::Result<()> {
    // xlsx stores every number as an f64. An Amount has at most two decimals
    // and far fewer than 15 significant digits, so the f64 nearest to its
    // exact decimal text shows, with two decimals, exactly the same fen.
    // Conversion only: no arithmetic is ever done on this f64.
    let value: f64 = amount
        .to_string()
        .parse()
        .expect("IE: an Amount displays as a decimal number");
    sheet.write_number_with_format(row, col, value, &formats.amount)?;
    Ok(())
}

/// The Summary sheet: the as-of, each input with its rows and amount, the
/// control totals by outcome and side, and the actions.
fn write_summary_sheet(
    sheet: &mut Worksheet,
    summary: &Summary,
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.set_name(SUMMARY_SHEET)?;
    sheet.write_string_with_format(0, 0, "posrecon reconciliation", &formats.title)?;
    sheet.write_string(1, 0, "as of")?;
    sheet.write_datetime_with_format(1, 1, summary.as_of, &formats.datetime)?;
    sheet.write_string(2, 0, "business day")?;
    sheet.write_datetime_with_format(2, 1, summary.business_day, &formats.date)?;
    sheet.write_string(3, 0, "ledger")?;
    match &summary.ledger {
        Some((path, run)) => {
            sheet.write_string(3, 1, neutralise(&path.display().to_string()))?;
            sheet.write_string(4, 0, "run")?;
            sheet.write_number(4, 1, u32::try_from(*run).unwrap_or(u32::MAX))?;
        }
        None => {
            sheet.write_string(3, 1, "none (--no-ledger)")?;
        }
    }

    let mut r: RowNum = 6;
    for (c, header) in ["input", "kind", "rows", "amount", "sha256"]
        .iter()
        .enumerate()
    {
        let format = if matches!(c, 2 | 3) {
            &formats.number_header
        } else {
            &formats.header
        };
        sheet.write_string_with_format(r, col(c)?, *header, format)?;
    }
    for file in &summary.inputs {
        r += 1;
        sheet.write_string(r, 0, neutralise(&file.path.display().to_string()))?;
        sheet.write_string(r, 1, file.kind.as_str())?;
        sheet.write_number(r, 2, count(file.rows))?;
        if has_amounts(file.kind) {
            write_amount(sheet, r, 3, file.amount(), formats)?;
        }
        sheet.write_string(r, 4, &file.sha256)?;
    }

    r += 2;
    for (c, header) in [
        "outcome",
        "terminal",
        "terminal amount",
        "bank",
        "bank amount",
    ]
    .iter()
    .enumerate()
    {
        let format = if c == 0 {
            &formats.header
        } else {
            &formats.number_header
        };
        sheet.write_string_with_format(r, col(c)?, *header, format)?;
    }
    let mut totals = [Tally::default(), Tally::default()];
    // Rows set aside by --max-rejects are no outcome, but count like one.
    let lines = Outcome::ALL
        .iter()
        .map(|&outcome| (outcome.as_str(), Some(outcome)))
        .chain([(REJECTED_ROW, None)]);
    for (name, outcome) in lines {
        r += 1;
        sheet.write_string(r, 0, name)?;
        for (i, side) in [Side::Terminal, Side::Bank].into_iter().enumerate() {
            let tally = match outcome {
                Some(outcome) => summary.totals.get(side, outcome),
                None => summary.totals.rejected(side),
            };
            totals[i] = Tally {
                count: totals[i].count + tally.count,
                amount: totals[i].amount + tally.amount,
            };
            write_tally(sheet, r, col(1 + 2 * i)?, tally, formats)?;
        }
    }
    r += 1;
    sheet.write_string_with_format(r, 0, "total", &formats.header)?;
    for (i, tally) in totals.into_iter().enumerate() {
        write_tally(sheet, r, col(1 + 2 * i)?, tally, formats)?;
    }

    r += 2;
    sheet.write_string_with_format(r, 0, "action", &formats.header)?;
    sheet.write_string_with_format(r, 1, "count", &formats.number_header)?;
    let actions = summary.actions;
    for (name, n) in [
        ("void", actions.void),
        ("refund", actions.refund),
        ("dispute", actions.dispute),
        ("reject", actions.reject),
        ("already issued", actions.already_issued),
    ] {
        r += 1;
        sheet.write_string(r, 0, name)?;
        sheet.write_number(r, 1, count(n))?;
    }
    r += 2;
    sheet.write_string(r, 0, "exception rows")?;
    sheet.write_number(r, 1, count(summary.exceptions))?;
    r += 1;
    sheet.write_string(r, 0, "PENDING")?;
    sheet.write_number(
        r,
        1,
        count(summary.totals.get(Side::Terminal, Outcome::Pending).count),
    )?;

    sheet.set_autofit_max_width(MAX_COLUMN_PIXELS);
    sheet.autofit();
    // The as-of in the second column is a date-time; amounts and counts sit
    // in the next two.
    sheet.set_column_width(1, DATETIME_WIDTH)?;
    sheet.set_column_width(2, AMOUNT_WIDTH)?;
    sheet.set_column_width(3, AMOUNT_WIDTH)?;
    Ok(())
}

fn write_tally(
    sheet: &mut Worksheet,
    row: RowNum,
    col: ColNum,
    tally: Tally,
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.write_number(row, col, count(tally.count))?;
    write_amount(sheet, row, col + 1, tally.amount, formats)
}

/// A count as Excel's number; counts stay far below 2^32.
fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn col(c: usize) -> anyhow::Result<ColNum> {
    ColNum::try_from(c).context("IE: more columns than Excel holds")
}

fn row_number(r: usize) -> anyhow::Result<RowNum> {
    RowNum::try_from(r).context("IE: more rows than Excel holds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_excel_limit_counts_utf16_units() {
        let units = |text: &str| text.encode_utf16().count();
        let fits = "x".repeat(EXCEL_CELL_UNITS);
        assert!(matches!(within_excel_limit(&fits), Cow::Borrowed(_)));
        for long in [
            "x".repeat(EXCEL_CELL_UNITS + 1),
            "😀".repeat(20_000),
            format!("x{}", "😀".repeat(20_000)),
            "中".repeat(40_000),
        ] {
            let cut = within_excel_limit(&long);
            assert!(units(&cut) <= EXCEL_CELL_UNITS, "{}", units(&cut));
            assert!(units(&cut) >= EXCEL_CELL_UNITS - 1, "{}", units(&cut));
            assert!(cut.ends_with(CUT));
            assert!(long.starts_with(cut.strip_suffix(CUT).unwrap()));
        }
    }

    #[test]
    fn columns_are_typed_by_name() {
        #[track_caller]
        fn case(column: &str, want: CellKind) {
            assert_eq!(cell_kind(column), want, "{column}");
        }
        case("amount", CellKind::Amount);
        case("bank_amount", CellKind::Amount);
        case("terminal_amount", CellKind::Amount);
        case("original_amount", CellKind::Amount);
        case("refund_amount", CellKind::Amount);
        case("txn_time", CellKind::DateTime);
        case("settle_date", CellKind::Date);
        case("merchant_id", CellKind::Text);
        case("card_no", CellKind::Text);
        case("trace_no", CellKind::Text);
    }

    #[test]
    fn every_amount_column_of_the_outputs_is_typed() {
        use crate::write::*;
        for columns in [
            EXCEPTION_COLUMNS,
            MATCH_COLUMNS,
            VOID_REQUEST_COLUMNS,
            REFUND_INSTRUCTION_COLUMNS,
            DISPUTE_COLUMNS,
            REJECTED_CANCELLATION_COLUMNS,
        ] {
            for column in columns {
                if column.contains("amount") {
                    assert_eq!(cell_kind(column), CellKind::Amount, "{column}");
                }
                if column.contains("date") || column.contains("time") {
                    assert_ne!(cell_kind(column), CellKind::Text, "{column}");
                }
            }
        }
    }

    fn summary() -> Summary {
        let as_of =
            NaiveDateTime::parse_from_str("2026-11-24 22:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        Summary {
            as_of,
            business_day: as_of.date(),
            inputs: Vec::new(),
            totals: crate::totals::ControlTotals {
                per_file: Vec::new(),
                terminal: Default::default(),
                bank: Default::default(),
                rejected_per_file: Vec::new(),
                rejected_terminal: Default::default(),
                rejected_bank: Default::default(),
            },
            actions: Default::default(),
            exceptions: 0,
            out_dir: "out".into(),
            ledger: None,
        }
    }

    fn read_back(bytes: Vec<u8>) -> calamine::Xlsx<std::io::Cursor<Vec<u8>>> {
        use calamine::Reader;
        calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap()
    }

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn text_cells_are_formula_safe_and_keep_leading_zeros() {
        use calamine::{Data, Reader};
        let rows = vec![row(&[
            "=HYPERLINK(\"http://x\")",
            "-5",
            "000042",
            "0.05",
            "",
        ])];
        let columns = &[
            "reason",
            "merchant_name",
            "trace_no",
            "amount",
            "bank_amount",
        ];
        let sheet = Sheet {
            file: "disputes.csv",
            columns,
            rows: Rows::Held(&rows),
        };
        let mut bytes = Vec::new();
        write_workbook(&mut bytes, &summary(), &[sheet], &std::env::temp_dir()).unwrap();
        let mut book = read_back(bytes);
        let range = calamine::Reader::worksheet_range(&mut book, "disputes").unwrap();
        let cells: Vec<&Data> = range.rows().nth(1).unwrap().iter().collect();
        assert_eq!(cells[0], &Data::String("'=HYPERLINK(\"http://x\")".into()));
        assert_eq!(cells[1], &Data::String("'-5".into()));
        assert_eq!(cells[2], &Data::String("000042".into()));
        assert_eq!(cells[3], &Data::Float(0.05));
        assert_eq!(cells[4], &Data::Empty, "an empty cell is left empty");
        assert!(book.worksheet_formula("disputes").unwrap().is_empty());
    }

    /// The `<cols>` element of one sheet of a workbook: its column widths.
    fn cols_of(bytes: &[u8], sheet: &str) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let xml = std::io::read_to_string(zip.by_name(sheet).unwrap()).unwrap();
        let start = xml.find("<cols>").expect("the sheet has column widths");
        let end = xml.find("</cols>").unwrap();
        xml[start..end].to_string()
    }

    /// A table sheet is written in constant-memory mode, where autofit sees
    /// only the last row, so its text columns are fitted by hand: exactly
    /// as autofit fits the same cells in a sheet held in memory.
    #[test]
    fn text_columns_are_as_wide_as_autofit_makes_them() {
        let long = "x".repeat(300);
        let rows = vec![
            row(&["short", "上海静安咖啡有限公司", "=1+2", "", "12.50"]),
            row(&["a\nmuch longer second line", &long, "-5", "", ""]),
            row(&["", "WWW", "", "", "3.00"]),
        ];
        let columns: &'static [&'static str] =
            &["reason", "merchant_name", "card_no", "rrn", "amount"];
        let mut ours = Vec::new();
        let sheet = Sheet {
            file: "disputes.csv",
            columns,
            rows: Rows::Held(&rows),
        };
        write_workbook(&mut ours, &summary(), &[sheet], &std::env::temp_dir()).unwrap();

        // The same cells, held in memory and fitted by autofit.
        let formats = Formats::new();
        let mut workbook = Workbook::new();
        let held = workbook.add_worksheet();
        for (c, column) in columns.iter().enumerate() {
            held.write_string(0, col(c).unwrap(), *column).unwrap();
        }
        for (r, cells) in rows.iter().enumerate() {
            for (c, cell) in cells.iter().enumerate() {
                let kind = cell_kind(columns[c]);
                let r = row_number(r + 1).unwrap();
                write_cell(held, r, col(c).unwrap(), kind, cell, &formats).unwrap();
            }
        }
        held.autofilter(0, 0, row_number(rows.len()).unwrap(), 4)
            .unwrap();
        held.set_autofit_max_width(MAX_COLUMN_PIXELS);
        held.autofit();
        held.set_column_width(4, AMOUNT_WIDTH).unwrap();
        let autofit = workbook.save_to_buffer().unwrap();

        let cols = cols_of(&ours, "xl/worksheets/sheet2.xml");
        assert_eq!(cols, cols_of(&autofit, "xl/worksheets/sheet1.xml"));
        // The long column stops at the cap, and the empty one is as wide as
        // its header and filter button.
        assert!(
            cols.contains(r#"<col min="2" max="2" width="60""#),
            "{cols}"
        );
        assert!(cols.contains(r#"<col min="4" max="4""#), "{cols}");
    }

    /// rust_xlsxwriter panics when a row cannot reach its temp file; the
    /// run reports an I/O error instead (exit status 4).
    #[test]
    fn a_panic_while_writing_is_an_error() {
        let tempdir = std::env::temp_dir();
        let err = caught(&tempdir, || {
            panic!("Couldn't write to xml file: No space left on device")
        })
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("No space left on device"), "{message}");
        assert!(
            message.contains("check that its disk has room"),
            "{message}"
        );
        assert!(caught(&tempdir, || Ok(())).is_ok());
        // A bug of our own is not reported as a full disk.
        let bug = std::panic::catch_unwind(|| caught(&tempdir, || panic!("IE: a bug")));
        assert!(bug.is_err(), "the panic goes on");
    }

    #[test]
    fn rows_beyond_a_sheet_continue_on_numbered_sheets() {
        use calamine::Reader;
        let rows: Vec<Vec<String>> = (1..=5).map(|n| row(&[&format!("R{n}")])).collect();
        let sheet = Sheet {
            file: "matches.csv",
            columns: &["rrn"],
            rows: Rows::Held(&rows),
        };
        let mut bytes = Vec::new();
        write_split(&mut bytes, &summary(), &[sheet], &std::env::temp_dir(), 2).unwrap();
        let mut book = read_back(bytes);
        assert_eq!(
            book.sheet_names(),
            ["Summary", "matches", "matches (2)", "matches (3)"]
        );
        let last = book.worksheet_range("matches (3)").unwrap();
        let cells: Vec<String> = last.rows().map(|r| r[0].to_string()).collect();
        assert_eq!(cells, ["rrn", "R5"], "each part repeats the header row");
    }
}
