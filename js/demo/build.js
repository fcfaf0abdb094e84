// Bundle the demo page into demo/dist: app.js (esbuild), index.html, the onnxruntime-web WASM
// files, and (with --data DIR) the artifact and index under dist/data. Serve dist/ with any static
// file server, e.g. `python3 -m http.server -d js/demo/dist`.
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");
const dataArg = process.argv.indexOf("--data");
const data = dataArg > 0 ? path.resolve(process.argv[dataArg + 1]) : path.resolve(here, "..", "fixtures", "demo");

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [path.join(here, "app.js")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  outfile: path.join(dist, "app.js"),
  logLevel: "warning",
});
cpSync(path.join(here, "index.html"), path.join(dist, "index.html"));
const ortDist = path.resolve(here, "..", "node_modules", "onnxruntime-web", "dist");
for (const file of ["ort-wasm-simd-threaded.jsep.wasm", "ort-wasm-simd-threaded.jsep.mjs"]) {
  cpSync(path.join(ortDist, file), path.join(dist, file));
}
if (existsSync(path.join(data, "expected.json"))) {
  mkdirSync(path.join(dist, "data"), { recursive: true });
  cpSync(path.join(data, "model"), path.join(dist, "data", "model"), { recursive: true });
  cpSync(path.join(data, "passages.tessera-index"), path.join(dist, "data", "passages.tessera-index"));
  cpSync(path.join(data, "expected.json"), path.join(dist, "data", "expected.json"));
  console.log(`demo built in ${dist} with the data of ${data}`);
} else {
  console.log(`demo built in ${dist} (no data: ${data} is missing; pass --data DIR)`);
}
