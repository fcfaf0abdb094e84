"""The typed ``config["timeseries"]`` block of a TinyTimeMixer artifact manifest.

Written by ``tessera_export.timeseries`` with :meth:`TimeSeriesConfig.to_dict`, read by
:class:`tessera_onnx.timeseries.TesseraTimeSeries` with :meth:`TimeSeriesConfig.from_dict`.
Unknown keys are ignored on read; missing keys take the defaults (see ``tessera_onnx.text.config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config_base import _ConfigBase

__all__ = ["TimeSeriesConfig", "CHANNEL_MODES", "SCALINGS", "EMBEDDING_DEFINITION"]

CHANNEL_MODES = ("common_channel", "mix_channel")
SCALINGS = ("std", "mean", None)

#: What ``TesseraTimeSeries.embed`` returns, recorded in every manifest so the vectors are
#: self-describing. See the README ``timeseries`` section.
EMBEDDING_DEFINITION = (
    "backbone_hidden_state [B, C, P(+1), d_model] of the TinyTimeMixer encoder, computed on the "
    "model's own scaled input (loc/scale of the window, observed points only); mean over the P "
    "data patches (the frequency-token patch, when present, is excluded); per-series vector = "
    "mean over channels of the per-channel vectors; not L2-normalised (cosine similarity "
    "normalises)"
)


@dataclass(frozen=True)
class TimeSeriesConfig(_ConfigBase):
    """Everything the runtime needs to forecast and embed with an exported TinyTimeMixer.

    - ``context_length``: the graph's fixed input length L. Longer series are cropped to the
      most recent L steps, shorter ones left-padded with zeros marked unobserved.
    - ``prediction_length``: the forecast length the graph returns (already
      ``prediction_filter_length`` when the checkpoint set one).
    - ``num_input_channels``: the fixed channel count C, or ``None`` when any C works
      (``common_channel`` mode without channel mixing).
    - ``patch_length``/``patch_stride``/``num_patches``: the patching (``num_patches`` counts
      data patches only, without the frequency-token patch).
    - ``d_model``: backbone width = embedding dimension.
    - ``scaling``: the in-graph scaler (``"std"``, ``"mean"`` or ``None``).
    - ``freq_token_required``: the graph has a ``freq_token`` input (``resolution_prefix_tuning``).
    - ``frequency_mapping``: frequency alias -> token id; ``frequency_vocab_size`` bounds the ids.
    - ``channel_mode``: ``common_channel`` or ``mix_channel`` (channel mixing fixes C).
    - ``prediction_filter_length``: the checkpoint's filter (or ``None``);
      ``native_prediction_length`` the head's length before filtering.
    - ``embedding``: the definition of :meth:`TesseraTimeSeries.embed` vectors.
    """

    context_length: int = 512
    prediction_length: int = 96
    num_input_channels: int | None = None
    patch_length: int = 64
    patch_stride: int = 64
    num_patches: int = 8
    d_model: int = 192
    scaling: str | None = "std"
    minimum_scale: float = 1e-5
    freq_token_required: bool = False
    frequency_mapping: Mapping[str, int] = field(default_factory=dict)
    frequency_vocab_size: int = 0
    default_freq: str | None = None
    channel_mode: str = "common_channel"
    prediction_filter_length: int | None = None
    native_prediction_length: int | None = None
    embedding: str = EMBEDDING_DEFINITION
    input_names: tuple[str, ...] = ("past_values", "past_observed_mask")
    output_names: tuple[str, ...] = ("prediction_outputs", "backbone_hidden_state", "loc", "scale")

    def __post_init__(self) -> None:
        for name in (
            "context_length",
            "prediction_length",
            "patch_length",
            "patch_stride",
            "num_patches",
            "d_model",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.num_input_channels is not None and (
            not isinstance(self.num_input_channels, int) or self.num_input_channels <= 0
        ):
            raise ValueError(
                f"num_input_channels must be a positive integer or None, got {self.num_input_channels!r}"
            )
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {self.scaling!r}")
        if self.channel_mode not in CHANNEL_MODES:
            raise ValueError(f"channel_mode must be one of {CHANNEL_MODES}, got {self.channel_mode!r}")
        if self.freq_token_required and not self.frequency_mapping:
            raise ValueError("freq_token_required needs a frequency_mapping")
        if not isinstance(self.frequency_mapping, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in self.frequency_mapping.items()
        ):
            raise ValueError("frequency_mapping must map frequency strings to integer tokens")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (tuples become lists, ``frequency_mapping`` a plain dict)."""
        data = super().to_dict()
        data["frequency_mapping"] = dict(self.frequency_mapping)
        return data
