"""``TesseraBatchEmbedder``: the callable class Ray Data's ``Dataset.map_batches`` runs in an actor pool.

Each actor loads the artifact once (in ``__init__``); every call embeds one batch's input column
and returns the batch as an Arrow table with the embedding columns added (layout:
:mod:`tessera_onnx.distributed.columns`). Inside a Ray actor the onnxruntime thread count
defaults to the CPUs Ray assigned to the actor, and the device to CUDA when it was assigned a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ._deps import require_pyarrow
from .columns import Quantization, result_columns

__all__ = ["TesseraBatchEmbedder", "ENCODE_METHODS", "actor_resources"]

# Text methods of every text paradigm, and the image/text towers of image-text and page models:
# a column of image paths or encoded image bytes goes through ``encode_images``.
ENCODE_METHODS = ("encode", "encode_documents", "encode_queries", "encode_images", "encode_texts")


def actor_resources() -> dict[str, float]:
    """The resources Ray assigned to the current worker (``{"CPU": 2.0, "GPU": 1.0}``), or ``{}`` outside Ray."""
    try:
        import ray
    except ImportError:
        return {}
    if not ray.is_initialized():
        return {}
    try:
        return {k: float(v) for k, v in ray.get_runtime_context().get_assigned_resources().items()}
    except Exception:  # the driver, or a Ray without this API: no assignment to follow
        return {}


class TesseraBatchEmbedder:
    """Embed one column of a batch with a tessera artifact; for ``Dataset.map_batches`` actor pools.

    ``TesseraBatchEmbedder(model, column="text")`` loads ``model`` (an artifact directory or a
    model id every node can resolve) with ``tessera_onnx.Tessera``. Calling it with a batch
    (``pyarrow.Table``, ``pandas.DataFrame`` or a dict of arrays, so any ``batch_format``) returns
    a ``pyarrow.Table``: the batch's other columns, then the embedding columns (``embedding``, or
    ``sparse_indices`` + ``sparse_values``). Output row ``i`` is input row ``i``.

    Options: ``method`` (``"encode"``, ``"encode_documents"`` or ``"encode_queries"``) and
    ``encode_kwargs`` choose the call; ``quantization`` (a scheme name, a
    :class:`~tessera_onnx.distributed.columns.Quantization` or a ``{"scheme", "ranges"}`` dict)
    quantizes dense and multi-vector rows before they are written; ``keep_input_column`` keeps
    the text; ``threads`` / ``device`` default to the actor's Ray CPUs / GPU (``"cuda"`` when a
    GPU was assigned, else ``"cpu"``); ``model_options`` go to ``Tessera`` (``max_length``,
    ``dimension``, ...). ``output_columns(result, n) -> {name: array}`` replaces the built-in
    column layout for result types it does not know (e.g. a future paradigm's).
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        column: str = "text",
        method: str = "encode",
        encode_kwargs: Mapping[str, Any] | None = None,
        quantization: Quantization | str | Mapping[str, Any] | None = None,
        keep_input_column: bool = False,
        threads: int | None = None,
        device: str | None = None,
        model_options: Mapping[str, Any] | None = None,
        output_columns: Callable[[Any, int], Mapping[str, Any]] | None = None,
    ) -> None:
        from ..factory import Tessera

        require_pyarrow()
        if method not in ENCODE_METHODS:
            raise InvalidInputError(f"method must be one of {ENCODE_METHODS}, got {method!r}")
        resources = actor_resources()
        options = dict(model_options or {})
        if threads is None and resources.get("CPU"):
            threads = max(1, round(resources["CPU"]))
        if resources and threads:  # tokenizers' Rust thread pool: the actor's CPUs too (read on first use)
            os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
        if device is None:
            device = "cuda" if resources.get("GPU") else "cpu"
        options.setdefault("threads", threads)
        options.setdefault("device", device)
        self.model = Tessera(model, **options)
        if not callable(getattr(self.model, method, None)):
            raise InvalidInputError(f"{type(self.model).__name__} has no {method}() to embed a column with")
        self.column = column
        self.method = method
        self.encode_kwargs = dict(encode_kwargs or {})
        self.quantization = Quantization.coerce(quantization)
        self.keep_input_column = keep_input_column
        self.output_columns = output_columns
        self.threads = threads
        self.device = device

    def embed_column(self, values: Sequence[Any]) -> tuple[dict[str, Any], dict]:
        """Embed ``values`` (one item per row); return ``(columns, schema_metadata)``."""
        items = list(values)
        result = getattr(self.model, self.method)(items, **self.encode_kwargs)
        if self.output_columns is not None:
            return dict(self.output_columns(result, len(items))), {}
        layout = "sparse" if getattr(self.model, "paradigm", "") == "sparse" else "multi_vector"
        return result_columns(
            result, len(items), self.quantization, empty_layout=layout, width=int(self.model.dimension)
        )

    def __call__(self, batch: Any) -> Any:
        """The batch as a ``pyarrow.Table`` with the embedding columns appended."""
        pa = require_pyarrow()
        table = _as_arrow(batch)
        if self.column not in table.column_names:
            raise InvalidInputError(
                f"the batch has no column {self.column!r} to embed; it has {table.column_names} "
                "(pass column=...)"
            )
        columns, metadata = self.embed_column(table.column(self.column).to_pylist())
        if not self.keep_input_column:
            table = table.drop_columns([self.column])
        clash = sorted(set(columns) & set(table.column_names))
        if clash:
            raise InvalidInputError(f"the batch already has output column(s) {clash}; rename them first")
        for name, array in columns.items():
            table = table.append_column(
                name, array if isinstance(array, (pa.Array, pa.ChunkedArray)) else pa.array(array)
            )
        if metadata:
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
        return table


def _as_arrow(batch: Any) -> Any:
    """A ``pyarrow.Table`` from a pyarrow table, a pandas DataFrame or a dict of columns."""
    pa = require_pyarrow()
    if isinstance(batch, pa.Table):
        return batch
    if isinstance(batch, Mapping):
        return pa.table({name: _as_arrow_column(name, col) for name, col in batch.items()})
    if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # pandas, without importing it
        return pa.Table.from_pandas(batch, preserve_index=False)
    raise InvalidInputError(
        f"a batch must be a pyarrow.Table, a pandas.DataFrame or a dict, got {type(batch).__name__}"
    )


def _as_arrow_column(name: str, column: Any) -> Any:
    pa = require_pyarrow()
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        return column
    arr = np.asarray(column) if not isinstance(column, list) else None
    if arr is None or arr.ndim <= 1:
        return pa.array(column if arr is None else arr)
    if arr.ndim == 2 and arr.dtype != object:
        return pa.FixedSizeListArray.from_arrays(
            pa.array(np.ascontiguousarray(arr).reshape(-1)), arr.shape[1]
        )
    raise InvalidInputError(
        f"column {name!r} is a {arr.ndim}-D array; call map_batches(..., batch_format='pyarrow') to carry it through"
    )
