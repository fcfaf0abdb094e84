/**
 * What the Python runtime computes after the graph (tessera_onnx/ops/): sentence-transformers
 * pooling over real tokens, L2 normalisation, parameter-free layer norm, Matryoshka truncation,
 * SPLADE pooling and ColBERT MaxSim. Sums accumulate in float64; results are float32.
 * @module ops
 */
import { InvalidInputError } from "./errors.js";

/**
 * A ``[B, T, D]`` float32 tensor in row-major order.
 * @typedef {{data: Float32Array, dims: number[]}} Hidden
 */

export const POOLING_ORDER = ["cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken"];
const ALIASES = /** @type {Record<string, string>} */ ({
  last_token: "lasttoken",
  weighted_mean: "weightedmean",
  mean_sqrt_len_tokens: "mean_sqrt_len",
  cls_token: "cls",
  mean_tokens: "mean",
  max_tokens: "max",
});

/**
 * Pool one row ``b`` of ``hidden`` with ``mask`` (``[B*T]``, 1 = real token) into ``out``.
 * @param {string} mode
 * @param {Float32Array} h
 * @param {number} b
 * @param {number} T
 * @param {number} D
 * @param {ArrayLike<number>} mask
 * @param {Float64Array} acc
 */
function poolRow(mode, h, b, T, D, mask, acc) {
  acc.fill(0);
  const base = b * T;
  if (mode === "cls") {
    let first = 0;
    while (first < T && !(mask[base + first] > 0)) first++;
    if (first === T) first = 0;
    for (let d = 0; d < D; d++) acc[d] = h[(base + first) * D + d];
    return;
  }
  if (mode === "lasttoken") {
    let last = T - 1;
    while (last >= 0 && !(mask[base + last] > 0)) last--;
    if (last < 0) return;
    for (let d = 0; d < D; d++) acc[d] = h[(base + last) * D + d];
    return;
  }
  if (mode === "max") {
    acc.fill(-Infinity);
    let any = false;
    for (let t = 0; t < T; t++) {
      if (!(mask[base + t] > 0)) continue;
      any = true;
      const off = (base + t) * D;
      for (let d = 0; d < D; d++) if (h[off + d] > acc[d]) acc[d] = h[off + d];
    }
    if (!any) acc.fill(Math.fround(-1e9));
    return;
  }
  let total = 0;
  for (let t = 0; t < T; t++) {
    const m = mask[base + t] > 0 ? (mode === "weightedmean" ? t + 1 : 1) : 0;
    if (!m) continue;
    total += m;
    const off = (base + t) * D;
    for (let d = 0; d < D; d++) acc[d] += m * h[off + d];
  }
  const denom = mode === "mean_sqrt_len" ? Math.sqrt(Math.max(total, 1e-9)) : Math.max(total, 1e-9);
  for (let d = 0; d < D; d++) acc[d] /= denom;
}

/**
 * Pool ``hidden`` ``[B, T, D]`` with ``mask`` into ``[B, D × modes]`` float32 rows (one or several
 * modes, concatenated in sentence-transformers order).
 * @param {Hidden} hidden
 * @param {ArrayLike<number>} mask  ``[B*T]``
 * @param {string | string[]} mode
 * @returns {Float32Array[]}
 */
export function pool(hidden, mask, mode = "mean") {
  const modes = (Array.isArray(mode) ? mode : [mode]).map((m) => ALIASES[m] ?? m);
  const unknown = modes.filter((m) => !POOLING_ORDER.includes(m));
  if (unknown.length || !modes.length) {
    throw new InvalidInputError(`unknown pooling mode(s) ${JSON.stringify(unknown)}; choose from ${POOLING_ORDER}`);
  }
  const ordered = POOLING_ORDER.filter((m) => modes.includes(m));
  const [B, T, D] = hidden.dims;
  const acc = new Float64Array(D);
  const rows = [];
  for (let b = 0; b < B; b++) {
    const row = new Float32Array(D * ordered.length);
    ordered.forEach((m, i) => {
      poolRow(m, hidden.data, b, T, D, mask, acc);
      row.set(acc, i * D);
    });
    rows.push(row);
  }
  return rows;
}

/**
 * ``x / max(‖x‖₂, 1e-12)`` in place (a zero vector stays zero).
 * @param {Float32Array} x
 * @returns {Float32Array}
 */
export function l2Normalize(x) {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  const norm = Math.max(Math.sqrt(s), 1e-12);
  for (let i = 0; i < x.length; i++) x[i] = x[i] / norm;
  return x;
}

/**
 * Layer norm without affine parameters, eps 1e-5 (nomic-embed's recipe), in place.
 * @param {Float32Array} x
 */
export function layerNorm(x, eps = 1e-5) {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) * (v - mean);
  variance /= x.length;
  const scale = Math.sqrt(variance + eps);
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - mean) / scale;
  return x;
}

/**
 * Matryoshka truncation: the first ``dim`` features, L2-renormalised unless ``renormalize`` is false.
 * @param {Float32Array} x
 * @param {number | null | undefined} dim
 */
export function truncateDim(x, dim, renormalize = true) {
  if (dim == null || dim === x.length) return renormalize ? l2Normalize(x.slice()) : x;
  if (!(dim > 0 && dim <= x.length)) throw new InvalidInputError(`cannot truncate ${x.length}-d vectors to ${dim} dimensions`);
  const cutv = x.slice(0, dim);
  return renormalize ? l2Normalize(cutv) : cutv;
}

/**
 * Dot product of two vectors (float64 accumulation).
 * @param {ArrayLike<number>} a
 * @param {ArrayLike<number>} b
 * @param {number} [aOffset]
 * @param {number} [bOffset]
 * @param {number} [n]
 */
export function dot(a, b, aOffset = 0, bOffset = 0, n = a.length - aOffset) {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[aOffset + i] * b[bOffset + i];
  return s;
}

/**
 * Cosine similarity matrix of two lists of vectors.
 * @param {ArrayLike<number>[]} a
 * @param {ArrayLike<number>[]} b
 * @returns {number[][]}
 */
export function cosineSimilarity(a, b) {
  const na = a.map((v) => l2Normalize(Float32Array.from(v)));
  const nb = b.map((v) => l2Normalize(Float32Array.from(v)));
  return na.map((x) => nb.map((y) => Math.fround(dot(x, y))));
}

// ----------------------------------------------------------------------------------------- SPLADE

/**
 * SPLADE pooling of MLM logits ``[B, T, V]``: ``agg_t act(z_t) · m_t`` with ``act`` =
 * ``log1p(relu(.))`` (twice for ``log1p_log1p_relu``) and ``agg`` max or sum.
 * @param {Hidden} logits
 * @param {ArrayLike<number>} mask
 * @param {string} activation
 * @param {string} aggregation
 * @returns {Float32Array[]}
 */
export function spladePool(logits, mask, activation = "log1p_relu", aggregation = "max") {
  if (!["log1p_relu", "log1p_log1p_relu"].includes(activation)) {
    throw new InvalidInputError(`unknown sparse activation ${JSON.stringify(activation)}`);
  }
  if (!["max", "sum"].includes(aggregation)) throw new InvalidInputError(`unknown sparse aggregation ${JSON.stringify(aggregation)}`);
  const [B, T, V] = logits.dims;
  const z = logits.data;
  const act = activation === "log1p_log1p_relu" ? (/** @type {number} */ v) => Math.log1p(Math.log1p(v)) : Math.log1p;
  const rows = [];
  for (let b = 0; b < B; b++) {
    const row = new Float32Array(V);
    if (aggregation === "max") {
      const best = new Float32Array(V).fill(-Infinity);
      for (let t = 0; t < T; t++) {
        if (!(mask[b * T + t] > 0)) continue;
        const off = (b * T + t) * V;
        for (let v = 0; v < V; v++) if (z[off + v] > best[v]) best[v] = z[off + v];
      }
      for (let v = 0; v < V; v++) row[v] = act(Math.max(best[v], 0));
    } else {
      const acc = new Float64Array(V);
      for (let t = 0; t < T; t++) {
        if (!(mask[b * T + t] > 0)) continue;
        const off = (b * T + t) * V;
        for (let v = 0; v < V; v++) acc[v] += act(Math.fround(Math.max(z[off + v], 0)));
      }
      row.set(acc);
    }
    rows.push(row);
  }
  return rows;
}

/**
 * A sparse vector over the vocabulary: ``indices`` ascending, ``values`` float32.
 * @typedef {{indices: Int32Array, values: Float32Array, dim: number}} SparseVector
 */

/**
 * Non-zero entries of a dense weight row, indices ascending.
 * @param {Float32Array} row
 * @returns {SparseVector}
 */
export function denseToSparse(row) {
  const idx = [];
  for (let i = 0; i < row.length; i++) if (row[i] !== 0) idx.push(i);
  return { indices: Int32Array.from(idx), values: Float32Array.from(idx, (i) => row[i]), dim: row.length };
}

/**
 * The ``k`` largest-|value| entries, indices ascending; ties broken by the lower index.
 * @param {SparseVector} v
 * @param {number} k
 * @returns {SparseVector}
 */
export function topKSparse(v, k) {
  if (v.values.length <= k) return v;
  const order = Array.from(v.indices.keys()).sort((a, b) => Math.abs(v.values[b]) - Math.abs(v.values[a]) || a - b);
  const keep = order.slice(0, k).sort((a, b) => a - b);
  return { indices: Int32Array.from(keep, (i) => v.indices[i]), values: Float32Array.from(keep, (i) => v.values[i]), dim: v.dim };
}

/**
 * Dot product of two sparse vectors.
 * @param {SparseVector} a
 * @param {SparseVector} b
 */
export function sparseDot(a, b) {
  let i = 0;
  let j = 0;
  let s = 0;
  while (i < a.indices.length && j < b.indices.length) {
    if (a.indices[i] === b.indices[j]) s += a.values[i++] * b.values[j++];
    else if (a.indices[i] < b.indices[j]) i++;
    else j++;
  }
  return Math.fround(s);
}

// ----------------------------------------------------------------------------------------- MaxSim

/**
 * A multi-vector: ``rows`` token vectors of width ``dim`` in one float32 array.
 * @typedef {{data: Float32Array, rows: number, dim: number}} MultiVector
 */

/**
 * ColBERT late interaction ``Σ_i max_j q_i · d_j`` over real tokens; a document without tokens scores 0.
 * @param {MultiVector} q
 * @param {MultiVector} d
 */
export function maxsim(q, d) {
  if (q.dim !== d.dim) throw new InvalidInputError(`token widths differ: ${q.dim} vs ${d.dim}`);
  if (!d.rows) return 0;
  let total = 0;
  for (let i = 0; i < q.rows; i++) {
    let best = -Infinity;
    for (let j = 0; j < d.rows; j++) {
      const s = dot(q.data, d.data, i * q.dim, j * d.dim, q.dim);
      if (s > best) best = s;
    }
    total += best;
  }
  return Math.fround(total);
}

/**
 * MaxSim score matrix ``[queries][documents]``.
 * @param {MultiVector[]} queries
 * @param {MultiVector[]} documents
 */
export function maxsimScores(queries, documents) {
  return queries.map((q) => documents.map((d) => maxsim(q, d)));
}
