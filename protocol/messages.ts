// Message codec for protocol v1 (docs/protocol.md §3–4). A frame payload is one message:
// VERSION u8 | TYPE u8 | ID u16le | body. Requests have TYPE < 0x80; a response echoes the request's
// ID with TYPE | 0x80, or is ERROR (0x7F). Decoders accept exactly the documented layout and throw
// MalformedError for anything else.
import { abytes, aint, astring, MalformedError, Reader, utf8Decode, utf8Encode, Writer } from './bytes.js';
import { MAX_PAYLOAD } from './frame.js';
import { KEY_SLOTS, keySlot } from './keyblock.js';

export const VERSION = 1;

export const MsgType = Object.freeze({
  PING: 0x01,
  INFO: 0x02,
  ATTEST: 0x03,
  TOKEN: 0x04,
  ERROR: 0x7f,
  RESPONSE: 0x80,
} as const);

export const NONCE_MIN = 16;
export const NONCE_MAX = 64;
export const DEVICE_NONCE_SIZE = 16;
export const MAC_SIZE = 32;
export const DEVICE_ID_SIZE = 6;
export const FIRMWARE_ID_SIZE = 32;
export const MAX_FIRMWARE_VERSION = 32;
export const MAX_PING = 64;
export const MAX_RESOURCE = 256;
export const MAX_KEY_NAME = 64;
/**
 * Longest token (§4.4): every valid TOKEN request fits — "SharedAccessSignature sr=" 25 + 256 × 3
 * (each resource byte as %XX) + "&sig=" 5 + 44 × 3 (percent-encoded base64) + "&skn=" 5 + 64 + "&se=" 4
 * + 10 digits = 1013, and 4 + 2 + 1013 ≤ MAX_PAYLOAD.
 */
export const MAX_TOKEN = 1013;
export const MAX_DETAIL = 200;
/**
 * Key roles (DESIGN.md, security model): by default the firmware signs cloud tokens only with
 * BLOCK_KEY1 and attests only with the other blocks (the native module's defines efuse.token_slots and
 * efuse.attest_slots), and answers KEY_ROLE for the other use of a block. BLOCK_KEY0 is the default
 * attestation block.
 */
export const ATTEST_SLOT = 0;
export const TOKEN_SLOT = 1;

export interface KeyBlockInfo {
  purpose: number;
  readProtected: boolean;
  writeProtected: boolean;
  unused: boolean;
}

/** What INFO reports (§4.2), and the part of it an attestation binds. */
export interface DeviceState {
  chip: number;
  revision: number;
  deviceId: Uint8Array;
  hmac: boolean;
  secureBoot: boolean;
  flashEncryption: boolean;
  firmwareId: Uint8Array;
  firmwareVersion: string;
}

export interface DeviceInfo extends DeviceState {
  keys: KeyBlockInfo[];
}

/** The ATTEST response body (§4.3): the transcript's fields bar the host nonce, and the MAC. */
export interface AttestResponse extends DeviceState {
  slot: number;
  purpose: number;
  readProtected: boolean;
  writeProtected: boolean;
  deviceNonce: Uint8Array;
  mac: Uint8Array;
}

export type Request =
  | { type: 'ping'; id: number; data: Uint8Array }
  | { type: 'info'; id: number }
  | { type: 'attest'; id: number; slot: number; nonce: Uint8Array }
  | { type: 'token'; id: number; slot: number; expiry: number; resource: string; keyName: string };

export type Response =
  | { type: 'ping'; id: number; data: Uint8Array }
  | { type: 'info'; id: number; info: DeviceInfo }
  | { type: 'attest'; id: number; attestation: AttestResponse }
  | { type: 'token'; id: number; token: string }
  | { type: 'error'; id: number; status: number; espErr: number; detail: string };

const TYPE_OF: Record<Request['type'], number> = { ping: MsgType.PING, info: MsgType.INFO, attest: MsgType.ATTEST, token: MsgType.TOKEN };

function header(w: Writer, type: number, id: number): Writer {
  aint(id, 'id', 0, 0xffff);
  return w.u8(VERSION).u8(type).u16(id);
}

function checkSize(out: Uint8Array): Uint8Array {
  if (out.length > MAX_PAYLOAD) throw new RangeError(`message is ${out.length} bytes, more than ${MAX_PAYLOAD}`);
  return out;
}

export function securityFlags(s: { hmac: boolean; secureBoot: boolean; flashEncryption: boolean }): number {
  return (s.hmac ? 1 : 0) | (s.secureBoot ? 2 : 0) | (s.flashEncryption ? 4 : 0);
}

export function keyFlags(k: { readProtected: boolean; writeProtected: boolean; unused?: boolean }): number {
  return (k.readProtected ? 1 : 0) | (k.writeProtected ? 2 : 0) | (k.unused ? 4 : 0);
}

/** Checks a state before any of it is written; returns its firmware version as UTF-8, for writeState. */
function checkState(s: DeviceState): Uint8Array {
  aint(s.chip, 'chip', 0, 255);
  aint(s.revision, 'revision', 0, 0xffff);
  abytes(s.deviceId, 'deviceId', DEVICE_ID_SIZE, DEVICE_ID_SIZE);
  abytes(s.firmwareId, 'firmwareId', FIRMWARE_ID_SIZE, FIRMWARE_ID_SIZE);
  const version = utf8Encode(astring(s.firmwareVersion, 'firmwareVersion'));
  if (version.length > MAX_FIRMWARE_VERSION) {
    throw new RangeError(`firmwareVersion must be at most ${MAX_FIRMWARE_VERSION} bytes`);
  }
  return version;
}

function writeState(w: Writer, s: DeviceState, version: Uint8Array): void {
  w.u8(s.chip).u16(s.revision).bytes(s.deviceId).u8(securityFlags(s)).bytes(s.firmwareId).lbytes(version);
}

function readState(r: Reader): DeviceState {
  const chip = r.u8('chip');
  const revision = r.u16('revision');
  const deviceId = r.bytes(DEVICE_ID_SIZE, 'device id');
  const flags = r.u8('security flags');
  if (flags & ~7) throw new MalformedError(`reserved security flag bits set: 0x${flags.toString(16)}`);
  const firmwareId = r.bytes(FIRMWARE_ID_SIZE, 'firmware id');
  const firmwareVersion = utf8Decode(r.lbytes(0, MAX_FIRMWARE_VERSION, 'firmware version'));
  return { chip, revision, deviceId, hmac: (flags & 1) !== 0, secureBoot: (flags & 2) !== 0, flashEncryption: (flags & 4) !== 0, firmwareId, firmwareVersion };
}

function readKeyFlags(r: Reader, what: string): { readProtected: boolean; writeProtected: boolean; unused: boolean } {
  const f = r.u8(what);
  if (f & ~7) throw new MalformedError(`reserved ${what} bits set: 0x${f.toString(16)}`);
  return { readProtected: (f & 1) !== 0, writeProtected: (f & 2) !== 0, unused: (f & 4) !== 0 };
}

export function encodeRequest(req: Request): Uint8Array {
  const type = TYPE_OF[req.type];
  if (type === undefined) throw new TypeError(`request type must be one of ${Object.keys(TYPE_OF).join(', ')}`);
  const w = header(new Writer(), type, req.id);
  switch (req.type) {
    case 'ping':
      w.bytes(abytes(req.data, 'data', 0, MAX_PING));
      break;
    case 'info':
      break;
    case 'attest':
      keySlot(req.slot);
      w.u8(req.slot).lbytes(abytes(req.nonce, 'nonce', NONCE_MIN, NONCE_MAX));
      break;
    case 'token': {
      keySlot(req.slot);
      aint(req.expiry, 'expiry', 1, 0xffffffff);
      const res = utf8Encode(astring(req.resource, 'resource'));
      if (res.length < 1 || res.length > MAX_RESOURCE) throw new RangeError(`resource must be 1..${MAX_RESOURCE} bytes`);
      const name = utf8Encode(astring(req.keyName, 'keyName'));
      if (name.length > MAX_KEY_NAME) throw new RangeError(`keyName must be at most ${MAX_KEY_NAME} bytes`);
      w.u8(req.slot).u32(req.expiry).u16(res.length).bytes(res).lbytes(name);
      break;
    }
  }
  return checkSize(w.finish());
}

/** The version, type and id of a message, read before its body so a device can answer errors. */
export function decodeHeader(payload: Uint8Array): { version: number; type: number; id: number } {
  abytes(payload, 'payload');
  if (payload.length < 4) throw new MalformedError(`message is ${payload.length} bytes, shorter than its 4-byte header`);
  return { version: payload[0], type: payload[1], id: payload[2] | (payload[3] << 8) };
}

export function decodeRequest(payload: Uint8Array): Request {
  const { version, type, id } = decodeHeader(payload);
  if (version !== VERSION) throw new MalformedError(`protocol version ${version} is not supported (want ${VERSION})`, 'BAD_VERSION');
  const r = new Reader(payload.subarray(4));
  let req: Request;
  switch (type) {
    case MsgType.PING: {
      const n = payload.length - 4;
      if (n > MAX_PING) throw new MalformedError(`ping data is ${n} bytes, more than ${MAX_PING}`);
      req = { type: 'ping', id, data: r.bytes(n, 'ping data') };
      break;
    }
    case MsgType.INFO:
      req = { type: 'info', id };
      break;
    case MsgType.ATTEST: {
      const slot = r.u8('slot');
      const n = r.u8('nonce length');
      req = { type: 'attest', id, slot, nonce: r.bytes(n, 'nonce') };
      break;
    }
    case MsgType.TOKEN: {
      const slot = r.u8('slot');
      const expiry = r.u32('expiry');
      const n = r.u16('resource length');
      // An unacceptable length is BAD_RESOURCE whichever way it is wrong, like an unacceptable text (§4.4).
      if (n < 1 || n > MAX_RESOURCE) throw new MalformedError(`resource must be 1..${MAX_RESOURCE} bytes, got ${n}`, 'BAD_RESOURCE');
      const resource = utf8Decode(r.bytes(n, 'resource'));
      const k = r.u8('key name length');
      if (k > MAX_KEY_NAME) throw new MalformedError(`key name must be at most ${MAX_KEY_NAME} bytes, got ${k}`, 'BAD_RESOURCE');
      const keyName = utf8Decode(r.bytes(k, 'key name'));
      req = { type: 'token', id, slot, expiry, resource, keyName };
      break;
    }
    default:
      throw new MalformedError(`message type 0x${type.toString(16)} is not a request`, 'UNKNOWN_TYPE');
  }
  r.end('request');
  // Semantic checks (slot range, nonce length…) are the device's, so it can answer a precise status.
  return req;
}

export function encodeResponse(res: Response): Uint8Array {
  const w = new Writer();
  switch (res.type) {
    case 'ping':
      header(w, MsgType.PING | MsgType.RESPONSE, res.id).bytes(abytes(res.data, 'data', 0, MAX_PING));
      break;
    case 'info': {
      const info = res.info;
      const version = checkState(info);
      if (!Array.isArray(info.keys) || info.keys.length > KEY_SLOTS) throw new RangeError(`keys must be an array of at most ${KEY_SLOTS} blocks`);
      header(w, MsgType.INFO | MsgType.RESPONSE, res.id);
      writeState(w, info, version);
      w.u8(info.keys.length);
      for (const k of info.keys) w.u8(aint(k.purpose, 'purpose', 0, 255)).u8(keyFlags(k));
      break;
    }
    case 'attest': {
      const a = res.attestation;
      const version = checkState(a);
      keySlot(a.slot);
      aint(a.purpose, 'purpose', 0, 255);
      abytes(a.deviceNonce, 'deviceNonce', DEVICE_NONCE_SIZE, DEVICE_NONCE_SIZE);
      abytes(a.mac, 'mac', MAC_SIZE, MAC_SIZE);
      header(w, MsgType.ATTEST | MsgType.RESPONSE, res.id);
      w.u8(a.slot).u8(a.purpose).u8(keyFlags(a));
      writeState(w, a, version);
      w.bytes(a.deviceNonce).bytes(a.mac);
      break;
    }
    case 'token': {
      const t = utf8Encode(astring(res.token, 'token'));
      if (t.length > MAX_TOKEN) throw new RangeError(`token must be at most ${MAX_TOKEN} bytes`);
      header(w, MsgType.TOKEN | MsgType.RESPONSE, res.id).u16(t.length).bytes(t);
      break;
    }
    case 'error': {
      aint(res.status, 'status', 0, 0xffff);
      aint(res.espErr, 'espErr', -0x80000000, 0x7fffffff);
      let d = utf8Encode(astring(res.detail, 'detail'));
      if (d.length > MAX_DETAIL) d = d.subarray(0, MAX_DETAIL);
      header(w, MsgType.ERROR, res.id).u16(res.status).u32(res.espErr >>> 0).lbytes(d);
      break;
    }
    default:
      throw new TypeError('response type must be one of ping, info, attest, token, error');
  }
  return checkSize(w.finish());
}

export function decodeResponse(payload: Uint8Array): Response {
  const { version, type, id } = decodeHeader(payload);
  if (version !== VERSION) throw new MalformedError(`protocol version ${version} is not supported (want ${VERSION})`, 'BAD_VERSION');
  const r = new Reader(payload.subarray(4));
  let res: Response;
  switch (type) {
    case MsgType.PING | MsgType.RESPONSE: {
      const n = payload.length - 4;
      if (n > MAX_PING) throw new MalformedError(`ping data is ${n} bytes, more than ${MAX_PING}`);
      res = { type: 'ping', id, data: r.bytes(n, 'ping data') };
      break;
    }
    case MsgType.INFO | MsgType.RESPONSE: {
      const state = readState(r);
      const n = r.u8('key block count');
      if (n > KEY_SLOTS) throw new MalformedError(`key block count ${n} is more than ${KEY_SLOTS}`);
      const keys: KeyBlockInfo[] = [];
      for (let i = 0; i < n; i++) {
        const purpose = r.u8('key purpose');
        keys.push({ purpose, ...readKeyFlags(r, 'key flags') });
      }
      res = { type: 'info', id, info: { ...state, keys } };
      break;
    }
    case MsgType.ATTEST | MsgType.RESPONSE: {
      const slot = r.u8('slot');
      if (slot >= KEY_SLOTS) throw new MalformedError(`slot ${slot} is outside 0..${KEY_SLOTS - 1}`);
      const purpose = r.u8('key purpose');
      const { readProtected, writeProtected } = readKeyFlags(r, 'key flags');
      // The state's object is the attestation: its fields added to it, not copied into a new one.
      const a = readState(r) as AttestResponse;
      a.slot = slot;
      a.purpose = purpose;
      a.readProtected = readProtected;
      a.writeProtected = writeProtected;
      a.deviceNonce = r.bytes(DEVICE_NONCE_SIZE, 'device nonce');
      a.mac = r.bytes(MAC_SIZE, 'mac');
      res = { type: 'attest', id, attestation: a };
      break;
    }
    case MsgType.TOKEN | MsgType.RESPONSE: {
      const n = r.u16('token length');
      if (n > MAX_TOKEN) throw new MalformedError(`token is ${n} bytes, more than ${MAX_TOKEN}`);
      res = { type: 'token', id, token: utf8Decode(r.bytes(n, 'token')) };
      break;
    }
    case MsgType.ERROR: {
      const status = r.u16('status');
      const espErr = r.i32('esp_err');
      const detail = utf8Decode(r.lbytes(0, MAX_DETAIL, 'detail'));
      res = { type: 'error', id, status, espErr, detail };
      break;
    }
    default:
      throw new MalformedError(`message type 0x${type.toString(16)} is not a response`, 'UNKNOWN_TYPE');
  }
  r.end('response');
  return res;
}
