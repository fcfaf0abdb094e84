"""Embedding quantization schemes and the :class:`QuantizedEmbeddings` container.

Schemes (``SCHEMES``)
---------------------
``ubinary``
    1 bit per dimension: bit = ``x > 0`` (so ``0.0`` maps to 0), packed along the last axis with
    :func:`numpy.packbits` (``bitorder="big"``): dimension ``8*j + i`` is bit ``7 - i`` of byte ``j``
    (most significant bit first). When ``dim % 8 != 0`` the last byte is padded with zero bits.
    Stored as ``uint8`` ``(n, ceil(dim/8))``; identical to sentence-transformers'
    ``quantize_embeddings(x, "ubinary")``.
``binary``
    The same bits, stored as ``int8`` ``byte - 128`` (the MSB of every byte flipped); identical to
    sentence-transformers' ``quantize_embeddings(x, "binary")``. Hamming distances are computed on
    the ``uint8`` bit pattern, never with int8 arithmetic.
``int8``
    Scalar quantization per dimension with calibration ``ranges`` ``(2, dim)`` = (min, max):
    ``step = (max - min) / 255``, ``code = clip(floor((x - min) / step), 0, 255) - 128``. Values
    outside the range are **clipped, never wrapped**; a constant dimension (``max == min``) gets
    ``step = 1`` exactly like sentence-transformers, so there is no division by zero. With the same
    ranges and in-range values the codes equal sentence-transformers' ``"int8"`` output.
``int4``
    16 equal bins per dimension: ``step = (max - min) / 16``,
    ``code = clip(floor((x - min) / step), 0, 15)``, stored as unsigned nibbles, two per byte:
    the even dimension in the high nibble, the odd one in the low nibble (same "first is most
    significant" order as the bits); an odd ``dim`` pads a zero nibble.

Dequantization of the scalar schemes returns bin centres: ``min + (code_unsigned + 0.5) * step``.
For the binary schemes, :meth:`QuantizedEmbeddings.dequantize` offers ``"bits"`` (0/1, what
sentence-transformers rescoring uses) and ``"sign"`` (±1); both rank candidates identically
(``q·(2b-1) = 2·q·b - Σq``).

Multi-vector (ColBERT) corpora: quantize a list of ``(tokens_i, dim)`` arrays; the token rows are
stored flat and ``offsets`` (``n_docs + 1``, int64) gives each document's rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._warnings import warn
from ..arguments import public
from ..errors import InvalidInputError

__all__ = [
    "SCHEMES",
    "BINARY_SCHEMES",
    "SCALAR_SCHEMES",
    "QuantizedEmbeddings",
    "quantize",
    "dequantize",
    "calibration_ranges",
    "pack_bits",
    "unpack_bits",
    "pack_int4",
    "unpack_int4",
]

Scheme = Literal["binary", "ubinary", "int8", "int4"]
SCHEMES: tuple[str, ...] = ("binary", "ubinary", "int8", "int4")
BINARY_SCHEMES: tuple[str, ...] = ("binary", "ubinary")
SCALAR_SCHEMES: tuple[str, ...] = ("int8", "int4")
BINARY_RECONSTRUCTIONS: tuple[str, ...] = ("bits", "sign")

_FORMAT = "tessera-quantized-embeddings"
_FORMAT_VERSION = 1
_LEVELS = {"int8": 256, "int4": 16}
# int8 keeps sentence-transformers' step (range / 255: the top bin only holds the maximum);
# int4 uses 16 equal bins (range / 16) because one of 16 levels is too much to waste.
_STEP_DIVISOR = {"int8": 255.0, "int4": 16.0}


# --------------------------------------------------------------------------- validation


def _as_float_matrix(x: Any, what: str) -> np.ndarray:
    """Return ``x`` as a 2-D float32 array, raising InvalidInputError for anything else."""
    if isinstance(x, QuantizedEmbeddings):
        raise InvalidInputError(f"{what} is already quantized ({x.scheme}); pass float embeddings")
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInputError(
            f"{what} must be a floating-point array, got dtype {arr.dtype}"
            + (
                " (already quantized? quantize float embeddings only)"
                if arr.dtype in (np.int8, np.uint8)
                else ""
            )
        )
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidInputError(f"{what} must be 2-D (n, dim), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise InvalidInputError(f"{what} has dimension 0")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{what} contains NaN or infinite values")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise InvalidInputError(f"unknown quantization scheme {scheme!r}; choose one of {SCHEMES}")
    return scheme


def _check_ranges(ranges: Any, dim: int) -> np.ndarray:
    r = np.asarray(ranges)
    if r.dtype == object or not np.issubdtype(r.dtype, np.number):
        raise InvalidInputError(f"ranges must be numeric, got dtype {r.dtype}")
    if r.shape != (2, dim):
        raise InvalidInputError(
            f"ranges must have shape (2, {dim}) = (min, max) per dimension, got {r.shape}"
        )
    r = r.astype(np.float32)
    if not np.all(np.isfinite(r)):
        raise InvalidInputError("ranges contain NaN or infinite values")
    if np.any(r[0] > r[1]):
        bad = int(np.flatnonzero(r[0] > r[1])[0])
        raise InvalidInputError(f"ranges[0] (min) exceeds ranges[1] (max), first at dimension {bad}")
    return r


# --------------------------------------------------------------------------- packing


@public
def pack_bits(x: np.ndarray) -> np.ndarray:
    """``x > 0`` packed MSB-first along the last axis (``uint8``, ``ceil(dim/8)`` bytes per row)."""
    return np.packbits(np.asarray(x) > 0, axis=-1, bitorder="big")


@public
def unpack_bits(packed: np.ndarray, dim: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``uint8`` 0/1 array ``(..., dim)``; accepts the int8 ``binary`` form
    only through :meth:`QuantizedEmbeddings.bits` (which undoes its MSB flip)."""
    packed = np.asarray(packed)
    if packed.dtype != np.uint8:
        raise InvalidInputError(f"packed bits must be uint8, got {packed.dtype}")
    return np.unpackbits(packed, axis=-1, count=dim, bitorder="big")


@public
def pack_int4(codes: np.ndarray) -> np.ndarray:
    """Pack unsigned 4-bit codes (0..15) two per byte along the last axis; even index → high nibble."""
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise InvalidInputError(f"int4 codes must be uint8 in 0..15, got {codes.dtype}")
    if codes.size and int(codes.max()) > 15:
        raise InvalidInputError("int4 codes must be in 0..15")
    if codes.shape[-1] % 2:
        codes = np.concatenate([codes, np.zeros(codes.shape[:-1] + (1,), np.uint8)], axis=-1)
    return ((codes[..., 0::2] << 4) | codes[..., 1::2]).astype(np.uint8)


@public
def unpack_int4(packed: np.ndarray, dim: int) -> np.ndarray:
    """Inverse of :func:`pack_int4`: ``uint8`` codes 0..15 of shape ``(..., dim)``."""
    packed = np.asarray(packed)
    if packed.dtype != np.uint8:
        raise InvalidInputError(f"packed int4 must be uint8, got {packed.dtype}")
    out = np.empty(packed.shape[:-1] + (packed.shape[-1] * 2,), np.uint8)
    np.right_shift(packed, 4, out=out[..., 0::2])
    np.bitwise_and(packed, 0x0F, out=out[..., 1::2])
    return out[..., :dim]


# --------------------------------------------------------------------------- calibration


@public
def calibration_ranges(calibration: Any, percentile: float = 0.0) -> np.ndarray:
    """Per-dimension ``(2, dim)`` float32 (min, max) of a calibration set.

    ``percentile`` > 0 uses the ``percentile`` / ``100 - percentile`` quantiles instead of the
    extremes (robust to outliers; values beyond are clipped when quantizing).
    """
    calib = _as_float_matrix(calibration, "calibration embeddings")
    if not 0.0 <= percentile < 50.0:
        raise InvalidInputError(f"percentile must be in [0, 50), got {percentile}")
    if percentile == 0.0:
        return np.vstack([calib.min(axis=0), calib.max(axis=0)]).astype(np.float32)
    lo, hi = np.percentile(calib, [percentile, 100.0 - percentile], axis=0)
    return np.vstack([lo, hi]).astype(np.float32)


def _steps(ranges: np.ndarray, scheme: str) -> np.ndarray:
    steps = (ranges[1] - ranges[0]) / np.float32(_STEP_DIVISOR[scheme])
    return np.where(steps == 0, np.float32(1.0), steps).astype(np.float32)


def _scalar_codes(x: np.ndarray, ranges: np.ndarray, scheme: str) -> np.ndarray:
    """Unsigned codes 0..levels-1 (uint8), clipped; float32 arithmetic as sentence-transformers."""
    levels = _LEVELS[scheme]
    q = np.floor((x - ranges[0]) / _steps(ranges, scheme))
    np.clip(q, 0, levels - 1, out=q)
    return q.astype(np.uint8)


# --------------------------------------------------------------------------- container


@dataclass(frozen=True, eq=False)
class QuantizedEmbeddings:
    """Quantized embeddings plus everything needed to search, rescore, save and load them.

    ``data`` is in the scheme's storage form (see the module docstring); rows are vectors (dense)
    or tokens (multi-vector, with ``offsets``). Build with :func:`quantize`, not directly.
    """

    data: np.ndarray
    scheme: str
    dim: int
    ranges: np.ndarray | None = None
    offsets: np.ndarray | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_scheme(self.scheme)
        data = np.asarray(self.data)
        expected_dtype = np.int8 if self.scheme in ("binary", "int8") else np.uint8
        if data.dtype != expected_dtype or data.ndim != 2:
            raise InvalidInputError(
                f"{self.scheme} data must be 2-D {np.dtype(expected_dtype).name}, got {data.ndim}-D {data.dtype}"
            )
        if data.shape[1] != self.bytes_per_row(self.scheme, self.dim):
            raise InvalidInputError(
                f"{self.scheme} data of dim {self.dim} needs {self.bytes_per_row(self.scheme, self.dim)} "
                f"columns, got {data.shape[1]}"
            )
        if self.scheme in SCALAR_SCHEMES:
            if self.ranges is None:
                raise InvalidInputError(f"{self.scheme} embeddings need their calibration ranges")
            object.__setattr__(self, "ranges", _check_ranges(self.ranges, self.dim))
        elif self.ranges is not None:
            raise InvalidInputError("binary embeddings take no ranges")
        if self.offsets is not None:
            off = np.asarray(self.offsets)
            if off.ndim != 1 or off.size < 1 or not np.issubdtype(off.dtype, np.integer):
                raise InvalidInputError("offsets must be a 1-D integer array of n_docs + 1 entries")
            off = off.astype(np.int64)
            if off[0] != 0 or off[-1] != data.shape[0] or np.any(np.diff(off) < 0):
                raise InvalidInputError(
                    f"offsets must start at 0, never decrease and end at the number of rows ({data.shape[0]})"
                )
            object.__setattr__(self, "offsets", off)
        object.__setattr__(self, "data", data)

    # ---- sizes
    @staticmethod
    def bytes_per_row(scheme: str, dim: int) -> int:
        """Storage bytes of one vector (one token for multi-vector) of ``dim`` dimensions."""
        if scheme in BINARY_SCHEMES:
            return (dim + 7) // 8
        if scheme == "int4":
            return (dim + 1) // 2
        return dim

    @property
    def is_multi_vector(self) -> bool:
        """True when rows are tokens grouped into documents by ``offsets``."""
        return self.offsets is not None

    @property
    def n_rows(self) -> int:
        """Stored vectors (tokens for a multi-vector corpus)."""
        return int(self.data.shape[0])

    def __len__(self) -> int:
        """Number of items searched over: vectors (dense) or documents (multi-vector)."""
        return int(self.offsets.size - 1) if self.offsets is not None else self.n_rows

    @property
    def memory_bytes(self) -> int:
        """Bytes held: codes + ranges + offsets."""
        return int(sum(a.nbytes for a in (self.data, self.ranges, self.offsets) if a is not None))

    @property
    def float32_bytes(self) -> int:
        """Bytes the same embeddings take as float32 (plus the same offsets)."""
        off = self.offsets.nbytes if self.offsets is not None else 0
        return 4 * self.n_rows * self.dim + off

    @property
    def compression_ratio(self) -> float:
        """``float32_bytes / memory_bytes`` (32 for binary, ~4 for int8, ~8 for int4 on large sets)."""
        return self.float32_bytes / max(self.memory_bytes, 1)

    # ---- views
    def bits(self) -> np.ndarray:
        """The packed bits as ``uint8`` (the ``ubinary`` form), whatever the binary scheme."""
        if self.scheme == "ubinary":
            return self.data
        if self.scheme == "binary":
            return self.data.view(np.uint8) ^ np.uint8(0x80)
        raise InvalidInputError(f"{self.scheme} embeddings have no bit form")

    def codes(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """Unsigned scalar codes (``uint8``, 0..255 or 0..15) of ``rows`` (all by default)."""
        data = self.data if rows is None else self.data[rows]
        if self.scheme == "int8":
            return data.view(np.uint8) ^ np.uint8(0x80)  # code - 128 as int8  ->  code
        if self.scheme == "int4":
            return unpack_int4(data, self.dim)
        raise InvalidInputError(f"{self.scheme} embeddings have no scalar codes")

    def steps(self) -> np.ndarray:
        """Per-dimension bin width of a scalar scheme (1 where the calibration range is empty)."""
        if self.ranges is None:
            raise InvalidInputError(f"{self.scheme} embeddings have no steps")
        return _steps(self.ranges, self.scheme)

    def to_sentence_transformers(self) -> np.ndarray:
        """The array sentence-transformers' ``quantize_embeddings`` returns for this scheme."""
        if self.scheme == "int4":
            raise InvalidInputError("sentence-transformers has no int4 precision")
        return self.data

    def dequantize(
        self, rows: np.ndarray | slice | None = None, reconstruction: str | None = None
    ) -> np.ndarray:
        """Float32 reconstruction of ``rows`` (all by default).

        Scalar schemes return bin centres. Binary schemes take ``reconstruction``: ``"bits"``
        (0/1, the default, as sentence-transformers' rescoring) or ``"sign"`` (±1).
        """
        if self.scheme in SCALAR_SCHEMES:
            assert self.ranges is not None
            codes = self.codes(rows).astype(np.float32)
            codes += np.float32(0.5)
            codes *= self.steps()
            codes += self.ranges[0]
            return codes
        recon = reconstruction or "bits"
        if recon not in BINARY_RECONSTRUCTIONS:
            raise InvalidInputError(f"reconstruction must be one of {BINARY_RECONSTRUCTIONS}, got {recon!r}")
        data = self.data if rows is None else self.data[rows]
        packed = data if self.scheme == "ubinary" else data.view(np.uint8) ^ np.uint8(0x80)
        bits = unpack_bits(packed, self.dim)
        if recon == "bits":
            return bits.astype(np.float32)
        return bits.astype(np.float32) * 2.0 - 1.0

    def doc_rows(self, i: int) -> slice:
        """Row slice of document ``i`` of a multi-vector corpus."""
        if self.offsets is None:
            raise InvalidInputError("doc_rows() needs a multi-vector corpus")
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    # ---- persistence
    def save(self, path: str | PathLike[str]) -> Path:
        """Write an ``.npz`` (no pickle): the arrays plus JSON metadata. Returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "scheme": self.scheme,
            "dim": self.dim,
            "bit_order": "big",
            "n_rows": self.n_rows,
        }
        arrays: dict[str, np.ndarray] = {
            "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            "data": self.data,
        }
        for name in ("ranges", "offsets"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = value
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> QuantizedEmbeddings:
        """Read a file written by :meth:`save` (``allow_pickle=False``: no code is executed)."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read quantized embeddings from {path}: {exc}") from exc
        if "meta" not in arrays or "data" not in arrays:
            raise InvalidInputError(f"{path} is not a tessera quantized-embeddings file (no meta/data)")
        try:
            meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"{path}: unreadable metadata: {exc}") from exc
        if meta.get("format") != _FORMAT or int(meta.get("format_version", -1)) > _FORMAT_VERSION:
            raise InvalidInputError(
                f"{path}: unsupported format {meta.get('format')!r} v{meta.get('format_version')}"
            )
        if meta.get("bit_order", "big") != "big":
            raise InvalidInputError(f"{path}: unsupported bit order {meta['bit_order']!r}")
        return cls(
            data=arrays["data"],
            scheme=str(meta["scheme"]),
            dim=int(meta["dim"]),
            ranges=arrays.get("ranges"),
            offsets=arrays.get("offsets"),
        )


# --------------------------------------------------------------------------- API


def _flatten(embeddings: Any, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A float matrix, or a list of per-document token matrices flattened with offsets."""
    if isinstance(embeddings, (list, tuple)) and embeddings and np.asarray(embeddings[0]).ndim == 2:
        docs = [
            _as_float_matrix(d, f"{what}[{i}]") if np.asarray(d).shape[0] else _empty_doc(d, what, i)
            for i, d in enumerate(embeddings)
        ]
        dims = {d.shape[1] for d in docs}
        if len(dims) != 1:
            raise InvalidInputError(f"{what}: documents have different dimensions {sorted(dims)}")
        offsets = np.zeros(len(docs) + 1, np.int64)
        np.cumsum([d.shape[0] for d in docs], out=offsets[1:])
        return np.concatenate(docs, axis=0), offsets
    if isinstance(embeddings, (list, tuple)) and not embeddings:
        raise InvalidInputError(f"{what} is empty")
    return _as_float_matrix(embeddings, what), None


def _empty_doc(d: Any, what: str, i: int) -> np.ndarray:
    arr = np.asarray(d)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInputError(f"{what}[{i}] must be floating-point, got {arr.dtype}")
    return arr.astype(np.float32).reshape(0, arr.shape[1])


@public
def quantize(
    embeddings: Any,
    scheme: str,
    *,
    ranges: Any = None,
    calibration: Any = None,
    percentile: float = 0.0,
) -> QuantizedEmbeddings:
    """Quantize float embeddings to ``scheme`` (``"binary"``, ``"ubinary"``, ``"int8"``, ``"int4"``).

    ``embeddings``: ``(n, dim)`` floats, or a list of ``(tokens_i, dim)`` arrays for a multi-vector
    (ColBERT) corpus. Scalar schemes take their per-dimension ``ranges`` ``(2, dim)``, or compute
    them from ``calibration`` (optionally at ``percentile`` / ``100 - percentile``), or, as the last
    resort, from ``embeddings`` themselves (a warning under 100 rows: results then depend on the
    batch). Binary schemes take neither.
    """
    _check_scheme(scheme)
    x, offsets = _flatten(embeddings, "embeddings")
    dim = x.shape[1]
    if scheme in BINARY_SCHEMES:
        if ranges is not None or calibration is not None:
            raise InvalidInputError("binary schemes take no ranges or calibration (the threshold is 0)")
        packed = pack_bits(x)
        data = packed if scheme == "ubinary" else (packed ^ np.uint8(0x80)).view(np.int8)
        return QuantizedEmbeddings(data=data, scheme=scheme, dim=dim, offsets=offsets)

    if ranges is not None:
        if calibration is not None:
            raise InvalidInputError("pass either ranges or calibration, not both")
        r = _check_ranges(ranges, dim)
    elif calibration is not None:
        calib, _ = _flatten(calibration, "calibration embeddings")
        if calib.shape[1] != dim:
            raise InvalidInputError(f"calibration has dim {calib.shape[1]}, embeddings have dim {dim}")
        r = calibration_ranges(calib, percentile)
    else:
        if x.shape[0] == 0:
            raise InvalidInputError("cannot compute ranges from zero embeddings; pass ranges or calibration")
        if x.shape[0] < 100:
            warn(  # attributed to the caller's line, past the argument-contract wrapper
                f"computing {scheme} ranges from only {x.shape[0]} embeddings; pass `ranges` or a "
                "`calibration` set for stable, batch-independent codes",
                UserWarning,
            )
        r = calibration_ranges(x, percentile)
    codes = _scalar_codes(x, r, scheme)
    data = (codes ^ np.uint8(0x80)).view(np.int8) if scheme == "int8" else pack_int4(codes)
    return QuantizedEmbeddings(data=data, scheme=scheme, dim=dim, ranges=r, offsets=offsets)


@public
def dequantize(q: QuantizedEmbeddings, reconstruction: str | None = None) -> np.ndarray | list[np.ndarray]:
    """Float32 reconstruction of all of ``q``; a list of per-document arrays for multi-vector."""
    if not isinstance(q, QuantizedEmbeddings):
        raise InvalidInputError(f"dequantize takes what quantize() returns, got {type(q).__name__}")
    flat = q.dequantize(reconstruction=reconstruction)
    if q.offsets is None:
        return flat
    return [flat[q.offsets[i] : q.offsets[i + 1]] for i in range(len(q))]
