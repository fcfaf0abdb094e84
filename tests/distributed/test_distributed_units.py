"""tessera_onnx.distributed without a Ray cluster: columns, shards, the output store, the batch embedder."""

from __future__ import annotations

import json
import random
import sys

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.distributed import Quantization, TesseraBatchEmbedder, quantization_from_schema  # noqa: E402
from tessera_onnx.distributed import shards as shards_mod  # noqa: E402
from tessera_onnx.distributed.columns import result_columns  # noqa: E402
from tessera_onnx.distributed.shards import expand_inputs, plan_shards, read_shard  # noqa: E402
from tessera_onnx.distributed.store import ShardStore  # noqa: E402
from tessera_onnx.errors import InvalidInputError, MissingDependencyError  # noqa: E402
from tessera_onnx.quantization import calibration_ranges, quantize  # noqa: E402
from tessera_onnx.sparse_embedding import SparseEmbedding  # noqa: E402

TEXTS = ["the cat sat on the mat", "", "dogs bark", "a much longer sentence about stock markets falling " * 2]


# ----------------------------------------------------------------------------- shards


@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_line_shards_start_where_their_lines_start(tmp_path, monkeypatch, chunk):
    """Every shard's byte offset is the start of its first line, for any chunking of the scan."""
    monkeypatch.setattr(shards_mod, "_CHUNK", chunk)
    rng = random.Random(chunk)
    for trial in range(40):
        lines = [
            "".join(rng.choice("ab é") for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 15))
        ]
        content = "\n".join(lines) + rng.choice(["", "\n"])
        lines = content.split("\n")[
            : content.count("\n") + (0 if content.endswith("\n") or not content else 1)
        ]
        path = tmp_path / f"t{trial}.txt"
        path.write_text(content, encoding="utf-8")
        for shard_rows in (1, 2, 5, 100):
            shards = plan_shards([path], shard_rows)
            assert [s.start for s in shards] == list(range(0, len(lines), shard_rows))
            assert (shards[-1].stop if shards else 0) == len(lines)
            got = [t for s in shards for t in read_shard(s, ["text"]).column("text").to_pylist()]
            assert got == [line for line in lines if line.strip()]  # blank lines skipped, order kept


def test_parquet_shards_cross_row_groups(tmp_path):
    table = pa.table({"id": [f"d{i}" for i in range(23)], "text": [f"text {i}" for i in range(23)]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=5)
    shards = plan_shards(expand_inputs(tmp_path), 7)
    assert [(s.start, s.stop) for s in shards] == [(0, 7), (7, 14), (14, 21), (21, 23)]
    rows = [read_shard(s, ["text", "id"]) for s in shards]
    assert sum((r.column("id").to_pylist() for r in rows), []) == table.column("id").to_pylist()
    assert rows[1].column("__row").to_pylist() == list(range(7, 14))
    with pytest.raises(InvalidInputError, match="no column"):
        read_shard(shards[0], ["body"])


def test_shard_ids_are_deterministic_and_distinct(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.jsonl", "sub/a.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(10)))
    (tmp_path / "_skip.jsonl").write_text('{"text": "hidden"}\n')
    first = plan_shards(expand_inputs(tmp_path), 4)
    again = plan_shards(expand_inputs([tmp_path / "sub" / "a.jsonl", tmp_path / "a.jsonl"]), 4)
    assert [s.shard_id for s in first] == [s.shard_id for s in again]
    assert len({s.shard_id for s in first}) == len(first) == 6
    (tmp_path / "x.csv").write_text("text\n")
    with pytest.raises(InvalidInputError, match="format"):
        expand_inputs(tmp_path / "x.csv")


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(InvalidInputError, match="line 2"):
        read_shard(plan_shards([path], 10)[0], ["text"])


# ----------------------------------------------------------------------------- columns


def test_dense_and_quantized_columns():
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    cols, meta = result_columns(x, 5)
    assert meta == {} and cols["embedding"].type == pa.list_(pa.float32(), 12)
    np.testing.assert_array_equal(np.stack(cols["embedding"].to_numpy(zero_copy_only=False)), x)
    cols, meta = result_columns(x, 5, Quantization("ubinary"))
    got = np.stack(cols["embedding"].to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(got, quantize(x, "ubinary").data)
    record = quantization_from_schema(pa.schema([], metadata=meta))
    assert record == {"scheme": "ubinary", "ranges": None, "dim": 12}
    ranges = calibration_ranges(x)
    cols, meta = result_columns(x, 5, Quantization.coerce({"scheme": "int8", "ranges": ranges}))
    np.testing.assert_array_equal(
        np.stack(cols["embedding"].to_numpy(zero_copy_only=False)), quantize(x, "int8", ranges=ranges).data
    )
    with pytest.raises(InvalidInputError, match="fixed ranges"):
        Quantization("int8")
    with pytest.raises(InvalidInputError, match="expected 4"):
        result_columns(x, 4)


def test_multi_vector_and_sparse_columns():
    rng = np.random.default_rng(1)
    docs = [rng.normal(size=(n, 6)).astype(np.float32) for n in (3, 1, 0, 4)]
    cols, _ = result_columns(docs, 4)
    rows = cols["embedding"].to_pylist()
    for row, doc in zip(rows, docs, strict=True):
        np.testing.assert_array_equal(np.asarray(row, np.float32).reshape(-1, 6), doc)
    cols, _ = result_columns(docs, 4, Quantization("ubinary"))
    q = quantize(docs, "ubinary")
    for i, row in enumerate(cols["embedding"].to_pylist()):
        np.testing.assert_array_equal(np.asarray(row, np.uint8).reshape(-1, 1), q.data[q.doc_rows(i)])
    sparse = [SparseEmbedding([3, 9], [0.5, 1.5]), SparseEmbedding([], [])]
    cols, _ = result_columns(sparse, 2)
    assert cols["sparse_indices"].to_pylist() == [[3, 9], []]
    assert cols["sparse_values"].to_pylist() == [[0.5, 1.5], []]
    empty, _ = result_columns([], 0, empty_layout="sparse")
    assert set(empty) == {"sparse_indices", "sparse_values"}
    empty, _ = result_columns([], 0, Quantization("ubinary"), width=16)
    assert empty["embedding"].type == pa.list_(pa.list_(pa.uint8(), 2))
    with pytest.raises(InvalidInputError, match="cannot write"):
        result_columns(["a", "b"], 2)


# ----------------------------------------------------------------------------- the batch embedder, outside Ray


def test_batch_embedder_matches_encode_for_every_batch_format(tiny_bert_dense_artifact):
    pd = pytest.importorskip("pandas")
    ref = Tessera(tiny_bert_dense_artifact).encode(TEXTS)
    embedder = TesseraBatchEmbedder(tiny_bert_dense_artifact, threads=1)
    assert embedder.device == "cpu" and embedder.threads == 1
    ids = np.arange(len(TEXTS))
    batches = [
        pa.table({"id": ids, "text": TEXTS}),
        {"id": ids, "text": np.array(TEXTS, dtype=object)},
        pd.DataFrame({"id": ids, "text": TEXTS}),
    ]
    for batch in batches:
        out = embedder(batch)
        assert out.column_names == ["id", "embedding"]
        assert out.column("id").to_pylist() == ids.tolist()
        got = np.stack(out.column("embedding").to_numpy(zero_copy_only=False))
        np.testing.assert_allclose(got, ref, atol=1e-5)  # batching differs only in padding
    with pytest.raises(InvalidInputError, match="no column .text. to embed"):
        embedder({"body": TEXTS})
    with pytest.raises(InvalidInputError, match="already has output"):
        embedder(pa.table({"text": TEXTS, "embedding": ids}))


@pytest.mark.filterwarnings("ignore::tessera_onnx.errors.TruncationWarning")
def test_batch_embedder_multi_vector_and_sparse(tiny_colbert_pylate_artifact, tiny_splade_artifact):
    colbert = Tessera(tiny_colbert_pylate_artifact)
    out = TesseraBatchEmbedder(tiny_colbert_pylate_artifact, method="encode_queries", keep_input_column=True)(
        pa.table({"text": TEXTS})
    )
    assert out.column("text").to_pylist() == TEXTS
    for row, ref in zip(out.column("embedding").to_pylist(), colbert.encode_queries(TEXTS), strict=True):
        np.testing.assert_allclose(np.asarray(row, np.float32), ref, atol=1e-5)
    splade = Tessera(tiny_splade_artifact)
    out = TesseraBatchEmbedder(tiny_splade_artifact)(pa.table({"text": TEXTS}))
    for idx, val, ref in zip(
        out.column("sparse_indices").to_pylist(),
        out.column("sparse_values").to_pylist(),
        splade.encode(TEXTS),
        strict=True,
    ):
        dense = np.zeros(splade.dimension, np.float32)
        dense[idx] = val
        np.testing.assert_allclose(dense, ref.to_dense(splade.dimension), atol=1e-5)


# ----------------------------------------------------------------------------- the store and missing extras


def test_store_refuses_a_run_with_other_settings(tmp_path):
    store = ShardStore(tmp_path / "out")
    store.begin({"model": "a", "shard_rows": 8}, "f1")
    (store.root / ".tmp-left-behind.parquet").write_text("partial")
    store.begin({"model": "a", "shard_rows": 8}, "f1")  # same run: fine, and the stale temp file is gone
    assert not (store.root / ".tmp-left-behind.parquet").exists()
    with pytest.raises(InvalidInputError, match="shard_rows"):
        store.begin({"model": "a", "shard_rows": 16}, "f2")


def test_missing_ray_names_the_extra(tmp_path, monkeypatch):
    from tessera_onnx.distributed import embed_dataset

    (tmp_path / "a.txt").write_text("x\n")
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"tessera-onnx\[ray\]"):
        embed_dataset(tmp_path / "a.txt", tmp_path / "out", "some-model")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match=r"tessera-onnx\[ray\]"):
        TesseraBatchEmbedder("some-model")


def test_batch_embedder_embeds_an_image_column(tiny_siglip_artifact):
    """Image paths and encoded image bytes in a column give TesseraImageText.encode_images's vectors."""
    pytest.importorskip("PIL")
    from tiny_vision_models import real_image_paths

    from tessera_onnx import TesseraImageText

    paths = [str(p) for k, p in sorted(real_image_paths().items()) if not k.endswith(".gif")][:3]
    if not paths:
        pytest.skip("no bundled sample images (scikit-image / scikit-learn / matplotlib)")
    ref = TesseraImageText(tiny_siglip_artifact).encode_images(paths)
    embedder = TesseraBatchEmbedder(tiny_siglip_artifact, column="image", method="encode_images", threads=1)
    for column in (paths, [open(p, "rb").read() for p in paths]):
        out = embedder(pa.table({"id": list(range(len(paths))), "image": column}))
        assert out.column_names == ["id", "embedding"]
        got = np.stack(out.column("embedding").to_numpy(zero_copy_only=False))
        np.testing.assert_allclose(got, ref, atol=1e-6)  # same graph, same preprocessing
    texts = TesseraBatchEmbedder(tiny_siglip_artifact, method="encode_texts", threads=1)(
        pa.table({"text": ["a photo of a cat", "a scanned page"]})
    )
    np.testing.assert_allclose(
        np.stack(texts.column("embedding").to_numpy(zero_copy_only=False)),
        TesseraImageText(tiny_siglip_artifact).encode_texts(["a photo of a cat", "a scanned page"]),
        atol=1e-6,
    )
