"""Soak and slow-client test of ``tessera serve`` with mixed paradigms, loopback only.

One server (``tessera serve --config``) holds MiniLM (dense) and a SPLADE, a ColBERT, a SigLIP
and a TinyTimeMixer artifact: by default the tiny ones committed under ``tests/data/artifacts``
(random weights, real graphs: they exercise every route and the server's memory, not model
quality); ``--splade`` etc. name real ones, ``--no-tiny`` leaves out those not named. Phases:

1. **slow clients**: p99 of normal single-text requests (``--clients`` closed-loop clients)
   without, then with ``--slow`` extra connections that send half a body and stall or connect
   and send nothing (every normal request must succeed; target: p99 within 2x of the unloaded p99);
2. **capacity**: closed loop on the request mix for ``--capacity-duration`` seconds (requests/s);
3. **soak**: an open-loop Poisson stream of the mix at ``--overload`` x capacity (1.5) for
   ``--duration`` seconds (600), sampling the server's RSS every second. Pass: RSS flat (the
   median of the last minute within 10 % of the first minute after warm-up), answers only
   200 / 429 / 503 and no 5xx other than 503, and ``/health`` still answering afterwards.

    python benchmarks/serve_soak.py              # ~12 min: MiniLM + the tiny committed artifacts
    python benchmarks/serve_soak.py --splade A --colbert B --siglip C --ttm D   # real artifacts
    python benchmarks/serve_soak.py --duration 30 --warmup 5   # ~1.5 min, the whole mix
    python benchmarks/serve_soak.py --quick      # seconds (the smoke test)

Writes ``benchmarks/results/serve_soak.json`` and ``.md`` with the CPU and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.serve_load import (  # noqa: E402
    BENCH,
    Server,
    _free_port,
    _pct,
    _tree_rss_mb,
    ensure_artifact,
    machine,
)

TINY = ROOT / "tests" / "data" / "artifacts"
TINY_ARTIFACTS = {
    "splade": "tiny-splade",
    "colbert": "tiny-colbert-pylate",
    "siglip": "tiny-siglip",
    "ttm": "tiny-ttm-plain",
}

TEXTS = [
    "How do plants make food?",
    "What is the capital of France?",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889 for the World's Fair.",
    "A sourdough starter is a fermented mixture of flour and water with wild yeast and bacteria.",
]


def _png_data_url(seed: int) -> str:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def request_mix(models: dict[str, str]) -> list[tuple[str, dict]]:
    """(route, body) pairs, one kind per served paradigm, drawn uniformly by the load."""
    mix = [("/v1/embeddings", {"model": "minilm", "input": [t], "encoding_format": "base64"}) for t in TEXTS]
    if "splade" in models:
        mix.append(("/embed_sparse", {"model": "splade", "inputs": [TEXTS[2]]}))
    if "colbert" in models:
        mix.append(("/embed_all", {"model": "colbert", "inputs": [TEXTS[3]]}))
        mix.append(("/rerank", {"model": "colbert", "query": TEXTS[0], "texts": TEXTS[2:]}))
    if "siglip" in models:
        mix.append(("/v1/embeddings", {"model": "siglip", "input": [_png_data_url(1)], "modality": "image"}))
        mix.append(("/v1/embeddings", {"model": "siglip", "input": ["a photo of a cat"]}))
    if "ttm" in models:
        series = [float(i % 24) for i in range(512)]
        mix.append(("/forecast", {"model": "ttm", "series": [series]}))
        mix.append(
            ("/v1/embeddings", {"model": "ttm", "modality": "series", "input": [series[-96:], series]})
        )
    return mix


def start_server(models: dict[str, str], threads: int, logs: Path, extra: dict) -> Server:
    """``tessera serve --config`` with ``models`` (name -> artifact) preloaded."""
    port = _free_port()
    config = {
        "port": port,
        "models": [
            {"path": path, "name": name, "threads": threads, "preload": True} for name, path in models.items()
        ],
        "limits": {
            "max_in_flight": 512,
            "max_per_client": 0,  # one load generator stands for many clients
            "queue_timeout_s": extra.get("queue_timeout", 15),
        },
    }
    cfg = logs / "soak_config.json"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(json.dumps(config))
    cmd = [sys.executable, "-c", "from tessera_onnx.cli import main; main()", "serve", "--config", str(cfg),
           "--log-level", "warning"]  # fmt: skip
    return Server(
        "tessera", cmd, dict(os.environ), port, "/v1/embeddings", "minilm", logs / "soak_server.log"
    )


async def closed(url: str, mix: list[tuple[str, dict]], clients: int, duration: float) -> dict:
    """``clients`` back-to-back workers on the mix: requests/s, codes, p50/p99 of the 200s."""
    import httpx

    lat: list[float] = []
    codes: Counter = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as c:
        start = time.perf_counter()
        end = start + duration

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < end:
                route, body = mix[rng.randrange(len(mix))]
                t0 = time.perf_counter()
                try:
                    code = (await c.post(route, json=body)).status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                codes[code] += 1
                if code == 200:
                    lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    return {
        "requests": sum(codes.values()),
        "ok_per_s": codes.get(200, 0) / elapsed,
        "codes": {str(k): v for k, v in codes.items()},
        "failed": sum(v for k, v in codes.items() if k != 200),
        "p50_ms": 1000 * _pct(lat, 50) if lat else None,
        "p99_ms": 1000 * _pct(lat, 99) if lat else None,
    }


def _slow_connections(port: int, n: int) -> list[socket.socket]:
    """Half of them send headers and a partial body, the other half connect and send nothing."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if i % 2 == 0:
            s.sendall(
                b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 4194304\r\n\r\n{"model": '
            )
        socks.append(s)
    return socks


async def open_loop(url: str, mix: list[tuple[str, dict]], rate: float, duration: float, pid: int) -> dict:
    """Poisson arrivals at ``rate``/s for ``duration`` s; RSS of ``pid`` sampled every second."""
    import httpx

    codes: Counter = Counter()
    lat: list[float] = []
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    start = time.perf_counter()

    def sample() -> None:
        while not stop.is_set():
            rss.append((time.perf_counter() - start, _tree_rss_mb(pid)))
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rng = random.Random(11)
    limits = httpx.Limits(max_connections=4096, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as c:

        async def one(route: str, body: dict) -> None:
            t0 = time.perf_counter()
            try:
                code = (await c.post(route, json=body)).status_code
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            codes[code] += 1
            if code == 200:
                lat.append(time.perf_counter() - t0)

        tasks = []
        t = start
        behind = 0
        while t - start < duration and time.perf_counter() - start < duration:
            t += rng.expovariate(rate)
            delay = t - time.perf_counter()
            # always yield: a client that falls behind its schedule must still run the requests it
            # has started (without this the loop only creates tasks and none of them ever runs)
            await asyncio.sleep(max(0.0, delay))
            behind += delay < 0
            tasks.append(asyncio.ensure_future(one(*mix[rng.randrange(len(mix))])))
        await asyncio.gather(*tasks)
    stop.set()
    sampler.join()
    return {"offered_rps": rate, "sent": len(tasks), "sent_rps": len(tasks) / duration,
            "sent_late": behind, "codes": {str(k): v for k, v in codes.items()},
            "p50_ms": 1000 * _pct(lat, 50) if lat else None, "p99_ms": 1000 * _pct(lat, 99) if lat else None,
            "rss_mb": rss}  # fmt: skip


def rss_verdict(rss: list[tuple[float, float]], duration: float, warmup: float) -> dict:
    """Median RSS of the first and the last minute after ``warmup`` seconds, and their ratio."""
    window = min(60.0, max(1.0, (duration - warmup) / 3))
    after = [(t, m) for t, m in rss if t >= warmup]
    first = [m for t, m in after if t < warmup + window] or [m for _, m in after[:1]]
    last = [m for t, m in after if t >= duration - window] or [m for _, m in after[-1:]]
    if not first or not last:
        return {"flat": None}
    a, b = statistics.median(first), statistics.median(last)
    return {"first_mb": a, "last_mb": b, "growth": b / a - 1, "flat": abs(b / a - 1) <= 0.10,
            "peak_mb": max(m for _, m in rss)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", type=Path, default=BENCH / ".cache" / "artifacts" / "fp32", help="MiniLM")
    for name in ("splade", "colbert", "siglip", "ttm"):
        ap.add_argument(f"--{name}", type=Path, default=None, help=f"{name} artifact (optional)")
    ap.add_argument(
        "--no-tiny", action="store_true", help="serve only MiniLM and the artifacts named (no tiny defaults)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8, help="normal clients in the slow-client phase")
    ap.add_argument("--slow", type=int, default=50, help="slow or idle connections")
    ap.add_argument("--slow-duration", type=float, default=20.0)
    ap.add_argument("--capacity-duration", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--warmup", type=float, default=60.0)
    ap.add_argument("--overload", type=float, default=1.5)
    ap.add_argument("--quick", action="store_true", help="a few seconds per phase (smoke test)")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "serve_soak.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.slow, args.slow_duration, args.capacity_duration = 6, 2.0, 2.0
        args.duration, args.warmup, args.clients = 4.0, 1.0, 4
    models = {"minilm": str(ensure_artifact(args.artifact))}
    for name, tiny in TINY_ARTIFACTS.items():
        given = getattr(args, name)
        if given:
            models[name] = str(given)
        elif not args.no_tiny and (TINY / tiny / "tessera.json").is_file():
            models[name] = str(TINY / tiny)
    if "siglip" in models:
        try:
            import PIL  # noqa: F401 - images are made with Pillow
        except ImportError:
            del models["siglip"]
    mix = request_mix(models)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tessera-soak-") as tmp:
        server = start_server(models, args.threads, Path(tmp), {})
        try:
            base = asyncio.run(closed(server.url, mix[:5], args.clients, args.slow_duration))
            socks = _slow_connections(server.port, args.slow)
            try:
                slow = asyncio.run(closed(server.url, mix[:5], args.clients, args.slow_duration))
            finally:
                for s in socks:
                    s.close()
            capacity = asyncio.run(closed(server.url, mix, 64, args.capacity_duration))
            rate = max(1.0, args.overload * capacity["ok_per_s"])
            soak = asyncio.run(open_loop(server.url, mix, rate, args.duration, server.proc.pid))
            healthy = server.healthy()
        finally:
            server.stop()
    bad = {k: v for k, v in soak["codes"].items() if k not in ("200", "429", "503")}
    res = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/serve_soak.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "models": sorted(models),
        "artifacts": models,
        "threads": args.threads,
        "slow_clients": {
            "connections": args.slow,
            "unloaded": base,
            "with_slow": slow,
            "p99_ratio": (slow["p99_ms"] / base["p99_ms"]) if base["p99_ms"] and slow["p99_ms"] else None,
            "normal_failed": slow["failed"],
        },
        "capacity": capacity,
        "soak": {k: v for k, v in soak.items() if k != "rss_mb"},
        "rss": rss_verdict(soak["rss_mb"], args.duration, args.warmup),
        "rss_series_mb": soak["rss_mb"],
        "unexpected_codes": bad,
        "healthy_after": healthy,
    }
    res["pass"] = bool(
        res["rss"].get("flat") and not bad and healthy and res["slow_clients"]["normal_failed"] == 0
        and (res["slow_clients"]["p99_ratio"] or 0) <= 2.0
    )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    sc, rv = res["slow_clients"], res["rss"]
    md = (
        f"Soak ({', '.join(res['models'])}; {args.threads} threads): capacity {capacity['ok_per_s']:.1f} req/s on the "
        f"mix; {args.duration:.0f} s at {args.overload}x = {rate:.1f} req/s: answers {soak['codes']}, "
        f"unexpected {bad or 'none'}; RSS {rv.get('first_mb', 0):.0f} → {rv.get('last_mb', 0):.0f} MB after "
        f"{args.warmup:.0f} s warm-up (growth {100 * rv.get('growth', 0):.1f} %, flat: {rv.get('flat')}); "
        f"healthy after: {healthy}. Slow clients: {args.slow} stalled/idle connections, normal p99 "
        f"{sc['unloaded']['p99_ms']} → {sc['with_slow']['p99_ms']} ms (ratio {sc['p99_ratio']}), "
        f"normal failures {sc['normal_failed']}. Pass: {res['pass']}. {res['machine']}, load average "
        f"{load_start[0]:.1f} → {res['loadavg_end'][0]:.1f}.\n\nReproduce: `{res['command']}`\n"
    )
    args.out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
