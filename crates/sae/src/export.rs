//! Export of the final weights as a SAELens v6 directory (`cfg.json` +
//! `sae_weights.safetensors`), loadable with `sae_lens.SAE.load_from_disk(dir)`.
//!
//! What SAELens's loader requires (sae-lens 6.54, the version tests/python checks against):
//! - tensors `W_enc [d_in, d_sae]`, `b_enc [d_sae]`, `W_dec [d_sae, d_in]`, `b_dec [d_in]`, f32;
//! - `cfg.json` with `architecture` (`standard` for relu, `topk`), `d_in`, `d_sae`,
//!   `dtype`, `metadata.sae_lens_version` (a PEP 440 version), and an integer `k` for topk;
//! - the normalisation constant folded into the weights, `normalize_activations = "none"`:
//!   the SAE was trained on `s·x`, so `W_enc ← s·W_enc`, `W_dec ← W_dec / s`, `b_dec ← b_dec / s`
//!   computes the same latents from `x` and reconstructs `x` itself;
//! - `apply_b_dec_to_input` as the architecture trained: false for Anthropic's relu recipe
//!   and for JumpReLU (neither subtracts b_dec), true for TopK (Gao et al.'s b_pre);
//! - a TopK SAE trained with a free decoder ranked by its row norms
//!   ([`Sae::rank_by_decoder_norm`]) has the norms `n_i` folded in, as SAELens folds its own
//!   (`W_enc,i ← n_i·W_enc,i`, `b_enc,i ← n_i·b_enc,i`, `W_dec,i ← W_dec,i / n_i`): plain top-k
//!   over the folded pre-activations then picks the same latents, with values `n_i·pre_i`,
//!   and reconstructs the same `x̂`; `rescale_acts_by_decoder_norm` is then false;
//! - a BatchTopK SAE is written in its inference form ([`crate::Trainer::inference_sae`]), as
//!   SAELens saves its own: `architecture = "jumprelu"` with the tensor `threshold [d_sae]`
//!   (raw, every entry θ). θ is on the scale of the ranking `n_i·pre_i`, which is the folded
//!   pre-activation, so it is written unchanged; the normalisation scale does not move it
//!   either, as the folded `W_enc` gives raw inputs the pre-activations of scaled ones;
//! - a JumpReLU SAE as `architecture = "jumprelu"` with its learned per-latent `threshold`,
//!   raw (not SAELens's training-time `log_threshold`), on the scale of `pre` for the same
//!   reason; its decoder rows are unit-norm and it does not subtract b_dec, so nothing else
//!   changes.

use std::path::Path;

use burn::tensor::backend::Backend;
use saescale_spec::atomic::write_json_atomic;
use serde_json::json;

use crate::model::{Activation, Sae};
use crate::tensors::TensorFile;
use crate::{Error, Result};

/// File names SAELens looks for.
pub const CFG_FILE: &str = "cfg.json";
/// File names SAELens looks for.
pub const WEIGHTS_FILE: &str = "sae_weights.safetensors";

/// The SAELens version whose format is written; it selects SAELens's v6 loading path.
const SAE_LENS_FORMAT_VERSION: &str = "6.0.0";

/// Writes `sae`, trained on inputs scaled by `scale`, as a SAELens v6 directory at `dir`.
///
/// # Errors
/// [`Error::Io`] when the directory or files cannot be written.
/// [`Error::Unsupported`] for a BatchTopK SAE in its training form (export its inference form).
pub fn export_saelens<B: Backend>(sae: &Sae<B>, scale: f64, dir: &Path, run_name: Option<&str>) -> Result<()> {
    if let Activation::BatchTopK { .. } = sae.activation {
        return Err(Error::Unsupported("a BatchTopK SAE is exported in its inference form (JumpReLU with its threshold)".into()));
    }
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let (mut w_enc, mut b_enc, mut w_dec) = (sae.w_enc.clone(), sae.b_enc.clone(), sae.w_dec.clone());
    if sae.rank_by_decoder_norm {
        // A row of norm 0 decodes nothing; the floor keeps its folded weights finite (0).
        let norms = sae.decoder_norms().clamp_min(f32::MIN_POSITIVE);
        w_enc = w_enc * norms.clone().unsqueeze();
        b_enc = b_enc * norms.clone();
        w_dec = w_dec / norms.unsqueeze_dim(1);
    }
    let mut weights = TensorFile::default();
    weights.insert_float("W_enc", w_enc.mul_scalar(scale));
    weights.insert_float("b_enc", b_enc);
    weights.insert_float("W_dec", w_dec.div_scalar(scale));
    weights.insert_float("b_dec", sae.b_dec.clone().div_scalar(scale));
    if let Activation::JumpRelu = sae.activation {
        let threshold = sae.threshold.clone().unwrap_or_else(|| sae.b_enc.zeros_like());
        weights.insert_float("threshold", threshold);
    }
    weights.write(&dir.join(WEIGHTS_FILE))?;

    let mut cfg = json!({
        "architecture": "standard",
        "d_in": sae.d_in(),
        "d_sae": sae.features(),
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": sae.apply_b_dec_to_input,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": SAE_LENS_FORMAT_VERSION,
            "saescale_version": env!("CARGO_PKG_VERSION"),
            "saescale_normalization_scale": scale,
        },
    });
    match sae.activation {
        Activation::TopK { k } => {
            cfg["architecture"] = json!("topk");
            cfg["k"] = json!(k);
            // The decoder rows are unit norm (kept so, or folded above): nothing to rescale by.
            cfg["rescale_acts_by_decoder_norm"] = json!(false);
        }
        Activation::JumpRelu => cfg["architecture"] = json!("jumprelu"),
        Activation::Relu | Activation::BatchTopK { .. } => {}
    }
    if let Some(name) = run_name {
        cfg["metadata"]["saescale_run"] = json!(name);
    }
    let cfg_path = dir.join(CFG_FILE);
    write_json_atomic(&cfg_path, &cfg).map_err(Error::io(&cfg_path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::init_sae;
    use crate::test_util::{device, tensor2, to_vec, Cpu};
    use burn::tensor::{Tensor, TensorData};

    #[test]
    fn export_folds_the_scale_so_raw_inputs_give_the_same_latents() {
        let dir = tempfile::tempdir().unwrap();
        let mut sae = init_sae::<Cpu>(4, 8, Activation::Relu, 0.1, 5, &device());
        sae.b_dec = Tensor::from_data(TensorData::new(vec![0.1f32, -0.2, 0.3, 0.0], [4]), &device());
        let scale = 2.5;
        export_saelens(&sae, scale, dir.path(), Some("r")).unwrap();

        let exported = read_back(dir.path(), &sae);
        let x = tensor2(&[[1.0, -1.0, 0.5, 2.0], [0.0, 3.0, -2.0, 1.0]]);
        let trained = sae.forward(x.clone().mul_scalar(scale));
        let raw = exported.forward(x);
        for (a, b) in to_vec(trained.latents).iter().zip(to_vec(raw.latents)) {
            assert!((a - b).abs() < 1e-5);
        }
        for (a, b) in to_vec(trained.reconstruction.div_scalar(scale)).iter().zip(to_vec(raw.reconstruction)) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    /// The exported weights read back as a plain SAE (unit-norm rows, no ranking by norms).
    fn read_back(dir: &Path, like: &Sae<Cpu>) -> Sae<Cpu> {
        let file = TensorFile::read(&dir.join(WEIGHTS_FILE)).unwrap();
        let (d, f) = (like.d_in(), like.features());
        Sae::<Cpu> {
            w_enc: file.float(dir, "W_enc", [d, f], &device()).unwrap(),
            b_enc: file.float(dir, "b_enc", [f], &device()).unwrap(),
            w_dec: file.float(dir, "W_dec", [f, d], &device()).unwrap(),
            b_dec: file.float(dir, "b_dec", [d], &device()).unwrap(),
            rank_by_decoder_norm: false,
            threshold: like.threshold.as_ref().map(|_| file.float(dir, "threshold", [f], &device()).unwrap()),
            ..like.clone()
        }
    }

    #[test]
    fn export_folds_the_decoder_norms_of_a_free_topk_decoder() {
        let dir = tempfile::tempdir().unwrap();
        let mut sae = init_sae::<Cpu>(4, 8, Activation::TopK { k: 3 }, 1.0, 5, &device());
        let norms = Tensor::<Cpu, 1>::from_data(TensorData::new(vec![0.1f32, 2.0, 0.5, 1.5, 0.3, 3.0, 0.7, 1.1], [8]), &device());
        sae.w_dec = sae.w_dec * norms.clone().unsqueeze_dim(1);
        sae.b_enc = Tensor::from_data(TensorData::new(vec![0.1f32, -0.1, 0.2, 0.0, 0.05, -0.2, 0.3, 0.1], [8]), &device());
        sae.rank_by_decoder_norm = true;
        export_saelens(&sae, 2.0, dir.path(), None).unwrap();
        let exported = read_back(dir.path(), &sae);
        for norm in to_vec(exported.decoder_norms()) {
            assert!((norm - 0.5).abs() < 1e-5, "unit rows divided by the scale 2, got {norm}");
        }
        let x = tensor2(&[[1.0, -1.0, 0.5, 2.0], [0.0, 3.0, -2.0, 1.0], [-1.0, 0.5, 0.5, -0.5]]);
        let trained = sae.forward(x.clone().mul_scalar(2.0));
        let raw = exported.forward(x);
        let expected_latents = to_vec(trained.latents * norms.unsqueeze());
        for (a, b) in expected_latents.iter().zip(to_vec(raw.latents)) {
            assert!((a - b).abs() < 1e-5, "latent {a} vs exported {b}");
        }
        for (a, b) in to_vec(trained.reconstruction.div_scalar(2.0)).iter().zip(to_vec(raw.reconstruction)) {
            assert!((a - b).abs() < 1e-5, "reconstruction {a} vs exported {b}");
        }
    }

    #[test]
    fn a_batch_topk_sae_exports_as_jump_relu_with_its_threshold_and_folded_norms() {
        let dir = tempfile::tempdir().unwrap();
        let mut sae = init_sae::<Cpu>(4, 8, Activation::BatchTopK { k: 2 }, 1.0, 7, &device());
        assert!(export_saelens(&sae, 1.0, dir.path(), None).is_err(), "the training form is refused");
        let norms = Tensor::<Cpu, 1>::from_data(TensorData::new(vec![0.2f32, 1.0, 2.5, 0.5, 1.5, 0.8, 3.0, 1.2], [8]), &device());
        sae.w_dec = sae.w_dec * norms.clone().unsqueeze_dim(1);
        sae.b_enc = Tensor::from_data(TensorData::new(vec![0.1f32, -0.1, 0.2, 0.0, 0.05, -0.2, 0.3, 0.1], [8]), &device());
        sae.rank_by_decoder_norm = true;
        sae.activation = Activation::JumpRelu;
        sae.threshold = Some(Tensor::full([8], 0.3, &device()));
        export_saelens(&sae, 2.0, dir.path(), None).unwrap();
        let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join(CFG_FILE)).unwrap()).unwrap();
        assert_eq!((cfg["architecture"].as_str(), cfg.get("k")), (Some("jumprelu"), None));
        let exported = read_back(dir.path(), &sae);
        assert_eq!(to_vec(exported.threshold.clone().unwrap()), vec![0.3; 8]);
        let x = tensor2(&[[1.0, -1.0, 0.5, 2.0], [0.0, 3.0, -2.0, 1.0], [-1.0, 0.5, 0.5, -0.5]]);
        let trained = sae.forward(x.clone().mul_scalar(2.0));
        let raw = exported.forward(x);
        let (kept, exported_latents) = (to_vec(trained.latents.clone()), to_vec(raw.latents));
        assert!(kept.iter().any(|&v| v > 0.0) && kept.contains(&0.0), "the threshold keeps some: {kept:?}");
        for (a, b) in to_vec(trained.latents * norms.unsqueeze()).iter().zip(exported_latents) {
            assert!((a - b).abs() < 1e-5, "latent {a} vs exported {b}");
        }
        for (a, b) in to_vec(trained.reconstruction.div_scalar(2.0)).iter().zip(to_vec(raw.reconstruction)) {
            assert!((a - b).abs() < 1e-5, "reconstruction {a} vs exported {b}");
        }
    }

    #[test]
    fn cfg_has_what_saelens_requires() {
        let dir = tempfile::tempdir().unwrap();
        let sae = init_sae::<Cpu>(4, 8, Activation::TopK { k: 3 }, 1.0, 5, &device());
        export_saelens(&sae, 1.0, dir.path(), None).unwrap();
        let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join(CFG_FILE)).unwrap()).unwrap();
        assert_eq!(cfg["architecture"], "topk");
        assert_eq!(cfg["d_in"], 4);
        assert_eq!(cfg["d_sae"], 8);
        assert_eq!(cfg["dtype"], "float32");
        assert!(cfg["k"].is_u64(), "k must be a JSON integer");
        assert_eq!(cfg["apply_b_dec_to_input"], true);
        assert_eq!(cfg["normalize_activations"], "none");
        assert_eq!(cfg["metadata"]["sae_lens_version"], "6.0.0");
        let names: Vec<String> = TensorFile::read(&dir.path().join(WEIGHTS_FILE)).unwrap().tensors.into_keys().collect();
        assert_eq!(names, ["W_dec", "W_enc", "b_dec", "b_enc"]);
    }
}
