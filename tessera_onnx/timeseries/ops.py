"""Pure-numpy time-series operations around the TinyTimeMixer graph (no onnxruntime, no pandas).

- :func:`as_batch` turns a 1-D series, an ``[L, C]`` array, a ``[B, L, C]`` array, a list of
  (possibly ragged) series, or a pandas Series/DataFrame (duck-typed) into a list of float64
  ``[L_i, C]`` arrays, remembering the caller's layout so outputs come back in the same shape.
- :func:`fit_window` crops a series to its most recent ``context_length`` steps or left-pads it,
  and builds ``past_observed_mask``: padding and non-finite values (NaN, +-inf) are 0 (unobserved)
  and their values are set to 0, exactly as granite-tsfm pads (``TinyTimeMixerForPrediction``
  left-pads zeros and marks them unobserved when a mask is given). The model's scaler only counts
  observed points, so padding and gaps never move ``loc``/``scale``.
- :func:`std_scale` is the reference ``TinyTimeMixerStdScaler`` in numpy (the graph does the
  scaling itself; this is for documentation, tests and anomaly scores).
- :func:`pool_patches` is the embedding definition; :func:`cosine_similarity` compares them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "SeriesBatch",
    "as_batch",
    "fit_window",
    "build_inputs",
    "std_scale",
    "patch_observed",
    "pool_patches",
    "cosine_similarity",
]


@dataclass
class SeriesBatch:
    """Series converted for the model, plus what is needed to shape outputs like the input.

    ``layout`` is ``"1d"`` (one univariate series), ``"2d"`` (one ``[L, C]`` series) or
    ``"batch"`` (``[B, L, C]`` or a list). ``index`` is the pandas index of a single pandas input
    (used to infer a frequency and future timestamps), ``columns`` its column names.
    """

    series: list[np.ndarray]
    layout: str
    index: Any = None
    columns: list[str] | None = None

    @property
    def num_channels(self) -> int:
        """Channel count ``C`` of the (first) converted ``[L, C]`` series."""
        return self.series[0].shape[1]


def _to_float_array(obj: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(obj)
    except Exception as exc:  # ragged nested lists etc.
        raise InvalidInputError(f"{what} cannot be read as a numeric array ({exc})") from exc
    if arr.dtype == object or arr.dtype.kind in "USMmV":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"{what} must hold numbers; got dtype {arr.dtype} (strings, dates or mixed objects). "
                "Pass only the value columns (e.g. df[['load']]) or convert them with astype(float)."
            ) from exc
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{what} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas" and hasattr(obj, "to_numpy")


def as_batch(series: Any) -> SeriesBatch:
    """Normalise caller input into float64 ``[L, C]`` arrays (see module docstring).

    Raises :class:`InvalidInputError` for empty input, non-numeric data, more than 3 dimensions
    or ragged channel counts.
    """
    if series is None:
        raise InvalidInputError("series is None; pass a 1-D array, an [L, C] array or a [B, L, C] array")
    if _is_pandas(series):
        index = getattr(series, "index", None)
        if getattr(series, "ndim", 1) == 1:
            arr = _to_float_array(series.to_numpy(), "the pandas Series")[:, None]
            name = getattr(series, "name", None)
            batch = SeriesBatch(
                [arr], "1d", index=index, columns=[str(name) if name is not None else "value"]
            )
        else:
            numeric = series.select_dtypes(include="number") if hasattr(series, "select_dtypes") else series
            dropped = [str(c) for c in series.columns if c not in numeric.columns]
            if dropped:
                raise InvalidInputError(
                    f"DataFrame columns {dropped} are not numeric; pass only value columns "
                    "(put the timestamps in the index, e.g. df.set_index('date'))"
                )
            arr = _to_float_array(numeric.to_numpy(), "the DataFrame")
            batch = SeriesBatch([arr], "2d", index=index, columns=[str(c) for c in numeric.columns])
    elif isinstance(series, (list, tuple)) and series and _is_list_of_series(series):
        arrays: list[np.ndarray] = []
        for i, item in enumerate(series):
            sub = as_batch(item)
            if sub.layout == "batch":
                raise InvalidInputError(
                    f"series[{i}] has 3 dimensions; a list must hold 1-D or [L, C] series"
                )
            arrays.append(sub.series[0])
        batch = SeriesBatch(arrays, "batch")
    else:
        arr = _to_float_array(series, "series")
        if arr.ndim == 1:
            batch = SeriesBatch([arr[:, None]], "1d")
        elif arr.ndim == 2:
            batch = SeriesBatch([arr], "2d")
        elif arr.ndim == 3:
            if arr.shape[0] == 0:
                raise InvalidInputError("the batch is empty (B = 0)")
            batch = SeriesBatch(list(arr), "batch")
        else:
            raise InvalidInputError(
                f"series has {arr.ndim} dimensions; expected a 1-D series, [L, C] or [B, L, C] "
                "(time along axis -2, channels last)"
            )
    channels = {s.shape[1] for s in batch.series}
    if len(channels) > 1:
        raise InvalidInputError(
            f"every series of a batch needs the same number of channels, got {sorted(channels)}"
        )
    for i, s in enumerate(batch.series):
        if s.shape[0] == 0:
            raise InvalidInputError(f"series {i} is empty (length 0)")
        if s.shape[1] == 0:
            raise InvalidInputError(f"series {i} has no channels (C = 0)")
    return batch


def _is_list_of_series(items: Sequence[Any]) -> bool:
    """True when a list is a batch of series rather than one array written as nested lists.

    A list whose items are numpy arrays or pandas objects is a batch (each item one 1-D or
    ``[L, C]`` series; lengths may differ). A list of plain Python lists keeps numpy semantics
    (``[[1, 2], [3, 4]]`` is one ``[L=2, C=2]`` series) unless the inner lists are ragged.
    """
    if all(_is_pandas(s) or isinstance(s, np.ndarray) for s in items):
        return True
    if not all(isinstance(s, (list, tuple)) for s in items):
        return False
    return len({np.shape(s) for s in items}) > 1


def fit_window(values: np.ndarray, context_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop/pad one ``[L, C]`` series to ``[context_length, C]``; return ``(values, mask)`` float32.

    - ``L > context_length``: the most recent ``context_length`` steps are kept.
    - ``L < context_length``: zeros are prepended with mask 0.
    - non-finite values get value 0 and mask 0.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] > context_length:
        values = values[-context_length:]
    finite = np.isfinite(values)
    out = np.zeros((context_length, values.shape[1]), dtype=np.float32)
    mask = np.zeros((context_length, values.shape[1]), dtype=np.float32)
    n = values.shape[0]
    out[context_length - n :] = np.where(finite, values, 0.0)
    mask[context_length - n :] = finite
    return out, mask


def build_inputs(batch: SeriesBatch, context_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack :func:`fit_window` of every series: ``past_values``, ``past_observed_mask`` ``[B, L, C]``.

    Raises :class:`InvalidInputError` when a channel of a series has no finite value inside the
    context window (there is nothing to forecast from), naming the series and channel.
    """
    vals, masks = [], []
    for i, s in enumerate(batch.series):
        v, m = fit_window(s, context_length)
        empty = np.flatnonzero(m.sum(axis=0) == 0)
        if empty.size:
            where = (
                f"series {i}, channel {int(empty[0])}"
                if len(batch.series) > 1
                else f"channel {int(empty[0])}"
            )
            raise InvalidInputError(
                f"{where} has no finite values in its last {context_length} steps (all NaN/inf); "
                "drop it or fill the gap before forecasting"
            )
        vals.append(v)
        masks.append(m)
    return np.stack(vals), np.stack(masks)


def std_scale(
    values: np.ndarray, mask: np.ndarray, minimum_scale: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """granite-tsfm ``TinyTimeMixerStdScaler`` over axis 1 of ``[B, L, C]``: ``(scaled, loc, scale)``.

    ``den = max(sum(mask), 1)``, ``loc = sum(x*mask)/den``,
    ``scale = sqrt(sum(((x-loc)*mask)^2)/den + minimum_scale)``; a constant series therefore gets
    ``scale = sqrt(1e-5)``, never 0.
    """
    den = np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
    loc = (values * mask).sum(axis=1, keepdims=True) / den
    var = (((values - loc) * mask) ** 2).sum(axis=1, keepdims=True) / den
    scale = np.sqrt(var + minimum_scale)
    return (values - loc) / scale, loc, scale


def patch_observed(mask: np.ndarray, patch_length: int, patch_stride: int, num_patches: int) -> np.ndarray:
    """``[B, C, P]`` boolean: does data patch p of channel c hold at least one observed step.

    Patches are taken from the end of the window exactly as ``TinyTimeMixerPatchify`` does.
    """
    length = mask.shape[1]
    start = length - (patch_length + patch_stride * (num_patches - 1))
    out = np.zeros((mask.shape[0], mask.shape[2], num_patches), dtype=bool)
    for p in range(num_patches):
        lo = start + p * patch_stride
        out[:, :, p] = mask[:, lo : lo + patch_length, :].max(axis=1) > 0
    return out


def pool_patches(
    hidden: np.ndarray, observed: np.ndarray | None = None, *, skip_first: bool = False
) -> np.ndarray:
    """Mean of ``backbone_hidden_state`` ``[B, C, P(+1), D]`` over patches -> ``[B, C, D]``.

    ``skip_first`` drops the frequency-token patch. With ``observed`` (``[B, C, P]`` from
    :func:`patch_observed`) only patches holding observed data are averaged, so the padding of
    a short series does not dilute its embedding; a channel with no observed patch falls back
    to all patches.
    """
    h = hidden[:, :, 1:, :] if skip_first else hidden
    if observed is None:
        return h.mean(axis=2)
    if observed.shape != h.shape[:3]:
        raise InvalidInputError(f"observed patches {observed.shape} do not match hidden state {h.shape[:3]}")
    w = observed.astype(h.dtype)
    none = w.sum(axis=2, keepdims=True) == 0
    w = np.where(none, 1.0, w)
    return (h * w[..., None]).sum(axis=2) / w.sum(axis=2)[..., None]


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix ``[N, M]`` of ``a`` ``[N, D]`` and ``b`` ``[M, D]`` (eps 1e-12)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float32))
    b = np.atleast_2d(np.asarray(b, dtype=np.float32))
    if a.shape[-1] != b.shape[-1]:
        raise InvalidInputError(f"cannot compare embeddings of dims {a.shape[-1]} and {b.shape[-1]}")
    an = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return an @ bn.T
