//! What a design is expected to buy, before anything runs: simulate the sweep on laws drawn
//! from the prior, fit each simulated sweep as `saescale fit` would, and measure how far the
//! fitted F*(C) and L*(C) at a target compute land from the truth.
//!
//! One trial ([`Simulator::trial`]): take a law `L = E + A/F^α + B/S^β`; plan the design (an
//! adaptive one stage by stage, each placed by the same [`stages`](super::stages) function the
//! real sweep uses, fed the simulated losses of the stages before it); give every planned run
//! the law's loss at its (F, steps) times `1 + noise·z`, z standard normal and seeded by the
//! simulation seed and the run's id, so that a run has the same loss however often its stage
//! is re-planned; fit the joint law (the summed-Huber fit from the Chinchilla start grid,
//! `saescale fit`'s default); read F̂*(C) and L̂*(C) off its frontier.
//!
//! [`Simulator::expected`] repeats trials on laws drawn from the prior: an earlier fit's
//! bootstrap replicates (or its point estimate) when the prior is a fit, else the SAE-like
//! family of [`super::laws::LawFamily`] around the prior's anchor and exponent. The spread of
//! F̂*/F* and L̂*/L* − 1 over the trials is the interval the design is expected to give. The
//! simulated trainer knows nothing of learning rates: runs that differ only in lr or seed get
//! the same law, with independent noise.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use saescale_fit::law::JointParams;
use saescale_fit::stats::percentile;
use saescale_fit::{fit, FitConfig, Frontier, Method, Points, Starts};
use saescale_sweep::plan::PlannedRun;
use saescale_sweep::spec::Design;
use saescale_sweep::{Plan, SweepSpec};
use serde::Serialize;

use super::laws::LawFamily;
use super::prior::LoadedPrior;
use super::{stages, FinishedRun};
use crate::{Error, Result};

/// Relative loss noise when neither the spec nor a fit gives one.
pub const DEFAULT_NOISE: f64 = 0.01;
/// Trials of [`Simulator::expected`] by default.
pub const DEFAULT_DRAWS: usize = 40;

/// A sweep spec ready to be simulated.
#[derive(Debug, Clone)]
pub struct Simulator {
    spec: SweepSpec,
    prior: Option<LoadedPrior>,
    /// Compute per feature-step, 12·d·batch.
    kappa: f64,
}

/// One simulated sweep on one law.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trial {
    /// Runs the design trained.
    pub runs: usize,
    /// FLOP they took.
    pub flops: f64,
    /// The law's F*(C) and L*(C) at the target.
    pub true_features: f64,
    /// See `true_features`.
    pub true_loss: f64,
    /// The fit's F̂*(C) and L̂*(C) at the target; `None` when the fit did not converge.
    pub fitted: Option<[f64; 2]>,
}

impl Trial {
    /// F̂*/F* and L̂*/L* − 1, when the fit converged.
    pub fn errors(&self) -> Option<[f64; 2]> {
        self.fitted.map(|[f, l]| [f / self.true_features, l / self.true_loss - 1.0])
    }
}

/// The expected errors of a design at a target compute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expected {
    /// The compute the errors are at.
    pub target_compute: f64,
    /// Trials run, and how many of them the fit did not converge on.
    pub draws: usize,
    /// See `draws`.
    pub failed: usize,
    /// Runs and FLOP of the design (FLOP averaged over the trials: adaptive placement moves
    /// feature counts, and with them the rounding of steps).
    pub runs: usize,
    /// See `runs`.
    pub flops: f64,
    /// Relative noise of a run's loss used.
    pub noise: f64,
    /// Where the laws came from.
    pub laws: String,
    /// 2.5th and 97.5th percentiles of F̂*/F*.
    pub features_ratio: [f64; 2],
    /// Median of |ln(F̂*/F*)|.
    pub features_median_error: f64,
    /// 2.5th and 97.5th percentiles of L̂*/L* − 1.
    pub loss_error: [f64; 2],
    /// Median of |L̂*/L* − 1|.
    pub loss_median_error: f64,
}

impl Expected {
    /// The expected 95% interval of F*(C) as a factor: its upper end over its lower.
    pub fn features_width(&self) -> f64 {
        self.features_ratio[1] / self.features_ratio[0]
    }

    /// The expected 95% interval of L*(C) relative to L*: upper end minus lower.
    pub fn loss_width(&self) -> f64 {
        self.loss_error[1] - self.loss_error[0]
    }
}

/// How [`Simulator::expected`] simulates.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The compute F*(C) and L*(C) are judged at.
    pub target_compute: f64,
    /// Trials.
    pub draws: usize,
    /// Seed of the laws drawn and of the noise.
    pub seed: u64,
    /// Where each trial's fit starts (the Chinchilla grid, as `saescale fit`).
    pub starts: Starts,
}

impl Request {
    /// [`DEFAULT_DRAWS`] trials at `target_compute`, seed 0, fits from the Chinchilla grid.
    pub fn new(target_compute: f64) -> Self {
        Request { target_compute, draws: DEFAULT_DRAWS, seed: 0, starts: Starts::ChinchillaGrid }
    }
}

impl Simulator {
    /// A simulator for `spec`; its prior (and the fit it names) is read now.
    ///
    /// # Errors
    /// An isoflop spec whose prior cannot be read.
    pub fn new(spec: &SweepSpec) -> Result<Simulator> {
        let prior = if spec.axes.prior.is_some() { Some(LoadedPrior::of(spec)?) } else { None };
        Ok(Simulator { spec: spec.clone(), prior, kappa: spec.kappa() })
    }

    /// The design simulated on `law`, losses with relative `noise`, seeded by `seed`, fitted from
    /// `starts` and judged at `target_compute`.
    ///
    /// # Errors
    /// Planning errors (a budget too small for its span at a simulated centre).
    pub fn trial(&self, law: &JointParams, noise: f64, seed: u64, target_compute: f64, starts: &Starts) -> Result<Trial> {
        let loss_of = |run: &PlannedRun| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ run_key(run));
            let z: f64 = StandardNormal.sample(&mut rng);
            law.predict(run.features as f64, run.steps as f64) * (1.0 + noise * z)
        };
        let finished = |plan: &Plan| -> Vec<FinishedRun> {
            plan.runs.iter().map(|run| FinishedRun { features: run.features as f64, steps: run.steps as f64, loss: loss_of(run) }).collect()
        };
        let plan = match (self.spec.design(), &self.prior) {
            (Design::Grid, _) => Plan::new(&self.spec)?,
            (Design::Isoflop, Some(prior)) => stages(&self.spec, &prior.law, |plan| Ok(Some(finished(plan))))?,
            (Design::Isoflop, None) => return Err(Error::bad_input("design = \"isoflop\" needs a [sweep.prior]")),
        };
        let runs = finished(&plan);
        let truth = Frontier::from_joint(law);
        let column = |get: fn(&FinishedRun) -> f64| runs.iter().map(get).collect::<Vec<f64>>();
        let points = Points::new(&column(|r| r.features), &column(|r| r.steps), &column(|r| r.loss.max(f64::MIN_POSITIVE)))?;
        let mut config = FitConfig::new(Method::Huber, self.kappa);
        config.starts = starts.clone();
        let fitted = fit(&points, &config).ok().map(|result| {
            [result.frontier.x_opt(target_compute, self.kappa), result.frontier.loss_opt(target_compute, self.kappa)]
        });
        Ok(Trial {
            runs: plan.runs.len(),
            flops: plan.total_flops(),
            true_features: truth.x_opt(target_compute, self.kappa),
            true_loss: truth.loss_opt(target_compute, self.kappa),
            fitted,
        })
    }

    /// The errors the design is expected to make: `request.draws` trials on laws from the
    /// prior, with the spec's noise (else the prior fit's residuals, else [`DEFAULT_NOISE`]).
    /// `progress` hears how many trials are done after each.
    ///
    /// # Errors
    /// A spec without a prior, an isoflop-method prior fit (no law to draw), planning errors.
    pub fn expected(&self, request: &Request, progress: impl FnMut(usize)) -> Result<Expected> {
        let prior = self.prior.as_ref().ok_or_else(|| {
            Error::bad_input(format!(
                "sweep {} has no [sweep.prior] to draw laws from: add `exponent` and `anchor = {{ compute = .., features = .. }}`, or `fit = \"fit.json\"`, to its [sweep] table",
                self.spec.name
            ))
        })?;
        if !(request.target_compute > 0.0 && request.target_compute.is_finite()) {
            return Err(Error::bad_input(format!("expected a positive target compute, got {}", request.target_compute)));
        }
        let noise = prior.noise().unwrap_or(DEFAULT_NOISE);
        let (laws, laws_name) = match &prior.fit {
            Some(_) => {
                let laws = prior.fitted_laws().ok_or_else(|| {
                    Error::bad_input("the prior's fit has no joint law to simulate (an isoflop-method fit): name a huber, mle or lsq fit")
                })?;
                let name = match laws.len() {
                    1 => "the prior's fit (no bootstrap: noise only)".to_string(),
                    n => format!("{n} bootstrap replicates of the prior's fit"),
                };
                (laws, name)
            }
            None => {
                let reference = self.smallest_budget();
                let mut rng = ChaCha8Rng::seed_from_u64(request.seed);
                let family = LawFamily::default();
                let laws = (0..request.draws)
                    .map(|_| family.draw(reference, prior.law.centre(reference), prior.law.exponent(), self.kappa, &mut rng))
                    .collect();
                (laws, "SAE-like laws around the prior (docs/METHODS.md §7)".to_string())
            }
        };
        self.expected_on(&laws, noise, laws_name, request, progress)
    }

    /// The errors of `request.draws` trials with losses of relative `noise`, trial `i` on
    /// `laws[i % laws.len()]`; `laws_name` says where the laws came from.
    ///
    /// # Errors
    /// No laws, planning errors.
    pub fn expected_on(&self, laws: &[JointParams], noise: f64, laws_name: String, request: &Request, mut progress: impl FnMut(usize)) -> Result<Expected> {
        if laws.is_empty() {
            return Err(Error::bad_input("no laws to simulate the design on"));
        }
        let mut trials = Vec::with_capacity(request.draws);
        for draw in 0..request.draws {
            let seed = request.seed.wrapping_add(draw as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            trials.push(self.trial(&laws[draw % laws.len()], noise, seed, request.target_compute, &request.starts)?);
            progress(trials.len());
        }
        Ok(summarise(request, noise, laws_name, &trials))
    }

    /// Where the prior's family is anchored: the smallest budget (the grid's smallest run's
    /// compute without budgets).
    fn smallest_budget(&self) -> f64 {
        match self.spec.budgets_smallest_first().first() {
            Some(smallest) => smallest.get_ref().0,
            None => Plan::new(&self.spec).ok().and_then(|p| p.runs.iter().map(|r| r.flops).reduce(f64::min)).unwrap_or(1.0),
        }
    }
}

/// The spread of the trials' errors.
fn summarise(request: &Request, noise: f64, laws: String, trials: &[Trial]) -> Expected {
    let errors: Vec<[f64; 2]> = trials.iter().filter_map(Trial::errors).collect();
    let sorted = |values: Vec<f64>| {
        let mut values = values;
        values.sort_by(f64::total_cmp);
        values
    };
    let ratio = sorted(errors.iter().map(|e| e[0]).collect());
    let loss = sorted(errors.iter().map(|e| e[1]).collect());
    let ln_abs = sorted(ratio.iter().map(|r| r.ln().abs()).collect());
    let loss_abs = sorted(loss.iter().map(|e| e.abs()).collect());
    let band = |v: &[f64]| [percentile(v, 2.5), percentile(v, 97.5)];
    Expected {
        target_compute: request.target_compute,
        draws: trials.len(),
        failed: trials.len() - errors.len(),
        runs: trials.first().map_or(0, |t| t.runs),
        flops: trials.iter().map(|t| t.flops).sum::<f64>() / trials.len().max(1) as f64,
        noise,
        laws,
        features_ratio: band(&ratio),
        features_median_error: percentile(&ln_abs, 50.0),
        loss_error: band(&loss),
        loss_median_error: percentile(&loss_abs, 50.0),
    }
}

/// A run's id as a number, to seed its noise with.
fn run_key(run: &PlannedRun) -> u64 {
    // Ids are 12 lowercase hex digits of a SHA-256.
    u64::from_str_radix(&run.id.to_string(), 16).unwrap_or(0)
}
