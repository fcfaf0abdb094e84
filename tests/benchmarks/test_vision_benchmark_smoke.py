"""benchmarks/vision_speed.py in --quick mode on a few images, so that it cannot rot.

The full benchmark (SigLIP base shapes, ~10 min on 2 cores): python benchmarks/vision_speed.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))


@pytest.mark.export
def test_vision_speed_quick(tmp_path):
    pytest.importorskip("PIL")
    pytest.importorskip("sentencepiece")
    pytest.importorskip("transformers")
    from benchmarks import vision_speed

    out = tmp_path / "vision_speed.json"
    argv = [
        "--quick",
        "--images",
        "4",
        "--rounds",
        "1",
        "--latency-n",
        "1",
        "--cold-rounds",
        "0",
        "--work",
        str(tmp_path / "work"),
        "--out",
        str(out),
    ]
    result = vision_speed.main(argv)
    saved = json.loads(out.read_text())
    assert saved["images_per_s"]["tessera"] > 0 and saved["images_per_s"]["torch"] > 0
    assert saved["cosine_tessera_vs_torch"]["min"] > 0.9999
    assert saved["machine"]["loadavg_start"] and result["rounds"] == 1
    assert "images/s" in out.with_suffix(".md").read_text()
