"""``TesseraImageText``: SigLIP / SigLIP2 / CLIP image–text embeddings on onnxruntime + numpy.

The artifact holds two graphs: ``vision.onnx`` (images → vectors) and ``text.onnx`` (texts →
vectors). The vision session is created on load; the text session and the tokenizer on the
first text call, so an image-only job never pays for the text tower and vice versa. Sessions
start without weight pre-packing: the weights stay memory-mapped from the external data files
instead of being copied into packed buffers (session creation drops from ~0.5 s to ~0.05 s of
CPU for SigLIP base, and the copy no longer adds to RSS). Images are decoded and resized
in a thread pool (see :mod:`tessera_onnx.vision.preprocess`) while onnxruntime runs the previous
batch. Pillow is needed only for images (``pip install 'tessera-onnx[vision]'``).

Scores follow the model: SigLIP ``sigmoid(exp(logit_scale)·cos + logit_bias)`` per image–label
pair, CLIP ``softmax`` over the labels of ``exp(logit_scale)·cos``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..model import TesseraModel, check_positive_int
from ..text.config import TextConfig
from ..text.tokenize import validate_texts
from ..vision.config import DEFAULT_MAX_PIXELS, ImagePreprocessConfig, ImageTextConfig
from ..vision.preprocess import ImagePreprocessor, as_image_iterable, default_workers
from ..vision.text import DualEncoderTokenizer

__all__ = ["TesseraImageText", "cosine_top_k"]


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _as_matrix(x: Any, dim: int, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidInputError(
            f"{what} must be embeddings of width {dim} ([N, {dim}] or [{dim}]), got {arr.shape}"
        )
    return arr


def cosine_top_k(queries: np.ndarray, corpus: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine top-``k`` of each query row among ``corpus`` rows: ``(indices [Q, k], scores [Q, k])``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"top_k must be a positive integer, got {k!r}")
    scores = _l2(queries) @ _l2(corpus).T
    k = min(int(k), scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(scores, idx, axis=1)


class TesseraImageText(TesseraModel):
    """An image–text dual encoder artifact (paradigm ``vision``: SigLIP, SigLIP2, CLIP).

    Options: ``device``/``providers``/``fallback``/``threads`` as for the text embedders;
    ``batch_size``: for image–text models, *images per batch* (preprocessed together; texts per
    batch for :meth:`encode_texts`), default 32, also per call; ``graph_batch`` at most this many
    images per vision-graph call within a batch (default 4: a SigLIP-base process peaks at
    ~570 MB RSS with 4, ~650 MB with 8, ~750 MB with 32 images per call, while 4 images already
    give the GEMMs 784 rows, so throughput does not drop); ``workers`` preprocessing threads
    (default: CPU count, at most 4); ``max_pixels`` refuses larger images (decompression-bomb
    guard, None = no limit); ``verify``/``cache``/``download`` as for the text embedders.
    """

    paradigm = "vision"

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        batch_size: int = 32,
        graph_batch: int = 4,
        workers: int | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        manifest = self.manifest
        self.config = ImageTextConfig.from_dict(manifest.config["vision"])
        self.image_config = ImagePreprocessConfig.from_dict(manifest.config.get("image"))
        self.text_config = TextConfig.from_dict(manifest.config.get("text"))
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.graph_batch = check_positive_int(graph_batch, "graph_batch")
        self.workers = default_workers() if workers is None else check_positive_int(workers, "workers")
        self.preprocessor = ImagePreprocessor(self.image_config, max_pixels=max_pixels)
        files = (self.config.image_model_file, self.config.text_model_file, self.text_config.tokenizer_file)
        paths = [self._file(name) for name in files]
        self._image_session = self._verified(
            files, lambda: self._create_session(self.config.image_model_file, prepack=False)
        )
        self._text_path, self._tokenizer_path = paths[1], paths[2]
        self._text_session: Any = None
        self._text_tokenizer: DualEncoderTokenizer | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ properties

    # ------------------------------------------------------------------ images

    def iter_image_embeddings(
        self, images: Any, *, batch_size: int | None = None, normalize: bool = True
    ) -> Iterator[tuple[range, np.ndarray]]:
        """Yield ``(indices, embeddings [b, D])`` batch by batch; constant memory for any iterable.

        Arguments are checked when the call is made; images as they stream.
        """
        items, _ = as_image_iterable(images)
        size = check_positive_int(batch_size, "batch_size") if batch_size is not None else self.batch_size
        return self._image_batches(items, size, bool(normalize))

    def _image_batches(self, items: Any, size: int, normalize: bool) -> Iterator[tuple[range, np.ndarray]]:
        name = self.config.image_input
        step = self.graph_batch
        for indices, pixels in self.preprocessor.iter_batches(items, batch_size=size, workers=self.workers):
            out = np.concatenate(
                [
                    self._image_session.run([self.config.image_output], {name: pixels[i : i + step]})[0]
                    for i in range(0, len(pixels), step)
                ]
            )
            yield indices, _l2(out) if normalize else out

    def encode_images(
        self, images: Any, *, batch_size: int | None = None, normalize: bool = True
    ) -> np.ndarray:
        """Embed one image (→ ``[D]``) or many (→ ``[N, D]``), float32, L2-normalised unless ``normalize=False``.

        An image is a path, encoded bytes, a binary file object, a ``PIL.Image`` or an HWC uint8
        array; many images are a list, a ``[N, H, W, 3]`` uint8 array or any iterable (streamed).
        ``normalize=False`` returns the model's raw ``get_image_features`` vectors.
        """
        _, single = as_image_iterable(images)
        parts = [e for _, e in self.iter_image_embeddings(images, batch_size=batch_size, normalize=normalize)]
        out = np.concatenate(parts) if parts else np.zeros((0, self.dimension), np.float32)
        return out[0] if single else out

    # ------------------------------------------------------------------ texts

    def _text(self) -> Any:
        if self._text_session is None:
            with self._lock:
                if self._text_session is None:
                    self._text_session = self._create_session(self.config.text_model_file, prepack=False)
        return self._text_session

    @property
    def _tokenizer(self) -> DualEncoderTokenizer:
        # loaded on the first text call, like the text session: an image-only job never pays for it
        if self._text_tokenizer is None:
            with self._lock:
                if self._text_tokenizer is None:
                    self._text_tokenizer = DualEncoderTokenizer(
                        self._tokenizer_path, self.text_config, self.config
                    )
        return self._text_tokenizer

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask)`` exactly as the model's reference tokenizer/processor build them."""
        items, _ = validate_texts(texts)
        return self._tokenizer(items)

    def encode_texts(
        self, texts: str | Sequence[str], *, batch_size: int | None = None, normalize: bool = True
    ) -> np.ndarray:
        """Embed one text (→ ``[D]``) or many (→ ``[N, D]``), float32, L2-normalised unless ``normalize=False``."""
        items, single = validate_texts(texts)
        size = check_positive_int(batch_size, "batch_size") if batch_size is not None else self.batch_size
        session = self._text()
        parts = []
        for start in range(0, len(items), size):
            ids, mask = self._tokenizer(items[start : start + size])
            feed = {"input_ids": ids, "attention_mask": mask}
            out = session.run([self.config.text_output], {n: feed[n] for n in self.config.text_inputs})[0]
            parts.append(_l2(out) if normalize else out)
        out = np.concatenate(parts) if parts else np.zeros((0, self.dimension), np.float32)
        return out[0] if single else out

    # ------------------------------------------------------------------ scores

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        """Cosine similarity ``[N, M]`` between two sets of embeddings (image or text, any mix)."""
        return _l2(_as_matrix(a, self.dimension, "a")) @ _l2(_as_matrix(b, self.dimension, "b")).T

    def logits(self, image_embeddings: Any, text_embeddings: Any) -> np.ndarray:
        """The model's ``logits_per_image`` ``[N_images, N_texts]``: ``exp(logit_scale)·cos (+ logit_bias)``."""
        cos = self.similarity(image_embeddings, text_embeddings).astype(np.float32)
        scale = np.float32(np.exp(np.float32(self.config.logit_scale)))
        out = cos * scale
        if self.config.score == "sigmoid":
            out = out + np.float32(self.config.logit_bias)
        return out

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Per-pair sigmoid (SigLIP) or softmax over the text axis (CLIP) of ``logits``."""
        logits = np.asarray(logits, dtype=np.float32)
        if self.config.score == "sigmoid":
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def classify(self, images: Any, labels: Sequence[str], *, template: str | None = None) -> np.ndarray:
        """Probability of each label for each image: ``[L]`` for one image, ``[N, L]`` for many.

        Labels are put into ``template`` (default: the manifest's, ``"This is a photo of {}."``,
        the transformers zero-shot pipeline's) and scored with the model's own function.
        """
        if isinstance(labels, str) or not isinstance(labels, Sequence) or not labels:
            raise InvalidInputError("labels must be a non-empty list of strings")
        template = self.config.default_template if template is None else template
        if not isinstance(template, str) or "{}" not in template:
            raise InvalidInputError(f"template must be a str containing '{{}}', got {template!r}")
        validate_texts(list(labels))
        _, single = as_image_iterable(images)
        image_emb = self.encode_images(images)
        text_emb = self.encode_texts([template.format(label) for label in labels])
        probs = self.probabilities(self.logits(image_emb, text_emb))
        return probs[0] if single else probs

    def search_images(
        self, texts: str | Sequence[str], image_embeddings: Any, top_k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """Text → image search: ``(indices [Q, k], cosine scores [Q, k])`` into ``image_embeddings``."""
        queries = np.atleast_2d(self.encode_texts(texts))
        return cosine_top_k(queries, _as_matrix(image_embeddings, self.dimension, "image_embeddings"), top_k)

    def search_texts(
        self, images: Any, text_embeddings: Any, top_k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """Image → text search: ``(indices [Q, k], cosine scores [Q, k])`` into ``text_embeddings``."""
        queries = np.atleast_2d(self.encode_images(images))
        return cosine_top_k(queries, _as_matrix(text_embeddings, self.dimension, "text_embeddings"), top_k)
