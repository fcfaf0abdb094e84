"""sentence-transformers 6.x ``CrossEncoder`` as the reference: a stand-alone script run INSIDE its own venv.

sentence-transformers 6 needs transformers 5, which cannot share the export stack's environment
(transformers < 4.58), so tests run this file as a subprocess with that venv's python
(``scripts/reference_venv.sh st6`` builds one under ``benchmarks/.venvs/st6``). It imports nothing
from tessera; the request and the results travel as JSON files.

Command::

    python cross_encoder_reference.py run REQUEST.json OUT.json

REQUEST.json: ``{"models": {NAME: {"checkpoint": DIR, "calls": [CALL, ...]}}}``. Each CALL is
``{"method": "predict", "pairs": [[a, b], ...], ...}`` or ``{"method": "rank", "query": q,
"documents": [...], ...}`` with any of ``activation_fn`` (a name: identity, sigmoid, tanh, relu,
softmax), ``apply_softmax``, ``prompt``, ``prompt_name``, ``top_k``, ``return_documents``,
``batch_size``. OUT.json: ``{"versions": {...}, "models": {NAME: {"info": {...}, "results": [...]}}}``
with predict results as nested float lists (float32 values) and rank results as ``{"hits": [...]
(scores as float), "score_type": the Python type name of sentence-transformers' scores}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ACTIVATIONS = {
    "identity": "Identity",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "ReLU",
    "softmax": "Softmax",
}


def _activation(name: str | None):
    import torch

    return None if name is None else getattr(torch.nn, ACTIVATIONS[name])()


def _call(model, call: dict):
    kwargs = {k: call[k] for k in ("apply_softmax", "prompt", "prompt_name", "batch_size") if k in call}
    if call.get("activation_fn") is not None:
        kwargs["activation_fn"] = _activation(call["activation_fn"])
    if call["method"] == "predict":
        pairs = [tuple(p) for p in call["pairs"]]
        out = model.predict(pairs if not call.get("single") else pairs[0], show_progress_bar=False, **kwargs)
        return {"scores": out.tolist(), "shape": list(out.shape), "dtype": str(out.dtype)}
    if call["method"] == "rank":
        kwargs.pop("apply_softmax", None)  # rank() has no apply_softmax
        for key in ("top_k", "return_documents"):
            if key in call:
                kwargs[key] = call[key]
        hits = model.rank(call["query"], call["documents"], show_progress_bar=False, **kwargs)
        return {
            "hits": [{k: (float(v) if k == "score" else v) for k, v in hit.items()} for hit in hits],
            "score_type": type(hits[0]["score"]).__name__ if hits else None,
        }
    raise ValueError(f"unknown method {call['method']!r}")


def run(request: Path, out: Path) -> None:
    """Load each checkpoint with ``CrossEncoder`` (CPU, fp32) and answer its calls."""
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    spec = json.loads(request.read_text())
    result: dict = {
        "versions": {
            "sentence-transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
        "models": {},
    }
    for name, model_spec in spec["models"].items():
        model = CrossEncoder(model_spec["checkpoint"], device="cpu")
        act = model.activation_fn
        info = {
            "num_labels": int(model.num_labels),
            "max_seq_length": model.max_seq_length,
            "activation_fn": f"{type(act).__module__}.{type(act).__name__}",
            "prompts": dict(model.prompts or {}),
            "default_prompt_name": model.default_prompt_name,
        }
        result["models"][name] = {"info": info, "results": [_call(model, c) for c in model_spec["calls"]]}
    out.write_text(json.dumps(result))


def main(argv: list[str]) -> int:
    """``run REQUEST.json OUT.json``."""
    if len(argv) != 3 or argv[0] != "run":
        print(__doc__, file=sys.stderr)
        return 2
    run(Path(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
