"""The ``cross_encoder`` block of an artifact manifest: how logits become scores.

Written by ``tessera_export.cross_encoder`` from the checkpoint's sentence-transformers settings
(``config_sentence_transformers.json`` ``activation_fn``/``prompts``/``default_prompt_name``, the
older ``config.json`` ``sentence_transformers.activation_fn`` or
``sbert_ce_default_activation_function``) and the classifier's ``num_labels``/``id2label``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config_base import ConfigBlock
from ..errors import InvalidInputError

__all__ = ["ACTIVATIONS", "CrossEncoderConfig", "activation_from_torch_path", "apply_activation", "softmax"]

# activations a manifest may name (sentence-transformers ``activation_fn`` classes without arguments)
ACTIVATIONS = ("sigmoid", "identity", "tanh", "relu", "softmax")


def activation_from_torch_path(path: str | None, num_labels: int) -> str:
    """The activation name for a sentence-transformers ``activation_fn`` dotted path.

    ``None`` gives sentence-transformers' default: sigmoid for one label, identity otherwise.
    Raises :class:`InvalidInputError` for a class that is not in :data:`ACTIVATIONS`.
    """
    if not path:
        return "sigmoid" if num_labels == 1 else "identity"
    name = str(path).rsplit(".", 1)[-1].lower()
    if name not in ACTIVATIONS:
        raise InvalidInputError(
            f"activation_fn {path!r} is not one tessera-onnx can run; supported: {ACTIVATIONS}"
        )
    return name


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D float array (max-subtracted, float32)."""
    z = x - x.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def apply_activation(logits: np.ndarray, name: str) -> np.ndarray:
    """``name`` applied to ``(n, num_labels)`` float32 logits (a new array)."""
    if name == "identity":
        return logits.copy()
    if name == "sigmoid":
        # 1 / (1 + exp(-x)) without overflow warnings for large negative logits
        out = np.empty_like(logits)
        pos = logits >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-logits[pos]))
        e = np.exp(logits[~pos])
        out[~pos] = e / (1.0 + e)
        return out
    if name == "tanh":
        return np.tanh(logits)
    if name == "relu":
        return np.maximum(logits, 0)
    if name == "softmax":
        # torch.nn.Softmax() without dim on a 2-D tensor takes dim=1
        return softmax(logits.astype(np.float32, copy=True))
    raise InvalidInputError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


@dataclass(frozen=True)
class CrossEncoderConfig(ConfigBlock):
    """How a cross-encoder's ``(n, num_labels)`` logits become scores.

    ``activation`` is one of :data:`ACTIVATIONS` (the checkpoint's saved ``activation_fn``, else
    sigmoid for one label and identity otherwise, as sentence-transformers); ``labels`` the
    classifier's label names in order; ``default_prompt_name`` names a prompt of the text
    config applied when a call passes none (sentence-transformers' ``default_prompt_name``).
    """

    num_labels: int = 1
    activation: str = "sigmoid"
    labels: tuple[str, ...] = ()
    default_prompt_name: str | None = None
    activation_source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.num_labels, int) or self.num_labels < 1:
            raise ValueError(f"num_labels must be a positive integer, got {self.num_labels!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
