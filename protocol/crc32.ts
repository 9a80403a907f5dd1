// CRC-32/ISO-HDLC (the zlib/Ethernet CRC: reflected poly 0xEDB88320, init and xorout 0xFFFFFFFF).
// Check value: crc32("123456789") = 0xCBF43926. Frames carry it over the payload (docs/protocol.md §2).
// CRC-32 is linear, so the CRC of a slice follows from the running CRCs at its two ends in constant
// time (crc32Slice, the inverse of zlib's crc32_combine): the frame decoder checks every candidate
// frame that way instead of re-reading its body, so its work per input byte is bounded (§2.1).
// The byte loop itself is crc32-loop.ts, which a device runs natively.

import { crc32Update } from './crc32-loop.js';

const POLY = 0xedb88320;
let powers: Uint32Array | undefined;

/** CRC of bytes[start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32Update(0, bytes, start, end);
}

/** a·b modulo the CRC polynomial, both in reflected bit order (zlib's multmodp); a must not be 0. */
function multmodp(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** Largest slice length crc32Slice handles. */
export const CRC_SLICE_MAX = 1024;

/** x^(8n) modulo the polynomial for n = 0..CRC_SLICE_MAX: shifting a CRC over n zero bytes. */
function shiftTable(): Uint32Array {
  if (powers) return powers;
  const t = new Uint32Array(CRC_SLICE_MAX + 1);
  let x8 = 0x80000000; // x^0
  for (let k = 0; k < 8; k++) x8 = x8 & 1 ? (x8 >>> 1) ^ POLY : x8 >>> 1;
  t[0] = 0x80000000;
  for (let n = 1; n <= CRC_SLICE_MAX; n++) t[n] = multmodp(t[n - 1], x8 >>> 0);
  return (powers = t);
}

/**
 * The CRC of the n bytes B, given crcA = crc32(A) and crcAB = crc32(A ‖ B): crc(AB) = crc(A)·x^(8n) ⊕ crc(B).
 * Constant time (one 32-step multiplication), whatever n is, up to CRC_SLICE_MAX.
 */
export function crc32Slice(crcA: number, crcAB: number, n: number): number {
  if (n === 0) return 0;
  return (crcAB ^ multmodp(shiftTable()[n], crcA >>> 0)) >>> 0;
}
