"""Deterministic shards of input files, and reading the rows of one shard.

A shard is a row range ``[start, stop)`` of one input file. Its id is derived from the file's
path (relative to the inputs' common directory) and the range, so planning the same inputs
with the same ``shard_rows`` always gives the same shards: that is what makes a rerun skip the
finished ones. Parquet row counts come from the file footer; JSONL and text files are scanned
once (newline counting in 1 MiB chunks) to record the byte offset where each shard starts, so a
shard is read with one seek, never by re-reading the file from the top.

Formats: ``.parquet``; ``.jsonl`` / ``.ndjson`` (one JSON object per line); ``.txt`` (one text
per line). A row is a physical line; blank lines are skipped but still counted, so generated
ids (``"<relative path>:<line>"``, 0-based) stay stable.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ._deps import require_pyarrow

__all__ = ["FORMATS", "Shard", "expand_inputs", "plan_shards", "read_shard"]

FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Shard:
    """Rows ``[start, stop)`` of ``path`` (format ``fmt``); ``offset`` is the byte where line ``start`` begins."""

    shard_id: str
    path: str
    source: str
    fmt: str
    start: int
    stop: int
    offset: int = 0

    @property
    def rows(self) -> int:
        """Number of rows (lines, for JSONL/text, blank ones included) in the range."""
        return self.stop - self.start

    def to_json(self) -> str:
        """This shard as a JSON string (what travels to the actors)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Shard:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


def expand_inputs(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], fmt: str | None = None
) -> list[Path]:
    """Input files: each path as given, directories searched recursively for known extensions; sorted, unique."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    files: set[Path] = set()
    for item in inputs:
        path = Path(item).expanduser().resolve()
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file() and _format_of(p, fmt, strict=False)]
            found = [
                p for p in found if not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
            ]
            files.update(found)
        elif path.is_file():
            _format_of(path, fmt, strict=True)
            files.add(path)
        else:
            raise InvalidInputError(f"input {item} does not exist")
    if not files:
        raise InvalidInputError(f"no input files ({', '.join(sorted(FORMATS))}) found in {list(inputs)}")
    return sorted(files)


def plan_shards(files: Sequence[Path], shard_rows: int, fmt: str | None = None) -> list[Shard]:
    """Split ``files`` into shards of at most ``shard_rows`` rows (deterministic ids, file order)."""
    if isinstance(shard_rows, bool) or not isinstance(shard_rows, int) or shard_rows < 1:
        raise InvalidInputError(f"shard_rows must be a positive integer, got {shard_rows!r}")
    root = Path(os.path.commonpath([str(f.parent) for f in files])) if files else Path(".")
    shards: list[Shard] = []
    for file in files:
        kind = _format_of(file, fmt, strict=True)
        source = file.relative_to(root).as_posix()
        if kind == "parquet":
            total = require_pyarrow().parquet.ParquetFile(file).metadata.num_rows
            starts = [(s, 0) for s in range(0, total, shard_rows)]
        else:
            starts, total = _line_offsets(file, shard_rows)
        for i, (start, offset) in enumerate(starts):
            stop = (
                min(start + shard_rows, total)
                if kind == "parquet"
                else (starts[i + 1][0] if i + 1 < len(starts) else total)
            )
            shards.append(Shard(_shard_id(source, start, stop), str(file), source, kind, start, stop, offset))
    return shards


def read_shard(shard: Shard, columns: Sequence[str]) -> Any:
    """The shard's rows as a ``pyarrow.Table`` with ``columns`` plus ``__row`` (row number in its file).

    For text files the only column is the line itself, under the first name in ``columns``.
    Missing columns raise :class:`InvalidInputError` naming the file.
    """
    pa = require_pyarrow()
    if shard.fmt == "parquet":
        return _read_parquet_rows(shard, columns)
    rows: list[int] = []
    values: dict[str, list[Any]] = {c: [] for c in columns}
    with open(shard.path, "rb") as f:
        f.seek(shard.offset)
        for row in range(shard.start, shard.stop):
            raw = f.readline()
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line.strip():
                continue
            rows.append(row)
            if shard.fmt == "text":
                values[columns[0]].append(line)
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{shard.path} line {row + 1} is not valid JSON: {exc}") from None
            if not isinstance(record, dict):
                raise InvalidInputError(f"{shard.path} line {row + 1} is not a JSON object")
            for c in columns:
                if c not in record:
                    raise InvalidInputError(f"{shard.path} line {row + 1} has no field {c!r}")
                values[c].append(record[c])
    table = pa.table({c: values[c] for c in (columns[:1] if shard.fmt == "text" else columns)})
    return table.append_column("__row", pa.array(rows, pa.int64()))


# --------------------------------------------------------------------------- helpers


def _format_of(path: Path, fmt: str | None, strict: bool) -> str | None:
    """The format of ``path``: ``fmt`` for a file named explicitly (``strict``), else by extension."""
    if fmt is not None and fmt not in set(FORMATS.values()):
        raise InvalidInputError(f"input_format must be one of {sorted(set(FORMATS.values()))}, got {fmt!r}")
    kind = FORMATS.get(path.suffix.lower())
    if strict:
        if fmt is not None:
            return fmt
        if kind is None:
            raise InvalidInputError(
                f"cannot tell the format of {path} from its extension; use one of {sorted(FORMATS)} or pass input_format="
            )
        return kind
    return kind if fmt is None or kind == fmt else None


def _shard_id(source: str, start: int, stop: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source)[-60:].strip("._") or "input"
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    return f"{stem}-{digest}-{start:012d}-{stop:012d}"


def _line_offsets(path: Path, shard_rows: int) -> tuple[list[tuple[int, int]], int]:
    """``([(first_line, byte_offset) per shard], total_lines)`` with one pass over the file."""
    starts: list[tuple[int, int]] = []
    newlines = 0
    position = 0
    last = b""
    next_boundary = shard_rows
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            if not starts:
                starts.append((0, 0))
            if newlines + chunk.count(b"\n") < next_boundary:
                newlines += chunk.count(b"\n")
            else:
                at = chunk.find(b"\n")
                while at >= 0:
                    newlines += 1
                    if newlines == next_boundary:
                        starts.append((newlines, position + at + 1))
                        next_boundary += shard_rows
                    at = chunk.find(b"\n", at + 1)
            position += len(chunk)
            last = chunk[-1:]
    total = newlines + (1 if last not in (b"", b"\n") else 0)
    if starts and starts[-1][0] >= total:  # a boundary exactly at the end of the file
        starts.pop()
    return starts, total


def _read_parquet_rows(shard: Shard, columns: Sequence[str]) -> Any:
    pa = require_pyarrow()
    pf = pa.parquet.ParquetFile(shard.path)
    missing = [c for c in columns if c not in pf.schema_arrow.names]
    if missing:
        raise InvalidInputError(f"{shard.path} has no column(s) {missing}; it has {pf.schema_arrow.names}")
    meta = pf.metadata
    groups, first = [], None
    row = 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if row + n > shard.start and row < shard.stop:
            groups.append(g)
            first = row if first is None else first
        row += n
    if not groups:
        table = pf.schema_arrow.empty_table().select(list(columns))
    else:
        table = pf.read_row_groups(groups, columns=list(columns))
        table = table.slice(shard.start - first, shard.rows)
    return table.append_column(
        "__row", pa.array(range(shard.start, shard.start + table.num_rows), pa.int64())
    )
