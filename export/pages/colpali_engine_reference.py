"""colpali-engine as the reference: a stand-alone script run INSIDE colpali-engine's own venv.

colpali-engine's current release needs transformers 5, which cannot share the export stack's
environment, so tessera-export runs this file as a subprocess with that venv's python
(``scripts/reference_venv.sh colpali`` builds one under ``benchmarks/.venvs/colpali``). It imports
nothing from tessera; requests and results travel as JSON / ``.npz`` files.

Commands::

    python colpali_engine_reference.py save FAMILY SEED_DIR OUT [--lora]
        A random checkpoint SAVED BY colpali-engine (model.save_pretrained + processor.save_pretrained)
        from the config, tokenizer and processor files of a transformers-native seed checkpoint.
        FAMILY: idefics3 | paligemma | qwen2_vl. --lora: OUT/base is the base save and OUT/adapter a
        PEFT LoRA adapter over it (language-model projections and the projection head, lora_B drawn
        at random so that it changes the outputs), as the published vidore adapters are laid out.
    python colpali_engine_reference.py run CHECKPOINT REQUEST.json OUT.npz
        Load CHECKPOINT with colpali-engine (an adapter through peft over the base its
        adapter_config.json names), process the request's images in one batch and its queries in
        one batch with colpali-engine's processor, run the model (fp32, eager attention) and score
        with ``score_multi_vector`` (on the whole batch, and pair by pair). OUT.npz holds, per side, the processor's tensors, the kept
        vectors and the scores; REQUEST.json: {"images": [paths], "queries": [texts], "backend": "pil"}.
        backend: "pil" (default) swaps in transformers' PIL image processor (the pixels the torch-free
        runtime reproduces); "torchvision" keeps colpali-engine's default, torchvision-resized pixels.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FAMILIES = {
    "idefics3": ("ColIdefics3", "ColIdefics3Processor"),
    "paligemma": ("ColPali", "ColPaliProcessor"),
    "qwen2_vl": ("ColQwen2", "ColQwen2Processor"),
    "qwen2_5_vl": ("ColQwen2_5", "ColQwen2_5_Processor"),
}
MODEL_TYPE_FAMILY = {
    "idefics3": "idefics3",
    "paligemma": "paligemma",
    "colpali": "paligemma",
    "qwen2_vl": "qwen2_vl",
    "qwen2_5_vl": "qwen2_5_vl",
    "colqwen2": None,  # decided by vlm_config.model_type
}
SEED = 20261206


def _classes(family: str):
    import colpali_engine.models as models

    model_name, processor_name = FAMILIES[family]
    return getattr(models, model_name), getattr(models, processor_name)


def _family_of(config: dict) -> str:
    model_type = config.get("model_type")
    if model_type in ("colpali", "colqwen2"):
        model_type = config["vlm_config"]["model_type"]
    family = MODEL_TYPE_FAMILY.get(model_type)
    if family is None:
        raise SystemExit(f"no colpali-engine family for model_type {model_type!r}")
    return family


def _seed_config(family: str, seed_dir: Path):
    """The VLM config of a transformers-native seed checkpoint, as the family's config class."""
    import transformers

    data = json.loads((seed_dir / "config.json").read_text(encoding="utf-8"))
    if data.get("model_type") in ("colpali", "colqwen2"):
        data = data["vlm_config"]
    cls = {
        "idefics3": transformers.Idefics3Config,
        "paligemma": transformers.PaliGemmaConfig,
        "qwen2_vl": transformers.Qwen2VLConfig,
        "qwen2_5_vl": transformers.Qwen2_5_VLConfig,
    }[family]
    data = {k: v for k, v in data.items() if k not in ("architectures", "transformers_version", "dtype")}
    return cls(**data)


def _processor(family: str, seed_dir: Path):
    """colpali-engine's processor built from the seed's tokenizer and image-processor settings."""
    import transformers

    _, processor_cls = _classes(family)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(seed_dir))
    image_cfg = json.loads((seed_dir / "preprocessor_config.json").read_text(encoding="utf-8"))
    image_cfg = {k: v for k, v in image_cfg.items() if k not in ("processor_class", "image_processor_type")}
    if family == "idefics3":
        image_processor = transformers.Idefics3ImageProcessor(**image_cfg)
        extra = json.loads((seed_dir / "processor_config.json").read_text(encoding="utf-8"))
        return processor_cls(
            image_processor=image_processor, tokenizer=tokenizer, image_seq_len=extra["image_seq_len"]
        )
    if family == "paligemma":
        seq = image_cfg.pop("image_seq_length")
        image_processor = transformers.SiglipImageProcessor(**image_cfg)
        image_processor.image_seq_length = seq
        return processor_cls(image_processor=image_processor, tokenizer=tokenizer)
    image_processor = transformers.Qwen2VLImageProcessor(**image_cfg)
    video = transformers.Qwen2VLVideoProcessor()
    return processor_cls(image_processor=image_processor, tokenizer=tokenizer, video_processor=video)


def _randomise(model, std: float = 0.08) -> None:
    import torch

    torch.manual_seed(SEED)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, std)


def save(family: str, seed_dir: Path, out: Path, lora: bool) -> None:
    """Write a colpali-engine save of a random model of ``family`` (see the module docstring)."""
    import torch

    model_cls, _ = _classes(family)
    config = _seed_config(family, seed_dir)
    torch.manual_seed(SEED)
    model = model_cls(config).to(torch.float32).eval()
    _randomise(model)
    processor = _processor(family, seed_dir)
    target = out / "base" if lora else out
    model.save_pretrained(str(target))
    processor.save_pretrained(str(target))
    if not lora:
        return
    from peft import LoraConfig, get_peft_model

    head = "linear" if family == "idefics3" else "custom_text_proj"
    lora_cfg = LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        init_lora_weights=False,  # random A and B: the adapter changes the outputs
        target_modules=rf"(.*(language_model|text_model).*(down_proj|gate_proj|up_proj|k_proj|q_proj|v_proj|o_proj).*$|.*({head}).*$)",
    )
    peft_model = get_peft_model(model_cls.from_pretrained(str(target), dtype=torch.float32), lora_cfg)
    torch.manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.normal_(0.0, 0.05)
    peft_model.save_pretrained(str(out / "adapter"))
    processor.save_pretrained(str(out / "adapter"))


def _load(checkpoint: Path, backend: str = "pil"):
    import torch

    adapter = checkpoint / "adapter_config.json"
    if adapter.is_file():
        from peft import PeftModel

        base = Path(json.loads(adapter.read_text(encoding="utf-8"))["base_model_name_or_path"])
        family = _family_of(json.loads((base / "config.json").read_text(encoding="utf-8")))
        model_cls, processor_cls = _classes(family)
        model = model_cls.from_pretrained(str(base), dtype=torch.float32, attn_implementation="eager")
        model = PeftModel.from_pretrained(model, str(checkpoint)).eval()
    else:
        family = _family_of(json.loads((checkpoint / "config.json").read_text(encoding="utf-8")))
        model_cls, processor_cls = _classes(family)
        model = model_cls.from_pretrained(str(checkpoint), dtype=torch.float32, attn_implementation="eager")
    processor = processor_cls.from_pretrained(str(checkpoint))
    if backend == "pil":  # transformers' PIL image processor instead of the default torchvision one
        from transformers import AutoImageProcessor

        processor.image_processor = AutoImageProcessor.from_pretrained(str(checkpoint), backend="pil")
    return family, model.eval(), processor


def run(checkpoint: Path, request: Path, out: Path) -> None:
    """Process, embed and score the request with colpali-engine (see the module docstring)."""
    import colpali_engine
    import numpy as np
    import torch
    import transformers
    from PIL import Image

    spec = json.loads(request.read_text(encoding="utf-8"))
    family, model, processor = _load(checkpoint, spec.get("backend", "pil"))
    result: dict[str, np.ndarray] = {}
    vectors: dict[str, list] = {}
    sides = (("pages", spec.get("images") or []), ("queries", spec.get("queries") or []))
    for side, items in sides:
        if not items:
            continue
        if side == "pages":
            batch = processor.process_images([Image.open(p) for p in items])
        else:
            batch = processor.process_queries(items)
        with torch.inference_mode():
            emb = model(**batch).float()
        mask = batch["attention_mask"].bool()
        vectors[side] = [emb[i][mask[i]] for i in range(len(emb))]
        for key, value in batch.items():
            result[f"{side}.{key}"] = value.float().numpy() if value.is_floating_point() else value.numpy()
        for i, v in enumerate(vectors[side]):
            result[f"{side}.vectors.{i}"] = v.numpy()
    if "pages" in vectors and "queries" in vectors:
        scores = processor.score_multi_vector(vectors["queries"], vectors["pages"], device="cpu")
        result["scores"] = scores.float().numpy()
        # one pair per call: no zero-padded page rows (in a batch, a page shorter than the longest
        # gets zero vectors whose dot product 0 can win the max of a query token)
        pairwise = [
            [float(processor.score_multi_vector([q], [p], device="cpu")[0, 0]) for p in vectors["pages"]]
            for q in vectors["queries"]
        ]
        result["scores_pairwise"] = np.array(pairwise, np.float32)
    meta = {
        "family": family,
        "colpali_engine": colpali_engine.__version__ if hasattr(colpali_engine, "__version__") else "",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "image_processor": type(processor.image_processor).__name__,
    }
    if not meta["colpali_engine"]:
        from importlib.metadata import version

        meta["colpali_engine"] = version("colpali-engine")
    result["meta"] = np.array(json.dumps(meta))
    np.savez(out, **result)


def main(argv: list[str]) -> int:
    """Command-line entry (see the module docstring)."""
    if len(argv) >= 4 and argv[0] == "save":
        save(argv[1], Path(argv[2]), Path(argv[3]), "--lora" in argv[4:])
        return 0
    if len(argv) == 4 and argv[0] == "run":
        run(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
