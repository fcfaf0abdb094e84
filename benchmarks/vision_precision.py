"""SigLIP2 fp32 / fp16 / int8: artifact sizes and cosine to the torch model, the 256k Gather included.

A fixed-resolution SigLIP2 text tower carries Gemma's 256,000-row token-embedding table. This
script builds a SiglipModel with that vocabulary (hidden 128, 2 layers per tower, random seeded
weights, so the table is ~98% of the text tower as in the real model's ~75%) and exports it at
each precision with ``tessera_export.build_artifact``. int8 quantises the MatMuls and the
token-embedding ``Gather`` (``export/vision.py: VISION_INT8_SETTINGS``). Reported per precision:
file sizes of each tower and the parity figures recorded at export (min/mean cosine of the
runtime's vectors vs torch fp32, per tower). Random weights: cosines of trained weights differ.

    python benchmarks/vision_precision.py        # writes benchmarks/results/vision_precision.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "vision_precision.json"
sys.path.insert(0, str(ROOT / "tests" / "support"))


def _sizes(artifact: Path) -> dict[str, int]:
    files = json.loads((artifact / "tessera.json").read_text())["files"]
    return {
        tower: sum(v["size"] for k, v in files.items() if k.startswith(f"{tower}.onnx"))
        for tower in ("vision", "text")
    }


def _ops(path: Path) -> dict[str, int]:
    import onnx

    ops: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return ops


def main(argv: list[str] | None = None) -> dict:
    """Build the three precisions and write the result JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=256_000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    import torch
    from tessera_export import build_artifact
    from tiny_vision_models import gemma_style_tokenizer
    from transformers import SiglipConfig, SiglipModel

    load_start = os.getloadavg()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "ckpt"
        tok = gemma_style_tokenizer()
        torch.manual_seed(0)
        tower = dict(
            hidden_size=args.hidden,
            intermediate_size=4 * args.hidden,
            num_hidden_layers=2,
            num_attention_heads=2,
        )
        config = SiglipConfig(
            text_config=dict(
                tower,
                vocab_size=args.vocab,
                max_position_embeddings=64,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            ),
            vision_config=dict(tower, image_size=224, patch_size=16),
        )
        SiglipModel(config).save_pretrained(ckpt)
        tok.save_pretrained(ckpt)
        from tiny_vision_models import SIGLIP_PREPROCESSOR

        (ckpt / "preprocessor_config.json").write_text(json.dumps(SIGLIP_PREPROCESSOR))
        for precision in ("fp32", "fp16", "int8"):
            art = Path(tmp) / precision
            manifest = build_artifact(ckpt, art, model_id=f"siglip2-shape-{precision}", precision=precision)
            towers = manifest.parity["towers"]
            text_ops = _ops(art / "text.onnx")
            rows[precision] = {
                "bytes": _sizes(art),
                "min_cosine": {t: towers[t]["min_cosine"] for t in towers},
                "mean_cosine": {t: towers[t]["mean_cosine"] for t in towers},
                "text_gather_quantized": precision == "int8" and "DequantizeLinear" in text_ops,
                "text_op_types": text_ops,
            }
    result = {
        "model": f"SiglipModel, text vocab {args.vocab}, hidden {args.hidden}, 2 layers per tower, random weights",
        "results": rows,
        "int8_settings": "export/vision.py VISION_INT8_SETTINGS (MatMul, Attention, Gather; per-channel QInt8 weights)",
        "machine": {"cores": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "command": "python benchmarks/vision_precision.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for p, r in rows.items():
        print(p, r["bytes"], r["min_cosine"], "gather int8:", r["text_gather_quantized"])
    return result


if __name__ == "__main__":
    main()
