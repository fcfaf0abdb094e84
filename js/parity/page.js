// The browser half of the parity table: the same comparisons as in Node, on onnxruntime-web (WASM),
// with artifacts and Python's outputs fetched from a static server rooted at js/.
import { loadModel } from "../src/browser.js";
import { compareAll } from "./compare.js";

const params = new URLSearchParams(location.search);
const root = new URL("/", location.href);
const run = compareAll(
  (artifact) => loadModel(new URL(`fixtures/${artifact}/`, root), { wasmPaths: new URL("node_modules/onnxruntime-web/dist/", root).href }),
  async (name) => (await fetch(new URL(`fixtures/expected/${name}.json`, root))).json(),
  async (rel) => new Uint8Array(await (await fetch(new URL(`fixtures/${rel}`, root))).arrayBuffer()),
  { minilm: params.get("minilm") === "1" },
);
run.then(
  (rows) => {
    document.body.dataset.result = JSON.stringify(rows);
  },
  (err) => {
    document.body.dataset.result = JSON.stringify({ error: String(err?.stack ?? err) });
  },
);
