//! Scaling-law fitting for saescale: Chinchilla-style joint laws, IsoFLOP profiles,
//! compute-optimal allocation, learning-rate laws and bootstrap intervals.
//!
//! In saescale's flow (spec → plan → runs → store → table → **fit** → report) this crate
//! knows only tables: positive `(X, Y, loss)` points, with compute `C = κ·X·Y` for a κ the
//! caller supplies (12·d·batch when Y counts SAE steps, 6 when Y counts LM tokens; docs/METHODS.md
//! §1.6). It does not know what an SAE is and never reads files; `saescale-report` reads
//! tables and the CLI maps their columns.
//!
//! Principal items:
//! - [`Points`]: the data, validated and kept in log space, with per-point weights.
//! - [`fit()`] with a [`FitConfig`]: methods [`Method::Huber`] (summed Huber on log residuals,
//!   4,500-start L-BFGS grid), [`Method::Mle`] (Epoch AI's Huber likelihood with free scale),
//!   [`Method::Lsq`] and [`Method::Isoflop`]; returns a [`FitResult`] (serde → fit.json,
//!   `Display` → a readable table), bootstrapped when [`FitConfig::bootstrap`] is set. Every
//!   fit records its per-budget IsoFLOP profile in [`FitResult::isoflop`]
//!   ([`isoflop::IsoFlopFit`]: each budget's points, minimum and sampled curve), so that a
//!   figure draws what the fit computed instead of recomputing it.
//! - [`Frontier`]: the compute-optimal `X*(C)`, `Y*(C)`, `L*(C)` (M2), and [`recommend()`].
//! - Building blocks: [`law`] (laws and exact gradients), [`objective`], [`solver`] (argmin
//!   L-BFGS, multi-start), [`isoflop`], [`lr`] (lr*(C)), [`bootstrap`].
//! - [`sparsity`]: Gao et al.'s joint law L(n, k) in latents and k (M6), with bootstrap spreads.
//!
//! Design decisions:
//! - Objectives are summed, never averaged, and the optimiser works on a fixed rescaling that
//!   makes a good fit's objective O(1), so tolerances cannot stop it early on Chinchilla's tiny
//!   objective (the failure Besiroglu et al. 2024 found in Hoffmann et al.'s fit).
//! - Bootstrap replicates are weighted copies of the points (same objective as resampled
//!   rows, fewer terms), seeded per replicate so that results do not depend on threads, and
//!   every replicate must converge. Every derived quantity is computed per replicate.
//! - Parameters are stored at full precision; rounding before deriving G, a, b is a known trap.
//!
//! ```
//! use saescale_fit::{fit, law::JointParams, FitConfig, Method, Points, Starts};
//! // Noise-free points from a known law, fitted from one start.
//! let truth = JointParams { E: 1.7, A: 400.0, B: 2000.0, alpha: 0.34, beta: 0.37 };
//! let (mut x, mut y) = (Vec::new(), Vec::new());
//! for i in 0..6 {
//!     for j in 0..6 {
//!         x.push(1e7 * 4f64.powi(i));
//!         y.push(1e9 * 4f64.powi(j));
//!     }
//! }
//! let loss: Vec<f64> = x.iter().zip(&y).map(|(&x, &y)| truth.predict(x, y)).collect();
//! let points = Points::new(&x, &y, &loss)?;
//! let mut config = FitConfig::new(Method::Huber, 6.0);
//! config.starts = Starts::Given(vec![JointParams::hoffmann_tex().to_log()]);
//! let result = fit(&points, &config)?;
//! let p = result.params.unwrap();
//! assert!((p.alpha - 0.34).abs() < 1e-6 && (p.beta - 0.37).abs() < 1e-6);
//! Ok::<(), saescale_fit::Error>(())
//! ```

pub mod allocation;
pub mod bootstrap;
mod error;
mod fit;
pub mod grid;
pub mod interp;
pub mod isoflop;
pub mod law;
pub mod lr;
pub mod objective;
mod points;
pub mod recommend;
pub mod result;
pub mod solver;
pub mod sparsity;
pub mod stats;

pub use allocation::Frontier;
pub use bootstrap::{BootstrapConfig, BootstrapStart};
pub use error::{Error, Result};
pub use fit::{fit, fit_saturating, likelihood_at, FitConfig, Method, Starts};
pub use interp::Interpolation;
pub use isoflop::{BudgetOptimum, IsoFlopConfig, IsoFlopFit, SkipReason, SkippedBudget};
pub use points::Points;
pub use recommend::{recommend, Estimate, Recommendation, Target};
pub use result::{ExcludedRow, FitResult, LrReport, SaeSetting, Source};
