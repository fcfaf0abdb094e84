"""Invoke the serverless handler locally, as a function platform would (one container, two events).

    python examples/serverless_invoke.py artifacts/minilm

The first invocation loads the model (the cold start); the second reuses it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time

import numpy as np


def main() -> None:
    os.environ["TESSERA_MODEL"] = sys.argv[1] if len(sys.argv) > 1 else "artifacts/minilm"
    from tessera_onnx.serving.lambda_handler import handler

    direct = {
        "input": ["How do plants make food?", "Photosynthesis converts light."],
        "encoding_format": "float",
    }
    start = time.perf_counter()
    out = handler(direct, None)
    print(f"direct invocation ({time.perf_counter() - start:.2f} s, includes loading the model):")
    print(f"  {len(out['data'])} vectors of {len(out['data'][0]['embedding'])} dims, usage {out['usage']}")

    api_gateway = {  # what API Gateway / a function URL sends: the HTTP body as a string
        "requestContext": {"http": {"method": "POST"}},
        "body": json.dumps({"input": "Which landmark is in France?"}),
        "isBase64Encoded": False,
    }
    start = time.perf_counter()
    resp = handler(api_gateway, None)
    body = json.loads(resp["body"])
    vec = (
        np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
        if isinstance(body["data"][0]["embedding"], str)
        else np.asarray(body["data"][0]["embedding"])
    )
    print(
        f"API Gateway event ({1000 * (time.perf_counter() - start):.0f} ms, warm): status {resp['statusCode']}, "
        f"norm {np.linalg.norm(vec):.4f}"
    )


if __name__ == "__main__":
    main()
