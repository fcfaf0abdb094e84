"""Portable canonical graphs and onnxruntime-specific variants of an artifact's graphs.

Every artifact ships *canonical* graphs made only of standard ``ai.onnx`` operators (opset >= 17),
so any ONNX runtime loads them: the plain export for fp32, its float16 conversion for fp16, and
for int8 onnxruntime's dynamic quantisation of the plain graph (``DynamicQuantizeLinear`` +
``MatMulInteger``, profile :data:`PORTABLE_INT8`). Graphs that only onnxruntime runs (the
transformer optimizer's fused ``com.microsoft`` operators, the ``split`` int8 profile's
``QAttention``/``FastGelu``, 8-bit block-wise ``MatMulNBits``) are written beside them as the
variant :data:`ORT_VARIANT`, recorded in the manifest's ``variants`` with the runtime they need.
The runtime loads the variant when its onnxruntime can, else the canonical graph
(:mod:`tessera_onnx.backends`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .precision import INT8_PROFILES

__all__ = [
    "ORT_RUNTIME",
    "ORT_VARIANT",
    "PORTABLE_DOMAINS",
    "PORTABLE_INT8",
    "GraphPair",
    "build_graph_pair",
    "ops_domains",
    "portable_int8_settings",
    "variant_file_name",
    "variants_manifest",
    "write_variant",
]

ORT_VARIANT = "onnxruntime"
ORT_RUNTIME = "onnxruntime>=1.17"
ORT_PROVIDERS = ("CPUExecutionProvider", "CUDAExecutionProvider")
PORTABLE_DOMAINS = frozenset({"", "ai.onnx"})
# int8 in standard operators: dynamic quantisation of the plain graph's MatMuls (per output channel),
# weights in 7 bits (``reduce_range``): u8 x s8 kernels without VNNI (onnxruntime's AVX2 MatMulInteger)
# add pairs of 8-bit products in saturating int16, and a portable graph runs on any CPU. Tiny SigLIP2
# image tower, AVX2: min cosine to fp32 0.913 with 8-bit weights, 0.9998 with 7-bit.
PORTABLE_INT8: dict[str, Any] = {
    **INT8_PROFILES["dynamic"],
    "op_types_to_quantize": ["MatMul"],
    "reduce_range": True,
}


def portable_int8_settings(base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (default: :data:`PORTABLE_INT8`) restricted to what standard operators express.

    Dynamic quantisation only: ``Attention`` is an onnxruntime operator, so it is dropped from
    ``op_types_to_quantize``; calibrated splits and block-wise weights are removed.
    """
    cfg = dict(PORTABLE_INT8 if base is None else base)
    cfg["method"] = "dynamic"
    cfg["reduce_range"] = True
    cfg["op_types_to_quantize"] = [
        op for op in cfg.get("op_types_to_quantize", ["MatMul"]) if op != "Attention"
    ]
    for key in ("outlier_split", "approximate_gelu", "excluded_as_nbits"):
        cfg.pop(key, None)
    return cfg


def ops_domains(path: str | Path) -> list[str]:
    """The operator domains the nodes of an ONNX file use (``"ai.onnx"`` for the default domain)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    domains = {node.domain or "ai.onnx" for node in model.graph.node}
    return sorted(domains)


def variant_file_name(canonical: str) -> str:
    """``model.onnx`` -> ``model.ort.onnx``: where the onnxruntime variant of a graph is written."""
    stem = canonical[: -len(".onnx")] if canonical.endswith(".onnx") else canonical
    return f"{stem}.ort.onnx"


@dataclass
class GraphPair:
    """One graph at the artifact's precision: the canonical file and, when there is one, its variant."""

    canonical: Path
    record: dict[str, Any]
    conversion: dict[str, Any] = field(default_factory=dict)
    variant: Path | None = None
    variant_record: dict[str, Any] | None = None
    variant_conversion: dict[str, Any] = field(default_factory=dict)
    variant_note: str = ""


def build_graph_pair(
    plain: Path,
    fused: Path | None,
    precision: str,
    work_dir: Path,
    name: str,
    *,
    plain_record: dict[str, Any],
    fused_record: dict[str, Any] | None,
    convert_portable: Callable[[Path, Path], dict[str, Any]],
    convert_variant: Callable[[Path, Path], dict[str, Any]] | None,
    check: Callable[[Path, str, bool], dict[str, Any]],
) -> GraphPair:
    """Make the canonical graph (from ``plain``) and the onnxruntime variant (from ``fused`` or ``plain``).

    fp32: canonical = ``plain``; the variant is ``fused`` when given. fp16/int8: the canonical is
    ``convert_portable(plain)`` (checked strictly by ``check(path, precision, True)``); the variant
    is ``convert_variant(fused or plain)`` (checked with ``strict=False``; dropped, with the reason in
    ``variant_note``, when it misses its floor). A variant whose graph uses only standard operators
    is dropped as redundant.
    """
    if precision == "fp32":
        pair = GraphPair(plain, plain_record, variant=fused, variant_record=fused_record)
    else:
        canonical = work_dir / f"{name}.{precision}.portable.onnx"
        conversion = convert_portable(plain, canonical)
        fp32 = plain_record
        record = check(canonical, precision, True)
        record["fp32_graph"] = {k: fp32[k] for k in ("max_abs_diff", "mean_abs_diff", "min_cosine")}
        pair = GraphPair(canonical, record, conversion)
        if convert_variant is not None:
            src = fused if fused is not None else plain
            out = work_dir / f"{name}.{precision}.ort.onnx"
            try:
                pair.variant_conversion = convert_variant(src, out)
                pair.variant, pair.variant_record = out, check(out, precision, False)
            except Exception as exc:  # noqa: BLE001 - a variant only accelerates; the canonical graph stands
                pair.variant_note = f"{type(exc).__name__}: {exc}"
                pair.variant = None
    if pair.variant is not None:
        if pair.variant_record is not None and not pair.variant_record.get("passed", True):
            pair.variant_note = f"parity {pair.variant_record.get('max_abs_diff', float('nan')):.3g} missed"
            pair.variant = None
        elif set(ops_domains(pair.variant)) <= {"ai.onnx"}:
            pair.variant_note = "standard operators only: same as the canonical graph"
            pair.variant = None
    return pair


def write_variant(pair: GraphPair, final: Path) -> dict[str, Any]:
    """Write ``pair``'s variant beside the canonical graph ``final``; return its ``config.export`` entry.

    The entry holds ``file``, ``ops_domains``, the graph summary, the conversion and parity figures;
    without a variant it is ``{"skipped": reason}`` (empty when there was nothing to skip).
    """
    from .onnx_export import graph_summary, write_final_graph

    if pair.variant is None:
        return {"skipped": pair.variant_note} if pair.variant_note else {}
    path = final.with_name(variant_file_name(final.name))
    write_final_graph(pair.variant, path)
    info: dict[str, Any] = {"file": path.name, "ops_domains": ops_domains(path), **graph_summary(path)}
    if pair.variant_conversion:
        info["precision_conversion"] = pair.variant_conversion
    if pair.variant_record is not None:
        keys = (
            "max_abs_diff",
            "mean_abs_diff",
            "min_cosine",
            "mean_cosine",
            "min_correlation",
            "min_kendall_tau",
        )
        info["parity"] = {k: pair.variant_record[k] for k in keys if k in pair.variant_record}
    return info


def variants_manifest(written: dict[str, dict[str, Any]], description: str) -> dict[str, Any]:
    """The manifest's ``variants`` block from :func:`write_variant` entries keyed by canonical file.

    Only graphs that got a variant count; none at all gives ``{}`` (portable graphs, no variant).
    """
    files = {canonical: info["file"] for canonical, info in written.items() if info.get("file")}
    if not files:
        return {}
    domains = {d for canonical in files for d in written[canonical]["ops_domains"]}
    return {
        ORT_VARIANT: {
            "graphs": dict(files),
            "runtime": ORT_RUNTIME,
            "providers": list(ORT_PROVIDERS),
            "ops_domains": sorted(domains | {"ai.onnx"}),
            "description": description,
        }
    }
