"""``ImagePreprocessor``: images → ``pixel_values`` batches, decoded and resized in a thread pool.

Pillow releases the GIL while it decodes and resamples, so a few worker threads prepare the
next batch while onnxruntime runs the current one. Every image is processed on its own, so the
pixels never depend on the batch size or the number of threads. Inputs may be one image, a
sequence, or any iterable (a generator over a folder): at most ``prefetch`` batches are in
flight, so a stream of any length runs in constant memory.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any

import numpy as np

from ..errors import InvalidImageError, InvalidInputError
from .config import DEFAULT_MAX_PIXELS, ImagePreprocessConfig
from .load import is_image_input, load_image
from .transforms import pixel_values, shortest_edge_size

__all__ = ["ImagePreprocessor", "as_image_iterable", "default_workers"]


def default_workers() -> int:
    """Worker threads for preprocessing: the CPU count, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def as_image_iterable(images: Any) -> tuple[Iterable[Any], bool]:
    """``(iterable of single images, was_single)``; a lone image becomes a one-item list."""
    if images is None:
        raise InvalidInputError("images is None; pass an image, a list of images or an iterable of them")
    if is_image_input(images):
        return [images], True
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images), False
    if isinstance(images, (dict, set)) or not isinstance(images, Iterable):
        raise InvalidInputError(
            f"images must be an image (path, bytes, file object, PIL.Image, HWC uint8 array) or an iterable of "
            f"them, got {type(images).__name__}"
        )
    return images, False


class ImagePreprocessor:
    """Preprocess images per an :class:`ImagePreprocessConfig`; thread-safe and stateless per call.

    ``max_pixels``: images with more pixels are refused (decompression-bomb guard; None = no limit).
    """

    def __init__(self, config: ImagePreprocessConfig, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
        self.config = config
        self.max_pixels = max_pixels

    def __call__(self, image: Any, index: int = 0) -> np.ndarray:
        """One image → float32 ``[3, H, W]``."""
        loaded = load_image(image, index, self.max_pixels)
        cfg = self.config
        if cfg.resize == "shortest_edge" and self.max_pixels is not None:
            # the reference resizes the whole image before cropping: a 1x10000 image would become
            # 224 x 2,240,000 pixels first. Same pixels as the reference, or a clear refusal.
            h, w = shortest_edge_size(loaded.height, loaded.width, cfg.shortest_edge)
            if h * w > self.max_pixels:
                raise InvalidImageError(
                    f"images[{index}] ({loaded.width}x{loaded.height}) has so extreme an aspect ratio that the "
                    f"shortest-edge resize would make {w}x{h} pixels, over the limit of {self.max_pixels}; crop it "
                    "first or pass a larger max_pixels=",
                    index,
                )
        return pixel_values(loaded, cfg)

    def batch(self, images: Iterable[Any], workers: int = 1) -> np.ndarray:
        """All of ``images`` as one float32 ``[N, 3, H, W]`` array (for small inputs)."""
        parts = [b for _, b in self.iter_batches(images, batch_size=1 << 30, workers=workers)]
        return (
            parts[0]
            if len(parts) == 1
            else np.concatenate(parts)
            if parts
            else np.zeros((0, 3, 1, 1), np.float32)
        )

    def iter_batches(
        self, images: Iterable[Any], *, batch_size: int = 32, workers: int | None = None, prefetch: int = 2
    ) -> Iterator[tuple[range, np.ndarray]]:
        """Yield ``(indices, pixel_values [b, 3, H, W])`` in input order, ``prefetch`` batches ahead."""
        workers = default_workers() if workers is None else max(1, int(workers))
        iterator = iter(images)
        start = 0
        pending: deque[tuple[range, list[Future[np.ndarray]]]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tessera-image") as pool:
            try:
                while True:
                    while len(pending) < max(1, prefetch):
                        chunk = list(islice(iterator, batch_size))
                        if not chunk:
                            break
                        indices = range(start, start + len(chunk))
                        pending.append(
                            (
                                indices,
                                [pool.submit(self, item, i) for i, item in zip(indices, chunk, strict=True)],
                            )
                        )
                        start += len(chunk)
                    if not pending:
                        return
                    indices, futures = pending.popleft()
                    yield indices, np.stack([f.result() for f in futures])
            finally:
                for _, futures in pending:
                    for f in futures:
                        f.cancel()
