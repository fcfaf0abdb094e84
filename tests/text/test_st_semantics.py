"""Same vectors as sentence-transformers for the same arguments; nomic-embed's layer-norm recipe.

Tolerances: 1e-5 absolute against sentence-transformers (fp32 onnxruntime vs torch).
"""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from tessera_onnx import Tessera, errors
from tessera_onnx.errors import UnsupportedDimensionError

TEXTS = ["A man is eating food.", "The cat sleeps on the sofa", "Stock markets fell sharply today", ""]


@pytest.fixture(scope="module")
def st_minilm(minilm_dir):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(minilm_dir), device="cpu")


@pytest.fixture(scope="module")
def minilm(minilm_artifact):
    return Tessera(minilm_artifact, device="cpu")


@pytest.mark.export
def test_normalize_false_keeps_the_models_normalize(minilm, st_minilm):
    ref = st_minilm.encode(TEXTS, normalize_embeddings=False)
    got = minilm.encode(TEXTS, normalize=False)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # main: norm ~6
    np.testing.assert_allclose(got, ref, atol=1e-5)
    np.testing.assert_allclose(Tessera(minilm.path, normalize=False).encode(TEXTS), ref, atol=1e-5)


@pytest.mark.export
def test_raw_pooled_is_the_pooling_output(minilm, st_minilm):
    from sentence_transformers import SentenceTransformer

    pooled_only = SentenceTransformer(modules=[st_minilm[0], st_minilm[1]], device="cpu")
    ref = pooled_only.encode(TEXTS, normalize_embeddings=False)
    np.testing.assert_allclose(minilm.encode(TEXTS, raw_pooled=True), ref, atol=1e-5)
    assert np.linalg.norm(ref[0]) > 2


@pytest.mark.export
@pytest.mark.parametrize("normalize", [False, True])
def test_any_dimension_like_truncate_dim(minilm, st_minilm, normalize):
    ref = st_minilm.encode(TEXTS, truncate_dim=100, normalize_embeddings=normalize)
    model = Tessera(minilm.path, device="cpu")
    with pytest.warns(errors.DimensionWarning, match="not trained for dimension 100"):
        got = model.encode(TEXTS, dimension=100, normalize=normalize)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.DimensionWarning)  # warned once per embedder and size
        default = model.encode(TEXTS, dimension=100)
    np.testing.assert_allclose(
        default, st_minilm.encode(TEXTS, truncate_dim=100, normalize_embeddings=True), atol=1e-5
    )  # default: a truncated normalising model is renormalised
    for bad in (0, 385, -1, 2.5, True):
        with pytest.raises(UnsupportedDimensionError, match="1..384"):
            model.encode(TEXTS, dimension=bad)


def test_encode_queries_documents_take_prompts(matryoshka_manifest_artifact, tiny_splade_artifact):
    model = Tessera(matryoshka_manifest_artifact)
    for method in (model.encode_queries, model.encode_documents):
        np.testing.assert_allclose(method(["cats"], prompt="x: "), model.encode(["x: cats"]), atol=1e-6)
        np.testing.assert_allclose(
            method(["cats"], prompt_name="classification"), model.encode(["classify: cats"]), atol=1e-6
        )
    sparse = Tessera(tiny_splade_artifact)
    assert sparse.encode_queries("cats", prompt="search: ") == sparse.encode("search: cats")
    assert sparse.encode_documents("cats", prompt="x: ") == sparse.encode("x: cats")


@pytest.fixture(scope="module")
def matryoshka_manifest_artifact(tiny_bert_dense_artifact, tmp_path_factory):
    return _edited(
        tiny_bert_dense_artifact,
        tmp_path_factory,
        "prompts",
        lambda m: m["config"]["text"].update(
            {
                "query_prefix": "query: ",
                "document_prefix": "passage: ",
                "prompts": {"classification": "classify: "},
            }
        ),
    )


def _edited(source, tmp_path_factory, name, edit):
    target = tmp_path_factory.mktemp(name) / "artifact"
    shutil.copytree(source, target)
    manifest = json.loads((target / "tessera.json").read_text())
    edit(manifest)
    (target / "tessera.json").write_text(json.dumps(manifest))
    return target


@pytest.fixture(scope="module")
def nomic_like_artifact(tiny_bert_dense_artifact, tmp_path_factory):
    """The tiny mean-pooling model with nomic-embed-text-v1.5's manifest settings."""

    def edit(m):
        m["config"]["dense"].update({"layer_norm": True, "normalize": True})
        m["matryoshka_dims"] = [m["dim"], 16, 8]

    return _edited(tiny_bert_dense_artifact, tmp_path_factory, "nomic", edit)


@pytest.mark.export
@pytest.mark.parametrize("dim", [None, 16, 12])
@pytest.mark.parametrize("normalize", [None, False, True])
def test_nomic_layer_norm_recipe(nomic_like_artifact, tiny_bert_dir, dim, normalize):
    """The nomic-embed-text-v1.5 model card: mean pooling, F.layer_norm (no affine, eps 1e-5),
    truncate, F.normalize — at the full dimension too."""
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("sentence_transformers")
    import torch.nn.functional as F

    model = st.SentenceTransformer(str(tiny_bert_dir), device="cpu")
    pooled_only = st.SentenceTransformer(modules=[model[0], model[1]], device="cpu")
    pooled = torch.from_numpy(pooled_only.encode(TEXTS, normalize_embeddings=False))
    ref = F.layer_norm(pooled, normalized_shape=(pooled.shape[1],), eps=1e-5)
    ref = F.normalize(ref[:, : dim or pooled.shape[1]], p=2, dim=1).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", errors.DimensionWarning)
        got = Tessera(nomic_like_artifact, device="cpu").encode(TEXTS, dimension=dim, normalize=normalize)
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.export
def test_export_records_matryoshka_dims_for_models_outside_the_registry(tiny_bert_dir, tmp_path):
    pytest.importorskip("torch")
    from click.testing import CliRunner
    from tessera_export.cli import main

    out = tmp_path / "art"
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--from-dir",
            str(tiny_bert_dir),
            "--out",
            str(out),
            "--paradigm",
            "dense",
            "--matryoshka-dims",
            "16,8",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "tessera.json").read_text())
    assert manifest["matryoshka_dims"] == [manifest["dim"], 16, 8]
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.DimensionWarning)  # a recorded size does not warn
        assert Tessera(out, dimension=8).encode("x").shape == (8,)
    bad = CliRunner().invoke(
        main,
        [
            "build",
            "--from-dir",
            str(tiny_bert_dir),
            "--out",
            str(tmp_path / "b"),
            "--matryoshka-dims",
            "16,x",
            "-q",
        ],
    )
    assert bad.exit_code != 0 and "matryoshka-dims" in bad.output
