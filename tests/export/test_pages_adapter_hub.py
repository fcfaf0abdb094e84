"""A PEFT adapter whose base is a hub repo id, resolved by the real huggingface_hub code offline.

The published colpali-engine adapters (``vidore/colSmol-256M``, ...) name their base as a hub repo
(``base_model_name_or_path: "vidore/ColSmolVLM-Instruct-250M"``). Here the base is the tiny
ColIdefics3 save of tests/support, put into a Hugging Face cache directory laid out as
huggingface_hub writes it (``models--org--name/refs/main`` + ``snapshots/<commit>/``), and
huggingface_hub runs in offline mode against that cache with its endpoint pointed at a closed
local port: ``snapshot_download`` resolves the repo id from disk and nothing can reach the internet.
The adapter is a random LoRA written by peft over the reference ColIdefics3 module; the export must
merge it (its query vectors differ from the base artifact's by more than 1e-3) and pass its own
parity gate. A base missing from the cache gives an :class:`ExportError` that says how to fix it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
huggingface_hub = pytest.importorskip("huggingface_hub")

import tessera_export.hub as hub  # noqa: E402
from tessera_export import build_artifact  # noqa: E402

from tessera_onnx.errors import ExportError, TesseraError  # noqa: E402

BASE_REPO = "vidore/ColSmolVLM-Instruct-250M"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hf_cache(root: Path, repo_id: str, source: Path) -> Path:
    """A Hugging Face hub cache holding ``source`` as the ``main`` snapshot of ``repo_id``."""
    storage = root / f"models--{repo_id.replace('/', '--')}"
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(COMMIT)
    shutil.copytree(source, storage / "snapshots" / COMMIT)
    return root


def _write_adapter(base_dir: Path, out: Path, base_name: str) -> Path:
    """A random LoRA adapter saved by peft over the ColIdefics3 reference module, naming ``base_name``."""
    from tiny_page_models import colidefics3_reference

    model = colidefics3_reference(base_dir)
    config = peft.LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        init_lora_weights=False,  # random A and B: the adapter changes the outputs
        target_modules=r"(.*text_model.*(q_proj|k_proj|v_proj|o_proj|down_proj|up_proj|gate_proj)$|linear$)",
    )
    wrapped = peft.get_peft_model(model, config)
    torch.manual_seed(7)
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            if "lora_" in name:
                p.normal_(0.0, 0.05)
    wrapped.save_pretrained(str(out))
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = base_name
    (out / "adapter_config.json").write_text(json.dumps(adapter_config))
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "processor_config.json",
    ):
        if (base_dir / name).is_file():  # the published adapters carry the processor files
            shutil.copyfile(base_dir / name, out / name)
    return out


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """huggingface_hub offline, its cache at ``tmp_path/hf-cache``, the endpoint a closed local port.

    Returns the list of ``snapshot_download`` calls (the real function, recorded)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    calls: list[dict] = []
    real = hub.snapshot_download

    def recorded(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(hub, "snapshot_download", recorded)
    return cache, calls


def test_adapter_base_named_by_repo_id_is_fetched_through_the_hub(
    offline_hub, tmp_path, colidefics3_dir, colidefics3_artifact
):
    from tessera_onnx import Tessera

    cache, calls = offline_hub
    _hf_cache(cache, BASE_REPO, colidefics3_dir)
    adapter = _write_adapter(colidefics3_dir, tmp_path / "colsmol-adapter", BASE_REPO)
    manifest = build_artifact(adapter, tmp_path / "out", model_id="tiny-colsmol-adapter")
    assert [c["repo_id"] for c in calls] == [BASE_REPO]
    assert "*.safetensors" in calls[0]["allow_patterns"]
    assert manifest.source["layout"] == "colpali-engine adapter"
    assert manifest.source["adapter_base"] == BASE_REPO
    assert manifest.parity["passed"]
    queries = ["quarterly revenue", "a chart of sales"]
    merged = Tessera(tmp_path / "out").encode_queries(queries)
    base = Tessera(colidefics3_artifact).encode_queries(queries)
    # same tokenizer, so the same token count; the LoRA moved every query's vectors
    assert all(m.shape == b.shape for m, b in zip(merged, base, strict=True))
    assert min(float(np.abs(m - b).max()) for m, b in zip(merged, base, strict=True)) > 1e-3


def test_unreachable_adapter_base_says_how_to_fix_it(offline_hub, tmp_path, colidefics3_dir):
    _, calls = offline_hub  # an empty cache: the repo is nowhere
    adapter = _write_adapter(colidefics3_dir, tmp_path / "adapter", BASE_REPO)
    with pytest.raises(ExportError) as info:
        build_artifact(adapter, tmp_path / "out", model_id="unreachable-base")
    assert isinstance(info.value, TesseraError)
    message = str(info.value)
    assert [c["repo_id"] for c in calls] == [BASE_REPO]
    assert BASE_REPO in message and "base_model_name_or_path" in message
    for fix in ("--local-dir", "huggingface-cli login", "HF_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        assert fix in message, fix
    assert not (tmp_path / "out").exists()
