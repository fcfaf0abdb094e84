"""The serving engine without HTTP: batching, backpressure, cancellation, model pool, sync API."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import numpy as np
import pytest

from tessera_onnx import Tessera
from tessera_onnx.errors import LimitExceededError, ModelNotFoundError, OverloadedError
from tessera_onnx.serving import Engine, EngineLimits, ModelConfig, SyncEngine
from tessera_onnx.serving.batcher import Batcher

TEXTS = [
    "hi",
    "How do plants make food?",
    "Photosynthesis converts light energy into chemical energy stored in glucose, "
    "which the plant uses to grow and to build cellulose, starch and other molecules.",
    "The Eiffel Tower is a wrought-iron lattice tower in Paris.",
    "stocks fell",
    " ".join(["a much longer passage about the history of bread baking"] * 12),
    "one",
    "Which landmark is in France?",
]


def run(coro):
    return asyncio.run(coro)


# ----------------------------------------------------------------------------- batching


def test_concurrent_requests_get_their_single_request_vectors(tiny_bert_dense_artifact):
    """Results do not depend on the batch a request ran in: max abs diff <= 1e-6 vs encode([text])."""
    model = Tessera(tiny_bert_dense_artifact, threads=1)
    alone = np.stack([model.encode([t])[0] for t in TEXTS])

    async def main():
        engine = Engine(
            [ModelConfig(tiny_bert_dense_artifact, options={"threads": 1})],
            limits=EngineLimits(batch_window_ms=20),
        )
        async with engine:
            results = await asyncio.gather(*(engine.embed("tiny-bert-dense", [t]) for t in TEXTS * 3))
            stats = engine.stats()["tiny-bert-dense"]
        return results, stats

    results, stats = run(main())
    got = np.stack([r.data[0] for r in results])
    assert np.abs(got - np.concatenate([alone] * 3)).max() <= 1e-6
    assert stats["items"] == len(TEXTS) * 3
    assert stats["batches"] < stats["items"], "concurrent requests were merged into shared batches"
    tokens = model.tokenizer.encode(TEXTS, warn=False).lengths.tolist()
    assert [r.tokens[0] for r in results[: len(TEXTS)]] == tokens


def _recording_batcher(batch_tokens, calls, gate=None, **kw):
    async def execute(key, items):
        calls.append(list(items))
        if gate is not None:
            await gate.wait()
        return [f"{key}:{x}" for x in items]

    return Batcher("test", execute, batch_tokens=batch_tokens, window_s=0.0, **kw)


def test_batches_are_cut_by_padded_tokens_around_the_oldest_input():
    calls: list = []

    async def main():
        b = _recording_batcher(100, calls)
        fut = b.submit("k", ["a60", "b10", "c10", "d50"], [60, 10, 10, 50])
        out = await fut
        await b.close()
        return out

    assert run(main()) == ["k:a60", "k:b10", "k:c10", "k:d50"]  # results come back in input order
    # the oldest (60) first: 2 x 60 > 100, so alone; then the oldest left (b10) with its
    # same-length neighbour c10 (3 x 50 > 100 keeps d50 out); then d50
    assert calls == [["a60"], ["b10", "c10"], ["d50"]]


def test_requests_with_different_options_are_not_merged():
    calls: list = []

    async def main():
        b = _recording_batcher(1000, calls)
        one = b.submit("x", ["1"], [5])
        two = b.submit("y", ["2"], [5])
        return await one, await two

    assert run(main()) == (["x:1"], ["y:2"])
    assert sorted(calls) == [["1"], ["2"]]


def test_full_queue_refuses_at_once_with_retry_after():
    async def main():
        b = _recording_batcher(100, [], max_queue_tokens=50)
        first = b.submit("k", ["a", "b"], [20, 20])  # queued: 40 tokens
        with pytest.raises(OverloadedError) as err:
            b.submit("k", ["c"], [20])  # 60 > 50
        assert err.value.retry_after >= 1 and "overloaded" in str(err.value)
        await first
        assert b.stats.rejected_requests == 1
        return b.submit("k", ["c"], [20])  # room again once the queue drained

    async def wrapper():
        fut = await main()
        return await fut

    assert run(wrapper()) == ["k:c"]


def test_cancelled_requests_are_dropped_before_they_run():
    calls: list = []

    async def main():
        gate = asyncio.Event()
        b = _recording_batcher(10, calls, gate=gate)
        running = b.submit("k", ["first"], [10])
        await asyncio.sleep(0.01)  # "first" is running, blocked on the gate
        gone = b.submit("k", ["gone1", "gone2"], [5, 5])
        kept = b.submit("k", ["kept"], [5])
        gone.cancel()  # the caller went away
        gate.set()
        await running
        result = await kept
        await b.close()
        return result, b.stats.dropped_items

    result, dropped = run(main())
    assert result == ["k:kept"]
    assert dropped == 2
    assert all("gone" not in item for call in calls for item in call)


# ----------------------------------------------------------------------------- limits and errors


def test_request_limits_and_unknown_model(tiny_bert_dense_artifact):
    async def main():
        limits = EngineLimits(max_inputs=3, max_request_tokens=40)
        async with Engine([ModelConfig(tiny_bert_dense_artifact, name="tiny")], limits=limits) as engine:
            with pytest.raises(LimitExceededError, match="limit is 3"):
                await engine.embed("tiny", ["a", "b", "c", "d"])
            with pytest.raises(LimitExceededError, match="tokens"):
                await engine.embed("tiny", ["word " * 30, "b"])
            with pytest.raises(ModelNotFoundError, match="tiny"):
                await engine.embed("nope", ["a"])
            with pytest.raises(LimitExceededError, match="truncate"):
                await engine.embed("tiny", ["word " * 600], truncate=False)
            return await engine.embed("tiny", "one text")

    assert run(main()).data.ndim == 1


# ----------------------------------------------------------------------------- model pool


def test_lazy_load_keep_alive_and_reload(tiny_bert_dense_artifact):
    async def main():
        config = ModelConfig(tiny_bert_dense_artifact, name="tiny", keep_alive=0.2)
        async with Engine([config], reap_interval_s=0.05) as engine:
            assert engine.list_models()[0]["loaded"] is False  # lazy
            await engine.embed("tiny", ["x"])
            assert engine.info("tiny")["loaded"] is True and "model" in engine.info("tiny")
            await asyncio.sleep(0.6)
            assert engine.info("tiny")["loaded"] is False  # idle longer than keep_alive
            await engine.embed("tiny", ["x"])
            assert engine.info("tiny")["loads"] == 2
            assert await engine.unload("tiny") is True
            assert await engine.unload("tiny") is False
            await engine.load("tiny")
            return engine.info("tiny")

    assert run(main())["loads"] == 3


def test_memory_budget_evicts_least_recently_used(tiny_bert_dense_artifact):
    async def main():
        names = ["a", "b", "c"]
        engine = Engine([ModelConfig(tiny_bert_dense_artifact, name=n) for n in names])
        size = engine.pool.slots["a"].size_bytes
        engine.pool.memory_budget_bytes = int(2.5 * size)  # two models fit
        async with engine:
            await engine.embed("a", ["x"])
            await engine.embed("b", ["x"])
            await engine.embed("a", ["x"])  # b is now the least recently used
            await engine.embed("c", ["x"])
            loaded = {m["name"]: m["loaded"] for m in engine.list_models()}
            return loaded, engine.pool.evictions

    loaded, evictions = run(main())
    assert loaded == {"a": True, "b": False, "c": True}
    assert evictions == 1


def test_sync_engine_matches_async(tiny_bert_dense_artifact):
    model = Tessera(tiny_bert_dense_artifact, threads=1)
    with SyncEngine(Engine([ModelConfig(tiny_bert_dense_artifact, options={"threads": 1})])) as engine:
        got = engine.embed("tiny-bert-dense", TEXTS[:3]).data
        assert engine.list_models()[0]["name"] == "tiny-bert-dense"
    assert np.abs(got - model.encode(TEXTS[:3])).max() <= 1e-6


def test_serving_engine_imports_no_web_framework_or_torch():
    code = (
        "import sys, tessera_onnx.serving, tessera_onnx.serving.lambda_handler;"
        "print(sorted(m for m in ('torch','transformers','optimum','onnx','fastapi','uvicorn','starlette')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_engine_timing_sanity(tiny_bert_dense_artifact):
    """A request on an idle engine waits at most one batch window before it runs."""

    async def main():
        async with Engine([ModelConfig(tiny_bert_dense_artifact, name="t", preload=True)]) as engine:
            await engine.embed("t", ["warm up"])
            start = time.perf_counter()
            await engine.embed("t", ["x"])
            return time.perf_counter() - start

    assert run(main()) < 1.0
