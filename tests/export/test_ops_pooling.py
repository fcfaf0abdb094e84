"""Pooling / normalisation ops against the sentence-transformers and torch formulas."""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx.ops import l2_normalize, layer_norm, pool, truncate_dim

torch = pytest.importorskip("torch")
st_models = pytest.importorskip("sentence_transformers.models")

MODES = ["cls", "mean", "max", "mean_sqrt_len", "weightedmean", "lasttoken"]
_ST_FLAGS = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}


def _batch(seed: int, b: int = 5, t: int = 9, d: int = 7, left: bool = False):
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=(b, t, d)).astype(np.float32) - 2.0  # mostly negative: tests max's -1e9
    lengths = rng.integers(1, t + 1, size=b)
    lengths[0] = t
    mask = np.zeros((b, t), dtype=np.int64)
    for i, n in enumerate(lengths):
        if left:
            mask[i, t - n :] = 1
        else:
            mask[i, :n] = 1
    return hidden, mask


def _st_pool(hidden, mask, modes):
    flags = {flag: (mode in modes) for mode, flag in _ST_FLAGS.items()}
    module = st_models.Pooling(hidden.shape[-1], **flags)
    features = {"token_embeddings": torch.from_numpy(hidden.copy()), "attention_mask": torch.from_numpy(mask)}
    return module(features)["sentence_embedding"].numpy()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("left", [False, True])
def test_pooling_matches_sentence_transformers(mode, left):
    hidden, mask = _batch(0, left=left)
    np.testing.assert_allclose(pool(hidden, mask, mode), _st_pool(hidden, mask, [mode]), rtol=1e-5, atol=1e-5)


def test_several_modes_concatenate_in_st_order():
    hidden, mask = _batch(1)
    modes = ["mean", "cls", "max"]
    np.testing.assert_allclose(pool(hidden, mask, modes), _st_pool(hidden, mask, modes), rtol=1e-5, atol=1e-5)


def test_padding_does_not_change_pooling():
    hidden, mask = _batch(2, b=1, t=6)
    mask[:, 4:] = 0
    short = pool(hidden[:, :4], mask[:, :4], "mean")
    for mode in MODES:
        np.testing.assert_allclose(
            pool(hidden, mask, mode), pool(hidden[:, :4], mask[:, :4], mode), atol=1e-6
        )
    assert short.shape == (1, 7)


def test_unknown_mode_and_bad_shapes():
    hidden, mask = _batch(3)
    with pytest.raises(ValueError):
        pool(hidden, mask, "median")
    with pytest.raises(ValueError):
        pool(hidden, mask[:, :3], "mean")


def test_l2_normalize_matches_torch_and_keeps_zero_rows():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 11)).astype(np.float32)
    x[2] = 0
    x[3] = 1e-20
    ref = torch.nn.functional.normalize(torch.from_numpy(x), dim=-1).numpy()
    got = l2_normalize(x)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert np.all(np.isfinite(got)) and not got[2].any()
    inplace = x.copy()
    l2_normalize(inplace, out=inplace)
    np.testing.assert_allclose(inplace, ref, atol=1e-6)


def test_layer_norm_matches_torch():
    x = np.random.default_rng(5).normal(size=(4, 16)).astype(np.float32) * 3
    ref = torch.nn.functional.layer_norm(torch.from_numpy(x), (16,), eps=1e-5).numpy()
    np.testing.assert_allclose(layer_norm(x), ref, atol=1e-5)


def test_truncate_dim_renormalises():
    x = l2_normalize(np.random.default_rng(6).normal(size=(3, 8)).astype(np.float32))
    t = truncate_dim(x, 4)
    assert t.shape == (3, 4) and t.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(t, l2_normalize(x[:, :4]), atol=1e-7)
    np.testing.assert_allclose(truncate_dim(x, 4, renormalize=False), x[:, :4])
    assert truncate_dim(x, None, renormalize=False) is x
    with pytest.raises(ValueError):
        truncate_dim(x, 9)
