#!/usr/bin/env python3
"""Forward-pass throughput of tools/extract_activations.py at each stop point, one model load.

Loads the model once (the packaged SmolLM2-135M-Instruct, or --model DIR), tokenizes --tokens
tokens of the default corpus into one batch of --seq-len sequences, and times the recording
forward pass stopped after layer 5, after the middle layer, after the last layer (all layers
recorded, no LM head) and the full forward with the LM head (what --check runs): best of
--repeats. Prints one JSON object: tokens/s, blocks run and whether the LM head ran, per case,
and the peak RSS. Shard writing is not timed (the tool's own summary times it with the rest).

Usage: OMP_NUM_THREADS=2 bench_extract_activations.py [--threads 2] [--tokens 2048] [--seq-len 256]
"""

import argparse
import importlib.util
import json
import resource
import sys
import time
from pathlib import Path


def load_tool():
    spec = importlib.util.spec_from_file_location("extract_activations", Path(__file__).with_name("extract_activations.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="local Hugging Face model directory (default: the packaged SmolLM2)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    p.add_argument("--tokens", type=int, default=2048, help="tokens per timed forward pass (default: 2048)")
    p.add_argument("--seq-len", type=int, default=256, help="tokens per sequence (default: 256)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per case; the fastest counts (default: 3)")
    args = p.parse_args()
    if min(args.threads, args.tokens, args.seq_len, args.repeats) < 1:
        sys.exit("error: --threads, --tokens, --seq-len and --repeats must be positive integers")

    import torch

    tool = load_tool()
    torch.set_num_threads(args.threads)
    argv = ["--out", "unused", "--tokens", str(args.tokens), "--seq-len", str(args.seq_len)]
    options = tool.parse_args(argv + (["--model", args.model] if args.model else []))
    t0 = time.time()
    model, tokenizer, label = tool.load_model(options, "cpu")
    load_s = time.time() - t0
    layers = model.config.get_text_config().num_hidden_layers
    seqs, _ = tool.sequences(options, tokenizer, tool.corpus(options)[2])
    cases = [
        ("layer 5", [min(5, layers - 1)], False),
        (f"layer {layers // 2}", [layers // 2], False),
        (f"all {layers} layers, no LM head", list(range(layers)), False),
        ("full forward with LM head (--check)", [min(5, layers - 1)], True),
    ]
    results = {}
    with torch.inference_mode():
        for name, recorded, full in cases:
            recorder = tool.Recorder(model, recorded, "resid_post")
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                recorder.forward(model, seqs, full=full)
                times.append(time.perf_counter() - start)
            for handle in recorder.handles:
                handle.remove()
            results[name] = {"tokens_per_s": round(seqs.numel() / min(times), 1), "layers_run": recorder.layers_run,
                             "lm_head_ran": recorder.lm_head_ran}
    print(json.dumps({"model": label, "threads": args.threads, "tokens": seqs.numel(), "load_s": round(load_s, 1),
                      "cases": results,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
