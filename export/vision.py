"""Export of image–text dual encoders (SigLIP, fixed-resolution SigLIP2, CLIP) for the vision paradigm.

Two graphs per model, so a text query never runs the vision tower and an image never runs the
text tower:

- ``vision.onnx``: ``pixel_values [B, 3, H, W]`` → ``image_embeds [B, D]`` (``get_image_features``)
- ``text.onnx``: ``input_ids [B, T]`` (+ ``attention_mask`` when the reference tokenizer returns
  one) → ``text_embeds [B, D]`` (``get_text_features``)

Both outputs are un-normalised, as transformers returns them. ``logit_scale``/``logit_bias``
and the score function (SigLIP sigmoid, CLIP softmax) go into the manifest; the checkpoint's
``preprocessor_config.json`` is copied and typed (:class:`~tessera_onnx.vision.ImagePreprocessConfig`).
SigLIP1 ships only a SentencePiece model whose slow tokenizer canonicalises text: it is
converted to ``tokenizer.json`` and the runtime canonicalises first (``canonicalize: "siglip"``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.artifact import Manifest
from tessera_onnx.errors import ArtifactError, ExportError, TruncationWarning
from tessera_onnx.registry import ModelSpec
from tessera_onnx.text.config import TextConfig
from tessera_onnx.vision.config import TEXT_SEMANTICS, ImagePreprocessConfig, ImageTextConfig

from .artifact_writer import ArtifactStage
from .onnx_export import DEFAULT_OPSET, export_graph, graph_summary, write_final_graph
from .parity import PARITY_TEXTS, ParityCase, run_parity, torch_outputs
from .precision import FLOORS, INT8_PROFILES, convert_precision, quantize_int8
from .progress import Progress, silent
from .variants import build_graph_pair, portable_int8_settings, variants_manifest, write_variant
from .versions import collect_versions

__all__ = ["build_vision_artifact", "VISION_MODEL_TYPES", "VISION_INT8_SETTINGS", "ImageCase"]

VISION_MODEL_TYPES = ("siglip", "clip")
# int8 for dual encoders: the text settings plus the token-embedding Gather (SigLIP2's 256k x 768
# Gemma table is ~75% of the text tower), weights per channel where onnxruntime supports it.
VISION_INT8_SETTINGS: dict[str, Any] = {
    **INT8_PROFILES["dynamic"],  # no calibration inputs here
    "op_types_to_quantize": ["MatMul", "Attention", "Gather"],
    "exclude_patterns": [],
}
_IMAGE_AXES = {"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}}


class ImageCase(ParityCase):
    """A parity batch of ``pixel_values`` (the base class describes token batches)."""

    def describe(self) -> dict[str, Any]:
        """Name, batch size and image size of this case."""
        px = self.feeds["pixel_values"]
        return {"name": self.name, "batch": int(px.shape[0]), "image_size": list(px.shape[2:]), **self.meta}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ExportError(f"{path.parent} has no {path.name}; a vision checkpoint needs it") from exc
    except ValueError as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc


def _model_type(config: Mapping[str, Any], source_dir: Path) -> str:
    model_type = str(config.get("model_type", ""))
    if model_type == "siglip2":
        raise ExportError(
            f"{source_dir} is a SigLIP2 NaFlex checkpoint (model_type siglip2: variable resolution, patch "
            "packing), which tessera-onnx does not export yet; fixed-resolution SigLIP2 checkpoints "
            "(model_type siglip, e.g. google/siglip2-base-patch16-224) are supported"
        )
    if model_type not in VISION_MODEL_TYPES:
        raise ExportError(
            f"{source_dir}: model_type {model_type!r} is not an image–text dual encoder "
            f"tessera-export supports {VISION_MODEL_TYPES}"
        )
    return model_type


def _siglip_tokenizer_json(tokenizer: Any) -> str:
    """Convert the slow SentencePiece ``SiglipTokenizer`` to a ``tokenizer.json`` for canonicalised text."""
    from tokenizers import pre_tokenizers, processors
    from transformers.convert_slow_tokenizer import SpmConverter

    eos = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)

    class _SiglipConverter(SpmConverter):
        def post_processor(self) -> Any:
            return processors.TemplateProcessing(
                single=["$A", tokenizer.eos_token], special_tokens=[(tokenizer.eos_token, eos)]
            )

    backend = _SiglipConverter(tokenizer).converted()
    # the runtime prepends "▁" itself (SiglipTokenizer.tokenize); SentencePiece runs without a dummy prefix
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never", split=True)
    return backend.to_str()


def _tokenizer_settings(
    source_dir: Path, model_type: str, hf_config: Mapping[str, Any], stage: Path, spec: ModelSpec | None
) -> tuple[TextConfig, dict[str, Any], Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source_dir))
    text_cfg = hf_config.get("text_config") or {}
    max_length = int(text_cfg.get("max_position_embeddings") or (spec.max_length if spec else 0) or 64)
    slow_siglip = type(tokenizer).__name__ == "SiglipTokenizer"
    if slow_siglip:
        data = json.loads(_siglip_tokenizer_json(tokenizer))
    elif (source_dir / "tokenizer.json").is_file():
        data = json.loads((source_dir / "tokenizer.json").read_text(encoding="utf-8"))
    elif getattr(tokenizer, "is_fast", False):
        data = json.loads(tokenizer.backend_tokenizer.to_str())
    else:
        raise ExportError(
            f"{source_dir}: tokenizer {type(tokenizer).__name__} has no tokenizer.json or fast version"
        )
    data["truncation"] = None
    data["padding"] = None
    (stage / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    if tokenizer.pad_token_id is None:
        raise ExportError(f"{source_dir}: the tokenizer has no pad token")
    text = TextConfig(
        tokenizer_file="tokenizer.json",
        max_length=max_length,
        strip=False,
        lowercase=False,
        pad_token_id=int(tokenizer.pad_token_id),
        padding_side="right",
    )
    specials = {t: int(tokenizer.convert_tokens_to_ids(t)) for t in tokenizer.all_special_tokens}
    inputs = ["input_ids"] + (["attention_mask"] if "attention_mask" in tokenizer.model_input_names else [])
    extra = {
        "canonicalize": "siglip" if slow_siglip else "",
        "eos_token_id": int(tokenizer.eos_token_id if tokenizer.eos_token_id is not None else -1),
        "special_tokens": specials if slow_siglip else {},
        "text_inputs": tuple(inputs),
        "text_padding": "max_length" if model_type == "siglip" else "longest",
        "tokenizer_reference": f"transformers {type(tokenizer).__name__}"
        + (" (slow, SentencePiece)" if slow_siglip else ""),
    }
    return text, extra, tokenizer


def _load_model(source_dir: Path, model_type: str) -> Any:
    import torch
    from transformers import CLIPModel, SiglipModel

    cls = SiglipModel if model_type == "siglip" else CLIPModel
    try:
        model, loading = cls.from_pretrained(
            str(source_dir), attn_implementation="eager", dtype=torch.float32, output_loading_info=True
        )
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot load {source_dir} as {cls.__name__}: {exc}") from exc
    missing = [k for k in loading.get("missing_keys", []) if "position_ids" not in k]
    if missing:
        raise ExportError(
            f"{source_dir}: {len(missing)} weights are missing (e.g. {missing[:3]}); "
            f"not a {cls.__name__} checkpoint"
        )
    return model.eval()


def _towers(model: Any, text_inputs: Sequence[str]) -> tuple[Any, Any]:
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.model.get_image_features(pixel_values=pixel_values)

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
        ) -> torch.Tensor:
            return self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)

    return ImageTower().eval(), TextTower().eval()


def image_parity_cases(height: int, width: int) -> list[ImageCase]:
    """Fixed ``pixel_values`` batches: smooth gradients plus seeded noise, batch 1 and 3."""
    rng = np.random.default_rng(20261129)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(xx / 17.0), np.cos(yy / 11.0), (xx + yy) / (height + width) * 2 - 1])
    noise = rng.standard_normal((3, 3, height, width)).astype(np.float32) * 0.5
    batch3 = np.clip(base[None] * 0.8 + noise, -1.0, 1.0).astype(np.float32)
    return [
        ImageCase("image1", {"pixel_values": np.ascontiguousarray(base[None])}),
        ImageCase("images3", {"pixel_values": batch3}),
    ]


def text_parity_cases(encode: Any) -> list[ParityCase]:
    """Fixed text batches (short, punctuation, non-ASCII, long) through the runtime's own tokenizer."""
    long = " ".join(PARITY_TEXTS * 20)

    def case(name: str, texts: Sequence[str]) -> ParityCase:
        with warnings.catch_warnings():  # the long text is truncated on purpose
            warnings.simplefilter("ignore", TruncationWarning)
            ids, mask = encode(list(texts))
        return ParityCase(name, {"input_ids": ids, "attention_mask": mask}, meta={"texts": len(texts)})

    return [
        case("text1", PARITY_TEXTS[:1]),
        case("texts4", PARITY_TEXTS[1:5]),
        case("texts2_long", [long, PARITY_TEXTS[5]]),
    ]


def _optimize_tower(raw: Path, dst: Path, tower_config: Any) -> tuple[Path, dict[str, Any]]:
    """Fuse attention, LayerNorm (+ residual), GELU and biases with onnxruntime's transformer optimizer.

    ``model_type="clip"`` matches both towers' encoder layers (the ``"vit"`` fusions miss the
    attention of the exported graphs). The fused graph is what the artifact ships, so the runtime
    spends nothing on these fusions when a session starts. Returns ``(graph, record)``; on an
    optimizer failure the raw graph and the error (the optimizer only accelerates).
    """
    import logging

    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    heads, hidden = int(tower_config.num_attention_heads), int(tower_config.hidden_size)
    settings = {"tool": "onnxruntime.transformers.optimizer", "model_type": "clip", "opt_level": 1}
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimize_model(
                str(raw),
                model_type="clip",
                num_heads=heads,
                hidden_size=hidden,
                optimization_options=FusionOptions("clip"),
                opt_level=1,
                use_gpu=False,
            )
            fused = {k: int(v) for k, v in (opt.get_fused_operator_statistics() or {}).items() if v}
            opt.save_model_to_file(str(dst), use_external_data_format=False)
    except Exception as exc:  # noqa: BLE001 - any optimizer failure leaves the raw graph
        return raw, {**settings, "error": f"{type(exc).__name__}: {exc}"}
    return dst, {**settings, "fused_operators": fused}


def _convert(src: Path, dst: Path, precision: str, portable: bool) -> dict[str, Any]:
    """``src`` at ``precision`` into ``dst``: the portable form (standard operators) or onnxruntime's."""
    if precision == "int8":
        settings = portable_int8_settings(VISION_INT8_SETTINGS) if portable else VISION_INT8_SETTINGS
        return quantize_int8(src, dst, settings)
    return convert_precision(src, dst, precision)


def build_vision_artifact(
    source_dir: Path,
    out_dir: Path,
    *,
    spec: ModelSpec | None = None,
    model_id: str | None = None,
    precision: str = "fp32",
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
    source: Mapping[str, Any] | None = None,
    progress: Progress = silent,
    optimize: bool = True,
    text_semantics: str = "trained",
) -> Manifest:
    """Export a SigLIP / SigLIP2 (fixed resolution) / CLIP checkpoint directory into a vision artifact.

    ``text_semantics`` (SigLIP / SigLIP2): ``"trained"`` (default) exports the text tower fed
    ``input_ids`` padded to ``max_length`` with no attention mask, as SigLIP was trained (and as
    big_vision and open_clip compute it); ``"transformers"`` feeds the tokenizer's attention mask
    as well, matching transformers' ``get_text_features(input_ids, attention_mask)``. CLIP ignores it.

    ``optimize``: ship each tower as fused by onnxruntime's transformer optimizer (kept only where
    parity holds; the manifest records what was fused, or why the plain graph was kept).
    """
    from tessera_onnx.vision.text import DualEncoderTokenizer

    source_dir = Path(source_dir)
    if precision not in FLOORS:
        raise ExportError(f"unknown precision {precision!r}; choose one of {tuple(FLOORS)}")
    if text_semantics not in TEXT_SEMANTICS:
        raise ExportError(f"text_semantics must be one of {TEXT_SEMANTICS}, not {text_semantics!r}")
    hf_config = _read_json(source_dir / "config.json")
    model_type = _model_type(hf_config, source_dir)
    try:
        image_cfg = ImagePreprocessConfig.from_preprocessor_config(
            _read_json(source_dir / "preprocessor_config.json")
        )
    except ArtifactError as exc:
        raise ExportError(f"{source_dir}: {exc}") from exc
    model_id = model_id or (spec.id if spec else None) or source_dir.resolve().name.lower()

    with ArtifactStage(out_dir, overwrite=overwrite) as stage, tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        progress(f"reading tokenizer and preprocessor of {source_dir} ({model_type})")
        text, extra, _ = _tokenizer_settings(source_dir, model_type, hf_config, stage.path, spec)
        shutil.copyfile(source_dir / "preprocessor_config.json", stage.path / "preprocessor_config.json")
        progress("loading torch model")
        model = _load_model(source_dir, model_type)
        siglip = model_type == "siglip"
        text_inputs = list(extra["text_inputs"])
        if siglip:  # the padding semantics decide whether the graph takes a mask at all
            text_inputs = ["input_ids"] + (["attention_mask"] if text_semantics == "transformers" else [])
        model_cfg = ImageTextConfig(
            family=model_type,
            score="sigmoid" if siglip else "softmax",
            logit_scale=float(model.logit_scale.detach().float().item()),
            logit_bias=float(model.logit_bias.detach().float().item()) if siglip else 0.0,
            text_inputs=tuple(text_inputs),
            text_padding=extra["text_padding"],
            text_semantics=text_semantics if siglip else "",
            canonicalize=extra["canonicalize"],
            eos_token_id=extra["eos_token_id"],
            special_tokens=extra["special_tokens"],
        )
        encoder = DualEncoderTokenizer(stage.path / "tokenizer.json", text, model_cfg)
        image_tower, text_tower = _towers(model, text_inputs)
        height, width = image_cfg.output_size
        image_cases = image_parity_cases(height, width)
        text_cases = text_parity_cases(encoder)
        progress("running the torch reference on the parity batches")
        image_ref = torch_outputs(image_tower, image_cases, ["pixel_values"])
        text_ref = torch_outputs(text_tower, text_cases, text_inputs)
        dim = int(image_ref[0].shape[-1])
        if spec is not None and spec.dim != dim:
            raise ExportError(f"registry says {spec.id} has dim {spec.dim}, the checkpoint gives {dim}")
        config: dict[str, Any] = {
            "text": text.to_dict(),
            "vision": model_cfg.to_dict(),
            "image": image_cfg.to_dict(),
            "tokenizer_reference": extra["tokenizer_reference"],
        }
        text_axes = {**{n: {0: "batch", 1: "sequence"} for n in text_inputs}, "text_embeds": {0: "batch"}}
        towers = (
            (
                "image",
                "vision",
                image_tower,
                image_cases,
                image_ref,
                ["pixel_values"],
                "image_embeds",
                _IMAGE_AXES,
            ),
            ("text", "text", text_tower, text_cases, text_ref, text_inputs, "text_embeds", text_axes),
        )
        parity: dict[str, Any] = {
            "reference": f"transformers {type(model).__name__} get_image_features / "
            "get_text_features, torch fp32",
            "towers": {},
        }
        graphs: dict[str, Any] = {}
        variant_info: dict[str, dict[str, Any]] = {}
        for label, name, module, cases, reference, inputs, output, axes in towers:
            raw = work_dir / f"{name}.raw.onnx"
            progress(f"exporting the {label} tower (opset {opset})")
            export_graph(module, cases[-1].feeds, inputs, output, raw, opset=opset, dynamic_axes=axes)

            def check(
                path: Path,
                prec: str,
                strict: bool = True,
                cases=cases,
                reference=reference,
                inputs=inputs,
                output=output,
                label=label,
            ) -> dict[str, Any]:
                return run_parity(
                    reference,
                    path,
                    cases,
                    input_names=inputs,
                    output_name=output,
                    config=config,
                    precision=prec,
                    raise_on_fail=strict,
                    label=f"{label} tower: ",
                )

            record = check(raw, "fp32")
            tower_cfg = getattr(model.config, f"{name}_config")
            if optimize:
                fused, optimizer = _optimize_tower(raw, work_dir / f"{name}.opt.onnx", tower_cfg)
            else:
                fused, optimizer = raw, {"skipped": "optimize=False (--no-optimize)"}
            variant_src: Path | None = None
            if fused != raw:
                fused_record = check(fused, "fp32", strict=False)
                optimizer["parity_unfused"] = {k: record[k] for k in ("max_abs_diff", "min_cosine")}
                if fused_record["passed"]:
                    variant_src = fused  # shipped as the onnxruntime variant; the plain graph is canonical
                else:  # keep the plain export; the manifest says why
                    optimizer["rejected"] = f"parity max_abs_diff {fused_record['max_abs_diff']:.3g}"
            progress(
                f"{label} tower: onnxruntime optimizer fused {optimizer.get('fused_operators', optimizer)}"
            )
            pair = build_graph_pair(
                raw,
                variant_src,
                precision,
                work_dir,
                name,
                plain_record=record,
                fused_record=fused_record if variant_src is not None else None,
                convert_portable=lambda s, d: _convert(s, d, precision, True),
                convert_variant=None
                if variant_src is None
                else lambda s, d: _convert(s, d, precision, False),
                check=lambda path, prec, strict, check=check: check(path, prec, strict),
            )
            graph, record, conversion = pair.canonical, pair.record, pair.conversion
            final = stage.path / f"{name}.onnx"
            write_final_graph(graph, final)
            variant_info[final.name] = write_variant(pair, final)
            parity["towers"][label] = record
            graphs[label] = {
                "file": final.name,
                "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
                "optimizer": optimizer,
                **({"precision_conversion": conversion} if conversion else {}),
                **({"variant": variant_info[final.name]} if variant_info[final.name] else {}),
                **graph_summary(final),
            }
            progress(
                f"{label} tower parity: max_abs_diff={record['max_abs_diff']:.3g}, "
                f"min_cosine={record['min_cosine']:.6f}"
            )
        for key in ("max_abs_diff", "mean_abs_diff"):
            parity[key] = max(t[key] for t in parity["towers"].values())
        for key in ("min_cosine", "mean_cosine"):
            parity[key] = min(t[key] for t in parity["towers"].values())
        parity["passed"] = all(t["passed"] for t in parity["towers"].values())
        parity["precision"] = precision
        parity["tolerance"] = dict(FLOORS[precision])
        config["export"] = graphs
        src = dict(source or {"type": "local", "path": str(source_dir.resolve())})
        if spec is not None:
            src.setdefault("hf_repo", spec.hf_repo)
        manifest = Manifest(
            model_id=model_id,
            paradigm="vision",
            architecture=model_type,
            dim=dim,
            inputs=("pixel_values", *text_inputs),
            outputs=("image_embeds", "text_embeds"),
            config=config,
            precision=precision,
            opset=int(graphs["image"].get("opset", opset)),
            model_file="vision.onnx",
            parity=parity,
            versions=collect_versions(),
            source=src,
            variants=variants_manifest(variant_info, "onnxruntime's fused transformer towers"),
        )
        result = stage.commit(manifest)
    progress(f"artifact written to {Path(out_dir).resolve()}")
    return result
