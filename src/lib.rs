//! Reconciles POS terminal batch files against acquiring-bank settlement files.
//!
//! Data flows one way; each arrow is a plain function call:
//!
//! ```text
//! read ──▶ matching ──▶ decide ──▶ write / report
//!   └─────────┴─── model ───┴──────────┘
//! ```
//!
//! * [`model`]: domain types. No I/O, no parsing rules.
//! * [`read`]: the only module that reads files; rejects bad input with an
//!   [`InputError`] naming file, line and field.
//! * [`report`]: renders results for people; writes only where it is told to.

pub mod model;
pub mod read;
pub mod report;

use std::path::Path;

pub use read::{InputError, InputFile, InputKind};

/// Reads one file of `kind` strictly, as `reconcile` would, and returns its
/// control totals, or every problem found in it.
pub fn check(path: &Path, kind: InputKind) -> Result<InputFile, InputError> {
    let paths = [path.to_path_buf()];
    let mut files = match kind {
        InputKind::Terminal => read::read_terminal_records(&paths)?.files,
        InputKind::Bank => read::read_settlements(&paths)?.files,
        InputKind::Merchants => read::read_merchants(path)?.files,
        InputKind::CardStatus => read::read_card_statuses(path)?.files,
        InputKind::Cancellations => read::read_cancellations(path)?.files,
    };
    Ok(files.remove(0))
}
