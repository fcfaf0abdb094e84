"""Parity against colpali-engine itself (its current release, run in its own venv with transformers 5).

Tiny random checkpoints are SAVED BY colpali-engine (``ColIdefics3``, ``ColPali``, ``ColQwen2``;
full saves and PEFT LoRA adapters over a colpali-engine base), exported with one
``build_artifact`` call each, and compared with colpali-engine's processor, model and
``score_multi_vector`` on one batch of pages of mixed sizes and one batch of queries holding each
family's special tokens. Tolerances: token ids and Qwen2-VL grids identical, pixels within 1e-5
(colpali-engine with transformers' PIL image processor), vectors within 1e-4, scores within 1e-3.

The reference venv is built by ``scripts/reference_venv.sh colpali`` (benchmarks/.venvs/colpali,
or the python named by ``$TESSERA_COLPALI_PYTHON``); without it these tests skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("PIL")

from tessera_export.pages.against import reference_python, run_colpali_engine  # noqa: E402

PYTHON = reference_python()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PYTHON is None,
        reason="no colpali-engine reference venv: run scripts/reference_venv.sh colpali "
        "(or set TESSERA_COLPALI_PYTHON)",
    ),
]
FAMILIES = ("idefics3", "paligemma", "qwen2_vl")
CASES = [(f, layout) for f in FAMILIES for layout in ("full", "lora")]


def _seed(export_cache, family: str) -> Path:
    from tiny_page_models import write_tiny_colidefics3, write_tiny_colpali
    from tiny_qwen2_models import write_tiny_colqwen2

    writers = {
        "idefics3": write_tiny_colidefics3,
        "paligemma": write_tiny_colpali,
        "qwen2_vl": write_tiny_colqwen2,
    }
    return export_cache.get(f"ce-seed-{family}", writers[family])


@pytest.fixture(scope="module", params=CASES, ids=[f"{f}-{layout}" for f, layout in CASES])
def engine_save(request, export_cache):
    """(family, layout, the directory to export: a colpali-engine save or its adapter)."""
    family, layout = request.param
    seed = _seed(export_cache, family)

    def save(out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        args = ["save", family, str(seed), str(out)] + (["--lora"] if layout == "lora" else [])
        run_colpali_engine(PYTHON, args)

    root = export_cache.get(f"ce-{family}-{layout}", save)
    return family, layout, root / "adapter" if layout == "lora" else root


@pytest.fixture(scope="module")
def engine_artifact(engine_save, export_cache):
    from tessera_export import build_artifact

    family, layout, ckpt = engine_save
    name = f"ce-art-{family}-{layout}"
    return export_cache.get(
        name, lambda out: build_artifact(ckpt, out, model_id=name, against="colpali-engine")
    )


def test_published_layout_exports_with_one_command_and_records_the_reference(engine_save, engine_artifact):
    family, layout, _ = engine_save
    manifest = json.loads((engine_artifact / "tessera.json").read_text())
    assert manifest["source"]["layout"] == (
        "colpali-engine adapter" if layout == "lora" else "colpali-engine"
    )
    report = manifest["parity"]["colpali_engine"]
    assert report["reference"].startswith("colpali-engine 0.3.18 (transformers 5.")
    assert report["reference_versions"]["colpali_engine"] == "0.3.18"
    assert report["ids_equal"] and report["grids_equal"] and report["passed"]
    assert report["max_abs_diff_pixels"] <= 1e-5
    assert report["max_abs_diff_vectors"] <= 1e-4
    assert report["max_abs_diff_scores"] <= 1e-3
    assert manifest["config"]["pages"]["colpali_engine"] == ">=0.3.13"


def test_rendered_pages_and_special_token_queries_match(engine_save, engine_artifact, tmp_path):
    from tessera_export.pages.against import compare_with_colpali_engine
    from tessera_export.pages.build import AGAINST_QUERIES
    from tiny_page_models import rendered_page

    family, _, ckpt = engine_save
    paths = []
    for i, (w, h) in enumerate(((612, 792), (900, 250), (120, 150), (64, 64))):
        paths.append(tmp_path / f"p{i}.png")
        rendered_page(w, h, i).save(paths[-1])
    queries = [*AGAINST_QUERIES[family], "quarterly revenue", "Zürich — naïve café (résumé) #42"]
    report = compare_with_colpali_engine(engine_artifact, ckpt, paths, queries)
    assert report["ids_equal"] and report["grids_equal"], report
    assert report["max_abs_diff_pixels"] <= 1e-5, report
    assert report["max_abs_diff_vectors"] <= 1e-4, report
    assert report["max_abs_diff_scores"] <= 1e-3, report


def test_cli_verify_against_colpali_engine(engine_save, engine_artifact):
    from click.testing import CliRunner
    from tessera_export.cli import main

    family, layout, ckpt = engine_save
    if layout != "full":
        pytest.skip("one CLI run per family")
    result = CliRunner().invoke(
        main,
        [
            "verify",
            str(engine_artifact),
            "--against",
            "colpali-engine",
            "--from-dir",
            str(ckpt),
            "--json",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["colpali_engine"]
    assert report["passed"] and np.isfinite(report["max_abs_diff_vectors"])
