// ColBERT multi-vectors + MaxSim and SPLADE sparse vectors in Node equal the Python runtime's.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadModel } from "../src/node.js";
import { assertClose, expected, fixture, PRECISION_TOL, rowsOf } from "./helpers.js";

// the same tiny checkpoints at fp32, fp16 and int8 ("dynamic" profile), within PRECISION_TOL
for (const name of ["tiny-colbert", "tiny-colbert-fp16", "tiny-colbert-int8"]) {
  test(`ColBERT ${name}: token ids, query/document multi-vectors and MaxSim match Python`, async () => {
    const exp = expected(name);
    const model = await loadModel(fixture(exp.artifact));
    const tol = PRECISION_TOL[model.manifest.precision];
    assert.deepEqual(model.tokenizer.encode(exp.queries, model.queryLength - 1).ids, exp.query_token_ids);
    const docs = await model.encodeDocuments(exp.texts);
    const queries = await model.encodeQueries(exp.queries);
    assert.deepEqual(docs.map((/** @type {any} */ d) => d.rows), exp.encode_documents.map((/** @type {any} */ d) => d.length), "document rows kept");
    assertClose(docs.map(rowsOf), exp.encode_documents, "documents", tol);
    assertClose(queries.map(rowsOf), exp.encode_queries, "queries", tol);
    assertClose(await model.similarity(queries, docs), exp.similarity, "MaxSim", 10 * tol);
    assertClose(await model.similarity(exp.queries, exp.texts), exp.similarity, "MaxSim from texts", 10 * tol);
    const small = await model.encodeDocuments(exp.texts, { dimension: 8 });
    assertClose(small.map(rowsOf), exp.dimension_8, "dimension 8", tol);
  });
}

for (const name of ["tiny-splade", "tiny-splade-logits", "tiny-splade-fp16", "tiny-splade-int8"]) {
  test(`SPLADE ${name}: sparse vectors and scores match Python`, async () => {
    const exp = expected(name);
    const model = await loadModel(fixture(exp.artifact));
    const tol = PRECISION_TOL[model.manifest.precision];
    const docs = await model.encode(exp.texts);
    docs.forEach((/** @type {any} */ d, /** @type {number} */ i) => {
      assert.deepEqual(Array.from(d.indices), exp.encode[i].indices, `text ${i}: active dimensions`);
      assertClose(d.values, exp.encode[i].values, `text ${i}: weights`, tol);
    });
    const top = await model.encode(exp.texts, { topK: 5 });
    top.forEach((/** @type {any} */ d, /** @type {number} */ i) => {
      assert.deepEqual(Array.from(d.indices), exp.top_k_5[i].indices, `text ${i}: top 5`);
    });
    assertClose(await model.similarity(exp.queries, docs), exp.similarity, "dot products", 10 * tol);
  });
}
