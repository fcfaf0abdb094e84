"""Old names keep working for one release, with a DeprecationWarning that names the new one."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("tessera_onnx.embedders.dense", "tessera_onnx.text.dense", "TesseraDense"),
        ("tessera_onnx.embedders.multi_vector", "tessera_onnx.text.multi_vector", "TesseraMultiVector"),
        ("tessera_onnx.embedders.sparse", "tessera_onnx.text.sparse", "TesseraSparse"),
        ("tessera_onnx.embedders.image_text", "tessera_onnx.vision.embedder", "TesseraImageText"),
        ("tessera_onnx.embedders.pages", "tessera_onnx.pages.embedder", "TesseraPages"),
        ("tessera_onnx.embedders.factory", "tessera_onnx.factory", "Tessera"),
        ("tessera_onnx.embedders.base", "tessera_onnx.text.base", "TextEmbedder"),
    ],
)
def test_moved_modules_warn_and_alias(old, new, name):
    for mod in [m for m in sys.modules if m.startswith("tessera_onnx.embedders")]:
        del sys.modules[mod]
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_factory_table_alias_warns():
    from tessera_onnx import factory

    with pytest.warns(DeprecationWarning, match="tessera_onnx.paradigms"):
        table = factory.PARADIGM_CLASSES
    assert table["dense"] == ("tessera_onnx.text.dense", "TesseraDense")


def test_timeseries_embed_and_dim_warn():
    import numpy as np
    from ts_fixtures import tiny_artifact

    from tessera_onnx import TesseraTimeSeries

    ts = TesseraTimeSeries(tiny_artifact("plain"), device="cpu", threads=1)
    series = np.sin(np.arange(ts.context_length, dtype=np.float32) / 5)
    with pytest.warns(DeprecationWarning, match="encode"):
        old = ts.embed(series)
    np.testing.assert_array_equal(old, ts.encode(series))
    with pytest.warns(DeprecationWarning, match="dimension"):
        assert ts.dim == ts.dimension == old.shape[-1]


def test_hyperbolic_dim_warns(tmp_path):
    import numpy as np

    from tessera_onnx import HyperbolicEmbedder
    from tessera_onnx.hyperbolic.artifact import write_artifact
    from tessera_onnx.hyperbolic.hierarchy import transitive_closure

    tree = transitive_closure([("a", "root"), ("b", "root")])
    write_artifact(tmp_path / "h", tree, np.full((tree.n_nodes, 3), 0.1))
    emb = HyperbolicEmbedder(tmp_path / "h")
    with pytest.warns(DeprecationWarning, match="dimension"):
        assert emb.dim == emb.dimension == 3
