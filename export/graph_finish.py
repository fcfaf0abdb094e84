"""The end of an encoder export, shared by the text and cross-encoder exporters.

From the plain ``torch.onnx`` graph: try onnxruntime's transformer optimizer (kept only when it
passes fp32 parity), convert to the artifact's precision, check its parity, and write
``model.onnx``. The paradigm supplies ``parity(path, precision, raise_on_fail)``, which returns
its parity record (``passed``, ``max_abs_diff``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .onnx_export import graph_summary, optimize_transformer, write_final_graph
from .precision import convert_precision
from .progress import Progress

__all__ = ["finish_encoder_graph"]

Parity = Callable[..., dict[str, Any]]


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
    fp32_keys: Sequence[str] = ("max_abs_diff", "mean_abs_diff"),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``final`` from ``raw``; return ``(parity record, graph info for config["export"])``.

    The record of a reduced precision carries the fp32 graph's ``fp32_keys`` as ``fp32_graph``.
    """
    progress("checking fp32 parity of the exported graph")
    fp32_record = parity(raw, "fp32")
    graph = raw
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
            graph, fp32_record = opt_path, opt_record
            graph_info.update(optimized=True, optimizer=opt_info)
        else:
            reason = opt_info.get("error") or f"parity {opt_record and opt_record['max_abs_diff']:.3g}"
            progress(f"optimized graph rejected ({reason}); keeping the plain export")
            graph_info.update(optimizer={**opt_info, "rejected": reason})
    if precision == "fp32":
        write_final_graph(graph, final)
        record = fp32_record
    else:
        progress(f"converting weights to {precision}")
        converted = work_dir / f"model.{precision}.onnx"
        graph_info["precision_conversion"] = convert_precision(
            graph, converted, precision, int8_profile=int8_profile, calibration=calibration
        )
        write_final_graph(converted, final)
        progress(f"checking {precision} parity against the fp32 torch model")
        record = parity(final, precision)
        record["fp32_graph"] = {k: fp32_record[k] for k in fp32_keys}
    graph_info.update(graph_summary(final))
    return record, graph_info
