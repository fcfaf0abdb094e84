// Quantized codes, Hamming distances, two-stage search and the saved dense index match Python.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DenseIndex, IndexStoreError, hammingDistances, packBits, quantize, search, dequantizeRow } from "../src/index.js";
import { loadIndex } from "../src/node.js";
import { assertClose, expected, fixture, INFO } from "./helpers.js";

const NAMES = ["tiny-bert-dense", ...(INFO.minilm ? ["all-minilm-l6-v2"] : [])];
const toF32 = (/** @type {number[][]} */ rows) => rows.map((r) => Float32Array.from(r));

for (const name of NAMES) {
  test(`quantization ${name}: codes, Hamming distances and search match Python`, () => {
    const exp = expected(`${name}.quantization`);
    const vectors = toF32(exp.vectors);
    const queries = toF32(exp.queries);
    const ranges = /** @type {[number[], number[]]} */ (exp.ranges);
    const corpora = {
      ubinary: quantize(vectors, "ubinary"),
      binary: quantize(vectors, "binary"),
      int8: quantize(vectors, "int8", { ranges }),
      int4: quantize(vectors, "int4", { ranges }),
    };
    for (const [scheme, q] of Object.entries(corpora)) {
      assert.deepEqual(Array.from(q.data), exp[scheme].flat(), `${scheme} codes`);
    }
    assertClose(
      vectors.map((_, i) => dequantizeRow(corpora.int8, i)),
      exp.int8_dequantized,
      "int8 bin centres",
    );
    assert.deepEqual(
      queries.map((q) => Array.from(hammingDistances(packBits(q), corpora.ubinary))),
      exp.hamming,
      "Hamming distances",
    );
    const variants = {
      default: {},
      norescore: { rescore: false },
      floats: { rescoreWith: vectors },
      m1: { rescoreMultiplier: 1 },
    };
    for (const [scheme, corpus] of Object.entries(corpora)) {
      for (const [label, options] of Object.entries(variants)) {
        const want = exp.search[`${scheme}/${label}`];
        queries.forEach((q, i) => {
          const got = search(q, corpus, 3, options);
          assert.deepEqual(got.indices, want.indices[i], `${scheme}/${label} query ${i}: top-k`);
          assertClose(got.scores, want.scores[i], `${scheme}/${label} query ${i}: scores`);
        });
      }
    }
  });

  test(`dense index ${name}: saved files load and search like Python`, async () => {
    const exp = expected(`${name}.index`);
    for (const [kind, ref] of Object.entries(exp.indexes)) {
      const index = await loadIndex(fixture(`indexes/${ref.file}`));
      exp.queries.forEach((/** @type {number[]} */ q, /** @type {number} */ i) => {
        const hits = index.search(q, 5);
        assert.deepEqual(hits.map((h) => h.id), ref.hits[i].map((/** @type {any} */ h) => h[0]), `${kind} query ${i}: ids`);
        assertClose(hits.map((h) => h.score), ref.hits[i].map((/** @type {any} */ h) => h[1]), `${kind} query ${i}: scores`);
        const even = index.search(q, 5, { filter: { even: true } });
        assert.deepEqual(even.map((h) => h.id), ref.filtered_even[i].map((/** @type {any} */ h) => h[0]), `${kind} query ${i}: filtered`);
        assert.ok(even.every((h) => h.metadata.even === true));
      });
    }
  });
}

test("dense index: a corrupted member is refused", async () => {
  const exp = expected("tiny-bert-dense.index");
  const bytes = new Uint8Array(readFileSync(fixture(`indexes/${exp.indexes.exact.file}`)));
  const at = Math.floor(bytes.length / 2); // inside the stored vectors
  bytes[at] ^= 0xff;
  await assert.rejects(DenseIndex.fromBytes(bytes, "corrupt"), (err) => err instanceof IndexStoreError);
  await assert.rejects(DenseIndex.fromBytes(new Uint8Array([1, 2, 3]), "junk"), IndexStoreError);
});
