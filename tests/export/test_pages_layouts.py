"""Page checkpoints as published: layout recognition, transformers 5 files, LoRA merging, refusals.

These run without colpali-engine (tests/export/test_pages_colpali_engine.py compares with it, in its own
venv). The LoRA merge is checked against peft's own ``merge_and_unload`` on a torch module (max abs
1e-6); the files transformers 5 writes (``TokenizersBackend`` tokenizer class, processor settings
only in ``processor_config.json``) are checked by loading the converted checkpoint's plan.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from tessera_export.pages.layouts import ACCEPTED_LAYOUTS, merge_lora, open_page_checkpoint  # noqa: E402

from tessera_onnx.errors import ExportError  # noqa: E402


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = torch.nn.Module()
        self.model.q_proj = torch.nn.Linear(8, 6)
        self.model.v_proj = torch.nn.Linear(8, 6, bias=False)
        self.custom_text_proj = torch.nn.Linear(6, 4)

    def forward(self, x):
        return self.custom_text_proj(self.model.q_proj(x) + self.model.v_proj(x))


@pytest.mark.parametrize("rslora", [False, True])
def test_lora_merge_equals_peft_merge_and_unload(tmp_path, rslora):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    base = _Tiny().eval()
    state = {k: v.clone() for k, v in base.state_dict().items()}
    base.base_layer_weight_before = state["model.q_proj.weight"]
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        use_rslora=rslora,
        init_lora_weights=False,
        target_modules=["q_proj", "v_proj", "custom_text_proj"],
        rank_pattern={"v_proj": 2},
        alpha_pattern={"custom_text_proj": 3},
    )
    wrapped = get_peft_model(base, config)
    wrapped.save_pretrained(str(tmp_path / "adapter"))
    expected = wrapped.merge_and_unload().state_dict()
    merged = merge_lora(state, tmp_path / "adapter", lambda k: k)
    for key, value in expected.items():
        assert float((merged[key] - value).abs().max()) <= 1e-6, key
    assert float((expected["model.q_proj.weight"] - base.base_layer_weight_before).abs().max()) > 1e-3


def test_lora_adapter_naming_an_unknown_module_is_refused(tmp_path):
    from peft import LoraConfig, get_peft_model

    base = _Tiny()
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(str(tmp_path / "a"))
    state = {k: v for k, v in _Tiny().state_dict().items() if not k.startswith("model.q_proj")}
    with pytest.raises(ExportError, match="no matching base weight"):
        merge_lora(state, tmp_path / "a", lambda k: k)


def test_unsupported_layouts_name_the_layouts_that_work(tmp_path):
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(
        json.dumps({"model_type": "llama", "architectures": ["ColLlama"]})
    )
    with pytest.raises(ExportError) as info:
        open_page_checkpoint(tmp_path / "llama", tmp_path / "work")
    message = str(info.value)
    assert "model_type 'llama'" in message and "colpali-engine PEFT/LoRA adapter" in message
    assert "save_pretrained" in message and len(ACCEPTED_LAYOUTS) == 3
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(ExportError, match="names no base_model_name_or_path"):
        open_page_checkpoint(tmp_path / "adapter", tmp_path / "work")


def test_transformers5_tokenizer_class_and_processor_config_only(colidefics3_dir, tmp_path):
    """A ColIdefics3 save as transformers 5 writes it: TokenizersBackend, processor_config.json only."""
    from tessera_export.pages.idefics3 import plan_idefics3

    save = tmp_path / "colsmol"
    shutil.copytree(colidefics3_dir, save)
    tok = json.loads((save / "tokenizer_config.json").read_text())
    tok.update(tokenizer_class="TokenizersBackend", backend="tokenizers", extra_special_tokens=["<image>"])
    (save / "tokenizer_config.json").write_text(json.dumps(tok))
    image = json.loads((save / "preprocessor_config.json").read_text())
    (save / "preprocessor_config.json").unlink()
    (save / "processor_config.json").write_text(
        json.dumps({"image_processor": image, "image_seq_len": 16, "processor_class": "ColIdefics3Processor"})
    )
    checkpoint = open_page_checkpoint(save, tmp_path / "work")
    assert checkpoint.layout == "colpali-engine" and checkpoint.model_type == "idefics3"
    stage = tmp_path / "stage"
    stage.mkdir()
    plan = plan_idefics3(checkpoint.directory, stage)
    native = plan_idefics3(colidefics3_dir, tmp_path)
    assert plan.pages.to_dict() == native.pages.to_dict()
    ids = np.array([[5, 6, 7]])
    torch.set_grad_enabled(False)
    a = plan.language(torch.from_numpy(ids), torch.ones(1, 3, dtype=torch.int64), torch.zeros(0, 32))
    b = native.language(torch.from_numpy(ids), torch.ones(1, 3, dtype=torch.int64), torch.zeros(0, 32))
    torch.set_grad_enabled(True)
    assert float((a - b).abs().max()) == 0.0
    assert (stage / "tokenizer.json").read_text() == (tmp_path / "tokenizer.json").read_text()
