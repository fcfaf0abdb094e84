// Shared test helpers: where the fixtures live (built by scripts/js_fixtures.py) and tolerances.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const FIXTURES = process.env.TESSERA_JS_FIXTURES ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures");
/** Vectors must match Python's within this (max absolute difference). */
export const TOL = 1e-5;
/**
 * The bound per artifact precision in Node, those of the parity table (parity/table.js). fp16 graphs
 * compute in half precision and onnxruntime-node 1.30 and Python's onnxruntime 1.32 run them with
 * different CPU kernels: 7.5e-6 apart on the tiny BERT, 2.1e-4 on all-MiniLM-L6-v2 (was 1e-4 before
 * the real model's fp16 fixture); fp32 and int8 (same batches, integer MatMul) stay under 1e-5.
 */
export const PRECISION_TOL = /** @type {Record<string, number>} */ ({ fp32: TOL, int8: TOL, fp16: 1e-3 });

if (!existsSync(path.join(FIXTURES, "fixtures.json"))) {
  throw new Error(`no fixtures in ${FIXTURES}: run \`.venv/bin/python scripts/js_fixtures.py\` first`);
}
export const INFO = JSON.parse(readFileSync(path.join(FIXTURES, "fixtures.json"), "utf8"));

/** @param {string} name */
export function expected(name) {
  return JSON.parse(readFileSync(path.join(FIXTURES, "expected", `${name}.json`), "utf8"));
}

/** @param {string} rel */
export function fixture(rel) {
  return path.join(FIXTURES, rel);
}

/**
 * Largest |a - b| over two (nested) arrays of numbers, asserting equal shapes.
 * @param {any} a
 * @param {any} b
 * @param {string} what
 */
export function maxDiff(a, b, what = "") {
  if (typeof a === "number" || typeof b === "number") return Math.abs(Number(a) - Number(b));
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, maxDiff(a[i], b[i], what));
  return m;
}

/**
 * Assert two (nested) numeric arrays agree within ``tol``.
 * @param {any} got
 * @param {any} want
 * @param {string} what
 */
export function assertClose(got, want, what, tol = TOL) {
  const toArrays = (/** @type {any} */ x) => (ArrayBuffer.isView(x) ? Array.from(/** @type {any} */ (x)) : Array.isArray(x) ? x.map(toArrays) : x);
  const d = maxDiff(toArrays(got), want, what);
  assert.ok(d <= tol, `${what}: max |JS - Python| = ${d} exceeds ${tol}`);
  return d;
}

/**
 * A multi-vector {data, rows, dim} as nested rows.
 * @param {{data: Float32Array, rows: number, dim: number}} mv
 */
export function rowsOf(mv) {
  return Array.from({ length: mv.rows }, (_, i) => Array.from(mv.data.subarray(i * mv.dim, (i + 1) * mv.dim)));
}
