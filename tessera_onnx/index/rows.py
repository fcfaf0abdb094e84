"""Row storage behind the indexes: fixed-width rows (dense) and ragged rows (multi-vector, sparse).

Both are immutable value objects: :meth:`take` and :meth:`concat` return new ones, so a search
that holds a reference never sees a half-applied write. Ragged rows keep every document's items
in flat arrays plus ``offsets`` (document ``i`` owns items ``offsets[i]:offsets[i + 1]``), the
CSR layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["FixedRows", "RaggedRows"]


@dataclass(frozen=True, eq=False)
class FixedRows:
    """``arrays[name]`` all hold one row per document (``arrays[name].shape[0] == n``)."""

    arrays: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return int(next(iter(self.arrays.values())).shape[0])

    def take(self, rows: np.ndarray) -> FixedRows:
        """The documents at ``rows`` (in that order)."""
        return FixedRows({k: v[rows] for k, v in self.arrays.items()})

    def concat(self, other: FixedRows) -> FixedRows:
        """These documents followed by ``other``'s."""
        return FixedRows({k: np.concatenate([v, other.arrays[k]]) for k, v in self.arrays.items()})

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays."""
        return int(sum(v.nbytes for v in self.arrays.values()))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays to save (inverse: :meth:`from_arrays`)."""
        return dict(self.arrays)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> FixedRows:
        """Rebuild from :meth:`to_arrays`."""
        return cls(dict(arrays))


@dataclass(frozen=True, eq=False)
class RaggedRows:
    """Flat item arrays (``arrays[name].shape[0] == offsets[-1]``) grouped into documents by ``offsets``."""

    arrays: Mapping[str, np.ndarray]
    offsets: np.ndarray

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def lengths(self) -> np.ndarray:
        """Items per document."""
        return np.diff(self.offsets)

    def item_rows(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat item indices of ``docs`` (in that order) and the matching new offsets."""
        docs = np.asarray(docs, dtype=np.int64)
        lengths = self.lengths[docs]
        new_offsets = np.zeros(docs.size + 1, np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        starts = self.offsets[docs]
        # item j of the output belongs to output doc d: start[d] + (j - new_offsets[d])
        owner = np.repeat(np.arange(docs.size), lengths)
        items = starts[owner] + (np.arange(new_offsets[-1]) - new_offsets[owner])
        return items, new_offsets

    def take(self, docs: np.ndarray) -> RaggedRows:
        """The documents at ``docs`` (in that order)."""
        items, offsets = self.item_rows(docs)
        return RaggedRows({k: v[items] for k, v in self.arrays.items()}, offsets)

    def concat(self, other: RaggedRows) -> RaggedRows:
        """These documents followed by ``other``'s."""
        offsets = np.concatenate([self.offsets, other.offsets[1:] + self.offsets[-1]])
        return RaggedRows({k: np.concatenate([v, other.arrays[k]]) for k, v in self.arrays.items()}, offsets)

    def doc(self, i: int, name: str) -> np.ndarray:
        """Items of document ``i`` in array ``name`` (a view)."""
        return self.arrays[name][self.offsets[i] : self.offsets[i + 1]]

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays, offsets included."""
        return int(sum(v.nbytes for v in self.arrays.values()) + self.offsets.nbytes)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays to save (inverse: :meth:`from_arrays`)."""
        return {**self.arrays, "offsets": self.offsets}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> RaggedRows:
        """Rebuild from :meth:`to_arrays`."""
        rest = {k: v for k, v in arrays.items() if k != "offsets"}
        return cls(rest, np.asarray(arrays["offsets"], dtype=np.int64))
