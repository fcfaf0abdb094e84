"""``TesseraTimeSeries``: TinyTimeMixer forecasts and embeddings on onnxruntime + numpy.

Input handling (see also :mod:`tessera_onnx.timeseries.ops`):

- **layouts**: a 1-D series, an ``[L, C]`` array (one multivariate series), a ``[B, L, C]``
  array, a list of numpy arrays / pandas objects of any lengths, or a pandas Series/DataFrame
  (pandas is never imported by tessera-onnx; it is recognised by duck typing). Outputs come back
  in the same layout: ``forecast`` of a 1-D series is ``[H]``, of ``[L, C]`` is ``[H, C]``, of a
  batch ``[B, H, C]``; a pandas input gives a pandas result indexed by future timestamps.
- **longer than the context**: only the most recent ``context_length`` steps are used.
- **shorter than the context**: left-padded with zeros marked unobserved
  (``past_observed_mask = 0``), as granite-tsfm does, so ``loc``/``scale`` only see real data.
- **NaN / +-inf**: unobserved (value 0, mask 0); they never reach an output. A channel with no
  finite value in its window is an :class:`~tessera_onnx.errors.InvalidInputError`.
- **constant series**: fine; the std scaler's floor gives ``scale = sqrt(1e-5)`` and the
  forecast stays at the constant (up to the model's tiny normalised output times that scale).
- **horizon** longer than the model's prediction length: an ``InvalidInputError`` naming a
  registry model that forecasts that far.
- **freq** (models with a frequency token): ``"h"``, ``"15min"``, ``"D"``, ``"W"``, pandas
  aliases, a pandas offset or an int token; inferred from a pandas ``DatetimeIndex`` when not
  given; an unknown frequency maps to ``oov`` like granite-tsfm. Ignored by models without one.

Embeddings: see :data:`tessera_onnx.timeseries.config.EMBEDDING_DEFINITION`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._warnings import deprecated as _deprecated
from ..arguments import public
from ..batch_parallel import BatchParallelRunner, available_cores
from ..errors import ArtifactError, InvalidInputError
from ..model import TesseraModel, check_positive_int
from .config import TimeSeriesConfig
from .frequency import frequency_token, infer_frequency
from .ops import SeriesBatch, as_batch, build_inputs, cosine_similarity, patch_observed, pool_patches

__all__ = ["TesseraTimeSeries", "future_index", "suggest_model_for_horizon"]

DEFAULT_BATCH_SIZE = 256
PARALLEL_MODES = ("batch", "intra")


@public
def suggest_model_for_horizon(horizon: int, *, freq_token: bool | None = None) -> str | None:
    """A registry time-series model id whose prediction length covers ``horizon`` (or None).

    Prefers a model with the same frequency-token requirement, then the shortest sufficient
    prediction length, then the shortest context.
    """
    try:
        from ..registry import list_models

        models = list_models("timeseries")
    except Exception:  # a broken/missing registry must not mask the real error
        return None
    fits = [m for m in models if int(m.option("prediction_length", 0)) >= horizon]
    if not fits:
        return None
    fits.sort(
        key=lambda m: (
            freq_token is not None and bool(m.option("freq_token")) != freq_token,
            int(m.option("prediction_length")),
            int(m.option("context_length", 0)),
        )
    )
    return fits[0].id


@public
def future_index(index: Any, horizon: int) -> Any:
    """The ``horizon`` steps after a pandas index: timestamps for a ``DatetimeIndex`` with an
    inferable frequency, consecutive integers otherwise. Returns ``None`` without pandas input."""
    if index is None:
        return None
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - index came from pandas, so it is installed
        return None
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 1:
        freq = index.freq or (pd.infer_freq(index) if len(index) >= 3 else None)
        if freq is not None:
            offset = pd.tseries.frequencies.to_offset(freq)
            return pd.date_range(index[-1] + offset, periods=horizon, freq=offset)
        if len(index) >= 2:  # irregular: continue with the median step
            step = pd.Series(index).diff().median()
            return pd.DatetimeIndex([index[-1] + step * (i + 1) for i in range(horizon)])
    if isinstance(index, pd.RangeIndex):
        step = index.step
        return pd.RangeIndex(index.stop, index.stop + step * horizon, step)
    try:
        last = int(index[-1])
        return pd.RangeIndex(last + 1, last + 1 + horizon)
    except (TypeError, ValueError):
        return pd.RangeIndex(len(index), len(index) + horizon)


class TesseraTimeSeries(TesseraModel):
    """Forecast and embed time series with an exported TinyTimeMixer artifact.

    ``TesseraTimeSeries(artifact_path, device="auto", threads=None)``; ``artifact_path`` is an
    artifact directory or a registry/cache id (resolved by :mod:`tessera_onnx.locate`).
    ``verify`` checks the sha256 of the artifact files on load; ``batch_size``: for time
    series, *series windows per onnxruntime call* (default 256).

    ``threads`` (default: the cores this process may use) and ``parallel`` say how a CPU uses
    them. ``parallel="batch"`` (default) splits each batch into ``threads`` slices of at least
    4 series and runs them concurrently on a one-thread session
    (:class:`~tessera_onnx.batch_parallel.BatchParallelRunner`): TinyTimeMixer is ~200 small
    kernels, and waking intra-op threads for each cost more than it saved (batch of 64 on 2
    cores: 9.3 ms against 12.3 ms). ``parallel="intra"`` is onnxruntime's own parallelism inside
    each operator, with ``threads`` intra-op threads; ``spin`` then says when they busy-wait
    between operators: ``False`` (default) never, ``"call"`` only while a call runs, ``True``
    always (onnxruntime's default; slow on shared cores). GPU providers always run the whole batch in one call.
    Instances are thread-safe after construction.
    """

    paradigm = "timeseries"

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        parallel: str = "batch",
        **options: Any,
    ) -> None:
        if parallel not in PARALLEL_MODES:
            raise InvalidInputError(f"parallel must be one of {PARALLEL_MODES}, got {parallel!r}")
        super().__init__(model, **options)
        manifest = self.manifest
        self.config: TimeSeriesConfig = TimeSeriesConfig.from_dict(manifest.config["timeseries"])
        self.batch_size = check_positive_int(batch_size, "batch_size")
        threads = self._session_options["threads"]
        onnxruntime = self._session_options["backend"] == "onnxruntime"  # OpenVINO parallelises itself
        workers = (threads or available_cores()) if parallel == "batch" and onnxruntime else 1
        self.session = self._verified(
            (manifest.model_file,),
            lambda: self._create_session(manifest.model_file, threads=1 if workers > 1 else threads),
        )
        self._runner: BatchParallelRunner | None = None
        if workers > 1 and self.provider == "CPUExecutionProvider":
            self._runner = BatchParallelRunner(self.session, workers)
        self.parallel = parallel if self._runner is not None else "intra"
        names = {i.name for i in self.session.get_inputs()}
        missing = [n for n in self.config.input_names if n not in names]
        if missing:
            raise ArtifactError(f"the graph of {self.path} lacks inputs {missing} that its manifest lists")

    # ------------------------------------------------------------------ properties
    @property
    def context_length(self) -> int:
        """Number of past time steps the model reads (its context window)."""
        return self.config.context_length

    @property
    def prediction_length(self) -> int:
        """Number of future steps the model forecasts in one pass."""
        return self.config.prediction_length

    @property
    def dimension(self) -> int:
        """Embedding dimension (the backbone ``d_model``): the width of :meth:`encode`'s vectors."""
        return self.config.d_model

    @property
    def dim(self) -> int:
        """Deprecated alias of :attr:`dimension`."""
        _deprecated("TesseraTimeSeries.dim", "dimension")
        return self.dimension

    def _info_extra(self) -> dict[str, Any]:
        c = self.config
        return {
            "context_length": c.context_length,
            "prediction_length": c.prediction_length,
            "parallel": self.parallel,
            "batch_size": self.batch_size,
        }

    def __repr__(self) -> str:
        c = self.config
        return (
            f"TesseraTimeSeries({self.model_id!r}, context={c.context_length}, prediction={c.prediction_length}, "
            f"dimension={c.d_model}, freq_token={c.freq_token_required}, provider={self.provider!r})"
        )

    # ------------------------------------------------------------------ core
    def _check_channels(self, batch: SeriesBatch) -> None:
        fixed = self.config.num_input_channels
        if fixed is not None and batch.num_channels != fixed:
            raise InvalidInputError(
                f"this model mixes channels and needs exactly {fixed} channels per series, got {batch.num_channels}"
            )

    def _freq_tokens(self, freq: Any, batch: SeriesBatch) -> np.ndarray | None:
        c = self.config
        if not c.freq_token_required:
            return None
        n = len(batch.series)
        if freq is None:
            freq = infer_frequency(batch.index) if batch.index is not None else None
            if freq is None:
                freq = c.default_freq
            if freq is None:
                raise InvalidInputError(
                    f"model {self.model_id!r} needs the sampling frequency of the series (a frequency token): "
                    f"pass freq= one of {sorted(c.frequency_mapping)} (pandas aliases such as '1H', '15T' work; "
                    "'oov' when unknown), or a pandas object with a DatetimeIndex"
                )
        if isinstance(freq, (list, tuple, np.ndarray)):
            if len(freq) != n:
                raise InvalidInputError(f"got {len(freq)} frequencies for {n} series")
            items = list(freq)
        else:
            items = [freq] * n
        tokens = [
            frequency_token(f, c.frequency_mapping, c.frequency_vocab_size)
            for f in (int(x) if isinstance(x, np.integer) else x for x in items)
        ]
        return np.asarray(tokens, dtype=np.int64)

    def _run(
        self, values: np.ndarray, masks: np.ndarray, tokens: np.ndarray | None, outputs: Sequence[str]
    ) -> list[np.ndarray]:
        results: list[list[np.ndarray]] = [[] for _ in outputs]
        for lo in range(0, values.shape[0], self.batch_size):
            hi = lo + self.batch_size
            feeds = {"past_values": values[lo:hi], "past_observed_mask": masks[lo:hi]}
            if tokens is not None:
                feeds["freq_token"] = tokens[lo:hi]
            run = self._runner.run if self._runner is not None else self.session.run
            for acc, out in zip(results, run(list(outputs), feeds), strict=False):
                acc.append(out)
        return [np.concatenate(parts, axis=0) for parts in results]

    def _prepare(
        self, series: Any, freq: Any
    ) -> tuple[SeriesBatch, np.ndarray, np.ndarray, np.ndarray | None]:
        batch = as_batch(series)
        self._check_channels(batch)
        values, masks = build_inputs(batch, self.context_length)
        return batch, values, masks, self._freq_tokens(freq, batch)

    def _horizon(self, horizon: int | None) -> int:
        if horizon is None:
            return self.prediction_length
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon <= 0:
            raise InvalidInputError(f"horizon must be a positive integer, got {horizon!r}")
        horizon = int(horizon)
        if horizon > self.prediction_length:
            better = suggest_model_for_horizon(horizon, freq_token=self.config.freq_token_required)
            hint = (
                f"use a model that forecasts at least {horizon} steps, e.g. {better!r} "
                f"(`tessera-export build {better} --out DIR`)"
                if better
                else "no registry TinyTimeMixer forecasts that far (the longest is 720 steps); "
                "forecast in chunks by appending each forecast to the series"
            )
            raise InvalidInputError(
                f"horizon {horizon} exceeds the prediction length {self.prediction_length} of model "
                f"{self.model_id!r}; {hint}"
            )
        return horizon

    # ------------------------------------------------------------------ public API
    def forecast(self, series: Any, horizon: int | None = None, freq: Any = None) -> Any:
        """Forecast the next ``horizon`` steps (default: the model's prediction length).

        Returns ``[H]`` for a 1-D series, ``[H, C]`` for ``[L, C]``, ``[B, H, C]`` for a batch
        (or a list of ``[H, C]`` arrays for a ragged list); pandas in, pandas out (indexed by the
        future timestamps when the input has a ``DatetimeIndex``).
        """
        h = self._horizon(horizon)
        batch, values, masks, tokens = self._prepare(series, freq)
        (pred,) = self._run(values, masks, tokens, ["prediction_outputs"])
        pred = pred[:, :h, :].astype(np.float32)
        return self._shape_like(batch, pred, h)

    def _shape_like(self, batch: SeriesBatch, pred: np.ndarray, h: int) -> Any:
        if batch.columns is not None and batch.layout != "batch":  # pandas in, pandas out
            import pandas as pd  # input was pandas, so pandas is installed

            idx = future_index(batch.index, h)
            if batch.layout == "1d":
                return pd.Series(pred[0, :, 0], index=idx, name=(batch.columns or [None])[0])
            return pd.DataFrame(pred[0], index=idx, columns=batch.columns)
        if batch.layout == "1d":
            return pred[0, :, 0]
        if batch.layout == "2d":
            return pred[0]
        return pred

    def forecast_with_stats(self, series: Any, freq: Any = None) -> dict[str, np.ndarray]:
        """Raw graph outputs for a batch: ``prediction_outputs`` ``[B, H, C]``, ``loc``/``scale``
        ``[B, 1, C]``, ``past_values``/``past_observed_mask`` as fed (for analysis and tests)."""
        _, values, masks, tokens = self._prepare(series, freq)
        pred, loc, scale = self._run(values, masks, tokens, ["prediction_outputs", "loc", "scale"])
        return {
            "prediction_outputs": pred,
            "loc": loc,
            "scale": scale,
            "past_values": values,
            "past_observed_mask": masks,
        }

    def encode(self, series: Any, *, per_channel: bool = False, freq: Any = None) -> np.ndarray:
        """Embed series: ``[D]`` per series (``[B, D]`` for a batch); ``per_channel=True`` gives
        ``[C, D]`` (``[B, C, D]``). Definition: ``backbone_hidden_state`` (scaled space), mean over
        the data patches holding observed points (frequency-token patch excluded), then mean
        over channels for the per-series vector. Not normalised."""
        batch, values, masks, tokens = self._prepare(series, freq)
        (hidden,) = self._run(values, masks, tokens, ["backbone_hidden_state"])
        c = self.config
        observed = patch_observed(masks, c.patch_length, c.patch_stride, c.num_patches)
        per_chan = pool_patches(hidden, observed, skip_first=c.freq_token_required).astype(np.float32)
        out = per_chan if per_channel else per_chan.mean(axis=1)
        return out if batch.layout == "batch" else out[0]

    def embed(self, series: Any, *, per_channel: bool = False, freq: Any = None) -> np.ndarray:
        """Deprecated alias of :meth:`encode` (the verb every paradigm uses)."""
        _deprecated("TesseraTimeSeries.embed()", "encode()")
        return self.encode(series, per_channel=per_channel, freq=freq)

    def similarity(self, a: Any, b: Any, *, freq: Any = None) -> np.ndarray:
        """Cosine similarity ``[N, M]`` between the embeddings of two sets of series."""
        ea = np.atleast_2d(self.encode(a, freq=freq))
        eb = np.atleast_2d(self.encode(b, freq=freq))
        return cosine_similarity(ea, eb)

    def search(self, query: Any, corpus: Any, *, top_k: int = 5, freq: Any = None) -> list[tuple[int, float]]:
        """The ``top_k`` series of ``corpus`` (a batch or list of series) most similar to one
        ``query`` series - cosine of their :meth:`embed` vectors - best first, as
        ``(index, score)``. For repeated searches, embed the corpus once and use
        :func:`tessera_onnx.timeseries.cosine_similarity`."""
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise InvalidInputError(f"top_k must be a positive integer, got {top_k!r}")
        q = self.encode(query, freq=freq)
        if q.ndim != 1:
            raise InvalidInputError("search takes one query series; use similarity() for many")
        emb = self.encode(corpus, freq=freq)
        emb = np.atleast_2d(emb)
        scores = cosine_similarity(q[None, :], emb)[0]
        k = min(int(top_k), scores.shape[0])
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(i), float(scores[i])) for i in order]

    def anomaly_scores(
        self,
        series: Any,
        *,
        horizon: int = 1,
        min_context: int | None = None,
        freq: Any = None,
    ) -> np.ndarray:
        """Forecast-error anomaly score of every step of ONE series (1-D or ``[L, C]``).

        Rolling forecasts: windows end at ``t = min_context, min_context + horizon, ...``; each
        forecasts the next ``horizon`` steps from (at most) the ``context_length`` steps before
        ``t``. The score of step ``s`` is ``|x_s - forecast_s| / scale_w``, where ``scale_w`` is
        the scale the model's scaler computed for that window (the std of its observed points,
        floored at ``sqrt(1e-5)``), i.e. the error in units of the window's own variability.
        Steps before ``min_context`` (default ``min(context_length, L // 2)``) and unobserved
        (NaN) steps have no score and are NaN. Returns ``[L]`` for a 1-D series, ``[L, C]``
        otherwise. Scores around 3+ are unusual for a well-fitting model.
        """
        batch = as_batch(series)
        if batch.layout == "batch":
            raise InvalidInputError("anomaly_scores takes one series (1-D or [L, C]); loop over a batch")
        self._check_channels(batch)
        h = self._horizon(horizon)
        x = batch.series[0]
        n = x.shape[0]
        start = min(self.context_length, n // 2) if min_context is None else int(min_context)
        if not 1 <= start < n:
            raise InvalidInputError(
                f"min_context must be in 1..{n - 1} for a series of length {n}, got {start}"
            )
        tokens = self._freq_tokens(freq, SeriesBatch([x], "batch", index=batch.index))
        scores = np.full(x.shape, np.nan, dtype=np.float64)
        ends_all = range(start, n, h)
        for lo in range(0, len(ends_all), self.batch_size):  # one batch of windows at a time
            ends = ends_all[lo : lo + self.batch_size]
            windows = SeriesBatch(
                [x[max(0, e - self.context_length) : e] for e in ends], "batch", index=batch.index
            )
            values, masks = build_inputs(windows, self.context_length)
            chunk_tokens = None if tokens is None else np.repeat(tokens, len(ends))
            pred, scale = self._run(values, masks, chunk_tokens, ["prediction_outputs", "scale"])
            for w, e in enumerate(ends):
                stop = min(e + h, n)
                actual = x[e:stop]
                err = np.abs(actual - pred[w, : stop - e, :]) / scale[w, 0, :]
                scores[e:stop] = np.where(np.isfinite(actual), err, np.nan)
        return scores[:, 0] if batch.layout == "1d" else scores
