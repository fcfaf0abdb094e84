// ColBERT multi-vectors + MaxSim and SPLADE sparse vectors in Node equal the Python runtime's.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadModel } from "../src/node.js";
import { assertClose, expected, fixture, rowsOf } from "./helpers.js";

test("ColBERT: token ids, query/document multi-vectors and MaxSim match Python", async () => {
  const exp = expected("tiny-colbert");
  const model = await loadModel(fixture(exp.artifact));
  assert.deepEqual(model.tokenizer.encode(exp.queries, model.queryLength - 1).ids, exp.query_token_ids);
  const docs = await model.encodeDocuments(exp.texts);
  const queries = await model.encodeQueries(exp.queries);
  assert.deepEqual(docs.map((/** @type {any} */ d) => d.rows), exp.encode_documents.map((/** @type {any} */ d) => d.length), "document rows kept");
  assertClose(docs.map(rowsOf), exp.encode_documents, "documents");
  assertClose(queries.map(rowsOf), exp.encode_queries, "queries");
  assertClose(await model.similarity(queries, docs), exp.similarity, "MaxSim", 1e-4);
  assertClose(await model.similarity(exp.queries, exp.texts), exp.similarity, "MaxSim from texts", 1e-4);
  const small = await model.encodeDocuments(exp.texts, { dimension: 8 });
  assertClose(small.map(rowsOf), exp.dimension_8, "dimension 8");
});

for (const name of ["tiny-splade", "tiny-splade-logits"]) {
  test(`SPLADE ${name}: sparse vectors and scores match Python`, async () => {
    const exp = expected(name);
    const model = await loadModel(fixture(exp.artifact));
    const docs = await model.encode(exp.texts);
    docs.forEach((/** @type {any} */ d, /** @type {number} */ i) => {
      assert.deepEqual(Array.from(d.indices), exp.encode[i].indices, `text ${i}: active dimensions`);
      assertClose(d.values, exp.encode[i].values, `text ${i}: weights`);
    });
    const top = await model.encode(exp.texts, { topK: 5 });
    top.forEach((/** @type {any} */ d, /** @type {number} */ i) => {
      assert.deepEqual(Array.from(d.indices), exp.top_k_5[i].indices, `text ${i}: top 5`);
    });
    assertClose(await model.similarity(exp.queries, docs), exp.similarity, "dot products", 1e-4);
  });
}
