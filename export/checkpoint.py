"""Reading what a local Hugging Face / sentence-transformers / PyLate / Stanford checkpoint says.

Only JSON files and weight tensors are read (safetensors, or ``pytorch_model.bin`` with
``torch.load(weights_only=True)``); no code from the checkpoint is imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera_onnx.errors import ExportError

__all__ = ["CheckpointInfo", "DenseModuleSpec", "inspect_checkpoint", "load_tensors", "infer_paradigm"]

_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"cannot read {path}: {exc}") from exc


def load_tensors(directory: Path, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Load tensors (all, or only ``names``) from ``model.safetensors`` or ``pytorch_model.bin``."""
    st = directory / "model.safetensors"
    if st.is_file():
        from safetensors import safe_open

        out = {}
        with safe_open(str(st), framework="pt") as fh:
            for key in fh.keys():
                if names is None or key in names:
                    out[key] = fh.get_tensor(key)
        return out
    pt = directory / "pytorch_model.bin"
    if pt.is_file():
        import torch

        data = torch.load(str(pt), map_location="cpu", weights_only=True)
        return {k: v for k, v in data.items() if names is None or k in names}
    raise ExportError(f"{directory} has neither model.safetensors nor pytorch_model.bin")


def _weight_keys(directory: Path) -> set[str]:
    st = directory / "model.safetensors"
    if st.is_file():
        from safetensors import safe_open

        with safe_open(str(st), framework="pt") as fh:
            return set(fh.keys())
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        return set(_read_json(index).get("weight_map", {}))
    if (directory / "pytorch_model.bin").is_file():
        return set(load_tensors(directory))
    return set()


@dataclass
class DenseModuleSpec:
    """One sentence-transformers / PyLate ``Dense`` module (``k_Dense/``)."""

    path: Path
    in_features: int
    out_features: int
    bias: bool
    activation: str
    use_residual: bool = False


@dataclass
class CheckpointInfo:
    """Facts read from a checkpoint directory."""

    root: Path
    hf_config: dict[str, Any]
    modules: list[dict[str, Any]] = field(default_factory=list)
    st_config: dict[str, Any] = field(default_factory=dict)
    st_model_config: dict[str, Any] = field(default_factory=dict)
    pooling: dict[str, Any] | None = None
    normalize_module: bool = False
    dense_modules: list[DenseModuleSpec] = field(default_factory=list)
    splade_pooling: dict[str, Any] | None = None
    stanford_linear: bool = False
    stanford_metadata: dict[str, Any] = field(default_factory=dict)
    transformer_path: Path | None = None

    @property
    def model_type(self) -> str:
        """``model_type`` from ``config.json`` (``"unknown"`` if absent)."""
        return str(self.hf_config.get("model_type", "unknown"))

    @property
    def architectures(self) -> list[str]:
        """``architectures`` from ``config.json`` (empty if absent)."""
        return list(self.hf_config.get("architectures") or [])

    @property
    def is_masked_lm(self) -> bool:
        """Whether an architecture is a ``*ForMaskedLM`` head (SPLADE-capable)."""
        return any(a.endswith("ForMaskedLM") for a in self.architectures)

    @property
    def is_pylate(self) -> bool:
        """Whether this is a PyLate ColBERT checkpoint (by its version record or its config keys)."""
        versions = self.st_model_config.get("__version__", {}) or {}
        return "pylate" in versions or (
            bool(self.dense_modules)
            and "query_prefix" in self.st_model_config
            and "document_length" in self.st_model_config
        )

    def pooling_mode(self) -> str | None:
        """The single pooling mode of the ``Pooling`` module (None when there is none)."""
        if self.pooling is None:
            return None
        if isinstance(self.pooling.get("pooling_mode"), str):
            return self.pooling["pooling_mode"].replace("mean_sqrt_len_tokens", "mean_sqrt_len")
        modes = [mode for key, mode in _POOLING_KEYS.items() if self.pooling.get(key)]
        if len(modes) > 1:
            raise ExportError(
                f"{self.root}: the Pooling module enables {modes}; concatenated pooling modes are not supported"
            )
        return modes[0] if modes else None


def inspect_checkpoint(root: str | Path) -> CheckpointInfo:
    """Read the config files of a checkpoint directory (HF, sentence-transformers, PyLate, Stanford)."""
    root = Path(root)
    if not root.is_dir():
        raise ExportError(f"checkpoint directory {root} does not exist")
    modules_path = root / "modules.json"
    modules = _read_json(modules_path) if modules_path.is_file() else []
    transformer_path = root
    for mod in modules:
        if str(mod.get("type", "")).endswith(("Transformer", "MLMTransformer")) and mod.get("path"):
            transformer_path = root / mod["path"]
            break
    config_path = transformer_path / "config.json"
    if not config_path.is_file():
        raise ExportError(f"{transformer_path} has no config.json: not a transformers checkpoint")
    info = CheckpointInfo(
        root=root, hf_config=_read_json(config_path), modules=modules, transformer_path=transformer_path
    )
    for name in ("sentence_bert_config.json",):
        for base in (transformer_path, root):
            if (base / name).is_file():
                info.st_config = _read_json(base / name)
                break
    if (root / "config_sentence_transformers.json").is_file():
        info.st_model_config = _read_json(root / "config_sentence_transformers.json") or {}
    for mod in modules:
        kind = str(mod.get("type", ""))
        path = root / str(mod.get("path", ""))
        if kind.endswith(".Pooling"):
            info.pooling = _read_json(path / "config.json") if (path / "config.json").is_file() else {}
        elif kind.endswith(".Normalize"):
            info.normalize_module = True
        elif kind.endswith("SpladePooling"):
            info.splade_pooling = _read_json(path / "config.json") if (path / "config.json").is_file() else {}
        elif kind.endswith("Dense"):
            cfg = _read_json(path / "config.json")
            info.dense_modules.append(
                DenseModuleSpec(
                    path=path,
                    in_features=int(cfg["in_features"]),
                    out_features=int(cfg["out_features"]),
                    bias=bool(cfg.get("bias", True)),
                    # sentence-transformers' Dense class defaults to Tanh when the config is silent
                    activation=str(cfg.get("activation_function", "torch.nn.modules.activation.Tanh")),
                    use_residual=bool(cfg.get("use_residual", False)),
                )
            )
    if (root / "1_Pooling" / "config.json").is_file() and info.pooling is None and not modules:
        info.pooling = _read_json(root / "1_Pooling" / "config.json")
    if (root / "artifact.metadata").is_file():
        meta = _read_json(root / "artifact.metadata")
        info.stanford_metadata = meta if isinstance(meta, dict) else {}
    if not info.dense_modules:
        info.stanford_linear = "linear.weight" in _weight_keys(transformer_path)
    return info


def infer_paradigm(info: CheckpointInfo) -> str:
    """Guess the paradigm of a checkpoint that is not in the registry."""
    if info.stanford_linear or info.is_pylate:
        return "multi_vector"
    if info.splade_pooling is not None:
        return "sparse"
    if info.pooling is not None:
        return "dense"
    if info.is_masked_lm:
        return "sparse"
    return "dense"
