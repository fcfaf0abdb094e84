"""Page-retrieval checkpoints as they are published, brought to the layout the family plans load.

Accepted layouts (:data:`ACCEPTED_LAYOUTS`):

- **transformers-native** (``*-hf`` repos): ``ColPaliForRetrieval`` (model_type ``colpali``) and
  ``ColQwen2ForRetrieval`` (``colqwen2``); read as they are.
- **colpali-engine full save** (``model.save_pretrained`` of ``ColIdefics3`` / ``ColPali`` /
  ``ColQwen2`` / ``ColQwen2_5``): ``config.json`` of the base VLM (``idefics3``, ``paligemma``,
  ``qwen2_vl``, ``qwen2_5_vl``) with ``architectures: ["Col…"]``, the projection head
  (``linear`` or ``custom_text_proj``), key names of transformers 4 or 5.
- **colpali-engine PEFT adapter** (the published ``vidore/colpali-v1.3``, ``vidore/colqwen2-v1.0``,
  ``vidore/colSmol-256M``): ``adapter_config.json`` naming the base (a local directory, else a hub
  repo fetched like any checkpoint) and ``adapter_model.safetensors``; the LoRA deltas are merged
  into the base weights here (``peft`` reads the adapter and its config).

What is written for the plans: a directory with ``config.json`` in transformers 4.57's form, one
``model.safetensors`` in the key layout the family's plan reads, the tokenizer files (a
``tokenizer_config.json`` whose class 4.57 does not know, e.g. transformers 5's
``TokenizersBackend``, is rewritten to ``PreTrainedTokenizerFast``; ``tokenizer.json`` is used as
saved) and ``preprocessor_config.json`` (taken from ``processor_config.json``'s ``image_processor``
block when that is where the save keeps it).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera_onnx.errors import ExportError, MissingDependencyError

__all__ = [
    "ACCEPTED_LAYOUTS",
    "PageCheckpoint",
    "is_page_checkpoint",
    "open_page_checkpoint",
    "merge_lora",
]

ACCEPTED_LAYOUTS = (
    "transformers-native ColPaliForRetrieval / ColQwen2ForRetrieval (model_type 'colpali' / 'colqwen2', "
    "the *-hf repos)",
    "a colpali-engine save of ColIdefics3, ColPali, ColQwen2 or ColQwen2_5 (config.json of the base VLM "
    "with architectures ['Col…'])",
    "a colpali-engine PEFT/LoRA adapter (adapter_config.json + adapter_model.safetensors; the base it "
    "names is read from disk or the hub and the adapter is merged at export)",
)
# colpali-engine architecture -> (VLM model_type, the plan's model_type)
ENGINE_ARCHITECTURES: dict[str, tuple[tuple[str, ...], str]] = {
    "ColIdefics3": (("idefics3",), "idefics3"),
    "ColPali": (("paligemma",), "colpali"),
    "ColQwen2": (("qwen2_vl",), "colqwen2"),
    "ColQwen2_5": (("qwen2_5_vl",), "colqwen2"),
}
NATIVE_MODEL_TYPES = {"colpali": "colpali", "colqwen2": "colqwen2", "idefics3": "idefics3"}
# tokenizer classes transformers 4.57 reads from tokenizer_config.json as they are
_KNOWN_TOKENIZER_CLASSES = re.compile(r"^(PreTrainedTokenizerFast|\w+TokenizerFast)$")


@dataclass
class PageCheckpoint:
    """A page-retrieval checkpoint: its layout, the plan that reads it and the directory to read."""

    source: Path
    layout: str  # "transformers" | "colpali-engine" | "colpali-engine adapter"
    model_type: str  # the plan key: idefics3 | colpali | colqwen2
    directory: Path  # what the plan loads (``source`` itself, or a converted copy)
    base: str | None = None  # the adapter's base, as adapter_config.json names it

    def describe(self) -> dict[str, Any]:
        """The manifest's record of where the weights came from."""
        out: dict[str, Any] = {"layout": self.layout}
        if self.base:
            out["adapter_base"] = self.base
        return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ExportError(f"{path} is not a JSON object")
    return data


def _unsupported(directory: Path, what: str) -> ExportError:
    layouts = "; ".join(f"({i + 1}) {text}" for i, text in enumerate(ACCEPTED_LAYOUTS))
    return ExportError(
        f"{directory}: {what}. tessera-export reads page-retrieval checkpoints in these layouts: {layouts}. "
        "To convert another layout, load it with colpali-engine (merging any adapter with "
        "peft's merge_and_unload()) and save it with save_pretrained together with its processor."
    )


def is_page_checkpoint(directory: Path) -> bool:
    """Whether ``directory`` looks like a page-retrieval checkpoint (``Col*`` architecture or a PEFT adapter)."""
    directory = Path(directory)
    if (directory / "adapter_config.json").is_file() and not (directory / "config.json").is_file():
        return True
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    archs = config.get("architectures") or [] if isinstance(config, dict) else []
    return any(str(a).startswith("Col") for a in archs) or config.get("model_type") in ("colpali", "colqwen2")


def _engine_model_type(directory: Path, config: Mapping[str, Any]) -> str | None:
    """The plan key of a colpali-engine save, None for a transformers-native one."""
    model_type = str(config.get("model_type"))
    archs = [str(a) for a in config.get("architectures") or []]
    if model_type in ("colpali", "colqwen2"):
        return None
    for arch in archs:
        if arch in ENGINE_ARCHITECTURES:
            types, plan = ENGINE_ARCHITECTURES[arch]
            if model_type not in types:
                raise _unsupported(directory, f"architecture {arch} with model_type {model_type!r}")
            return plan
    if model_type == "idefics3":  # earlier ColIdefics3 saves: the key names say it
        return "idefics3"
    raise _unsupported(
        directory, f"model_type {model_type!r} with architectures {archs} is not a page-retrieval model"
    )


# ----------------------------------------------------------------------------- key names


def _canonical_key(plan: str, key: str) -> str | None:
    """colpali-engine key name (transformers 4 or 5 form) → one canonical name per family; None = unused."""
    if plan == "colpali":
        for old, new in (
            ("model.model.language_model.", "model.language_model.model."),
            ("model.model.vision_tower.", "model.vision_tower."),
            ("model.model.multi_modal_projector.", "model.multi_modal_projector."),
        ):
            if key.startswith(old):
                key = new + key[len(old) :]
        if key.startswith("model.vision_tower.") and not key.startswith("model.vision_tower.vision_model."):
            key = "model.vision_tower.vision_model." + key[len("model.vision_tower.") :]
        if key.startswith(("model.lm_head.", "model.language_model.lm_head.")):
            return None  # the generation head: not part of the embeddings
        return key
    if plan == "colqwen2":
        for old, new in (("model.language_model.", "language_model."), ("model.visual.", "visual.")):
            if key.startswith(old):
                key = new + key[len(old) :]
        if key.startswith("model."):  # transformers 4 Qwen2VLModel: the text model at the top
            key = "language_model." + key[len("model.") :]
        if key.startswith("lm_head."):
            return None
        return key
    return key  # idefics3: model.* and linear.* in every version


def _native_key(plan: str, key: str) -> str:
    """Canonical colpali-engine name → the transformers 4.57 key the plan's loader reads."""
    if plan == "colpali":
        if key.startswith("custom_text_proj."):
            return "embedding_proj_layer." + key[len("custom_text_proj.") :]
        return "vlm." + key[len("model.") :]
    if plan == "colqwen2":
        if key.startswith("custom_text_proj."):
            return "embedding_proj_layer." + key[len("custom_text_proj.") :]
        return "vlm.model." + key
    return key


# ----------------------------------------------------------------------------- LoRA


def merge_lora(
    state: dict[str, Any], adapter_dir: Path, canonical: Callable[[str], str | None]
) -> dict[str, Any]:
    """Add each LoRA delta of the adapter in ``adapter_dir`` to the matching weight of ``state`` (in place).

    ``peft`` reads the adapter (``LoraConfig.from_pretrained``, ``load_peft_weights``); the delta of a
    module is ``lora_B @ lora_A × scaling`` with ``scaling = lora_alpha / r`` (``/ √r`` under rsLoRA),
    per-module ranks and alphas from ``rank_pattern`` / ``alpha_pattern``. Module names are mapped
    to ``state``'s with ``canonical``. Adapters peft cannot merge this way (DoRA, embedding or
    convolution LoRA, other PEFT methods) are refused.
    """
    try:
        from peft import PeftConfig
        from peft.utils import load_peft_weights
    except ImportError as exc:
        raise MissingDependencyError(
            "merging a PEFT adapter needs peft: pip install 'tessera-onnx[export]'"
        ) from exc
    import torch

    config = PeftConfig.from_pretrained(str(adapter_dir))
    if str(getattr(config, "peft_type", "")).upper().split(".")[-1] != "LORA":
        raise ExportError(f"{adapter_dir}: a {config.peft_type} adapter; only LoRA adapters are merged")
    if getattr(config, "use_dora", False):
        raise ExportError(
            f"{adapter_dir}: DoRA adapters are not supported; merge it with peft and save the result"
        )
    weights = load_peft_weights(str(adapter_dir), device="cpu")
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in weights.items():
        match = re.match(r"^(?:base_model\.model\.)?(.+)\.(lora_A|lora_B)(?:\.default)?\.weight$", key)
        if match is None:
            if "lora_" in key:
                raise ExportError(f"{adapter_dir}: cannot merge adapter tensor {key!r} (not a linear LoRA)")
            name = canonical(re.sub(r"^base_model\.model\.", "", key).replace(".modules_to_save.default", ""))
            if name is not None and name in state:  # modules_to_save: a full replacement
                state[name] = value.to(state[name].dtype)
            continue
        pairs.setdefault(match.group(1), {})[match.group(2)] = value
    if not pairs:
        raise ExportError(f"{adapter_dir}: the adapter holds no LoRA weights")
    rank_pattern = dict(getattr(config, "rank_pattern", {}) or {})
    alpha_pattern = dict(getattr(config, "alpha_pattern", {}) or {})
    for module, ab in pairs.items():
        name = canonical(module)
        if name is None or f"{name}.weight" not in state or set(ab) != {"lora_A", "lora_B"}:
            raise ExportError(f"{adapter_dir}: adapter module {module!r} has no matching base weight")
        rank = next((int(v) for k, v in rank_pattern.items() if re.search(rf"(^|\.){k}$", module)), config.r)
        alpha = next(
            (float(v) for k, v in alpha_pattern.items() if re.search(rf"(^|\.){k}$", module)),
            config.lora_alpha,
        )
        scaling = alpha / (rank**0.5 if getattr(config, "use_rslora", False) else rank)
        base = state[f"{name}.weight"]
        delta = ab["lora_B"].to(torch.float32) @ ab["lora_A"].to(torch.float32)
        if getattr(config, "fan_in_fan_out", False):
            delta = delta.T
        state[f"{name}.weight"] = (base.to(torch.float32) + scaling * delta).to(base.dtype)
    return state


# ----------------------------------------------------------------------------- configs and files


def _v4_config(data: dict[str, Any]) -> dict[str, Any]:
    """A transformers 5 config dict in the form 4.57 reads (``rope_parameters`` → ``rope_theta``/``rope_scaling``)."""
    out = {k: v for k, v in data.items() if k not in ("transformers_version", "dtype", "torch_dtype")}
    rope = out.pop("rope_parameters", None)
    if isinstance(rope, dict):
        if "rope_theta" in rope:
            out.setdefault("rope_theta", rope["rope_theta"])
        scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
        if scaling.get("rope_type", "default") != "default" or "mrope_section" in scaling:
            out.setdefault("rope_scaling", scaling)
    for key in ("text_config", "vision_config"):
        if isinstance(out.get(key), dict):
            out[key] = _v4_config(out[key])
    return out


def _write_tokenizer(source: Path, out: Path) -> None:
    """Copy the tokenizer files; a class 4.57 cannot load becomes ``PreTrainedTokenizerFast`` over tokenizer.json."""
    if not (source / "tokenizer.json").is_file():
        raise _unsupported(source, "there is no tokenizer.json")
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")
    for name in ("special_tokens_map.json", "added_tokens.json", "chat_template.json", "chat_template.jinja"):
        if (source / name).is_file():
            shutil.copyfile(source / name, out / name)
    config = (
        _read_json(source / "tokenizer_config.json") if (source / "tokenizer_config.json").is_file() else {}
    )
    cls = str(config.get("tokenizer_class") or "")
    if not _KNOWN_TOKENIZER_CLASSES.match(cls):
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
    extra = config.get("extra_special_tokens")
    if isinstance(extra, list):  # transformers 5 writes a list; 4.57 expects a name -> token mapping
        config.pop("extra_special_tokens")
        config.setdefault("additional_special_tokens", [t for t in extra if isinstance(t, str)])
    for key in ("backend", "is_local", "local_files_only"):
        config.pop(key, None)
    (out / "tokenizer_config.json").write_text(
        json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8"
    )


def _write_processor(sources: list[Path], out: Path) -> None:
    """``preprocessor_config.json`` (and ``processor_config.json``) from whichever file the save has."""
    for source in sources:
        pre, proc = source / "preprocessor_config.json", source / "processor_config.json"
        if pre.is_file():
            shutil.copyfile(pre, out / "preprocessor_config.json")
            if proc.is_file():
                shutil.copyfile(proc, out / "processor_config.json")
            return
        if proc.is_file():
            data = _read_json(proc)
            image = data.pop("image_processor", None)
            if not isinstance(image, dict):
                raise _unsupported(source, "processor_config.json has no image_processor block")
            image.setdefault("processor_class", data.get("processor_class", ""))
            if "image_seq_len" in data:  # Idefics3: the processor's, not the image processor's
                image.setdefault("image_seq_len", data["image_seq_len"])
            (out / "preprocessor_config.json").write_text(json.dumps(image, indent=1), encoding="utf-8")
            (out / "processor_config.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
            return
    raise _unsupported(sources[0], "there is neither preprocessor_config.json nor processor_config.json")


def _load_state(directory: Path) -> dict[str, Any]:
    from .common import load_safetensors_dir

    return load_safetensors_dir(directory)


def _native_config(plan: str, vlm: dict[str, Any], dim: int) -> Any:
    from transformers import ColPaliConfig, ColQwen2Config, Idefics3Config

    if plan == "idefics3":
        return Idefics3Config(**{k: v for k, v in vlm.items() if k != "model_type"})
    if plan == "colpali":
        return ColPaliConfig(vlm_config=vlm, embedding_dim=dim)
    return ColQwen2Config(vlm_config=vlm, embedding_dim=dim)


def _convert(
    plan: str, config_dir: Path, weights_dir: Path, files_dirs: list[Path], out: Path, adapter: Path | None
) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    vlm = _v4_config(_read_json(config_dir / "config.json"))
    vlm.pop("architectures", None)
    state: dict[str, Any] = {}
    for key, value in _load_state(weights_dir).items():
        name = _canonical_key(plan, key)
        if name is not None:
            state[name] = value
    if adapter is not None:
        merge_lora(state, adapter, lambda k: _canonical_key(plan, k))
    head = state.get("linear.weight" if plan == "idefics3" else "custom_text_proj.weight")
    if head is None:
        raise _unsupported(weights_dir, "the weights have no projection head ('linear' / 'custom_text_proj')")
    config = _native_config(plan, vlm, int(head.shape[0]))
    if plan == "idefics3":
        config.architectures = ["ColIdefics3"]
    config.save_pretrained(str(out))
    native = {_native_key(plan, k): v.contiguous() for k, v in state.items()}
    save_file(native, str(out / "model.safetensors"), metadata={"format": "pt"})
    tokenizer_dir = next((d for d in files_dirs if (d / "tokenizer.json").is_file()), files_dirs[0])
    _write_tokenizer(tokenizer_dir, out)
    _write_processor(files_dirs, out)


def _resolve_base(adapter_dir: Path, name: str, progress: Callable[[str], None]) -> Path:
    candidates = [Path(name), adapter_dir / name]
    for path in candidates:
        if path.is_dir() and (path / "config.json").is_file():
            return path
    from ..hub import download_checkpoint

    progress(f"the adapter's base {name!r} is not on disk; fetching it")
    try:
        return download_checkpoint(name, progress=progress)
    except ExportError as exc:
        raise ExportError(
            f"{adapter_dir}: the adapter's base {name!r} (base_model_name_or_path in adapter_config.json) "
            f"is neither a local directory nor fetchable from the Hugging Face Hub ({exc}). Either put "
            f"the base on disk (e.g. `huggingface-cli download {name} --local-dir BASE_DIR`) and set "
            "base_model_name_or_path to BASE_DIR (absolute, or relative to the adapter directory), or "
            "make the hub reachable: log in (`huggingface-cli login` or HF_TOKEN) for a gated or private "
            "repo, set HF_ENDPOINT to a mirror, and unset HF_HUB_OFFLINE."
        ) from exc


def open_page_checkpoint(
    source_dir: Path, work_dir: Path, progress: Callable[[str], None] = lambda _m: None
) -> PageCheckpoint:
    """Recognise the layout of ``source_dir`` and return what the family plan should load.

    transformers-native checkpoints are read in place; colpali-engine saves and adapters are
    converted into ``work_dir / "checkpoint"`` (see the module docstring).
    """
    source_dir = Path(source_dir)
    out = Path(work_dir) / "checkpoint"
    adapter_file = source_dir / "adapter_config.json"
    if adapter_file.is_file() and not (source_dir / "config.json").is_file():
        name = str(_read_json(adapter_file).get("base_model_name_or_path") or "")
        if not name:
            raise _unsupported(source_dir, "adapter_config.json names no base_model_name_or_path")
        base = _resolve_base(source_dir, name, progress)
        base_config = _read_json(base / "config.json")
        plan = _engine_model_type(base, base_config) or NATIVE_MODEL_TYPES.get(
            str(base_config.get("model_type"))
        )
        if plan is None or base_config.get("model_type") in ("colpali", "colqwen2"):
            raise _unsupported(base, "the adapter's base is not a colpali-engine save")
        progress(f"merging the LoRA adapter {source_dir} into its base {base}")
        _convert(plan, base, base, [source_dir, base], out, source_dir)
        return PageCheckpoint(source_dir, "colpali-engine adapter", plan, out, base=name)
    if not (source_dir / "config.json").is_file():
        raise _unsupported(source_dir, "there is no config.json and no adapter_config.json")
    config = _read_json(source_dir / "config.json")
    plan = _engine_model_type(source_dir, config)
    if plan is None:
        return PageCheckpoint(source_dir, "transformers", str(config["model_type"]), source_dir)
    if plan == "idefics3" and (source_dir / "preprocessor_config.json").is_file():
        tok = (
            _read_json(source_dir / "tokenizer_config.json")
            if (source_dir / "tokenizer_config.json").is_file()
            else {}
        )
        if _KNOWN_TOKENIZER_CLASSES.match(str(tok.get("tokenizer_class") or "PreTrainedTokenizerFast")):
            return PageCheckpoint(source_dir, "colpali-engine", plan, source_dir)
    progress(f"converting the colpali-engine save {source_dir}")
    _convert(plan, source_dir, source_dir, [source_dir], out, None)
    return PageCheckpoint(source_dir, "colpali-engine", plan, out)
