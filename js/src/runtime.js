/**
 * Building an onnxruntime session for an artifact, shared by the Node and browser entry points.
 * @module runtime
 */

/**
 * A runtime over an onnxruntime module (``onnxruntime-node`` or ``onnxruntime-web``).
 * @param {any} ort
 * @param {string} name
 * @param {any} [defaults]  session options applied to every session (execution providers, threads)
 * @returns {import("./embedders.js").Runtime}
 */
export function makeRuntime(ort, name, defaults = {}) {
  return {
    ort,
    name,
    async createSession(artifact, options = {}, modelFile = undefined) {
      const sessionOptions = { graphOptimizationLevel: "all", ...defaults, ...options };
      const model = modelFile ?? artifact.manifest.model_file;
      const local = artifact.source.localPath;
      if (local) return ort.InferenceSession.create(local(model), sessionOptions);
      const names = artifact.externalDataFiles(model);
      const [bytes, ...external] = await Promise.all([model, ...names].map((n) => artifact.read(n)));
      const externalData = names.map((path, i) => ({ path, data: external[i] }));
      return ort.InferenceSession.create(bytes, externalData.length ? { ...sessionOptions, externalData } : sessionOptions);
    },
  };
}
