// The manifest checks and checksum verification behave as in Python (tessera_onnx/artifact.py).
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { ArtifactError, ChecksumError, parseManifest } from "../src/index.js";
import { loadModel } from "../src/node.js";
import { assertClose, expected, fixture } from "./helpers.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "tessera-js-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the tiny dense artifact to damage. */
function copy(name) {
  const dir = path.join(tmp, name);
  cpSync(fixture("tiny-bert-dense"), dir, { recursive: true });
  return dir;
}

test("an altered file fails its sha256", async () => {
  const dir = copy("altered");
  const file = path.join(dir, "tokenizer.json");
  const text = readFileSync(file, "utf8");
  writeFileSync(file, text.replace('"[UNK]"', '"[UNX]"'));
  await assert.rejects(loadModel(dir), (err) => err instanceof ChecksumError && /does not match its sha256/.test(err.message));
  await loadModel(dir, { verify: false }); // verification off: loads
});

test("a truncated or missing file is reported by name", async () => {
  const dir = copy("truncated");
  const data = path.join(dir, "model.onnx.data");
  writeFileSync(data, readFileSync(data).subarray(0, 100));
  await assert.rejects(loadModel(dir), (err) => err instanceof ChecksumError && /model\.onnx\.data.*100 bytes/.test(err.message));
  const dir2 = copy("missing");
  rmSync(path.join(dir2, "special_tokens_map.json"));
  await assert.rejects(loadModel(dir2), (err) => err instanceof ArtifactError && /special_tokens_map\.json/.test(err.message));
});

test("malformed manifests are refused with a reason", () => {
  const good = JSON.parse(readFileSync(fixture("tiny-bert-dense/tessera.json"), "utf8"));
  assert.throws(() => parseManifest({ ...good, format: "x" }), /not a tessera artifact manifest/);
  assert.throws(() => parseManifest({ ...good, format_version: 9 }), /format_version 9 is not supported/);
  assert.throws(() => parseManifest({ ...good, paradigm: "audio" }), /paradigm "audio"/);
  assert.throws(() => parseManifest({ ...good, matryoshka_dims: [64] }), /outside 1\.\.32/);
  assert.throws(() => parseManifest({ ...good, files: { "../etc/passwd": { sha256: "", size: 1 } } }), /outside the artifact directory/);
  assert.throws(() => parseManifest({ ...good, model_file: "/abs/model.onnx" }), /outside the artifact directory/);
  assert.equal(parseManifest(good).model_id, "tiny-bert-dense");
});

test("a non-artifact directory says how to make one", async () => {
  await assert.rejects(loadModel(tmp), /no readable tessera\.json.*tessera-export build/);
});

test("an artifact served over HTTP (the browser's path: bytes + external data) gives the same vectors", async () => {
  const root = fixture("tiny-bert-dense");
  const server = http.createServer((req, res) => {
    try {
      res.end(readFileSync(path.join(root, decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname))));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(null)));
  try {
    const address = /** @type {import("node:net").AddressInfo} */ (server.address());
    const model = await loadModel(`http://127.0.0.1:${address.port}/`);
    const exp = expected("tiny-bert-dense");
    assertClose(await model.encode(exp.texts), exp.encode, "encode over HTTP");
  } finally {
    server.close();
  }
});
