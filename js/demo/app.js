// The demo page: load an artifact and a dense index from static files, search on submit.
// URL parameters: ?model=<artifact base URL>&index=<index file URL>&k=<hits>
import { loadIndex, loadModel } from "../src/browser.js";

const params = new URLSearchParams(location.search);
const modelUrl = params.get("model") ?? "./data/model/";
const indexUrl = params.get("index") ?? "./data/passages.tessera-index";
const k = Number(params.get("k") ?? 10);

const status = /** @type {HTMLElement} */ (document.getElementById("status"));
const input = /** @type {HTMLInputElement} */ (document.getElementById("query"));
const button = /** @type {HTMLButtonElement} */ (document.getElementById("go"));
const results = /** @type {HTMLOListElement} */ (document.getElementById("results"));

const started = performance.now();
const ready = Promise.all([loadModel(modelUrl, { wasmPaths: new URL("./", location.href).href }), loadIndex(indexUrl)]);

/**
 * Embed ``query`` and return the index's top ``k``.
 * @param {string} query
 */
async function search(query) {
  const [model, index] = await ready;
  const vector = await model.encodeQueries(query);
  return index.search(vector, k);
}

/** @param {string} query */
async function show(query) {
  const t0 = performance.now();
  const hits = await search(query);
  const ms = performance.now() - t0;
  results.replaceChildren(
    ...hits.map((hit) => {
      const li = document.createElement("li");
      li.dataset.id = String(hit.id);
      li.dataset.score = String(hit.score);
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = hit.score.toFixed(4);
      const text = document.createElement("span");
      text.className = "text";
      const passage = String(hit.metadata.text ?? hit.id);
      text.textContent = passage.length > 240 ? `${passage.slice(0, 240)}…` : passage;
      li.append(score, text);
      return li;
    }),
  );
  status.textContent = `${hits.length} hits for “${query}” in ${ms.toFixed(0)} ms`;
  document.body.dataset.query = query;
}

ready.then(
  ([model, index]) => {
    status.textContent = `${model.modelId} (${model.runtime.name}) and ${index.size} passages loaded in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    input.disabled = false;
    button.disabled = false;
    document.body.dataset.ready = "true";
  },
  (err) => {
    status.textContent = `failed to load: ${err.message}`;
    document.body.dataset.ready = "error";
    console.error(err);
  },
);

document.getElementById("form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  if (input.value.trim()) show(input.value.trim());
});

/**
 * Embed documents (the benchmark's throughput measure).
 * @param {string[]} texts
 */
async function encode(texts) {
  const [model] = await ready;
  return (await model.encodeDocuments(texts)).length;
}

// for tests and the benchmark: the page's search and encoding without the DOM
Object.assign(window, { tessera: { ready, search, encode } });
