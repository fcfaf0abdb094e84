// The cross-runtime parity table of the JS package: every fixture artifact in Node (onnxruntime-node)
// and in Chromium (onnxruntime-web WASM) against the Python runtime (onnxruntime), with the largest
// absolute difference of any output. Fails (exit 1) when a cell is over its tolerance or token ids
// differ. Tolerances: fp32 1e-5 everywhere; fp16 1e-3, fp16's resolution (the graph computes in half
// precision, and onnxruntime 1.30 here and 1.32 in Python run it with different CPU kernels: 1.7e-5
// on the tiny BERT, 2.8e-4 on the tiny SigLIP, 2.1e-4 on all-MiniLM-L6-v2); int8
// 1e-5 in Node (the same native kernels as Python) and 5e-3 in the browser (onnxruntime-web's WASM
// DynamicQuantizeLinear/MatMulInteger round differently from the native ones, at every graph
// optimisation level). One case has its own bound (``tolerance`` in compare.js's CASES): the real
// all-MiniLM-L6-v2 int8 in the browser, 2e-2 (measured 1.2e-2: six layers of real weights carry
// the WASM kernels' rounding further than the tiny models' two).
//
// Vision cases compare the image tower (from RGBA pixels) and the text tower (token ids and masks
// identical, text vectors) of SigLIP (trained and masked text semantics), SigLIP2 and CLIP.
//
//   node parity/table.js [--json OUT] [--no-browser]
//
// --json OUT also holds "cells": the Node and browser WASM columns of the Python cross-runtime
// table (python -m benchmarks.cross_runtime_parity --js OUT).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { launch } from "../browser-test/chromium.js";
import { serve } from "../browser-test/server.js";
import { loadModel } from "../src/node.js";
import { compareAll, tableCells } from "./compare.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const jsRoot = path.resolve(here, "..");
const fixtures = process.env.TESSERA_JS_FIXTURES ?? path.join(jsRoot, "fixtures");
const info = JSON.parse(readFileSync(path.join(fixtures, "fixtures.json"), "utf8"));
const argv = process.argv.slice(2);
const TOLERANCE = /** @type {Record<string, Record<string, number>>} */ ({
  node: { fp32: 1e-5, int8: 1e-5, fp16: 1e-3 },
  browser: { fp32: 1e-5, int8: 5e-3, fp16: 1e-3 },
});

const readExpected = async (/** @type {string} */ name) => JSON.parse(readFileSync(path.join(fixtures, "expected", `${name}.json`), "utf8"));
const readBytes = async (/** @type {string} */ rel) => new Uint8Array(readFileSync(path.join(fixtures, rel)));
const node = await compareAll((artifact) => loadModel(path.join(fixtures, artifact)), readExpected, readBytes, { minilm: info.minilm });

/** @type {any[] | null} */
let web = null;
if (!argv.includes("--no-browser")) {
  const outDir = path.join(jsRoot, "test-results", "parity-page");
  mkdirSync(outDir, { recursive: true });
  await build({ entryPoints: [path.join(here, "page.js")], bundle: true, format: "esm", platform: "browser", outfile: path.join(outDir, "app.js"), logLevel: "warning" });
  writeFileSync(path.join(outDir, "index.html"), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>parity</title><body><script type="module" src="./app.js"></script>');
  const server = await serve(jsRoot);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    page.on("console", (m) => m.type() === "error" && console.error(`page: ${m.text()}`));
    await page.goto(`${server.url}test-results/parity-page/index.html?minilm=${info.minilm ? 1 : 0}`);
    await page.waitForSelector("body[data-result]", { timeout: 600_000, state: "attached" });
    const result = JSON.parse((await page.getAttribute("body", "data-result")) ?? "null");
    if (!Array.isArray(result)) throw new Error(`browser parity failed: ${result?.error}`);
    web = result;
  } finally {
    await browser.close();
    server.close();
  }
}

const e = (/** @type {number} */ x) => x.toExponential(1);
const fmt = (/** @type {any} */ r) =>
  r
    ? `${e(r.max_abs_diff)}${r.outputs ? ` (image ${e(r.outputs.images)}, text ${e(r.outputs.texts)}; pixel_values ${e(r.pixel_values_max_abs_diff)})` : ""}${r.tokens_equal && r.structure_equal ? "" : " (ids differ)"}`
    : "—";
const lines = [
  "| artifact | paradigm | precision | token ids | Node (onnxruntime-node) | browser (onnxruntime-web WASM) |",
  "|---|---|---|---|---|---|",
  ...node.map((r, i) => `| ${r.name} | ${r.paradigm} | ${r.precision} | ${r.tokens_equal && (!web || web[i].tokens_equal) ? "identical" : "DIFFER"} | ${fmt(r)} | ${fmt(web?.[i])} |`),
];
console.log(lines.join("\n"));
const jsonOut = argv.includes("--json") ? argv[argv.indexOf("--json") + 1] : null;
// "cells": the Node / browser WASM columns of benchmarks/cross_runtime_parity.py (its --js FILE)
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ tolerance: TOLERANCE, cells: tableCells(node, web), node, browser: web }, null, 2) + "\n");
const bound = (/** @type {any} */ r, /** @type {string} */ runtime) => r.tolerance?.[runtime] ?? TOLERANCE[runtime][r.precision];
const ok = (/** @type {any} */ r, /** @type {string} */ runtime) => r.tokens_equal && r.structure_equal && r.max_abs_diff <= bound(r, runtime);
const bad = [...node.filter((r) => !ok(r, "node")).map((r) => `${r.name} (Node)`), ...(web ?? []).filter((r) => !ok(r, "browser")).map((r) => `${r.name} (browser)`)];
if (bad.length) {
  console.error(`parity over tolerance or ids differ: ${bad.join(", ")}`);
  process.exit(1);
}
