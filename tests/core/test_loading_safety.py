"""Loading stays safe; edge cases get defined results; small fixes (docs, packaging, logging)."""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tessera_onnx import Tessera
from tessera_onnx.artifact import read_manifest, sha256_file, verify_files
from tessera_onnx.errors import ArtifactError, InvalidInputError

ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- manifest members


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "artifact"
    shutil.copytree(source, target)
    return target


def _add_entry(root: Path, name: str, file: Path) -> None:
    data = json.loads((root / "tessera.json").read_text())
    data["files"][name] = {"sha256": sha256_file(file), "size": file.stat().st_size}
    (root / "tessera.json").write_text(json.dumps(data))


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_manifest_entries_must_stay_inside_the_artifact(kind, tiny_bert_dense_artifact, tmp_path):
    root = _copy(tiny_bert_dense_artifact, tmp_path)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"secret bytes")
    name = {"dotdot": "../outside.bin", "absolute": str(outside), "symlink": "link.bin"}[kind]
    if kind == "symlink":
        (root / "link.bin").symlink_to(outside)
    _add_entry(root, name, outside)
    with pytest.raises(ArtifactError, match=re.escape(repr(name))):
        verify_files(root, read_manifest(root))  # main: verifies cleanly
    with pytest.raises(ArtifactError, match=re.escape(repr(name))):
        Tessera(root, verify="always")


def test_model_file_outside_is_refused(tiny_bert_dense_artifact, tmp_path):
    root = _copy(tiny_bert_dense_artifact, tmp_path)
    data = json.loads((root / "tessera.json").read_text())
    data["model_file"] = "../model.onnx"
    (root / "tessera.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="model_file"):
        read_manifest(root)


# ----------------------------------------------------------------------------- hub downloads


def test_hub_download_fetches_code_only_with_trust_remote_code(tmp_path, monkeypatch):
    hub = pytest.importorskip("tessera_export.hub")
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        (tmp_path / "config.json").write_text("{}")
        return str(tmp_path)

    monkeypatch.setattr(hub, "snapshot_download", fake)
    hub.download_checkpoint("org/model")
    assert not any(p.endswith(".py") for p in calls[-1]["allow_patterns"])  # main: "*.py" always
    hub.download_checkpoint("org/model", trust_remote_code=True)
    assert "*.py" in calls[-1]["allow_patterns"]


def test_registry_reads_code_revision():
    from tessera_onnx.registry import list_models

    remote = [m for m in list_models() if m.trust_remote_code]
    assert remote and all(hasattr(m, "code_revision") for m in remote)


# ----------------------------------------------------------------------------- fork


def _child_search(words, query, queue) -> None:
    queue.put(int(words.distances(query, threads=2)[0]))


@pytest.mark.skipif(
    sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork"
)
def test_hamming_pool_survives_fork():
    from tessera_onnx.quantization.hamming import PackedWords

    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 256, size=(20_000, 8), dtype=np.uint8)
    words = PackedWords(corpus)
    query = words.query_words(corpus[:1])[0]
    expected = words.distances(query, threads=2)  # the parent's pool now exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_search, args=(words, query, queue))
    child.start()
    child.join(timeout=30)
    if child.is_alive():  # main: the child waits for ever on the parent's dead pool threads
        child.kill()
        child.join()
        pytest.fail("a child forked after a threaded search hung")
    assert child.exitcode == 0 and queue.get(timeout=5) == int(expected[0])


# ----------------------------------------------------------------------------- edge cases


def test_exact_search_on_an_empty_corpus():
    from tessera_onnx.quantization.retrieval import exact_search

    single = exact_search(np.ones(4, np.float32), np.zeros((0, 4), np.float32), k=3)
    assert single.indices.shape == (0,) and single.scores.shape == (0,)
    many = exact_search(np.ones((2, 4), np.float32), np.zeros((0, 4), np.float32), k=3)
    assert many.indices.shape == (2, 0) and many.indices.dtype == np.int64


@pytest.mark.parametrize(
    "freq,key",
    [
        ("60000ms", "min"),
        ("3600s", "h"),
        ("120s", "2min"),
        ("86400000ms", "d"),
        ("30s", "oov"),
        ("MS", "oov"),
        ("60000000us", "min"),
    ],
)
def test_sub_minute_units_resolve_exactly(freq, key):
    from tessera_onnx.timeseries.frequency import normalize_frequency

    assert normalize_frequency(freq) == key


@pytest.mark.parametrize("freq", ["60000parsecs", "hourlyish", "5 bananas", "-"])
def test_unreadable_frequency_raises(freq):
    from tessera_onnx.timeseries.frequency import frequency_token

    with pytest.raises(InvalidInputError, match="cannot read frequency"):
        frequency_token(freq)  # main: silently the unknown token


@pytest.fixture(scope="module")
def plain_ts():
    from ts_fixtures import tiny_artifact

    from tessera_onnx import TesseraTimeSeries

    return TesseraTimeSeries(tiny_artifact("plain"), device="cpu", threads=1, batch_size=16)


def test_time_series_search_top_k(plain_ts):
    t = np.arange(200.0)
    corpus = [np.sin(t / 3), np.cos(t / 5), t * 0.1]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInputError, match="top_k"):
            plain_ts.search(np.sin(t / 3), corpus, top_k=bad)  # main: top_k=0 returned one hit
    assert len(plain_ts.search(np.sin(t / 3), corpus, top_k=10)) == 3


def test_anomaly_scores_stream_their_windows(plain_ts, monkeypatch):
    from tessera_onnx.timeseries import embedder as module

    x = np.sin(np.arange(600) / 4) * 3 + 10
    x[500] += 30
    expected = plain_ts.anomaly_scores(x)
    sizes = []
    real = module.build_inputs

    def spy(batch, context_length):
        sizes.append(len(batch.series))
        return real(batch, context_length)

    monkeypatch.setattr(module, "build_inputs", spy)
    scores = plain_ts.anomaly_scores(x)
    assert max(sizes) <= plain_ts.batch_size < len(x) // 2  # main: every window in one array
    np.testing.assert_array_equal(np.isnan(scores), np.isnan(expected))
    np.testing.assert_allclose(scores, expected, equal_nan=True, atol=1e-6)
    assert int(np.nanargmax(scores)) == 500


# ----------------------------------------------------------------------------- small fixes


@pytest.mark.export
def test_int8_export_leaves_the_root_logger_alone(tiny_bert_dense_artifact, tmp_path):
    pytest.importorskip("onnxruntime.quantization")
    from tessera_export.precision import int8_settings, quantize_int8

    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)
    try:
        quantize_int8(tiny_bert_dense_artifact / "model.onnx", tmp_path / "q.onnx", int8_settings("dynamic"))
        assert root.level == logging.INFO  # main: ERROR from then on
    finally:
        root.setLevel(before)


def test_pyproject_license_and_description():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str) and project["license"] == "Apache-2.0"  # SPDX, no table
    has_vision = (ROOT / "tessera_onnx" / "vision").exists()
    assert has_vision or "vision" not in project["description"].lower()


def test_project_cites_no_files_outside_it():
    banned = re.compile(
        r"PARADIGMS\.md|ENVIRONMENT\.md|/work/" + r"shared|\.\./shared|shared/" + r"reference"
    )
    offenders = []
    for folder in ("tessera_onnx", "export", "tests", "benchmarks", "scripts", "docs", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".sh", ".json", ".toml") and path.is_file():
                offenders += [
                    f"{path.relative_to(ROOT)}:{i}"
                    for i, line in enumerate(path.read_text(errors="ignore").splitlines(), 1)
                    if banned.search(line)
                ]
    offenders += [
        f"README.md:{i}"
        for i, line in enumerate((ROOT / "README.md").read_text().splitlines(), 1)
        if banned.search(line)
    ]
    assert not offenders, offenders
    assert (ROOT / "docs" / "reference-semantics.md").is_file()


def test_docs_state_the_code_facts():
    readme = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))])
    from tessera_onnx.quantization import hamming

    assert f"{hamming._PARALLEL_MIN_ROWS:,}" in readme and "65,536 vectors" not in readme
    assert "model.onnx.data" in readme and "weights inside" not in readme
    assert 'verify="always"' in readme and "verified-files.json" in readme
