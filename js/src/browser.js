/**
 * Browser entry point: artifacts from a URL on onnxruntime-web (WASM; WebGPU when asked for and
 * present).
 *
 *     import { loadModel, loadIndex } from "tessera-onnx";
 *     const model = await loadModel("./model/");
 *     const index = await loadIndex("./passages.tessera-index");
 *     const hits = index.search(await model.encode("a query"), 10);
 * @module browser
 */
import * as ortWasm from "onnxruntime-web";
import { Artifact } from "./artifact.js";
import { DenseIndex } from "./dense-index.js";
import { createEmbedder } from "./embedders.js";
import { makeRuntime } from "./runtime.js";
import { fetchBytes, urlSource } from "./sources.js";

export * from "./index.js";

/**
 * Load the embedder of the artifact at ``url``.
 *
 * ``device``: ``"wasm"`` (default) or ``"webgpu"`` (falls back to WASM when ``navigator.gpu`` is
 * missing; pass the ``onnxruntime-web/webgpu`` module as ``ort``). ``wasmPaths``: where the
 * ``ort-wasm-*.wasm`` files are served (default: next to the bundle).
 * @param {string | URL} url
 * @param {{verify?: boolean, device?: "wasm" | "webgpu", ort?: any, wasmPaths?: string, threads?: number, maxLength?: number, batchSize?: number, dimension?: number, normalize?: boolean, topK?: number, sessionOptions?: any}} [options]
 */
export async function loadModel(url, options = {}) {
  const ort = options.ort ?? ortWasm;
  if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
  if (options.threads) ort.env.wasm.numThreads = options.threads;
  const gpu = options.device === "webgpu" && typeof navigator !== "undefined" && "gpu" in navigator;
  const providers = gpu ? ["webgpu", "wasm"] : ["wasm"];
  const artifact = await Artifact.open(urlSource(url), { verify: options.verify });
  return createEmbedder(artifact, makeRuntime(ort, gpu ? "webgpu" : "wasm", { executionProviders: providers }), options);
}

/**
 * Fetch and read a saved dense index file (every member checked against its sha256).
 * @param {string | URL} url
 */
export async function loadIndex(url) {
  return DenseIndex.fromBytes(await fetchBytes(url), String(url));
}
