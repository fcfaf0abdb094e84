"""Tiny random TinyTimeMixer checkpoints and artifacts for the time-series tests (offline, seeded).

Built once per test session (``functools.lru_cache``) under one temporary directory that is
removed at exit. ``require_export()`` skips a test when torch / granite-tsfm are missing.

Variants (all context 64, patch 8, prediction 16, d_model 16, adaptive patching 2 levels):

- ``plain``: common_channel, std scaling, any channel count;
- ``freq``: ``resolution_prefix_tuning=True``, frequency vocabulary 10 (the r2.1 "ft" layout);
- ``mix``: ``mode="mix_channel"`` with 3 fixed channels;
- ``filter``: prediction 16 with ``prediction_filter_length=12``;
- ``attn``: patch mixers with self-attention; ``sigmoid_gate``: a sigmoid gate instead of softmax
  (both keep granite-tsfm's transposed patch mixer in the export).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache, lru_cache
from pathlib import Path

import pytest
from committed_artifacts import committed

CONTEXT = 64
PREDICTION = 16
PATCH = 8
D_MODEL = 16

VARIANTS = {
    "plain": {},
    "freq": {"resolution_prefix_tuning": True, "frequency_token_vocab_size": 10},
    "mix": {"mode": "mix_channel", "num_input_channels": 3},
    "filter": {"prediction_filter_length": 12},
    # patch mixers the export keeps in granite-tsfm's own (transposed) form
    "attn": {"self_attn": True, "self_attn_heads": 2},
    "sigmoid_gate": {"gate_mode": "sigmoid"},
}


def require_export() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import importlib.util
    import sys

    if "tsfm_public" not in sys.modules and importlib.util.find_spec("tsfm_public") is None:
        pytest.skip("granite-tsfm is not installed (pip install --no-deps granite-tsfm==0.3.11)")


@lru_cache(maxsize=1)
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="tessera-ts-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@cache
def tiny_model(variant: str):
    """The torch ``TinyTimeMixerForPrediction`` of a variant (eval mode, seeded)."""
    require_export()
    import torch
    from tessera_export.timeseries import load_tsfm

    modeling = load_tsfm()
    torch.manual_seed(1234)
    cfg = modeling.TinyTimeMixerConfig(
        context_length=CONTEXT,
        patch_length=PATCH,
        patch_stride=PATCH,
        prediction_length=PREDICTION,
        d_model=D_MODEL,
        num_layers=2,
        decoder_d_model=8,
        decoder_num_layers=2,
        adaptive_patching_levels=2,
        **VARIANTS[variant],
    )
    return modeling.TinyTimeMixerForPrediction(cfg).eval()


@cache
def tiny_checkpoint(variant: str) -> Path:
    path = workdir() / f"ckpt-{variant}"
    tiny_model(variant).save_pretrained(path)
    return path


COMMITTED = ("plain", "freq")  # tests/data/artifacts/tiny-ttm-<variant>: no torch needed


@cache
def tiny_artifact(variant: str) -> Path:
    """The variant's artifact: a copy of the committed one (``plain``, ``freq``), else exported now
    with ``build_timeseries_artifact`` (parity-checked; needs torch and granite-tsfm)."""
    out = workdir() / f"artifact-{variant}"
    if variant in COMMITTED:
        shutil.copytree(committed(f"tiny-ttm-{variant}"), out)
        return out
    require_export()
    from tessera_export.timeseries import build_timeseries_artifact

    build_timeseries_artifact(
        tiny_checkpoint(variant), out, spec=None, model_id=f"tiny-ttm-{variant}", progress=lambda _m: None
    )
    return out


def torch_forward(variant: str, values, mask=None, freq_token=None):
    """Run the torch reference; returns ``(prediction_outputs, backbone_hidden_state)`` numpy."""
    import numpy as np
    import torch

    model = tiny_model(variant)
    pv = torch.tensor(np.asarray(values), dtype=torch.float32)
    pm = None if mask is None else torch.tensor(np.asarray(mask), dtype=torch.float32)
    ft = None if freq_token is None else torch.tensor(np.asarray(freq_token), dtype=torch.long)
    with torch.no_grad():
        out = model(past_values=pv, past_observed_mask=pm, freq_token=ft, return_loss=False, return_dict=True)
    return out.prediction_outputs.numpy(), out.backbone_hidden_state.numpy()
