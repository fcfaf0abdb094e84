"""Fast smoke run of benchmarks/ttm_train_eval.py (1 epoch on a subsample, no results file).

The full run (a few minutes; MASE on held-out tails) is ``python benchmarks/ttm_train_eval.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from ts_fixtures import require_export

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ttm_train_eval.py"

pytestmark = pytest.mark.filterwarnings("ignore")


def test_train_export_evaluate_smoke(tmp_path):
    require_export()
    pytest.importorskip("statsmodels")
    spec = importlib.util.spec_from_file_location("ttm_train_eval", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "q.json"
    result = module.main(["--smoke", "--out", str(out), "--artifact", str(tmp_path / "art")])
    assert not out.exists()  # smoke runs never overwrite the published results
    assert result["parity_max_abs_diff"] < 1e-4
    assert result["training"]["epochs"] == 1
    assert len(result["series"]) >= 4
    for row in result["series"]:
        assert np.isfinite(row["mase"]) and row["mase"] > 0 and np.isfinite(row["rel_mae_vs_snaive"])
    assert (tmp_path / "art" / "tessera.json").is_file()
