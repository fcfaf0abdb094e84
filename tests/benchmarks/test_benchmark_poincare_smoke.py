"""The reconstruction benchmark (benchmarks/poincare_reconstruction.py) in --quick mode, so it cannot rot.

A generated tree replaces WordNet; gensim joins when it is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))


def test_quick_mammals_and_nouns_parts(tmp_path):
    from benchmarks import poincare_reconstruction as bench

    out = tmp_path / "m.json"
    res = bench.main(["--quick", "--epochs", "8", "--out", str(out)])
    assert json.loads(out.read_text())["runs"] == res["runs"]
    assert {(r["manifold"], r["dim"]) for r in res["runs"]} == {
        (m, d) for m in ("poincare", "euclidean") for d in (2, 5)
    }
    assert all(0 < r["map"] <= 1 and r["mean_rank"] >= 1 for r in res["runs"])
    assert "| dim |" in out.with_suffix(".md").read_text()
    rounds = res["gensim"]["rounds"]
    assert len(rounds) == 1 and rounds[0]["ours"]["map"] > 0
    if rounds[0]["gensim"] is not None:  # gensim counts the node itself as a closer non-neighbour
        g = rounds[0]["gensim"]
        assert abs(g["gensim_evaluator"]["mean_rank"] - (g["mean_rank"] + 1)) < 1e-9
    nouns = tmp_path / "n.json"
    args = ["--quick", "--part", "nouns", "--dim", "3", "--epochs", "12", "--eval-every", "6"]
    table = tmp_path / "table.npy"
    res = bench.main(
        [*args, "--lr-final", "0.05", "--negatives", "4", "--save-table", str(table), "--out", str(nouns)]
    )
    assert np.load(table).shape == (res["data"]["nodes"], 3)
    assert [e["epoch"] for e in res["evals"]] == [6, 12]
    assert res["evals"][0]["lr"] == 0.1 * res["lr"] and 0.05 <= res["evals"][1]["lr"] < res["lr"]
    assert res["final"]["eval_nodes"] == res["data"]["nodes"] - 1  # all nodes but the root
    assert res["config"]["negatives"] == 4
    assert "nouns, poincare, dim 3" in nouns.with_suffix(".md").read_text()


def test_quick_train_speed_against_a_git_revision(tmp_path):
    import shutil
    import subprocess

    import pytest

    if shutil.which("git") is None or subprocess.run(["git", "-C", str(ROOT), "rev-parse"]).returncode:
        pytest.skip("needs a git checkout to read the earlier trainer from")
    from benchmarks import poincare_train_speed as speed

    out = tmp_path / "s.json"
    res = speed.main(["--quick", "--before", "HEAD", "--negatives", "3", "--out", str(out)])
    assert [(r["negatives"], r["round"]) for r in res["rows"]] == [(3, 0)]
    assert all(res["rows"][0][f"{w}_{u}"] > 0 for w in ("before", "current") for u in ("s", "cpu_s"))
    assert (
        "| 3 |" in out.with_suffix(".md").read_text() and "CPU speed-up" in out.with_suffix(".md").read_text()
    )
