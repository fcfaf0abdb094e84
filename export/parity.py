"""Parity of the exported graph against the torch model, measured at every build.

Fixed inputs of several batch sizes and lengths (including padding, and for ColBERT the exact
query/document layouts) go through the torch wrapper and through onnxruntime. The figures
(max/mean abs diff of the raw output, min/mean cosine of the vectors the runtime returns) go
into ``manifest.parity``; a build whose figures miss the floor of its precision raises
:class:`~tessera_onnx.errors.ParityError` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tessera_onnx.errors import ParityError

from .artifact_writer import parity_record
from .layouts import colbert_document_batch, colbert_query_batch, encode_batch
from .precision import FLOORS

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

__all__ = [
    "ParityCase",
    "PARITY_TEXTS",
    "FLOORS",
    "text_cases",
    "run_parity",
    "check_floor",
    "onnx_outputs",
    "torch_outputs",
    "output_vectors",
]

# Fixed, deterministic inputs: short, medium, punctuation-heavy, non-ASCII, and a long text.
PARITY_TEXTS = (
    "Hello world.",
    "The quick brown fox jumps over the lazy dog, then rests under the old oak tree.",
    "What is the capital of France?",
    "Embedding models map text to vectors; similar texts get similar vectors!",
    "Zürich, São Paulo and Kraków are cities — naïve café façades (résumé) #42.",
    "ONNX runtime executes the exported graph without PyTorch.",
)
LONG_TEXT = " ".join(PARITY_TEXTS * 40)


@dataclass
class ParityCase:
    """One batch fed to both engines; ``keep`` marks token rows the runtime keeps (multi-vector)."""

    name: str
    feeds: dict[str, np.ndarray]
    keep: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Name, batch size, sequence length and ``meta`` of this case, for the parity record."""
        ids = self.feeds["input_ids"]
        return {"name": self.name, "batch": int(ids.shape[0]), "seq_len": int(ids.shape[1]), **self.meta}


def text_cases(
    tok: Tokenizer,
    *,
    paradigm: str,
    max_length: int,
    pad_id: int,
    lowercase: bool = False,
    mv: Mapping[str, Any] | None = None,
) -> list[ParityCase]:
    """The fixed parity batches for a text paradigm."""
    long_len = min(max_length, 192)
    if paradigm != "multi_vector":
        return [
            ParityCase(
                "single_short",
                encode_batch(
                    tok, PARITY_TEXTS[:1], max_length=max_length, pad_id=pad_id, lowercase=lowercase
                ),
            ),
            ParityCase(
                "batch4_padded",
                encode_batch(
                    tok, PARITY_TEXTS[1:5], max_length=max_length, pad_id=pad_id, lowercase=lowercase
                ),
            ),
            ParityCase(
                "batch2_long",
                encode_batch(
                    tok, [LONG_TEXT, PARITY_TEXTS[5]], max_length=long_len, pad_id=pad_id, lowercase=lowercase
                ),
            ),
        ]
    assert mv is not None
    q = colbert_query_batch(
        tok,
        [PARITY_TEXTS[2], PARITY_TEXTS[0], LONG_TEXT],
        query_length=mv["query_length"],
        marker_id=mv["query_marker_id"],
        mask_token_id=mv["mask_token_id"],
        pad_id=pad_id,
        do_query_expansion=mv["do_query_expansion"],
        attend_to_expansion_tokens=mv["attend_to_expansion_tokens"],
        lowercase=lowercase,
    )
    # queries keep every row when expanding (the [MASK] rows carry signal), else the attended rows
    q_keep = (
        np.ones_like(q["attention_mask"], dtype=bool) if mv["do_query_expansion"] else q["attention_mask"] > 0
    )
    doc_len = min(mv["document_length"], 192)
    d = colbert_document_batch(
        tok,
        [PARITY_TEXTS[1], PARITY_TEXTS[0], LONG_TEXT],
        document_length=doc_len,
        marker_id=mv["document_marker_id"],
        pad_id=pad_id,
        lowercase=lowercase,
    )
    d1 = colbert_document_batch(
        tok,
        PARITY_TEXTS[4:5],
        document_length=doc_len,
        marker_id=mv["document_marker_id"],
        pad_id=pad_id,
        lowercase=lowercase,
    )
    return [
        ParityCase("queries3_expanded", q, q_keep, {"layout": "query"}),
        ParityCase("docs3_padded", d, d["attention_mask"] > 0, {"layout": "document"}),
        ParityCase("doc1", d1, d1["attention_mask"] > 0, {"layout": "document"}),
    ]


def torch_outputs(
    module: torch.nn.Module, cases: Sequence[ParityCase], input_names: Sequence[str]
) -> list[np.ndarray]:
    """Run the torch wrapper (fp32, eval, no grad) on every case."""
    import torch

    module.eval()
    out = []
    with torch.inference_mode():
        for case in cases:
            args = [torch.from_numpy(case.feeds[n]) for n in input_names]
            out.append(module(*args).float().numpy())
    return out


def onnx_outputs(
    onnx_path: str | Path, cases: Sequence[ParityCase], input_names: Sequence[str], output_name: str
) -> list[np.ndarray]:
    """Run the exported graph with onnxruntime (CPU) on every case."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    return [session.run([output_name], {n: c.feeds[n] for n in input_names})[0] for c in cases]


def _splade_pool(logits: np.ndarray, mask: np.ndarray, activation: str, aggregation: str) -> np.ndarray:
    w = np.log1p(np.maximum(logits, 0))
    if activation == "log1p_log1p_relu":
        w = np.log1p(w)
    w = w * mask[..., None]
    return w.sum(1) if aggregation == "sum" else w.max(1)


def _np_pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    m = mask[..., None].astype(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return np.where(m > 0, hidden, -1e9).max(1)
    if mode == "lasttoken":
        return hidden[np.arange(hidden.shape[0]), np.maximum(mask.sum(1) - 1, 0)]
    summed = (hidden * m).sum(1)
    count = np.maximum(m.sum(1), 1e-9)
    if mode == "mean_sqrt_len":
        return summed / np.sqrt(count)
    if mode == "weightedmean":
        w = m * np.arange(1, hidden.shape[1] + 1, dtype=hidden.dtype)[None, :, None]
        return (hidden * w).sum(1) / np.maximum(w.sum(1), 1e-9)
    return summed / count


def output_vectors(
    output_name: str, config: Mapping[str, Any]
) -> Callable[[np.ndarray, ParityCase], np.ndarray]:
    """Map a raw graph output to the vectors the runtime returns (for cosine figures)."""
    if output_name == "last_hidden_state":
        mode = config.get("dense", {}).get("pooling", "mean")
        return lambda out, case: _np_pool(out, case.feeds["attention_mask"], mode)
    if output_name == "token_embeddings":
        return lambda out, case: out[case.keep] if case.keep is not None else out.reshape(-1, out.shape[-1])
    if output_name == "logits":
        sp = config.get("sparse", {})
        act, agg = sp.get("activation", "log1p_relu"), sp.get("aggregation", "max")
        return lambda out, case: _splade_pool(out, case.feeds["attention_mask"], act, agg)
    # other outputs: one vector per row of the last axis (token-level outputs of any sequence length)
    return lambda out, case: out.reshape(-1, out.shape[-1]) if out.ndim > 2 else out


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    cos = (a * b).sum(-1) / np.maximum(na * nb, 1e-12)
    both_zero = (na < 1e-6) & (nb < 1e-6)
    return np.where(both_zero, 1.0, cos)


def check_floor(
    precision: str, figures: Mapping[str, float], floor: Mapping[str, float] | None = None
) -> list[str]:
    """The floor violations (empty when the figures pass)."""
    floor = FLOORS[precision] if floor is None else floor
    bad = []
    for key, limit in floor.items():
        value = figures[key]
        ok = value <= limit if key.endswith("diff") else value >= limit
        if not ok or not np.isfinite(value):
            bad.append(f"{key}={value:.6g} (floor {'<=' if key.endswith('diff') else '>='} {limit})")
    return bad


def run_parity(
    reference: Sequence[np.ndarray],
    onnx_path: str | Path,
    cases: Sequence[ParityCase],
    *,
    input_names: Sequence[str],
    output_name: str,
    config: Mapping[str, Any],
    precision: str,
    floor: Mapping[str, float] | None = None,
    reference_name: str = "torch fp32",
    raise_on_fail: bool = True,
    label: str = "",
) -> dict[str, Any]:
    """Compare ``onnx_path`` against ``reference`` outputs; return the parity record (raise on failure)."""
    got = onnx_outputs(onnx_path, cases, input_names, output_name)
    to_vectors = output_vectors(output_name, config)
    per_case, all_cos, max_abs, abs_sum, abs_n = [], [], 0.0, 0.0, 0
    for case, ref, out in zip(cases, reference, got, strict=True):
        if ref.shape != out.shape:
            raise ParityError(
                f"{label}onnx output {output_name} has shape {out.shape}, torch {ref.shape} "
                f"on case {case.name}"
            )
        if not np.all(np.isfinite(out)):
            raise ParityError(f"{label}onnx output {output_name} has NaN/inf on case {case.name}")
        diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
        cos = _cosines(to_vectors(ref, case), to_vectors(out, case))
        all_cos.append(cos)
        max_abs = max(max_abs, float(diff.max()))
        abs_sum += float(diff.sum())
        abs_n += diff.size
        per_case.append(
            {**case.describe(), "max_abs_diff": float(diff.max()), "min_cosine": float(cos.min())}
        )
    cos_all = np.concatenate(all_cos)
    figures = {
        "max_abs_diff": max_abs,
        "mean_abs_diff": abs_sum / max(abs_n, 1),
        "min_cosine": float(cos_all.min()),
        "mean_cosine": float(cos_all.mean()),
    }
    floor = dict(FLOORS[precision] if floor is None else floor)
    bad = check_floor(precision, figures, floor)
    record = parity_record(
        reference=reference_name,
        metric_output=output_name,
        tolerance=floor,
        cases=per_case,
        passed=not bad,
        precision=precision,
        **figures,
    )
    if bad and raise_on_fail:
        raise ParityError(
            f"{label}exported graph does not match the torch model at precision {precision}: {', '.join(bad)}. "
            "No artifact was written."
        )
    return record
