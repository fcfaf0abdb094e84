"""Export of page-retrieval models (ColPali family, paradigm ``pages``): two graphs, parity per graph and end to end.

``build_pages_artifact(source_dir, out_dir)`` asks the family's plan module (:data:`PAGE_PLANS`)
for the two torch graphs, the manifest block and the reference, then:

1. prepares fixed parity pages (synthetic page images of three sizes / aspect ratios, so the
   tile or patch counts differ) and queries **with the runtime's own family code**, so the
   parity feeds are exactly what the runtime will feed;
2. exports ``vision.onnx`` (pixels → image features) and checks it against torch;
3. exports ``language.onnx`` (ids, mask, image features → vectors) and checks it on a query
   batch (no image features) and a page batch mixing page sizes;
4. runs both graphs end to end against the full reference model on the processor's input
   layout, and records the figures (max abs diff of the kept vectors, MaxSim score diff);
5. optionally converts both graphs to int8 (weights per channel) and records their cosine to
   the fp32 reference.

Weights always go to external ``.data`` files beside the graphs (needed over 2 GB).
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.artifact import Manifest
from tessera_onnx.errors import ExportError, ParityError
from tessera_onnx.ops.maxsim import maxsim_scores
from tessera_onnx.pages.family import PageFamily, PreparedPage, family_class
from tessera_onnx.pages.tokens import PromptTokenizer, pad_ids
from tessera_onnx.registry import ModelSpec

from ..artifact_writer import ArtifactStage
from ..onnx_export import DEFAULT_OPSET, export_graph, graph_summary, write_final_graph
from ..parity import PARITY_TEXTS, ParityCase, run_parity, torch_outputs
from ..precision import FLOORS, INT8_PROFILES, quantize_int8
from ..progress import Progress, silent
from ..variants import GraphPair, build_graph_pair, portable_int8_settings, variants_manifest, write_variant
from ..versions import collect_versions
from .common import PagesExportPlan
from .layouts import open_page_checkpoint

__all__ = [
    "build_pages_artifact",
    "pages_int8_pair",
    "PAGE_PLANS",
    "PAGES_INT8_SETTINGS",
    "PAGES_INT8_PROFILES",
    "DEFAULT_PAGES_INT8_PROFILE",
    "PAGES_INT8_FLOOR",
    "parity_pages",
    "PAGE_MODEL_TYPES",
]

# HF model_type -> (plan module, plan function)
PAGE_PLANS: dict[str, tuple[str, str]] = {
    "idefics3": ("tessera_export.pages.idefics3", "plan_idefics3"),
    "colpali": ("tessera_export.pages.paligemma", "plan_colpali"),
    "colqwen2": ("tessera_export.pages.qwen2vl", "plan_qwen2vl"),
}
PAGE_MODEL_TYPES = tuple(PAGE_PLANS)
# int8 for both graphs: every MatMul and the token-embedding Gather, weights per output channel
PAGES_INT8_SETTINGS: dict[str, Any] = {
    **INT8_PROFILES["dynamic"],  # no calibration inputs here
    "op_types_to_quantize": ["MatMul", "Gather"],
    "exclude_patterns": [],
}
# Named int8 profiles of page artifacts (``--int8-profile``). The default is chosen by the floor
# PAGES_INT8_FLOOR with benchmarks/pages_int8.py on trained weights: the first profile in this
# order whose token-vector cosine and ranking agreement with the fp32 artifact meet it.
PAGES_INT8_PROFILES: dict[str, dict[str, Any]] = {
    # int8 weights and dynamically quantised activations everywhere (MatMulInteger, int8 Gather)
    "dynamic": PAGES_INT8_SETTINGS,
    # every MatMul as 8-bit block-wise weights (int8 compute on per-block activations): closer to
    # fp32, the embedding table stays fp32
    "blockwise": dict(INT8_PROFILES["blockwise"]),
}
# By the floor below, measured with benchmarks/pages_int8.py --real-text (the profiles applied to the
# plain graph of trained all-MiniLM-L6-v2 token vectors, MaxSim, 300 peer-corpus queries x 700
# passages; benchmarks/results/pages_int8_text.json): "dynamic" misses it (the runtime then loads the
# portable graph: token cosine min 0.47, mean 0.983, top-1 agreement 0.89), "blockwise" meets it
# (min 0.9958, mean 0.9996, top-1 0.99, mean top-10 overlap 0.95), so "blockwise" is the default.
# The random tiny ColIdefics3 (--tiny) only checks the plumbing. The profile sets the onnxruntime
# variant; the canonical int8 graph is the portable dynamic form (export/variants.py).
DEFAULT_PAGES_INT8_PROFILE = "blockwise"
# What an int8 page artifact must keep against its fp32 artifact (benchmarks/pages_int8.py); the
# reasoning is in docs/pages-parity.md, int8.
PAGES_INT8_FLOOR: dict[str, float] = {
    "min_cosine_tokens": 0.98,  # every kept token vector, pages and queries (the export's int8 floor)
    "mean_cosine_tokens": 0.995,  # the text exporter's int8 mean floor
    "top1_agreement": 0.95,  # share of queries whose best page is the fp32 artifact's best page
    "mean_top10_overlap": 0.9,  # of the fp32 top ten, on average at most one replaced per query
    "min_spearman": 0.9,  # per query, rank correlation of the page scores
}
# fp32 tolerances of the end-to-end check (issue acceptance: vectors 1e-4, scores 1e-3)
E2E_VECTOR_TOLERANCE = 1e-4
E2E_SCORE_TOLERANCE = 1e-3


def pages_int8_pair(
    raw: Path,
    fused: Path | None,
    precision: str,
    work_dir: Path,
    label: str,
    profile: str,
    *,
    plain_record: dict[str, Any],
    fused_record: dict[str, Any] | None,
    check: Callable[[Path, str, bool], dict[str, Any]],
) -> GraphPair:
    """One graph of a page artifact at ``precision``: canonical graph and onnxruntime variant.

    int8: the canonical graph is the portable dynamic form of :data:`PAGES_INT8_SETTINGS`, the
    variant is ``fused`` (or ``raw``) converted with ``PAGES_INT8_PROFILES[profile]``; see
    :func:`tessera_export.variants.build_graph_pair` for when the variant is dropped.
    ``benchmarks/pages_int8.py --real-text`` applies this same conversion to a text encoder.
    """
    return build_graph_pair(
        raw,
        fused,
        precision,
        work_dir,
        label,
        plain_record=plain_record,
        fused_record=fused_record,
        convert_portable=lambda s, d: quantize_int8(s, d, portable_int8_settings(PAGES_INT8_SETTINGS)),
        convert_variant=lambda s, d: {
            "profile": profile,
            **quantize_int8(s, d, PAGES_INT8_PROFILES[profile]),
        },
        check=check,
    )


class PageCase(ParityCase):
    """A parity batch of any feeds (pixels or ids); described by its input shapes."""

    def describe(self) -> dict[str, Any]:
        """Name and the shape of every feed."""
        return {"name": self.name, "shapes": {k: list(v.shape) for k, v in self.feeds.items()}, **self.meta}


def parity_images() -> list[Any]:
    """Three synthetic RGB pages (portrait 612×792, landscape 900×300, small square 120×120), seeded."""
    from PIL import Image

    rng = np.random.default_rng(20261129)
    images = []
    for w, h in ((612, 792), (900, 300), (120, 120)):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) % 256)], -1)
        noise = rng.integers(-40, 40, size=(h, w, 3))
        images.append(Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)))
    return images


def parity_pages(family: PageFamily) -> list[PreparedPage]:
    """:func:`parity_images` prepared by the runtime family (so the tile / patch counts differ)."""
    return [
        family.prepare_page(image, i, f"parity{image.width}x{image.height}", None)
        for i, image in enumerate(parity_images())
    ]


def write_parity_images(directory: Path) -> list[Path]:
    """:func:`parity_images` as PNG files in ``directory`` (lossless: both sides decode the same pixels)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for image in parity_images():
        path = directory / f"parity{image.width}x{image.height}.png"
        image.save(path)
        paths.append(path)
    return paths


def _plan(model_type: str, source_dir: Path, stage: Path, **options: Any) -> PagesExportPlan:
    module_name, func = PAGE_PLANS[model_type]
    return getattr(importlib.import_module(module_name), func)(source_dir, stage, **options)


def _language_feeds(
    family: PageFamily, ids: Sequence[np.ndarray], pages: Sequence[PreparedPage] | None, features: np.ndarray
) -> dict[str, np.ndarray]:
    input_ids, mask = pad_ids(ids, family.config.pad_token_id, family.padding_side)
    feeds = {"input_ids": input_ids, "attention_mask": mask, family.config.image_features_input: features}
    feeds.update(family.language_extra_feeds(input_ids, mask, pages))
    return feeds


def _kept(out: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    return [out[i][mask[i] > 0] for i in range(len(out))]


def _end_to_end(
    plan: PagesExportPlan,
    family: PageFamily,
    vision_path: Path,
    language_path: Path,
    pages: Sequence[PreparedPage],
    queries: Sequence[np.ndarray],
    graph_batch: int = 4,
) -> dict[str, Any]:
    """onnxruntime vision → language vs the full torch reference: vectors and MaxSim scores."""
    import onnxruntime as ort

    cfg = family.config
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    vision = ort.InferenceSession(str(vision_path), opts, providers=["CPUExecutionProvider"])
    language = ort.InferenceSession(str(language_path), opts, providers=["CPUExecutionProvider"])
    feats = np.concatenate(
        [
            vision.run([cfg.vision_output], dict(f))[0].reshape(-1, cfg.hidden_size)
            for f in family.vision_calls(pages, graph_batch)
        ]
    )
    empty = np.zeros((0, cfg.hidden_size), np.float32)
    page_feeds = _language_feeds(family, [p.input_ids for p in pages], pages, feats)
    query_feeds = _language_feeds(family, list(queries), None, empty)
    got_pages = language.run([cfg.language_output], page_feeds)[0]
    got_queries = language.run([cfg.language_output], query_feeds)[0]
    ref_pages = plan.reference(pages, page_feeds["input_ids"], page_feeds["attention_mask"])
    ref_queries = plan.reference(None, query_feeds["input_ids"], query_feeds["attention_mask"])
    a_p, b_p = _kept(got_pages, page_feeds["attention_mask"]), _kept(ref_pages, page_feeds["attention_mask"])
    a_q, b_q = (
        _kept(got_queries, query_feeds["attention_mask"]),
        _kept(ref_queries, query_feeds["attention_mask"]),
    )
    vec = max(float(np.abs(x - y).max()) for x, y in zip(a_p + a_q, b_p + b_q, strict=True))
    cos = min(
        float(
            (
                (x * y).sum(-1) / np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-12)
            ).min()
        )
        for x, y in zip(a_p + a_q, b_p + b_q, strict=True)
    )
    score = float(np.abs(maxsim_scores(a_q, a_p) - maxsim_scores(b_q, b_p)).max())
    return {
        "reference": plan.reference_name,
        "pages": [
            {"name": p.name, "grid": [p.grid.rows, p.grid.cols], "image_tokens": p.grid.image_tokens}
            for p in pages
        ],
        "queries": len(queries),
        "max_abs_diff_vectors": vec,
        "min_cosine_vectors": cos,
        "max_abs_diff_scores": score,
    }


def _fused_vision(
    raw: Path, work_dir: Path, encoder: tuple[int, int], record: dict[str, Any], check: Any
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """The vision graph fused by onnxruntime's optimizer if parity still holds, else the plain one."""
    import types

    from ..vision import _optimize_tower  # the SigLIP/CLIP tower fusion of the vision paradigm

    heads, hidden = encoder
    fused, optimizer = _optimize_tower(
        raw,
        work_dir / "vision.opt.onnx",
        types.SimpleNamespace(num_attention_heads=heads, hidden_size=hidden),
    )
    if fused == raw:
        return raw, record, optimizer
    fused_record = check(fused)
    optimizer["parity_unfused"] = {k: record[k] for k in ("max_abs_diff", "min_cosine")}
    if fused_record["passed"]:
        return fused, fused_record, optimizer
    optimizer["rejected"] = f"parity max_abs_diff {fused_record['max_abs_diff']:.3g}"
    return raw, record, optimizer


# queries of the colpali-engine check: plain, and with each family's special tokens in the text
AGAINST_QUERIES = {
    "idefics3": (
        "What is the capital of France?",
        "revenue <end_of_utterance> table",
        "<|im_start|>a red box",
    ),
    "paligemma": ("What is the capital of France?", "see <image> here", "revenue <bos> table"),
    "qwen2_vl": ("What is the capital of France?", "revenue <|vision_start|> table", "<|im_start|>a red box"),
}


def _checked_against_colpali_engine(
    staged: Path,
    manifest: Manifest,
    checkpoint: Path,
    work_dir: Path,
    python: str | None,
    progress: Progress,
) -> Manifest:
    """Compare the staged artifact with colpali-engine; the report goes into ``parity.colpali_engine``."""
    import dataclasses

    from ..artifact_writer import finalize_artifact
    from .against import compare_with_colpali_engine

    finalize_artifact(staged, manifest)
    images = write_parity_images(work_dir / "against")
    family = manifest.config["pages"]["family"]
    progress(
        f"comparing with colpali-engine on {len(images)} pages and {len(AGAINST_QUERIES[family])} queries"
    )
    report = compare_with_colpali_engine(
        staged, checkpoint, images, AGAINST_QUERIES[family], python=python, raise_on_fail=True
    )
    progress(
        f"colpali-engine: vectors max abs {report['max_abs_diff_vectors']:.2e}, scores {report['max_abs_diff_scores']:.2e}"
    )
    parity = {**manifest.parity, "colpali_engine": report}
    return dataclasses.replace(manifest, parity=parity)


def build_pages_artifact(
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
    colpali_engine: str | None = None,
    image_size: int | None = None,
    optimize: bool = True,
    against: str | None = None,
    reference_python: str | None = None,
    int8_profile: str | None = None,
) -> Manifest:
    """Export a ColPali-family checkpoint directory into a ``pages`` artifact (two graphs + manifest).

    ``colpali_engine``: which colpali-engine revision's prompts the checkpoint was trained with
    (default: the family's newest). ``image_size``: the default speed–quality knob of the
    artifact (Idefics3: longest edge in px; default: the processor's). ``precision``: ``fp32``
    or ``int8`` (both graphs quantised; parity is then a cosine floor against fp32 torch).
    ``optimize``: ship a SigLIP-like vision graph as fused by onnxruntime's transformer optimizer
    (kept only where parity holds; the manifest records what was fused or why it was not).
    ``int8_profile``: with ``precision="int8"``, a name in :data:`PAGES_INT8_PROFILES` (default
    :data:`DEFAULT_PAGES_INT8_PROFILE`).
    ``against="colpali-engine"``: also compare the staged artifact with colpali-engine itself on
    ``source_dir`` (:func:`tessera_export.pages.against.compare_with_colpali_engine`, run under
    ``reference_python`` or the repository's ``benchmarks/.venvs/colpali``); the figures, reference
    name and versions go into the manifest's ``parity.colpali_engine``; a mismatch writes nothing.
    """
    import shutil

    source_dir = Path(source_dir)
    if precision not in ("fp32", "int8"):
        raise ExportError(f"page-retrieval artifacts are exported as fp32 or int8, not {precision!r}")
    profile = int8_profile or DEFAULT_PAGES_INT8_PROFILE
    if profile not in PAGES_INT8_PROFILES:
        raise ExportError(
            f"unknown page int8 profile {profile!r}; choose one of {sorted(PAGES_INT8_PROFILES)}"
        )
    if int8_profile is not None and precision != "int8":
        raise ExportError("--int8-profile goes with --precision int8")
    if against not in (None, "colpali-engine"):
        raise ExportError(
            f"against={against!r}: the page-retrieval reference tessera-export runs is 'colpali-engine'"
        )
    if against and precision != "fp32":
        raise ExportError(
            "--against colpali-engine checks fp32 artifacts (int8 is checked by cosine to fp32)"
        )
    model_id = model_id or (spec.id if spec else None) or source_dir.resolve().name.lower()
    with ArtifactStage(out_dir, overwrite=overwrite) as stage, tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        checkpoint = open_page_checkpoint(source_dir, work_dir, progress)
        model_type = checkpoint.model_type
        if model_type not in PAGE_PLANS:
            raise ExportError(
                f"{source_dir}: model_type {model_type!r} is not a page-retrieval family tessera-export "
                f"supports {PAGE_MODEL_TYPES}"
            )
        options: dict[str, Any] = {"image_size": image_size}
        if colpali_engine:
            options["colpali_engine"] = colpali_engine
        elif checkpoint.layout != "transformers":  # a colpali-engine save: the current release's semantics
            options["colpali_engine"] = ">=0.3.13"
        progress(f"loading {source_dir} ({checkpoint.layout}, {model_type})")
        source_dir = checkpoint.directory
        plan = _plan(model_type, source_dir, stage.path, **options)
        cfg = plan.pages
        for name in ("preprocessor_config.json", "processor_config.json"):
            if (source_dir / name).is_file():
                shutil.copyfile(source_dir / name, stage.path / name)
        family = family_class(cfg.family)(cfg, PromptTokenizer(stage.path / "tokenizer.json"))
        pages = parity_pages(family)
        queries = [family.query_ids(t) for t in PARITY_TEXTS[:3]]
        vision_cases = [
            PageCase(f"vision{i}", dict(f)) for i, f in enumerate(family.vision_calls(pages[:2], 4))
        ]
        vision_cases = vision_cases[:3]
        progress("running the torch vision graph")
        vision_ref = torch_outputs(plan.vision, vision_cases, list(cfg.vision_inputs))
        all_feats = np.concatenate(
            [
                o.reshape(-1, cfg.hidden_size)
                for o in torch_outputs(
                    plan.vision,
                    [PageCase("all", dict(f)) for f in family.vision_calls(pages, 4)],
                    list(cfg.vision_inputs),
                )
            ]
        )
        empty = np.zeros((0, cfg.hidden_size), np.float32)
        language_cases = [
            PageCase(
                "pages3_mixed_sizes", _language_feeds(family, [p.input_ids for p in pages], pages, all_feats)
            ),
            PageCase("queries3", _language_feeds(family, queries, None, empty)),
        ]
        language_ref = torch_outputs(plan.language, language_cases, list(cfg.language_inputs))
        language_axes = dict(plan.language_axes) or {
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            cfg.image_features_input: {0: "image_rows"},
            cfg.language_output: {0: "batch", 1: "sequence"},
        }
        graphs: dict[str, Any] = {}
        parity: dict[str, Any] = {"reference": plan.reference_name, "graphs": {}}
        paths: dict[str, Path] = {}
        variant_info: dict[str, dict[str, Any]] = {}
        for label, module, cases, ref, inputs, output, axes, file in (
            (
                "vision",
                plan.vision,
                vision_cases,
                vision_ref,
                cfg.vision_inputs,
                cfg.vision_output,
                plan.vision_axes,
                cfg.vision_model_file,
            ),
            (
                "language",
                plan.language,
                language_cases,
                language_ref,
                cfg.language_inputs,
                cfg.language_output,
                language_axes,
                cfg.language_model_file,
            ),
        ):
            raw = work_dir / f"{label}.raw.onnx"
            progress(f"exporting the {label} graph (opset {opset})")
            export_graph(module, cases[0].feeds, list(inputs), output, raw, opset=opset, dynamic_axes=axes)
            record = run_parity(
                ref,
                raw,
                cases,
                input_names=list(inputs),
                output_name=output,
                config={},
                precision="fp32",
                label=f"{label} graph: ",
            )
            optimizer: dict[str, Any] = {}
            fused, fused_record = raw, record
            if label == "vision" and plan.vision_encoder and optimize:
                fused, fused_record, optimizer = _fused_vision(
                    raw,
                    work_dir,
                    plan.vision_encoder,
                    record,
                    check=lambda path, r=ref, c=cases, i=inputs, o=output: run_parity(
                        r,
                        path,
                        c,
                        input_names=list(i),
                        output_name=o,
                        config={},
                        precision="fp32",
                        raise_on_fail=False,
                        label="vision graph: ",
                    ),
                )
                progress(f"vision graph: onnxruntime optimizer {optimizer.get('fused_operators', optimizer)}")
            # the fused vision graph (if any) becomes the onnxruntime variant; the plain one is canonical
            pair = pages_int8_pair(
                raw,
                fused if fused != raw else None,
                precision,
                work_dir,
                label,
                profile,
                plain_record=record,
                fused_record=fused_record if fused != raw else None,
                check=lambda path, prec, strict, r=ref, c=cases, i=inputs, o=output, lb=label: run_parity(
                    r,
                    path,
                    c,
                    input_names=list(i),
                    output_name=o,
                    config={},
                    precision=prec,
                    label=f"{lb} graph: ",
                    raise_on_fail=strict and prec == "fp32",  # int8: the end-to-end check decides
                ),
            )
            graph, record, conversion = pair.canonical, pair.record, pair.conversion
            paths[label] = graph
            final = stage.path / file
            write_final_graph(graph, final)
            variant_info[final.name] = write_variant(pair, final)
            parity["graphs"][label] = record
            graphs[label] = {
                "file": final.name,
                "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
                **({"optimizer": optimizer} if optimizer else {}),
                **({"precision_conversion": conversion} if conversion else {}),
                **({"variant": variant_info[final.name]} if variant_info[final.name] else {}),
                **graph_summary(final),
            }
            progress(
                f"{label} graph parity: max_abs_diff={record['max_abs_diff']:.3g}, min_cosine={record['min_cosine']:.6f}"
            )
        progress("end-to-end check against the full reference model")
        e2e = _end_to_end(plan, family, paths["vision"], paths["language"], pages, queries)
        parity["end_to_end"] = e2e
        if precision == "fp32":
            bad = (
                e2e["max_abs_diff_vectors"] > E2E_VECTOR_TOLERANCE
                or e2e["max_abs_diff_scores"] > E2E_SCORE_TOLERANCE
            )
            floor = dict(FLOORS["fp32"])
        else:
            bad = e2e["min_cosine_vectors"] < FLOORS["int8"]["min_cosine"]
            floor = dict(FLOORS["int8"])
        if bad:
            raise ParityError(
                f"end to end, the exported graphs do not match {plan.reference_name}: {e2e}. No artifact was written."
            )
        parity.update(
            max_abs_diff=max(g["max_abs_diff"] for g in parity["graphs"].values()),
            mean_abs_diff=max(g["mean_abs_diff"] for g in parity["graphs"].values()),
            min_cosine=min(
                min(g["min_cosine"] for g in parity["graphs"].values()), e2e["min_cosine_vectors"]
            ),
            mean_cosine=min(g["mean_cosine"] for g in parity["graphs"].values()),
            passed=True,
            precision=precision,
            tolerance={
                **floor,
                "end_to_end_vectors": E2E_VECTOR_TOLERANCE,
                "end_to_end_scores": E2E_SCORE_TOLERANCE,
            },
        )
        config = {"pages": cfg.to_dict(), "export": graphs}
        src = dict(source or {"type": "local", "path": str(checkpoint.source.resolve())})
        src.update(checkpoint.describe())
        manifest = Manifest(
            model_id=model_id,
            paradigm="pages",
            architecture=plan.architecture,
            dim=cfg.dim,
            inputs=tuple(dict.fromkeys((*cfg.vision_inputs, *cfg.language_inputs))),
            outputs=(cfg.vision_output, cfg.language_output),
            config=config,
            precision=precision,
            opset=int(graphs["language"].get("opset", opset)),
            model_file=cfg.language_model_file,
            parity=parity,
            versions=collect_versions(),
            source=src,
            variants=variants_manifest(variant_info, "onnxruntime's fused vision encoder"),
        )
        if against:
            manifest = _checked_against_colpali_engine(
                stage.path, manifest, checkpoint.source, work_dir, reference_python, progress
            )
        result = stage.commit(manifest)
    progress(f"artifact written to {Path(out_dir).resolve()}")
    return result
