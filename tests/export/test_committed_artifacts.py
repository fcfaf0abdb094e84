"""The committed test artifacts (tests/data/artifacts/) are what the exporter makes today.

Each one is rebuilt from its seeded tiny checkpoint (tests/support/committed_artifacts.py) and
compared with the committed copy. Compared: the manifest's paradigm, architecture, dim, inputs,
outputs, model file, precision, opset, matryoshka sizes and whole ``config`` block (equal, floats
to 9 significant digits, the hyperbolic table's training time left out); every
non-ONNX file (tokenizer, preprocessor configs, the hyperbolic table) equal as parsed JSON or as
bytes; and the outputs of the runtime on fixed inputs, within ``ATOL``. The ONNX files themselves
are not compared byte for byte (torch's exporter does not promise identical bytes), nor are the
manifest's created time, versions, source path and checksums. The hand-built ``affine.onnx``
(batch-runner tests) is compared byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")

import committed_artifacts as ca  # noqa: E402

from tessera_onnx import Tessera  # noqa: E402
from tessera_onnx.artifact import read_manifest  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

ATOL = 1e-5
MANIFEST_FIELDS = (
    "paradigm",
    "architecture",
    "dim",
    "inputs",
    "outputs",
    "model_file",
    "precision",
    "opset",
    "matryoshka_dims",
    "config",
)
TEXTS = ["a short query", "Return the number of items in a container.", "zip, json and csv files"]


def test_committed_artifacts_are_all_listed():
    on_disk = {p.name for p in ca.ARTIFACTS_DIR.iterdir() if p.is_dir()}
    assert on_disk == set(ca.all_names())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    if ca.generated_with().get("python") != ca.python_version():
        pytest.skip(
            f"the committed tokenizers were trained under Python {ca.generated_with().get('python')} "
            f"(their corpus is Python's docstrings); this is {ca.python_version()}"
        )
    return tmp_path_factory.mktemp("committed-rebuild")


def _image(seed: int):
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _flatten(value) -> list[np.ndarray]:
    """Arrays of an encode result (array, list of arrays, sparse embeddings)."""
    if isinstance(value, np.ndarray):
        return [value]
    if hasattr(value, "indices") and hasattr(value, "values"):
        return [np.asarray(value.indices), np.asarray(value.values)]
    if isinstance(value, list | tuple):
        return [a for v in value for a in _flatten(v)]
    return [np.asarray(value)]


def _probe(path: Path) -> list[np.ndarray]:
    """Runtime outputs of the artifact at ``path`` on fixed inputs."""
    manifest = read_manifest(path)
    model = Tessera(path)
    series = np.sin(np.arange(100.0) / 4.0) * 3.0 + np.arange(100.0) * 0.05
    freq = "h" if manifest.config.get("timeseries", {}).get("freq_token_required") else None
    probes = {
        "dense": lambda: [model.encode(TEXTS)],
        "multi_vector": lambda: (
            _flatten(model.encode_queries(TEXTS)) + _flatten(model.encode_documents(TEXTS))
        ),
        "sparse": lambda: _flatten(model.encode(TEXTS)),
        "cross_encoder": lambda: [np.asarray(model.predict([(TEXTS[0], t) for t in TEXTS]))],
        "vision": lambda: [model.encode_texts(TEXTS), model.encode_images([_image(0), _image(1)])],
        "pages": lambda: _flatten(model.encode_queries(TEXTS)) + _flatten(model.encode_images([_image(2)])),
        "timeseries": lambda: [model.forecast(series, freq=freq), model.encode(series, freq=freq)],
        "hyperbolic": lambda: [model.encode(["root", "root.1", "root.2.0.1"])],
    }
    return probes[manifest.paradigm]()


def _comparable(value):
    """``value`` without wall-clock figures (``train_seconds``) and with floats to 9 significant digits."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k != "train_seconds"}
    if isinstance(value, list | tuple):
        return [_comparable(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.9g}")
    return value


# Measured export errors (``parity*`` blocks) are float noise of the CPU that ran the export: the
# onnxruntime fused kernels differ in the last bits between AVX2 and AVX-512 hosts (1.19e-6 vs
# 1.22e-6 max diff seen for the same graph). They must agree within this, everything else exactly.
PARITY_FIGURE_TOLERANCE = 1e-5


def _same_setting(a, b, measured: bool = False) -> bool:
    """``a`` equals ``b``; floats inside a ``parity*`` block within ``PARITY_FIGURE_TOLERANCE``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            _same_setting(a[k], b[k], measured or str(k).startswith("parity")) for k in a
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_setting(x, y, measured) for x, y in zip(a, b, strict=True))
    if measured and isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= PARITY_FIGURE_TOLERANCE
    return a == b


def _first_difference(a, b, path: str = "") -> str:
    """Where ``a`` and ``b`` first differ (for the assertion message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b or not _same_setting(a[k], b[k], str(k).startswith("parity")):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}")
    return f"{path or 'value'}: {a!r} != {b!r}"


def _same_file(a: Path, b: Path) -> bool:
    if a.suffix == ".json":
        return json.loads(a.read_text(encoding="utf-8")) == json.loads(b.read_text(encoding="utf-8"))
    if a.suffix == ".npy":
        # Trained arrays (the Poincaré embeddings) carry the training CPU's float rounding.
        x, y = np.load(a), np.load(b)
        return x.shape == y.shape and x.dtype == y.dtype and bool(np.allclose(x, y, atol=ATOL, rtol=0))
    return a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("name", ca.all_names())
def test_regenerated_artifact_matches_the_committed_one(name, workdir):
    if name in ("tiny-siglip", "tiny-clip", "tiny-colidefics3"):
        pytest.importorskip("PIL")
    if name == "tiny-siglip":
        pytest.importorskip("sentencepiece")
    if name.startswith("ce-"):
        pytest.importorskip("sentence_transformers")
    if name.startswith("tiny-ttm"):
        from ts_fixtures import require_export

        require_export()
    committed = ca.committed(name)
    fresh = ca.build(name, workdir / name, workdir)

    old, new = read_manifest(committed), read_manifest(fresh)
    for field in MANIFEST_FIELDS:
        a, b = _comparable(getattr(new, field)), _comparable(getattr(old, field))
        assert _same_setting(a, b), f"{field}: {_first_difference(a, b)}"
    assert set(new.files) == set(old.files)
    for file in new.files:
        if not file.endswith((".onnx", ".onnx.data")):
            assert _same_file(committed / file, fresh / file), file

    for got, want in zip(_probe(fresh), _probe(committed), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_committed_affine_graph_is_what_the_writer_makes(tmp_path):
    fresh = ca.write_affine_graph(tmp_path / "affine.onnx")
    assert fresh.read_bytes() == (ca.ARTIFACTS_DIR / "affine.onnx").read_bytes()
