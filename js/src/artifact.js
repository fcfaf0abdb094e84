/**
 * The artifact format (``tessera.json`` + ``model.onnx`` + tokenizer), read from any
 * {@link FileSource}: a directory in Node, a base URL in the browser or in Node.
 *
 * Checks are those of the Python runtime (tessera_onnx/artifact.py): the manifest's format and
 * version, paradigm, precision, dimension, Matryoshka sizes and member names, then every file the
 * manifest lists against its recorded size and sha256.
 * @module artifact
 */
import { ArtifactError, ChecksumError } from "./errors.js";
import { sha256Hex } from "./sha256.js";

export const FORMAT = "tessera-artifact";
export const FORMAT_VERSION = 1;
export const MANIFEST_NAME = "tessera.json";
export const PARADIGMS = ["dense", "multi_vector", "sparse", "vision", "timeseries", "hyperbolic", "pages"];
export const PRECISIONS = ["fp32", "fp16", "int8", "fp64"];

/**
 * Where artifact files come from.
 * @typedef {object} FileSource
 * @property {string} location  the directory or URL, for messages
 * @property {(name: string) => Promise<Uint8Array>} read  the bytes of a member (throws ArtifactError when missing)
 * @property {((name: string) => string) | undefined} [localPath]  a file path for the member (Node only)
 */

/**
 * The parsed ``tessera.json``.
 * @typedef {object} Manifest
 * @property {string} model_id
 * @property {string} paradigm
 * @property {string} architecture
 * @property {number} dim
 * @property {string[]} inputs
 * @property {string[]} outputs
 * @property {Record<string, any>} config
 * @property {number[]} matryoshka_dims
 * @property {string} precision
 * @property {number} opset
 * @property {string} model_file
 * @property {Record<string, {sha256: string, size: number}>} files
 */

/**
 * Refuse a member name that is not a plain relative path inside the artifact.
 * @param {unknown} name
 * @param {string} what
 */
export function checkMemberName(name, what) {
  if (typeof name !== "string" || !name || name.includes("\0")) {
    throw new ArtifactError(`manifest ${what} ${JSON.stringify(name)} is not a file name; re-export the artifact`);
  }
  const parts = name.replaceAll("\\", "/").split("/");
  if (name.startsWith("/") || name.startsWith("\\") || /^[A-Za-z]:/.test(name) || parts.includes("..")) {
    throw new ArtifactError(
      `manifest ${what} ${JSON.stringify(name)} points outside the artifact directory (absolute path or '..'); ` +
        "the manifest was crafted or corrupted: re-export or re-download the artifact",
    );
  }
}

/**
 * Validate parsed manifest JSON and fill the defaults, as ``Manifest.from_dict`` does.
 * @param {any} data
 * @returns {Manifest}
 */
export function parseManifest(data) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ArtifactError(`${MANIFEST_NAME} must hold a JSON object`);
  }
  if (data.format !== FORMAT) {
    throw new ArtifactError(
      `not a tessera artifact manifest (format=${JSON.stringify(data.format)}, expected ${JSON.stringify(FORMAT)})`,
    );
  }
  if (data.format_version !== FORMAT_VERSION) {
    throw new ArtifactError(
      `artifact format_version ${JSON.stringify(data.format_version)} is not supported (supports ${FORMAT_VERSION}); ` +
        "upgrade tessera-onnx or re-export the artifact",
    );
  }
  const missing = ["model_id", "paradigm", "architecture", "dim", "inputs", "outputs"].filter((k) => !(k in data));
  if (missing.length) throw new ArtifactError(`manifest is missing required fields ${JSON.stringify(missing)}`);
  /** @type {Manifest} */
  const m = {
    config: {},
    matryoshka_dims: [],
    precision: "fp32",
    opset: 17,
    model_file: "model.onnx",
    files: {},
    ...data,
  };
  if (!PARADIGMS.includes(m.paradigm)) {
    throw new ArtifactError(
      `manifest paradigm ${JSON.stringify(m.paradigm)} is not one of ${PARADIGMS.join(", ")}; ` +
        "re-export the artifact with a current tessera-export",
    );
  }
  if (!PRECISIONS.includes(m.precision)) {
    throw new ArtifactError(`manifest precision ${JSON.stringify(m.precision)} is not one of ${PRECISIONS.join(", ")}`);
  }
  if (!Number.isInteger(m.dim) || m.dim <= 0) {
    throw new ArtifactError(`manifest dim must be a positive integer, got ${JSON.stringify(m.dim)}`);
  }
  const bad = m.matryoshka_dims.filter((d) => !(d > 0 && d <= m.dim));
  if (bad.length) throw new ArtifactError(`manifest matryoshka_dims ${JSON.stringify(bad)} are outside 1..${m.dim}`);
  checkMemberName(m.model_file, "model_file");
  for (const name of Object.keys(m.files)) checkMemberName(name, "files entry");
  return m;
}

/**
 * Check one artifact member's bytes against the manifest (size, then sha256).
 * @param {Manifest} manifest
 * @param {string} name
 * @param {Uint8Array} bytes
 * @param {string} location
 */
export async function verifyBytes(manifest, name, bytes, location) {
  const entry = manifest.files[name];
  if (!entry) {
    throw new ArtifactError(
      `manifest of ${location} records no checksum for ${JSON.stringify(name)}; re-export the artifact ` +
        "(or pass verify: false to skip verification)",
    );
  }
  if ("size" in entry && bytes.byteLength !== entry.size) {
    throw new ChecksumError(
      `artifact file ${JSON.stringify(name)} in ${location} has ${bytes.byteLength} bytes, the manifest records ` +
        `${entry.size}: it is truncated or altered; re-export or re-download it`,
    );
  }
  if ((await sha256Hex(bytes)) !== entry.sha256) {
    throw new ChecksumError(
      `artifact file ${JSON.stringify(name)} in ${location} does not match its sha256 in ${MANIFEST_NAME}: ` +
        "it was altered or corrupted; re-export or re-download it",
    );
  }
}

/** An opened artifact: its manifest and verified access to its files. */
export class Artifact {
  /**
   * @param {FileSource} source
   * @param {Manifest} manifest
   * @param {{verify?: boolean}} [options]
   */
  constructor(source, manifest, options = {}) {
    this.source = source;
    this.manifest = manifest;
    this.verify = options.verify ?? true;
    /** @type {Map<string, Promise<Uint8Array>>} */
    this._bytes = new Map();
  }

  /**
   * Read the manifest of ``source`` (checksums are checked as files are read).
   * @param {FileSource} source
   * @param {{verify?: boolean}} [options]
   */
  static async open(source, options = {}) {
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(await source.read(MANIFEST_NAME));
    } catch (err) {
      if (err instanceof ArtifactError) {
        throw new ArtifactError(
          `${source.location} has no readable ${MANIFEST_NAME}: it is not a tessera artifact. ` +
            "Create one with `tessera-export build`.",
        );
      }
      throw new ArtifactError(`${source.location}/${MANIFEST_NAME} is not valid UTF-8 (${err}); re-export the artifact`);
    }
    let data;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new ArtifactError(`${source.location}/${MANIFEST_NAME} is not valid JSON (${err}); re-export the artifact`);
    }
    const manifest = parseManifest(data);
    if (options.verify !== false && !Object.keys(manifest.files).length) {
      throw new ArtifactError(`manifest of ${source.location} lists no files; re-export the artifact`);
    }
    return new Artifact(source, manifest, options);
  }

  /**
   * The bytes of member ``name``, checked against the manifest unless verification is off.
   * @param {string} name
   * @returns {Promise<Uint8Array>}
   */
  read(name) {
    checkMemberName(name, "files entry");
    let pending = this._bytes.get(name);
    if (!pending) {
      pending = (async () => {
        const bytes = await this.source.read(name);
        if (this.verify) await verifyBytes(this.manifest, name, bytes, this.source.location);
        return bytes;
      })();
      this._bytes.set(name, pending);
    }
    return pending;
  }

  /** Forget cached file bytes (after the session was built from them). */
  release() {
    this._bytes.clear();
  }

  /**
   * Check every file the manifest lists (as ``verify_files`` in Python); a no-op without verification.
   * @returns {Promise<void>}
   */
  async verifyAll() {
    if (!this.verify) return;
    await Promise.all(Object.keys(this.manifest.files).map((name) => this.read(name)));
  }

  /**
   * Names of the external-data files of a graph (``model.onnx.data`` and the like).
   * @param {string} [model]  the graph's file (default: the manifest's ``model_file``)
   */
  externalDataFiles(model = this.manifest.model_file) {
    return Object.keys(this.manifest.files).filter((n) => n !== model && n.startsWith(model));
  }
}
