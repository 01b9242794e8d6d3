//! Control totals (SPEC §3): count and amount per input file and per outcome,
//! and the check that what came in equals what went out. Pure.

use std::collections::BTreeMap;

use anyhow::bail;

use crate::matching::{Outcome, Reconciliation};
use crate::model::{Amount, Settlement, TerminalRecord};
use crate::read::InputFile;

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

/// Outcome tallies per input file and per side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlTotals {
    /// Index for index with the terminal files, then the bank files.
    pub per_file: Vec<BTreeMap<Outcome, Tally>>,
    pub terminal: BTreeMap<Outcome, Tally>,
    pub bank: BTreeMap<Outcome, Tally>,
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
}

/// Tallies every record's outcome, and refuses (an internal error) if the
/// tallies do not add up to the rows and amounts each file was read with.
pub fn control_totals(
    terminal: &[TerminalRecord],
    bank: &[Settlement],
    result: &Reconciliation,
    terminal_files: &[InputFile],
    bank_files: &[InputFile],
) -> anyhow::Result<ControlTotals> {
    let mut totals = ControlTotals {
        per_file: vec![BTreeMap::new(); terminal_files.len() + bank_files.len()],
        terminal: BTreeMap::new(),
        bank: BTreeMap::new(),
    };
    if result.terminal.len() != terminal.len() || result.bank.len() != bank.len() {
        bail!("control totals: not every record has an outcome");
    }
    for (record, outcome) in terminal.iter().zip(&result.terminal) {
        let file = record.origin.file as usize;
        totals.per_file[file]
            .entry(outcome.outcome)
            .or_default()
            .add(record.amount);
        totals
            .terminal
            .entry(outcome.outcome)
            .or_default()
            .add(record.amount);
    }
    for (settlement, outcome) in bank.iter().zip(&result.bank) {
        let file = terminal_files.len() + settlement.origin.file as usize;
        totals.per_file[file]
            .entry(outcome.outcome)
            .or_default()
            .add(settlement.amount);
        totals
            .bank
            .entry(outcome.outcome)
            .or_default()
            .add(settlement.amount);
    }
    let files = terminal_files.iter().chain(bank_files);
    for (file, outcomes) in files.zip(&totals.per_file) {
        let out = outcomes.values().fold(Tally::default(), |mut sum, tally| {
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
