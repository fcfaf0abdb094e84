/**
 * Image–text models (SigLIP, SigLIP2, CLIP): the image tower from decoded RGBA pixels, and the text
 * tower (tokenisation and scores in image-text.js). Image towers: the slow Hugging Face processors'
 * preprocessing as the Python runtime reproduces it (tessera_onnx/vision/transforms.py), then the
 * image graph and L2 normalisation.
 *
 * Resizing reimplements Pillow's ``Image.resize`` for 8-bit images (``reducing_gap=None``):
 * separable convolution, horizontal pass first, filter support widened by the downscale factor,
 * coefficients in 22-bit fixed point, each pass rounded and clipped to uint8. Alpha is dropped, not
 * composited (Pillow's ``convert("RGB")``). Rescale and normalise follow transformers' dtypes
 * (float64 product → float32, then float32 arithmetic).
 * @module image
 */
import { Artifact } from "./artifact.js";
import { ArtifactError, InvalidInputError } from "./errors.js";
import { DualEncoderTokenizer, imageTextConfig, logitsFromCosine, scoreProbabilities, topKRows } from "./image-text.js";
import { cosineSimilarity, l2Normalize } from "./ops.js";
import { validateTexts } from "./text.js";

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** Pillow's filters by resample id: [support, function]. */
const FILTERS = /** @type {Record<number, [number, (x: number) => number]>} */ ({
  4: [0.5, (x) => (x > -0.5 && x <= 0.5 ? 1 : 0)], // box
  2: [1, (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0)], // bilinear
  5: [
    1,
    (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      return (Math.sin(x) / x) * (0.54 + 0.46 * Math.cos(x));
    },
  ], // hamming
  3: [
    2,
    (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  ], // bicubic
  1: [
    3,
    (x) => {
      const sinc = (/** @type {number} */ t) => (t === 0 ? 1 : Math.sin(t * Math.PI) / (t * Math.PI));
      return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
    },
  ], // lanczos
});

/**
 * Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc``: per output pixel, the first input
 * pixel, the count, and integer weights.
 * @param {number} inSize
 * @param {number} outSize
 * @param {number} resample
 */
function coefficients(inSize, outSize, resample) {
  const filter = FILTERS[resample];
  if (!filter) throw new InvalidInputError(`resample ${resample} (Pillow filter id) is not supported; use 1-5`);
  const [baseSupport, fn] = filter;
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = baseSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    const k = new Float64Array(xmax);
    for (let x = 0; x < xmax; x++) {
      k[x] = fn((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

/** @param {number} v */
const clip8 = (v) => Math.min(255, Math.max(0, Math.floor(v / ONE)));

/**
 * Resize an RGB uint8 image (``[h, w, 3]``) as Pillow does.
 * @param {Uint8Array} rgb
 * @param {number} width
 * @param {number} height
 * @param {number} outWidth
 * @param {number} outHeight
 * @param {number} resample  Pillow filter id (3 = bicubic, 2 = bilinear, ...)
 * @returns {Uint8Array}
 */
export function resizeRGB(rgb, width, height, outWidth, outHeight, resample) {
  if (outWidth === width && outHeight === height) return rgb.slice();
  let src = rgb;
  let w = width;
  if (outWidth !== width) {
    const { ksize, bounds, weights } = coefficients(width, outWidth, resample);
    const tmp = new Uint8Array(height * outWidth * 3);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = bounds[xx * 2];
        const n = bounds[xx * 2 + 1];
        let s0 = ONE / 2;
        let s1 = ONE / 2;
        let s2 = ONE / 2;
        for (let x = 0; x < n; x++) {
          const k = weights[xx * ksize + x];
          const p = (y * width + xmin + x) * 3;
          s0 += src[p] * k;
          s1 += src[p + 1] * k;
          s2 += src[p + 2] * k;
        }
        const o = (y * outWidth + xx) * 3;
        tmp[o] = clip8(s0);
        tmp[o + 1] = clip8(s1);
        tmp[o + 2] = clip8(s2);
      }
    }
    src = tmp;
    w = outWidth;
  }
  if (outHeight === height) return src;
  const { ksize, bounds, weights } = coefficients(height, outHeight, resample);
  const out = new Uint8Array(outHeight * w * 3);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2];
    const n = bounds[yy * 2 + 1];
    for (let x = 0; x < w; x++) {
      let s0 = ONE / 2;
      let s1 = ONE / 2;
      let s2 = ONE / 2;
      for (let y = 0; y < n; y++) {
        const k = weights[yy * ksize + y];
        const p = ((ymin + y) * w + x) * 3;
        s0 += src[p] * k;
        s1 += src[p + 1] * k;
        s2 += src[p + 2] * k;
      }
      const o = (yy * w + x) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}

/**
 * Output ``[height, width]`` of a shortest-edge resize (transformers' ``get_resize_output_image_size``).
 * @param {number} height
 * @param {number} width
 * @param {number} shortestEdge
 */
export function shortestEdgeSize(height, width, shortestEdge) {
  const [short, long] = width <= height ? [width, height] : [height, width];
  if (short === shortestEdge) return [height, width];
  const newShort = shortestEdge;
  const newLong = Math.trunc((shortestEdge * long) / short);
  return width <= height ? [newLong, newShort] : [newShort, newLong];
}

/**
 * Decoded pixels: ``data`` is RGBA (4 bytes per pixel, as ``ImageData``) or RGB (3), row-major.
 * @typedef {{data: Uint8Array | Uint8ClampedArray, width: number, height: number, channels?: 3 | 4}} Pixels
 */

/**
 * The ``pixel_values`` (float32 ``[3, H, W]``) of one image, per the manifest's ``image`` config.
 * @param {Pixels} image
 * @param {any} cfg  the manifest's ``config.image`` block
 * @returns {{data: Float32Array, height: number, width: number}}
 */
export function pixelValues(image, cfg) {
  const { width, height } = image;
  const channels = image.channels ?? (image.data.length === width * height * 3 ? 3 : 4);
  if (!(width > 0 && height > 0) || image.data.length !== width * height * channels) {
    throw new InvalidInputError(`image data has ${image.data.length} bytes, expected ${width}×${height}×${channels}`);
  }
  let rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[i * 3] = image.data[i * channels];
    rgb[i * 3 + 1] = image.data[i * channels + 1];
    rgb[i * 3 + 2] = image.data[i * channels + 2];
  }
  let w = width;
  let h = height;
  if (cfg.resize === "fixed") [h, w] = [cfg.height, cfg.width];
  else if (cfg.resize === "shortest_edge") [h, w] = shortestEdgeSize(height, width, cfg.shortest_edge);
  if (w !== width || h !== height) rgb = resizeRGB(rgb, width, height, w, h, cfg.resample ?? 3);
  let outH = h;
  let outW = w;
  let top = 0;
  let left = 0;
  if (cfg.center_crop) {
    outH = cfg.crop_height;
    outW = cfg.crop_width;
    top = Math.floor((h - outH) / 2);
    left = Math.floor((w - outW) / 2);
  }
  const mean = (cfg.mean ?? [0.5, 0.5, 0.5]).map(Math.fround);
  const std = (cfg.std ?? [0.5, 0.5, 0.5]).map(Math.fround);
  const factor = cfg.rescale_factor ?? 1 / 255;
  const out = new Float32Array(3 * outH * outW);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const sy = y + top;
      const sx = x + left;
      const inside = sy >= 0 && sy < h && sx >= 0 && sx < w; // a crop larger than the image pads zeros
      for (let c = 0; c < 3; c++) {
        let v = inside ? rgb[(sy * w + sx) * 3 + c] : 0;
        if (cfg.do_rescale !== false) v = Math.fround(v * factor);
        if (cfg.do_normalize !== false) v = Math.fround(Math.fround(v - mean[c]) / std[c]);
        out[c * outH * outW + y * outW + x] = v;
      }
    }
  }
  return { data: out, height: outH, width: outW };
}

/**
 * A list of vectors of width ``dim`` (one vector is a list of one), checked.
 * @param {ArrayLike<number> | ArrayLike<number>[]} x
 * @param {number} dim
 * @param {string} what
 * @returns {ArrayLike<number>[]}
 */
function asRows(x, dim, what) {
  const rows = Array.isArray(x) && x.length && typeof x[0] !== "number" ? /** @type {ArrayLike<number>[]} */ (x) : [/** @type {ArrayLike<number>} */ (x)];
  rows.forEach((r, i) => {
    if (!r || r.length !== dim) throw new InvalidInputError(`${what}[${i}] has ${r?.length} values; embeddings of this model have ${dim}`);
  });
  return rows;
}

/**
 * An image–text dual encoder artifact (paradigm ``vision``: SigLIP, SigLIP2, CLIP): the image
 * tower from decoded pixels and the text tower from strings, with the model's own scores.
 *
 * The image graph's session is built on load; the text graph's session and the tokenizer on the
 * first text call, so an image-only page never pays for the text tower (as in Python).
 */
export class TesseraImage {
  /**
   * @param {Artifact} artifact
   * @param {any} session  the image graph's session
   * @param {import("./embedders.js").Runtime} runtime
   * @param {{sessionOptions?: any, batchSize?: number}} [options]
   */
  constructor(artifact, session, runtime, options = {}) {
    this.artifact = artifact;
    this.manifest = artifact.manifest;
    this.session = session;
    this.runtime = runtime;
    this.config = imageTextConfig(this.manifest.config.vision);
    this.imageConfig = this.manifest.config.image ?? {};
    this.textConfig = { tokenizer_file: "tokenizer.json", max_length: 512, pad_token_id: 0, padding_side: "right", ...this.manifest.config.text };
    this.batchSize = options.batchSize ?? 32;
    this._sessionOptions = options.sessionOptions ?? {};
    /** @type {Promise<{session: any, tokenizer: DualEncoderTokenizer}> | null} */
    this._text = null;
  }

  /**
   * Build the image–text model of a vision artifact (its ``image_model_file`` graph now; every
   * file's checksum verified).
   * @param {Artifact} artifact
   * @param {import("./embedders.js").Runtime} runtime
   * @param {{sessionOptions?: any, batchSize?: number}} [options]
   */
  static async create(artifact, runtime, options = {}) {
    if (artifact.manifest.paradigm !== "vision" || !artifact.manifest.config.vision) {
      throw new ArtifactError(`${artifact.source.location} holds a ${JSON.stringify(artifact.manifest.paradigm)} model, not an image–text one`);
    }
    const file = imageTextConfig(artifact.manifest.config.vision).image_model_file;
    await artifact.verifyAll();
    const session = await runtime.createSession(artifact, options.sessionOptions ?? {}, file);
    artifact.release();
    return new TesseraImage(artifact, session, runtime, options);
  }

  /** The model id recorded in the manifest. */
  get modelId() {
    return this.manifest.model_id;
  }

  /** Width of the image and text vectors. */
  get dimension() {
    return this.manifest.dim;
  }

  /**
   * Embed decoded images: one ``Float32Array`` per image (one for a single image), L2-normalised
   * unless ``normalize`` is false.
   * @param {Pixels | Pixels[]} images
   * @param {{normalize?: boolean}} [options]
   */
  async encodeImages(images, options = {}) {
    const single = !Array.isArray(images);
    const list = single ? [images] : images;
    const out = [];
    for (const image of list) {
      const px = pixelValues(image, this.imageConfig);
      const { Tensor } = this.runtime.ort;
      const feeds = { [this.config.image_input]: new Tensor("float32", px.data, [1, 3, px.height, px.width]) };
      const result = await this.session.run(feeds, [this.config.image_output]);
      const vector = Float32Array.from(result[this.config.image_output].data);
      out.push(options.normalize === false ? vector : l2Normalize(vector));
    }
    return single ? out[0] : out;
  }

  /** The text graph's session and the tokenizer, built on first use. */
  _textTower() {
    this._text ??= (async () => {
      const json = new TextDecoder().decode(await this.artifact.read(this.textConfig.tokenizer_file));
      const tokenizer = new DualEncoderTokenizer(json, this.textConfig, this.config);
      const session = await this.runtime.createSession(this.artifact, this._sessionOptions, this.config.text_model_file);
      this.artifact.release();
      return { session, tokenizer };
    })();
    this._text.catch(() => {
      this._text = null; // a failed load is retried by the next call
    });
    return this._text;
  }

  /**
   * ``input_ids`` and ``attention_mask`` (one row per text) exactly as the model's reference
   * tokenizer and processor build them (SigLIP: padded to ``max_length``; CLIP: to the longest text).
   * @param {string | string[]} texts
   * @returns {Promise<{inputIds: number[][], attentionMask: number[][]}>}
   */
  async tokenize(texts) {
    const [items] = validateTexts(texts);
    const { tokenizer } = await this._textTower();
    const { ids, mask, dims } = tokenizer.encode(items);
    const rows = (/** @type {number[]} */ flat) => Array.from({ length: dims[0] }, (_, b) => flat.slice(b * dims[1], (b + 1) * dims[1]));
    return { inputIds: rows(ids), attentionMask: rows(mask) };
  }

  /**
   * Embed texts with the text tower: one ``Float32Array`` per text (one for a single string),
   * L2-normalised unless ``normalize`` is false. ``batchSize`` texts go through the graph at once
   * (default 32, as in Python; with CLIP's longest padding the batch decides the padded width).
   * @param {string | string[]} texts
   * @param {{normalize?: boolean, batchSize?: number}} [options]
   */
  async encodeTexts(texts, options = {}) {
    const [items, single] = validateTexts(texts);
    const size = options.batchSize ?? this.batchSize;
    if (!Number.isInteger(size) || size < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${size}`);
    const { session, tokenizer } = await this._textTower();
    const { Tensor } = this.runtime.ort;
    const out = [];
    for (let start = 0; start < items.length; start += size) {
      const batch = tokenizer.encode(items.slice(start, start + size));
      const values = { input_ids: batch.ids, attention_mask: batch.mask };
      /** @type {Record<string, any>} */
      const feeds = {};
      for (const name of this.config.text_inputs) {
        feeds[name] = new Tensor("int64", BigInt64Array.from(values[/** @type {"input_ids" | "attention_mask"} */ (name)], BigInt), batch.dims);
      }
      const result = (await session.run(feeds, [this.config.text_output]))[this.config.text_output];
      const dim = result.dims[1];
      for (let b = 0; b < batch.dims[0]; b++) {
        const vector = Float32Array.from(result.data.subarray(b * dim, (b + 1) * dim));
        out.push(options.normalize === false ? vector : l2Normalize(vector));
      }
    }
    return single ? out[0] : out;
  }

  /**
   * Cosine similarity ``[a][b]`` between two sets of embeddings (image or text, any mix).
   * @param {ArrayLike<number> | ArrayLike<number>[]} a
   * @param {ArrayLike<number> | ArrayLike<number>[]} b
   */
  similarity(a, b) {
    return cosineSimilarity(asRows(a, this.dimension, "a"), asRows(b, this.dimension, "b"));
  }

  /**
   * The model's ``logits_per_image`` ``[images][texts]``: ``exp(logit_scale)·cos`` (+ ``logit_bias``
   * for SigLIP), with the scale and bias the manifest recorded from the checkpoint.
   * @param {ArrayLike<number> | ArrayLike<number>[]} imageEmbeddings
   * @param {ArrayLike<number> | ArrayLike<number>[]} textEmbeddings
   */
  logits(imageEmbeddings, textEmbeddings) {
    return logitsFromCosine(this.similarity(imageEmbeddings, textEmbeddings), this.config);
  }

  /**
   * Per-pair sigmoid (SigLIP) or softmax over the texts (CLIP) of ``logits``.
   * @param {number[][]} logits
   */
  probabilities(logits) {
    return scoreProbabilities(logits, this.config.score);
  }

  /**
   * Probability of each label for each image (``[labels]`` for one image, ``[images][labels]`` for
   * many): labels put into ``template`` (default: the manifest's, "This is a photo of {}.") and
   * scored with the model's own function.
   * @param {Pixels | Pixels[]} images
   * @param {string[]} labels
   * @param {{template?: string}} [options]
   */
  async classify(images, labels, options = {}) {
    if (!Array.isArray(labels) || !labels.length) throw new InvalidInputError("labels must be a non-empty array of strings");
    validateTexts(labels);
    const template = options.template ?? this.config.default_template;
    if (typeof template !== "string" || !template.includes("{}")) {
      throw new InvalidInputError(`template must be a string containing "{}", got ${JSON.stringify(template)}`);
    }
    const single = !Array.isArray(images);
    const imageEmbeddings = await this.encodeImages(single ? [images] : images);
    const textEmbeddings = await this.encodeTexts(labels.map((l) => template.replace("{}", l)));
    const probs = this.probabilities(this.logits(imageEmbeddings, textEmbeddings));
    return single ? probs[0] : probs;
  }

  /**
   * Text → image search: per text, the ``topK`` indices into ``imageEmbeddings`` and their cosines.
   * @param {string | string[]} texts
   * @param {ArrayLike<number>[]} imageEmbeddings
   * @param {number} [topK]
   */
  async searchImages(texts, imageEmbeddings, topK = 10) {
    const queries = await this.encodeTexts(typeof texts === "string" ? [texts] : texts);
    return topKRows(this.similarity(queries, imageEmbeddings), topK);
  }

  /** Release the onnxruntime sessions. */
  async dispose() {
    await this.session.release?.();
    if (this._text) await (await this._text).session.release?.();
  }
}
