// The text tower of image–text artifacts (SigLIP with the trained and the masked text semantics,
// at fp16 and int8, SigLIP2, CLIP) against the Python runtime: padded token ids and attention masks identical, text
// vectors within TOL (1e-5), logits within 1e-5 × exp(logit_scale), probabilities within 1e-5,
// identical text → image top-k.
import assert from "node:assert/strict";
import { test } from "node:test";
import { siglipCanonicalize } from "../src/index.js";
import { loadModel } from "../src/node.js";
import { TOL, assertClose, expected, fixture } from "./helpers.js";

const NAMES = ["tiny-siglip", "tiny-siglip-masked", "tiny-siglip-fp16", "tiny-siglip-int8", "tiny-siglip2", "tiny-clip"];
// max |JS - Python| of the vectors per artifact precision: fp32 and int8 TOL (int8: Node runs the
// same integer kernels as Python); fp16 1e-3, fp16's resolution (onnxruntime-node 1.30 and Python's
// onnxruntime 1.32 run fp16 graphs with different CPU kernels: 2.8e-4 measured on the tiny SigLIP)
const PRECISION_TOL = /** @type {Record<string, number>} */ ({ fp32: TOL, int8: TOL, fp16: 1e-3 });

for (const name of NAMES) {
  test(`${name}: text token ids, masks, text vectors, logits and top-k match Python`, async () => {
    const exp = expected(`${name}.texts`);
    const images = expected(`${name}.images`);
    const model = await loadModel(fixture(exp.artifact));
    try {
      assert.deepEqual(model.config.text_inputs, exp.config.text_inputs);
      const { inputIds, attentionMask } = await model.tokenize(exp.texts);
      assert.deepEqual(inputIds, exp.input_ids, "input_ids");
      assert.deepEqual(attentionMask, exp.attention_mask, "attention_mask");
      for (let i = 0; i < exp.single_input_ids.length; i++) {
        assert.deepEqual((await model.tokenize(exp.texts[i])).inputIds[0], exp.single_input_ids[i], `input_ids of text ${i} alone`);
      }
      const precision = model.manifest.precision;
      const tol = PRECISION_TOL[precision];
      assertClose(await model.encodeTexts(exp.texts), exp.encode_texts, "text vectors", tol);
      // raw text_embeds: the same bound relative to their largest norm
      const norm = Math.max(1, ...exp.encode_texts_raw.map((/** @type {number[]} */ v) => Math.hypot(...v)));
      assertClose(await model.encodeTexts(exp.texts, { normalize: false }), exp.encode_texts_raw, "raw text vectors", tol * norm);
      if (precision !== "int8") {
        // int8 activations are quantized per batch: a text alone gets other int8 vectors (in Python too)
        assertClose(await model.encodeTexts(exp.texts[0]), exp.encode_texts[0], "one text", tol);
      }
      const labels = await model.encodeTexts(exp.labels);
      const imageVectors = images.images.map((/** @type {any} */ im) => im.embedding);
      const scale = Math.exp(exp.config.logit_scale);
      const logits = model.logits(imageVectors, labels);
      assertClose(logits, exp.logits, "logits", tol * Math.max(1, scale));
      assertClose(model.probabilities(logits), exp.probabilities, "probabilities", tol);
      const hits = await model.searchImages(exp.labels, imageVectors, exp.search_images.k);
      assert.deepEqual(hits.indices, exp.search_images.indices, "text → image top-k");
    } finally {
      await model.dispose();
    }
  });
}

test("SigLIP text semantics: the trained graph takes input_ids only, the transformers one the mask too", () => {
  assert.deepEqual(expected("tiny-siglip.texts").config.text_inputs, ["input_ids"]);
  assert.equal(expected("tiny-siglip.texts").config.text_semantics, "trained");
  assert.deepEqual(expected("tiny-siglip-masked.texts").config.text_inputs, ["input_ids", "attention_mask"]);
  assert.equal(expected("tiny-clip.texts").config.text_padding, "longest");
});

test("siglipCanonicalize: lowercase, ASCII punctuation dropped, Python whitespace collapsed", () => {
  assert.equal(siglipCanonicalize("Hello,  World!"), "\u2581hello world");
  assert.equal(siglipCanonicalize("a\u3000b\x1cc\u2581d"), "\u2581a b c d");
  assert.equal(siglipCanonicalize("  ...  "), "\u2581");
});

test("image–text inputs are checked", async () => {
  const exp = expected("tiny-clip.texts");
  const model = await loadModel(fixture(exp.artifact));
  try {
    await assert.rejects(model.encodeTexts([/** @type {any} */ (3)]), /texts\[0\] is number/);
    assert.throws(() => model.similarity([1, 2], [1, 2]), /embeddings of this model have/);
    await assert.rejects(model.searchImages("x", [new Float32Array(model.dimension)], 0), /positive integer/);
  } finally {
    await model.dispose();
  }
});
