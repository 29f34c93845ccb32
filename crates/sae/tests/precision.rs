//! bf16 matmuls over f32 master weights train to the same place as f32 (issue 9, item 1).
//!
//! Runs on the CPU backend, whose bf16 matmul rounds its inputs like a GPU's tensor cores do;
//! the GPU-against-CPU comparison needs a GPU and is in the benchmark notes.

use std::sync::atomic::AtomicBool;

use burn::backend::Flex;
use saescale_sae::{train, Outcome, Silent};
use saescale_spec::{Precision, Provenance, RunSpec};

/// Held-out FVU and L0 of a finished run.
struct Heldout {
    fvu: f64,
    l0: f64,
}

fn run(precision: &str, architecture: &str) -> (Heldout, Vec<u8>) {
    let text = format!(
        r#"seed = 2
precision = "{precision}"
[data]
source = "synthetic"
d_in = 32
n_features = 256
seed = 4
[sae]
{architecture}
features = 128
[train]
steps = 600
batch_size = 256
lr = 1e-3
[eval]
rows = 4096
[log]
every_steps = 100
checkpoint_every_steps = 100000
"#
    );
    let spec = RunSpec::from_toml_str(&text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let outcome = train::<Flex>(&spec, out.path(), &Default::default(), &provenance(), &mut Silent, &AtomicBool::new(false)).unwrap();
    let Outcome::Finished(metrics) = outcome else { panic!("{outcome:?}") };
    let weights = std::fs::read(out.path().join("checkpoint/sae/sae_weights.safetensors")).unwrap();
    let heldout = Heldout { fvu: metrics.fvu.expect("the trainer writes the FVU"), l0: metrics.l0.expect("the trainer writes L0") };
    (heldout, weights)
}

/// Held-out FVU of bf16 within 0.01 (absolute) of f32's, and the runs really differ.
fn agree(architecture: &str) {
    let (f32_metrics, f32_weights) = run("f32", architecture);
    let (bf16_metrics, bf16_weights) = run("bf16", architecture);
    eprintln!("{architecture}: FVU f32 {:.5}, bf16 {:.5}; L0 {:.2} vs {:.2}", f32_metrics.fvu, bf16_metrics.fvu, f32_metrics.l0, bf16_metrics.l0);
    assert!(f32_weights != bf16_weights, "bf16 trained exactly like f32: the precision setting had no effect");
    // An SAE that learned nothing reconstructs the mean: FVU ≈ 1.
    assert!(f32_metrics.fvu < 0.9, "the f32 run did not train: FVU {}", f32_metrics.fvu);
    assert!((bf16_metrics.fvu - f32_metrics.fvu).abs() < 0.01, "FVU f32 {} vs bf16 {}", f32_metrics.fvu, bf16_metrics.fvu);
    assert!((bf16_metrics.l0 - f32_metrics.l0).abs() < 0.1 * f32_metrics.l0.max(1.0), "L0 f32 {} vs bf16 {}", f32_metrics.l0, bf16_metrics.l0);
}

#[test]
fn relu_in_bf16_matches_f32() {
    agree(r#"architecture = "relu""#);
}

#[test]
fn topk_in_bf16_matches_f32() {
    agree("architecture = \"topk\"\nk = 8");
}

fn provenance() -> Provenance {
    Provenance::of_this_build("cpu".into(), Precision::F32, 1, "test".into())
}
