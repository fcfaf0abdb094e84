/**
 * The platform-independent core of the tessera JavaScript runtime (no onnxruntime import): artifact
 * reading and verification, tokenization, post-graph ops, quantization and the dense index.
 * ``node.js`` and ``browser.js`` add ``loadModel`` / ``loadIndex`` on their onnxruntime.
 * @module tessera-onnx
 */
export * from "./errors.js";
export { Artifact, parseManifest, verifyBytes, checkMemberName, FORMAT, FORMAT_VERSION, MANIFEST_NAME, PARADIGMS, PRECISIONS } from "./artifact.js";
export { TextTokenizer, prepareTexts, pyStrip, validateTexts, sanitizeText, CHARS_PER_TOKEN } from "./text.js";
export * from "./ops.js";
export * from "./quantization.js";
export { readNpy } from "./npy.js";
export { DenseIndex, INDEX_FORMAT, INDEX_FORMAT_VERSION } from "./dense-index.js";
export { TextEmbedder, TesseraDense, TesseraMultiVector, TesseraSparse, createEmbedder, EMBEDDERS } from "./embedders.js";
export { makeRuntime } from "./runtime.js";
export { urlSource, fetchBytes } from "./sources.js";
export { sha256Hex } from "./sha256.js";
export { TesseraImage, TesseraImage as TesseraImageText, pixelValues, resizeRGB, shortestEdgeSize } from "./image.js";
export { DualEncoderTokenizer, SiglipCanonicalEncoder, siglipCanonicalize, imageTextConfig, logitsFromCosine, scoreProbabilities } from "./image-text.js";
