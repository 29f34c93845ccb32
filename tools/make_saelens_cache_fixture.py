#!/usr/bin/env python3
"""Write a tiny SAELens activations cache with SAELens itself, offline.

Builds a random 4-layer Llama (hidden size 32) and a byte-level BPE tokenizer trained on a
slice of Python's documentation, saves both to OUT/model/, and runs SAELens's
`CacheActivationsRunner` on them through its `AutoModelForCausalLM` path (HookedProxyLM:
hook names are HF module paths such as `model.layers.1`, recording that module's output,
i.e. resid_post of layer 1) over a local in-memory `datasets.Dataset` of text. Nothing is
downloaded. The cache lands in OUT/cache/ (a `datasets.Dataset.save_to_disk` directory:
dataset_info.json, state.json and data-*.arrow in Arrow IPC *stream* format) and a
summary of what was written is printed as JSON.

Usage: make_saelens_cache_fixture.py --out DIR [--tokens 512] [--context-size 32]

Tests can import `make_fixture(out, tokens, context_size)` instead.
"""

import argparse
import json
import os
import sys
from pathlib import Path

HOOK = "model.layers.1"
D_IN = 32


def build_model(directory):
    """A random tiny Llama and its tokenizer, saved with save_pretrained (local files only)."""
    import torch
    from pydoc_data.topics import topics
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    text = "\n\n".join(topics[k] for k in sorted(topics))[:40_000]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([text], trainers.BpeTrainer(vocab_size=320, special_tokens=["<unk>", "<s>", "</s>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=D_IN, intermediate_size=64, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    # Paragraphs of the same text as the dataset's rows.
    return [p for p in text.split("\n\n") if p.strip()]


def make_fixture(out, tokens=512, context_size=32):
    """Writes OUT/model and OUT/cache; returns the cache directory."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may be fetched
    from datasets import Dataset
    from sae_lens.cache_activations_runner import CacheActivationsRunner
    from sae_lens.config import CacheActivationsRunnerConfig

    out = Path(out)
    model_dir, cache_dir = out / "model", out / "cache"
    rows = build_model(model_dir)
    dataset = Dataset.from_dict({"text": rows})
    cfg = CacheActivationsRunnerConfig(
        dataset_path="local-pydoc-text",  # a label only: override_dataset below is what is read
        model_name=str(model_dir),
        model_class_name="AutoModelForCausalLM",
        model_from_pretrained_kwargs={"local_files_only": True},
        hook_name=HOOK,
        d_in=D_IN,
        context_size=context_size,  # must be given: the dataset is not pre-tokenized
        training_tokens=tokens,
        model_batch_size=4,
        buffer_size_gb=context_size * 4 * D_IN * 4 / 1e9,  # one model batch per shard: several shards
        new_cached_activations_path=str(cache_dir),
        shuffle=False,
        prepend_bos=True,
        streaming=False,
        dtype="float32",
        device="cpu",
    )
    CacheActivationsRunner(cfg, override_dataset=dataset).run()
    return cache_dir


def describe(cache_dir):
    """Files, Arrow schema and row layout of a cache directory, as a dict."""
    import pyarrow as pa
    from datasets import load_from_disk

    cache_dir = Path(cache_dir)
    files = sorted(p.name for p in cache_dir.iterdir())
    arrow = sorted(cache_dir.glob("*.arrow"))
    with pa.memory_map(str(arrow[0])) as source:
        table = pa.ipc.open_stream(source).read_all()  # save_to_disk writes the IPC stream format
    ds = load_from_disk(str(cache_dir)).with_format("numpy")
    return {
        "files": files,
        "arrow_format": "Arrow IPC stream",
        "schema": {f.name: str(f.type) for f in table.schema},
        "schema_metadata": json.loads(table.schema.metadata[b"huggingface"]) if table.schema.metadata else None,
        "rows": len(ds),
        "row_shapes": {k: list(v.shape) for k, v in ds[0].items()},
        "dataset_info": json.loads((cache_dir / "dataset_info.json").read_text()),
        "state": json.loads((cache_dir / "state.json").read_text()),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="directory to create (must not hold a cache yet)")
    p.add_argument("--tokens", type=int, default=512, help="tokens to cache")
    p.add_argument("--context-size", type=int, default=32, help="tokens per sequence")
    args = p.parse_args()
    if (Path(args.out) / "cache").exists() and any((Path(args.out) / "cache").iterdir()):
        sys.exit(f"error: {args.out}/cache already holds files; give a new --out")
    import torch

    torch.set_num_threads(1)
    print(json.dumps(describe(make_fixture(args.out, args.tokens, args.context_size)), indent=2))


if __name__ == "__main__":
    main()
