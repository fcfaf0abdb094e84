/**
 * Text preparation and tokenization, as the Python runtime does it (tessera_onnx/text/tokenize.py):
 * prompt prefix, Python's ``str.strip()``, optional lowercasing, then ``tokenizer.json`` with the
 * special tokens, truncated to the model's limit. Tokenization uses ``@huggingface/tokenizers``;
 * truncation keeps the first ``max_length - specials`` content tokens, as the Rust ``tokenizers``
 * library does for a single sequence.
 * @module text
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { ArtifactError, InvalidInputError } from "./errors.js";

/** A text longer than max_length × this many characters is cut (at whitespace) before tokenizing. */
export const CHARS_PER_TOKEN = 16;
const WHITESPACE_LOOKBACK = 256;

// Python's str.isspace() characters (str.strip() removes these; JS trim() differs on \x1c-\x1f, \x85, \ufeff)
export const PY_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const PY_SPACE_SET = new Set(PY_SPACE);

/**
 * Python's ``str.strip()``.
 * @param {string} text
 */
export function pyStrip(text) {
  let start = 0;
  let end = text.length;
  while (start < end && PY_SPACE_SET.has(text[start])) start++;
  while (end > start && PY_SPACE_SET.has(text[end - 1])) end--;
  return text.slice(start, end);
}

/**
 * Check ``texts`` is a string or an array of strings; return ``[list, wasSingleString]``.
 * @param {unknown} texts
 * @returns {[string[], boolean]}
 */
export function validateTexts(texts) {
  if (typeof texts === "string") return [[texts], true];
  if (!Array.isArray(texts)) {
    throw new InvalidInputError(`texts must be a string or an array of strings, got ${texts === null ? "null" : typeof texts}`);
  }
  texts.forEach((t, i) => {
    if (typeof t !== "string") {
      throw new InvalidInputError(`texts[${i}] is ${t === null ? "null" : typeof t}, expected a string`);
    }
  });
  return [texts, false];
}

/**
 * Prefix (prompt), then strip and lowercase as sentence-transformers does.
 * @param {string[]} texts
 * @param {string} prefix
 * @param {{strip?: boolean, lowercase?: boolean}} options
 */
export function prepareTexts(texts, prefix = "", { strip = true, lowercase = false } = {}) {
  return texts.map((t) => {
    let s = prefix ? prefix + t : t;
    if (strip) s = pyStrip(s);
    if (lowercase) s = s.toLowerCase();
    return s;
  });
}

/**
 * Replace lone surrogates (which cannot be UTF-8 encoded) with U+FFFD.
 * @param {string} text
 */
export function sanitizeText(text) {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

/**
 * ``text`` cut to at most ``limit`` code points, before a whitespace when one is near the end.
 * Works on code points as Python's ``len`` and slicing do.
 * @param {string[]} points  the text's code points
 * @param {number} limit
 */
function cut(points, limit) {
  if (points.length <= limit) return points.join("");
  for (let end = limit; end > Math.max(0, limit - WHITESPACE_LOOKBACK); end--) {
    if (isPySpace(points[end])) return points.slice(0, end).join("");
  }
  return points.slice(0, limit).join("");
}

/** @param {string} ch */
function isPySpace(ch) {
  return PY_SPACE_SET.has(ch);
}

/**
 * The token ids of a list of texts, and how many were truncated.
 * @typedef {{ids: number[][], truncated: number}} Tokenized
 */

/** A ``tokenizer.json`` with the Python runtime's truncation (no padding: batches pad themselves). */
export class TextTokenizer {
  /**
   * @param {object | string} json  the parsed ``tokenizer.json`` (or its text)
   * @param {number} maxLength  the model's token limit
   */
  constructor(json, maxLength) {
    try {
      const data = typeof json === "string" ? JSON.parse(json) : json;
      this._tok = new Tokenizer(data, {});
      this._json = data;
    } catch (err) {
      throw new ArtifactError(`cannot load tokenizer.json: ${err}`);
    }
    this.maxLength = maxLength;
    /** @type {any} */
    const tok = this._tok;
    this._specials = tok.post_processor ? tok.post_processor([], null, true).tokens.length : 0;
    /** @type {Set<string>} */
    this._specialTokens = new Set(
      (this._json.added_tokens ?? []).filter((/** @type {any} */ t) => t.special).map((/** @type {any} */ t) => t.content),
    );
  }

  /** Vocabulary size including added tokens. */
  get vocabSize() {
    return this._tok.get_vocab(true).size;
  }

  /** @param {string} token */
  tokenToId(token) {
    /** @type {any} */
    const tok = this._tok;
    return tok.added_tokens_map.get(token)?.id ?? tok.model.tokens_to_ids.get(token) ?? null;
  }

  /** ``vocabulary[id]`` is the token string. */
  get vocabulary() {
    if (!this._vocab) {
      /** @type {string[]} */
      const vocab = new Array(this.vocabSize).fill("");
      for (const [token, id] of this._tok.get_vocab(true)) if (id >= 0 && id < vocab.length) vocab[id] = token;
      this._vocab = vocab;
    }
    return this._vocab;
  }

  /**
   * Tokens of ``text`` with specials, truncated to ``maxLength``; ``overflow`` when tokens were cut.
   * @param {string} text
   * @param {number} maxLength
   * @returns {{ids: number[], overflow: boolean}}
   */
  _encodeOne(text, maxLength) {
    /** @type {any} */
    const tok = this._tok;
    let tokens = tok.encode_text(sanitizeText(text)) ?? [];
    const room = Math.max(0, maxLength - this._specials);
    const overflow = tokens.length > room;
    if (overflow) tokens = tokens.slice(0, room);
    const processed = tok.post_processor ? tok.post_processor(tokens, null, true).tokens : tokens;
    return { ids: this._toIds(processed), overflow };
  }

  /**
   * Ids of token strings (added tokens first, unknown ones as the model's unk id).
   * @param {string[]} tokens
   * @returns {number[]}
   */
  _toIds(tokens) {
    /** @type {any} */
    const tok = this._tok;
    return tokens.map((t) => tok.added_tokens_map.get(t)?.id ?? tok.model.tokens_to_ids.get(t) ?? tok.model.unk_token_id);
  }

  /**
   * Token ids of ``text`` without special tokens and without truncation (Python's
   * ``encode(text, add_special_tokens=False)`` on a tokenizer with truncation off).
   * @param {string} text
   * @returns {number[]}
   */
  idsWithoutSpecials(text) {
    /** @type {any} */
    const tok = this._tok;
    return this._toIds(tok.encode_text(sanitizeText(text)) ?? []);
  }

  /**
   * Tokenize with special tokens, truncated to ``maxLength`` (default: the model's limit).
   *
   * As in Python, a text longer than ``maxLength × CHARS_PER_TOKEN`` characters is cut at a
   * whitespace first, and given more characters while the cut text no longer overflows.
   * @param {string[]} texts
   * @param {number} [maxLength]
   * @returns {Tokenized}
   */
  encode(texts, maxLength) {
    const length = maxLength || this.maxLength;
    const out = [];
    let truncated = 0;
    for (const text of texts) {
      let limit = length * CHARS_PER_TOKEN;
      let result;
      if (text.length > limit && [...text].length > limit) {
        const points = [...text];
        for (;;) {
          const piece = cut(points, limit);
          result = this._encodeOne(piece, length);
          if (result.overflow || piece.length >= text.length) break;
          limit *= 8;
        }
      } else {
        result = this._encodeOne(text, length);
      }
      if (result.overflow && result.ids.length >= length) truncated++;
      out.push(result.ids);
    }
    return { ids: out, truncated };
  }

  /**
   * Tokens of ``text`` with specials, minus a trailing special token (sentence-transformers' prompt length).
   * @param {string} text
   */
  specialPrefixLength(text) {
    /** @type {any} */
    const tok = this._tok;
    const tokens = tok.post_processor
      ? tok.post_processor(tok.encode_text(sanitizeText(text)) ?? [], null, true).tokens
      : tok.encode_text(sanitizeText(text)) ?? [];
    let n = tokens.length;
    if (n && this._specialTokens.has(tokens[n - 1])) n -= 1;
    return n;
  }
}
