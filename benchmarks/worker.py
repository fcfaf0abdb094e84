"""One benchmark contender in its own process. Run by benchmarks/peers.py, never imported by it.

Runs under whatever interpreter owns the contender (the project venv, benchmarks/.venvs/fastembed,
benchmarks/.venvs/tessera-runtime), so it uses only the standard library at the top and imports
numpy and the contender's library lazily: in ``cold`` mode the clock starts before any of them.

Modes:
  cold   fresh process: import + load + first embedding (one query), then optionally the whole
         corpus; prints one JSON object with the phase timings and ru_maxrss.
  serve  loads once, then answers JSON-line commands from stdin (embed / corpus / fixed_batch /
         latency / info / quit), one JSON line each on the original stdout. Library chatter is
         sent to stderr so it cannot corrupt the protocol.
  import time ``import <module>`` alone (fresh process).
  size   installed size of the requirement closure of the given distributions.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()
_T_START_WALL = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# ---------------------------------------------------------------------------------------------
# Contenders: each returns (encode(texts, batch_size) -> np.ndarray (n, dim) float32, info dict)
# ---------------------------------------------------------------------------------------------


def _load_st(cfg):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(cfg["threads"])
    model = SentenceTransformer(cfg["model_dir"], device="cpu")
    model.eval()
    default_bs = 32

    def encode(texts, batch_size=None):
        with torch.inference_mode():
            return model.encode(
                list(texts),
                batch_size=batch_size or default_bs,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype("float32", copy=False)

    import sentence_transformers
    import transformers

    info = {
        "versions": {
            "sentence-transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "threads": {
            "torch.get_num_threads": torch.get_num_threads(),
            "torch.get_num_interop_threads": torch.get_num_interop_threads(),
        },
        "default_batch_size": default_bs,
        "max_seq_length": model.max_seq_length,
    }
    return encode, info


def _load_fastembed(cfg):
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    name = "tessera-bench/all-MiniLM-L6-v2-plain-onnx"
    TextEmbedding.add_custom_model(
        model=name,
        pooling=PoolingType.MEAN,
        normalization=True,
        dim=384,
        model_file="model.onnx",
        sources=ModelSource(hf="tessera-bench/all-MiniLM-L6-v2-plain-onnx"),
    )
    model = TextEmbedding(
        name, specific_model_path=cfg["model_dir"], threads=cfg["threads"], local_files_only=True
    )
    default_bs = 256
    import numpy as np

    def encode(texts, batch_size=None):
        return np.asarray(
            np.stack(list(model.embed(list(texts), batch_size=batch_size or default_bs))), dtype=np.float32
        )

    import fastembed
    import onnxruntime
    import tokenizers

    threads = {"threads_arg": cfg["threads"]}
    try:  # best effort: the ORT session fastembed built
        sess = model.model.model  # TextEmbedding -> OnnxTextEmbedding -> InferenceSession
        so = sess.get_session_options()
        threads.update(
            intra_op_num_threads=so.intra_op_num_threads, inter_op_num_threads=so.inter_op_num_threads
        )
    except Exception:
        pass
    info = {
        "versions": {
            "fastembed": fastembed.__version__,
            "onnxruntime": onnxruntime.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "threads": threads,
        "default_batch_size": default_bs,
    }
    return encode, info


def _load_ort_loop(cfg):
    """The reference point from the issue: a minimal length-sorted onnxruntime + tokenizers + numpy loop."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    so = ort.SessionOptions()
    so.intra_op_num_threads = cfg["threads"]
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        os.path.join(cfg["model_dir"], "model.onnx"), so, providers=["CPUExecutionProvider"]
    )
    tok = Tokenizer.from_file(os.path.join(cfg["model_dir"], "tokenizer.json"))
    tok.no_padding()  # the shipped tokenizer.json pads to a fixed 128 and truncates at 128
    tok.enable_truncation(256)  # sentence-transformers' max_seq_length for this model
    names = {i.name for i in sess.get_inputs()}
    default_bs = 32

    def encode(texts, batch_size=None):
        bs = batch_size or default_bs
        texts = list(texts)
        encs = tok.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encs], kind="stable")
        out = np.empty((len(texts), 384), np.float32)
        for s in range(0, len(texts), bs):
            idx = order[s : s + bs]
            L = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), L), np.int64)
            mask = np.zeros((len(idx), L), np.int64)
            for r, i in enumerate(idx):
                e = encs[i].ids
                ids[r, : len(e)] = e
                mask[r, : len(e)] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(ids)
            h = sess.run(None, feed)[0]
            m = mask[:, :, None].astype(np.float32)
            v = (h * m).sum(1) / m.sum(1)
            out[idx] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out

    import tokenizers

    info = {
        "versions": {
            "onnxruntime": ort.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
        },
        "threads": {"intra_op_num_threads": cfg["threads"], "inter_op_num_threads": 1},
        "default_batch_size": default_bs,
    }
    return encode, info


def _load_tessera(cfg):
    import tessera_onnx

    kwargs = {"threads": cfg["threads"], **cfg.get("options", {})}
    model = tessera_onnx.Tessera(cfg["model_dir"], **kwargs)
    import numpy as np

    def encode(texts, batch_size=None):
        kw = {} if batch_size is None else {"batch_size": batch_size}
        return np.asarray(model.encode(list(texts), **kw), dtype=np.float32)

    versions = {"tessera-onnx": getattr(tessera_onnx, "__version__", "?")}
    for mod in ("onnxruntime", "tokenizers", "numpy"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            pass
    threads = {"threads_arg": cfg["threads"]}
    for attr in ("session", "_session", "sess"):  # best effort, whatever the runtime exposes
        sess = getattr(getattr(model, "embedder", model), attr, None) or getattr(model, attr, None)
        if sess is not None and hasattr(sess, "get_session_options"):
            so = sess.get_session_options()
            threads.update(
                intra_op_num_threads=so.intra_op_num_threads, inter_op_num_threads=so.inter_op_num_threads
            )
            break
    info = {
        "versions": versions,
        "threads": threads,
        "default_batch_size": None,
        "torch_imported": "torch" in sys.modules,
    }
    return encode, info


LOADERS = {"st": _load_st, "fastembed": _load_fastembed, "ort-loop": _load_ort_loop, "tessera": _load_tessera}


# ---------------------------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------------------------


def _import_contender(kind):
    if kind == "st":
        import sentence_transformers  # noqa: F401
    elif kind == "fastembed":
        import fastembed  # noqa: F401
    elif kind == "ort-loop":
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    elif kind == "tessera":
        import tessera_onnx  # noqa: F401


def mode_cold(cfg, out):
    t0 = _T_START
    _import_contender(cfg["kind"])
    t_import = time.perf_counter()
    encode, info = LOADERS[cfg["kind"]](cfg)
    t_load = time.perf_counter()
    first = encode([cfg["first_text"]])
    t_first = time.perf_counter()
    res = {
        "import_s": t_import - t0,
        "load_s": t_load - t_import,
        "first_embed_s": t_first - t_load,
        "cold_in_process_s": t_first - t0,
        "t_first_wall": time.time(),
        "t_start_wall": _T_START_WALL,
        "rss_after_first_mb": _maxrss_mb(),
        "dim": int(first.shape[1]),
        "info": info,
    }
    if cfg.get("corpus_file"):
        with open(cfg["corpus_file"]) as f:
            texts = json.load(f)["texts"]
        t = time.perf_counter()
        emb = encode(texts, cfg.get("batch_size"))
        res["corpus_s"] = time.perf_counter() - t
        res["corpus_n"] = len(texts)
        if cfg.get("save"):
            import numpy as np

            np.save(cfg["save"], np.asarray(emb, dtype=np.float32))
    res["maxrss_mb"] = _maxrss_mb()
    out.write(json.dumps(res) + "\n")
    out.flush()


def mode_serve(cfg, out):
    import numpy as np

    encode, info = LOADERS[cfg["kind"]](cfg)
    with open(cfg["corpus_file"]) as f:
        corpus = json.load(f)
    texts, kinds = corpus["texts"], corpus["kinds"]
    queries = [t for t, k in zip(texts, kinds, strict=True) if k == "query"]
    passages = [t for t, k in zip(texts, kinds, strict=True) if k == "passage"]
    out.write(json.dumps({"ready": True, "info": info, "rss_mb": _maxrss_mb()}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd["cmd"]
        try:
            if op == "quit":
                out.write(json.dumps({"ok": True, "maxrss_mb": _maxrss_mb()}) + "\n")
                out.flush()
                return
            if op == "embed":  # whole corpus, saved for the agreement check
                t = time.perf_counter()
                emb = encode(texts, cmd.get("batch_size"))
                dt = time.perf_counter() - t
                np.save(cmd["out"], np.asarray(emb, dtype=np.float32))
                res = {"seconds": dt, "shape": list(emb.shape)}
            elif op == "corpus":
                t = time.perf_counter()
                emb = encode(texts, cmd.get("batch_size"))
                dt = time.perf_counter() - t
                res = {"seconds": dt, "texts_per_s": len(texts) / dt}
            elif op == "fixed_batch":  # the same batch of passages, repeated
                batch = passages[: cmd["batch"]]
                encode(batch, len(batch))  # warm the shape
                times = []
                for _ in range(cmd["reps"]):
                    t = time.perf_counter()
                    encode(batch, len(batch))
                    times.append(time.perf_counter() - t)
                res = {"times": times, "batch": len(batch)}
            elif op == "latency":  # one text per call
                pool = queries if cmd["kind"] == "query" else passages
                sample = pool[: cmd["n"]]
                encode(sample[:1], 1)
                times = []
                for s in sample:
                    t = time.perf_counter()
                    encode([s], 1)
                    times.append(time.perf_counter() - t)
                res = {"times": times}
            elif op == "info":
                res = {"info": info}
            else:
                raise ValueError(f"unknown command {op!r}")
            res["ok"] = True
            res["maxrss_mb"] = _maxrss_mb()
        except Exception as e:  # report, keep serving
            res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(res) + "\n")
        out.flush()


def mode_import(cfg, out):
    import importlib

    t = time.perf_counter()
    importlib.import_module(cfg["module"])
    dt = time.perf_counter() - t
    heavy = sorted(
        m
        for m in (
            "torch",
            "transformers",
            "scipy",
            "pandas",
            "huggingface_hub",
            "onnx",
            "onnxruntime",
            "tokenizers",
            "numpy",
        )
        if m in sys.modules
    )
    out.write(
        json.dumps({"import_s": dt, "since_start_s": time.perf_counter() - _T_START, "loaded": heavy}) + "\n"
    )


def mode_size(cfg, out):
    """Bytes on disk of the requirement closure (non-extra requirements, markers evaluated)."""
    import importlib.metadata as md
    import re

    try:
        from packaging.markers import default_environment
        from packaging.requirements import Requirement
    except Exception:  # pragma: no cover - every env here has packaging
        Requirement = None

    def norm(n):
        return re.sub(r"[-_.]+", "-", n).lower()

    dists = {}
    for d in md.distributions():
        name = d.metadata["Name"]
        if name:
            dists.setdefault(norm(name), d)
    seen, todo, missing = {}, [norm(r) for r in cfg["roots"]], []
    env = default_environment() if Requirement else {}
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        d = dists.get(n)
        if d is None:
            missing.append(n)
            continue
        seen[n] = d
        for req in d.requires or []:
            if Requirement:
                r = Requirement(req)
                if r.marker is not None and not r.marker.evaluate({**env, "extra": ""}):
                    continue
                todo.append(norm(r.name))
            elif "extra ==" not in req:
                todo.append(norm(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0]))
    sizes = {}
    for n, d in seen.items():
        total = 0
        for f in d.files or []:
            try:
                p = d.locate_file(f)
                if os.path.isfile(p):
                    total += os.path.getsize(p)
            except Exception:
                pass
        # editable installs record only a .pth: count the source package dirs they point at
        for extra_dir in cfg.get("editable_dirs", {}).get(n, []):
            for root, _dirs, files in os.walk(extra_dir):
                if "__pycache__" in root:
                    continue
                total += sum(os.path.getsize(os.path.join(root, x)) for x in files)
        sizes[n] = {"version": d.version, "bytes": total}
    out.write(
        json.dumps(
            {
                "total_bytes": sum(v["bytes"] for v in sizes.values()),
                "packages": sizes,
                "missing": missing,
                "python": sys.executable,
            }
        )
        + "\n"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["cold", "serve", "import", "size"])
    ap.add_argument("config", help="JSON config (inline)")
    a = ap.parse_args()
    cfg = json.loads(a.config)
    # The protocol goes to a private dup of stdout; anything the libraries print goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    {"cold": mode_cold, "serve": mode_serve, "import": mode_import, "size": mode_size}[a.mode](cfg, out)


if __name__ == "__main__":
    main()
