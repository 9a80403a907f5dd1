// The one parser of device ids. A device id is the chip's 6-byte factory MAC; its canonical text
// form is 12 lowercase hex digits with no separators ("7cdfa10000aa"), the form the escrow, the DPS
// registration id, the verifier's stores and every output use. People and tools write MACs in other
// ways ("7C:DF:A1:00:00:AA", "7c-df-a1-00-00-aa", "7CDFA10000AA"); every entry point that takes a
// device id (host/keys.ts, host/verify.ts, host/backend.ts, the CLI) passes it through here, so
// all spellings of one MAC name the same device. Portable: no Buffer, no Node APIs.
import { abytes, fromHex, toHex } from './bytes.js';

/** Bytes in a device id (the factory MAC). */
export const DEVICE_ID_BYTES = 6;

// Six hex pairs, with one separator (":" or "-") used throughout, or none at all.
const DEVICE_ID_RE = /^[0-9a-fA-F]{2}(?:([:-]?)[0-9a-fA-F]{2})(?:\1[0-9a-fA-F]{2}){4}$/;

/**
 * The canonical device id (12 lowercase hex digits) of `id`: 6 bytes, or 12 hex digits in either
 * case, optionally with `:` or `-` between every byte pair. TypeError for anything but a string or a
 * Uint8Array; RangeError, naming `name`, for any other length or spelling.
 */
export function parseDeviceId(id: unknown, name = 'deviceId'): string {
  if (id instanceof Uint8Array) return toHex(abytes(id, name, DEVICE_ID_BYTES, DEVICE_ID_BYTES));
  if (typeof id !== 'string') throw new TypeError(`${name} must be a string of 12 hex digits or 6 bytes`);
  if (!DEVICE_ID_RE.test(id)) {
    const shown = id.length > 40 ? id.slice(0, 40) + '…' : id;
    throw new RangeError(`${name} must be 12 hex digits (a MAC such as 7c:df:a1:00:00:aa), got "${shown}"`);
  }
  return id.replace(/[:-]/g, '').toLowerCase();
}

/** The 6 bytes of a device id given in any form parseDeviceId accepts. */
export function deviceIdToBytes(id: unknown, name = 'deviceId'): Uint8Array {
  return id instanceof Uint8Array ? abytes(id, name, DEVICE_ID_BYTES, DEVICE_ID_BYTES) : fromHex(parseDeviceId(id, name), name);
}
