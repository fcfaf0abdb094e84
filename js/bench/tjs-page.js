// A transformers.js page doing what the demo does (feature-extraction, mean pooling, normalize),
// loading the same model from static files with remote models disabled: the benchmark's peer.
import { env, pipeline } from "@huggingface/transformers";

const params = new URLSearchParams(location.search);
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = new URL("./tjs-models/", location.href).pathname; // a path: a full URL counts as remote
env.backends.onnx.wasm.wasmPaths = new URL("./", location.href).href;
const ready = pipeline("feature-extraction", params.get("id") ?? "model", { dtype: "fp32", device: "wasm" });

/** @param {string[]} texts */
async function encode(texts) {
  const extractor = await ready;
  const out = await extractor(texts, { pooling: "mean", normalize: true });
  return out.dims[0];
}

ready.then(
  () => (document.body.dataset.ready = "true"),
  (err) => {
    document.body.dataset.ready = "error";
    document.body.textContent = String(err);
  },
);
Object.assign(window, { peer: { ready, encode } });
