//! The point of an SAE on superposition data: its decoder finds the ground-truth directions.
//!
//! Trains small ReLU SAEs on the synthetic source through the public `train` entry point and
//! compares the exported decoder rows with the source's directions.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use burn::backend::Flex;
use burn::tensor::Tensor;
use saescale_data::{SyntheticSource, Split};
use saescale_sae::tensors::TensorFile;
use saescale_sae::{train, Outcome, Silent};
use saescale_spec::{Precision, Provenance, RunSpec};

const D_IN: usize = 32;
const TRUE_FEATURES: usize = 64;
/// The most frequent ground-truth features, which any adequate SAE should find.
const FREQUENT: usize = 16;

fn run_file(features: usize) -> String {
    format!(
        r#"seed = 1
[data]
source = "synthetic"
d_in = {D_IN}
n_features = {TRUE_FEATURES}
mean_active = 4.0
seed = 7
[sae]
architecture = "relu"
features = {features}
[train]
steps = 3000
batch_size = 256
lr = 2e-3
[eval]
rows = 4096
[log]
every_steps = 500
checkpoint_every_steps = 100000
"#
    )
}

/// Trains an SAE with `features` latents and returns, for each of the `FREQUENT` most frequent
/// true directions, the best absolute cosine with any decoder row.
fn best_cosines(features: usize) -> Vec<f32> {
    let spec = RunSpec::from_toml_str(&run_file(features)).unwrap().resolve().unwrap();
    let out = tempfile::tempdir().unwrap();
    let device = Default::default();
    let outcome = train::<Flex>(&spec, out.path(), &device, &provenance(), &mut Silent, &AtomicBool::new(false)).unwrap();
    assert!(matches!(outcome, Outcome::Finished(_)), "{outcome:?}");

    let weights = out.path().join("checkpoint/sae/sae_weights.safetensors");
    let decoder = read_decoder(&weights, features);
    let saescale_data::DataConfig::Synthetic(config) = spec.data else {
        unreachable!("the run file above uses synthetic data")
    };
    let source = SyntheticSource::new(&config, Split::Train).unwrap();
    let truth = source.directions();
    (0..FREQUENT)
        .map(|i| {
            let t = &truth[i * D_IN..(i + 1) * D_IN];
            decoder.chunks(D_IN).map(|row| cosine(t, row).abs()).fold(0.0, f32::max)
        })
        .collect()
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
    let cosines = best_cosines(2 * TRUE_FEATURES);
    eprintln!("F = {}: best cosines {cosines:.3?}", 2 * TRUE_FEATURES);
    assert!(mean(&cosines) > 0.9, "mean best cosine {} ≤ 0.9: {cosines:.3?}", mean(&cosines));
}

#[test]
fn an_sae_with_too_few_latents_cannot_recover_them() {
    let cosines = best_cosines(4);
    eprintln!("F = 4: best cosines {cosines:.3?}");
    assert!(mean(&cosines) < 0.7, "mean best cosine {} with only 4 latents: {cosines:.3?}", mean(&cosines));
}

fn provenance() -> Provenance {
    Provenance::of_this_build("cpu".into(), Precision::F32, 1, "test".into())
}
