/**
 * Errors of the tessera JavaScript runtime; every one is a {@link TesseraError} whose message says
 * what to do, as in the Python package (tessera_onnx/errors.py).
 * @module errors
 */

/** Base class of every error this package throws. */
export class TesseraError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The artifact directory or its manifest is missing, malformed or of another paradigm. */
export class ArtifactError extends TesseraError {}

/** An artifact file does not match the size or sha256 its manifest records. */
export class ChecksumError extends ArtifactError {}

/** The caller passed something the runtime cannot embed or search. */
export class InvalidInputError extends TesseraError {}

/** A truncation size outside ``1..dim``. */
export class UnsupportedDimensionError extends InvalidInputError {}

/** A saved index file is unreadable, corrupted or of a newer format. */
export class IndexStoreError extends TesseraError {}

/** The ONNX runtime for this platform is not installed. */
export class MissingDependencyError extends TesseraError {}
