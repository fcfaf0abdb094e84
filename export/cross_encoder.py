"""Export of cross-encoder rerankers (``*ForSequenceClassification``) to the ``cross_encoder`` paradigm.

BERT, XLM-RoBERTa and ModernBERT classifiers with one label (relevance score) or several. The graph
returns the classifier's logits as ``scores`` ``[batch, num_labels]``; the activation (the saved
sentence-transformers ``activation_fn``, else sigmoid for one label / identity otherwise) runs in
numpy at runtime, so callers can ask for raw logits as sentence-transformers and TEI allow.

The manifest's ``config`` holds ``text`` (tokenizer, ``max_length``, ``prompts``; no stripping:
sentence-transformers' CrossEncoder tokenizes pairs as given) and ``cross_encoder``
(:class:`tessera_onnx.cross_encoder.config.CrossEncoderConfig`). Parity: fp32 compares the logits
(max abs diff); fp16/int8 compare the scores of every parity pair across pairs (Pearson
correlation per label, recorded as ``min_cosine``/``min_correlation``) and their Kendall tau.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.artifact import Manifest
from tessera_onnx.cross_encoder.config import CrossEncoderConfig, activation_from_torch_path
from tessera_onnx.errors import ExportError, InvalidInputError, ParityError
from tessera_onnx.registry import ModelSpec
from tessera_onnx.text.config import TextConfig

from .artifact_writer import ArtifactStage, parity_record
from .checkpoint import CheckpointInfo, inspect_checkpoint
from .graph_finish import finish_encoder_graph
from .layouts import load_tokenizer
from .onnx_export import DEFAULT_OPSET, export_graph
from .parity import LONG_TEXT, PARITY_TEXTS, ParityCase, check_floor, onnx_outputs, torch_outputs
from .progress import Progress, silent
from .text import _input_names, _write_tokenizer
from .versions import collect_versions

__all__ = [
    "CROSS_ENCODER_FLOORS",
    "OUTPUT_NAME",
    "build_cross_encoder_artifact",
    "kendall_tau",
    "pair_cases",
    "resolve_cross_encoder_settings",
]

OUTPUT_NAME = "scores"
SUPPORTED_TYPES = ("bert", "xlm-roberta", "modernbert")
# fp32: raw logits; reduced precisions: correlation of the scores across the parity pairs
CROSS_ENCODER_FLOORS: dict[str, dict[str, float]] = {
    "fp32": {"max_abs_diff": 1e-4},
    "fp16": {"min_correlation": 0.999},
    "int8": {"min_correlation": 0.95},
}
_QUERIES = (
    "What is the capital of France?",
    "How do embedding models map text?",
    "quick brown fox",
)


def _activation_path(info: CheckpointInfo) -> tuple[str | None, str]:
    """The saved ``activation_fn`` dotted path and where it was found (sentence-transformers' order)."""
    st = info.st_model_config
    if st.get("activation_fn"):
        return str(st["activation_fn"]), "config_sentence_transformers.json activation_fn"
    block = info.hf_config.get("sentence_transformers")
    if isinstance(block, Mapping) and block.get("activation_fn"):
        return str(block["activation_fn"]), "config.json sentence_transformers.activation_fn"
    if info.hf_config.get("sbert_ce_default_activation_function"):
        return (
            str(info.hf_config["sbert_ce_default_activation_function"]),
            "config.json sbert_ce_default_activation_function",
        )
    return None, "default (sigmoid for one label, identity otherwise)"


def _max_length(info: CheckpointInfo, spec: ModelSpec | None, tokenizer: Any) -> int:
    """sentence-transformers' limit: the tokenizer's ``model_max_length`` capped by the position table."""
    cfg = info.hf_config
    limit = int(cfg.get("max_position_embeddings") or 512)
    if cfg.get("model_type") in ("roberta", "xlm-roberta", "camembert"):
        limit -= int(cfg.get("pad_token_id", 1)) + 1  # positions start after the padding index
    tmax = getattr(tokenizer, "model_max_length", None)
    if tmax is not None and tmax < 1_000_000:
        return int(min(tmax, limit))
    if spec is not None and spec.max_length:
        return int(min(spec.max_length, limit))
    return limit


def resolve_cross_encoder_settings(
    info: CheckpointInfo, spec: ModelSpec | None, tokenizer: Any
) -> tuple[TextConfig, CrossEncoderConfig]:
    """The manifest's ``text`` and ``cross_encoder`` blocks from the checkpoint (registry as fallback)."""
    cfg = info.hf_config
    id2label = cfg.get("id2label") or {}
    num_labels = int(cfg.get("num_labels") or len(id2label) or 1)
    labels = tuple(str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(num_labels))
    path, where = _activation_path(info)
    try:
        activation = activation_from_torch_path(path, num_labels)
    except InvalidInputError as exc:
        raise ExportError(f"{info.root}: {exc}") from exc
    st = info.st_model_config
    prompts = {k: v for k, v in (st.get("prompts") or {}).items() if isinstance(v, str)}
    default_prompt = st.get("default_prompt_name")
    if default_prompt is not None and default_prompt not in prompts:
        raise ExportError(
            f"{info.root}: default_prompt_name {default_prompt!r} is not among prompts {prompts}"
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    text = TextConfig(
        tokenizer_file="tokenizer.json",
        max_length=_max_length(info, spec, tokenizer),
        strip=False,
        lowercase=False,
        pad_token_id=int(pad_id),
        padding_side="right",
        prompts=prompts,
    )
    ce = CrossEncoderConfig(
        num_labels=num_labels,
        activation=activation,
        labels=labels,
        default_prompt_name=default_prompt,
        activation_source=f"{where}: {path}" if path else where,
    )
    return text, ce


def _pair_feeds(
    tok: Any, pairs: Sequence[tuple[str, str]], max_length: int, pad_id: int
) -> dict[str, np.ndarray]:
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    try:
        encs = tok.encode_batch(list(pairs), add_special_tokens=True)
    finally:
        tok.no_truncation()
    width = max(len(e.ids) for e in encs)
    ids = np.full((len(encs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encs), width), dtype=np.int64)
    types = np.zeros((len(encs), width), dtype=np.int64)
    for row, e in enumerate(encs):
        n = len(e.ids)
        ids[row, :n], mask[row, :n], types[row, :n] = e.ids, 1, e.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def pair_cases(tok: Any, *, max_length: int, pad_id: int) -> list[ParityCase]:
    """The fixed parity batches: one pair, every query × passage pair (padded), long truncated pairs."""
    grid = [(q, p) for q in _QUERIES for p in PARITY_TEXTS]
    return [
        ParityCase("pair1", _pair_feeds(tok, [(_QUERIES[0], PARITY_TEXTS[0])], max_length, pad_id)),
        ParityCase("grid_padded", _pair_feeds(tok, grid, max_length, pad_id), meta={"pairs": len(grid)}),
        ParityCase(
            "long_truncated",
            _pair_feeds(
                tok,
                [(_QUERIES[1], LONG_TEXT), (LONG_TEXT, PARITY_TEXTS[2]), (LONG_TEXT, LONG_TEXT)],
                min(max_length, 192),
                pad_id,
            ),
        ),
    ]


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall tau-b of two score vectors (numpy, O(n²): parity and benchmark sizes only)."""
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(len(a), 1)
    da, db = da[upper], db[upper]
    denom = np.sqrt(float(np.count_nonzero(da)) * float(np.count_nonzero(db)))
    return float((da * db).sum() / denom) if denom else 1.0


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float((a * b).sum() / denom) if denom > 1e-30 else 1.0


def run_pair_parity(
    reference: Sequence[np.ndarray],
    onnx_path: Path,
    cases: Sequence[ParityCase],
    input_names: Sequence[str],
    precision: str,
    *,
    raise_on_fail: bool = True,
) -> dict[str, Any]:
    """Compare the graph's logits with the torch model's; return the parity record (raise on failure)."""
    got = onnx_outputs(onnx_path, cases, input_names, OUTPUT_NAME)
    per_case = []
    for case, ref, out in zip(cases, reference, got, strict=True):
        if ref.shape != out.shape or not np.all(np.isfinite(out)):
            raise ParityError(
                f"onnx scores on case {case.name}: shape {out.shape} (torch {ref.shape}) or NaN/inf"
            )
        per_case.append({**case.describe(), "max_abs_diff": float(np.abs(out - ref).max())})
    ref_all = np.concatenate(reference).astype(np.float64)
    got_all = np.concatenate(got).astype(np.float64)
    diff = np.abs(ref_all - got_all)
    corr = [_correlation(ref_all[:, j], got_all[:, j]) for j in range(ref_all.shape[1])]
    tau = [kendall_tau(ref_all[:, j], got_all[:, j]) for j in range(ref_all.shape[1])]
    figures = {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "min_correlation": float(min(corr)),
        "min_kendall_tau": float(min(tau)),
    }
    floor = CROSS_ENCODER_FLOORS[precision]
    bad = check_floor(precision, figures, floor)
    record = parity_record(
        reference="torch fp32",
        metric_output=OUTPUT_NAME,
        max_abs_diff=figures["max_abs_diff"],
        mean_abs_diff=figures["mean_abs_diff"],
        min_cosine=figures["min_correlation"],
        mean_cosine=float(np.mean(corr)),
        tolerance=floor,
        cases=per_case,
        passed=not bad,
        precision=precision,
        min_correlation=figures["min_correlation"],
        min_kendall_tau=figures["min_kendall_tau"],
        pairs=int(len(ref_all)),
        note="cosine/correlation: Pearson correlation of each label's scores across the parity pairs",
    )
    if bad and raise_on_fail:
        raise ParityError(
            f"exported cross-encoder does not match the torch model at precision {precision}: "
            f"{', '.join(bad)}. No artifact was written."
        )
    return record


def _load_classifier(info: CheckpointInfo, trust_remote_code: bool) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification

    path = info.transformer_path or info.root
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "dtype": torch.float32}
    try:
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            str(path), attn_implementation="eager", output_loading_info=True, **kwargs
        )
    except (ValueError, TypeError, OSError) as exc:
        raise ExportError(f"cannot load {path} with AutoModelForSequenceClassification: {exc}") from exc
    missing = [k for k in loading.get("missing_keys", []) if "position_ids" not in k]
    if missing:
        raise ExportError(
            f"{path}: {len(missing)} weights are missing (e.g. {missing[:3]}); it is not a trained "
            "sequence-classification checkpoint (the classifier head would be random)"
        )
    return model.eval()


def _classifier_graph(model: Any, input_names: Sequence[str]) -> Any:
    from torch import nn

    class ClassifierGraph(nn.Module):
        """``*ForSequenceClassification`` logits [B, num_labels] for inputs in ``input_names`` order."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(input_names, inputs, strict=True))).logits

    return ClassifierGraph().eval()


def build_cross_encoder_artifact(
    source_dir: Path,
    out_dir: Path,
    *,
    spec: ModelSpec | None = None,
    model_id: str | None = None,
    precision: str = "fp32",
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
    int8_profile: str | None = None,
    trust_remote_code: bool = False,
    overwrite: bool = False,
    source: Mapping[str, Any] | None = None,
    progress: Progress = silent,
) -> Manifest:
    """Export a ``*ForSequenceClassification`` checkpoint into a ``cross_encoder`` artifact at ``out_dir``.

    Raises :class:`~tessera_onnx.errors.ParityError` (writing nothing) when the graph misses the
    floor of ``precision`` (:data:`CROSS_ENCODER_FLOORS`) against the torch model.
    """
    from transformers import AutoTokenizer

    source_dir = Path(source_dir)
    if precision not in CROSS_ENCODER_FLOORS:
        raise ExportError(f"unknown precision {precision!r}; choose one of {tuple(CROSS_ENCODER_FLOORS)}")
    info = inspect_checkpoint(source_dir)
    if info.model_type not in SUPPORTED_TYPES:
        progress(f"note: {info.model_type} is not among the tested cross-encoder types {SUPPORTED_TYPES}")
    model_id = model_id or (spec.id if spec else None) or source_dir.resolve().name.lower()
    with ArtifactStage(out_dir, overwrite=overwrite) as stage, tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        tokenizer = AutoTokenizer.from_pretrained(
            str(info.transformer_path or source_dir), trust_remote_code=trust_remote_code
        )
        tok_path = _write_tokenizer(info, tokenizer, stage.path)
        progress(f"loading torch classifier ({info.model_type})")
        model = _load_classifier(info, trust_remote_code)
        input_names = _input_names(model)
        text, ce = resolve_cross_encoder_settings(info, spec, tokenizer)
        if spec is not None and spec.paradigm == "cross_encoder" and spec.dim != ce.num_labels:
            raise ExportError(
                f"registry says {spec.id} has {spec.dim} labels, the checkpoint {ce.num_labels}"
            )
        module = _classifier_graph(model, input_names)
        cases = pair_cases(load_tokenizer(tok_path), max_length=text.max_length, pad_id=text.pad_token_id)
        progress(f"running torch reference on {len(cases)} parity batches")
        reference = torch_outputs(module, cases, input_names)
        raw = work_dir / "model.raw.onnx"
        progress(f"exporting ONNX graph (opset {opset}, output {OUTPUT_NAME})")
        export_graph(module, cases[1].feeds, input_names, OUTPUT_NAME, raw, opset=opset)
        record, graph_info, variants = finish_encoder_graph(
            raw,
            stage.path / "model.onnx",
            work_dir,
            parity=lambda path, prec, raise_on_fail=True: run_pair_parity(
                reference, path, cases, input_names, prec, raise_on_fail=raise_on_fail
            ),
            precision=precision,
            optimize=optimize,
            num_heads=int(getattr(model.config, "num_attention_heads", 0)),
            hidden_size=int(getattr(model.config, "hidden_size", 0)),
            int8_profile=int8_profile,
            calibration=[c.feeds for c in cases],
            progress=progress,
        )
        progress(
            f"parity ok: max_abs_diff={record['max_abs_diff']:.3g}, min_kendall_tau={record['min_kendall_tau']:.4f}"
        )
        src = dict(source or {"type": "local", "path": str(source_dir.resolve())})
        if spec is not None:
            src.setdefault("hf_repo", spec.hf_repo)
        manifest = Manifest(
            model_id=model_id,
            paradigm="cross_encoder",
            architecture=info.model_type,
            dim=ce.num_labels,
            inputs=tuple(input_names),
            outputs=(OUTPUT_NAME,),
            config={"text": text.to_dict(), "cross_encoder": ce.to_dict(), "export": graph_info},
            precision=precision,
            opset=int(graph_info.get("opset", opset)),
            model_file="model.onnx",
            parity=record,
            versions=collect_versions(),
            source=src,
            variants=variants,
        )
        result = stage.commit(manifest)
    progress(f"artifact written to {Path(out_dir).resolve()}")
    return result
