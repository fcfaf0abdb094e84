/**
 * SHA-256 through WebCrypto (``crypto.subtle``), present in Node >= 20 and in browsers on secure
 * origins (https, localhost).
 * @module sha256
 */
import { TesseraError } from "./errors.js";

/**
 * Hex sha256 of ``bytes``.
 * @param {Uint8Array} bytes
 * @returns {Promise<string>}
 */
export async function sha256Hex(bytes) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new TesseraError(
      "crypto.subtle is not available: serve the page over https or from localhost, " +
        "or pass verify: false to skip the checksum check",
    );
  }
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}
