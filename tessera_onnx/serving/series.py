"""Time series in requests: JSON number lists checked before they reach a model.

One parser for every route that takes series (``/forecast``'s ``series``, ``/v1/embeddings``
with ``"modality": "series"``). A series is a list of numbers (``[L]``, one channel) or a list
of equally long rows of numbers (``[L, C]``, channels last). ``null`` marks a missing step (the
model masks it, as the library does for NaN); the non-standard ``NaN``/``Infinity`` literals,
strings, booleans, objects, empty series and ragged rows are refused with
:class:`~tessera_onnx.errors.InvalidInputError` (422) naming the item.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["parse_series", "parse_series_list"]


def _number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _check_numbers(values: list[Any], where: str) -> None:
    for j, v in enumerate(values):
        if not _number(v):
            raise InvalidInputError(
                f"{where}[{j}] is {type(v).__name__}; a series holds numbers only (null for a missing step)"
            )
        if isinstance(v, float) and not math.isfinite(v):
            raise InvalidInputError(
                f"{where}[{j}] is {v!r}, which JSON does not have: send null for a missing step"
            )


def parse_series(value: Any, where: str) -> np.ndarray:
    """One series as float32 ``[L]`` or ``[L, C]`` (``null`` → NaN, a missing step).

    In-process callers may pass a numeric numpy array (NaN marks a missing step, as in the library).
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf" or value.ndim not in (1, 2) or 0 in value.shape:
            raise InvalidInputError(
                f"{where} must be a non-empty numeric [L] or [L, C] array, got {value.dtype} {value.shape}"
            )
        return value.astype(np.float32)
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not value:
        got = "an empty list" if isinstance(value, list) else type(value).__name__
        raise InvalidInputError(
            f"{where} must be a non-empty list of numbers, or of [C]-number rows; got {got}"
        )
    if all(isinstance(v, list) for v in value):
        width = len(value[0])
        for i, row in enumerate(value):
            if not row or len(row) != width:
                raise InvalidInputError(
                    f"{where}[{i}] has {len(row)} values where {where}[0] has {width}: every row of an "
                    "[L, C] series needs the same number of channels (at least one)"
                )
            _check_numbers(row, f"{where}[{i}]")
    else:
        _check_numbers(value, where)
    return np.array(value, dtype=np.float64).astype(np.float32)  # None → nan


def parse_series_list(value: Any, name: str) -> tuple[list[np.ndarray], bool]:
    """A list of series → ``(arrays, single)``; a flat list of numbers is one series (``single``)."""
    if isinstance(value, np.ndarray) and value.ndim in (1, 2):  # one series, as the library reads it
        return [parse_series(value, name)], True
    if isinstance(value, (tuple, np.ndarray)):
        value = list(value)
    if not isinstance(value, list) or not value:
        got = "an empty list" if isinstance(value, list) else type(value).__name__
        raise InvalidInputError(
            f"'{name}' must be a series (a list of numbers) or a non-empty list of series; got {got}"
        )
    if all(_number(v) for v in value):
        return [parse_series(value, name)], True
    return [parse_series(v, f"{name}[{i}]") for i, v in enumerate(value)], False
