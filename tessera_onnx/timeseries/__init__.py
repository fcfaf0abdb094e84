"""Time series: IBM TinyTimeMixer forecasts and embeddings on onnxruntime + numpy.

Never imports torch; pandas is only used (lazily) when the caller passes pandas objects.

>>> from tessera_onnx.timeseries import TesseraTimeSeries      # doctest: +SKIP
>>> ts = TesseraTimeSeries("artifacts/ttm-r2-512-96")           # doctest: +SKIP
>>> ts.forecast(series, horizon=24, freq="h")                   # doctest: +SKIP
"""

from __future__ import annotations

from .config import EMBEDDING_DEFINITION, TimeSeriesConfig
from .embedder import TesseraTimeSeries, future_index, suggest_model_for_horizon
from .frequency import DEFAULT_FREQUENCY_MAPPING, frequency_token, infer_frequency, normalize_frequency
from .ops import (
    as_batch,
    build_inputs,
    cosine_similarity,
    fit_window,
    patch_observed,
    pool_patches,
    std_scale,
)

__all__ = [
    "TesseraTimeSeries",
    "TimeSeriesConfig",
    "EMBEDDING_DEFINITION",
    "DEFAULT_FREQUENCY_MAPPING",
    "frequency_token",
    "normalize_frequency",
    "infer_frequency",
    "future_index",
    "suggest_model_for_horizon",
    "as_batch",
    "build_inputs",
    "fit_window",
    "std_scale",
    "patch_observed",
    "pool_patches",
    "cosine_similarity",
]
