/**
 * The text side of image–text dual encoders (SigLIP, SigLIP2, CLIP), as the Python runtime builds
 * it (tessera_onnx/vision/text.py and tessera_onnx/text/canonical.py): token ids, padding, and the
 * scores of the model (``logit_scale``/``logit_bias``).
 *
 * Padding follows the manifest's ``config.vision``: ``text_padding: "max_length"`` (SigLIP) pads
 * every text to ``max_length`` with the pad id — the pooled last position sees the padding, so a
 * text's vector must not depend on its batch; ``"longest"`` (CLIP: causal mask and EOS pooling)
 * pads to the longest text of the batch. Which of ``input_ids``/``attention_mask`` the graph is fed
 * is ``text_inputs``: a SigLIP graph exported with the trained semantics (``text_semantics:
 * "trained"``) takes ``input_ids`` only, the ``"transformers"`` one takes the mask as well.
 * @module image-text
 */
import { ArtifactError, InvalidInputError } from "./errors.js";
import { PY_SPACE, TextTokenizer, sanitizeText } from "./text.js";

export const SPIECE_UNDERLINE = "\u2581";
// Python's string.punctuation
const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
const SPACE_CLASS = `[${PY_SPACE.replace(/[\\\]^-]/g, "\\$&")}]`;
const WHITESPACE_RUN = new RegExp(`${SPACE_CLASS}+`, "g");
const SPACE_EDGES = new RegExp(`^${SPACE_CLASS}+|${SPACE_CLASS}+$`, "g");

/**
 * ``SiglipTokenizer.canonicalize_text``: drop ASCII punctuation, collapse whitespace runs (Python's
 * ``\s``) to one space, strip the ends.
 * @param {string} text
 */
export function siglipCanonicalizeChunk(text) {
  return text.replace(PUNCTUATION, "").replace(WHITESPACE_RUN, " ").replace(SPACE_EDGES, "");
}

/**
 * The string SigLIP's slow tokenizer hands to SentencePiece for ``text`` (no special tokens in it).
 * @param {string} text
 */
export function siglipCanonicalize(text) {
  return siglipCanonicalizeChunk((SPIECE_UNDERLINE + text.replaceAll(SPIECE_UNDERLINE, " ")).toLowerCase());
}

/**
 * Token ids exactly as SigLIP's slow ``SiglipTokenizer`` gives them, from the converted
 * ``tokenizer.json``: the text is prefixed with ``"▁"`` and lowercased, split around the special
 * tokens (which swallow the whitespace next to them), every other chunk canonicalised and segmented
 * without special tokens, a leading lone ``"▁"`` before a special token dropped, then EOS appended
 * unless the ids already end with it. Truncation keeps ``maxLength - 1`` ids and the EOS.
 */
export class SiglipCanonicalEncoder {
  /**
   * @param {TextTokenizer} tokenizer
   * @param {Record<string, number>} specialTokens  content → id
   * @param {number} eosTokenId
   */
  constructor(tokenizer, specialTokens, eosTokenId) {
    this._tok = tokenizer;
    this._specials = new Map(Object.entries(specialTokens ?? {}));
    this._eos = eosTokenId;
    this._underline = tokenizer.tokenToId(SPIECE_UNDERLINE);
    const names = [...this._specials.keys()].sort((a, b) => b.length - a.length);
    const escape = (/** @type {string} */ s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    this._split = names.length ? new RegExp(`${SPACE_CLASS}*(${names.map(escape).join("|")})${SPACE_CLASS}*`) : null;
  }

  /**
   * ``[isSpecial, text]`` pieces of one text (empty pieces dropped).
   * @param {string} text
   * @returns {[boolean, string][]}
   */
  _chunks(text) {
    const s = (SPIECE_UNDERLINE + text.replaceAll(SPIECE_UNDERLINE, " ")).toLowerCase();
    if (!this._split) return [[false, s]];
    return /** @type {[boolean, string][]} */ (s.split(this._split).map((p, i) => [i % 2 === 1, p]).filter(([, p]) => p));
  }

  /**
   * Ids per text (with the final EOS, no padding) and how many texts were truncated.
   * @param {string[]} texts
   * @param {number} maxLength
   * @returns {{ids: number[][], truncated: number}}
   */
  encode(texts, maxLength) {
    const out = [];
    let truncated = 0;
    for (const text of texts) {
      /** @type {number[]} */
      let ids = [];
      for (const [special, part] of this._chunks(sanitizeText(text))) {
        if (special) {
          if (ids.length === 1 && ids[0] === this._underline) ids = []; // SiglipTokenizer.tokenize drops it
          ids.push(/** @type {number} */ (this._specials.get(part)));
        } else {
          ids.push(...this._tok.idsWithoutSpecials(siglipCanonicalizeChunk(part)));
        }
      }
      if (ids.length > maxLength - 1) {
        truncated++;
        ids = ids.slice(0, maxLength - 1);
      }
      if (!ids.length || ids[ids.length - 1] !== this._eos) ids.push(this._eos);
      out.push(ids);
    }
    return { ids: out, truncated };
  }
}

/**
 * The manifest's ``config.vision`` block with the Python ``ImageTextConfig`` defaults, checked.
 * @param {any} raw
 */
export function imageTextConfig(raw) {
  const cfg = {
    family: "siglip",
    score: "sigmoid",
    logit_scale: 0,
    logit_bias: 0,
    image_model_file: "vision.onnx",
    text_model_file: "text.onnx",
    image_input: "pixel_values",
    image_output: "image_embeds",
    text_output: "text_embeds",
    text_inputs: ["input_ids"],
    text_padding: "max_length",
    text_semantics: "",
    canonicalize: "",
    eos_token_id: 1,
    special_tokens: /** @type {Record<string, number>} */ ({}),
    default_template: "This is a photo of {}.",
    ...(raw ?? {}),
  };
  const bad = (/** @type {string} */ what) => new ArtifactError(`invalid config.vision in manifest: ${what}; re-export the artifact`);
  if (!["sigmoid", "softmax"].includes(cfg.score)) throw bad(`score ${JSON.stringify(cfg.score)}`);
  if (!["max_length", "longest"].includes(cfg.text_padding)) throw bad(`text_padding ${JSON.stringify(cfg.text_padding)}`);
  if (!["", "trained", "transformers"].includes(cfg.text_semantics)) throw bad(`text_semantics ${JSON.stringify(cfg.text_semantics)}`);
  if (!["", "siglip"].includes(cfg.canonicalize)) throw bad(`unknown text canonicalisation ${JSON.stringify(cfg.canonicalize)}`);
  for (const name of cfg.text_inputs) {
    if (!["input_ids", "attention_mask"].includes(name)) throw bad(`text input ${JSON.stringify(name)}`);
  }
  return cfg;
}

/**
 * Padded ids and attention mask of a batch: ``{ids, mask, dims: [B, T]}``.
 * @typedef {{ids: number[], mask: number[], dims: [number, number]}} TextBatch
 */

/** Tokenize and pad texts exactly as the model's reference tokenizer + processor do. */
export class DualEncoderTokenizer {
  /**
   * @param {object | string} tokenizerJson  the parsed ``tokenizer.json`` (or its text)
   * @param {any} text  the manifest's ``config.text`` (max_length, pad_token_id, padding_side)
   * @param {ReturnType<typeof imageTextConfig>} model  the manifest's ``config.vision``
   */
  constructor(tokenizerJson, text, model) {
    this.text = text;
    this.model = model;
    this.maxLength = text.max_length;
    this.tokenizer = new TextTokenizer(tokenizerJson, this.maxLength);
    this._canonical = model.canonicalize === "siglip" ? new SiglipCanonicalEncoder(this.tokenizer, model.special_tokens, model.eos_token_id) : null;
  }

  /**
   * Token ids per text (with special tokens, truncated to ``max_length``), unpadded.
   * @param {string[]} texts
   * @returns {number[][]}
   */
  ids(texts) {
    const { ids, truncated } = this._canonical ? this._canonical.encode(texts, this.maxLength) : this.tokenizer.encode(texts, this.maxLength);
    if (truncated) {
      console.warn(`${truncated} of ${texts.length} texts were longer than ${this.maxLength} tokens and were truncated (the model's maximum length)`);
    }
    return ids;
  }

  /**
   * Padded ``input_ids`` and ``attention_mask`` (row-major ``[B, T]``): T is ``max_length``
   * (``text_padding: "max_length"``) or the longest text of ``texts``.
   * @param {string[]} texts
   * @returns {TextBatch}
   */
  encode(texts) {
    const rows = this.ids(texts);
    const width = this.model.text_padding === "max_length" ? this.maxLength : Math.max(0, ...rows.map((r) => r.length));
    const ids = new Array(rows.length * width).fill(this.text.pad_token_id ?? 0);
    const mask = new Array(rows.length * width).fill(0);
    const left = this.text.padding_side === "left";
    rows.forEach((row, b) => {
      const n = Math.min(row.length, width);
      const start = left ? width - n : 0;
      for (let t = 0; t < n; t++) {
        ids[b * width + start + t] = row[t];
        mask[b * width + start + t] = 1;
      }
    });
    return { ids, mask, dims: [rows.length, width] };
  }
}

/**
 * The model's ``logits_per_image`` ``[images][texts]`` from cosine similarities:
 * ``exp(logit_scale)·cos`` plus ``logit_bias`` for SigLIP's sigmoid score, in float32 as Python.
 * @param {number[][]} cosine
 * @param {{score: string, logit_scale: number, logit_bias: number}} cfg
 */
export function logitsFromCosine(cosine, cfg) {
  const scale = Math.fround(Math.exp(Math.fround(cfg.logit_scale)));
  const bias = cfg.score === "sigmoid" ? Math.fround(cfg.logit_bias) : 0;
  return cosine.map((row) => row.map((c) => Math.fround(Math.fround(Math.fround(c) * scale) + bias)));
}

/**
 * Per-pair sigmoid (SigLIP) or softmax over the text axis (CLIP) of ``logits``.
 * @param {number[][]} logits
 * @param {string} score  ``"sigmoid"`` or ``"softmax"``
 */
export function scoreProbabilities(logits, score) {
  if (score === "sigmoid") return logits.map((row) => row.map((x) => Math.fround(1 / (1 + Math.exp(-x)))));
  return logits.map((row) => {
    const top = Math.max(...row);
    const e = row.map((x) => Math.exp(x - top));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((x) => Math.fround(x / sum));
  });
}

/**
 * Cosine top-``k`` of each query among ``corpus`` (ties: lower index first).
 * @param {number[][]} scores  ``[queries][corpus]`` cosine similarities
 * @param {number} k
 * @returns {{indices: number[][], scores: number[][]}}
 */
export function topKRows(scores, k) {
  if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`topK must be a positive integer, got ${k}`);
  const indices = scores.map((row) =>
    row
      .map((s, i) => /** @type {[number, number]} */ ([s, i]))
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, k)
      .map(([, i]) => i),
  );
  return { indices, scores: indices.map((idx, q) => idx.map((i) => scores[q][i])) };
}
