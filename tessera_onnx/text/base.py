"""What the text embedders share: loading an artifact, the session, tokenizing and batching.

An embedder holds no mutable state after construction, so one instance may be called from
several threads at once (``InferenceSession.run`` is thread-safe).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

import numpy as np

from .._malloc import fix_mmap_threshold, trim_heap
from .._warnings import warn
from ..errors import (
    ArtifactError,
    DimensionWarning,
    InvalidInputError,
    UnsupportedDimensionError,
)
from ..model import TesseraModel, check_positive_int
from ..text.batching import REFERENCE_LENGTH, ProgressBar, default_batch_size, plan_batches
from ..text.tokenize import TextTokenizer, Tokenized, iter_windows, prepare_texts, validate_texts
from .config import TextConfig

__all__ = ["TextEmbedder"]

# windows of at least this many texts end with a heap trim (see tessera_onnx._malloc.trim_heap)
_TRIM_AFTER = 256

_R = TypeVar("_R")

_ORT_INT = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
_KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


class TextEmbedder(TesseraModel):
    """Base class of :class:`TesseraDense`, :class:`TesseraMultiVector`, :class:`TesseraSparse`.

    Keyword options (all optional):

    - ``device``: ``"auto"`` (CUDA > CoreML > CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
      ``"coreml"``; ``providers`` overrides it with an onnxruntime providers list;
      ``fallback=False`` raises instead of warning when the device is unavailable.
    - ``threads``: onnxruntime intra-op threads (default: all cores). ``spin``: ``False``
      (default) intra-op threads sleep between operators; ``"call"`` they busy-wait only while a
      call runs (no wake-up latency inside a call, no spinning between calls); ``True`` always
      (onnxruntime's own default; slow on cores shared with other work) (see
      :func:`tessera_onnx.session.create_session`).
    - ``max_length``: token limit, at most the model's (longer texts are truncated, with a
      :class:`~tessera_onnx.errors.TruncationWarning`).
    - ``batch_size``: for text encoders, *texts per batch at 32 tokens*: a token budget.
      Batches hold about ``batch_size × 32`` tokens, so short texts go in larger batches and
      long ones in smaller. Default: 16 on CPU (batches whose activations stay in the caches),
      32 on CUDA/CoreML; the ``tessera encode`` CLI uses the same default. A per-call
      ``batch_size=`` is checked when the call is made, before any text is read. Inputs are
      processed in windows of :data:`~tessera_onnx.text.tokenize.WINDOW` texts (length-sorted
      inside a window, results in input order), so memory does not grow with the input;
      ``encode_iter`` streams any iterable in constant memory.
    - ``verify``: check every artifact file against the sha256 in its manifest on load. ``True``
      (default) hashes a file once and then trusts it while its size/mtime/ctime/inode are
      unchanged (see :func:`tessera_onnx.artifact.verify_files`); ``"always"`` re-hashes on every
      load; ``False`` skips the check.
    - ``cache`` / ``download``: where ids are looked up, and whether a missing one may be
      downloaded (see :func:`tessera_onnx.locate.resolve_artifact`).
    - ``small_batch_threads`` (opt-in, default None: off): a second onnxruntime session of the
      same graph with this many intra-op threads, used for every batch of *one* text of at most
      ``small_batch_tokens`` tokens (default 64) - a single search query, say, which is a chain
      of small operators where waking other threads costs more than they save. Both sessions
      give the same vectors (1e-6). Cost: the second session holds its own copy of the weights
      (their size again in RSS, plus onnxruntime's pre-packed copy) and its creation time; CPU
      with onnxruntime only (ignored on other providers and backends).
    """

    paradigm: ClassVar[str] = ""

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        max_length: int | None = None,
        batch_size: int | None = None,
        small_batch_threads: int | None = None,
        small_batch_tokens: int = 64,
        **options: Any,
    ) -> None:
        if small_batch_threads is not None:
            check_positive_int(small_batch_threads, "small_batch_threads")
        check_positive_int(small_batch_tokens, "small_batch_tokens")
        super().__init__(model, **options)
        fix_mmap_threshold()  # per-batch blocks must not fragment the heap as texts stream (see _malloc)
        manifest = self.manifest
        self._warned_dims: set[int] = set()
        self.text_config = TextConfig.from_dict(manifest.config.get("text"))
        if max_length is not None:
            if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2:
                raise InvalidInputError(f"max_length must be an integer >= 2, got {max_length!r}")
            if max_length > self.text_config.max_length:
                raise InvalidInputError(
                    f"max_length {max_length} exceeds the model's maximum {self.text_config.max_length}"
                )
        self.max_length = max_length or self.text_config.max_length
        size = check_positive_int(batch_size, "batch_size") if batch_size is not None else None
        tokenizer_file = self._file(self.text_config.tokenizer_file, "tokenizer_file")

        def build() -> Any:
            self._tokenizer = TextTokenizer(tokenizer_file, self.max_length)
            return self._create_session(manifest.model_file)

        self._session = self._verified((manifest.model_file, self.text_config.tokenizer_file), build)
        assert self.provider is not None
        self.small_batch_threads, self.small_batch_tokens = small_batch_threads, int(small_batch_tokens)
        self._small_session: Any = None
        if (
            small_batch_threads is not None
            and small_batch_threads != self._session_options["threads"]
            and self.provider == "CPUExecutionProvider"
            and self._session_options["backend"] == "onnxruntime"
        ):
            self._small_session = self._create_session(manifest.model_file, threads=small_batch_threads)
        self.batch_size = size if size is not None else default_batch_size(self.provider)
        self._input_dtypes = self._read_inputs()

    # ------------------------------------------------------------------ artifact / session

    def _read_inputs(self) -> dict[str, type]:
        dtypes: dict[str, type] = {}
        for spec in self._session.get_inputs():
            if spec.name not in _KNOWN_INPUTS:
                raise ArtifactError(
                    f"graph input {spec.name!r} is not one a text embedder can feed ({_KNOWN_INPUTS})"
                )
            dtypes[spec.name] = _ORT_INT.get(spec.type, np.int64)
        if "input_ids" not in dtypes:
            raise ArtifactError("the graph has no input_ids input")
        return dtypes

    def _output_name(self, preferred: tuple[str, ...]) -> str:
        names = [o.name for o in self._session.get_outputs()]
        for name in preferred:
            if name in names:
                return name
        declared = [n for n in self.manifest.outputs if n in names]
        if declared:
            return declared[0]
        raise ArtifactError(f"the graph outputs {names}; expected one of {preferred}")

    def _run(
        self, output: str, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None = None
    ) -> np.ndarray:
        """Run the graph on one padded batch; ``types`` feeds ``token_type_ids`` (zeros when None).

        A batch of one text of at most ``small_batch_tokens`` runs on the ``small_batch_threads``
        session when there is one."""
        feed: dict[str, np.ndarray] = {}
        for name, dtype in self._input_dtypes.items():
            if name == "input_ids":
                feed[name] = ids.astype(dtype, copy=False)
            elif name == "attention_mask":
                feed[name] = mask.astype(dtype, copy=False)
            elif name == "token_type_ids":
                feed[name] = (
                    np.zeros(ids.shape, dtype=dtype) if types is None else types.astype(dtype, copy=False)
                )
            else:  # position_ids
                feed[name] = np.broadcast_to(np.arange(ids.shape[1], dtype=dtype), ids.shape).copy()
        small = (
            self._small_session is not None and ids.shape[0] == 1 and ids.shape[1] <= self.small_batch_tokens
        )
        return (self._small_session if small else self._session).run([output], feed)[0]

    # ------------------------------------------------------------------ text handling

    def _prepare(self, texts: Any, prefix: str = "") -> tuple[list[str], bool]:
        items, single = validate_texts(texts)
        cfg = self.text_config
        return prepare_texts(items, prefix, strip=cfg.strip, lowercase=cfg.lowercase), single

    def _windowed(
        self,
        texts: Any,
        prefix: str,
        show_progress: bool,
        work: Callable[[list[str], ProgressBar], _R],
    ) -> tuple[Iterator[_R], bool, int | None]:
        """Validate ``texts`` and return ``(results per window, was_single_str, total or None)``.

        ``work(prepared_texts, bar)`` turns one window of prompt-prefixed, stripped (and
        lowercased) texts into that window's results, in order. Nothing runs until the
        iterator is consumed; a sequence is validated whole now, a generator as it streams.
        """
        windows, single, total = iter_windows(texts)
        cfg = self.text_config

        def run() -> Iterator[_R]:
            bar = ProgressBar(show_progress, total)
            try:
                for window in windows:
                    result = work(
                        prepare_texts(window, prefix, strip=cfg.strip, lowercase=cfg.lowercase), bar
                    )
                    if len(window) >= _TRIM_AFTER:  # big inputs only: a one-text call pays nothing
                        trim_heap()
                    yield result
            finally:
                bar.close()

        return run(), single, total

    def _tokenize(self, texts: list[str], max_length: int | None = None) -> Tokenized:
        return self._tokenizer.encode(texts, max_length or self.max_length)

    def _check_batch_size(self, batch_size: Any) -> int | None:
        """A per-call ``batch_size`` checked when the call is made (None: the embedder's)."""
        return None if batch_size is None else check_positive_int(batch_size, "batch_size")

    def _batches(
        self,
        tokens: Tokenized,
        batch_size: int | None,
        show_progress: bool | ProgressBar,
        token_budget: int | None = None,
        pad_ids: bool = True,
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
        """Yield ``(indices, ids, mask)`` per length bucket, padded with the pad id.

        ``show_progress`` is a bool or a shared :class:`ProgressBar`; with ``pad_ids=False``
        only the indices are planned (``ids`` and ``mask`` are None: the caller pads).
        """
        size = check_positive_int(batch_size, "batch_size") if batch_size is not None else self.batch_size
        pad = self.text_config.pad_token_id
        side = self.text_config.padding_side
        if token_budget is not None:
            token_budget = min(token_budget, size * REFERENCE_LENGTH)
        own = not isinstance(show_progress, ProgressBar)
        bar = ProgressBar(bool(show_progress), len(tokens)) if own else show_progress
        try:
            for index in plan_batches(tokens.lengths, size, token_budget):
                if pad_ids:
                    ids, mask = tokens.pad(index, pad, side=side)
                    yield index, ids, mask
                else:
                    yield index, None, None
                bar.update(len(index))
        finally:
            if own:
                bar.close()

    def _resolve_prompt(self, prompt: str | None, prompt_name: str | None, default: str = "") -> str:
        if prompt is not None and prompt_name is not None:
            raise InvalidInputError("pass either prompt or prompt_name, not both")
        if prompt_name is not None:
            prompts = dict(self.text_config.prompts)
            if prompt_name not in prompts:
                raise InvalidInputError(
                    f"prompt_name {prompt_name!r} is not defined for this model; it has {sorted(prompts) or 'none'}"
                )
            return prompts[prompt_name]
        if prompt is not None:
            if not isinstance(prompt, str):
                raise InvalidInputError(f"prompt must be a str, got {type(prompt).__name__}")
            return prompt
        return default

    def _query_prefix(self) -> str:
        return self.text_config.query_prefix or dict(self.text_config.prompts).get("query", "")

    def _document_prefix(self) -> str:
        if self.text_config.document_prefix:
            return self.text_config.document_prefix
        prompts = dict(self.text_config.prompts)
        return next((prompts[k] for k in ("document", "passage", "corpus") if k in prompts), "")

    # ------------------------------------------------------------------ public surface

    @property
    def tokenizer(self) -> TextTokenizer:
        """The artifact's :class:`TextTokenizer`."""
        return self._tokenizer

    def _info_extra(self) -> dict[str, Any]:
        return {
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "small_batch_threads": self.small_batch_threads if self._small_session is not None else None,
            "small_batch_tokens": self.small_batch_tokens,
            "inputs": list(self._input_dtypes),
            "outputs": [o.name for o in self._session.get_outputs()],
        }

    def _check_dimension(self, dimension: int | None) -> int | None:
        """Validate a truncation ``dimension=``; None or the full width means no truncation.

        Any ``1 <= dimension <= dim`` is accepted, as sentence-transformers' ``truncate_dim``;
        a size the manifest does not list in ``matryoshka_dims`` gets one
        :class:`~tessera_onnx.errors.DimensionWarning` per embedder and size (the model was not
        trained for it, so quality may drop more than for a Matryoshka size).
        """
        if dimension is None:
            return None
        full = self.manifest.dim
        if (
            isinstance(dimension, bool)
            or not isinstance(dimension, (int, np.integer))
            or not 1 <= int(dimension) <= full
        ):
            offered = sorted(set(self.manifest.matryoshka_dims) | {full}, reverse=True)
            raise UnsupportedDimensionError(
                f"dimension {dimension!r} is not available for {self.manifest.model_id}: pass an integer "
                f"in 1..{full} (trained Matryoshka sizes: {offered})"
            )
        size = int(dimension)
        if size == full:
            return None
        if size not in self.manifest.matryoshka_dims and size not in self._warned_dims:
            self._warned_dims.add(size)
            listed = list(self.manifest.matryoshka_dims)
            warn(
                f"{self.manifest.model_id} was not trained for dimension {size} "
                + (f"(its Matryoshka sizes are {listed})" if listed else "(it lists no Matryoshka sizes)")
                + "; the truncated vectors may lose more quality than a trained size",
                DimensionWarning,
            )
        return size
