"""Frequency strings -> TinyTimeMixer frequency tokens (``resolution_prefix_tuning`` models).

The token table is granite-tsfm's ``DEFAULT_FREQUENCY_MAPPING``
(``tsfm_public/toolkit/time_series_preprocessor.py``): ``oov`` 0, ``min`` 1, ``2min`` 2,
``5min`` 3, ``10min`` 4, ``15min`` 5, ``30min`` 6, ``h`` 7, ``d`` 8, ``W`` 9. The reference
resolves other spellings through ``pandas.tseries.frequencies.to_offset``; this module does the
same without pandas: it parses ``[count]unit[-anchor]`` (``"h"``, ``"1H"``, ``"60min"``,
``"15T"``, ``"D"``, ``"24h"``, ``"W-SUN"``, ``"hourly"``, ``"daily"``, ``"weekly"``), turns it
into an exact number of minutes (``"60000ms"`` and ``"3600s"`` are ``"min"`` and ``"h"``), and
looks the canonical key up. A valid frequency outside the table (``"MS"``, ``"Q"``, ``"30s"``)
maps to ``oov`` (token 0), as in the reference; a string that is no frequency at all, or a
token the model's embedding cannot hold, is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ..errors import InvalidInputError

__all__ = ["DEFAULT_FREQUENCY_MAPPING", "normalize_frequency", "frequency_token", "infer_frequency"]

DEFAULT_FREQUENCY_MAPPING: dict[str, int] = {
    "oov": 0,
    "min": 1,
    "2min": 2,
    "5min": 3,
    "10min": 4,
    "15min": 5,
    "30min": 6,
    "h": 7,
    "H": 7,
    "d": 8,
    "D": 8,
    "W": 9,
}

# unit spelling -> minutes, exact (sub-minute counts can add up to whole minutes: "60000ms")
_UNIT_MINUTES: dict[str, Fraction] = {}
for _names, _minutes in (
    (("s", "S", "sec", "secs", "second", "seconds", "secondly"), Fraction(1, 60)),
    (("ms", "L", "millisecond", "milliseconds"), Fraction(1, 60_000)),
    (("us", "U", "microsecond", "microseconds"), Fraction(1, 60_000_000)),
    (("ns", "N", "nanosecond", "nanoseconds"), Fraction(1, 60_000_000_000)),
    (("min", "T", "minute", "minutes", "minutely", "mins"), Fraction(1)),
    (("h", "H", "hr", "hrs", "hour", "hours", "hourly"), Fraction(60)),
    (("d", "D", "day", "days", "daily"), Fraction(1440)),
    (("w", "W", "week", "weeks", "weekly"), Fraction(10080)),
):
    for _name in _names:
        _UNIT_MINUTES[_name] = _minutes

# pandas calendar aliases (months, quarters, years, business days/hours): valid, not in the table
_CALENDAR_UNITS = frozenset(
    "M ME MS SM SME SMS BM BME BMS CBM CBME CBMS Q QE QS BQ BQE BQS Y YE YS A AS BA BAS BY BYE BYS B C BH CBH"
    " month months monthly quarter quarters quarterly year years yearly annual annually".split()
)
_CANONICAL_BY_MINUTES = {
    1: "min",
    2: "2min",
    5: "5min",
    10: "10min",
    15: "15min",
    30: "30min",
    60: "h",
    1440: "d",
    10080: "W",
}
_FREQ_RE = re.compile(r"^\s*(\d+)?\s*([A-Za-z]+)(?:-[A-Za-z]{3})?\s*$")


def normalize_frequency(freq: str) -> str:
    """Return the table key a frequency string denotes (``"oov"`` when it has none).

    ``"60min"`` -> ``"h"``, ``"1H"`` -> ``"h"``, ``"15T"`` -> ``"15min"``, ``"24h"`` -> ``"d"``,
    ``"W-MON"`` -> ``"W"``, ``"MS"``/``"Q"``/``"Y"``/``"B"``/``"7s"`` -> ``"oov"``.
    """
    if not isinstance(freq, str) or not freq.strip():
        raise InvalidInputError(
            f"frequency must be a non-empty string such as 'h', '15min' or 'D', got {freq!r}"
        )
    if freq.strip() in DEFAULT_FREQUENCY_MAPPING:
        key = freq.strip()
        return {"H": "h", "D": "d"}.get(key, key)
    match = _FREQ_RE.match(freq)
    unit = match.group(2) if match else ""
    minutes = _UNIT_MINUTES.get(unit)
    if minutes is None and len(unit) > 1:
        minutes = _UNIT_MINUTES.get(unit.lower())
    if minutes is None:
        if match and (unit in _CALENDAR_UNITS or unit.lower() in _CALENDAR_UNITS):
            return "oov"  # months, quarters, years, business days: real frequencies outside the table
        raise InvalidInputError(
            f"cannot read frequency {freq!r}: use a pandas alias such as 'min', '15min', 'h', 'D', 'W', "
            "'60000ms', or 'oov' for a frequency the model does not know"
        )
    count = int(match.group(1)) if match and match.group(1) else 1
    if count <= 0:
        raise InvalidInputError(f"frequency {freq!r} has a zero count")
    total = count * minutes
    if total.denominator != 1:
        return "oov"  # a sub-minute period (e.g. 30s): a real frequency outside the table
    return _CANONICAL_BY_MINUTES.get(int(total), "oov")


def frequency_token(
    freq: Any, mapping: Mapping[str, int] | None = None, vocab_size: int | None = None
) -> int:
    """Token id of ``freq`` (a string, a pandas offset/Timedelta, or an int token) under ``mapping``.

    Raises :class:`InvalidInputError` when the token does not fit the model's frequency
    embedding (``vocab_size``), naming the frequencies it does know.
    """
    table = dict(mapping or DEFAULT_FREQUENCY_MAPPING)
    if isinstance(freq, bool):
        raise InvalidInputError(f"frequency must be a string or an integer token, got {freq!r}")
    if isinstance(freq, int):
        token = int(freq)
        label = f"token {token}"
    else:
        if hasattr(freq, "freqstr"):  # pandas DateOffset
            freq = freq.freqstr
        elif type(freq).__name__ == "Timedelta":  # pandas Timedelta, without importing pandas
            freq = f"{int(freq.total_seconds() // 60)}min" if freq.total_seconds() % 60 == 0 else "oov"
        if freq in table:
            token = table[freq]
        else:
            key = normalize_frequency(freq)
            token = table.get(key, table.get({"h": "H", "d": "D"}.get(key, key), table.get("oov", 0)))
        label = f"frequency {freq!r}"
    if token < 0 or (vocab_size is not None and token >= vocab_size):
        known = sorted({k for k, v in table.items() if vocab_size is None or 0 <= v < vocab_size})
        raise InvalidInputError(
            f"{label} maps to token {token}, outside this model's frequency vocabulary "
            f"(0..{(vocab_size or 1) - 1}); use one of {known}, or 'oov' when unsure"
        )
    return token


def infer_frequency(index: Any) -> str | None:
    """The frequency string of a pandas ``DatetimeIndex`` (``None`` when it cannot be inferred).

    Works on any object with ``.freqstr``/``.inferred_freq``; never imports pandas itself.
    """
    for attr in ("freqstr", "inferred_freq"):
        try:
            value = getattr(index, attr, None)
        except (TypeError, ValueError):  # pandas raises for too-short indexes
            value = None
        if isinstance(value, str) and value:
            return value
    return None
