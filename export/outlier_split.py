"""Outlier-channel split of the FFN output projections, so that they can run in int8.

The input of a transformer's FFN output projection (``GELU(h @ W1 + b1)``) has a few channels
with activations many times larger than the rest (all-MiniLM-L6-v2: one channel at 24.6 where the
next is 6.4). Dynamic int8 quantisation uses one scale per activation tensor, so those channels
set the step for all 1,536 of them; quantising the projection as it is costs the most quality of
any layer (mean cosine 0.9937 to fp32 with every MatMul int8 vs 0.9968 with the FFN-out layers
kept fp32), while keeping it fp32 leaves 40 % of the int8 model's time in fp32 GEMMs.

This module finds the outlier channels ``O`` of each FFN-out input on calibration batches
(channel max ``|x|`` above ``ratio`` × the 90th percentile of the channel maxima) and rewrites

    y = GELU(h @ W1 + b1) @ W2

as ``GELU(h @ W1' + b1') @ W2  +  GELU(h @ W1[:, O] + b1[O]) @ W2[O]``, where ``W1'``/``b1'``
have the ``O`` columns zeroed (so those channels are exactly ``GELU(0) = 0`` in the big
product). The big product is then quantised like every other MatMul; the side branch (``k``
channels, two thin fp32 GEMMs) is kept in fp32. The sum is the fp32 function exactly (no
approximation before quantisation), and no full-width tensor is copied or gathered.

Patterns handled (others are left as they are): ``MatMul(h, W1) → BiasGelu(·, b1) → MatMul(·, W2)``
(onnxruntime's fused BERT graphs) and ``MatMul(h, W1) → Add(·, b1) → Gelu → MatMul(·, W2)``, with
constant ``W1``, ``b1``, ``W2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FfnSite", "find_ffn_sites", "split_outlier_channels"]


@dataclass(frozen=True)
class FfnSite:
    """One FFN: the input ``h``, the up projection, its bias and activation, the down projection."""

    h: str  # input tensor of the up projection
    up: str  # MatMul node name (h @ W1)
    w1: str
    b1: str
    act: str  # BiasGelu or Gelu node name
    act_op: str
    bias_add: str | None  # the Add node before a plain Gelu
    x: str  # the activation tensor (input of the down projection)
    down: str  # MatMul node name (x @ W2)
    w2: str


def find_ffn_sites(model: Any) -> list[FfnSite]:
    """The FFN blocks of ``model`` (an ``onnx.ModelProto``) that match a handled pattern."""
    inits = {i.name for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    sites = []
    for down in model.graph.node:
        if down.op_type != "MatMul" or down.input[1] not in inits:
            continue
        act = producer.get(down.input[0])
        if act is None:
            continue
        bias_add = None
        if act.op_type == "BiasGelu" and act.input[1] in inits:
            pre, b1 = act.input[0], act.input[1]
        elif act.op_type == "Gelu":
            add = producer.get(act.input[0])
            if add is None or add.op_type != "Add":
                continue
            const = [i for i in add.input if i in inits]
            if len(const) != 1:
                continue
            b1, pre, bias_add = const[0], next(i for i in add.input if i not in inits), add.name
        else:
            continue
        up = producer.get(pre)
        if up is None or up.op_type != "MatMul" or up.input[1] not in inits:
            continue
        sites.append(
            FfnSite(
                h=up.input[0],
                up=up.name,
                w1=up.input[1],
                b1=b1,
                act=act.name,
                act_op=act.op_type,
                bias_add=bias_add,
                x=down.input[0],
                down=down.name,
                w2=down.input[1],
            )
        )
    return sites


def _channel_maxima(
    src: Path, sites: Sequence[FfnSite], calibration: Sequence[Mapping[str, Any]]
) -> np.ndarray:
    """``max |x|`` per channel of every site's activation over the calibration batches' real tokens."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(src))
    for s in sites:
        model.graph.output.append(onnx.helper.make_tensor_value_info(s.x, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the probed tensors
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    maxima: list[np.ndarray | None] = [None] * len(sites)
    for feeds in calibration:
        outs = sess.run([s.x for s in sites], {k: feeds[k] for k in names})
        mask = np.asarray(feeds["attention_mask"]).astype(bool) if "attention_mask" in feeds else None
        for j, o in enumerate(outs):
            rows = (
                o[mask]
                if mask is not None and o.shape[: mask.ndim] == mask.shape
                else o.reshape(-1, o.shape[-1])
            )
            m = np.abs(rows).max(axis=0) if len(rows) else np.zeros(o.shape[-1], np.float32)
            maxima[j] = m if maxima[j] is None else np.maximum(maxima[j], m)
    return np.stack([m for m in maxima if m is not None])


def split_outlier_channels(
    src: str | Path,
    dst: str | Path,
    calibration: Sequence[Mapping[str, Any]],
    *,
    ratio: float = 2.0,
) -> dict[str, Any]:
    """Write ``src`` with its FFN outlier channels split off into ``dst`` (weights in ``dst``.data).

    Returns ``{"sites", "int8_down", "fp32_nodes", "channels"}``: how many FFNs matched, the down
    projections now safe to quantise, the side-branch nodes to keep in fp32, and the number of
    outlier channels per FFN.
    """
    import onnx
    from onnx import helper, numpy_helper

    src, dst = Path(src), Path(dst)
    model = onnx.load(str(src))
    sites = find_ffn_sites(model)
    info: dict[str, Any] = {
        "sites": len(sites),
        "ratio": ratio,
        "int8_down": [],
        "fp32_nodes": [],
        "channels": [],
    }
    if not sites:
        onnx.save(model, str(dst), save_as_external_data=True, location=dst.name + ".data")
        return info
    maxima = _channel_maxima(src, sites, calibration)
    inits = {i.name: i for i in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}
    for site, cmax in zip(sites, maxima, strict=True):
        info["int8_down"].append(site.down)
        outliers = np.flatnonzero(cmax > ratio * np.percentile(cmax, 90))
        info["channels"].append(int(len(outliers)))
        if len(outliers) == 0:
            continue
        w1 = numpy_helper.to_array(inits[site.w1]).copy()
        b1 = numpy_helper.to_array(inits[site.b1]).copy()
        w2 = numpy_helper.to_array(inits[site.w2])
        p = site.down
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(np.ascontiguousarray(w1[:, outliers]), f"{p}/outliers/W1"),
                numpy_helper.from_array(np.ascontiguousarray(b1[outliers]), f"{p}/outliers/b1"),
                numpy_helper.from_array(np.ascontiguousarray(w2[outliers]), f"{p}/outliers/W2"),
            ]
        )
        w1[:, outliers] = 0.0
        b1[outliers] = 0.0
        # fresh names: the originals may be shared with other nodes
        inits_new = [
            numpy_helper.from_array(w1, f"{site.w1}/no_outliers"),
            numpy_helper.from_array(b1, f"{site.b1}/no_outliers"),
        ]
        model.graph.initializer.extend(inits_new)
        up, act, down = nodes[site.up], nodes[site.act], nodes[site.down]
        up.input[1] = inits_new[0].name
        if site.bias_add is None:
            act.input[1] = inits_new[1].name
        else:
            add = nodes[site.bias_add]
            add.input[list(add.input).index(site.b1)] = inits_new[1].name
        y = down.output[0]
        down.output[0] = f"{p}/no_outliers_output"
        pre, xo, yo = f"{p}/outliers/pre", f"{p}/outliers/x", f"{p}/outliers/y"
        branch = [helper.make_node("MatMul", [site.h, f"{p}/outliers/W1"], [pre], name=f"{p}/outliers/up")]
        if site.act_op == "BiasGelu":
            branch.append(
                helper.make_node(
                    "BiasGelu",
                    [pre, f"{p}/outliers/b1"],
                    [xo],
                    name=f"{p}/outliers/act",
                    domain="com.microsoft",
                )
            )
        else:
            gelu = nodes[site.act]
            branch += [
                helper.make_node("Add", [pre, f"{p}/outliers/b1"], [f"{pre}_b"], name=f"{p}/outliers/bias"),
                helper.make_node(
                    "Gelu", [f"{pre}_b"], [xo], name=f"{p}/outliers/act", domain=gelu.domain, **_attrs(gelu)
                ),
            ]
        branch += [
            helper.make_node("MatMul", [xo, f"{p}/outliers/W2"], [yo], name=f"{p}/outliers/down"),
            helper.make_node("Add", [down.output[0], yo], [y], name=f"{p}/outliers/sum"),
        ]
        at = list(model.graph.node).index(down) + 1
        for k, node in enumerate(branch):
            model.graph.node.insert(at + k, node)
        info["fp32_nodes"] += [f"{p}/outliers/up", f"{p}/outliers/down"]
    used = {i for n in model.graph.node for i in n.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    onnx.save(model, str(dst), save_as_external_data=True, location=dst.name + ".data")
    return info


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}
