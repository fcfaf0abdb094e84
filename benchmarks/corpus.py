"""Deterministic, offline benchmark corpus: a mix of short queries and 50-300-token passages.

Passages come from ``benchmarks/real_corpus.py`` (real prose shipped with installed packages) when
that module is present and yields enough text; otherwise from a seeded template generator below.
Either way the same seed gives the same corpus on the same machine, and every text's token count
is measured with the model's own tokenizer when one is given (otherwise estimated from words).

    from benchmarks.corpus import build_corpus
    corpus = build_corpus(2000, query_fraction=0.3, seed=0, tokenizer_json=".../tokenizer.json")
    corpus["texts"], corpus["kinds"], corpus["tokens"]
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

# ---------------------------------------------------------------------------------------------
# Template generator (fallback, and the only source of queries)
# ---------------------------------------------------------------------------------------------

_TOPICS = {
    "databases": (
        [
            "index",
            "query planner",
            "transaction",
            "replica",
            "write-ahead log",
            "table scan",
            "shard",
            "connection pool",
            "vacuum process",
            "foreign key",
            "materialized view",
            "lock manager",
        ],
        ["PostgreSQL", "SQLite", "MySQL", "a column store", "the primary node", "the read replica"],
    ),
    "networking": (
        [
            "TCP handshake",
            "load balancer",
            "DNS resolver",
            "TLS certificate",
            "congestion window",
            "reverse proxy",
            "packet loss",
            "keep-alive timeout",
            "routing table",
            "MTU setting",
        ],
        ["the edge proxy", "a Kubernetes service", "nginx", "the gateway", "an IPv6 network"],
    ),
    "machine learning": (
        [
            "embedding model",
            "learning rate",
            "validation loss",
            "attention head",
            "tokenizer",
            "batch size",
            "gradient",
            "checkpoint",
            "feature store",
            "quantized weight",
            "dropout layer",
        ],
        ["a transformer", "the training loop", "PyTorch", "onnxruntime", "a small BERT model"],
    ),
    "cooking": (
        [
            "sourdough starter",
            "cast iron pan",
            "braising liquid",
            "pie crust",
            "spice blend",
            "stock pot",
            "marinade",
            "oven temperature",
            "knife edge",
            "risotto",
        ],
        ["a home kitchen", "the restaurant line", "a convection oven", "the pantry"],
    ),
    "gardening": (
        [
            "tomato seedling",
            "compost pile",
            "raised bed",
            "drip irrigation",
            "soil acidity",
            "cover crop",
            "pruning cut",
            "aphid colony",
            "mulch layer",
            "rose bush",
        ],
        ["a shaded backyard", "clay soil", "the greenhouse", "a balcony garden"],
    ),
    "personal finance": (
        [
            "index fund",
            "emergency fund",
            "mortgage rate",
            "credit score",
            "tax return",
            "retirement account",
            "budget category",
            "interest payment",
            "expense report",
        ],
        ["a variable-rate loan", "the brokerage account", "a monthly budget", "the bank"],
    ),
    "history": (
        [
            "trade route",
            "city charter",
            "printing press",
            "naval blockade",
            "census record",
            "treaty negotiation",
            "grain reserve",
            "monastery library",
            "border fortress",
        ],
        ["the late medieval period", "the Hanseatic League", "a coastal republic", "the empire"],
    ),
    "software engineering": (
        [
            "unit test",
            "race condition",
            "memory leak",
            "dependency pin",
            "code review",
            "release branch",
            "feature flag",
            "stack trace",
            "build cache",
            "API contract",
        ],
        ["a Python service", "the CI pipeline", "a monorepo", "the staging cluster"],
    ),
}

_VERBS = [
    "configure",
    "debug",
    "speed up",
    "monitor",
    "replace",
    "tune",
    "measure",
    "protect",
    "clean",
    "migrate",
    "document",
    "test",
    "explain",
    "reduce",
    "choose",
    "repair",
]
_ADJ = [
    "slow",
    "noisy",
    "unstable",
    "expensive",
    "fragile",
    "new",
    "legacy",
    "overloaded",
    "small",
    "critical",
    "seasonal",
    "shared",
    "default",
    "hidden",
    "large",
    "unexpected",
]
_QUERY_TEMPLATES = [
    "how do I {verb} the {noun} in {ctx}",
    "why is my {noun} so {adj}",
    "best way to {verb} a {adj} {noun}",
    "{noun} vs {noun2} for {ctx}",
    "what causes a {adj} {noun}?",
    "{verb} {noun} {ctx}",
    "is it safe to {verb} the {noun} while {ctx} is running",
    "{adj} {noun} after upgrade",
    "when should you {verb} your {noun}",
    "difference between a {noun} and a {noun2}",
]
_SENTENCE_TEMPLATES = [
    "The {noun} in {ctx} tends to become {adj} when nobody takes the time to {verb} it properly.",
    "Before you {verb} the {noun}, check whether the {noun2} was changed recently, because the two interact.",
    "Most teams only notice a {adj} {noun} after it has already affected {ctx}.",
    "A simple rule of thumb is to {verb} the {noun} first and leave the {noun2} alone until the numbers say otherwise.",
    "In {ctx}, the {noun} and the {noun2} share the same budget, so improving one often hurts the other.",
    "We measured the {noun} over {n} days and found that it was {adj} on roughly {p} percent of them.",
    "If the {noun} looks {adj}, the usual culprit is the {noun2}, not {ctx} itself.",
    "Documentation rarely explains how to {verb} a {noun}; experience with {ctx} fills the gap.",
    "The second step is to {verb} the {noun2} and write down what changed, including the dates.",
    "There is no universal setting for the {noun}: what works for {ctx} may be {adj} elsewhere.",
    "Keep a record of every {noun} you {verb}, since the {adj} cases are the ones worth revisiting.",
    "Experts disagree about whether the {noun} should be treated as {adj} or simply misunderstood.",
]


def _fill(template: str, rng: random.Random, topic: str) -> str:
    nouns, ctxs = _TOPICS[topic]
    noun, noun2 = rng.sample(nouns, 2)
    return template.format(
        verb=rng.choice(_VERBS),
        adj=rng.choice(_ADJ),
        noun=noun,
        noun2=noun2,
        ctx=rng.choice(ctxs),
        n=rng.randint(3, 90),
        p=rng.randint(2, 60),
    )


def generated_query(rng: random.Random) -> str:
    topic = rng.choice(sorted(_TOPICS))
    return _fill(rng.choice(_QUERY_TEMPLATES), rng, topic)


def _generated_sentences(rng: random.Random):
    topic = rng.choice(sorted(_TOPICS))
    while True:
        if rng.random() < 0.08:  # drift to a neighbouring topic now and then
            topic = rng.choice(sorted(_TOPICS))
        yield _fill(rng.choice(_SENTENCE_TEMPLATES), rng, topic)


def _real_sentences(rng: random.Random, pool: Sequence[str]):
    """Consecutive sentences from a random real document, then another document, ..."""
    while True:
        doc = pool[rng.randrange(len(pool))]
        sents = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())) if s]
        if not sents:
            continue
        start = rng.randrange(len(sents))
        yield from sents[start:]


def _load_real_pool(seed: int) -> list[str] | None:
    """Documents from benchmarks/real_corpus.py (owned by another module); None if unavailable."""
    try:
        from benchmarks import real_corpus  # type: ignore[attr-defined]
    except Exception:
        return None
    for name in (
        "documents",
        "load_documents",
        "iter_documents",
        "passages",
        "load_passages",
        "build_corpus",
        "real_texts",
        "texts",
    ):
        fn = getattr(real_corpus, name, None)
        if not callable(fn):
            continue
        try:
            try:
                docs = fn(seed=seed)
            except TypeError:
                docs = fn()
            if isinstance(docs, dict):  # e.g. {"texts": [...]} style
                docs = docs.get("texts") or docs.get("passages") or []
            docs = [d if isinstance(d, str) else getattr(d, "text", str(d)) for d in docs]
            docs = [d for d in docs if len(d.split()) >= 20]
            if len(docs) >= 50:
                return docs
        except Exception:
            continue
    return None


# ---------------------------------------------------------------------------------------------
# Token counting
# ---------------------------------------------------------------------------------------------


def make_token_counter(tokenizer_json: str | None) -> tuple[Callable[[str], int], str]:
    """(count_fn, description). Counts include [CLS]/[SEP], without truncation."""
    if tokenizer_json:
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(tokenizer_json))
            tok.no_truncation()
            tok.no_padding()
            return (lambda s: len(tok.encode(s).ids)), "tokenizer"
        except Exception:
            pass
    return (lambda s: int(len(s.split()) * 1.3) + 2), "estimate(words*1.3+2)"


def _passage(rng: random.Random, sentences, target: int, count: Callable[[str], int], cache: dict) -> str:
    """Whole sentences until ``target`` tokens, then trimmed back word by word.

    BERT's pre-tokenizer splits on whitespace before WordPiece, so a text's token count is
    2 + the sum of its words' counts: per-word counts (cached) make this linear.
    """
    words: list[str] = []
    total = 2
    while total < target:
        for w in next(sentences).split():
            c = cache.get(w)
            if c is None:
                c = cache[w] = max(count(w) - 2, 1)
            words.append(w)
            total += c
            if total >= target:
                break
    return " ".join(words)


def build_corpus(
    n: int = 2000,
    *,
    query_fraction: float = 0.3,
    passage_tokens: tuple[int, int] = (50, 300),
    seed: int = 0,
    tokenizer_json: str | None = None,
    use_real: bool = True,
) -> dict:
    """A shuffled mix of queries and passages. Returns a JSON-able dict."""
    rng = random.Random(seed)
    count, how = make_token_counter(tokenizer_json)
    pool = _load_real_pool(seed) if use_real else None
    n_q = round(n * query_fraction)
    kinds = ["query"] * n_q + ["passage"] * (n - n_q)
    rng.shuffle(kinds)
    sentences = _real_sentences(rng, pool) if pool else _generated_sentences(rng)
    texts = []
    cache: dict[str, int] = {}
    for kind in kinds:
        if kind == "query":
            texts.append(generated_query(rng))
        else:
            texts.append(_passage(rng, sentences, rng.randint(*passage_tokens), count, cache))
    tokens = [count(t) for t in texts]
    return {
        "n": n,
        "seed": seed,
        "query_fraction": query_fraction,
        "passage_tokens": list(passage_tokens),
        "passage_source": "benchmarks.real_corpus" if pool else "template generator (benchmarks/corpus.py)",
        "token_count": how,
        "texts": texts,
        "kinds": kinds,
        "tokens": tokens,
    }


def describe(corpus: dict, max_len: int = 256) -> dict:
    import statistics

    toks = corpus["tokens"]
    q = [t for t, k in zip(toks, corpus["kinds"], strict=True) if k == "query"]
    p = [t for t, k in zip(toks, corpus["kinds"], strict=True) if k == "passage"]
    return {
        "texts": len(toks),
        "queries": len(q),
        "passages": len(p),
        "query_tokens_median": statistics.median(q) if q else None,
        "passage_tokens_median": statistics.median(p) if p else None,
        "passage_tokens_min_max": [min(p), max(p)] if p else None,
        "total_tokens": sum(toks),
        "total_tokens_truncated": sum(min(t, max_len) for t in toks),
        "passage_source": corpus["passage_source"],
        "token_count": corpus["token_count"],
    }


if __name__ == "__main__":  # quick look: python -m benchmarks.corpus
    import json
    import sys

    c = build_corpus(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    print(json.dumps(describe(c), indent=1))
    for t, k in list(zip(c["texts"], c["kinds"], strict=True))[:6]:
        print(f"[{k}] {t[:160]}")
