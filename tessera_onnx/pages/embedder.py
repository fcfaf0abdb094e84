"""``TesseraPages``: search document pages as images (ColIdefics3/ColSmol, ColPali, ColQwen2) on onnxruntime.

The artifact holds two graphs (see ``docs/pages-artifact.md``): ``vision.onnx`` (pixels → image
features) and ``language.onnx`` (ids, mask, image features → normalised token vectors). A query
runs **only** the language graph, with no image features; the vision session is not even
created until the first page is embedded. Pages are decoded, checked, tiled/patched and
tokenized by the model family's rules (:mod:`tessera_onnx.pages`) in a thread pool, a few
batches ahead of onnxruntime; a PDF is rendered page by page (``pip install
'tessera-onnx[pdf]'``), so any number of pages streams in bounded memory.

Outputs are ragged: one ``[tokens, dim]`` float32 array per query or page (the rows whose
attention mask is 1: augmentation tokens included for queries, the prompt's text tokens included
for pages unless the manifest says ``mask_non_image_embeddings``). Scores are MaxSim.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any

import numpy as np

from .._malloc import fix_mmap_threshold, trim_heap
from ..errors import ArtifactError, InvalidInputError
from ..model import TesseraModel, check_positive_int
from ..ops.maxsim import maxsim_scores
from ..pages.config import PagesConfig
from ..pages.family import PageFamily, PreparedPage, family_class
from ..pages.inputs import PageSource, as_page_inputs, iter_page_sources
from ..pages.pdf import DEFAULT_PDF_DPI
from ..pages.search import PageIndex
from ..pages.tokens import PromptTokenizer, pad_ids
from ..text.tokenize import validate_texts
from ..vision.load import load_image
from ..vision.preprocess import default_workers

__all__ = ["TesseraPages"]

_UNSET: Any = object()
_TRIM_EVERY_PAGES = 64  # iter_pages gives freed heap back to the system after this many pages


class TesseraPages(TesseraModel):
    """A page-retrieval artifact (paradigm ``pages``).

    Options: ``device``/``providers``/``fallback``/``threads`` as for the other embedders;
    ``batch_size``: for page models, *pages per language-graph call* (default 4);
    ``query_batch_size``: queries per language-graph call (default 32; ``batch_size=`` of
    :meth:`encode_queries` overrides it per call);
    ``graph_batch`` images (tiles) per vision-graph call (default 4); ``workers`` preprocessing
    threads (default: CPU count, at most 4); ``image_size`` the speed–quality knob (Idefics3:
    longest edge in px, default the manifest's ``image_size``; smaller = fewer tiles = faster,
    lower quality than the ``trained_image_size``); ``max_pixels`` refuse larger pages (default:
    the manifest's); ``pdf_dpi`` render scale of PDF pages (default 150); ``pdf_password``;
    ``verify``/``cache``/``download`` as for the text embedders.
    """

    paradigm = "pages"

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        batch_size: int = 4,
        query_batch_size: int = 32,
        graph_batch: int = 4,
        workers: int | None = None,
        image_size: int | None = None,
        max_pixels: int | None = _UNSET,
        pdf_dpi: float = DEFAULT_PDF_DPI,
        pdf_password: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        fix_mmap_threshold()  # rendered pages (~6 MB each at 150 dpi) must not fragment the heap
        self.config = PagesConfig.from_dict(self.manifest.config["pages"])
        cfg = self.config
        if image_size is not None and (
            isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1
        ):
            raise InvalidInputError(f"image_size must be a positive integer, got {image_size!r}")
        if not isinstance(pdf_dpi, (int, float)) or isinstance(pdf_dpi, bool) or pdf_dpi <= 0:
            raise InvalidInputError(f"pdf_dpi must be a positive number, got {pdf_dpi!r}")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.query_batch_size = check_positive_int(query_batch_size, "query_batch_size")
        self.graph_batch = check_positive_int(graph_batch, "graph_batch")
        self.workers = default_workers() if workers is None else check_positive_int(workers, "workers")
        self.max_pixels = cfg.max_pixels if max_pixels is _UNSET else max_pixels
        self.pdf_dpi = float(pdf_dpi)
        self.pdf_password = pdf_password
        files = (cfg.vision_model_file, cfg.language_model_file, cfg.tokenizer_file)
        paths = [self._file(name) for name in files]
        self._language = self._verified(
            files, lambda: self._create_session(cfg.language_model_file, prepack=False)
        )
        self.tokenizer = PromptTokenizer(paths[2])
        self.family: PageFamily = family_class(cfg.family)(cfg, self.tokenizer, image_size)
        self._vision_path = paths[0]
        self._vision: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ properties

    @property
    def dimension(self) -> int:
        """Width of every query/page token vector."""
        return self.config.dim

    @property
    def image_size(self) -> int:
        """The image-size knob this instance runs at (Idefics3: longest edge in px)."""
        return self.family.image_size

    @property
    def vision_loaded(self) -> bool:
        """Whether the vision graph's session exists (it is created on the first page)."""
        return self._vision is not None

    def __repr__(self) -> str:
        return (
            f"TesseraPages({self.model_id!r}, family={self.config.family!r}, dimension={self.dimension}, "
            f"image_size={self.image_size}, device={self.device!r})"
        )

    def _info_extra(self) -> dict[str, Any]:
        return {"family": self.config.family, "image_size": self.image_size}

    # ------------------------------------------------------------------ graphs

    def _vision_session(self) -> Any:
        if self._vision is None:
            with self._lock:
                if self._vision is None:
                    self._vision = self._create_session(self.config.vision_model_file, prepack=False)
        return self._vision

    def _run_language(
        self, ids: Sequence[np.ndarray], features: np.ndarray, pages: Sequence[PreparedPage] | None
    ) -> list[np.ndarray]:
        cfg = self.config
        input_ids, mask = pad_ids(ids, cfg.pad_token_id, self.family.padding_side)
        feeds = {"input_ids": input_ids, "attention_mask": mask, cfg.image_features_input: features}
        feeds.update(self.family.language_extra_feeds(input_ids, mask, pages))
        out = self._language.run([cfg.language_output], {n: feeds[n] for n in cfg.language_inputs})[0]
        keep = mask > 0
        if pages is not None and cfg.mask_non_image_embeddings:
            keep &= input_ids == cfg.image_token_id
        return [np.ascontiguousarray(out[i][keep[i]], dtype=np.float32) for i in range(len(out))]

    def _image_features(self, pages: Sequence[PreparedPage]) -> np.ndarray:
        cfg = self.config
        session = self._vision_session()
        parts = [
            session.run([cfg.vision_output], {n: feeds[n] for n in cfg.vision_inputs})[0].reshape(
                -1, cfg.hidden_size
            )
            for feeds in self.family.vision_calls(pages, self.graph_batch)
        ]
        features = np.concatenate(parts) if len(parts) > 1 else parts[0]
        expected = sum(p.grid.image_tokens for p in pages)
        if features.shape[0] != expected:
            raise ArtifactError(
                f"the vision graph returned {features.shape[0]} image-feature rows for {expected} image tokens; "
                "the artifact's vision graph and family settings disagree (re-export it)"
            )
        return features.astype(np.float32, copy=False)

    # ------------------------------------------------------------------ queries

    def encode_queries(self, texts: str | Sequence[str], *, batch_size: int | None = None) -> Any:
        """Query token vectors: ``[tokens, dim]`` for one str, a list of them for many.

        Runs only the language graph (no image features). Empty or whitespace-only queries raise
        :class:`~tessera_onnx.errors.InvalidInputError` naming the index.
        """
        items, single = validate_texts(texts)
        ids = [self.family.query_ids(t, i) for i, t in enumerate(items)]
        size = (
            check_positive_int(batch_size, "batch_size") if batch_size is not None else self.query_batch_size
        )
        empty = np.zeros((0, self.config.hidden_size), np.float32)
        out: list[np.ndarray] = []
        for start in range(0, len(ids), size):
            out.extend(self._run_language(ids[start : start + size], empty, None))
        return out[0] if single else out

    # ------------------------------------------------------------------ pages

    def _prepare(self, source: PageSource) -> PreparedPage:
        image = load_image(source.image, source.index, self.max_pixels, label="pages", name=source.name)
        return self.family.prepare_page(image, source.index, source.name, self.max_pixels)

    def _prepared_batches(
        self, sources: Iterable[PageSource], prefetch: int = 2
    ) -> Iterator[list[PreparedPage]]:
        iterator = iter(sources)
        pending: deque[list[Future[PreparedPage]]] = deque()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tessera-pages") as pool:
            try:
                while True:
                    while len(pending) < prefetch:
                        chunk = list(islice(iterator, self.batch_size))
                        if not chunk:
                            break
                        pending.append([pool.submit(self._prepare, s) for s in chunk])
                    if not pending:
                        return
                    yield [f.result() for f in pending.popleft()]
            finally:
                for futures in pending:
                    for f in futures:
                        f.cancel()

    def iter_pages(self, pages: Any) -> Iterator[tuple[int, str, np.ndarray]]:
        """Yield ``(index, name, vectors [tokens, dim])`` per page, in input order, in bounded memory.

        ``pages``: one page or an iterable of pages: paths (images or ``.pdf``), bytes, binary
        file objects, ``PIL.Image``, HWC uint8 arrays. A PDF yields one entry per PDF page, named
        ``"<path>#page=N"``. A bad page raises a typed error naming it; nothing is skipped.
        """
        items, _ = as_page_inputs(pages)
        return self._iter_pages(items)

    def _iter_pages(self, items: Any) -> Iterator[tuple[int, str, np.ndarray]]:
        sources = iter_page_sources(items, pdf_dpi=self.pdf_dpi, pdf_password=self.pdf_password)
        done = 0
        for batch in self._prepared_batches(sources):
            features = self._image_features(batch)
            vectors = self._run_language([p.input_ids for p in batch], features, batch)
            for page, vec in zip(batch, vectors, strict=True):
                yield page.index, page.name, vec
            done += len(batch)
            if done >= _TRIM_EVERY_PAGES:  # hand the freed per-page blocks back (see tessera_onnx._malloc)
                trim_heap()
                done = 0

    def encode_images(self, pages: Any) -> Any:
        """Page token vectors: ``[tokens, dim]`` for one image, else a list (PDFs give one entry per page)."""
        _, single = as_page_inputs(pages)
        out = [vec for _, _, vec in self.iter_pages(pages)]
        return out[0] if single else out

    # ------------------------------------------------------------------ scores and search

    def similarity(self, queries: Any, pages: Any) -> np.ndarray:
        """MaxSim scores ``[n_queries, n_pages]`` (float32) between query and page vectors."""
        q = [queries] if isinstance(queries, np.ndarray) else list(queries)
        p = [pages] if isinstance(pages, np.ndarray) else list(pages)
        for what, group in (("queries", q), ("pages", p)):
            for i, v in enumerate(group):
                if not isinstance(v, np.ndarray) or v.ndim != 2 or v.shape[1] != self.dimension:
                    raise InvalidInputError(
                        f"{what}[{i}] must be a (tokens, {self.dimension}) array from encode_queries/encode_images"
                    )
        return maxsim_scores(q, p)

    def index(self, pages: Any, *, storage: str = "float", ranges: Any = None) -> PageIndex:
        """Embed ``pages`` into a :class:`~tessera_onnx.pages.search.PageIndex` whose ids are the page names."""
        index = PageIndex(storage, ranges=ranges)
        vectors: list[np.ndarray] = []
        names: list[str] = []
        for _, name, vec in self.iter_pages(pages):
            vectors.append(vec)
            names.append(name)
            if len(vectors) >= 256:
                index.add(vectors, names)
                vectors, names = [], []
        index.add(vectors, names)
        return index

    def search(
        self, queries: str | Sequence[str], index: PageIndex, k: int = 10, *, prefetch: int | None = None
    ) -> Any:
        """Top-``k`` pages of ``index`` per query text (→ ``PageHits``, or a list for many queries)."""
        q = self.encode_queries(queries)
        return index.search(q, k, prefetch=prefetch)
