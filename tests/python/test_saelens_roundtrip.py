"""A saescale export loads in SAELens and computes what saescale's SAE computes.

Trains tiny ReLU, TopK, BatchTopK and JumpReLU SAEs with the `saescale` binary ($SAESCALE_BIN), loads
`checkpoint/sae/` with `sae_lens.SAE.load_from_disk`, and compares SAELens's encode/decode on
raw activations with an independent numpy forward pass over the trainer's own (unfolded)
weights and normalisation constant from `checkpoint/trainer_state.safetensors`. This checks
the scale folding and the b_dec convention of the export (crates/sae/src/export.rs) against
the real library.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

D_IN = 32
FEATURES = 96
K = 6

RUN = """seed = 5
[data]
source = "synthetic"
d_in = {d_in}
n_features = 128
seed = 9
[sae]
{sae}
features = {features}
[train]
steps = 200
batch_size = 128
lr = 1e-3
[eval]
rows = 1024
[log]
every_steps = 50
checkpoint_every_steps = 100
"""


def saescale_bin() -> str:
    path = os.environ.get("SAESCALE_BIN")
    if not path:
        pytest.fail("set SAESCALE_BIN to the saescale binary (scripts/test.sh does)")
    return path


def train(tmp_path: Path, sae_section: str) -> Path:
    run_file = tmp_path / "run.toml"
    run_file.write_text(RUN.format(d_in=D_IN, features=FEATURES, sae=sae_section))
    out = tmp_path / "out"
    subprocess.run(
        [saescale_bin(), "train", "--quiet", "--threads", "1", "--out", str(out), str(run_file)],
        check=True,
    )
    return out


def trainer_state(out: Path):
    """The SAE as trained (on inputs scaled by s) and the constant s; a BatchTopK SAE's
    weights also hold its threshold (a scalar on the ranking's scale), a JumpReLU SAE's its
    per-latent thresholds (on the pre-activations' scale)."""
    path = out / "checkpoint" / "trainer_state.safetensors"
    with safe_open(str(path), framework="numpy") as f:
        header = json.loads(f.metadata()["saescale.trainer_state"])
    tensors = load_file(str(path))
    weights = {name: tensors[f"sae.{name}"].astype(np.float64) for name in ("w_enc", "b_enc", "w_dec", "b_dec")}
    if "batchtopk.threshold" in tensors:
        weights["threshold"] = float(tensors["batchtopk.threshold"][0])
    if "sae.threshold" in tensors:
        weights["thresholds"] = tensors["sae.threshold"].astype(np.float64)
    return weights, header["scale"]


def reference_forward(x, weights, scale, architecture, free_decoder=False):
    """saescale's forward pass, written independently in numpy, on raw activations x.

    A free TopK decoder ranks latents by pre·‖W_dec,i‖ and keeps relu(pre); SAELens's folded
    export reports those latents times ‖W_dec,i‖, so that is what is returned for it.
    BatchTopK after training ("jumprelu") keeps relu(pre) where that ranking exceeds its
    threshold.
    """
    xs = x * scale
    if "thresholds" in weights:
        # JumpReLU as trained (Gemma Scope): no b_dec subtracted, pre kept above its threshold.
        pre = xs @ weights["w_enc"] + weights["b_enc"]
        latents = np.where(pre > weights["thresholds"], pre, 0.0)
        return latents, (latents @ weights["w_dec"] + weights["b_dec"]) / scale
    if architecture in ("topk", "jumprelu"):
        # TopK and BatchTopK follow Gao et al.: b_dec is subtracted from the input.
        pre = (xs - weights["b_dec"]) @ weights["w_enc"] + weights["b_enc"]
        norms = np.linalg.norm(weights["w_dec"], axis=1) if free_decoder else np.ones(pre.shape[1])
        ranked = np.maximum(pre * norms, 0.0)
        if architecture == "topk":
            keep = ranked >= -np.sort(-ranked, axis=1)[:, K - 1 : K]
        else:
            keep = ranked > weights["threshold"]
        latents = np.where(keep, np.maximum(pre, 0.0), 0.0)
        reconstruction = (latents @ weights["w_dec"] + weights["b_dec"]) / scale
        return latents * norms, reconstruction
    pre = xs @ weights["w_enc"] + weights["b_enc"]
    latents = np.maximum(pre, 0.0)
    reconstruction = (latents @ weights["w_dec"] + weights["b_dec"]) / scale
    return latents, reconstruction


@pytest.mark.parametrize(
    "sae_section, architecture, free_decoder",
    [
        ('architecture = "relu"', "standard", False),
        # TopK's default decoder is free, ranked by its row norms.
        (f'architecture = "topk"\nk = {K}', "topk", True),
        (f'architecture = "topk"\nk = {K}\ntopk_decoder = "unit_norm"', "topk", False),
        # BatchTopK is saved as JumpReLU with its learned threshold, as SAELens saves its own.
        (f'architecture = "batchtopk"\nk = {K}', "jumprelu", True),
        # JumpReLU is saved with its per-latent thresholds, raw.
        ('architecture = "jumprelu"', "jumprelu", False),
    ],
)
def test_saelens_loads_the_export_and_agrees(tmp_path, sae_section, architecture, free_decoder):
    from sae_lens import SAE

    out = train(tmp_path, sae_section)
    sae = SAE.load_from_disk(str(out / "checkpoint" / "sae"), device="cpu")
    assert sae.cfg.d_in == D_IN
    assert sae.cfg.d_sae == FEATURES
    assert sae.cfg.architecture() == architecture

    weights, scale = trainer_state(out)
    assert scale > 0 and scale != 1.0, "the test needs a non-trivial normalisation constant"

    # Raw activations at the data's natural scale (E‖x‖ = √d / s).
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, D_IN)) / scale
    if free_decoder:
        norms = np.linalg.norm(weights["w_dec"], axis=1)
        assert norms.std() > 1e-3 * norms.mean(), "a free decoder's rows should have drifted apart in norm"
    if "threshold" in weights:
        assert weights["threshold"] > 0, "the threshold should have moved up from 0"
    if "thresholds" in weights:
        spread = weights["thresholds"].std() / weights["thresholds"].mean()
        assert spread > 1e-3, "the thresholds should have moved apart from their common start"
    expected_latents, expected_reconstruction = reference_forward(x, weights, scale, architecture, free_decoder)

    with torch.no_grad():
        latents = sae.encode(torch.tensor(x, dtype=torch.float32)).double().numpy()
        reconstruction = sae.decode(torch.tensor(latents, dtype=torch.float32)).double().numpy()

    assert (expected_latents > 0).any(), "no latent fired; the comparison would be vacuous"
    latent_scale = np.abs(expected_latents).max()
    np.testing.assert_allclose(latents, expected_latents, atol=1e-5 * latent_scale, rtol=1e-4)
    np.testing.assert_array_equal(latents > 0, expected_latents > 0)
    output_scale = np.abs(expected_reconstruction).max()
    np.testing.assert_allclose(reconstruction, expected_reconstruction, atol=1e-5 * output_scale, rtol=1e-4)
    if architecture == "topk":
        assert ((latents > 0).sum(axis=1) <= K).all()
