// Image towers (SigLIP, CLIP) from decoded RGBA pixels against the Python runtime's preprocessing
// (Pillow resize + transformers rescale/normalise) and image embeddings.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { pixelValues } from "../src/index.js";
import { loadModel } from "../src/node.js";
import { assertClose, expected, fixture } from "./helpers.js";

// pixel_values: the resize reproduces Pillow's fixed-point arithmetic, so they agree to float32 rounding
const PIXEL_TOL = 1e-6;

for (const name of ["tiny-siglip", "tiny-clip"]) {
  test(`${name}: pixel_values and image embeddings from RGBA pixels match Python`, async () => {
    const exp = expected(`${name}.images`);
    const model = await loadModel(fixture(exp.artifact));
    for (const image of exp.images) {
      const pixels = { data: new Uint8Array(readFileSync(fixture(image.file))), width: image.width, height: image.height };
      const px = pixelValues(pixels, model.imageConfig);
      assertClose(px.data, image.pixel_values.flat(2), `${image.name}: pixel_values`, PIXEL_TOL);
      assertClose(await model.encodeImages(pixels), image.embedding, `${image.name}: embedding`);
    }
    assert.ok(exp.images.length >= 3);
  });
}
