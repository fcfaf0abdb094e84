"""open_clip's SigLIP text tower as the reference: a stand-alone script run INSIDE open_clip's own venv.

open_clip (with its torch / torchvision pins) does not share the export stack's environment, so the
test runs this file as a subprocess with that venv's python (``scripts/reference_venv.sh openclip``
builds one under ``benchmarks/.venvs/openclip``). It imports nothing from tessera and nothing from
transformers; requests and results travel as JSON / ``.npz`` files.

Command::

    python openclip_siglip_reference.py CHECKPOINT REQUEST.json OUT.npz

CHECKPOINT is a transformers ``SiglipModel`` directory (``config.json`` + ``model.safetensors``).
An open_clip model is built through open_clip's custom-config path (``add_model_config`` +
``create_model(name, pretrained=None)``; nothing is downloaded) with the text settings of open_clip's
published SigLIP configs (``ViT-B-16-SigLIP.json``: ``custom_text``, ``no_causal_mask``,
``pool_type "last"``, ``proj_bias``, LayerNorm eps from the checkpoint) and the checkpoint's
sizes; the activation is open_clip's ``nn.GELU`` (exact, as in the published configs) for
``hidden_act "gelu"``, ``GELU(approximate="tanh")`` through ``act_kwargs`` for
``"gelu_pytorch_tanh"``. The checkpoint's text weights are mapped onto open_clip's names and
loaded strictly. REQUEST.json: ``{"input_ids": [[...], ...]}`` (already padded to the context
length, as SigLIP is fed); OUT.npz: ``text_features`` (``model.encode_text``, not normalised) and
``meta`` (versions).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

NAME = "tessera-tiny-siglip-text"
ACTIVATIONS = {"gelu": None, "gelu_pytorch_tanh": {"approximate": "tanh"}}


def _model_config(text: dict) -> dict:
    """The open_clip model config: published SigLIP text settings at the checkpoint's sizes."""
    act = text.get("hidden_act", "gelu_pytorch_tanh")
    if act not in ACTIVATIONS:
        raise SystemExit(f"hidden_act {act!r} has no open_clip text-tower equivalent")
    width = int(text["hidden_size"])
    text_cfg = {
        "context_length": int(text["max_position_embeddings"]),
        "vocab_size": int(text["vocab_size"]),
        "width": width,
        "heads": int(text["num_attention_heads"]),
        "layers": int(text["num_hidden_layers"]),
        "mlp_ratio": int(text["intermediate_size"]) / width,
        "no_causal_mask": True,
        "proj_bias": True,
        "pool_type": "last",
        "norm_kwargs": {"eps": float(text.get("layer_norm_eps", 1e-6))},
    }
    if ACTIVATIONS[act] is not None:
        text_cfg["act_kwargs"] = ACTIVATIONS[act]
    return {
        "embed_dim": int(text.get("projection_size") or width),
        "init_logit_bias": -10,
        "custom_text": True,
        # a tiny native ViT: only the text tower is compared
        "vision_cfg": {"image_size": 32, "patch_size": 16, "layers": 1, "width": 32, "head_width": 16},
        "text_cfg": text_cfg,
    }


def _text_state(hf: dict, layers: int) -> dict:
    """transformers ``SiglipTextModel`` weights under open_clip ``TextTransformer`` names."""
    import torch

    p = "text_model."
    out = {
        "token_embedding.weight": hf[p + "embeddings.token_embedding.weight"],
        "positional_embedding": hf[p + "embeddings.position_embedding.weight"],
        "ln_final.weight": hf[p + "final_layer_norm.weight"],
        "ln_final.bias": hf[p + "final_layer_norm.bias"],
        "text_projection.weight": hf[p + "head.weight"],
        "text_projection.bias": hf[p + "head.bias"],
    }
    for i in range(layers):
        src, dst = f"{p}encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(
                [hf[f"{src}self_attn.{n}_proj.{kind}"] for n in ("q", "k", "v")], dim=0
            )
            out[f"{dst}attn.out_proj.{kind}"] = hf[f"{src}self_attn.out_proj.{kind}"]
            out[f"{dst}ln_1.{kind}"] = hf[f"{src}layer_norm1.{kind}"]
            out[f"{dst}ln_2.{kind}"] = hf[f"{src}layer_norm2.{kind}"]
            out[f"{dst}mlp.c_fc.{kind}"] = hf[f"{src}mlp.fc1.{kind}"]
            out[f"{dst}mlp.c_proj.{kind}"] = hf[f"{src}mlp.fc2.{kind}"]
    return out


def run(checkpoint: Path, request: Path, out: Path) -> None:
    """Encode the request's token ids with open_clip (see the module docstring)."""
    from importlib.metadata import version

    import numpy as np
    import open_clip
    import torch
    from safetensors.torch import load_file

    text = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))["text_config"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"{NAME}.json").write_text(json.dumps(_model_config(text)), encoding="utf-8")
        open_clip.add_model_config(tmp)
        model = open_clip.create_model(NAME, pretrained=None, device="cpu", precision="fp32")
    model = model.eval()
    tower = model.text
    if type(tower).__name__ != "TextTransformer" or tower.pool_type != "last" or tower.attn_mask is not None:
        raise SystemExit(f"unexpected open_clip text tower {type(tower).__name__}")
    hf = load_file(str(checkpoint / "model.safetensors"))
    tower.load_state_dict(_text_state(hf, int(text["num_hidden_layers"])), strict=True)
    ids = torch.tensor(json.loads(request.read_text(encoding="utf-8"))["input_ids"], dtype=torch.long)
    with torch.inference_mode():
        features = model.encode_text(ids, normalize=False).float().numpy()
    meta = {
        "open_clip": version("open_clip_torch"),
        "torch": torch.__version__,
        "text_tower": type(tower).__name__,
        "activation": text.get("hidden_act", "gelu_pytorch_tanh"),
    }
    np.savez(out, text_features=features, meta=np.array(json.dumps(meta)))


def main(argv: list[str]) -> int:
    """Command-line entry (see the module docstring)."""
    if len(argv) == 3:
        run(Path(argv[0]), Path(argv[1]), Path(argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
