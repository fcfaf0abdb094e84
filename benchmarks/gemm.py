"""What the hardware can do: fp32 GEMM GFLOP/s (numpy and onnxruntime) and int8 GEMM GOP/s (onnxruntime
``DynamicQuantizeMatMul``) at a fixed thread count, and the FLOPs a BERT encoder spends per text, so
the peer table can say how far from the limit we are.

    python -m benchmarks.gemm --threads 2        # prints JSON
Set the thread count through the environment *before* numpy loads (the driver runs this in a
subprocess with OMP/OPENBLAS/MKL_NUM_THREADS set); onnxruntime gets intra_op_num_threads.
"""

from __future__ import annotations

import argparse
import json
import time

SHAPES = [  # (M, K, N): a square one, and the encoder's own shapes for a 32 x 128-token batch
    (1024, 1024, 1024),
    (4096, 384, 1536),  # FFN up
    (4096, 1536, 384),  # FFN down
    (4096, 384, 384),  # Q/K/V/O projections
]


def _best(fn, min_time=0.5, min_reps=3):
    fn()
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < min_reps or time.perf_counter() < t_end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2], times[0]  # median, best


def numpy_gemm(threads: int) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        med, best = _best(lambda a=a, b=b, c=c: np.matmul(a, b, out=c))
        out.append(
            {
                "shape": [m, k, n],
                "gflops_median": 2 * m * k * n / med / 1e9,
                "gflops_best": 2 * m * k * n / best / 1e9,
            }
        )
    return out


def _ort_matmul_rates(threads: int, op: str, weights, unit: str, spin: bool = True) -> list[dict]:
    """Median/best rate of a one-node onnxruntime graph ``y = op(x, *weights(k, n))`` per shape.

    ``spin=False``: idle intra-op threads sleep (faster than spinning on a loaded machine)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    out = []
    for m, k, n in SHAPES:
        inits = [numpy_helper.from_array(a, f"w{i}") for i, a in enumerate(weights(rng, k, n))]
        domain = "" if op == "MatMul" else "com.microsoft"
        graph = helper.make_graph(
            [helper.make_node(op, ["x", *(t.name for t in inits)], ["y"], domain=domain)],
            op,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
            inits,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        )
        model.ir_version = min(model.ir_version, 9)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        if not spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        x = rng.standard_normal((m, k), dtype=np.float32)
        med, best = _best(lambda sess=sess, x=x: sess.run(None, {"x": x}))
        ops = 2 * m * k * n
        out.append({"shape": [m, k, n], f"{unit}_median": ops / med / 1e9, f"{unit}_best": ops / best / 1e9})
    return out


def ort_gemm(threads: int, spin: bool = True) -> list[dict]:
    """fp32 GEMM GFLOP/s of an onnxruntime ``MatMul`` with a constant weight."""
    import numpy as np

    return _ort_matmul_rates(
        threads, "MatMul", lambda rng, k, n: [rng.standard_normal((k, n), dtype=np.float32)], "gflops", spin
    )


def ort_int8_gemm(threads: int, spin: bool = True) -> list[dict]:
    """int8 GEMM throughput as the int8 artifact runs it: onnxruntime's ``DynamicQuantizeMatMul``
    (float activations quantised to uint8 on the fly, int8 per-column weights, float output).

    Reported as GOP/s (a multiply-add = 2 ops) so that it compares directly with the fp32 figures.
    """
    import numpy as np

    def weights(rng, k, n):
        return [
            rng.integers(-127, 128, size=(k, n), dtype=np.int8),
            np.full((n,), 0.01, np.float32),
            np.zeros((n,), np.int8),
        ]

    return _ort_matmul_rates(threads, "DynamicQuantizeMatMul", weights, "gops", spin)


ENCODER_SHAPE_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")


def encoder_shape(config) -> dict:
    """The encoder shape :func:`encoder_flops` reads, from a transformers config object."""
    return {k: getattr(config, k) for k in ENCODER_SHAPE_KEYS}


def encoder_flops(config: dict, seq_len: int) -> dict:
    """FLOPs of one BERT-style forward pass over one text of ``seq_len`` tokens (multiply-add = 2).

    Linear layers: 2 * seq * L * (4 H^2 + 2 H I); attention scores + weighted sum: 4 * L * seq^2 * H.
    Embedding lookups, layer norms, softmax and GELU are left out (memory-bound, << 1% here).
    """
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    linear_params = layers * (4 * h * h + 2 * h * i)
    linear = 2 * seq_len * linear_params
    attention = 4 * layers * seq_len * seq_len * h
    return {
        "linear": linear,
        "attention": attention,
        "total": linear + attention,
        "linear_params": linear_params,
    }


def corpus_flops(config: dict, token_counts, max_len: int = 256) -> dict:
    """Useful FLOPs for a corpus (each text at its own truncated length: padding is not useful work)."""
    lin = att = 0
    for t in token_counts:
        f = encoder_flops(config, min(int(t), max_len))
        lin += f["linear"]
        att += f["attention"]
    return {"linear": lin, "attention": att, "total": lin + att}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    res = {"threads": a.threads, "numpy": numpy_gemm(a.threads)}
    try:
        res["onnxruntime"] = ort_gemm(a.threads)
    except Exception as e:  # onnx missing etc.
        res["onnxruntime_error"] = f"{type(e).__name__}: {e}"
    try:
        res["onnxruntime_int8"] = ort_int8_gemm(a.threads)
        res["int8_peak_gops"] = max(r["gops_median"] for r in res["onnxruntime_int8"])
    except Exception as e:
        res["onnxruntime_int8_error"] = f"{type(e).__name__}: {e}"
    peaks = [r["gflops_median"] for key in ("numpy", "onnxruntime") for r in res.get(key, [])]
    res["peak_gflops"] = max(peaks)
    model_shaped = [
        r["gflops_median"]
        for key in ("numpy", "onnxruntime")
        for r in res.get(key, [])
        if r["shape"][0] == 4096
    ]
    res["model_shape_gflops"] = max(model_shaped) if model_shaped else None
    print(json.dumps(res))


if __name__ == "__main__":
    main()
