/**
 * The text embedders: dense (sentence-transformers pooling), ColBERT multi-vector and SPLADE
 * sparse, each doing after the graph exactly what the Python runtime does (tessera_onnx/text/).
 * They are built by {@link loadModel} from an {@link Artifact} and a runtime (onnxruntime-node or
 * onnxruntime-web, see node.js / browser.js).
 * @module embedders
 */
import { ArtifactError, InvalidInputError, UnsupportedDimensionError } from "./errors.js";
import { denseToSparse, l2Normalize, layerNorm, maxsimScores, pool, sparseDot, spladePool, topKSparse, cosineSimilarity } from "./ops.js";
import { TesseraImage } from "./image.js";
import { TextTokenizer, prepareTexts, pyStrip, validateTexts } from "./text.js";

const KNOWN_INPUTS = ["input_ids", "attention_mask", "token_type_ids", "position_ids"];
/** Texts planned together (Python's ``WINDOW``); batches never span two windows. */
export const WINDOW = 2048;
/** Batches hold about ``batchSize × REFERENCE_LENGTH`` tokens. */
const REFERENCE_LENGTH = 32;
const MAX_COUNT_FACTOR = 16;
/** One batch's float32 SPLADE logits stay near this many bytes (Python's ``_LOGIT_BYTES``). */
const LOGIT_BYTES = 128 * 1024 * 1024;

/**
 * What a platform entry point provides: the onnxruntime module and how to build a session.
 * @typedef {object} Runtime
 * @property {any} ort  the onnxruntime module (``onnxruntime-node`` or ``onnxruntime-web``)
 * @property {(artifact: import("./artifact.js").Artifact, options: any, modelFile?: string) => Promise<any>} createSession
 * @property {string} name  ``"node"`` or ``"web"``
 */

/**
 * @param {ArrayLike<number>} values
 */
function toBigInt64(values) {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
}

/** Text settings of the manifest (``TextConfig`` in Python). */
function textConfig(/** @type {any} */ raw) {
  const cfg = {
    tokenizer_file: "tokenizer.json",
    max_length: 512,
    strip: true,
    lowercase: false,
    pad_token_id: 0,
    padding_side: "right",
    query_prefix: "",
    document_prefix: "",
    prompts: /** @type {Record<string, string>} */ ({}),
    ...(raw ?? {}),
  };
  if (!(cfg.max_length > 0)) throw new ArtifactError(`invalid TextConfig in manifest: max_length must be positive`);
  if (!["right", "left"].includes(cfg.padding_side)) {
    throw new ArtifactError(`invalid TextConfig in manifest: padding_side ${JSON.stringify(cfg.padding_side)}`);
  }
  return cfg;
}

/** Base of the three text embedders: tokenizer, session, padding and batching. */
export class TextEmbedder {
  /** @type {string} */
  static paradigm = "";

  /**
   * @param {import("./artifact.js").Artifact} artifact
   * @param {any} session  an onnxruntime ``InferenceSession``
   * @param {TextTokenizer} tokenizer
   * @param {Runtime} runtime
   * @param {{maxLength?: number, batchSize?: number}} options
   */
  constructor(artifact, session, tokenizer, runtime, options) {
    this.artifact = artifact;
    this.manifest = artifact.manifest;
    this.session = session;
    this.runtime = runtime;
    this.textConfig = textConfig(this.manifest.config.text);
    this.maxLength = options.maxLength ?? this.textConfig.max_length;
    this.tokenizer = tokenizer;
    this.batchSize = options.batchSize ?? 16;
    /** @type {Set<number>} */
    this._warnedDims = new Set();
    /** @type {Record<string, string>} */
    this._inputTypes = {};
    const meta = session.inputMetadata ?? [];
    for (const name of session.inputNames) {
      if (!KNOWN_INPUTS.includes(name)) {
        throw new ArtifactError(`graph input ${JSON.stringify(name)} is not one a text embedder can feed (${KNOWN_INPUTS})`);
      }
      const spec = meta.find((/** @type {any} */ m) => m.name === name);
      this._inputTypes[name] = spec?.type === "int32" ? "int32" : "int64";
    }
    if (!("input_ids" in this._inputTypes)) throw new ArtifactError("the graph has no input_ids input");
  }

  /**
   * Build an embedder of this class: tokenizer and session from the artifact (checksums verified).
   * @param {import("./artifact.js").Artifact} artifact
   * @param {Runtime} runtime
   * @param {{maxLength?: number, batchSize?: number, sessionOptions?: any, [key: string]: any}} [options]
   */
  static async create(artifact, runtime, options = {}) {
    const cls = /** @type {any} */ (this);
    if (artifact.manifest.paradigm !== cls.paradigm) {
      throw new ArtifactError(
        `${artifact.source.location} holds a ${JSON.stringify(artifact.manifest.paradigm)} model, not ` +
          `${JSON.stringify(cls.paradigm)}: load it with loadModel(...), which picks the right class`,
      );
    }
    const cfg = textConfig(artifact.manifest.config.text);
    if (options.maxLength !== undefined) {
      if (!Number.isInteger(options.maxLength) || options.maxLength < 2) {
        throw new InvalidInputError(`maxLength must be an integer >= 2, got ${options.maxLength}`);
      }
      if (options.maxLength > cfg.max_length) {
        throw new InvalidInputError(`maxLength ${options.maxLength} exceeds the model's maximum ${cfg.max_length}`);
      }
    }
    const verifying = artifact.verifyAll();
    verifying.catch(() => {}); // awaited below; a failure of the tokenizer read may come first
    const tokenizerBytes = await artifact.read(cfg.tokenizer_file);
    const tokenizer = new TextTokenizer(new TextDecoder().decode(tokenizerBytes), options.maxLength ?? cfg.max_length);
    await verifying; // a checksum failure explains a broken file best: check before building the session
    const session = await runtime.createSession(artifact, options.sessionOptions ?? {});
    artifact.release();
    return new cls(artifact, session, tokenizer, runtime, options);
  }

  /** The model id recorded in the manifest. */
  get modelId() {
    return this.manifest.model_id;
  }

  /** Width of the returned vectors. */
  get dimension() {
    return this.manifest.dim;
  }

  /**
   * Prompt text from ``prompt`` / ``promptName`` (``defaultPrefix`` when neither is given).
   * @param {{prompt?: string, promptName?: string}} options
   * @param {string} defaultPrefix
   */
  _resolvePrompt(options, defaultPrefix = "") {
    const { prompt, promptName } = options;
    if (prompt != null && promptName != null) throw new InvalidInputError("pass either prompt or promptName, not both");
    if (promptName != null) {
      const prompts = this.textConfig.prompts;
      if (!(promptName in prompts)) {
        throw new InvalidInputError(
          `promptName ${JSON.stringify(promptName)} is not defined for this model; it has ${JSON.stringify(Object.keys(prompts).sort())}`,
        );
      }
      return prompts[promptName];
    }
    if (prompt != null) {
      if (typeof prompt !== "string") throw new InvalidInputError(`prompt must be a string, got ${typeof prompt}`);
      return prompt;
    }
    return defaultPrefix;
  }

  _queryPrefix() {
    return this.textConfig.query_prefix || this.textConfig.prompts.query || "";
  }

  _documentPrefix() {
    if (this.textConfig.document_prefix) return this.textConfig.document_prefix;
    const p = this.textConfig.prompts;
    for (const k of ["document", "passage", "corpus"]) if (k in p) return p[k];
    return "";
  }

  /**
   * Prepared (prefixed, stripped, lowercased) texts.
   * @param {string[]} texts
   * @param {string} prefix
   */
  _prepare(texts, prefix) {
    return prepareTexts(texts, prefix, { strip: this.textConfig.strip, lowercase: this.textConfig.lowercase });
  }

  /**
   * Validate a truncation ``dimension``; ``null`` or the full width means no truncation.
   * @param {number | null | undefined} dimension
   * @returns {number | null}
   */
  _checkDimension(dimension) {
    if (dimension == null) return null;
    const full = this.manifest.dim;
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > full) {
      const offered = [...new Set([...this.manifest.matryoshka_dims, full])].sort((a, b) => b - a);
      throw new UnsupportedDimensionError(
        `dimension ${dimension} is not available for ${this.manifest.model_id}: pass an integer in 1..${full} ` +
          `(trained Matryoshka sizes: ${JSON.stringify(offered)})`,
      );
    }
    if (dimension === full) return null;
    if (!this.manifest.matryoshka_dims.includes(dimension) && !this._warnedDims.has(dimension)) {
      this._warnedDims.add(dimension);
      console.warn(`${this.manifest.model_id} was not trained for dimension ${dimension}; the truncated vectors may lose more quality`);
    }
    return dimension;
  }

  /**
   * Batches of text indices as the Python runtime plans them (``text/batching.py``), so that
   * batch-dependent graphs (int8 dynamic quantization, fp16) see the same batches: texts in windows
   * of {@link WINDOW}, each sorted longest first (stable) and cut into batches of
   * ``min(16 × batchSize, max(1, budget // longest))`` texts, ``budget = batchSize × 32`` tokens.
   * @param {number[][]} ids
   * @param {number} [batchSize]
   * @param {number} [tokenBudget]  a smaller budget (SPLADE logits)
   */
  _plan(ids, batchSize, tokenBudget) {
    const size = batchSize ?? this.batchSize;
    if (!Number.isInteger(size) || size < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${size}`);
    const budget = tokenBudget != null ? Math.min(tokenBudget, size * REFERENCE_LENGTH) : size * REFERENCE_LENGTH;
    const cap = size * MAX_COUNT_FACTOR;
    const batches = [];
    for (let w = 0; w < ids.length; w += WINDOW) {
      const order = [];
      for (let i = w; i < Math.min(ids.length, w + WINDOW); i++) order.push(i);
      order.sort((a, b) => ids[b].length - ids[a].length || a - b);
      let start = 0;
      while (start < order.length) {
        const longest = Math.max(1, ids[order[start]].length);
        const count = Math.min(cap, Math.max(1, Math.floor(budget / longest)));
        batches.push(order.slice(start, start + count));
        start += count;
      }
    }
    return batches;
  }

  /**
   * Pad the texts ``index`` of ``ids`` to ``length`` (default: the longest) with ``padId``.
   * @param {number[][]} ids
   * @param {number[]} index
   * @param {number} padId
   * @param {number} [length]
   * @returns {{ids: Int32Array, mask: Uint8Array, dims: [number, number]}}
   */
  _pad(ids, index, padId, length) {
    const width = length ?? Math.max(0, ...index.map((i) => ids[i].length));
    const out = new Int32Array(index.length * width).fill(padId);
    const mask = new Uint8Array(index.length * width);
    const left = this.textConfig.padding_side === "left";
    index.forEach((i, row) => {
      const n = Math.min(ids[i].length, width);
      const start = left ? width - n : 0;
      for (let t = 0; t < n; t++) {
        out[row * width + start + t] = ids[i][t];
        mask[row * width + start + t] = 1;
      }
    });
    return { ids: out, mask, dims: [index.length, width] };
  }

  /**
   * Run the graph on padded ids; returns the named output as ``{data, dims}`` float32.
   * @param {string} output
   * @param {{ids: Int32Array, mask: Uint8Array, dims: [number, number]}} batch
   * @returns {Promise<{data: Float32Array, dims: number[]}>}
   */
  async _run(output, batch) {
    const { Tensor } = this.runtime.ort;
    const [B, T] = batch.dims;
    /** @type {Record<string, any>} */
    const feeds = {};
    for (const [name, type] of Object.entries(this._inputTypes)) {
      /** @type {ArrayLike<number>} */
      let values;
      if (name === "input_ids") values = batch.ids;
      else if (name === "attention_mask") values = batch.mask;
      else if (name === "token_type_ids") values = new Uint8Array(B * T);
      else values = Int32Array.from({ length: B * T }, (_, i) => i % T);
      feeds[name] =
        type === "int32"
          ? new Tensor("int32", Int32Array.from(values), [B, T])
          : new Tensor("int64", toBigInt64(values), [B, T]);
    }
    const result = await this.session.run(feeds, [output]);
    const tensor = result[output];
    const data = tensor.type === "float32" ? tensor.data : Float32Array.from(tensor.data);
    return { data, dims: [...tensor.dims] };
  }

  /**
   * The first graph output among ``preferred``, else the first the manifest declares.
   * @param {string[]} preferred
   */
  _outputName(preferred) {
    const names = this.session.outputNames;
    for (const n of preferred) if (names.includes(n)) return n;
    const declared = this.manifest.outputs.filter((n) => names.includes(n));
    if (declared.length) return declared[0];
    throw new ArtifactError(`the graph outputs ${JSON.stringify(names)}; expected one of ${JSON.stringify(preferred)}`);
  }

  /** Release the onnxruntime session. */
  async dispose() {
    await this.session.release?.();
  }
}

// ------------------------------------------------------------------------------------------- dense

/**
 * Options of a dense encode call.
 * @typedef {object} DenseOptions
 * @property {number} [batchSize]
 * @property {string} [prompt]
 * @property {string} [promptName]
 * @property {number} [dimension]  keep the first ``dimension`` features (Matryoshka)
 * @property {boolean | null} [normalize]  ``true``: L2-normalise the result; ``null``: only a truncated vector of a normalising model is renormalised
 * @property {boolean} [rawPooled]  the pooling output before the model's Normalize / layer norm
 */

/** Dense embedder: ``encode(texts) -> Float32Array[]`` (one ``Float32Array`` for one string). */
export class TesseraDense extends TextEmbedder {
  static paradigm = "dense";

  /** @param {ConstructorParameters<typeof TextEmbedder>} args */
  constructor(...args) {
    super(...args);
    const options = /** @type {any} */ (args[4]);
    this.config = {
      pooling: "mean",
      normalize: true,
      layer_norm: false,
      include_prompt: true,
      pooled_in_graph: false,
      ...(this.manifest.config.dense ?? {}),
    };
    this._truncate = this._checkDimension(options.dimension);
    this.normalize = options.normalize ?? null;
    this._output = this._outputName(this.config.pooled_in_graph ? ["sentence_embedding"] : ["last_hidden_state", "token_embeddings"]);
  }

  get dimension() {
    return this._truncate ?? this.manifest.dim;
  }

  /**
   * Embed ``texts`` into float32 vectors.
   * @param {string | string[]} texts
   * @param {DenseOptions} [options]
   * @returns {Promise<any>}  ``Float32Array[]``, or one ``Float32Array`` for a string
   */
  async encode(texts, options = {}) {
    return this._encode(texts, this._resolvePrompt(options), options);
  }

  /**
   * :meth:`encode` with the model's query prefix (a ``prompt`` / ``promptName`` replaces it).
   * @param {string | string[]} texts
   * @param {DenseOptions} [options]
   */
  async encodeQueries(texts, options = {}) {
    return this._encode(texts, this._resolvePrompt(options, this._queryPrefix()), options);
  }

  /**
   * :meth:`encode` with the model's document prefix.
   * @param {string | string[]} texts
   * @param {DenseOptions} [options]
   */
  async encodeDocuments(texts, options = {}) {
    return this._encode(texts, this._resolvePrompt(options, this._documentPrefix()), options);
  }

  /**
   * Cosine similarity matrix; each side is vectors or texts.
   * @param {string | string[] | ArrayLike<number>[]} a
   * @param {string | string[] | ArrayLike<number>[]} b
   */
  async similarity(a, b) {
    const asVectors = async (/** @type {any} */ x) =>
      typeof x === "string" || (Array.isArray(x) && typeof x[0] === "string") ? [].concat(await this.encode(x)) : x;
    return cosineSimilarity(await asVectors(a), await asVectors(b));
  }

  /**
   * @param {string | string[]} texts
   * @param {string} prefix
   * @param {DenseOptions} options
   */
  async _encode(texts, prefix, options) {
    const [items, single] = validateTexts(texts);
    const truncate = options.dimension === undefined ? this._truncate : this._checkDimension(options.dimension);
    const normalize = options.normalize === undefined ? this.normalize : options.normalize;
    const rawPooled = options.rawPooled ?? false;
    let skip = 0;
    if (prefix && !this.config.include_prompt) {
      skip = this.tokenizer.specialPrefixLength(this.textConfig.strip ? pyStrip(prefix) : prefix);
    }
    const prepared = this._prepare(items, prefix);
    const { ids } = this.tokenizer.encode(prepared, this.maxLength);
    /** @type {Float32Array[]} */
    const out = new Array(items.length);
    for (const index of this._plan(ids, options.batchSize)) {
      const batch = this._pad(ids, index, this.textConfig.pad_token_id);
      const result = await this._run(this._output, batch);
      let rows;
      if (this.config.pooled_in_graph) {
        const D = result.dims[result.dims.length - 1];
        rows = index.map((_, r) => result.data.slice(r * D, (r + 1) * D));
      } else {
        let mask = batch.mask;
        if (skip) {
          mask = mask.slice();
          const T = batch.dims[1];
          for (let r = 0; r < index.length; r++) for (let t = 0; t < Math.min(skip, T); t++) mask[r * T + t] = 0;
        }
        rows = pool(result, mask, this.config.pooling);
      }
      index.forEach((i, r) => {
        out[i] = this._postprocess(rows[r], truncate, normalize, rawPooled);
      });
    }
    return single ? out[0] : out;
  }

  /**
   * The model's modules after pooling, truncation, then the caller's normalisation.
   * @param {Float32Array} row
   * @param {number | null} truncate
   * @param {boolean | null} normalize
   * @param {boolean} rawPooled
   */
  _postprocess(row, truncate, normalize, rawPooled) {
    let modelL2 = false;
    if (!rawPooled) {
      if (this.config.layer_norm) {
        layerNorm(row);
        modelL2 = true;
      } else if (this.config.normalize) {
        l2Normalize(row);
      }
    }
    if (truncate) row = row.slice(0, truncate);
    const final = normalize == null ? modelL2 || (Boolean(truncate) && this.config.normalize && !rawPooled) : normalize || modelL2;
    if (final) l2Normalize(row);
    return row;
  }
}

// ------------------------------------------------------------------------------------ multi-vector

/** ColBERT late-interaction embedder (Stanford and PyLate rules). */
export class TesseraMultiVector extends TextEmbedder {
  static paradigm = "multi_vector";

  /** @param {ConstructorParameters<typeof TextEmbedder>} args */
  constructor(...args) {
    super(...args);
    const options = /** @type {any} */ (args[4]);
    this.config = {
      query_marker_id: 1,
      document_marker_id: 2,
      mask_token_id: 103,
      query_length: 32,
      document_length: 180,
      attend_to_expansion_tokens: false,
      do_query_expansion: true,
      skiplist_ids: /** @type {number[]} */ ([]),
      normalize: true,
      ...(this.manifest.config.multi_vector ?? {}),
    };
    this._truncate = this._checkDimension(options.dimension);
    this._output = this._outputName(["token_embeddings", "last_hidden_state"]);
    this._skiplist = new Set(this.config.skiplist_ids);
    this.queryLength = Math.min(this.config.query_length, this.maxLength);
    this.documentLength = Math.min(this.config.document_length, this.maxLength);
  }

  get dimension() {
    return this._truncate ?? this.manifest.dim;
  }

  /**
   * Query token matrices (``queryLength`` rows each with query expansion).
   * @param {string | string[]} texts
   * @param {{batchSize?: number, dimension?: number}} [options]
   */
  async encodeQueries(texts, options = {}) {
    return this._encode(texts, true, options);
  }

  /**
   * Document token matrices (punctuation and padding rows dropped).
   * @param {string | string[]} texts
   * @param {{batchSize?: number, dimension?: number}} [options]
   */
  async encodeDocuments(texts, options = {}) {
    return this._encode(texts, false, options);
  }

  /**
   * Documents, or queries with ``isQuery``.
   * @param {string | string[]} texts
   * @param {{isQuery?: boolean, batchSize?: number, dimension?: number}} [options]
   */
  async encode(texts, options = {}) {
    return this._encode(texts, Boolean(options.isQuery), options);
  }

  /**
   * MaxSim scores ``[queries][documents]``; each side is multi-vectors or texts.
   * @param {any} queries
   * @param {any} documents
   */
  async similarity(queries, documents) {
    const asList = async (/** @type {any} */ x, /** @type {boolean} */ q) =>
      typeof x === "string" || (Array.isArray(x) && typeof x[0] === "string") ? [].concat(await this._encode(x, q, {})) : [].concat(x);
    return maxsimScores(await asList(queries, true), await asList(documents, false));
  }

  /**
   * @param {string | string[]} texts
   * @param {boolean} isQuery
   * @param {{batchSize?: number, dimension?: number}} options
   * @returns {Promise<any>}
   */
  async _encode(texts, isQuery, options) {
    const [items, single] = validateTexts(texts);
    const truncate = options.dimension === undefined ? this._truncate : this._checkDimension(options.dimension);
    const cfg = this.config;
    const length = isQuery ? this.queryLength : this.documentLength;
    const marker = isQuery ? cfg.query_marker_id : cfg.document_marker_id;
    const expand = isQuery && cfg.do_query_expansion;
    const width = truncate ?? this.manifest.dim;
    const prepared = this._prepare(items, "");
    const { ids } = this.tokenizer.encode(prepared, length - 1);
    const marked = ids.map((row) => [...row.slice(0, 1), marker, ...row.slice(1)]);
    /** @type {import("./ops.js").MultiVector[]} */
    const out = new Array(items.length);
    for (const index of this._plan(ids, options.batchSize)) {
      const batch = expand ? this._pad(marked, index, cfg.mask_token_id, length) : this._pad(marked, index, this.textConfig.pad_token_id);
      if (expand && cfg.attend_to_expansion_tokens) batch.mask.fill(1);
      const runMask = batch.mask;
      const hidden = await this._run(this._output, batch);
      const [, T, D] = hidden.dims;
      index.forEach((i, r) => {
        const rows = [];
        for (let t = 0; t < T; t++) {
          const keep = expand || (runMask[r * T + t] === 1 && (isQuery || !this._skiplist.has(batch.ids[r * T + t])));
          if (!keep) continue;
          const v = hidden.data.slice((r * T + t) * D, (r * T + t) * D + width);
          rows.push(cfg.normalize ? l2Normalize(v) : v);
        }
        const data = new Float32Array(rows.length * width);
        rows.forEach((v, j) => data.set(v, j * width));
        out[i] = { data, rows: rows.length, dim: width };
      });
    }
    return single ? out[0] : out;
  }
}

// ------------------------------------------------------------------------------------------ sparse

/** SPLADE embedder: one sparse vector over the vocabulary per text. */
export class TesseraSparse extends TextEmbedder {
  static paradigm = "sparse";

  /** @param {ConstructorParameters<typeof TextEmbedder>} args */
  constructor(...args) {
    super(...args);
    const options = /** @type {any} */ (args[4]);
    this.config = { activation: "log1p_relu", aggregation: "max", pooled_in_graph: true, vocab_size: 30522, ...(this.manifest.config.sparse ?? {}) };
    this.topK = options.topK ?? null;
    const names = this.session.outputNames;
    this._pooled = names.includes("sparse_embedding") ? true : names.includes("logits") ? false : this.config.pooled_in_graph;
    this._output = this._outputName(this._pooled ? ["sparse_embedding"] : ["logits"]);
    this._vocabSize = this.manifest.dim || this.config.vocab_size;
  }

  /** Vocabulary size: the length of a densified vector. */
  get dimension() {
    return this._vocabSize;
  }

  /**
   * One sparse vector per text (one for a string).
   * @param {string | string[]} texts
   * @param {{batchSize?: number, topK?: number, prompt?: string, promptName?: string}} [options]
   */
  async encode(texts, options = {}) {
    return this._encode(texts, this._resolvePrompt(options), options);
  }

  /**
   * @param {string | string[]} texts
   * @param {{batchSize?: number, topK?: number, prompt?: string, promptName?: string}} [options]
   */
  async encodeQueries(texts, options = {}) {
    return this._encode(texts, this._resolvePrompt(options, this._queryPrefix()), options);
  }

  /**
   * @param {string | string[]} texts
   * @param {{batchSize?: number, topK?: number, prompt?: string, promptName?: string}} [options]
   */
  async encodeDocuments(texts, options = {}) {
    return this._encode(texts, this._resolvePrompt(options, this._documentPrefix()), options);
  }

  /**
   * Dot-product matrix of sparse vectors (or texts: queries on the left, documents on the right).
   * @param {any} a
   * @param {any} b
   */
  async similarity(a, b) {
    const asList = async (/** @type {any} */ x, /** @type {boolean} */ q) =>
      typeof x === "string" || (Array.isArray(x) && typeof x[0] === "string")
        ? [].concat(q ? await this.encodeQueries(x) : await this.encodeDocuments(x))
        : [].concat(x);
    const left = await asList(a, true);
    const right = await asList(b, false);
    return left.map((x) => right.map((y) => sparseDot(x, y)));
  }

  /**
   * ``{token: weight}`` by decreasing weight.
   * @param {import("./ops.js").SparseVector} v
   * @param {number} [topK]
   */
  decode(v, topK) {
    const vocab = this.tokenizer.vocabulary;
    const order = Array.from(v.indices.keys()).sort((x, y) => v.values[y] - v.values[x] || v.indices[x] - v.indices[y]);
    /** @type {Record<string, number>} */
    const out = {};
    for (const i of order.slice(0, topK ?? order.length)) out[vocab[v.indices[i]] ?? String(v.indices[i])] = v.values[i];
    return out;
  }

  /**
   * @param {string | string[]} texts
   * @param {string} prefix
   * @param {{batchSize?: number, topK?: number}} options
   * @returns {Promise<any>}
   */
  async _encode(texts, prefix, options) {
    const [items, single] = validateTexts(texts);
    const k = options.topK ?? this.topK;
    if (k != null && (!Number.isInteger(k) || k < 1)) throw new InvalidInputError(`topK must be a positive integer, got ${k}`);
    const { ids } = this.tokenizer.encode(this._prepare(items, prefix), this.maxLength);
    /** @type {import("./ops.js").SparseVector[]} */
    const out = new Array(items.length);
    const budget = Math.max(1, Math.floor(LOGIT_BYTES / (4 * this._vocabSize)));
    for (const index of this._plan(ids, options.batchSize, budget)) {
      const batch = this._pad(ids, index, this.textConfig.pad_token_id);
      const result = await this._run(this._output, batch);
      let rows;
      if (this._pooled) {
        const V = result.dims[result.dims.length - 1];
        rows = index.map((_, r) => result.data.subarray(r * V, (r + 1) * V));
      } else {
        rows = spladePool(result, batch.mask, this.config.activation, this.config.aggregation);
      }
      index.forEach((i, r) => {
        const sparse = denseToSparse(rows[r]);
        out[i] = k != null ? topKSparse(sparse, k) : sparse;
      });
    }
    return single ? out[0] : out;
  }
}

export const EMBEDDERS = /** @type {Record<string, any>} */ ({
  dense: TesseraDense,
  multi_vector: TesseraMultiVector,
  sparse: TesseraSparse,
});

/**
 * Open an artifact and build the embedder its paradigm needs.
 * @param {import("./artifact.js").Artifact} artifact
 * @param {Runtime} runtime
 * @param {object} [options]
 * @returns {Promise<any>}  a TesseraDense, TesseraMultiVector, TesseraSparse or (vision) TesseraImage
 */
export async function createEmbedder(artifact, runtime, options = {}) {
  if (artifact.manifest.paradigm === "vision") return TesseraImage.create(artifact, runtime, options);
  const cls = EMBEDDERS[artifact.manifest.paradigm];
  if (!cls) {
    throw new ArtifactError(
      `${artifact.source.location} holds a ${JSON.stringify(artifact.manifest.paradigm)} model; the JavaScript runtime ` +
        `runs the ${Object.keys(EMBEDDERS).join(", ")} paradigms and the image tower of vision artifacts`,
    );
  }
  return cls.create(artifact, runtime, options);
}
