// Dense embeddings in Node equal the Python runtime's on the same artifacts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadModel } from "../src/node.js";
import { assertClose as close, expected, fixture, INFO, PRECISION_TOL } from "./helpers.js";

const NAMES = [
  "tiny-bert-dense",
  "tiny-bert-dense-fp16",
  "tiny-bert-dense-int8",
  "tiny-bert-dense-prompts",
  "tiny-bert-dense-cls",
  "tiny-bert-dense-max",
  "tiny-bert-dense-mean_sqrt_len",
  "tiny-bert-dense-weightedmean",
  "tiny-bert-dense-lasttoken",
  ...(INFO.minilm ? ["all-minilm-l6-v2", "all-minilm-l6-v2-fp16", "all-minilm-l6-v2-int8"] : []),
];

for (const name of NAMES) {
  test(`dense ${name}: token ids and vectors match Python`, async () => {
    const exp = expected(name);
    const model = await loadModel(fixture(exp.artifact));
    const tol = PRECISION_TOL[model.manifest.precision];
    const assertClose = (/** @type {any} */ got, /** @type {any} */ want, /** @type {string} */ what) => close(got, want, what, tol);
    const ids = model.tokenizer.encode(exp.prepared).ids;
    assert.deepEqual(ids, exp.token_ids, "token ids");
    assertClose(await model.encode(exp.texts), exp.encode, "encode");
    assertClose(await model.encodeQueries(exp.queries), exp.encode_queries, "encodeQueries");
    assertClose(await model.encodeDocuments(exp.texts), exp.encode_documents, "encodeDocuments");
    assertClose(await model.encode(exp.texts, { rawPooled: true }), exp.raw_pooled, "rawPooled");
    assertClose(await model.encode(exp.texts, { normalize: true }), exp.normalize_true, "normalize");
    assertClose(await model.encode(exp.texts, { prompt: "Represent this: " }), exp.prompt, "prompt");
    if (model.manifest.precision !== "int8") {
      // int8 quantizes activations per batch (DynamicQuantizeLinear): other batches, other vectors
      assertClose(await model.encode(exp.texts, { batchSize: 3 }), exp.encode, "batchSize 3");
    }
    for (const [dim, vectors] of Object.entries(exp.dimensions)) {
      assertClose(await model.encode(exp.texts, { dimension: Number(dim) }), vectors, `dimension ${dim}`);
    }
    for (const [promptName, vectors] of Object.entries(exp.prompt_names ?? {})) {
      assertClose(await model.encode(exp.texts, { promptName }), vectors, `promptName ${promptName}`);
    }
    const short = await loadModel(fixture(exp.artifact), { maxLength: 8 });
    assertClose(await short.encode(exp.texts), exp.max_length_8, "maxLength 8");
    const one = await model.encode(exp.texts[0]);
    assert.ok(one instanceof Float32Array);
    if (model.manifest.precision !== "int8") assertClose(one, exp.encode[0], "single string");
  });
}

test("dense: bad options raise errors that say what to do", async () => {
  const model = await loadModel(fixture("tiny-bert-dense"));
  await assert.rejects(model.encode(["a"], { dimension: 999 }), /dimension 999 is not available/);
  await assert.rejects(model.encode(["a"], { promptName: "nope" }), /promptName "nope" is not defined/);
  await assert.rejects(model.encode([1]), /texts\[0\] is number/);
  await assert.rejects(loadModel(fixture("tiny-bert-dense"), { maxLength: 10_000 }), /exceeds the model's maximum/);
  assert.deepEqual(await model.encode([]), []);
});
