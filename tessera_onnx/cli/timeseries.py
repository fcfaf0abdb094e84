"""``tessera forecast`` and ``tessera embed-series``: TinyTimeMixer artifacts on CSV files.

CSV in: one optional time column plus numeric value columns (empty cells, ``NaN``, ``inf``
are treated as unobserved). pandas is used when installed (timestamps are parsed and future
timestamps inferred from their frequency); without it the csv module reads the file and the
forecast rows are numbered ``1..H``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from . import main

__all__ = ["forecast_command", "embed_series_command", "read_table"]


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        return None
    return pd


def _float(cell: str) -> float:
    text = cell.strip()
    if not text or text.lower() in ("nan", "na", "null", "none", "n/a"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"cell {cell!r} is not a number") from None


def read_table(
    path: Path, time_column: str | None, value_columns: list[str] | None
) -> tuple[Any, np.ndarray, list[str]]:
    """``(times, values [L, C] float64, column names)``; ``times`` is a pandas DatetimeIndex
    (pandas installed and the column parses as dates), a list of strings, or ``None``."""
    pd = _pandas()
    if pd is not None:
        df = pd.read_csv(path)
        if time_column is not None and time_column not in df.columns:
            raise click.BadParameter(
                f"no column {time_column!r} in {path} (columns: {list(df.columns)})",
                param_hint="--time-column",
            )
        cols = value_columns or [c for c in df.columns if c != time_column]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise click.BadParameter(f"no columns {missing} in {path}", param_hint="--columns")
        try:
            values = df[cols].apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(
                f"value columns must be numeric ({exc}); choose them with --columns"
            ) from exc
        times = None
        if time_column is not None:
            try:
                times = pd.DatetimeIndex(pd.to_datetime(df[time_column]))
            except (ValueError, TypeError):
                times = [str(t) for t in df[time_column]]
        return times, values, [str(c) for c in cols]
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise click.BadParameter(f"{path} is empty")
    header, body = rows[0], rows[1:]
    if time_column is not None and time_column not in header:
        raise click.BadParameter(
            f"no column {time_column!r} in {path} (columns: {header})", param_hint="--time-column"
        )
    cols = value_columns or [c for c in header if c != time_column]
    idx = [header.index(c) for c in cols if c in header]
    if len(idx) != len(cols):
        raise click.BadParameter(
            f"no columns {[c for c in cols if c not in header]} in {path}", param_hint="--columns"
        )
    values = np.array([[_float(r[i]) for i in idx] for r in body], dtype=np.float64).reshape(
        len(body), len(idx)
    )
    times = [r[header.index(time_column)] for r in body] if time_column is not None else None
    return times, values, cols


def _columns(option: str | None) -> list[str] | None:
    return [c.strip() for c in option.split(",") if c.strip()] if option else None


def _load(artifact: str, device: str, threads: int | None):
    from ..errors import TesseraError
    from ..timeseries import TesseraTimeSeries

    try:
        return TesseraTimeSeries(artifact, device=device, threads=threads)
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc


def _future_times(times: Any, horizon: int) -> list[str] | None:
    from ..timeseries import future_index

    pd = _pandas()
    if pd is None or times is None or not isinstance(times, pd.DatetimeIndex):
        return None
    idx = future_index(times, horizon)
    if idx is None or not isinstance(idx, pd.DatetimeIndex):
        return None
    if (idx == idx.normalize()).all():  # whole days: write dates, like the input usually has
        return list(idx.strftime("%Y-%m-%d"))
    return [str(t) for t in idx]


@main.command("forecast")
@click.argument("artifact")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--time-column", "-t", default=None, help="Timestamp column (future timestamps are inferred from it)."
)
@click.option(
    "--columns", "-c", default=None, help="Comma-separated value columns (default: all but the time column)."
)
@click.option(
    "--horizon",
    "-H",
    type=int,
    default=None,
    help="Steps to forecast (default: the model's prediction length).",
)
@click.option(
    "--freq",
    default=None,
    help="Sampling frequency ('h', '15min', 'D', ...) for models with a frequency token.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output CSV (default: stdout).",
)
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=None)
def forecast_command(
    artifact: str,
    data: Path,
    time_column: str | None,
    columns: str | None,
    horizon: int | None,
    freq: str | None,
    out: Path | None,
    device: str,
    threads: int | None,
) -> None:
    """Forecast the value columns of DATA (CSV) with a TinyTimeMixer ARTIFACT.

    The value columns are the channels of one series (common-channel models forecast each
    channel independently; channel-mixing models need exactly their channel count). Writes a
    CSV with the time column (future timestamps when pandas can infer the frequency, else step
    numbers 1..H) and one forecast column per value column.
    """
    from ..errors import TesseraError

    model = _load(artifact, device, threads)
    times, values, names = read_table(data, time_column, _columns(columns))
    if freq is None and times is not None:
        from ..timeseries import infer_frequency

        pd = _pandas()
        if pd is not None and isinstance(times, pd.DatetimeIndex) and len(times) >= 3:
            freq = infer_frequency(times) or pd.infer_freq(times)
    try:
        pred = model.forecast(values, horizon=horizon, freq=freq)  # [H, C]
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc
    h = pred.shape[0]
    stamps = _future_times(times, h) or [str(i + 1) for i in range(h)]
    stream = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout
    try:
        writer = csv.writer(stream)
        writer.writerow([time_column or "step", *names])
        for i in range(h):
            writer.writerow([stamps[i], *(f"{v:.6g}" for v in pred[i])])
    finally:
        if out:
            stream.close()
    if out:
        click.echo(f"wrote {h} forecast steps x {len(names)} columns to {out}", err=True)


@main.command("embed-series")
@click.argument("artifact")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--time-column", "-t", default=None, help="Timestamp column (used to infer the frequency).")
@click.option(
    "--columns", "-c", default=None, help="Comma-separated value columns (default: all but the time column)."
)
@click.option(
    "--mode",
    type=click.Choice(["columns", "table"]),
    default="columns",
    show_default=True,
    help="columns: each value column is one univariate series (one vector each); table: the columns are the "
    "channels of one series (one vector, or one per channel with --per-channel).",
)
@click.option("--per-channel", is_flag=True, help="With --mode table: one vector per channel.")
@click.option("--freq", default=None, help="Sampling frequency for models with a frequency token.")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output: .npy (array), .json ({name: vector}) or .csv (name + dims; default stdout).",
)
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=None)
def embed_series_command(
    artifact: str,
    data: Path,
    time_column: str | None,
    columns: str | None,
    mode: str,
    per_channel: bool,
    freq: str | None,
    out: Path | None,
    device: str,
    threads: int | None,
) -> None:
    """Embed the series of DATA (CSV) with a TinyTimeMixer ARTIFACT (mean-pooled backbone states)."""
    from ..errors import TesseraError

    model = _load(artifact, device, threads)
    times, values, names = read_table(data, time_column, _columns(columns))
    if freq is None and times is not None:
        pd = _pandas()
        if pd is not None and isinstance(times, pd.DatetimeIndex) and len(times) >= 3:
            freq = pd.infer_freq(times)
    try:
        if mode == "columns":
            vectors = model.encode([values[:, i] for i in range(values.shape[1])], freq=freq)
            labels = names
        else:
            vectors = model.encode(values, per_channel=per_channel, freq=freq)
            vectors = np.atleast_2d(vectors)
            labels = names if per_channel else ["series"]
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc
    vectors = np.asarray(vectors, dtype=np.float32)
    if out is not None and out.suffix == ".npy":
        np.save(out, vectors)
    elif out is not None and out.suffix == ".json":
        out.write_text(
            json.dumps({n: [float(v) for v in row] for n, row in zip(labels, vectors, strict=False)}) + "\n"
        )
    else:
        stream = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout
        try:
            writer = csv.writer(stream)
            writer.writerow(["name", *(f"d{i}" for i in range(vectors.shape[1]))])
            for n, row in zip(labels, vectors, strict=False):
                writer.writerow([n, *(f"{v:.7g}" for v in row)])
        finally:
            if out:
                stream.close()
    if out:
        click.echo(f"wrote {vectors.shape[0]} embeddings of dim {vectors.shape[1]} to {out}", err=True)
