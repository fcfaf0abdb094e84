"""The output directory of :func:`~tessera_onnx.distributed.embed_dataset`: one Parquet file per shard.

Layout::

    out/part-<shard id>.parquet     the shard's rows, in input order
    out/_markers/<shard id>.json    written after the Parquet file is in place: the shard is done
    out/_tessera_run.json           the run's settings and their fingerprint

A shard is written to a hidden temporary file and renamed into place (atomic on one
filesystem), then its marker is written the same way. A crash leaves at worst a hidden
temporary file (removed by the next run) or a finished Parquet file without a marker, which the
next run rewrites under the same name. Files are named by shard id, so nothing can be written
twice. Readers that ignore names starting with ``_`` or ``.`` (pyarrow datasets,
pandas) see only whole shards.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ._deps import require_pyarrow
from .shards import Shard

__all__ = ["ShardStore", "read_output"]

RUN_FILE = "_tessera_run.json"
MARKERS = "_markers"


class ShardStore:
    """Atomic per-shard writes and completion markers under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def part_path(self, shard_id: str) -> Path:
        """Where the shard's Parquet file lives."""
        return self.root / f"part-{shard_id}.parquet"

    def marker_path(self, shard_id: str) -> Path:
        """Where the shard's completion marker lives."""
        return self.root / MARKERS / f"{shard_id}.json"

    def begin(self, settings: Mapping[str, Any], fingerprint: str) -> None:
        """Create the directory, or check that the run already in it used the same settings.

        Removes temporary files that a killed run left behind.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / MARKERS).mkdir(exist_ok=True)
        run_file = self.root / RUN_FILE
        if run_file.exists():
            previous = json.loads(run_file.read_text())
            if previous.get("fingerprint") != fingerprint:
                changed = sorted(
                    k
                    for k in set(previous.get("settings", {})) | set(settings)
                    if previous.get("settings", {}).get(k) != settings.get(k)
                )
                raise InvalidInputError(
                    f"{self.root} holds the output of a run with different settings ({', '.join(changed) or 'model'}"
                    " changed); resume with the same settings, or write to a new output directory"
                )
        else:
            _write_atomic(
                run_file, json.dumps({"fingerprint": fingerprint, "settings": dict(settings)}, indent=2)
            )
        for stale in self.root.glob(".tmp-*"):
            stale.unlink(missing_ok=True)
        for stale in (self.root / MARKERS).glob(".tmp-*"):
            stale.unlink(missing_ok=True)

    def is_done(self, shard: Shard) -> bool:
        """True when the shard's marker and Parquet file are both in place and agree."""
        marker = self.marker_path(shard.shard_id)
        if not marker.exists() or not self.part_path(shard.shard_id).exists():
            return False
        try:
            record = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return record.get("shard") == json.loads(shard.to_json())

    def write(self, shard: Shard, table: Any) -> dict[str, Any]:
        """Write the shard's table, then its marker; return the marker record."""
        pq = require_pyarrow().parquet
        final = self.part_path(shard.shard_id)
        tmp = self.root / f".tmp-{uuid.uuid4().hex}-{final.name}"
        pq.write_table(table, tmp)
        os.replace(tmp, final)
        record = {"shard": json.loads(shard.to_json()), "rows": table.num_rows, "file": final.name}
        _write_atomic(self.marker_path(shard.shard_id), json.dumps(record, sort_keys=True))
        return record

    def done_records(self) -> list[dict[str, Any]]:
        """Marker records of every finished shard, sorted by shard id."""
        records = []
        for marker in sorted((self.root / MARKERS).glob("*.json")):
            record = json.loads(marker.read_text())
            if (self.root / record["file"]).exists():
                records.append(record)
        return records


def read_output(output_dir: str | os.PathLike[str], columns: list[str] | None = None) -> Any:
    """All finished shards of an output directory as one ``pyarrow.Table`` (shard order, then row order)."""
    pa = require_pyarrow()
    store = ShardStore(output_dir)
    if not (store.root / RUN_FILE).exists():
        raise InvalidInputError(f"{store.root} is not an embed_dataset output directory (no {RUN_FILE})")
    records = sorted(store.done_records(), key=lambda r: (r["shard"]["path"], r["shard"]["start"]))
    tables = [pa.parquet.read_table(store.root / r["file"], columns=columns) for r in records]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)
