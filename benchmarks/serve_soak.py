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
   ``--duration`` seconds (600) from ``--client-procs`` load-generator processes (2; each its own
   event loop at rate / N, so one Python process is not the bottleneck), sampling the server's RSS
   every second. Pass: RSS flat (the median of the last minute within 10 % of the first minute
   after warm-up), answers only 200 / 429 / 503 (no 5xx other than 503, no client-side connection
   errors), and ``/health`` still answering afterwards.

Each client-side error is recorded (exception type, message, cause, whether httpcore had just
opened the connection or reused a kept-alive one) with the server log's lines. The clients expire
idle connections after ``--keepalive-expiry`` (5 s), sooner than the server's keep-alive (15 s):
a client reusing a connection the server is closing at that moment gets a reset (``ReadError``);
``--keep-alive-timeout 5`` (uvicorn's default) reproduces that race.

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
from typing import Any

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
KEEPALIVE_EXPIRY_S = 5.0  # the load generator's idle-connection expiry: below the server's keep-alive (15 s)
MAX_ERRORS_KEPT = 200  # per client process: each client error is recorded (type, message, fresh/reused)
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
    if extra.get("keep_alive_timeout") is not None:
        config["keep_alive_timeout_s"] = extra["keep_alive_timeout"]
    cfg = logs / "soak_config.json"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(json.dumps(config))
    cmd = [sys.executable, "-c", "from tessera_onnx.cli import main; main()", "serve", "--config", str(cfg),
           "--log-level", "warning"]  # fmt: skip
    return Server(
        "tessera", cmd, dict(os.environ), port, "/v1/embeddings", "minilm", logs / "soak_server.log"
    )


async def closed(
    url: str, mix: list[tuple[str, dict]], clients: int, duration: float, expiry: float = KEEPALIVE_EXPIRY_S
) -> dict:
    """``clients`` back-to-back workers on the mix: requests/s, codes, p50/p99 of the 200s."""
    import httpx

    lat: list[float] = []
    codes: Counter = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=expiry)
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


async def _open_loop_client(
    url: str,
    mix: list[tuple[str, dict]],
    rate: float,
    duration: float,
    seed: int,
    expiry: float,
    start: float,
) -> dict:
    """One process's share of the open loop: Poisson arrivals at ``rate``/s for ``duration`` s from
    ``start`` (a ``time.time()``); answers, latencies of the 200s, and every client error."""
    import httpx

    codes: Counter = Counter()
    lat: list[float] = []
    errors: list[dict] = []
    error_kinds: Counter = Counter()
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=4096, max_keepalive_connections=256, keepalive_expiry=expiry)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as c:

        async def one(route: str, body: dict) -> None:
            fresh = {"v": False}

            async def trace(event: str, info: dict) -> None:
                if event == "connection.connect_tcp.complete":  # httpcore opened a connection for it
                    fresh["v"] = True

            t0 = time.perf_counter()
            try:
                code = (await c.post(route, json=body, extensions={"trace": trace})).status_code
            except httpx.HTTPError as exc:
                code = type(exc).__name__
                conn = "fresh" if fresh["v"] else "reused"
                error_kinds[f"{code} ({conn})"] += 1
                if len(errors) < MAX_ERRORS_KEPT:
                    errors.append({"t_s": round(time.time() - start, 3), "route": route, "type": code,
                                   "message": str(exc), "cause": _chain(exc),
                                   "connection": conn})  # fmt: skip
            codes[code] += 1
            if code == 200:
                lat.append(time.perf_counter() - t0)

        await asyncio.sleep(max(0.0, start - time.time()))
        t0 = time.perf_counter()
        tasks = []
        t = t0
        behind = 0
        while t - t0 < duration and time.perf_counter() - t0 < duration:
            t += rng.expovariate(rate)
            delay = t - time.perf_counter()
            # always yield: a client that falls behind its schedule must still run the requests it
            # has started (without this the loop only creates tasks and none of them ever runs)
            await asyncio.sleep(max(0.0, delay))
            behind += delay < 0
            tasks.append(asyncio.ensure_future(one(*mix[rng.randrange(len(mix))])))
        await asyncio.gather(*tasks)
    return {"sent": len(tasks), "late": behind, "codes": dict(codes), "lat": lat, "errors": errors,
            "error_kinds": dict(error_kinds)}  # fmt: skip


def _chain(exc: BaseException) -> str:
    """The exception's causes, innermost last (httpx -> httpcore -> anyio/OS error)."""
    out, cur = [], exc.__cause__ or exc.__context__
    while cur is not None and len(out) < 5:
        out.append(repr(cur))
        cur = cur.__cause__ or cur.__context__
    return " <- ".join(out)


def _client_proc(args: tuple, ready: Any, go: Any, out: Any) -> None:
    """A client process: report ready, wait for the common start time, run its share, send results."""
    url, mix, rate, duration, seed, expiry = args
    ready.put(seed)
    start = go.get()
    out.put(asyncio.run(_open_loop_client(url, mix, rate, duration, seed, expiry, start)))


def open_loop(
    url: str,
    mix: list[tuple[str, dict]],
    rate: float,
    duration: float,
    pid: int,
    procs: int = 2,
    expiry: float = KEEPALIVE_EXPIRY_S,
) -> dict:
    """Poisson arrivals at ``rate``/s for ``duration`` s from ``procs`` client processes (each its own
    event loop at ``rate / procs``: together a Poisson stream at ``rate``, so that one Python process
    is not the bottleneck); RSS of ``pid`` sampled every second. Results merged."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Queue(), ctx.Queue()
    workers = [
        ctx.Process(
            target=_client_proc, args=((url, mix, rate / procs, duration, 11 + i, expiry), ready, go, out)
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    try:
        for _ in workers:
            ready.get(timeout=120)
        start_wall = time.time() + 0.5
        for _ in workers:
            go.put(start_wall)
        rss: list[tuple[float, float]] = []
        stop = threading.Event()
        time.sleep(max(0.0, start_wall - time.time()))
        start = time.perf_counter()

        def sample() -> None:
            while not stop.is_set():
                rss.append((time.perf_counter() - start, _tree_rss_mb(pid)))
                stop.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        parts = [out.get(timeout=duration + 600) for _ in workers]
        stop.set()
        sampler.join()
    finally:
        for w in workers:
            w.join(timeout=30)
            if w.is_alive():
                w.kill()
    codes: Counter = Counter()
    kinds: Counter = Counter()
    for p in parts:
        codes.update(p["codes"])
        kinds.update(p["error_kinds"])
    lat = [x for p in parts for x in p["lat"]]
    sent = sum(p["sent"] for p in parts)
    errors = sorted((e for p in parts for e in p["errors"]), key=lambda e: e["t_s"])
    return {"offered_rps": rate, "client_procs": procs, "keepalive_expiry_s": expiry, "sent": sent,
            "sent_rps": sent / duration, "sent_late": sum(p["late"] for p in parts),
            "codes": {str(k): v for k, v in codes.items()},
            "p50_ms": 1000 * _pct(lat, 50) if lat else None, "p99_ms": 1000 * _pct(lat, 99) if lat else None,
            "client_error_kinds": dict(kinds), "client_errors": errors, "rss_mb": rss}  # fmt: skip


def server_log_lines(log: Path, limit: int = 200) -> dict:
    """The server log's lines (``--log-level warning``: warnings, errors, tracebacks), the last ``limit``."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        return {"error": str(exc)}
    flagged = [ln for ln in lines if any(w in ln for w in ("ERROR", "Traceback", "Exception", "WARNING"))]
    return {"lines": len(lines), "flagged": len(flagged), "tail": lines[-limit:]}


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
    ap.add_argument(
        "--client-procs", type=int, default=2, help="load-generator processes of the soak (rate split evenly)"
    )
    ap.add_argument(
        "--keepalive-expiry",
        type=float,
        default=KEEPALIVE_EXPIRY_S,
        help="clients drop connections idle this long (s); keep it below the server's keep-alive",
    )
    ap.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=None,
        help="the server's keep_alive_timeout_s (default: its own)",
    )
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
        server = start_server(
            models, args.threads, Path(tmp), {"keep_alive_timeout": args.keep_alive_timeout}
        )
        try:
            exp = args.keepalive_expiry
            base = asyncio.run(closed(server.url, mix[:5], args.clients, args.slow_duration, exp))
            socks = _slow_connections(server.port, args.slow)
            try:
                slow = asyncio.run(closed(server.url, mix[:5], args.clients, args.slow_duration, exp))
            finally:
                for s in socks:
                    s.close()
            capacity = asyncio.run(closed(server.url, mix, 64, args.capacity_duration, exp))
            rate = max(1.0, args.overload * capacity["ok_per_s"])
            soak = open_loop(server.url, mix, rate, args.duration, server.proc.pid, args.client_procs, exp)
            healthy = server.healthy()
        finally:
            server.stop()
        server_log = server_log_lines(Path(tmp) / "soak_server.log")
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
        "keep_alive": {"server_s": args.keep_alive_timeout, "client_expiry_s": exp},
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
        "server_log": server_log,
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
        f"unexpected {bad or 'none'}{' ' + str(soak['client_error_kinds']) if soak['client_error_kinds'] else ''}; {args.client_procs} client processes "
        f"sent {soak['sent_rps']:.1f} req/s; server log: {server_log.get('flagged')} warning/error lines; RSS {rv.get('first_mb', 0):.0f} → {rv.get('last_mb', 0):.0f} MB after "
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
