//! Nonparametric bootstrap over rows (M8): resample, refit to convergence, keep per-replicate
//! parameters so that every derived quantity gets its interval from the replicates themselves.
//!
//! Replicate `r` draws `n` rows with replacement from a ChaCha8 generator seeded with the
//! user's seed on stream `r`, so results do not depend on the number of threads or on the
//! order replicates finish in. A replicate is the original points weighted by how often each
//! was drawn, which is the same objective as the resampled table. Every replicate is refitted
//! with L-BFGS from the configured start and must converge ([`crate::solver::Status`]); if it
//! does not, it is retried once from the full-data optimum, and if that fails too it is
//! counted as failed and left out — Hoffmann et al.'s replicates stopped early, which made
//! their intervals about 50× too narrow (docs/METHODS.md §2.1, pitfall 12).
//!
//! IsoFLOP replicates resample within each budget, so every budget keeps its size.
//!
//! ## Reference
//! Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 6 and 13 (percentile
//! intervals); Besiroglu et al. 2024, arXiv:2404.10102 §3 (4,000 replicates of the 240 points).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::allocation::Frontier;
use crate::error::{Error, Result};
use crate::isoflop::{group_by_budget, isoflop, IsoFlopConfig};
use crate::law::Law;
use crate::objective::Objective;
use crate::points::Points;
use crate::solver::{minimise, SolverSettings};

/// Where each replicate's optimiser starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BootstrapStart {
    /// At the full-data optimum (the default).
    Best,
    /// At fixed log-form parameters, e.g. Hoffmann et al.'s values as Epoch AI did.
    Point {
        /// Law parameters in log form, then the objective's extra ones.
        theta: Vec<f64>,
    },
}

/// Bootstrap settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of replicates (Epoch AI: 4,000).
    pub replicates: usize,
    /// Seed of the resampling generator.
    pub seed: u64,
    /// Where each replicate's optimiser starts.
    pub start: BootstrapStart,
}

impl BootstrapConfig {
    /// `replicates` replicates with `seed`, each started at the full-data optimum.
    pub fn new(replicates: usize, seed: u64) -> Self {
        BootstrapConfig { replicates, seed, start: BootstrapStart::Best }
    }
}

/// Parameters of every converged replicate of a law fit.
#[derive(Debug, Clone, PartialEq)]
pub struct LawReplicates {
    /// Log-form parameters of each converged replicate.
    pub thetas: Vec<Vec<f64>>,
    /// Replicates that converged only when restarted from the full-data optimum.
    pub retried: usize,
    /// Replicates that did not converge and are left out.
    pub failed: usize,
}

/// How often each of `n` rows is drawn in replicate `replicate`.
pub fn resample_counts(n: usize, seed: u64, replicate: u64) -> Vec<u32> {
    let mut rng = replicate_rng(seed, replicate);
    let mut counts = vec![0u32; n];
    for _ in 0..n {
        counts[rng.random_range(0..n)] += 1;
    }
    counts
}

/// How often each row is drawn when every group is resampled on its own (group sizes kept).
pub fn stratified_counts(groups: &[Vec<usize>], n: usize, seed: u64, replicate: u64) -> Vec<u32> {
    let mut rng = replicate_rng(seed, replicate);
    let mut counts = vec![0u32; n];
    for group in groups {
        for _ in 0..group.len() {
            counts[group[rng.random_range(0..group.len())]] += 1;
        }
    }
    counts
}

fn replicate_rng(seed: u64, replicate: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(replicate);
    rng
}

fn check(config: &BootstrapConfig) -> Result<()> {
    if config.replicates < 2 {
        return Err(Error::InvalidConfig { field: "bootstrap.replicates", reason: "must be at least 2".into() });
    }
    Ok(())
}

/// Refits `law` on `config.replicates` resamples of `points` (in parallel).
///
/// `best` is the full-data optimum (log form, with the objective's extra parameters): the
/// default start and the fallback for replicates that do not converge.
///
/// # Errors
/// [`Error::InvalidConfig`] for fewer than two replicates or a start of the wrong length.
pub fn bootstrap_law<L: Law>(
    law: &L,
    objective: Objective,
    points: &Points,
    settings: &SolverSettings,
    config: &BootstrapConfig,
    best: &[f64],
) -> Result<LawReplicates> {
    check(config)?;
    let start = match &config.start {
        BootstrapStart::Best => best.to_vec(),
        BootstrapStart::Point { theta } => theta.clone(),
    };
    let outcomes: Vec<(Option<Vec<f64>>, bool)> = (0..config.replicates as u64)
        .into_par_iter()
        .map(|r| {
            let replicate = points.reweighted(&resample_counts(points.len(), config.seed, r));
            let first = minimise(law, objective, &replicate, &start, settings)?;
            if first.status.converged() {
                return Ok((Some(first.theta), false));
            }
            let second = minimise(law, objective, &replicate, best, settings)?;
            Ok((second.status.converged().then_some(second.theta), true))
        })
        .collect::<Result<_>>()?;
    let failed = outcomes.iter().filter(|(t, _)| t.is_none()).count();
    let retried = outcomes.iter().filter(|(t, r)| t.is_some() && *r).count();
    let thetas = outcomes.into_iter().filter_map(|(t, _)| t).collect();
    Ok(LawReplicates { thetas, retried, failed })
}

/// Frontiers of `config.replicates` IsoFLOP analyses of within-budget resamples; returns the
/// frontiers and the number of replicates without enough interior optima.
///
/// # Errors
/// [`Error::InvalidConfig`] for fewer than two replicates.
pub fn bootstrap_isoflop(
    points: &Points,
    kappa: f64,
    iso: &IsoFlopConfig,
    config: &BootstrapConfig,
) -> Result<(Vec<Frontier>, usize)> {
    check(config)?;
    let groups: Vec<Vec<usize>> =
        group_by_budget(&points.ln_compute(kappa), iso.budget_tolerance).into_iter().map(|(_, g)| g).collect();
    let frontiers: Vec<Option<Frontier>> = (0..config.replicates as u64)
        .into_par_iter()
        .map(|r| {
            let counts = stratified_counts(&groups, points.len(), config.seed, r);
            let rows: Vec<usize> = (0..points.len()).flat_map(|i| std::iter::repeat_n(i, counts[i] as usize)).collect();
            isoflop(&points.select(&rows), kappa, iso).ok().and_then(|fit| fit.frontier)
        })
        .collect();
    let failed = frontiers.iter().filter(|f| f.is_none()).count();
    Ok((frontiers.into_iter().flatten().collect(), failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_is_deterministic_and_complete() {
        let a = resample_counts(50, 7, 3);
        assert_eq!(a, resample_counts(50, 7, 3));
        assert_ne!(a, resample_counts(50, 7, 4));
        assert_eq!(a.iter().sum::<u32>(), 50);
    }

    #[test]
    fn stratified_resampling_keeps_group_sizes() {
        let groups = vec![vec![0, 1, 2], vec![3, 4]];
        let counts = stratified_counts(&groups, 5, 1, 0);
        assert_eq!(counts[..3].iter().sum::<u32>(), 3);
        assert_eq!(counts[3..].iter().sum::<u32>(), 2);
    }
}
