/**
 * Reading NumPy ``.npy`` arrays (format 1.0-3.0, little-endian numeric dtypes, C order).
 * @module npy
 */
import { IndexStoreError } from "./errors.js";

const TYPES = /** @type {Record<string, any>} */ ({
  "<f4": Float32Array,
  "<f8": Float64Array,
  "<i8": BigInt64Array,
  "<u8": BigUint64Array,
  "<i4": Int32Array,
  "<u4": Uint32Array,
  "<i2": Int16Array,
  "<u2": Uint16Array,
  "|i1": Int8Array,
  "|u1": Uint8Array,
  "|b1": Uint8Array,
});

/**
 * A parsed array: flat typed ``data`` and its ``shape``.
 * @typedef {{data: any, shape: number[], dtype: string}} NpyArray
 */

/**
 * Parse ``.npy`` bytes.
 * @param {Uint8Array} bytes
 * @param {string} [what]  a name for error messages
 * @returns {NpyArray}
 */
export function readNpy(bytes, what = "array") {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new IndexStoreError(`${what} is not a .npy array`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder("latin1").decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new IndexStoreError(`${what}: unreadable .npy header ${header}`);
  const Type = TYPES[descr];
  if (!Type) throw new IndexStoreError(`${what}: dtype ${descr} is not supported`);
  if (fortran === "True") throw new IndexStoreError(`${what}: Fortran-ordered arrays are not supported`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLength;
  const size = count * Type.BYTES_PER_ELEMENT;
  if (bytes.length - offset < size) throw new IndexStoreError(`${what}: truncated .npy data`);
  const copy = bytes.slice(offset, offset + size); // aligned, owned
  return { data: new Type(copy.buffer, 0, count), shape, dtype: descr };
}
