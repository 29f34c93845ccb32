"""Train one TopK SAE with saescale and one with SAELens on the same rows; score both alike.

The comparison behind docs/benchmarks/topk-vs-saelens.md. It

1. draws synthetic superposition data with known directions (the distribution of saescale's
   `source = "synthetic"`: power-law firing probabilities, exponential magnitudes, a little
   noise), scaled so that E‖x‖ = √d, and writes it as a saescale shard directory: training
   rows, then held-out rows;
2. trains saescale on that directory (`saescale train`, once per `--variant`), and SAELens's
   `TopKTrainingSAE` with its own `SAETrainer` on the training rows, with the same
   hyperparameters (lr with a linear decay over the last 20% of steps, Adam β and ε, batch,
   steps, k, threads);
3. loads every final SAE through `sae_lens.SAE.load_from_disk` and scores it on the held-out
   rows with one function: FVU, L0, the dead fraction (never fires), the near-dead fraction
   (fires on fewer than 1e-4 of rows) and the mean over true directions of the best cosine
   with a decoder row.

saescale reads its shards in its own shuffled order, SAELens in file order: both see the same
rows, not in the same order (the rows are i.i.d., so the order only changes the noise). SAELens
always clips the gradient norm at 1 (hard-coded in its trainer); its Adam ε is PyTorch's 1e-8.

    python tools/saelens_side_by_side.py --saescale target/release/saescale --out /tmp/sbs \
        --variant default: --variant gao-window:'dead_window_tokens = 10000000'

A variant is NAME:TOML, `;`-separated `key = value` lines added to the run file's [train]
table, or to [sae] when the key is written `sae.key` (e.g. `free:sae.topk_decoder = "free"`). Needs torch and sae-lens (the test venv of scripts/test.sh has both).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# SAELens trains under a tqdm bar that rewrites one line thousands of times; not in a log.
os.environ.setdefault("TQDM_DISABLE", "1")

NEAR_DEAD_FREQUENCY = 1e-4


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--saescale", required=True, help="the saescale binary")
    p.add_argument("--out", type=Path, required=True, help="directory for data, runs and results")
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--true-features", type=int, default=1024, help="ground-truth directions")
    p.add_argument("--mean-active", type=float, default=8.0, help="expected true features per row")
    p.add_argument("--heldout-rows", type=int, default=262_144)
    p.add_argument("--seeds", default="0", help="comma-separated SAE seeds (the data is drawn once)")
    p.add_argument("--variant", action="append", default=[], help="NAME:TOML for [train] (sae.KEY for [sae]), repeatable")
    p.add_argument("--skip-saelens", action="store_true")
    return p.parse_args()


def draw_rows(rng, rows, directions, probabilities, noise_std):
    """x = Σ_i m_i g_i + ε with feature i firing w.p. p_i and m_i ~ Exp(1)."""
    fires = rng.random((rows, len(probabilities)), dtype=np.float32) < probabilities
    magnitudes = rng.exponential(1.0, size=fires.shape).astype(np.float32) * fires
    noise = rng.standard_normal((rows, directions.shape[1]), dtype=np.float32) * noise_std
    return magnitudes @ directions + noise


def write_data(args, out):
    """The shard directory (training shard, held-out shard) and the true directions."""
    manifest = out / "manifest.json"
    directions_file = out / "directions.npy"
    if manifest.exists() and directions_file.exists():
        return np.load(directions_file)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12345)
    directions = rng.standard_normal((args.true_features, args.d)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, args.true_features + 1)
    probabilities = np.minimum(weights * args.mean_active / weights.sum(), 1.0).astype(np.float32)
    sample = draw_rows(rng, 65_536, directions, probabilities, 0.01)
    scale = np.sqrt(args.d) / np.linalg.norm(sample, axis=1).mean()
    shards = []
    for name, rows in [("train.npy", args.steps * args.batch), ("heldout.npy", args.heldout_rows)]:
        array = np.lib.format.open_memmap(out / name, mode="w+", dtype=np.float32, shape=(rows, args.d))
        for start in range(0, rows, 65_536):
            stop = min(rows, start + 65_536)
            array[start:stop] = draw_rows(rng, stop - start, directions, probabilities, 0.01) * scale
        array.flush()
        shards.append({"file": name, "tokens": rows})
    np.save(directions_file, directions)
    manifest.write_text(json.dumps({
        "version": 1, "d": args.d, "dtype": "f32", "model": "synthetic (tools/saelens_side_by_side.py)",
        "heldout_shards": 1, "shards": shards,
    }))
    return directions


RUN_FILE = """seed = {seed}
[data]
source = "shards"
path = "{data}"
d_in = {d}
[sae]
architecture = "topk"
features = {features}
k = {k}
{sae_extra}
[train]
steps = {steps}
batch_size = {batch}
lr = {lr}
{train_extra}
[eval]
rows = 65536
[log]
every_steps = 500
checkpoint_every_steps = 100000
"""


def train_saescale(args, data, name, extra, seed):
    """Trains one saescale variant; returns (SAE directory, tokens/s)."""
    run_dir = args.out / f"saescale-{name}-seed{seed}"
    run_file = args.out / f"saescale-{name}-seed{seed}.toml"
    sections = {"sae": [], "train": []}
    for line in filter(None, (line.strip() for line in extra.split(";"))):
        section, key = ("sae", line[len("sae."):]) if line.startswith("sae.") else ("train", line)
        sections[section].append(key)
    run_file.write_text(RUN_FILE.format(
        seed=seed, data=data, d=args.d, features=args.features, k=args.k, steps=args.steps,
        batch=args.batch, lr=args.lr, sae_extra="\n".join(sections["sae"]), train_extra="\n".join(sections["train"]),
    ))
    subprocess.run([args.saescale, "train", "--quiet", "--threads", str(args.threads), "--out", str(run_dir), str(run_file)], check=True)
    final = json.loads((run_dir / "final.json").read_text())
    return run_dir / "checkpoint" / "sae", final.get("tokens_per_s")


def train_saelens(args, data, seed):
    """Trains SAELens's TopK SAE with its own trainer; returns (SAE directory, tokens/s)."""
    import torch
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.set_num_threads(args.threads)
    torch.manual_seed(seed)
    rows = np.load(data / "train.npy", mmap_mode="r")

    def batches():
        for step in range(args.steps):
            yield torch.from_numpy(np.array(rows[step * args.batch:(step + 1) * args.batch]))

    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=args.d, d_sae=args.features, k=args.k, dtype="float32", device="cpu"))
    decay = args.steps // 5
    config = SAETrainerConfig(
        total_training_samples=args.steps * args.batch, train_batch_size_samples=args.batch, lr=args.lr,
        lr_decay_steps=decay, lr_end=0.0, device="cpu", logger=LoggingConfig(log_to_wandb=False),
    )
    trainer = SAETrainer(config, sae, batches())
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started
    out = args.out / f"saelens-seed{seed}"
    sae.save_inference_model(out)
    return out, args.steps * args.batch / seconds


def score(sae_dir, heldout, directions):
    """Held-out metrics of the SAE in `sae_dir`, loaded by SAELens."""
    import torch
    from sae_lens import SAE

    sae = SAE.load_from_disk(str(sae_dir), device="cpu")
    firing = np.zeros(sae.cfg.d_sae)
    squared_error, l0 = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(heldout), 8192):
            x = torch.from_numpy(np.ascontiguousarray(heldout[start:start + 8192]))
            codes = sae.encode(x)
            squared_error += float((sae.decode(codes) - x).pow(2).sum())
            active = codes > 0
            firing += active.sum(0).numpy()
            l0 += float(active.sum())
    rows = len(heldout)
    variance = float(((heldout - heldout.mean(0)) ** 2).sum())
    frequency = firing / rows
    w_dec = sae.W_dec.detach().numpy()
    w_dec = w_dec / np.linalg.norm(w_dec, axis=1, keepdims=True)
    best_cosine = (directions @ w_dec.T).max(axis=1)
    return {
        "fvu": squared_error / variance,
        "l0": l0 / rows,
        "dead_fraction": float((firing == 0).mean()),
        "near_dead_fraction": float((frequency < NEAR_DEAD_FREQUENCY).mean()),
        "mean_best_cosine": float(best_cosine.mean()),
    }


def main():
    args = parse_args()
    args.out = args.out.resolve()
    data = args.out / "data"
    directions = write_data(args, data)
    heldout = np.load(data / "heldout.npy")
    variants = [v.split(":", 1) for v in (args.variant or ["default:"])]
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name, extra in variants:
            sae_dir, speed = train_saescale(args, data, name, extra, seed)
            results.append({"trainer": f"saescale {name}", "seed": seed, "tokens_per_s": speed, **score(sae_dir, heldout, directions)})
            print(json.dumps(results[-1]), flush=True)
        if not args.skip_saelens:
            sae_dir, speed = train_saelens(args, data, seed)
            results.append({"trainer": "SAELens", "seed": seed, "tokens_per_s": speed, **score(sae_dir, heldout, directions)})
            print(json.dumps(results[-1]), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"{'trainer':<28} seed {'FVU':>8} {'L0':>6} {'dead':>6} {'near-dead':>9} {'cos':>6} {'tok/s':>8}")
    for r in results:
        speed = f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] else "-"
        print(f"{r['trainer']:<28} {r['seed']:>4} {r['fvu']:>8.4f} {r['l0']:>6.1f} {r['dead_fraction']:>6.3f} "
              f"{r['near_dead_fraction']:>9.3f} {r['mean_best_cosine']:>6.3f} {speed:>8}")


if __name__ == "__main__":
    sys.exit(main())
