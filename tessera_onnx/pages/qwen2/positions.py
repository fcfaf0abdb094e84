"""Position inputs of the Qwen2-VL / Qwen2.5-VL graphs, computed in numpy from the image grids.

The exported graphs take positions as inputs instead of ``image_grid_thw``, so one graph serves
every image size:

- :func:`vision_position_ids`: the ``(row, column)`` of each patch in the order the patches are
  flattened (2×2 merge windows adjacent), the vision encoder's 2-D rotary input
  (transformers ``rot_pos_emb``).
- :func:`window_layout`: Qwen2.5-VL's window attention: the order of the merged tokens grouped
  by ``window_size`` windows and a window id per patch (transformers ``get_window_index``).
- :func:`mrope_position_ids`: the language model's 3-D M-RoPE ids ``[3, B, T]``
  (transformers ``get_rope_index``, images only): text runs count up on all three axes, an
  image run gets ``(t, row, column)`` of its merged grid offset by the text before it, the text
  after an image starts at the previous run's maximum + 1; positions under a 0 mask are 1.
  Without images, ``cumsum(mask) - 1`` with 1 at masked positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import InvalidInputError
from .image import ImageGrid

__all__ = ["vision_position_ids", "window_layout", "mrope_position_ids"]


def vision_position_ids(grid: ImageGrid) -> np.ndarray:
    """``[t·h·w, 2]`` int64 ``(row, column)`` of every patch row of :func:`~.image.flatten_patches`."""
    m = grid.merge_size
    rows = np.broadcast_to(np.arange(grid.h)[:, None], (grid.h, grid.w))
    cols = np.broadcast_to(np.arange(grid.w)[None, :], (grid.h, grid.w))

    def merge_order(a: np.ndarray) -> np.ndarray:
        return a.reshape(grid.h // m, m, grid.w // m, m).transpose(0, 2, 1, 3).reshape(-1)

    pos = np.stack([merge_order(rows), merge_order(cols)], axis=-1).astype(np.int64)
    return np.tile(pos, (grid.t, 1))


def window_layout(grid: ImageGrid, window_size: int, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Qwen2.5-VL window attention of one image: ``(order, window_ids)``.

    ``order`` ``[t·h·w / merge²]``: merged-token indices grouped window by window (row-major
    windows of ``window_size / patch_size / merge`` merged tokens a side, cut at the image edge).
    Reordering the patch rows (in groups of merge²) and their position ids by ``order`` gives
    the encoder's input order; its output rows come back in the same order (undo with
    ``argsort(order)``). ``window_ids`` ``[t·h·w]``: the window of each reordered patch row
    (attention stays inside a window in the windowed layers).
    """
    m = grid.merge_size
    side = window_size // m // patch_size
    gh, gw = grid.h // m, grid.w // m
    pad_h, pad_w = side - gh % side, side - gw % side
    nh, nw = (gh + pad_h) // side, (gw + pad_w) // side
    index = np.full((grid.t, gh + pad_h, gw + pad_w), -1, dtype=np.int64)
    index[:, :gh, :gw] = np.arange(grid.t * gh * gw).reshape(grid.t, gh, gw)
    windows = index.reshape(grid.t, nh, side, nw, side).transpose(0, 1, 3, 2, 4).reshape(-1, side * side)
    order = windows[windows >= 0]
    counts = (windows >= 0).sum(axis=1)
    counts = counts[counts > 0]
    window_of_token = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    return order, np.repeat(window_of_token, m * m)


def _text_branch(mask: np.ndarray) -> np.ndarray:
    pos = np.cumsum(mask, axis=-1) - 1
    pos[mask == 0] = 1
    return np.broadcast_to(pos[None], (3, *mask.shape)).astype(np.int64)


def mrope_position_ids(
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    grids: Sequence[ImageGrid] | None,
    *,
    image_token_id: int,
    vision_start_token_id: int,
) -> np.ndarray:
    """3-D M-RoPE position ids ``[3, B, T]`` int64 (transformers ``get_rope_index``, no video).

    ``grids``: the grid of every image in the batch, in order (row by row, left to right);
    ``None`` for a text-only batch (queries). Raises :class:`InvalidInputError` when the
    ``<|image_pad|>`` runs do not match the grids.
    """
    input_ids = np.asarray(input_ids, dtype=np.int64)
    mask = np.asarray(attention_mask, dtype=np.int64)
    if grids is None:
        return np.ascontiguousarray(_text_branch(mask))
    out = np.ones((3, *input_ids.shape), dtype=np.int64)
    image = 0
    for row in range(input_ids.shape[0]):
        keep = mask[row] == 1
        ids = input_ids[row][keep]
        starts = np.flatnonzero(ids[:-1] == vision_start_token_id)
        n_images = int(np.count_nonzero(ids[starts + 1] == image_token_id))
        pieces: list[np.ndarray] = []
        st = 0
        for _ in range(n_images):
            if image >= len(grids):
                raise InvalidInputError(f"row {row} has more images than the {len(grids)} grids given")
            hits = np.flatnonzero(ids[st:] == image_token_id)
            if not len(hits):
                raise InvalidInputError(f"row {row}: a vision-start token is not followed by an image run")
            ed = st + int(hits[0])
            g = grids[image]
            image += 1
            gt, gh, gw = g.t, g.h // g.merge_size, g.w // g.merge_size
            text_len = ed - st
            st_idx = int(pieces[-1].max()) + 1 if pieces else 0
            pieces.append(np.broadcast_to(np.arange(text_len) + st_idx, (3, text_len)))
            t_idx = np.repeat(np.arange(gt), gh * gw)
            h_idx = np.tile(np.repeat(np.arange(gh), gw), gt)
            w_idx = np.tile(np.arange(gw), gt * gh)
            pieces.append(np.stack([t_idx, h_idx, w_idx]) + text_len + st_idx)
            st = ed + gt * gh * gw
        if st < len(ids):
            st_idx = int(pieces[-1].max()) + 1 if pieces else 0
            pieces.append(np.broadcast_to(np.arange(len(ids) - st) + st_idx, (3, len(ids) - st)))
        if pieces:
            out[:, row, keep] = np.concatenate(pieces, axis=1)
    return out
