//! Control totals (SPEC §3): count and amount per input file and per outcome,
//! and the check that what came in equals what went out. Rows set aside by
//! `--max-rejects` are counted too, on a line of their own. Pure.

use std::collections::BTreeMap;

use anyhow::bail;

use crate::matching::{Outcome, Reconciliation};
use crate::model::{Amount, Settlement, TerminalRecord};
use crate::read::{InputFile, RejectedRow};

/// A count of records and the sum of their amounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub amount: Amount,
}

impl Tally {
    fn add(&mut self, amount: Amount) {
        self.count += 1;
        self.amount = self.amount + amount;
    }
}

/// Which side of the reconciliation a record is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Terminal,
    Bank,
}

impl Side {
    /// The name used in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Terminal => "terminal",
            Side::Bank => "bank",
        }
    }
}

/// The name of the control-totals line for rows set aside by `--max-rejects`:
/// not an outcome (such a row is no record), but counted like one.
pub const REJECTED_ROW: &str = "REJECTED_ROW";

/// Outcome tallies per input file and per side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlTotals {
    /// Index for index with the terminal files, then the bank files.
    pub per_file: Vec<BTreeMap<Outcome, Tally>>,
    pub terminal: BTreeMap<Outcome, Tally>,
    pub bank: BTreeMap<Outcome, Tally>,
    /// Rows set aside, per file (index for index with `per_file`); a row
    /// whose amount could not be read counts 0.00.
    pub rejected_per_file: Vec<Tally>,
    pub rejected_terminal: Tally,
    pub rejected_bank: Tally,
}

impl ControlTotals {
    /// The tally of one outcome on one side.
    pub fn get(&self, side: Side, outcome: Outcome) -> Tally {
        let map = match side {
            Side::Terminal => &self.terminal,
            Side::Bank => &self.bank,
        };
        map.get(&outcome).copied().unwrap_or_default()
    }

    /// The rows set aside on one side.
    pub fn rejected(&self, side: Side) -> Tally {
        match side {
            Side::Terminal => self.rejected_terminal,
            Side::Bank => self.rejected_bank,
        }
    }

    /// Rows set aside on both sides.
    pub fn rejected_rows(&self) -> u64 {
        self.rejected_terminal.count + self.rejected_bank.count
    }
}

/// The records of one side of a night, as read: the files, the records, and
/// the rows set aside.
#[derive(Debug, Clone, Copy)]
pub struct SideInput<'a, T> {
    pub records: &'a [T],
    pub files: &'a [InputFile],
    pub rejected: &'a [RejectedRow],
}

/// Fails unless `result` holds an outcome for each record: what the totals
/// check first, and what deciding needs before it looks any up.
pub fn every_record_has_an_outcome(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    result: &Reconciliation,
) -> anyhow::Result<()> {
    if result.terminal.len() != terminal.len() || result.bank.len() != bank.len() {
        bail!("control totals: not every record has an outcome");
    }
    Ok(())
}

/// Tallies every record's outcome and every row set aside, and refuses (an
/// internal error) if the tallies do not add up to the rows and amounts each
/// file was read with.
pub fn control_totals(
    terminal_side: SideInput<'_, TerminalRecord>,
    bank_side: SideInput<'_, Settlement>,
    result: &Reconciliation,
) -> anyhow::Result<ControlTotals> {
    let (terminal, terminal_files) = (terminal_side.records, terminal_side.files);
    let (bank, bank_files) = (bank_side.records, bank_side.files);
    let file_count = terminal_files.len() + bank_files.len();
    let mut totals = ControlTotals {
        per_file: vec![BTreeMap::new(); file_count],
        terminal: BTreeMap::new(),
        bank: BTreeMap::new(),
        rejected_per_file: vec![Tally::default(); file_count],
        rejected_terminal: Tally::default(),
        rejected_bank: Tally::default(),
    };
    for row in terminal_side.rejected {
        let amount = row.counted_amount();
        totals.rejected_per_file[row.file as usize].add(amount);
        totals.rejected_terminal.add(amount);
    }
    for row in bank_side.rejected {
        let amount = row.counted_amount();
        totals.rejected_per_file[terminal_files.len() + row.file as usize].add(amount);
        totals.rejected_bank.add(amount);
    }
    every_record_has_an_outcome(terminal, bank, result)?;
    // Tallied in arrays by outcome first: a map look-up per record was a
    // tenth of a second per million records.
    let mut per_file = vec![[Tally::default(); Outcome::ALL.len()]; file_count];
    for (record, outcome) in terminal.iter().zip(&result.terminal) {
        per_file[record.origin.file as usize][outcome.outcome as usize].add(record.amount);
    }
    for (settlement, outcome) in bank.iter().zip(&result.bank) {
        let file = terminal_files.len() + settlement.origin.file as usize;
        per_file[file][outcome.outcome as usize].add(settlement.amount);
    }
    for (file, tallies) in per_file.iter().enumerate() {
        let side = if file < terminal_files.len() {
            &mut totals.terminal
        } else {
            &mut totals.bank
        };
        for (&outcome, tally) in Outcome::ALL.iter().zip(tallies) {
            if tally.count > 0 {
                totals.per_file[file].insert(outcome, *tally);
                let sum = side.entry(outcome).or_default();
                sum.count += tally.count;
                sum.amount = sum.amount + tally.amount;
            }
        }
    }
    let files = terminal_files.iter().chain(bank_files);
    for ((file, outcomes), rejected) in files.zip(&totals.per_file).zip(&totals.rejected_per_file) {
        let out = outcomes.values().fold(*rejected, |mut sum, tally| {
            sum.count += tally.count;
            sum.amount = sum.amount + tally.amount;
            sum
        });
        if out.count != file.rows || out.amount != file.amount() {
            bail!(
                "control totals do not balance for {}: read {} rows, {}; accounted for {} rows, {}",
                file.path.display(),
                file.rows,
                file.amount(),
                out.count,
                out.amount
            );
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::model::Currency;
    use crate::policy::Policy;
    use crate::read::InputKind;
    use crate::testkit::{AS_OF, at, fen, sale, settled};

    fn file(kind: InputKind, rows: u64, minor: i64) -> InputFile {
        InputFile {
            path: PathBuf::from(kind.as_str()),
            kind,
            sha256: String::new(),
            rows,
            amounts: vec![(Currency::CNY, fen(minor))],
        }
    }

    fn rejected(amount: Option<i64>) -> RejectedRow {
        RejectedRow {
            file: 0,
            path: PathBuf::from("terminal"),
            kind: InputKind::Terminal,
            line: 3,
            problems: Vec::new(),
            raw: String::new(),
            amount: amount.map(fen),
        }
    }

    #[test]
    fn a_record_without_an_outcome_is_an_internal_error() {
        let terminal = [sale("000001", "2026-11-23 09:15:02", 1000)];
        let bank = [settled(&terminal[0])];
        let mut result =
            crate::matching::reconcile(&terminal, &bank, &Policy::default(), at(AS_OF));
        assert!(every_record_has_an_outcome(&terminal, &bank, &result).is_ok());
        result.bank.pop();
        let err = every_record_has_an_outcome(&terminal, &bank, &result).unwrap_err();
        assert_eq!(
            err.to_string(),
            "control totals: not every record has an outcome"
        );
    }

    #[test]
    fn rows_set_aside_balance_the_totals_on_their_own_line() {
        let terminal = [sale("000001", "2026-11-23 09:15:02", 1000)];
        let bank = [settled(&terminal[0])];
        let result = crate::matching::reconcile(&terminal, &bank, &Policy::default(), at(AS_OF));
        let terminal_files = [file(InputKind::Terminal, 3, 1700)];
        let bank_files = [file(InputKind::Bank, 1, 1000)];
        let set_aside = [rejected(Some(700)), rejected(None)];
        let totals = control_totals(
            SideInput {
                records: &terminal,
                files: &terminal_files,
                rejected: &set_aside,
            },
            SideInput {
                records: &bank,
                files: &bank_files,
                rejected: &[],
            },
            &result,
        )
        .unwrap();
        assert_eq!(
            totals.rejected(Side::Terminal),
            Tally {
                count: 2,
                amount: fen(700)
            },
            "an unreadable amount counts 0.00"
        );
        assert_eq!(totals.rejected_per_file[0].count, 2);
        assert_eq!(totals.rejected_rows(), 2);

        // Leaving a row set aside out of the tally no longer balances.
        let unbalanced = control_totals(
            SideInput {
                records: &terminal,
                files: &terminal_files,
                rejected: &set_aside[..1],
            },
            SideInput {
                records: &bank,
                files: &bank_files,
                rejected: &[],
            },
            &result,
        );
        assert!(unbalanced.is_err());
    }
}
