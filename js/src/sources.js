/**
 * File sources for artifacts and indexes: a base URL read with ``fetch`` (browser and Node), or
 * any object with ``read(name)`` (see node.js for directories).
 * @module sources
 */
import { ArtifactError } from "./errors.js";

/**
 * Files under a base URL (``https://host/models/minilm/`` or a page-relative ``./model/``).
 * @param {string | URL} base
 * @param {{fetch?: typeof fetch, init?: RequestInit}} [options]
 * @returns {import("./artifact.js").FileSource}
 */
export function urlSource(base, options = {}) {
  const doFetch = options.fetch ?? globalThis.fetch;
  let text = String(base);
  if (!text.endsWith("/")) text += "/";
  const root = typeof location !== "undefined" ? new URL(text, location.href) : new URL(text);
  return {
    location: root.href,
    async read(name) {
      const url = new URL(name, root);
      if (!url.href.startsWith(root.href)) throw new ArtifactError(`${name} resolves outside ${root.href}`);
      let response;
      try {
        response = await doFetch(url, options.init);
      } catch (err) {
        throw new ArtifactError(`cannot fetch ${url.href}: ${err}`);
      }
      if (!response.ok) throw new ArtifactError(`cannot fetch ${url.href}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

/**
 * Fetch one file (an index) as bytes.
 * @param {string | URL} url
 * @param {{fetch?: typeof fetch}} [options]
 */
export async function fetchBytes(url, options = {}) {
  const doFetch = options.fetch ?? globalThis.fetch;
  const response = await doFetch(url);
  if (!response.ok) throw new ArtifactError(`cannot fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
