/**
 * Node entry point: artifacts from a directory (or a URL) on onnxruntime-node.
 *
 *     import { loadModel, loadIndex } from "tessera-onnx";
 *     const model = await loadModel("./all-minilm-l6-v2");
 *     const vectors = await model.encode(["a text", "another"]);
 * @module node
 */
import { promises as fs, realpathSync } from "node:fs";
import path from "node:path";
import { Artifact, checkMemberName } from "./artifact.js";
import { createEmbedder } from "./embedders.js";
import { ArtifactError, MissingDependencyError } from "./errors.js";
import { DenseIndex } from "./dense-index.js";
import { makeRuntime } from "./runtime.js";
import { urlSource } from "./sources.js";

export * from "./index.js";

/**
 * Files of an artifact directory; names resolving outside it (``..``, symlinks) are refused.
 * @param {string} dir
 * @returns {import("./artifact.js").FileSource}
 */
export function dirSource(dir) {
  const root = path.resolve(dir);
  const member = (/** @type {string} */ name) => {
    checkMemberName(name, "files entry");
    const file = path.resolve(root, name);
    let real = file;
    try {
      real = realpathSync(file);
    } catch {
      return file; // missing: read() reports it
    }
    const realRoot = realpathSync(root);
    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
      throw new ArtifactError(`artifact file ${JSON.stringify(name)} resolves to ${real}, outside the artifact directory ${realRoot}`);
    }
    return real;
  };
  return {
    location: root,
    localPath: member,
    async read(name) {
      try {
        return new Uint8Array(await fs.readFile(member(name)));
      } catch (err) {
        if (err instanceof ArtifactError) throw err;
        throw new ArtifactError(`artifact file ${JSON.stringify(name)} is missing from ${root}; re-export or re-download it`);
      }
    },
  };
}

/** @type {Promise<any> | null} */
let ortPromise = null;

async function nodeOrt() {
  ortPromise ??= import("onnxruntime-node").catch((err) => {
    ortPromise = null;
    throw new MissingDependencyError(`onnxruntime-node is not installed (${err.message}): npm install onnxruntime-node --ignore-scripts`);
  });
  return ortPromise;
}

/**
 * Load the embedder of an artifact directory or URL (the class follows the manifest's paradigm).
 * @param {string | URL} location  a directory, or an ``http(s)://`` base URL
 * @param {{verify?: boolean, maxLength?: number, batchSize?: number, dimension?: number, normalize?: boolean, topK?: number, threads?: number, sessionOptions?: any}} [options]
 */
export async function loadModel(location, options = {}) {
  const text = String(location);
  const source = /^https?:\/\//.test(text) ? urlSource(text) : dirSource(text);
  const artifact = await Artifact.open(source, { verify: options.verify });
  const defaults = options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {};
  return createEmbedder(artifact, makeRuntime(await nodeOrt(), "node", defaults), options);
}

/**
 * Read a saved dense index file (every member checked against its sha256).
 * @param {string} file
 */
export async function loadIndex(file) {
  return DenseIndex.fromBytes(new Uint8Array(await fs.readFile(file)), file);
}
