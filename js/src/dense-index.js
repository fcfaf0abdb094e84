/**
 * Reading and searching the Python runtime's saved ``DenseIndex`` (tessera_onnx/index/store.py):
 * one uncompressed zip holding ``manifest.json`` (format ``tessera-index``), ``records.json`` (ids and
 * metadata) and ``arrays/vectors.npy``; every member is checked against the sha256 and size its
 * manifest records. Search is that of ``DenseIndex.search``: exact dot products, or the two-stage
 * search of the index's ``compression`` (binary / int8 / int4 codes, rescored with the floats).
 * @module dense-index
 */
import { unzipSync } from "fflate";
import { IndexStoreError, InvalidInputError } from "./errors.js";
import { readNpy } from "./npy.js";
import { quantize, search as quantizedSearch, topk } from "./quantization.js";
import { sha256Hex } from "./sha256.js";

export const INDEX_FORMAT = "tessera-index";
export const INDEX_FORMAT_VERSION = 1;

/**
 * One search result.
 * @typedef {{id: string | number, score: number, metadata: Record<string, any>}} Hit
 */

/**
 * Keep documents whose metadata matches: ``{key: value}``, ``{key: [v1, v2]}`` (any of) or a function.
 * @typedef {Record<string, any> | ((metadata: Record<string, any>) => boolean)} Filter
 */

/**
 * Equality of JSON values as Python compares them after ``json.loads`` (``1 == 1.0``, ``true == 1``).
 * @param {any} a
 * @param {any} b
 * @returns {boolean}
 */
function pyEqual(a, b) {
  if (typeof a === "boolean") a = Number(a);
  if (typeof b === "boolean") b = Number(b);
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEqual(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && pyEqual(a[k], b[k]));
  }
  return false;
}

/** A saved dense index, read for searching. */
export class DenseIndex {
  /**
   * @param {{dim: number, compression: string | null, rescore_multiplier: number | null}} config
   * @param {(string | number)[]} ids
   * @param {Record<string, any>[]} metadata
   * @param {Float32Array} vectors  ``n × dim``
   */
  constructor(config, ids, metadata, vectors) {
    this.dim = config.dim;
    this.compression = config.compression ?? null;
    this.rescoreMultiplier = config.rescore_multiplier ?? null;
    this.ids = ids;
    this.metadata = metadata;
    this.vectors = vectors;
    /** @type {Map<string, any>} */
    this._cache = new Map();
  }

  /** Number of documents. */
  get size() {
    return this.ids.length;
  }

  /**
   * Read an index file's bytes, checking every member against its sha256.
   * @param {Uint8Array} bytes
   * @param {string} [location]
   */
  static async fromBytes(bytes, location = "index") {
    /** @type {Record<string, Uint8Array>} */
    let members;
    try {
      members = unzipSync(bytes);
    } catch (err) {
      throw new IndexStoreError(
        `${location} is not a readable tessera index (${err}); it is truncated or corrupted: restore it from a backup or rebuild the index`,
      );
    }
    const json = (/** @type {string} */ name) => {
      try {
        return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(members[name]));
      } catch (err) {
        throw new IndexStoreError(`${location}: ${name} is not valid JSON (${err}); the file is corrupted`);
      }
    };
    if (!members["manifest.json"]) throw new IndexStoreError(`${location} is not a tessera index file (no manifest.json)`);
    const manifest = json("manifest.json");
    if (!manifest || manifest.format !== INDEX_FORMAT) {
      throw new IndexStoreError(`${location} is not a tessera index file (format ${JSON.stringify(manifest?.format)})`);
    }
    const version = manifest.format_version;
    if (!Number.isInteger(version) || version < 1 || version > INDEX_FORMAT_VERSION) {
      throw new IndexStoreError(`${location} has index format version ${version}; this package reads up to ${INDEX_FORMAT_VERSION}: upgrade it`);
    }
    const files = manifest.files;
    if (!files || typeof files !== "object" || !files["records.json"]) {
      throw new IndexStoreError(`${location}: the manifest lists no records.json; the file is corrupted`);
    }
    for (const [name, entry] of Object.entries(files)) {
      const data = members[name];
      if (!data || data.length !== entry.size || (await sha256Hex(data)) !== entry.sha256) {
        throw new IndexStoreError(
          `${location}: member ${JSON.stringify(name)} does not match the sha256/size in its manifest: the file is corrupted; ` +
            "restore it from a backup or rebuild the index",
        );
      }
    }
    if (manifest.kind !== "dense") {
      throw new IndexStoreError(`${location} holds a ${JSON.stringify(manifest.kind)} index; the JavaScript package reads dense indexes`);
    }
    const records = json("records.json");
    if (!files["arrays/vectors.npy"]) throw new IndexStoreError(`${location}: no arrays/vectors.npy; rebuild the index`);
    const vectors = readNpy(members["arrays/vectors.npy"], `${location}: arrays/vectors.npy`);
    const config = manifest.config;
    const n = records.ids?.length;
    if (
      vectors.dtype !== "<f4" ||
      vectors.shape.length !== 2 ||
      vectors.shape[1] !== config.dim ||
      vectors.shape[0] !== n ||
      records.metadata?.length !== n
    ) {
      throw new IndexStoreError(`${location}: inconsistent index contents (vectors ${vectors.shape}, ${n} ids); rebuild the index`);
    }
    return new DenseIndex(config, records.ids, records.metadata, vectors.data);
  }

  /**
   * Stored vector of row ``r`` (a view).
   * @param {number} r
   */
  row(r) {
    return this.vectors.subarray(r * this.dim, (r + 1) * this.dim);
  }

  /**
   * Rows kept by ``filter`` (``null``: all).
   * @param {Filter | undefined} filter
   * @returns {number[] | null}
   */
  _filterRows(filter) {
    if (filter == null) return null;
    /** @type {(m: Record<string, any>) => boolean} */
    let test;
    if (typeof filter === "function") test = filter;
    else if (typeof filter === "object") {
      const wanted = Object.entries(filter).map(([k, v]) => /** @type {[string, any[]]} */ ([k, Array.isArray(v) ? v : [v]]));
      test = (m) => wanted.every(([k, vs]) => k in m && vs.some((v) => pyEqual(m[k], v)));
    } else {
      throw new InvalidInputError("filter must be an object {key: value or [values]} or a function(metadata) -> boolean");
    }
    const rows = [];
    for (let r = 0; r < this.size; r++) if (test(this.metadata[r])) rows.push(r);
    return rows;
  }

  /**
   * The ``k`` best documents for ``query`` (fewer if fewer match), best first.
   * @param {ArrayLike<number>} query  one vector of width ``dim``
   * @param {number} [k]
   * @param {{filter?: Filter, exact?: boolean, rescoreMultiplier?: number}} [options]
   * @returns {Hit[]}
   */
  search(query, k = 10, options = {}) {
    if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`k must be a positive integer, got ${k}`);
    if (!query || query.length !== this.dim) {
      throw new InvalidInputError(`query must have shape (${this.dim},), got ${query?.length}: wrong dimension`);
    }
    for (let d = 0; d < this.dim; d++) if (!Number.isFinite(query[d])) throw new InvalidInputError("query contains NaN or infinite values");
    if (!this.size) return [];
    const rows = this._filterRows(options.filter);
    if (rows && !rows.length) return [];
    const q = Float32Array.from(query);
    const all = rows ?? Array.from({ length: this.size }, (_, i) => i);
    /** @type {number[]} */
    let found;
    /** @type {number[]} */
    let scores;
    if (options.exact || this.compression === null) {
      const s = all.map((r) => {
        let acc = 0;
        const off = r * this.dim;
        for (let d = 0; d < this.dim; d++) acc += this.vectors[off + d] * q[d];
        return Math.fround(acc);
      });
      const keep = topk(s, k);
      found = keep.map((j) => all[j]);
      scores = keep.map((j) => s[j]);
    } else {
      const scheme = this.compression;
      let codes = this._cache.get(scheme);
      if (!codes) {
        const vectors = Array.from({ length: this.size }, (_, r) => this.row(r));
        codes = quantize(vectors, scheme);
        this._cache.set(scheme, codes);
      }
      let subset = codes;
      if (rows) {
        const bpr = codes.bytesPerRow;
        const data = new /** @type {any} */ (codes.data.constructor)(rows.length * bpr);
        rows.forEach((r, i) => data.set(codes.data.subarray(r * bpr, (r + 1) * bpr), i * bpr));
        subset = { ...codes, n: rows.length, data };
      }
      const res = quantizedSearch(q, subset, k, {
        rescoreMultiplier: options.rescoreMultiplier ?? this.rescoreMultiplier ?? undefined,
        rescoreWith: all.map((r) => this.row(r)),
      });
      const pairs = res.indices.map((j, i) => /** @type {[number, number]} */ ([all[j], res.scores[i]]));
      pairs.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      found = pairs.map((p) => p[0]);
      scores = pairs.map((p) => p[1]);
    }
    return found.map((r, i) => ({ id: this.ids[r], score: scores[i], metadata: { ...this.metadata[r] } }));
  }
}
