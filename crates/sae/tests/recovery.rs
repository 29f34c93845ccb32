//! The point of an SAE on superposition data: its decoder finds the ground-truth directions.
//!
//! Trains small ReLU, BatchTopK and JumpReLU SAEs on the synthetic source through the public `train`
//! entry point and compares the exported decoder rows with the source's directions.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use burn::backend::Flex;
use burn::tensor::Tensor;
use saescale_data::{SyntheticSource, Split};
use saescale_sae::tensors::TensorFile;
use saescale_sae::{train, Outcome, Silent};
use saescale_spec::{FinalMetrics, Precision, Provenance, RunSpec};

const D_IN: usize = 32;
const TRUE_FEATURES: usize = 64;
/// The most frequent ground-truth features, which any adequate SAE should find.
const FREQUENT: usize = 16;

/// A ReLU run with `features` latents.
fn relu_sae(features: usize) -> String {
    format!("architecture = \"relu\"\nfeatures = {features}")
}

/// A run file whose `[sae]` section is `sae`; ReLU runs set their lr, other architectures
/// keep their default.
fn run_file(sae: &str) -> String {
    let lr = if sae.contains("\"relu\"") { "lr = 2e-3" } else { "" };
    format!(
        r#"seed = 1
[data]
source = "synthetic"
d_in = {D_IN}
n_features = {TRUE_FEATURES}
mean_active = 4.0
seed = 7
[sae]
{sae}
[train]
steps = 3000
batch_size = 256
{lr}
[eval]
rows = 4096
[log]
every_steps = 500
checkpoint_every_steps = 100000
"#
    )
}

/// Trains the SAE of `[sae]` section `sae` and returns, for each of the `FREQUENT` most
/// frequent true directions, the best absolute cosine with any exported decoder row, and the
/// run's final metrics.
fn best_cosines(sae: &str) -> (Vec<f32>, FinalMetrics) {
    let spec = RunSpec::from_toml_str(&run_file(sae)).unwrap().resolve().unwrap();
    let features = spec.features();
    let out = tempfile::tempdir().unwrap();
    let device = Default::default();
    let outcome = train::<Flex>(&spec, out.path(), &device, &provenance(), &mut Silent, &AtomicBool::new(false)).unwrap();
    let Outcome::Finished(metrics) = outcome else { panic!("{outcome:?}") };

    let weights = out.path().join("checkpoint/sae/sae_weights.safetensors");
    let decoder = read_decoder(&weights, features);
    let saescale_data::DataConfig::Synthetic(config) = spec.data else {
        unreachable!("the run file above uses synthetic data")
    };
    let source = SyntheticSource::new(&config, Split::Train).unwrap();
    let truth = source.directions();
    let cosines = (0..FREQUENT)
        .map(|i| {
            let t = &truth[i * D_IN..(i + 1) * D_IN];
            decoder.chunks(D_IN).map(|row| cosine(t, row).abs()).fold(0.0, f32::max)
        })
        .collect();
    (cosines, metrics)
}

fn read_decoder(path: &Path, features: usize) -> Vec<f32> {
    let file = TensorFile::read(path).unwrap();
    let w_dec: Tensor<Flex, 2> = file.float(path, "W_dec", [features, D_IN], &Default::default()).unwrap();
    w_dec.into_data().into_vec().unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b)).max(f32::MIN_POSITIVE)
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len() as f32
}

#[test]
fn an_adequate_sae_recovers_the_frequent_true_features() {
    let (cosines, _) = best_cosines(&relu_sae(2 * TRUE_FEATURES));
    eprintln!("F = {}: best cosines {cosines:.3?}", 2 * TRUE_FEATURES);
    assert!(mean(&cosines) > 0.9, "mean best cosine {} ≤ 0.9: {cosines:.3?}", mean(&cosines));
}

#[test]
fn an_sae_with_too_few_latents_cannot_recover_them() {
    let (cosines, _) = best_cosines(&relu_sae(4));
    eprintln!("F = 4: best cosines {cosines:.3?}");
    assert!(mean(&cosines) < 0.7, "mean best cosine {} with only 4 latents: {cosines:.3?}", mean(&cosines));
}

#[test]
fn batch_topk_recovers_them_and_its_threshold_keeps_about_k_per_row() {
    // k = 4 per row on average, the data's mean number of active true features.
    let sae = format!("architecture = \"batchtopk\"\nk = 4\nfeatures = {}", 2 * TRUE_FEATURES);
    let (cosines, metrics) = best_cosines(&sae);
    let l0 = metrics.l0.unwrap();
    eprintln!("batchtopk F = {}: best cosines {cosines:.3?}, held-out L0 {l0:.3} by the threshold", 2 * TRUE_FEATURES);
    assert!(mean(&cosines) > 0.9, "mean best cosine {} ≤ 0.9: {cosines:.3?}", mean(&cosines));
    // Held-out latents come from the learned threshold (the exported JumpReLU form), not from
    // a batch's top-k: it keeps about k per row only if it was learned right.
    assert!((l0 - 4.0).abs() < 0.5, "held-out L0 {l0} by the threshold, k = 4 (measured 4.01)");
}

#[test]
fn jump_relu_recovers_them_and_its_penalty_keeps_a_few_per_row() {
    // λ = 0.01 of FVU per active latent: a true feature (about 1/4 of a row's variance here)
    // is worth its latent, a spurious one is not, so L0 settles near the data's 4 per row.
    // (The default 1e-3, meant for the many small features of model activations, also pays
    // for pieces of interference here: L0 17, FVU 0.002, cosines ~0.6.)
    let sae = format!("architecture = \"jumprelu\"\nl0_coefficient = 0.01\nfeatures = {}", 2 * TRUE_FEATURES);
    let (cosines, metrics) = best_cosines(&sae);
    let (l0, fvu) = (metrics.l0.unwrap(), metrics.fvu.unwrap());
    eprintln!("jumprelu F = {}: best cosines {cosines:.3?}, held-out L0 {l0:.3}, FVU {fvu:.4}", 2 * TRUE_FEATURES);
    assert!(mean(&cosines) > 0.9, "mean best cosine {} ≤ 0.9: {cosines:.3?}", mean(&cosines));
    assert!(l0 > 2.5 && l0 < 6.0, "held-out L0 {l0}: the penalty's equilibrium should be near the data's 4 per row (measured 3.78)");
}

fn provenance() -> Provenance {
    Provenance::of_this_build("cpu".into(), Precision::F32, 1, "test".into())
}
