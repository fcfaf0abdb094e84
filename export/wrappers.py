"""torch modules wrapped around a transformers model so the exported graph has the outputs we want.

Each wrapper's ``forward`` takes the ONNX inputs positionally, in ``input_names`` order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tessera_onnx.errors import ExportError

from .checkpoint import CheckpointInfo, DenseModuleSpec, load_tensors

__all__ = [
    "build_activation",
    "DenseStack",
    "EncoderGraph",
    "ColBERTGraph",
    "PooledDenseGraph",
    "SpladeLogitsGraph",
    "SpladePooledGraph",
    "load_projection",
]


def build_activation(name: str) -> nn.Module:
    """Instantiate a ``torch.nn`` activation named like sentence-transformers does (no arbitrary imports)."""
    short = name.rsplit(".", 1)[-1]
    if not (name.startswith("torch.nn") or "." not in name):
        raise ExportError(f"Dense activation {name!r} is not a torch.nn module; refusing to import it")
    cls = getattr(nn, short, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ExportError(f"unknown Dense activation {name!r}")
    return cls()


class _DenseLayer(nn.Module):
    def __init__(self, spec: DenseModuleSpec) -> None:
        super().__init__()
        self.linear = nn.Linear(spec.in_features, spec.out_features, bias=spec.bias)
        self.activation = build_activation(spec.activation)
        self.use_residual = spec.use_residual
        self.residual: nn.Module | None = None
        if spec.use_residual and spec.in_features != spec.out_features:
            self.residual = nn.Linear(spec.in_features, spec.out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.activation(self.linear(x))
        if self.use_residual:
            y = y + (self.residual(x) if self.residual is not None else x)
        return y


class DenseStack(nn.Module):
    """The chain of sentence-transformers/PyLate ``Dense`` modules (or a Stanford ``linear``)."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    @property
    def out_features(self) -> int:
        """Output width of the last layer."""
        return self.layers[-1].linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply each layer in order to ``x`` [..., in_features]."""
        for layer in self.layers:
            x = layer(x)
        return x


def load_projection(info: CheckpointInfo) -> DenseStack | None:
    """The projection of a checkpoint: its Dense modules, a Stanford ``linear.weight``, or None."""
    layers: list[nn.Module] = []
    for spec in info.dense_modules:
        layer = _DenseLayer(spec)
        tensors = load_tensors(spec.path)
        state = {"linear.weight": tensors["linear.weight"]}
        if spec.bias:
            if "linear.bias" not in tensors:
                raise ExportError(f"{spec.path}: config says bias=true but linear.bias is missing")
            state["linear.bias"] = tensors["linear.bias"]
        if layer.residual is not None:
            state["residual.weight"] = tensors["residual.weight"]
        missing, unexpected = layer.load_state_dict(state, strict=False)
        if [m for m in missing if not m.startswith("activation")]:
            raise ExportError(f"{spec.path}: missing weights {missing}")
        layers.append(layer)
    if not layers and info.stanford_linear:
        weight = load_tensors(info.transformer_path or info.root, ("linear.weight",))["linear.weight"]
        spec = DenseModuleSpec(
            path=info.root,
            in_features=weight.shape[1],
            out_features=weight.shape[0],
            bias=False,
            activation="torch.nn.modules.linear.Identity",
        )
        layer = _DenseLayer(spec)
        layer.linear.weight.data.copy_(weight)
        layers.append(layer)
    return DenseStack(layers).eval() if layers else None


class _Base(nn.Module):
    def __init__(self, model: nn.Module, input_names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = tuple(input_names)

    def _kwargs(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        return dict(zip(self.input_names, inputs, strict=True))


class EncoderGraph(_Base):
    """Encoder only: ``last_hidden_state`` [B, T, H]; pooling happens in numpy at runtime."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The encoder's ``last_hidden_state`` [B, T, H] for inputs given in ``input_names`` order."""
        return self.model(**self._kwargs(inputs)).last_hidden_state


class ColBERTGraph(_Base):
    """Encoder + baked projection: ``token_embeddings`` [B, T, dim], not normalised."""

    def __init__(self, model: nn.Module, input_names: Sequence[str], projection: DenseStack) -> None:
        super().__init__(model, input_names)
        self.projection = projection

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Projected token embeddings [B, T, dim] (not normalised) for inputs in ``input_names`` order."""
        return self.projection(self.model(**self._kwargs(inputs)).last_hidden_state)


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """sentence-transformers ``Pooling`` for one mode (right padding)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if mode == "mean_sqrt_len":
        return (hidden * m).sum(1) / torch.sqrt(m.sum(1).clamp(min=1e-9))
    if mode == "max":
        return torch.where(m > 0, hidden, torch.full_like(hidden, -1e9)).max(1).values
    if mode == "lasttoken":
        idx = (mask.sum(1) - 1).clamp(min=0).long()
        return hidden[torch.arange(hidden.shape[0]), idx]
    raise ExportError(f"pooling {mode!r} cannot be baked into the graph")


class PooledDenseGraph(_Base):
    """Encoder + pooling + Dense modules baked in: ``sentence_embedding`` [B, dim] (not normalised)."""

    def __init__(self, model: nn.Module, input_names: Sequence[str], pooling: str, dense: DenseStack) -> None:
        super().__init__(model, input_names)
        self.pooling = pooling
        self.dense = dense

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Pooled, Dense-projected sentence embeddings [B, dim] (not normalised)."""
        kwargs = self._kwargs(inputs)
        hidden = self.model(**kwargs).last_hidden_state
        return self.dense(pool(hidden, kwargs["attention_mask"], self.pooling))


class SpladeLogitsGraph(_Base):
    """MLM head: ``logits`` [B, T, V]; the runtime pools in numpy."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The MLM head's ``logits`` [B, T, V] for inputs given in ``input_names`` order."""
        return self.model(**self._kwargs(inputs)).logits


class SpladePooledGraph(_Base):
    """MLM head + SPLADE pooling in the graph: ``sparse_embedding`` [B, V]; B×T×V never leaves it."""

    def __init__(
        self, model: nn.Module, input_names: Sequence[str], activation: str, aggregation: str
    ) -> None:
        super().__init__(model, input_names)
        self.activation = activation
        self.aggregation = aggregation

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """SPLADE weights [B, V]: log1p(relu) (twice for ``log1p_log1p_relu``), masked, summed or maxed over T."""
        kwargs = self._kwargs(inputs)
        if self.aggregation == "max":
            return self._max_pooled(kwargs)
        logits = self.model(**kwargs).logits
        weights = torch.log1p(torch.relu(logits))
        if self.activation == "log1p_log1p_relu":
            weights = torch.log1p(weights)
        weights = weights * kwargs["attention_mask"].unsqueeze(-1).to(weights.dtype)
        return weights.sum(1)

    def _max_pooled(self, kwargs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``max_t act(z_t + b) · m_t`` computed as ``act(max_t z_t over real tokens + b)``.

        Adding the decoder bias ``b``, relu and log1p are non-decreasing (in floating point too), so
        they commute with the max: the same values, but the element-wise work runs on ``[B, V]``
        instead of ``[B, T, V]``, leaving the vocabulary MatMul, one mask and one ReduceMax on the
        big tensor (SPLADE-tiny, 16 x 56 tokens, one thread: the graph's element-wise passes took
        half of its time). A row without real tokens gives ``-1e30 -> relu -> 0``, as the masked form.
        """
        decoder = self.model.get_output_embeddings()
        bias = decoder.bias if isinstance(decoder, nn.Linear) else None
        if bias is not None:
            decoder.bias = None  # added after the max; restored below
        try:
            logits = self.model(**kwargs).logits
        finally:
            if bias is not None:
                decoder.bias = bias
        # padding rows move to -1e30 (an Add with a [B, T, 1] operand: onnxruntime's Where is ~5x
        # slower here); real rows add -0.0, which leaves every value as it is
        real = (kwargs["attention_mask"].unsqueeze(-1) > 0).to(logits.dtype)
        best = (logits + (real - 1.0) * 1e30).amax(1)
        if bias is not None:
            best = best + bias
        weights = torch.log1p(torch.relu(best))
        if self.activation == "log1p_log1p_relu":
            weights = torch.log1p(weights)
        return weights
