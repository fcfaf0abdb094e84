// JS speed benchmark: tessera-onnx (this package) against transformers.js feature-extraction on the
// same model, in Node (onnxruntime-node) and in Chromium (onnxruntime-web WASM): texts/s on the peer
// corpus, single-query p50, cold start, and the page's download size (gzip). Driven by
// benchmarks/js_speed.py, which prepares the corpus, the artifact and the transformers.js model layout.
//
//   node bench/speed.js --artifact DIR --tjs-root DIR --tjs-id ID --corpus corpus.json --out out.json
//        [--threads N] [--queries N] [--no-browser] [--smoke]
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { launch } from "../browser-test/chromium.js";
import { serve } from "../browser-test/server.js";
import { loadModel } from "../src/node.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const jsRoot = path.resolve(here, "..");
const argv = process.argv.slice(2);
const arg = (/** @type {string} */ name, /** @type {string | undefined} */ fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const artifact = path.resolve(/** @type {string} */ (arg("--artifact")));
const tjsRoot = path.resolve(/** @type {string} */ (arg("--tjs-root")));
const tjsId = arg("--tjs-id", "model") ?? "model";
const corpus = JSON.parse(readFileSync(/** @type {string} */ (arg("--corpus")), "utf8"));
const threads = Number(arg("--threads", "1"));
const nQueries = Number(arg("--queries", "50"));
const browserRuns = !argv.includes("--no-browser");
const batch = 16;
const texts = corpus.texts;
const queries = corpus.texts.filter((/** @type {string} */ _, /** @type {number} */ i) => corpus.kinds[i] === "query").slice(0, nQueries);

const now = () => performance.now();
const p50 = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Cold start, texts/s over the corpus in batches, single-query p50 of one engine.
 * @param {() => Promise<any>} load
 * @param {(engine: any, texts: string[]) => Promise<any>} encode
 */
async function measure(load, encode) {
  const t0 = now();
  const engine = await load();
  await encode(engine, [queries[0] ?? texts[0]]);
  const cold = (now() - t0) / 1000;
  const t1 = now();
  for (let s = 0; s < texts.length; s += batch) await encode(engine, texts.slice(s, s + batch));
  const rate = texts.length / ((now() - t1) / 1000);
  const lat = [];
  for (const q of queries) {
    const t = now();
    await encode(engine, [q]);
    lat.push(now() - t);
  }
  return { cold_start_s: cold, texts_per_s: rate, query_p50_ms: p50(lat) };
}

const results = /** @type {Record<string, any>} */ ({ texts: texts.length, queries: queries.length, threads, batch, node: {}, browser: {} });

// ---------------------------------------------------------------------------------------- Node
results.node.tessera = await measure(
  () => loadModel(artifact, { threads }),
  (m, xs) => m.encodeDocuments(xs),
);
const tjs = await import("@huggingface/transformers");
tjs.env.allowRemoteModels = false;
tjs.env.localModelPath = tjsRoot + path.sep;
results.node.transformers_js = await measure(
  () => tjs.pipeline("feature-extraction", tjsId, { dtype: "fp32", session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 } }),
  (p, xs) => p(xs, { pooling: "mean", normalize: true }),
);
// same model, same numbers? transformers.js mean+normalize vs this package, on short queries (no
// truncation on either side) and on passages (transformers.js truncates at the tokenizer's
// model_max_length, sentence-transformers and tessera at the model's max_seq_length)
{
  const ours = await loadModel(artifact);
  const extractor = await tjs.pipeline("feature-extraction", tjsId, { dtype: "fp32" });
  const diff = async (/** @type {string[]} */ xs) => {
    const a = await ours.encodeDocuments(xs);
    const b = (await extractor(xs, { pooling: "mean", normalize: true })).tolist();
    let worst = 0;
    a.forEach((/** @type {Float32Array} */ v, /** @type {number} */ i) => v.forEach((x, d) => (worst = Math.max(worst, Math.abs(x - b[i][d])))));
    return worst;
  };
  results.node.max_abs_diff_vs_transformers_js = {
    queries: await diff(queries.slice(0, 16)),
    passages: await diff(texts.filter((/** @type {string} */ _, /** @type {number} */ i) => corpus.kinds[i] === "passage").slice(0, 16)),
  };
  const t0 = now();
  const unverified = await loadModel(artifact, { threads, verify: false });
  await unverified.encodeDocuments([queries[0] ?? texts[0]]);
  results.node.tessera.cold_start_no_verify_s = (now() - t0) / 1000;
}

// ------------------------------------------------------------------------------------- browser
/** gzip size of every file a page fetched (each counted once), in total and per file. */
function gzipBytes(/** @type {string[]} */ files, /** @type {string} */ root) {
  let raw = 0;
  let gz = 0;
  /** @type {Record<string, number>} */
  const perFile = {};
  for (const f of new Set(files)) {
    const data = readFileSync(f);
    const size = gzipSync(data, { level: 9 }).length;
    raw += data.length;
    gz += size;
    perFile[path.relative(root, f)] = size;
  }
  return { files: new Set(files).size, raw_bytes: raw, gzip_bytes: gz, gzip_per_file: perFile };
}

if (browserRuns) {
  // tessera: the demo page, with the benchmark's artifact and the demo index
  const demoData = path.join(jsRoot, "fixtures", "demo");
  const tmpData = path.join(jsRoot, "test-results", "bench-data");
  rmSync(tmpData, { recursive: true, force: true });
  mkdirSync(tmpData, { recursive: true });
  cpSync(artifact, path.join(tmpData, "model"), { recursive: true });
  cpSync(path.join(demoData, "passages.tessera-index"), path.join(tmpData, "passages.tessera-index"));
  cpSync(path.join(demoData, "expected.json"), path.join(tmpData, "expected.json"));
  execFileSync(process.execPath, [path.join(jsRoot, "demo", "build.js"), "--data", tmpData], { stdio: "inherit" });
  // the transformers.js page
  const peerDist = path.join(jsRoot, "test-results", "tjs-page");
  rmSync(peerDist, { recursive: true, force: true });
  mkdirSync(peerDist, { recursive: true });
  await build({ entryPoints: [path.join(here, "tjs-page.js")], bundle: true, format: "esm", platform: "browser", minify: true, outfile: path.join(peerDist, "app.js"), logLevel: "warning" });
  writeFileSync(path.join(peerDist, "index.html"), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>transformers.js</title><body><script type="module" src="./app.js"></script>');
  const ortWeb = path.join(jsRoot, "node_modules", "@huggingface", "transformers", "node_modules", "onnxruntime-web", "dist");
  for (const f of readdirSync(ortWeb)) if (/^ort-wasm.*\.(wasm|mjs)$/.test(f)) cpSync(path.join(ortWeb, f), path.join(peerDist, f));
  cpSync(tjsRoot, path.join(peerDist, "tjs-models"), { recursive: true });

  for (const [label, root, query, hook] of [
    ["tessera", path.join(jsRoot, "demo", "dist"), "", "tessera"],
    ["transformers_js", peerDist, `?id=${encodeURIComponent(tjsId)}`, "peer"],
  ]) {
    const server = await serve(root);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const t0 = now();
      await page.goto(server.url + query);
      await page.waitForSelector("body[data-ready]", { timeout: 600_000, state: "attached" });
      const bytes = gzipBytes(server.files, root);
      const m = await page.evaluate(
        async ({ hook, texts, queries, batch }) => {
          const api = /** @type {any} */ (window)[hook];
          await api.ready;
          await api.encode([queries[0] ?? texts[0]]);
          const t1 = performance.now();
          for (let s = 0; s < texts.length; s += batch) await api.encode(texts.slice(s, s + batch));
          const rate = texts.length / ((performance.now() - t1) / 1000);
          const lat = [];
          for (const q of queries) {
            const t = performance.now();
            await api.encode([q]);
            lat.push(performance.now() - t);
          }
          lat.sort((a, b) => a - b);
          return { texts_per_s: rate, query_p50_ms: lat[Math.floor(lat.length / 2)] };
        },
        { hook, texts, queries, batch },
      );
      results.browser[label] = { cold_start_s: (now() - t0) / 1000, ...m, download: bytes };
    } finally {
      await browser.close();
      server.close();
    }
  }
}
results.artifact_bytes = readdirSync(artifact).reduce((s, f) => s + statSync(path.join(artifact, f)).size, 0);
writeFileSync(/** @type {string} */ (arg("--out", "js-speed.json")), JSON.stringify(results, null, 2) + "\n");
console.log(JSON.stringify(results, null, 2));
