"""tools/extract_activations.py records what a reference forward pass computes.

Tiny random Llama, GPT-2 and GPT-NeoX models (hidden size 32) with a byte-level BPE
tokenizer trained here are saved to a temporary directory, so nothing is downloaded. The tool
runs on them (once as a real process, otherwise in-process through `main(argv)` to save the
torch import), and every shard row is compared with the model's own hidden states or with a
hook the test itself places on the named submodule: the early stop must not change them, and
it must really stop (no later layer, no LM head). Also checked: the manifest keys the Rust
reader accepts, the multi-layer layout, BOS and --drop-first, the default corpus, and that bad
input exits non-zero with an error that says what to do.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tools_loader import TOOLS, load_tool

TOOL = TOOLS / "extract_activations.py"
# The keys saescale_data::shards::Manifest knows; it rejects any other (deny_unknown_fields).
MANIFEST_KEYS = {"version", "d", "dtype", "model", "layer", "hook", "heldout_shards", "shards", "outlier_filter", "normalization"}
SEQ_LEN = 32

torch.set_num_threads(1)


tool = load_tool("extract_activations")


def corpus_text():
    """~40 kB of English text every CPython has: the start of Python's own documentation."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))[:40_000]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Directories of tiny random causal LMs sharing one tokenizer, plus the text file to run on."""
    from tokenizers import Tokenizer, decoders, models as tok_models, pre_tokenizers, trainers
    from transformers import (GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig,
                              LlamaForCausalLM, PreTrainedTokenizerFast)

    root = tmp_path_factory.mktemp("models")
    text = corpus_text()
    (root / "corpus.txt").write_text(text, encoding="utf-8")
    bpe = Tokenizer(tok_models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([text], trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    vocab = len(tokenizer)
    torch.manual_seed(0)
    built = {
        "llama": LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=6,
                                              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                              bos_token_id=1, eos_token_id=2)),
        "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=3, n_head=4, n_positions=128,
                                           bos_token_id=1, eos_token_id=2)),
        "neox": GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                                 num_attention_heads=4, max_position_embeddings=128,
                                                 bos_token_id=1, eos_token_id=2)),
    }
    dirs = {"text": root / "corpus.txt"}
    for name, model in built.items():
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        dirs[name] = root / name
    return dirs


def reference(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32).eval()


def run_main(capsys, argv):
    """Runs the tool in-process and returns its JSON summary (the last stdout line)."""
    tool.main(argv + ["--threads", "1", "--device", "cpu"])
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def shard_rows(directory):
    manifest = json.loads((directory / "manifest.json").read_text())
    rows = np.concatenate([np.load(directory / s["file"]) for s in manifest["shards"]])
    return manifest, rows.astype(np.float32)


def test_layers_from_one_stopped_forward_equal_the_full_forward_hidden_states(models, tmp_path):
    out = tmp_path / "acts"
    done = subprocess.run(
        [sys.executable, str(TOOL), "--out", str(out), "--model", str(models["llama"]), "--layers", "1,3",
         "--tokens", "600", "--seq-len", str(SEQ_LEN), "--shard-tokens", "256", "--dtype", "f32",
         "--text", str(models["text"]), "--threads", "1", "--device", "cpu"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # Layer 3 is the last needed of 6: four layers ran, then the forward stopped.
    assert (summary["layers"], summary["num_layers"], summary["layers_run"], summary["lm_head_ran"]) == ([1, 3], 6, 4, False)
    assert (summary["tokens"], summary["d"], summary["shards"], summary["check"]) == (600, 32, 3, "startup")
    assert summary["check_max_abs_diff"] < 1e-5

    tokens = np.load(out / "tokens.npy")
    assert tokens.shape == (-(-600 // SEQ_LEN), SEQ_LEN) and tokens.dtype == np.int32
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(models["llama"], local_files_only=True)
    assert models["text"].read_text().startswith(tokenizer.decode(tokens[0].tolist()))

    with torch.inference_mode():
        hidden = reference(models["llama"])(torch.from_numpy(tokens).long(), output_hidden_states=True).hidden_states
    for layer in (1, 3):
        directory = out / f"layer-{layer}"
        manifest, rows = shard_rows(directory)
        assert set(manifest) <= MANIFEST_KEYS
        assert {k: manifest[k] for k in ("version", "d", "dtype", "layer", "hook", "heldout_shards")} == {
            "version": 1, "d": 32, "dtype": "f32", "layer": layer, "hook": "resid_post", "heldout_shards": 1}
        assert [s["tokens"] for s in manifest["shards"]] == [256, 256, 88]
        assert [s["file"] for s in manifest["shards"]] == ["00000.npy", "00001.npy", "00002.npy"]
        want = hidden[layer + 1].reshape(-1, 32)[:600].numpy()
        np.testing.assert_allclose(rows, want, rtol=1e-5, atol=1e-5)
        extraction = json.loads((directory / "extraction.json").read_text())
        assert (extraction["layer"], extraction["seq_len"], extraction["bos"], extraction["drop_first"]) == (layer, SEQ_LEN, False, 0)


def hooked(model, module, pre=False):
    """Registers the test's own hook on `module` and returns the list it fills."""
    seen = []
    if pre:
        module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    else:
        module.register_forward_hook(lambda m, args, out: seen.append((out[0] if isinstance(out, tuple) else out).detach().clone()))
    return seen


@pytest.mark.parametrize("arch", ["llama", "gpt2", "neox"])
def test_resid_pre_and_mlp_out_on_llama_gpt2_and_gpt_neox(models, tmp_path, capsys, arch):
    model = reference(models[arch])
    # The decoder blocks and their MLPs, named here rather than found as the tool finds them.
    blocks = {"llama": lambda: model.model.layers, "gpt2": lambda: model.transformer.h, "neox": lambda: model.gpt_neox.layers}[arch]()
    mlp_seen = hooked(model, blocks[1].mlp)
    args = ["--model", str(models[arch]), "--tokens", "300", "--seq-len", str(SEQ_LEN), "--shard-tokens", "128",
            "--dtype", "f32", "--text", str(models["text"])]

    pre = run_main(capsys, args + ["--out", str(tmp_path / "pre"), "--layers", "0,2", "--hook", "resid_pre"])
    # resid_pre of layer 2 is its input: layers 0 and 1 ran, layer 2 did not.
    assert (pre["layers_run"], pre["lm_head_ran"], pre["hook"]) == (2, False, "resid_pre")
    tokens = torch.from_numpy(np.load(tmp_path / "pre" / "tokens.npy")).long()
    with torch.inference_mode():
        hidden = model(tokens, output_hidden_states=True).hidden_states
    for layer in (0, 2):
        manifest, rows = shard_rows(tmp_path / "pre" / f"layer-{layer}")
        assert manifest["hook"] == "resid_pre"
        np.testing.assert_allclose(rows, hidden[layer].reshape(-1, 32)[:300].numpy(), rtol=1e-5, atol=1e-5)

    mlp = run_main(capsys, args + ["--out", str(tmp_path / "mlp"), "--layer", "1", "--hook", "mlp_out"])
    assert (mlp["layers_run"], mlp["lm_head_ran"], mlp["layer"]) == (2, False, 1)
    manifest, rows = shard_rows(tmp_path / "mlp")  # --layer writes OUT itself
    assert (manifest["layer"], manifest["hook"]) == (1, "mlp_out")
    with torch.inference_mode():
        model(torch.from_numpy(np.load(tmp_path / "mlp" / "tokens.npy")).long())
    np.testing.assert_allclose(rows, mlp_seen[-1].reshape(-1, 32)[:300].numpy(), rtol=1e-5, atol=1e-5)


def test_check_bos_and_drop_first_on_the_last_layer(models, tmp_path, capsys):
    model = reference(models["llama"])
    last_seen = hooked(model, model.model.layers[5])
    out = tmp_path / "acts"
    summary = run_main(capsys, ["--out", str(out), "--model", str(models["llama"]), "--layer", "5", "--check",
                                "--bos", "yes", "--drop-first", "1", "--tokens", "310", "--seq-len", str(SEQ_LEN),
                                "--shard-tokens", "100", "--dtype", "f32", "--text", str(models["text"])])
    # --check runs every layer and the LM head, and scores every prediction of every sequence.
    sequences = -(-310 // (SEQ_LEN - 1))
    assert (summary["layers_run"], summary["lm_head_ran"], summary["check"]) == (6, True, "full")
    assert (summary["sequences"], summary["accuracy_tokens"], summary["tokens"]) == (sequences, sequences * (SEQ_LEN - 1), 310)
    tokens = torch.from_numpy(np.load(out / "tokens.npy")).long()
    assert (tokens[:, 0] == 1).all() and (tokens[:, 1:] != 1).all()  # <s> once, at the start of each sequence
    with torch.inference_mode():
        out_ref = model(tokens, output_hidden_states=True)
    manifest, rows = shard_rows(out)
    assert [s["tokens"] for s in manifest["shards"]] == [100, 100, 100, 10]
    # Position 0 (the BOS) is left out; the last layer's resid_post is its output before the
    # final norm, which HF's hidden_states[-1] applies.
    want = last_seen[-1][:, 1:].reshape(-1, 32)[:310].numpy()
    np.testing.assert_allclose(rows, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(rows, out_ref.hidden_states[6][:, 1:].reshape(-1, 32)[:310].numpy(), atol=1e-3)
    extraction = json.loads((out / "extraction.json").read_text())
    assert (extraction["bos"], extraction["drop_first"], extraction["tokens_file"]) == (True, 1, "tokens.npy")


def test_bad_model_path_exits_non_zero_with_what_to_do(tmp_path):
    for bad, says in [(tmp_path / "missing", "is not a directory"), (tmp_path, "has no config.json")]:
        done = subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path / "o"), "--model", str(bad)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode != 0
        assert "error: --model" in done.stderr and says in done.stderr, done.stderr
    assert not (tmp_path / "o").exists()


def test_bad_layers_exit_with_the_valid_range(models, tmp_path, capsys):
    for layers, says in [("1,x", "not a comma-separated list"), ("-1", "non-negative"), ("2,2", "twice")]:
        with pytest.raises(SystemExit) as stopped:
            tool.main(["--out", str(tmp_path / "o"), "--model", str(models["gpt2"]), "--layers", layers])
        assert says in str(stopped.value.code)
    with pytest.raises(SystemExit) as stopped:
        run_main(capsys, ["--out", str(tmp_path / "o"), "--model", str(models["gpt2"]), "--layers", "1,3", "--text", str(models["text"])])
    assert str(stopped.value.code) == "error: --layers 3 is out of range: the model has layers 0..2"
    with pytest.raises(SystemExit) as stopped:
        tool.main(["--out", str(tmp_path / "o"), "--drop-first", str(SEQ_LEN), "--seq-len", str(SEQ_LEN)])
    assert "--drop-first must be in 0..31" in str(stopped.value.code)


def test_text_dir_reads_its_txt_files_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("second file\n")
    (tmp_path / "a.txt").write_text("first file")
    (tmp_path / "notes.md").write_text("not text input")
    assert "".join(tool.read_text(str(tmp_path))) == "first file\n\nsecond file\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as stopped:
        tool.read_text(str(empty))
    assert "without .txt files" in str(stopped.value.code)


def test_default_corpus_falls_back_to_pythons_docs_with_a_notice(monkeypatch, capsys):
    monkeypatch.setattr(tool.shutil, "which", lambda name: None)
    label, _, pieces = tool.corpus(tool.parse_args(["--out", "unused"]))
    assert label == tool.PYDOC_LABEL and "".join(pieces) == tool.pydoc_text() and len(pieces) > 1
    assert "bible-kjv is not installed" in capsys.readouterr().err


def test_default_corpus_is_the_king_james_bible_when_installed(capsys):
    if not tool.kjv_installed():
        message = "the Debian package bible-kjv is not installed (apt-get install bible-kjv)"
        if os.environ.get("SAESCALE_REQUIRE_MODEL") == "1":
            pytest.fail(f"SAESCALE_REQUIRE_MODEL=1 but {message}")
        pytest.skip(message)
    label, licence, pieces = tool.corpus(tool.parse_args(["--out", "unused"]))
    assert label == tool.KJV_LABEL and "public domain" in licence
    text = "".join(pieces)
    assert text.startswith("Genesis 1\n\nIn the beginning God created the heaven and the earth. And the earth was")
    assert "\n\nRevelation 22\n\n" in text and text.endswith("be with you all. Amen.\n")
    assert len(re.findall(r"^[1-3]? ?[A-Z][A-Za-z ]+ \d+$", text, flags=re.M)) == 1189  # the KJV's chapters
    # 4.1e6 characters: SmolLM2's tokenizer makes 1,000,764 tokens of them (measured).
    assert len(text) > 4_000_000
    # Pieces are cut before a blank line, never inside a word.
    assert len(pieces) > 1 and all(p[-1] != "\n" and p[-1].strip() for p in pieces[:-1])
    assert capsys.readouterr().err == ""
