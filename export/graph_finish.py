"""The end of an encoder export, shared by the text and cross-encoder exporters.

From the plain ``torch.onnx`` graph: try onnxruntime's transformer optimizer (its fused graph kept
only when it passes fp32 parity), make the canonical graph at the artifact's precision (standard
operators only) and the onnxruntime variant (:mod:`tessera_export.variants`), check their parity,
and write ``model.onnx`` (+ ``model.ort.onnx``). The paradigm supplies
``parity(path, precision, raise_on_fail=True)``, which returns its parity record (``passed``,
``max_abs_diff``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .onnx_export import graph_summary, optimize_transformer, write_final_graph
from .precision import convert_precision, quantize_int8
from .progress import Progress
from .variants import build_graph_pair, portable_int8_settings, variants_manifest, write_variant

__all__ = ["finish_encoder_graph", "portable_precision"]

Parity = Callable[..., dict[str, Any]]


def portable_precision(src: Path, dst: Path, precision: str) -> dict[str, Any]:
    """``src`` at ``precision`` in standard operators only (fp16 conversion, or portable dynamic int8)."""
    if precision == "int8":
        return {"profile": "portable", **quantize_int8(src, dst, portable_int8_settings())}
    return convert_precision(src, dst, precision)


def finish_encoder_graph(
    raw: Path,
    final: Path,
    work_dir: Path,
    *,
    parity: Parity,
    precision: str,
    optimize: bool,
    num_heads: int,
    hidden_size: int,
    int8_profile: str | None,
    calibration: Sequence[Mapping[str, Any]],
    progress: Progress,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Write ``final`` (and its variant) from ``raw``; return ``(parity record, config["export"], variants)``."""
    progress("checking fp32 parity of the exported graph")
    fp32_record = parity(raw, "fp32")
    fused: Path | None = None
    fused_record: dict[str, Any] | None = None
    graph_info: dict[str, Any] = {
        "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
        "optimized": False,
    }
    if optimize:
        progress("running onnxruntime transformer optimizer (fused attention / LayerNorm / GELU)")
        opt_path = work_dir / "model.opt.onnx"
        try:
            opt_info = optimize_transformer(raw, opt_path, num_heads=num_heads, hidden_size=hidden_size)
            opt_record = parity(opt_path, "fp32", raise_on_fail=False)
        except Exception as exc:  # the optimizer is an accelerator, never a reason to fail
            opt_info, opt_record = {"error": f"{type(exc).__name__}: {exc}"}, None
        if opt_record is not None and opt_record["passed"]:
            fused, fused_record = opt_path, opt_record  # the onnxruntime variant's source
            graph_info.update(optimized=True, optimizer=opt_info)
        else:
            reason = opt_info.get("error") or f"parity {opt_record and opt_record['max_abs_diff']:.3g}"
            progress(f"optimized graph rejected ({reason}); keeping the plain export")
            graph_info.update(optimizer={**opt_info, "rejected": reason})
    if precision != "fp32":
        progress(f"converting weights to {precision} (portable graph and onnxruntime variant)")
    pair = build_graph_pair(
        raw,
        fused,
        precision,
        work_dir,
        "model",
        plain_record=fp32_record,
        fused_record=fused_record,
        convert_portable=lambda src, dst: portable_precision(src, dst, precision),
        convert_variant=None
        if fused is None
        else lambda src, dst: convert_precision(
            src, dst, precision, int8_profile=int8_profile, calibration=calibration
        ),
        check=lambda path, prec, strict: parity(path, prec, raise_on_fail=strict),
    )
    write_final_graph(pair.canonical, final)
    if pair.conversion:
        graph_info["precision_conversion"] = pair.conversion
    written = write_variant(pair, final)
    if written:
        graph_info["variant"] = written
    variants = variants_manifest(
        {final.name: written},
        "onnxruntime's fused transformer graph"
        + (f", int8 profile {int8_profile or 'default'}" if precision == "int8" else ""),
    )
    graph_info.update(graph_summary(final))
    return pair.record, graph_info, variants
