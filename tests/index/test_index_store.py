"""Index persistence and consistency: save → load → identical results, corrupted files → typed
errors, atomic writes, delete / upsert keep ids consistent, concurrent readers never see a torn state."""

from __future__ import annotations

import json
import threading
import zipfile

import numpy as np
import pytest

from tessera_onnx.errors import IndexStoreError, TesseraError
from tessera_onnx.index import DenseIndex, MultiVectorIndex, SparseIndex, load_index
from tessera_onnx.index import store as store_module
from tessera_onnx.sparse_embedding import SparseEmbedding


def _indexes(rng):
    n = 300
    dense = rng.standard_normal((n, 24)).astype(np.float32)
    docs = [rng.standard_normal((int(rng.integers(1, 30)), 12)).astype(np.float32) for _ in range(n)]
    sparse = [
        SparseEmbedding(rng.choice(500, 20, replace=False), rng.random(20).astype(np.float32))
        for _ in range(n)
    ]
    ids = [f"id-{i}" if i % 2 else i for i in range(n)]
    meta = [{"i": i, "tags": ["x", str(i % 3)], "nested": {"ok": True}} for i in range(n)]
    out = []
    for index, vectors, query in (
        (DenseIndex(24), dense, rng.standard_normal(24).astype(np.float32)),
        (
            DenseIndex(24, compression="binary", rescore_multiplier=5),
            dense,
            rng.standard_normal(24).astype(np.float32),
        ),
        (DenseIndex(24, compression="int8"), dense, rng.standard_normal(24).astype(np.float32)),
        (MultiVectorIndex(12), docs, rng.standard_normal((5, 12)).astype(np.float32)),
        (
            MultiVectorIndex(12, compression="int4", bucket_ratio=1.5),
            docs,
            rng.standard_normal((5, 12)).astype(np.float32),
        ),
        (SparseIndex(500), sparse, SparseEmbedding(rng.choice(500, 8, replace=False), rng.random(8))),
    ):
        index.add(ids, vectors, meta)
        out.append((index, query))
    return out


def _same(a, b):
    assert [(h.id, h.score, h.metadata) for h in a] == [(h.id, h.score, h.metadata) for h in b]


def test_save_load_round_trip(tmp_path):
    for i, (index, query) in enumerate(_indexes(np.random.default_rng(0))):
        before = index.search(query, 10)
        filtered = index.search(query, 10, filter={"i": list(range(0, 300, 7))})
        path = index.save(tmp_path / f"ix{i}.tidx")
        loaded = load_index(path)
        assert type(loaded) is type(index) and loaded.config() == index.config()
        assert loaded.ids == index.ids and len(loaded) == 300
        _same(loaded.search(query, 10), before)
        _same(loaded.search(query, 10, filter={"i": list(range(0, 300, 7))}), filtered)
        assert type(index).load(path).ids == index.ids
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ix{i}.tidx" for i in range(6)]  # no temp files


def test_empty_index_round_trip(tmp_path):
    for index in (DenseIndex(4), MultiVectorIndex(4), SparseIndex()):
        loaded = load_index(index.save(tmp_path / f"{index.kind}.tidx"))
        assert len(loaded) == 0 and loaded.config() == index.config()
        assert (
            loaded.search(
                np.ones(4, np.float32)
                if index.kind == "dense"
                else (np.ones((2, 4), np.float32) if index.kind == "multi_vector" else {1: 1.0}),
                3,
            )
            == []
        )


def test_load_as_wrong_class(tmp_path):
    path = SparseIndex().save(tmp_path / "s.tidx")
    with pytest.raises(IndexStoreError, match="sparse index"):
        DenseIndex.load(path)


def _rewrite_member(path, name, mutate):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[name] = mutate(members[name])
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)


def test_corrupted_files_raise_typed_errors(tmp_path):
    rng = np.random.default_rng(1)
    index = DenseIndex(8)
    index.add(list(range(50)), rng.standard_normal((50, 8)).astype(np.float32))
    good = index.save(tmp_path / "good.tidx").read_bytes()

    def fresh(name):
        p = tmp_path / name
        p.write_bytes(good)
        return p

    flipped = bytearray(good)
    offset = good.index(b"\x93NUMPY") + 200  # a byte inside the vectors
    flipped[offset] ^= 0xFF
    (tmp_path / "flipped.tidx").write_bytes(bytes(flipped))
    (tmp_path / "truncated.tidx").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.tidx").write_bytes(b"")
    (tmp_path / "text.tidx").write_text("not an index")
    for name in ("flipped.tidx", "truncated.tidx", "empty.tidx", "text.tidx", "missing.tidx"):
        with pytest.raises(IndexStoreError):
            load_index(tmp_path / name)

    # a member altered *and* re-zipped with a valid CRC: only the sha256 catches it
    p = fresh("sha.tidx")
    _rewrite_member(p, "arrays/vectors.npy", lambda b: b[:-4] + b"\x00\x00\x80\x3f")
    with pytest.raises(IndexStoreError, match="sha256"):
        load_index(p)
    p = fresh("records.tidx")
    _rewrite_member(p, "records.json", lambda b: b.replace(b"[0,", b"[9,", 1) if b"[0," in b else b + b" ")
    with pytest.raises(IndexStoreError):
        load_index(p)

    def bump(version):
        def mutate(b):
            m = json.loads(b)
            m["format_version"] = version
            return json.dumps(m).encode()

        return mutate

    p = fresh("future.tidx")
    _rewrite_member(p, "manifest.json", bump(99))
    with pytest.raises(IndexStoreError, match="upgrade tessera-onnx"):
        load_index(p)
    assert issubclass(IndexStoreError, TesseraError)


def test_failed_write_leaves_old_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    index = DenseIndex(8)
    index.add([1, 2, 3], rng.standard_normal((3, 8)).astype(np.float32))
    path = index.save(tmp_path / "ix.tidx")
    old = path.read_bytes()
    index.add([4], rng.standard_normal((1, 8)).astype(np.float32))

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store_module.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["ix.tidx"]
    assert load_index(path).ids == [1, 2, 3]


def test_delete_and_upsert_keep_ids_consistent():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 6)).astype(np.float32)
    cases = (
        (DenseIndex(6), lambda i: x[i], lambda ix, d: ix.vector(d)),
        (
            MultiVectorIndex(6),
            lambda i: np.repeat(x[i : i + 1], 1 + i % 3, axis=0),
            lambda ix, d: ix.tokens(d),
        ),
        (SparseIndex(), lambda i: SparseEmbedding([i, i + 30], [1.0 + i, 2.0]), lambda ix, d: ix.vector(d)),
    )
    for index, vec, stored in cases:
        index.add(list(range(10)), [vec(i) for i in range(10)], [{"v": i} for i in range(10)])
        index.delete([3, 7])
        index.upsert([5, 12, 0], [vec(15), vec(12), vec(10)], [{"v": 15}, {"v": 12}, {"v": 10}])
        assert index.ids == [0, 1, 2, 4, 5, 6, 8, 9, 12]  # upserts keep their place, new ids go last
        expected = {0: 10, 1: 1, 2: 2, 4: 4, 5: 15, 6: 6, 8: 8, 9: 9, 12: 12}
        for doc_id, source in expected.items():
            assert index.metadata(doc_id) == {"v": source}
            got, want = stored(index, doc_id), vec(source)
            if isinstance(got, SparseEmbedding):
                assert got == want
            else:
                np.testing.assert_array_equal(got, want)
        assert 3 not in index and 7 not in index and 12 in index
        hits = index.search(vec(15), 9)
        assert hits[0].id == 5  # its own vector scores highest (for sparse: the largest weight)
        assert not {3, 7} & {h.id for h in hits}


def test_concurrent_readers_see_old_or_new_file(tmp_path):
    """Readers loading while a writer alternates two states always get one state whole."""
    rng = np.random.default_rng(4)
    states = []
    for tag in ("A", "B"):
        n = 2000 if tag == "A" else 1500
        ix = DenseIndex(32)
        ix.add(
            [f"{tag}{i}" for i in range(n)],
            rng.standard_normal((n, 32)).astype(np.float32),
            [{"tag": tag}] * n,
        )
        states.append(ix)
    path = states[0].save(tmp_path / "shared.tidx")
    stop = threading.Event()
    errors: list[str] = []
    seen = {"A": 0, "B": 0}
    fingerprints = {ix.ids[0][0]: (len(ix), float(ix.vector(ix.ids[-1]).sum())) for ix in states}

    def writer():
        i = 0
        while not stop.is_set():
            states[i % 2].save(path)
            i += 1

    def reader():
        while not stop.is_set():
            try:
                ix = load_index(path)
            except Exception as exc:  # any error here is a torn read
                errors.append(repr(exc))
                return
            tag = ix.ids[0][0]
            if {t[0] for t in ix.ids} != {tag} or {m["tag"] for m in map(ix.metadata, ix.ids[:5])} != {tag}:
                errors.append("mixed ids")
            if (len(ix), float(ix.vector(ix.ids[-1]).sum())) != fingerprints[tag]:
                errors.append("vectors from another state")
            seen[tag] += 1

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = threading.Event()
    deadline.wait(1.5)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert seen["A"] + seen["B"] >= 4


def test_concurrent_searches_during_writes_see_whole_states():
    """In memory: a search runs on one snapshot even while upserts and deletes swap the state."""
    index = SparseIndex()
    ids = list(range(300))
    index.add(ids, [{1: 1.0, 2 + i: 1.0} for i in ids], [{"gen": 1}] * 300)
    stop = threading.Event()
    errors: list[str] = []

    def writer():
        gen = 1
        while not stop.is_set():
            gen += 1
            index.upsert(ids, [{1: float(gen), 2 + i: 1.0} for i in ids], [{"gen": gen}] * 300)
            index.delete(ids[:50])
            index.add(ids[:50], [{1: float(gen), 2 + i: 1.0} for i in ids[:50]], [{"gen": gen}] * 50)

    def reader():
        while not stop.is_set():
            hits = index.search({1: 1.0}, 300)
            gens = {h.metadata["gen"] for h in hits}
            if (
                len(hits) not in (250, 300)
                or len(gens) != 1
                or {h.score for h in hits} != {float(gens.pop())}
            ):
                errors.append(f"torn: {len(hits)} hits")

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    threading.Event().wait(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
