"""TesseraCrossEncoder against sentence-transformers 6.x ``CrossEncoder`` (its own venv, transformers 5).

The tiny cross-encoders of tests/cross_encoder (BERT, XLM-RoBERTa, ModernBERT; one and three
labels; saved prompts with a default prompt; a saved ``activation_fn``) are saved by the export
venv's sentence-transformers, exported fp32, and loaded by sentence-transformers 6.2 through
``export/cross_encoder_reference.py`` run with ``benchmarks/.venvs/st6/bin/python``
(``scripts/reference_venv.sh st6``; or the python named by ``$TESSERA_ST6_PYTHON``). Without it
these tests skip. Tolerance: scores within 1e-5 absolute + 1e-5 relative (fp32); shapes, rank
order, rank keys and texts identical; the loaded settings (labels, max length, activation,
prompts) equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "export" / "cross_encoder_reference.py"


def _st6_python() -> Path | None:
    for candidate in (
        os.environ.get("TESSERA_ST6_PYTHON"),
        ROOT / "benchmarks" / ".venvs" / "st6" / "bin" / "python",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


PYTHON = _st6_python()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PYTHON is None,
        reason="no sentence-transformers 6 reference venv: run scripts/reference_venv.sh st6 "
        "(or set TESSERA_ST6_PYTHON)",
    ),
]
ATOL = RTOL = 1e-5
from cross_encoder_cases import DOCS, QUERY  # noqa: E402
from cross_encoder_cases import PAIRS as _PAIRS  # noqa: E402

PAIRS = [list(p) for p in _PAIRS]
PROMPTS = {"prompts": {"query": "query: ", "web": "web search: "}, "default_prompt_name": "query"}
# name -> (arch, labels, writer keywords)
MODELS = {
    f"{arch}-{labels}": (arch, labels, {})
    for arch in ("bert", "xlm-roberta", "modernbert")
    for labels in (1, 3)
}
MODELS["bert-1-prompts"] = ("bert", 1, PROMPTS)
MODELS["bert-1-tanh"] = ("bert", 1, {"activation_fn": "Tanh"})
MODELS["xlm-roberta-3-softmax"] = ("xlm-roberta", 3, {"activation_fn": "Softmax"})


def _calls(labels: int, kwargs: dict) -> list[dict]:
    """The calls each model answers on both sides (keywords as sentence-transformers names them)."""
    calls = [
        {"method": "predict", "pairs": PAIRS},
        {"method": "predict", "pairs": PAIRS, "activation_fn": "identity"},
        {"method": "predict", "pairs": PAIRS[:1], "single": True},
        {"method": "predict", "pairs": PAIRS, "batch_size": 3},
        # 6.x squeezes a one-label model's column before softmax, so it is a no-op there (5.x gave 1.0)
        {"method": "predict", "pairs": PAIRS, "apply_softmax": True},
    ]
    if labels == 1:
        calls += [
            {"method": "predict", "pairs": PAIRS, "activation_fn": "tanh"},
            {"method": "rank", "query": QUERY, "documents": DOCS, "return_documents": True},
            {"method": "rank", "query": QUERY, "documents": DOCS, "top_k": 2},
        ]
    if "prompts" in kwargs:
        calls += [
            {"method": "predict", "pairs": PAIRS[:5], "prompt_name": "web"},
            {"method": "predict", "pairs": PAIRS[:5], "prompt": "x: "},
            {"method": "rank", "query": QUERY, "documents": DOCS, "prompt_name": "web"},
        ]
    return calls


@pytest.fixture(scope="module")
def reference(export_cache, tmp_path_factory):
    """{name: (tessera model, calls, sentence-transformers 6 answer)} and the reference's versions."""
    from tiny_cross_encoders import build_cross_encoder

    from tessera_onnx import Tessera

    request: dict = {"models": {}}
    models = {}
    for name, (arch, labels, kwargs) in MODELS.items():
        ckpt, art = build_cross_encoder(export_cache, arch, labels, **kwargs)
        calls = _calls(labels, kwargs)
        request["models"][name] = {"checkpoint": str(ckpt), "calls": calls}
        models[name] = (Tessera(art), calls)
    tmp = tmp_path_factory.mktemp("st6")
    (tmp / "request.json").write_text(json.dumps(request))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    proc = subprocess.run(
        [str(PYTHON), str(SCRIPT), "run", str(tmp / "request.json"), str(tmp / "out.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"sentence-transformers 6 reference failed: {proc.stderr[-3000:]}"
    out = json.loads((tmp / "out.json").read_text())
    return models, out


def _tessera_call(model, call: dict):
    kwargs = {
        k: call[k]
        for k in ("activation_fn", "apply_softmax", "prompt", "prompt_name", "batch_size")
        if k in call
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TruncationWarning on the long pair
        if call["method"] == "predict":
            pairs = [tuple(p) for p in call["pairs"]]
            return model.predict(pairs[0] if call.get("single") else pairs, **kwargs)
        kwargs.pop("apply_softmax", None)
        for key in ("top_k", "return_documents"):
            if key in call:
                kwargs[key] = call[key]
        return model.rank(call["query"], call["documents"], **kwargs)


def test_reference_is_sentence_transformers_6(reference):
    _, out = reference
    assert int(out["versions"]["sentence-transformers"].split(".")[0]) >= 6
    assert int(out["versions"]["transformers"].split(".")[0]) >= 5


@pytest.mark.parametrize("name", list(MODELS))
def test_settings_equal_sentence_transformers_6(reference, name):
    models, out = reference
    model, _ = models[name]
    info = out["models"][name]["info"]
    assert model.num_labels == info["num_labels"]
    assert model.max_length == info["max_seq_length"]
    assert model.activation == info["activation_fn"].rsplit(".", 1)[-1].lower()
    assert model.prompts == info["prompts"]
    assert model.config.default_prompt_name == info["default_prompt_name"]


@pytest.mark.parametrize("name", list(MODELS))
def test_predict_and_rank_equal_sentence_transformers_6(reference, name):
    models, out = reference
    model, calls = models[name]
    for call, ref in zip(calls, out["models"][name]["results"], strict=True):
        got = _tessera_call(model, call)
        where = f"{name}: { ({k: v for k, v in call.items() if k not in ('pairs', 'documents')}) }"
        if call["method"] == "predict":
            assert list(np.shape(got)) == ref["shape"], where
            assert got.dtype == np.float32, where
            np.testing.assert_allclose(got, np.asarray(ref["scores"]), atol=ATOL, rtol=RTOL, err_msg=where)
        else:
            assert type(got[0]["score"]).__name__ == ref["score_type"] == "float", where
            ref = ref["hits"]
            assert [h["corpus_id"] for h in got] == [h["corpus_id"] for h in ref], where
            assert [set(h) for h in got] == [set(h) for h in ref], where
            assert [h.get("text") for h in got] == [h.get("text") for h in ref], where
            np.testing.assert_allclose(
                [h["score"] for h in got], [h["score"] for h in ref], atol=ATOL, rtol=RTOL, err_msg=where
            )
