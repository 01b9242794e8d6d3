//! Reads the TOML config file (`--config`): the `[policy]` table, the
//! per-merchant `[fee_rates]`, the `[ledger]` path, the `[output]` options,
//! the `[input]` options and format profiles (`[profiles.NAME]`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::field::{parse_amount, parse_fee_rate};
use super::profile::{Profile, profiles_from_toml};
use super::{InputError, problem};
use crate::model::Id;
use crate::policy::{PolicyOverrides, parse_cutoff, parse_duplicate_policy, parse_span};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    policy: PolicyTable,
    #[serde(default)]
    fee_rates: BTreeMap<String, String>,
    #[serde(default)]
    ledger: LedgerTable,
    #[serde(default)]
    output: OutputTable,
    #[serde(default)]
    input: InputTable,
    #[serde(default)]
    profiles: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputTable {
    #[serde(default)]
    xlsx: bool,
    #[serde(default)]
    csv_bom: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputTable {
    max_rejects: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerTable {
    path: Option<PathBuf>,
}

/// What the config file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub policy: PolicyOverrides,
    /// `[ledger] path`, relative to the working directory.
    pub ledger: Option<PathBuf>,
    /// `[output] xlsx`: also write the Excel workbook.
    pub xlsx: bool,
    /// `[output] csv_bom`: start each CSV file with a UTF-8 byte-order mark.
    pub csv_bom: bool,
    /// The format profiles of `[profiles.NAME]` tables.
    pub profiles: Vec<Profile>,
    /// `[input] max_rejects`: bad rows that may be set aside (under the flag).
    pub max_rejects: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyTable {
    cutoff: Option<String>,
    settlement_lag_days: Option<u32>,
    refund_window_days: Option<u32>,
    amount_tolerance: Option<String>,
    time_tolerance: Option<String>,
    duplicate_window: Option<String>,
    suspected_duplicates: Option<String>,
    fee_rate: Option<String>,
}

/// Reads the config file: policy overrides (applied over the defaults, and
/// under any flags) and the ledger's path.
pub fn read_config(path: &Path) -> Result<Settings, InputError> {
    let fail = |field: Option<&'static str>, message: String| {
        InputError::single(problem(path, None, field, message))
    };
    let text = fs::read_to_string(path)
        .map_err(|err| fail(None, format!("cannot read the config file: {err}")))?;
    let file: FileConfig = toml::from_str(&text).map_err(|err| {
        let message = crate::model::redact_pans(err.message()).into_owned();
        let line = err
            .span()
            .map(|span| text[..span.start].matches('\n').count() as u64 + 1);
        InputError::single(problem(path, line, None, message))
    })?;
    let policy = file.policy;
    let field = |name: &'static str| move |message: String| fail(Some(name), message);
    let mut overrides = PolicyOverrides {
        cutoff: policy
            .cutoff
            .as_deref()
            .map(parse_cutoff)
            .transpose()
            .map_err(field("policy.cutoff"))?,
        settlement_lag_days: policy.settlement_lag_days,
        refund_window_days: policy.refund_window_days,
        amount_tolerance: policy
            .amount_tolerance
            .as_deref()
            .map(parse_amount)
            .transpose()
            .map_err(field("policy.amount_tolerance"))?,
        time_tolerance: policy
            .time_tolerance
            .as_deref()
            .map(parse_span)
            .transpose()
            .map_err(field("policy.time_tolerance"))?,
        duplicate_window: policy
            .duplicate_window
            .as_deref()
            .map(parse_span)
            .transpose()
            .map_err(field("policy.duplicate_window"))?,
        suspected_duplicates: policy
            .suspected_duplicates
            .as_deref()
            .map(parse_duplicate_policy)
            .transpose()
            .map_err(field("policy.suspected_duplicates"))?,
        fee_rate: policy
            .fee_rate
            .as_deref()
            .map(parse_fee_rate)
            .transpose()
            .map_err(field("policy.fee_rate"))?,
        fee_rates: BTreeMap::new(),
    };
    for (merchant, rate) in file.fee_rates {
        let rate = parse_fee_rate(&rate).map_err(field("fee_rates"))?;
        overrides.fee_rates.insert(Id::from(merchant), rate);
    }
    let profiles = profiles_from_toml(&file.profiles, path).map_err(|message| {
        InputError::single(problem(
            path,
            None,
            None,
            crate::model::redact_pans(&message).into_owned(),
        ))
    })?;
    Ok(Settings {
        policy: overrides,
        ledger: file.ledger.path,
        xlsx: file.output.xlsx,
        csv_bom: file.output.csv_bom,
        profiles,
        max_rejects: file.input.max_rejects,
    })
}
