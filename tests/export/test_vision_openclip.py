"""SigLIP's text padding semantics checked against an independent implementation: open_clip.

A tiny random SigLIP checkpoint (slow SentencePiece tokenizer) is exported twice, with the default
``text_semantics="trained"`` and with ``"transformers"``. open_clip's own ``TextTransformer`` is built in
its reference venv by tests/support/openclip_siglip_reference.py (open_clip's custom-config path,
the published SigLIP text settings, the checkpoint's weights mapped onto it) and fed the runtime's
token ids, padded to the context length. Two checkpoints: text ``hidden_act "gelu"`` (the exact GELU
of open_clip's published SigLIP text configs) and ``"gelu_pytorch_tanh"`` (transformers' default and
the published SigLIP checkpoints'; open_clip built with ``act_kwargs={"approximate": "tanh"}``).
Tolerances (max abs over the text features, not
normalised):

- the trained artifact equals open_clip within :data:`TOL` (1e-5);
- transformers' ``get_text_features(input_ids)`` (no mask) equals open_clip within 1e-5: the weight
  mapping, checked without ONNX in between;
- the ``transformers`` artifact differs from open_clip by more than 1e-2 on every text shorter than
  the context length (the setting matters), and equals transformers' masked form
  ``get_text_features(input_ids, attention_mask)`` within 1e-5.

The reference venv is built by ``scripts/reference_venv.sh openclip`` (benchmarks/.venvs/openclip,
or the python named by ``$TESSERA_OPENCLIP_PYTHON``); without it these tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from tiny_vision_models import VARIED_TEXTS, long_text  # noqa: E402

from tessera_onnx import TesseraImageText  # noqa: E402

TOL = 1e-5
SCRIPT = Path(__file__).resolve().parents[1] / "support" / "openclip_siglip_reference.py"


def _openclip_python() -> Path | None:
    repo_venv = Path(__file__).resolve().parents[2] / "benchmarks" / ".venvs" / "openclip" / "bin" / "python"
    for candidate in (os.environ.get("TESSERA_OPENCLIP_PYTHON"), repo_venv):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


PYTHON = _openclip_python()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::tessera_onnx.errors.TruncationWarning"),
    pytest.mark.skipif(
        PYTHON is None,
        reason="no open_clip reference venv: run scripts/reference_venv.sh openclip "
        "(or set TESSERA_OPENCLIP_PYTHON)",
    ),
]
TEXTS = [*VARIED_TEXTS[:12], long_text()]
# "gelu": open_clip's published SigLIP text config (nn.GELU, exact); "gelu_pytorch_tanh": transformers'
# SigLIP default, built in open_clip with act_kwargs {"approximate": "tanh"}
ACTIVATIONS = ("gelu", "gelu_pytorch_tanh")


@pytest.fixture(scope="module", params=ACTIVATIONS)
def siglip_dir(request, export_cache) -> Path:
    """A tiny SigLIP checkpoint whose text tower uses the activation ``request.param``."""
    from tiny_vision_models import write_tiny_siglip

    act = request.param
    return export_cache.get(f"tiny-siglip-{act}-ckpt", lambda p: write_tiny_siglip(p, hidden_act=act))


@pytest.fixture(scope="module")
def artifacts(siglip_dir, export_cache) -> dict[str, Path]:
    from tessera_export import build_artifact

    act = json.loads((siglip_dir / "config.json").read_text())["text_config"]["hidden_act"]

    def build(semantics: str) -> Path:
        name = f"tiny-siglip-{act}-{semantics}".replace("_", "-")
        return export_cache.get(
            name, lambda out: build_artifact(siglip_dir, out, model_id=name, text_semantics=semantics)
        )

    return {s: build(s) for s in ("trained", "transformers")}


@pytest.fixture(scope="module")
def tokens(artifacts) -> tuple[np.ndarray, np.ndarray]:
    """The runtime's ids and mask for :data:`TEXTS` (max_length padding, identical in both artifacts)."""
    ids, mask = TesseraImageText(artifacts["trained"]).tokenize(TEXTS)
    ids2, mask2 = TesseraImageText(artifacts["transformers"]).tokenize(TEXTS)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_array_equal(mask, mask2)
    assert ids.shape == (len(TEXTS), 64)
    return ids, mask


@pytest.fixture(scope="module")
def openclip_features(siglip_dir, tokens, tmp_path_factory) -> np.ndarray:
    work = tmp_path_factory.mktemp("openclip")
    request, out = work / "request.json", work / "out.npz"
    request.write_text(json.dumps({"input_ids": tokens[0].tolist()}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(PYTHON), str(SCRIPT), str(siglip_dir), str(request), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = np.load(out)
    meta = json.loads(str(result["meta"]))
    act = json.loads((siglip_dir / "config.json").read_text())["text_config"]["hidden_act"]
    assert meta["text_tower"] == "TextTransformer" and meta["activation"] == act, meta
    return result["text_features"]


def _hf_text_features(ckpt: Path, ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    from transformers import SiglipModel

    model = SiglipModel.from_pretrained(str(ckpt)).eval()
    feeds = {"input_ids": torch.from_numpy(ids)}
    if mask is not None:
        feeds["attention_mask"] = torch.from_numpy(mask)
    with torch.no_grad():
        return model.get_text_features(**feeds).numpy()


def test_trained_semantics_equal_open_clip(artifacts, tokens, openclip_features):
    manifest = json.loads((artifacts["trained"] / "tessera.json").read_text())
    assert manifest["config"]["vision"]["text_semantics"] == "trained"
    got = TesseraImageText(artifacts["trained"]).encode_texts(TEXTS, normalize=False)
    diff = float(np.abs(got - openclip_features).max())
    print(f"trained artifact vs open_clip: max abs {diff:.3g}")
    assert diff <= TOL


def test_weight_mapping_transformers_unmasked_equals_open_clip(siglip_dir, tokens, openclip_features):
    ref = _hf_text_features(siglip_dir, tokens[0], None)
    diff = float(np.abs(ref - openclip_features).max())
    print(f"transformers unmasked vs open_clip: max abs {diff:.3g}")
    assert diff <= TOL


def test_transformers_semantics_differ_from_open_clip_and_equal_masked_transformers(
    siglip_dir, artifacts, tokens, openclip_features
):
    ids, mask = tokens
    got = TesseraImageText(artifacts["transformers"]).encode_texts(TEXTS, normalize=False)
    padded = mask.sum(axis=1) < ids.shape[1]
    assert padded.sum() >= len(TEXTS) - 1  # all but the long text carry padding
    per_text = np.abs(got - openclip_features).max(axis=1)
    assert (per_text[padded] > 1e-2).all(), per_text
    masked = _hf_text_features(siglip_dir, ids, mask)
    diff = float(np.abs(got - masked).max())
    print(
        f"transformers artifact: vs open_clip min {per_text[padded].min():.3g}, vs masked transformers {diff:.3g}"
    )
    assert diff <= TOL
