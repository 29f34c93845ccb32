"""The on-disk format of an SAELens activations cache, as SAELens 6.54 itself writes it.

tools/make_saelens_cache_fixture.py runs SAELens's CacheActivationsRunner offline on a tiny
random Llama; this pins down what a reader of such a cache (docs/ACTIVATIONS.md) relies on:
the files, the Arrow IPC stream format, one row per sequence with a `[context, d_in]` column
named after the hook plus `token_ids`, and that the rows are the hooked module's output.
"""

import json

import numpy as np
import pyarrow as pa
import pytest
import torch
from tools_loader import load_tool

TOKENS, CONTEXT = 256, 32

torch.set_num_threads(1)


def test_saelens_cache_is_one_arrow_stream_row_per_sequence_of_the_hooked_output(tmp_path):
    fixture = load_tool("make_saelens_cache_fixture")
    cache = fixture.make_fixture(tmp_path, tokens=TOKENS, context_size=CONTEXT)
    files = sorted(p.name for p in cache.iterdir())
    arrow = [f for f in files if f.endswith(".arrow")]
    assert files == arrow + ["dataset_info.json", "state.json"]
    assert all(f.startswith("data-") and "-of-" in f for f in arrow)

    # save_to_disk writes the Arrow IPC *stream* format (no ARROW1 file footer).
    first = cache / arrow[0]
    with pytest.raises(pa.ArrowInvalid):
        pa.ipc.open_file(str(first))
    with pa.memory_map(str(first)) as source:
        schema = pa.ipc.open_stream(source).schema
    assert schema.names == [fixture.HOOK, "token_ids"]
    field = schema.field(fixture.HOOK)
    # Without datasets' extension registered the activations are list<list<float>> with metadata.
    storage = getattr(field.type, "storage_type", field.type)
    assert storage == pa.list_(pa.list_(pa.float32()))
    assert schema.field("token_ids").type == pa.list_(pa.int32(), CONTEXT)
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert features[fixture.HOOK] == {"shape": [CONTEXT, fixture.D_IN], "dtype": "float32", "_type": "Array2D"}
    info = json.loads((cache / "dataset_info.json").read_text())
    assert info["features"] == features  # the hook name and d_in live only here and in the schema
    state = json.loads((cache / "state.json").read_text())
    assert [f["filename"] for f in state["_data_files"]] == arrow

    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM

    rows = load_from_disk(str(cache)).with_format("torch")[:]
    acts, tokens = rows[fixture.HOOK], rows["token_ids"]
    assert acts.shape == (TOKENS // CONTEXT, CONTEXT, fixture.D_IN) and tokens.shape == (TOKENS // CONTEXT, CONTEXT)
    assert (tokens[:, 0] == 1).all()  # prepend_bos: <s> starts every sequence
    model = AutoModelForCausalLM.from_pretrained(cache.parent / "model", local_files_only=True).eval()
    with torch.inference_mode():
        hidden = model(tokens.long(), output_hidden_states=True).hidden_states
    # Hook `model.layers.1` records that decoder layer's output: HF hidden_states[2].
    np.testing.assert_allclose(acts.numpy(), hidden[2].numpy(), rtol=1e-5, atol=1e-5)
