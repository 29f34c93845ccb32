//! A sweep's sparsity axis (`[sweep] k`, `l1_coefficients` or `l0_coefficients`): which sparsity each run has,
//! the joint law L(F, S) fitted at each one, and Gao et al.'s L(n, k) fitted across k.
//!
//! The joint law holds at one sparsity, so a sweep whose runs have several is fitted once per
//! value (`fit-k<K>.json`, `fit-l1x<λ>.json`, `fit-l0x<λ>.json`), never all together. L(n, k) (docs/METHODS.md M6)
//! is fitted to the longest-trained done runs of each (F, k): in a budgets × features × k
//! sweep, the largest budget's; in an explicit grid, the most steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use saescale_fit::sparsity::{fit_sparsity, SparsityFit, SparsityFitConfig};
use saescale_fit::{BootstrapConfig, Points};
use saescale_spec::atomic::write_json_atomic;
use saescale_spec::Architecture;
use saescale_table::{results, Table};

use crate::{Error, Result};

/// File of the L(n, k) fit in a sweep directory.
pub const SPARSITY_FIT: &str = "sparsity-fit.json";

/// The sweep axis that sets an architecture's sparsity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparsityAxis {
    /// `k` (topk, batchtopk).
    K,
    /// `l1_coefficient` λ (relu).
    L1Coefficient,
    /// `l0_coefficient` (jumprelu).
    L0Coefficient,
}

impl SparsityAxis {
    /// The axis of `architecture`.
    pub fn of(architecture: Architecture) -> Self {
        match architecture {
            Architecture::Relu => SparsityAxis::L1Coefficient,
            Architecture::Topk | Architecture::Batchtopk => SparsityAxis::K,
            Architecture::Jumprelu => SparsityAxis::L0Coefficient,
        }
    }

    /// Its column in a results table.
    pub fn column(self) -> &'static str {
        match self {
            SparsityAxis::K => "k",
            SparsityAxis::L1Coefficient => "l1_coefficient",
            SparsityAxis::L0Coefficient => "l0_coefficient",
        }
    }

    /// `k=8`: the `--where` filter that keeps one value.
    pub fn filter(self, value: f64) -> String {
        format!("{}={}", self.column(), value)
    }

    /// `fit-k8.json`: the file of the joint law fitted at one value.
    pub fn fit_file(self, value: f64) -> String {
        match self {
            SparsityAxis::K => format!("fit-k{value}.json"),
            SparsityAxis::L1Coefficient => format!("fit-l1x{value}.json"),
            SparsityAxis::L0Coefficient => format!("fit-l0x{value}.json"),
        }
    }
}

/// The distinct values of `axis` among the table's rows, smallest first; empty when the
/// table has no such column (tables written before it existed).
///
/// # Errors
/// [`Error::Table`] when the column holds an empty or non-numeric cell.
pub fn distinct_values(table: &Table, axis: SparsityAxis) -> Result<Vec<f64>> {
    if !table.has_column(axis.column()) {
        return Ok(Vec::new());
    }
    let mut values = table.f64_column(axis.column())?;
    values.sort_by(f64::total_cmp);
    values.dedup();
    Ok(values)
}

/// L(n, k) fitted to a sweep directory's done runs, or to a CSV/Parquet table with columns
/// `features`, `k`, `steps` and `loss`, after the `COLUMN=VALUE` filters ([`fit_sparsity_law`]).
///
/// # Errors
/// [`Error::BadInput`] for a directory without a results table; as [`fit_sparsity_law`].
pub fn fit_sparsity_input(input: &Path, filters: &[String], bootstrap: usize, seed: u64) -> Result<SparsityFit> {
    let table = if input.is_dir() {
        let path = results::find(input).ok_or_else(|| Error::bad_input(format!("{} has no results.parquet or results.csv", input.display())))?;
        let table = Table::read(&path)?;
        if table.has_column("state") { table.filter_eq("state", "done")? } else { table }
    } else {
        Table::read(input)?
    };
    fit_sparsity_law(&crate::fit::filtered(table, filters)?, bootstrap, seed)
}

/// L(n, k) fitted to the rows of a table of done topk or batchtopk runs (columns `features`,
/// `k`, `steps` and `loss`): the longest-trained rows of each (features, k) are its points.
///
/// # Errors
/// [`Error::Table`] for a missing or bad column; [`Error::Fit`] when the law cannot be fitted
/// (fewer than 7 points, no convergence), bad input of the caller's data.
pub fn fit_sparsity_law(table: &Table, bootstrap: usize, seed: u64) -> Result<SparsityFit> {
    let (features, ks) = (table.positive_column("features")?, table.positive_column("k")?);
    let (steps, loss) = (table.positive_column("steps")?, table.positive_column("loss")?);
    // (F, k) → the most steps seen, then the losses of the rows with that many.
    let mut longest: BTreeMap<(u64, u64), f64> = BTreeMap::new();
    let key = |i: usize| (features[i].to_bits(), ks[i].to_bits());
    for (i, &s) in steps.iter().enumerate() {
        let most = longest.entry(key(i)).or_insert(s);
        *most = most.max(s);
    }
    let kept: Vec<usize> = (0..table.height()).filter(|&i| steps[i] == longest[&key(i)]).collect();
    let pick = |column: &[f64]| kept.iter().map(|&i| column[i]).collect::<Vec<f64>>();
    let points = Points::new(&pick(&features), &pick(&ks), &pick(&loss))?;
    let mut config = SparsityFitConfig::default();
    if bootstrap > 0 {
        config.bootstrap = Some(BootstrapConfig::new(bootstrap, seed));
    }
    Ok(fit_sparsity(&points, &config)?)
}

/// Writes an L(n, k) fit as pretty JSON, atomically.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_sparsity_fit(fit: &SparsityFit, path: &Path) -> Result<PathBuf> {
    write_json_atomic(path, fit).map_err(|source| Error::Io { action: "write", path: path.to_path_buf(), source })?;
    Ok(path.to_path_buf())
}
