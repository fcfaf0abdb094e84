// Cross-runtime parity: run this package on every fixture artifact and compare with the Python
// runtime's outputs (written by scripts/js_fixtures.py). Platform-neutral: Node and the browser
// pass their own loadModel and JSON reader, so both report the same checks.
import { pixelValues } from "../src/image.js";
import { pyStrip } from "../src/text.js";

/**
 * Artifacts compared, with their paradigm. ``cell``: the artifact backs that row of the Python
 * cross-runtime table (benchmarks/cross_runtime_parity.py; keyed ``paradigm/precision``, vision
 * split into its image and text towers) — the tiny random models of the same architecture as the
 * table's rows; the other cases are covered here (and in the Node tests) but not in that table.
 */
export const CASES = [
  { name: "tiny-bert-dense", paradigm: "dense", cell: true },
  { name: "tiny-bert-dense-fp16", paradigm: "dense", cell: true },
  { name: "tiny-bert-dense-int8", paradigm: "dense", cell: true },
  { name: "tiny-bert-dense-prompts", paradigm: "dense" },
  { name: "tiny-bert-dense-cls", paradigm: "dense" },
  { name: "tiny-bert-dense-max", paradigm: "dense" },
  { name: "tiny-bert-dense-mean_sqrt_len", paradigm: "dense" },
  { name: "tiny-bert-dense-weightedmean", paradigm: "dense" },
  { name: "tiny-bert-dense-lasttoken", paradigm: "dense" },
  { name: "all-minilm-l6-v2", paradigm: "dense", minilm: true, cell: true },
  { name: "all-minilm-l6-v2-fp16", paradigm: "dense", minilm: true, cell: true },
  // the real model's int8 in onnxruntime-web WASM: 1.2e-2 from the native kernels (cosine >= 0.9989
  // per vector; the same in WASM under Node, so the kernels and not Chromium), over the tiny models'
  // 5e-3 and under int8's own error (cosine floor 0.98 vs fp32): its own browser bound
  { name: "all-minilm-l6-v2-int8", paradigm: "dense", minilm: true, cell: true, tolerance: { browser: 2e-2 } },
  { name: "tiny-colbert", paradigm: "multi_vector", cell: true },
  { name: "tiny-colbert-fp16", paradigm: "multi_vector", cell: true },
  { name: "tiny-colbert-int8", paradigm: "multi_vector", cell: true },
  { name: "tiny-splade", paradigm: "sparse", cell: true },
  { name: "tiny-splade-logits", paradigm: "sparse", cell: true },
  { name: "tiny-splade-fp16", paradigm: "sparse", cell: true },
  { name: "tiny-splade-int8", paradigm: "sparse", cell: true },
  { name: "tiny-siglip", paradigm: "vision", cell: true },
  { name: "tiny-siglip-masked", paradigm: "vision" },
  { name: "tiny-siglip-fp16", paradigm: "vision", cell: true },
  { name: "tiny-siglip-int8", paradigm: "vision", cell: true },
  { name: "tiny-siglip2", paradigm: "vision" },
  { name: "tiny-clip", paradigm: "vision" },
];

/** @param {any} x */
const flat = (x) => (ArrayBuffer.isView(x) ? Array.from(/** @type {any} */ (x)) : Array.isArray(x) ? x.flatMap(flat) : [x]);

/**
 * Largest |a - b| of two nested numeric arrays (Infinity when their sizes differ).
 * @param {any} a
 * @param {any} b
 */
export function maxAbsDiff(a, b) {
  const x = flat(a);
  const y = flat(b);
  if (x.length !== y.length) return Infinity;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** @param {{data: Float32Array, rows: number, dim: number}} mv */
const rows = (mv) => Array.from({ length: mv.rows }, (_, i) => Array.from(mv.data.subarray(i * mv.dim, (i + 1) * mv.dim)));

/**
 * Compare one artifact: ``{name, paradigm, precision, tokens_equal, max_abs_diff, structure_equal}``.
 * @param {(artifact: string) => Promise<any>} load  loads an artifact by its fixture-relative path
 * @param {(name: string) => Promise<any>} readExpected  the parsed expected/<name>.json
 * @param {(rel: string) => Promise<Uint8Array>} readBytes  a fixture file's bytes (RGBA images)
 * @param {{name: string, paradigm: string, tolerance?: Record<string, number>}} c  ``tolerance``:
 *   this case's own bound per runtime (``node``/``browser``) instead of its precision's
 */
export async function compareCase(load, readExpected, readBytes, c) {
  const exp = await readExpected(c.paradigm === "vision" ? `${c.name}.images` : c.name);
  const model = await load(exp.artifact);
  const diffs = [];
  let tokens = true;
  let structure = true;
  /** @type {number | undefined} */
  let pixels;
  /** @type {Record<string, number> | undefined} */
  let parts;
  if (c.paradigm === "vision") {
    pixels = 0;
    const images = [];
    for (const image of exp.images) {
      const px = { data: await readBytes(image.file), width: image.width, height: image.height };
      pixels = Math.max(pixels, maxAbsDiff(pixelValues(px, model.imageConfig).data, image.pixel_values));
      images.push(maxAbsDiff(await model.encodeImages(px), image.embedding));
    }
    const text = await readExpected(`${c.name}.texts`);
    const { inputIds, attentionMask } = await model.tokenize(text.texts);
    tokens = JSON.stringify(inputIds) === JSON.stringify(text.input_ids) && JSON.stringify(attentionMask) === JSON.stringify(text.attention_mask);
    parts = { images: Math.max(...images), texts: maxAbsDiff(await model.encodeTexts(text.texts), text.encode_texts) };
    diffs.push(parts.images, parts.texts);
  } else if (c.paradigm === "dense") {
    tokens = JSON.stringify(model.tokenizer.encode(exp.prepared).ids) === JSON.stringify(exp.token_ids);
    diffs.push(maxAbsDiff(await model.encode(exp.texts), exp.encode));
    diffs.push(maxAbsDiff(await model.encodeQueries(exp.queries), exp.encode_queries));
    diffs.push(maxAbsDiff(await model.encodeDocuments(exp.texts), exp.encode_documents));
    for (const [dim, v] of Object.entries(exp.dimensions)) diffs.push(maxAbsDiff(await model.encode(exp.texts, { dimension: Number(dim) }), v));
  } else if (c.paradigm === "multi_vector") {
    tokens = JSON.stringify(model.tokenizer.encode(exp.queries, model.queryLength - 1).ids) === JSON.stringify(exp.query_token_ids);
    const q = await model.encodeQueries(exp.queries);
    const d = await model.encodeDocuments(exp.texts);
    structure = d.every((/** @type {any} */ x, /** @type {number} */ i) => x.rows === exp.encode_documents[i].length);
    diffs.push(maxAbsDiff(q.map(rows), exp.encode_queries), maxAbsDiff(d.map(rows), exp.encode_documents));
    diffs.push(maxAbsDiff(await model.similarity(q, d), exp.similarity));
  } else {
    tokens = JSON.stringify(model.tokenizer.encode(exp.texts.map(pyStrip)).ids) === JSON.stringify(exp.token_ids);
    const docs = await model.encode(exp.texts);
    structure = docs.every((/** @type {any} */ x, /** @type {number} */ i) => JSON.stringify(Array.from(x.indices)) === JSON.stringify(exp.encode[i].indices));
    diffs.push(maxAbsDiff(docs.map((/** @type {any} */ x) => x.values), exp.encode.map((/** @type {any} */ x) => x.values)));
  }
  await (model.dispose?.() ?? model.session.release?.());
  return {
    name: c.name,
    paradigm: c.paradigm,
    precision: model.manifest.precision,
    tokens_equal: tokens,
    structure_equal: structure,
    max_abs_diff: Math.max(...diffs),
    ...(pixels === undefined ? {} : { pixel_values_max_abs_diff: pixels }),
    ...(parts === undefined ? {} : { outputs: parts }),
    ...(c.tolerance ? { tolerance: c.tolerance } : {}),
    cells: c.cell ? cellsOf(c, model.manifest, Math.max(...diffs), parts) : {},
  };
}

/**
 * The Python parity table's cells this case backs: ``paradigm/precision`` (vision:
 * ``vision/<precision>/images`` and ``.../texts``; the real model: ``<model id>:dense/<precision>``,
 * its manifest's model id, the same at every precision).
 * @param {{name: string, paradigm: string, minilm?: boolean}} c
 * @param {{precision: string, model_id: string}} manifest
 * @param {number} diff
 * @param {Record<string, number> | undefined} parts
 * @returns {Record<string, number>}
 */
function cellsOf(c, manifest, diff, parts) {
  const key = `${c.minilm ? `${manifest.model_id}:` : ""}${c.paradigm}/${manifest.precision}`;
  if (!parts) return { [key]: diff };
  return Object.fromEntries(Object.entries(parts).map(([part, d]) => [`${key}/${part}`, d]));
}

/**
 * The Python table's ``--js`` cells of a Node and a browser run: per key, the largest difference of
 * the cases that back it.
 * @param {any[]} node
 * @param {any[] | null} browser
 * @returns {Record<string, Record<string, number | string>>}
 */
export function tableCells(node, browser) {
  /** @type {Record<string, Record<string, number | string>>} */
  const out = {};
  for (const [column, rows] of /** @type {[string, any[] | null][]} */ ([["Node", node], ["browser WASM", browser]])) {
    for (const r of rows ?? []) {
      for (const [key, d] of Object.entries(/** @type {Record<string, number>} */ (r.cells))) {
        out[key] ??= {};
        const prev = out[key][column] ?? 0;
        // ids that differ make the cell say so (and the parity run fail), whatever the vectors
        out[key][column] = typeof prev === "string" || !r.tokens_equal || !r.structure_equal ? "ids differ" : Math.max(prev, d);
      }
    }
  }
  return out;
}

/**
 * Compare every case (``minilm`` false: skip the real-model case).
 * @param {(artifact: string) => Promise<any>} load
 * @param {(name: string) => Promise<any>} readExpected
 * @param {(rel: string) => Promise<Uint8Array>} readBytes
 * @param {{minilm?: boolean}} [options]
 */
export async function compareAll(load, readExpected, readBytes, options = {}) {
  const out = [];
  for (const c of CASES) if (!c.minilm || options.minilm) out.push(await compareCase(load, readExpected, readBytes, c));
  return out;
}
