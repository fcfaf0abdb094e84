"""ColIdefics3 vision position ids: a full tile uses ``arange`` (the NaViT bucketing), not 4.57's ids.

transformers 4.55–4.57 compute ``h / n × (1 − 1e-6)`` and bucket it one below (``[0, 0, 1, 2, …]``);
colpali-engine on transformers 5 uses ``arange`` for every full tile. The exported vision graph must
use ``arange``: checked against the SigLIP-like tower run by hand with ``arange`` ids (max abs 1e-5).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")

TOL = 1e-5


def test_fixed_forward_gives_arange_for_a_full_tile(colidefics3_dir):
    import torch
    from tessera_export.pages.idefics3 import fix_vision_position_ids, full_tile_position_ids
    from transformers import Idefics3Config, Idefics3Model

    model = Idefics3Model(Idefics3Config.from_pretrained(colidefics3_dir)).eval()
    emb = model.vision_model.embeddings
    side, patch = emb.num_patches_per_side, emb.patch_size
    seen: list[torch.Tensor] = []
    emb.position_embedding.register_forward_pre_hook(lambda _m, a: seen.append(a[0].clone()))
    fix_vision_position_ids(model)
    with torch.no_grad():
        emb(torch.zeros(1, 3, side * patch, side * patch), torch.ones(1, side, side, dtype=torch.bool))
    expected = full_tile_position_ids(side)
    assert torch.equal(seen[-1], expected)
    assert torch.equal(expected[0], torch.arange(side * side))


def test_exported_vision_graph_uses_arange_position_ids(colidefics3_dir, colidefics3_artifact):
    import onnxruntime as ort
    import torch
    from safetensors.torch import load_file
    from transformers import Idefics3Config, Idefics3Model

    model = Idefics3Model(Idefics3Config.from_pretrained(colidefics3_dir)).eval()
    state = load_file(str(colidefics3_dir / "model.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")}, strict=False)
    vision = model.vision_model
    emb = vision.embeddings
    tile = emb.num_patches_per_side * emb.patch_size
    pixels = np.random.default_rng(0).uniform(-1, 1, (2, 3, tile, tile)).astype(np.float32)
    with torch.no_grad():
        x = emb.patch_embedding(torch.from_numpy(pixels)).flatten(2).transpose(1, 2)
        x = x + emb.position_embedding(torch.arange(emb.num_patches_per_side**2)[None])
        x = vision.encoder(inputs_embeds=x).last_hidden_state
        expected = model.connector(vision.post_layernorm(x)).numpy()
    manifest = json.loads((colidefics3_artifact / "tessera.json").read_text())
    graph = colidefics3_artifact / manifest["config"]["pages"]["vision_model_file"]
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixel_values": pixels})[0]
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) <= TOL
