// JSON form of an attestation (what `efuse-attest attest --json` prints and `verify` reads):
// bytes as lowercase hex. Parsing checks every field, so a hand-edited file fails with a message
// naming the field rather than somewhere inside verification.
import { type AttestResponse, DEVICE_ID_SIZE, DEVICE_NONCE_SIZE, FIRMWARE_ID_SIZE, fromHex, MAC_SIZE, NONCE_MAX, NONCE_MIN, toHex } from '../protocol/index.js';
import type { Attestation } from './requests/attest.js';
import { KEY_SLOTS } from '../protocol/keyblock.js';

export interface AttestationJson {
  nonce: string;
  response: Record<string, string | number | boolean>;
}

const BYTES: Record<string, [number, number]> = {
  deviceId: [DEVICE_ID_SIZE, DEVICE_ID_SIZE],
  firmwareId: [FIRMWARE_ID_SIZE, FIRMWARE_ID_SIZE],
  deviceNonce: [DEVICE_NONCE_SIZE, DEVICE_NONCE_SIZE],
  mac: [MAC_SIZE, MAC_SIZE],
};
const INTS: Record<string, [number, number]> = { chip: [0, 255], revision: [0, 0xffff], slot: [0, KEY_SLOTS - 1], purpose: [0, 255] };
const BOOLS = ['hmac', 'secureBoot', 'flashEncryption', 'readProtected', 'writeProtected'];

export function attestationToJson(a: Attestation): AttestationJson {
  const r: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(a.response)) r[k] = v instanceof Uint8Array ? toHex(v) : v;
  return { nonce: toHex(a.nonce), response: r };
}

function hexField(v: unknown, name: string, min: number, max: number): Uint8Array {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a hex string`);
  const b = fromHex(v, name);
  if (b.length < min || b.length > max) throw new RangeError(`${name} must be ${min === max ? min : `${min}..${max}`} bytes, got ${b.length}`);
  return b;
}

export function attestationFromJson(value: unknown): Attestation {
  if (typeof value !== 'object' || value === null) throw new TypeError('attestation must be a JSON object');
  const o = value as { nonce?: unknown; response?: unknown };
  const nonce = hexField(o.nonce, 'nonce', NONCE_MIN, NONCE_MAX);
  if (typeof o.response !== 'object' || o.response === null) throw new TypeError('attestation.response must be an object');
  const src = o.response as Record<string, unknown>;
  const r: Record<string, unknown> = {};
  for (const [k, [min, max]] of Object.entries(BYTES)) r[k] = hexField(src[k], `response.${k}`, min, max);
  for (const [k, [min, max]] of Object.entries(INTS)) {
    const v = src[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new RangeError(`response.${k} must be an integer ${min}..${max}`);
    r[k] = v;
  }
  for (const k of BOOLS) {
    if (typeof src[k] !== 'boolean') throw new TypeError(`response.${k} must be true or false`);
    r[k] = src[k];
  }
  if (typeof src.firmwareVersion !== 'string') throw new TypeError('response.firmwareVersion must be a string');
  r.firmwareVersion = src.firmwareVersion;
  return { nonce, response: r as unknown as AttestResponse };
}
