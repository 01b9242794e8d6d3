//! Renders results for people. Writes only to the `impl Write` it is handed.

use std::io::{self, Write};

use crate::read::{InputFile, InputKind};

/// Writes the one-line verdict of `posrecon check` on a valid file.
pub fn write_check(out: &mut impl Write, file: &InputFile) -> io::Result<()> {
    write!(
        out,
        "{}: valid {}: {} row{}",
        file.path.display(),
        file.kind.description(),
        file.rows,
        if file.rows == 1 { "" } else { "s" }
    )?;
    if matches!(
        file.kind,
        InputKind::Terminal | InputKind::Bank | InputKind::Cancellations
    ) {
        let amounts: Vec<String> = file
            .amounts
            .iter()
            .map(|(currency, amount)| format!("{amount} {currency}"))
            .collect();
        if amounts.is_empty() {
            write!(out, ", amount 0.00")?;
        } else {
            write!(out, ", amount {}", amounts.join(" + "))?;
        }
    }
    writeln!(out)
}
