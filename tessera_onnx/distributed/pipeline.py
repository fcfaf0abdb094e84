"""``embed_dataset``: files → embeddings → Parquet on Ray Data, resumable; ``map_embeddings`` for any Dataset.

``embed_dataset`` plans deterministic shards of the inputs (:mod:`.shards`), skips the ones an
earlier run finished (:mod:`.store`), and hands the rest to an actor pool on Ray Data: each
actor loads the artifact once and, per shard, reads the rows, embeds them with a
:class:`~tessera_onnx.distributed.embedder.TesseraBatchEmbedder` and writes the shard's Parquet
file atomically with its completion marker. Ray Data restarts an actor that dies and retries its
shard (its actor pools run with ``max_restarts=-1`` and ``max_task_retries=-1``); because files are named by shard and written
atomically, a retry or a rerun can never write a row twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, InvalidInputError, ModelNotFoundError, TesseraError
from ._deps import require_pyarrow, require_ray
from .columns import Quantization
from .embedder import TesseraBatchEmbedder
from .shards import Shard, expand_inputs, plan_shards, read_shard
from .store import ShardStore

__all__ = ["EmbedReport", "embed_dataset", "map_embeddings", "default_actor_count"]


@dataclass(frozen=True)
class EmbedReport:
    """What one :func:`embed_dataset` call did."""

    output_dir: Path
    shards_total: int
    shards_skipped: int
    shards_written: int
    rows_written: int
    rows_total: int
    actors: int
    seconds: float


def embed_dataset(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    model: str | os.PathLike[str],
    *,
    text_column: str = "text",
    id_column: str | None = None,
    keep_columns: Sequence[str] = (),
    input_format: str | None = None,
    shard_rows: int = 1024,
    actors: int | None = None,
    cpus_per_actor: float = 1.0,
    gpus_per_actor: float = 0.0,
    method: str = "encode",
    encode_kwargs: Mapping[str, Any] | None = None,
    quantization: Quantization | str | Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    keep_text: bool = False,
    embedder_class: type[TesseraBatchEmbedder] = TesseraBatchEmbedder,
    address: str | None = None,
) -> EmbedReport:
    """Embed the ``text_column`` of Parquet / JSONL / text files into Parquet files under ``output_dir``.

    - ``inputs``: files or directories (searched recursively for ``.parquet``, ``.jsonl``,
      ``.ndjson``, ``.txt``); ``input_format`` forces one format for the files named.
      Directories and files whose names start with ``.`` or ``_`` are skipped.
    - ``model``: an artifact directory (on storage every node can read) or a model id.
    - ``id_column``: carried into the output; None generates ``id`` = ``"<relative path>:<row>"``.
      ``keep_columns`` are carried too, and the text itself with ``keep_text``. Text files have
      only the text.
    - ``shard_rows``: rows per shard, the unit of work, retry and resume.
    - ``actors``: actor-pool size (default: cluster CPUs // ``cpus_per_actor``, or GPUs //
      ``gpus_per_actor``, at most one per pending shard); each actor runs onnxruntime with
      ``cpus_per_actor`` threads, and on CUDA when ``gpus_per_actor`` > 0.
    - ``method`` / ``encode_kwargs`` / ``quantization`` / ``model_options``: see
      :class:`~tessera_onnx.distributed.embedder.TesseraBatchEmbedder`.
    - ``address``: passed to ``ray.init`` when Ray is not initialised yet (``"auto"`` joins the
      cluster this machine belongs to; None starts a local instance unless ``RAY_ADDRESS`` is set).

    Rerunning with the same arguments after a failure writes only the missing shards; the output
    then equals that of an uninterrupted run. Different settings for the same ``output_dir``
    raise :class:`InvalidInputError`. Read the result with
    :func:`~tessera_onnx.distributed.read_output` (or any Parquet reader).
    """
    ray = require_ray()
    require_pyarrow()
    started = time.perf_counter()
    quant = Quantization.coerce(quantization)
    store = ShardStore(output_dir)
    files = [f for f in expand_inputs(inputs, input_format) if store.root not in f.parents]
    if not files:
        raise InvalidInputError(f"no input files outside the output directory {store.root}")
    shards = plan_shards(files, shard_rows, input_format)
    if any(s.fmt == "text" for s in shards) and (id_column or keep_columns):
        raise InvalidInputError("text files have no columns besides the text: drop id_column / keep_columns")
    settings = {
        "model": _model_identity(model),
        "text_column": text_column,
        "id_column": id_column,
        "keep_columns": list(keep_columns),
        "shard_rows": shard_rows,
        "method": method,
        "encode_kwargs": _jsonable(dict(encode_kwargs or {})),
        "quantization": None if quant is None else quant.describe(),
        "model_options": _jsonable(dict(model_options or {})),
        "keep_text": keep_text,
        # sizes too: a file that grew would get different shard ranges, and old and new shards would overlap
        "inputs": {s.source: os.path.getsize(s.path) for s in shards},
    }
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    store.begin(settings, fingerprint)
    pending = [s for s in shards if not store.is_done(s)]
    pool = 0
    written: list[dict[str, Any]] = []
    if pending:
        if not ray.is_initialized():
            ray.init(address=address)
        pool = actors or default_actor_count(ray, cpus_per_actor, gpus_per_actor)
        pool = max(1, min(pool, len(pending)))
        embedder_kwargs = {
            "model": _model_reference(model),
            "column": text_column,
            "keep_input_column": keep_text,
            "method": method,
            "encode_kwargs": dict(encode_kwargs or {}),
            "quantization": quant,
            "model_options": dict(model_options or {}),
        }
        ds = ray.data.from_items([{"shard": s.to_json()} for s in pending], override_num_blocks=len(pending))
        ds = ds.map_batches(
            _ShardWriter,
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=pool),
            num_cpus=cpus_per_actor,
            num_gpus=gpus_per_actor or None,
            fn_constructor_kwargs={
                "output_dir": str(store.root),
                "embedder_class": embedder_class,
                "embedder_kwargs": embedder_kwargs,
                "text_column": text_column,
                "id_column": id_column,
                "keep_columns": list(keep_columns),
            },
        )
        written = [row for row in ds.take_all() if row["written"]]
    missing = [s.shard_id for s in shards if not store.is_done(s)]
    if missing:
        raise TesseraError(
            f"{len(missing)} shard(s) were not written (first: {missing[0]}); run again to resume"
        )
    return EmbedReport(
        output_dir=store.root,
        shards_total=len(shards),
        shards_skipped=len(shards) - len(pending),
        shards_written=len(written),
        rows_written=sum(int(r["rows"]) for r in written),
        rows_total=sum(int(r["rows"]) for r in store.done_records()),
        actors=pool,
        seconds=time.perf_counter() - started,
    )


def map_embeddings(
    dataset: Any,
    model: str | os.PathLike[str],
    *,
    column: str = "text",
    actors: int = 1,
    cpus_per_actor: float = 1.0,
    gpus_per_actor: float = 0.0,
    batch_size: int = 256,
    **embedder_kwargs: Any,
) -> Any:
    """``dataset.map_batches`` with a :class:`TesseraBatchEmbedder` actor pool; returns the new Dataset.

    ``embedder_kwargs`` go to :class:`TesseraBatchEmbedder` (``method``, ``encode_kwargs``,
    ``quantization``, ``keep_input_column``, ``model_options``, ...). Each actor gets
    ``cpus_per_actor`` CPUs (its onnxruntime threads) and ``gpus_per_actor`` GPUs (CUDA when > 0).
    Dead actors are restarted and their batches retried. Lazy, like every Dataset transform:
    write it (``.write_parquet(...)``) or iterate it to run it.
    """
    ray = require_ray()
    return dataset.map_batches(
        TesseraBatchEmbedder,
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor or None,
        fn_constructor_kwargs={"model": _model_reference(model), "column": column, **embedder_kwargs},
    )


def default_actor_count(ray: Any, cpus_per_actor: float, gpus_per_actor: float) -> int:
    """Actors that fit the cluster: GPUs // ``gpus_per_actor`` when set, else CPUs // ``cpus_per_actor``."""
    resources = ray.cluster_resources()
    if gpus_per_actor:
        return max(1, int(resources.get("GPU", 0) // gpus_per_actor))
    return max(1, int(resources.get("CPU", 1) // max(cpus_per_actor, 1e-9)))


class _ShardWriter:
    """Actor body of :func:`embed_dataset`: per shard, read → embed → write atomically."""

    def __init__(
        self,
        output_dir: str,
        embedder_class: type[TesseraBatchEmbedder],
        embedder_kwargs: dict[str, Any],
        text_column: str,
        id_column: str | None,
        keep_columns: list[str],
    ) -> None:
        self.store = ShardStore(output_dir)
        self.embedder = embedder_class(**embedder_kwargs)
        self.text_column = text_column
        self.id_column = id_column
        self.keep_columns = keep_columns

    def __call__(self, batch: Any) -> Any:
        pa = require_pyarrow()
        ids, rows, flags = [], [], []
        for text in batch.column("shard").to_pylist():
            shard = Shard.from_json(text)
            if self.store.is_done(shard):  # a retried task whose shard got written before the actor died
                record, flag = json.loads(self.store.marker_path(shard.shard_id).read_text()), False
            else:
                record, flag = self.store.write(shard, self.embedder(self._input_table(shard))), True
            ids.append(shard.shard_id)
            rows.append(int(record["rows"]))
            flags.append(flag)
        return pa.table({"shard_id": ids, "rows": rows, "written": flags})

    def _input_table(self, shard: Shard) -> Any:
        pa = require_pyarrow()
        wanted = [self.text_column, *([self.id_column] if self.id_column else []), *self.keep_columns]
        table = read_shard(shard, list(dict.fromkeys(wanted)))
        row_numbers = table.column("__row").to_pylist()
        id_name = self.id_column or "id"
        ids = (
            table.column(self.id_column)
            if self.id_column
            else pa.array([f"{shard.source}:{r}" for r in row_numbers])
        )
        columns = {id_name: ids}
        for name in self.keep_columns:
            if name not in (id_name, self.text_column):
                columns[name] = table.column(name)
        columns[self.text_column] = table.column(self.text_column)
        return pa.table(columns)


def _model_reference(model: str | os.PathLike[str]) -> str:
    """An existing local path made absolute (actors do not share the driver's working directory), else the id."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else str(model)


def _model_identity(model: str | os.PathLike[str]) -> dict[str, Any]:
    """The model as the fingerprint sees it: its id and the sha256 of its graph when the artifact resolves here."""
    from ..artifact import read_manifest
    from ..locate import resolve_artifact

    try:
        manifest = read_manifest(resolve_artifact(model, download=False))
    except (ArtifactError, ModelNotFoundError):
        return {"name": str(model)}
    graph = manifest.files.get(manifest.model_file, {})
    return {
        "model_id": manifest.model_id,
        "graph_sha256": graph.get("sha256"),
        "precision": manifest.precision,
    }


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy (numpy arrays to lists, other objects to their repr) for the fingerprint."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)
