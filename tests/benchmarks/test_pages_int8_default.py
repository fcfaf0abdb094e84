"""The page int8 default follows the measured result: benchmarks/results/pages_int8_text.json.

That file is ``python benchmarks/pages_int8.py --real-text`` (the page int8 profiles on trained
all-MiniLM-L6-v2 token vectors, MaxSim). The exporter's ``DEFAULT_PAGES_INT8_PROFILE`` must be the
first profile, in ``PAGES_INT8_PROFILES`` order, whose recorded figures meet ``PAGES_INT8_FLOOR``:
changing the floor, the profiles or the default without re-running the benchmark fails here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "benchmarks" / "results" / "pages_int8_text.json"
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def measured() -> dict:
    return json.loads(RESULT.read_text(encoding="utf-8"))


def test_result_matches_the_constants(measured):
    from tessera_export.pages import PAGES_INT8_FLOOR, PAGES_INT8_PROFILES

    assert measured["floor"] == PAGES_INT8_FLOOR
    assert list(measured["profiles"]) == list(PAGES_INT8_PROFILES)
    assert measured["machine"]["model"] and measured["passages"] >= 100 and measured["queries"] >= 50


def test_default_is_the_first_profile_meeting_the_floor(measured):
    from tessera_export.pages import DEFAULT_PAGES_INT8_PROFILE, PAGES_INT8_FLOOR, PAGES_INT8_PROFILES

    def meets(figures: dict) -> bool:
        return "export_refused" not in figures and all(figures[k] >= v for k, v in PAGES_INT8_FLOOR.items())

    first = next(name for name in PAGES_INT8_PROFILES if meets(measured["profiles"][name]))
    assert first == measured["recommended_default"] == DEFAULT_PAGES_INT8_PROFILE
    for name, figures in measured["profiles"].items():
        assert figures["meets_floor"] == meets(figures), name


def test_ranking_agreement_figures():
    """The ranking figures on hand-made score matrices (exact values)."""
    import numpy as np

    from benchmarks.pages_int8 import ranking_agreement

    ref = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    same = ranking_agreement(ref, ref + 5.0, k=2)
    assert same == pytest.approx(
        {
            "top1_agreement": 1.0,
            "min_top2_overlap": 1.0,
            "mean_top2_overlap": 1.0,
            "min_spearman": 1.0,
            "mean_spearman": 1.0,
            "min_kendall_tau": 1.0,
            "mean_kendall_tau": 1.0,
        },
        abs=1e-12,
    )
    swapped = ranking_agreement(ref, np.array([[2.0, 3.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0]]), k=2)
    assert swapped["top1_agreement"] == 0.0
    assert swapped["min_top2_overlap"] == 0.0 and swapped["mean_top2_overlap"] == 0.5
    # one swapped pair of 6: tau = (5 - 1) / 6; Spearman = 1 - 6 * 2 / (4 * 15) = 0.8
    assert swapped["mean_kendall_tau"] == pytest.approx(((4 / 6) + -1.0) / 2, abs=1e-12)
    assert swapped["min_spearman"] == pytest.approx(-1.0, abs=1e-12)
    assert swapped["mean_spearman"] == pytest.approx((0.8 - 1.0) / 2, abs=1e-12)
