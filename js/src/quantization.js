/**
 * Embedding quantization and search over compressed embeddings, with the formats and results of
 * the Python runtime (tessera_onnx/quantization/):
 *
 * - ``ubinary``: bit = ``x > 0``, packed most significant bit first (``uint8``, ``ceil(dim/8)`` bytes);
 *   ``binary``: the same bytes minus 128 as ``int8`` (sentence-transformers' two binary forms).
 * - ``int8``: ``step = (max - min) / 255``, ``code = clip(floor((x - min) / step), 0, 255) - 128``;
 *   ``int4``: 16 bins (``step = range / 16``), two codes per byte, the even dimension in the high nibble.
 * - search: a first stage over the codes (Hamming distance for binary, the float query against the
 *   bin centres for int8/int4) keeps ``k × rescoreMultiplier`` candidates, re-scored with the float
 *   query (against the float corpus when given); ties rank the lower index first.
 *
 * Scalar arithmetic is float32 (``Math.fround`` at every step), so codes equal Python's bit for bit.
 * @module quantization
 */
import { InvalidInputError } from "./errors.js";

export const SCHEMES = ["binary", "ubinary", "int8", "int4"];
export const DEFAULT_RESCORE_MULTIPLIER = /** @type {Record<string, number>} */ ({ binary: 15, ubinary: 15, int8: 2, int4: 2 });
const STEP_DIVISOR = /** @type {Record<string, number>} */ ({ int8: 255, int4: 16 });
const LEVELS = /** @type {Record<string, number>} */ ({ int8: 256, int4: 16 });
const f = Math.fround;

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1];

/**
 * Quantized embeddings: one row of ``bytesPerRow`` bytes per vector in ``data``.
 * @typedef {object} Quantized
 * @property {string} scheme
 * @property {number} dim
 * @property {number} n
 * @property {Uint8Array | Int8Array} data  ``n × bytesPerRow``
 * @property {number} bytesPerRow
 * @property {[Float32Array, Float32Array] | null} ranges  per-dimension (min, max) of the scalar schemes
 */

/**
 * ``x > 0`` packed MSB-first.
 * @param {ArrayLike<number>} x
 */
export function packBits(x) {
  const out = new Uint8Array(Math.ceil(x.length / 8));
  for (let i = 0; i < x.length; i++) if (x[i] > 0) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

/**
 * 0/1 bits of a packed row, ``dim`` of them.
 * @param {Uint8Array} packed
 * @param {number} dim
 */
export function unpackBits(packed, dim) {
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}

/**
 * Per-dimension (min, max) of a calibration set.
 * @param {ArrayLike<number>[]} vectors
 * @returns {[Float32Array, Float32Array]}
 */
export function calibrationRanges(vectors) {
  if (!vectors.length) throw new InvalidInputError("calibration embeddings are empty");
  const dim = vectors[0].length;
  const lo = Float32Array.from(vectors[0]);
  const hi = Float32Array.from(vectors[0]);
  for (const v of vectors) {
    for (let d = 0; d < dim; d++) {
      if (v[d] < lo[d]) lo[d] = v[d];
      if (v[d] > hi[d]) hi[d] = v[d];
    }
  }
  return [lo, hi];
}

/**
 * Float32 bin widths of a scalar scheme (a constant dimension gets 1).
 * @param {[Float32Array, Float32Array]} ranges
 * @param {string} scheme
 */
export function steps(ranges, scheme) {
  return Float32Array.from(ranges[0], (lo, d) => {
    const s = f(f(ranges[1][d] - lo) / STEP_DIVISOR[scheme]);
    return s === 0 ? 1 : s;
  });
}

/**
 * Quantize float vectors (``ranges`` for int8/int4: default the vectors' own min/max).
 * @param {ArrayLike<number>[]} vectors
 * @param {string} scheme
 * @param {{ranges?: [ArrayLike<number>, ArrayLike<number>]}} [options]
 * @returns {Quantized}
 */
export function quantize(vectors, scheme, options = {}) {
  if (!SCHEMES.includes(scheme)) throw new InvalidInputError(`unknown quantization scheme ${JSON.stringify(scheme)}; choose one of ${SCHEMES}`);
  if (!vectors.length) throw new InvalidInputError("embeddings are empty");
  const dim = vectors[0].length;
  const n = vectors.length;
  for (const [i, v] of vectors.entries()) {
    if (v.length !== dim) throw new InvalidInputError(`embeddings[${i}] has dim ${v.length}, expected ${dim}`);
    for (let d = 0; d < dim; d++) if (!Number.isFinite(v[d])) throw new InvalidInputError("embeddings contain NaN or infinite values");
  }
  if (scheme === "ubinary" || scheme === "binary") {
    if (options.ranges) throw new InvalidInputError("binary schemes take no ranges (the threshold is 0)");
    const bpr = Math.ceil(dim / 8);
    const data = new Uint8Array(n * bpr);
    vectors.forEach((v, i) => data.set(packBits(v), i * bpr));
    if (scheme === "binary") for (let i = 0; i < data.length; i++) data[i] ^= 0x80;
    return { scheme, dim, n, bytesPerRow: bpr, data: scheme === "binary" ? new Int8Array(data.buffer) : data, ranges: null };
  }
  /** @type {[Float32Array, Float32Array]} */
  const ranges = options.ranges
    ? [Float32Array.from(options.ranges[0]), Float32Array.from(options.ranges[1])]
    : calibrationRanges(vectors);
  if (ranges[0].length !== dim || ranges[1].length !== dim) throw new InvalidInputError(`ranges must have shape (2, ${dim})`);
  const st = steps(ranges, scheme);
  const top = LEVELS[scheme] - 1;
  const codes = new Uint8Array(n * dim);
  vectors.forEach((v, i) => {
    for (let d = 0; d < dim; d++) {
      const q = Math.floor(f(f(f(v[d]) - ranges[0][d]) / st[d]));
      codes[i * dim + d] = Math.min(top, Math.max(0, q));
    }
  });
  if (scheme === "int8") {
    for (let i = 0; i < codes.length; i++) codes[i] ^= 0x80;
    return { scheme, dim, n, bytesPerRow: dim, data: new Int8Array(codes.buffer), ranges };
  }
  const bpr = Math.ceil(dim / 2);
  const data = new Uint8Array(n * bpr);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) data[i * bpr + (d >> 1)] |= d & 1 ? codes[i * dim + d] : codes[i * dim + d] << 4;
  }
  return { scheme, dim, n, bytesPerRow: bpr, data, ranges };
}

/**
 * Unsigned codes of row ``i`` of a scalar corpus.
 * @param {Quantized} q
 * @param {number} i
 */
export function codesOf(q, i) {
  const out = new Uint8Array(q.dim);
  const u = new Uint8Array(q.data.buffer, q.data.byteOffset + i * q.bytesPerRow, q.bytesPerRow);
  for (let d = 0; d < q.dim; d++) {
    out[d] = q.scheme === "int8" ? u[d] ^ 0x80 : d & 1 ? u[d >> 1] & 0x0f : u[d >> 1] >> 4;
  }
  return out;
}

/**
 * The packed bits (``ubinary`` form) of row ``i`` of a binary corpus.
 * @param {Quantized} q
 * @param {number} i
 */
export function bitsOf(q, i) {
  const u = new Uint8Array(q.data.buffer, q.data.byteOffset + i * q.bytesPerRow, q.bytesPerRow);
  return q.scheme === "binary" ? u.map((b) => b ^ 0x80) : u;
}

/**
 * Float32 reconstruction of row ``i``: bin centres (scalar), or 0/1 bits / ±1 signs (binary).
 * @param {Quantized} q
 * @param {number} i
 * @param {"bits" | "sign"} [reconstruction]
 */
export function dequantizeRow(q, i, reconstruction = "bits") {
  if (q.ranges) {
    const st = steps(q.ranges, q.scheme);
    const c = codesOf(q, i);
    return Float32Array.from(c, (code, d) => f(f(f(code + 0.5) * st[d]) + q.ranges[0][d]));
  }
  const bits = unpackBits(bitsOf(q, i), q.dim);
  return reconstruction === "sign" ? bits.map((b) => b * 2 - 1) : bits;
}

/**
 * Hamming distance of two packed rows.
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 */
export function hamming(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += POPCOUNT[a[i] ^ b[i]];
  return s;
}

/**
 * Hamming distances of a packed query to every row of a binary corpus.
 * @param {Uint8Array} query
 * @param {Quantized} corpus
 */
export function hammingDistances(query, corpus) {
  const bytes = new Uint8Array(corpus.data.buffer, corpus.data.byteOffset, corpus.data.byteLength);
  const flip = corpus.scheme === "binary" ? 0x80 : 0;
  const bpr = corpus.bytesPerRow;
  const out = new Uint16Array(corpus.n);
  for (let r = 0; r < corpus.n; r++) {
    let s = 0;
    const off = r * bpr;
    for (let j = 0; j < bpr; j++) s += POPCOUNT[(bytes[off + j] ^ flip) ^ query[j]];
    out[r] = s;
  }
  return out;
}

/**
 * Indices of the ``k`` largest scores, best first; equal scores rank the lower index first.
 * @param {ArrayLike<number>} scores
 * @param {number} k
 */
export function topk(scores, k) {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, Math.min(k, scores.length));
}

/**
 * @typedef {{indices: number[], scores: number[]}} SearchResult
 */

/**
 * Two-stage top-``k`` search of one float ``query`` in a quantized ``corpus``.
 * @param {ArrayLike<number>} query
 * @param {Quantized} corpus
 * @param {number} k
 * @param {{rescoreMultiplier?: number, rescore?: boolean, rescoreWith?: ArrayLike<number>[], reconstruction?: "bits" | "sign"}} [options]
 * @returns {SearchResult}
 */
export function search(query, corpus, k = 10, options = {}) {
  if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`k must be a positive integer, got ${k}`);
  if (query.length !== corpus.dim) throw new InvalidInputError(`query has dim ${query.length}, the corpus has dim ${corpus.dim}`);
  if (!corpus.n) throw new InvalidInputError("the corpus is empty");
  const multiplier = options.rescoreMultiplier ?? DEFAULT_RESCORE_MULTIPLIER[corpus.scheme];
  if (!Number.isInteger(multiplier) || multiplier < 1) throw new InvalidInputError(`rescoreMultiplier must be a positive integer, got ${multiplier}`);
  const rescore = options.rescore ?? true;
  const kEff = Math.min(k, corpus.n);
  const nCand = rescore ? Math.min(corpus.n, k * multiplier) : kEff;
  /** @type {number[]} */
  let cand;
  /** @type {number[]} */
  let first;
  if (corpus.ranges === null) {
    const dist = hammingDistances(packBits(query), corpus);
    cand = Array.from({ length: corpus.n }, (_, i) => i)
      .sort((a, b) => dist[a] - dist[b] || a - b)
      .slice(0, nCand);
    first = cand.map((i) => corpus.dim - 2 * dist[i]);
  } else {
    // the float query against the bin centres lo + (c + 0.5)·step
    const st = steps(corpus.ranges, corpus.scheme);
    const qs = Float64Array.from(st, (s, d) => f(query[d] * s));
    let base = 0;
    for (let d = 0; d < corpus.dim; d++) base += query[d] * f(corpus.ranges[0][d] + f(0.5 * st[d]));
    const scores = new Float64Array(corpus.n);
    for (let r = 0; r < corpus.n; r++) {
      const c = codesOf(corpus, r);
      let s = base;
      for (let d = 0; d < corpus.dim; d++) s += qs[d] * c[d];
      scores[r] = f(s);
    }
    cand = topk(scores, nCand);
    first = cand.map((i) => scores[i]);
  }
  if (!rescore) return { indices: cand.slice(0, kEff), scores: first.slice(0, kEff) };
  const rescored = cand.map((i) => {
    const v = options.rescoreWith ? options.rescoreWith[i] : dequantizeRow(corpus, i, options.reconstruction);
    let s = 0;
    for (let d = 0; d < corpus.dim; d++) s += query[d] * v[d];
    return f(s);
  });
  const keep = topk(rescored, kEff);
  return { indices: keep.map((j) => cand[j]), scores: keep.map((j) => rescored[j]) };
}
