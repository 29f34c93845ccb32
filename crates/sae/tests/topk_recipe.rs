//! The default TopK recipe trains a small SAE to a stated quality (issue 13, item 1).
//!
//! A regression guard on the recipe as a whole (clip and ε on the per-row squared-error
//! scale, the free decoder ranked by its row norms, AuxK, the lr rule): a change that makes TopK learn worse, or
//! leaves more latents nearly silent, moves one of these numbers past its bound. The bounds
//! sit above what the recipe measured when they were set (in the comments); the
//! side-by-side comparison with SAELens at a larger size is docs/benchmarks/topk-vs-saelens.md.

use std::sync::atomic::AtomicBool;

use burn::backend::Flex;
use saescale_sae::{train, Outcome, Silent};
use saescale_spec::{Precision, Provenance, RunSpec};

/// Held-out FVU the default recipe must reach (measured: 0.1263; 0.1296 with the unit-norm
/// decoder rows of the earlier default).
const MAX_FVU: f64 = 0.15;
/// Fraction of latents firing on fewer than 1e-4 of held-out rows it may leave: 3 of 128
/// (measured: 1 of 128, 0.0078; 3 with unit-norm rows).
const MAX_NEAR_DEAD: f64 = 0.03;

/// Only the shape of the run is given; every hyperparameter is topk's default.
const RUN: &str = r#"seed = 2
[data]
source = "synthetic"
d_in = 32
n_features = 256
seed = 4
[sae]
architecture = "topk"
k = 8
features = 128
[train]
steps = 1500
batch_size = 256
[eval]
rows = 32768
[log]
every_steps = 500
checkpoint_every_steps = 100000
"#;

#[test]
fn the_default_topk_recipe_reaches_its_fvu_and_near_dead_bounds() {
    let spec = RunSpec::from_toml_str(RUN).unwrap();
    let out = tempfile::tempdir().unwrap();
    let provenance = Provenance::of_this_build("cpu".into(), Precision::F32, 1, "test".into());
    let outcome = train::<Flex>(&spec, out.path(), &Default::default(), &provenance, &mut Silent, &AtomicBool::new(false)).unwrap();
    let Outcome::Finished(metrics) = outcome else { panic!("{outcome:?}") };
    let (fvu, near_dead) = (metrics.fvu.unwrap(), metrics.near_dead_fraction.unwrap());
    eprintln!("held-out FVU {fvu:.5}, near-dead fraction {near_dead:.4}");
    // At most k = 8 per row; fewer only where a selected pre-activation is not positive.
    let l0 = metrics.l0.unwrap();
    assert!(l0 <= 8.0 && l0 > 7.9, "L0 {l0} with k = 8");
    assert!(fvu < MAX_FVU, "held-out FVU {fvu} is above the recipe's bound {MAX_FVU}");
    assert!(near_dead < MAX_NEAR_DEAD, "{near_dead} of the latents are near-dead, above the bound {MAX_NEAR_DEAD}");
}
