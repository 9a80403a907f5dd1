// Verification for backends and rigs: pure functions, no I/O. verifyAttestation rebuilds the
// transcript (docs/protocol.md §5) from the nonce the verifier issued and the fields the device
// reported, MACs it with the escrowed key, compares in constant time, then applies the policy to
// the reported security state. verifyMany does the same for many answers, each with its own result.
// verifyToken does the same for SAS tokens (§7). Errors never carry key bytes or MACs.
//
// The attestation path runs at the speed of its HMAC (docs/performance.md §1): the transcript is
// written into one buffer straight behind the padded key (host/hmac.ts), the policy is read where it
// is given, and the result keeps the ids as bytes, spelling them in hex only when asked.
import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  abytes, aint, type AttestResponse, chipName, keyBytes, MAC_SIZE, MAX_TRANSCRIPT, writeTranscript, equalBytes, KEY_SLOTS, parseSasToken, type SasToken,
  PURPOSE_HMAC_UP, purposeName, sasStringToSign, toBase64, toHex,
} from '../protocol/index.js';
import { deviceIdToBytes } from '../protocol/deviceid.js';
import { VerificationError } from './errors.js';
import { Hmac32 } from './hmac.js';

export interface Policy {
  /** Refuse a device whose key block is readable by software (default true). */
  requireReadProtected: boolean;
  /** Refuse a device whose key block is not write-protected (default false). */
  requireWriteProtected: boolean;
  requireSecureBoot: boolean;
  requireFlashEncryption: boolean;
  /** Accept only these firmware ids (hex or bytes); empty or absent = any. */
  firmwareIds?: readonly (string | Uint8Array)[];
}

export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze({
  requireReadProtected: true,
  requireWriteProtected: false,
  requireSecureBoot: false,
  requireFlashEncryption: false,
});

export interface VerifyAttestationOptions {
  /** The escrowed 32-byte key of this device and slot. */
  key: Uint8Array;
  /** The device the verifier expects (6 bytes or 12 hex chars); checked when given. */
  deviceId?: Uint8Array | string;
  /** The key slot the verifier asked for; checked when given. */
  slot?: number;
  policy?: Partial<Policy>;
}

/**
 * What a verified attestation proves. The ids are kept as bytes (`deviceIdBytes`, `firmwareIdBytes`,
 * copies of the answer's); `deviceId` and `firmwareId` spell them in lowercase hex when read, and
 * JSON.stringify gives the hex spellings.
 */
export class VerifiedAttestation {
  readonly deviceIdBytes: Uint8Array;
  readonly chip: string;
  readonly revision: number;
  readonly slot: number;
  readonly secureBoot: boolean;
  readonly flashEncryption: boolean;
  readonly readProtected: boolean;
  readonly writeProtected: boolean;
  readonly firmwareIdBytes: Uint8Array;
  readonly firmwareVersion: string;

  /** From the fields of an answer whose MAC and policy have been checked. */
  constructor(r: AttestResponse) {
    this.deviceIdBytes = r.deviceId.slice();
    this.chip = chipName(r.chip);
    this.revision = r.revision;
    this.slot = r.slot;
    this.secureBoot = r.secureBoot;
    this.flashEncryption = r.flashEncryption;
    this.readProtected = r.readProtected;
    this.writeProtected = r.writeProtected;
    this.firmwareIdBytes = r.firmwareId.slice();
    this.firmwareVersion = r.firmwareVersion;
  }

  /** The device id (factory MAC), 12 lowercase hex digits. */
  get deviceId(): string { return toHex(this.deviceIdBytes); }
  /** The firmware id, 64 lowercase hex digits. */
  get firmwareId(): string { return toHex(this.firmwareIdBytes); }

  toJSON(): Record<string, string | number | boolean> {
    return {
      deviceId: this.deviceId, chip: this.chip, revision: this.revision, slot: this.slot, secureBoot: this.secureBoot,
      flashEncryption: this.flashEncryption, readProtected: this.readProtected, writeProtected: this.writeProtected,
      firmwareId: this.firmwareId, firmwareVersion: this.firmwareVersion,
    };
  }
}

export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(message).digest());
}

/** Reused for every verification: verification is synchronous, and the key is wiped after each MAC. */
const hmac = new Hmac32(MAX_TRANSCRIPT);

function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The firmware id is one the policy allows (or the policy names none). */
function firmwareAllowed(ids: Policy['firmwareIds'], firmwareId: Uint8Array): boolean {
  if (!ids || ids.length === 0) return true;
  const fw = toHex(firmwareId);
  return ids.some((f) => (typeof f === 'string' ? f.toLowerCase() === fw : toHex(f) === fw));
}

/**
 * The checks of verifyAttestation and verifyMany: MAC, then (the fields being authentic) the
 * expected device and slot, the key's purpose and the policy. `policy` is read field by field, each
 * absent one taking DEFAULT_POLICY's value, so no merged policy object is made per answer.
 */
function check(nonce: Uint8Array, r: AttestResponse, key: Uint8Array, deviceId: Uint8Array | string | undefined, slot: number | undefined, policy: Partial<Policy> | undefined): VerifiedAttestation {
  keyBytes(key);
  const n = writeTranscript(r, nonce, hmac.message);
  if (!macEqual(hmac.mac(key, n), abytes(r.mac, 'response.mac', MAC_SIZE, MAC_SIZE))) {
    throw new VerificationError('MAC', `attestation MAC does not verify for device ${toHex(r.deviceId)}: wrong key, wrong nonce, or altered answer`);
  }
  return checkAttestationClaims(r, deviceId, slot, policy);
}

/**
 * What an attestation's authentic fields must say (after its MAC verified): the expected device and
 * slot, an HMAC_UP key and the policy. Shared by verifyAttestation, verifyMany and the HSM keyring.
 */
export function checkAttestationClaims(r: AttestResponse, deviceId: Uint8Array | string | undefined, slot: number | undefined, policy: Partial<Policy> | undefined): VerifiedAttestation {
  if (deviceId !== undefined && !equalBytes(deviceIdToBytes(deviceId, 'deviceId'), r.deviceId)) {
    throw new VerificationError('DEVICE', `attestation is from device ${toHex(r.deviceId)}, expected ${toHex(deviceIdToBytes(deviceId, 'deviceId'))}`);
  }
  if (slot !== undefined && slot !== r.slot) {
    throw new VerificationError('SLOT', `attestation used key slot ${r.slot}, expected ${slot}`);
  }
  if (r.slot >= KEY_SLOTS || r.purpose !== PURPOSE_HMAC_UP) {
    throw new VerificationError('PURPOSE', `key block ${r.slot} purpose is ${purposeName(r.purpose)}, not HMAC_UP`);
  }
  if ((policy?.requireReadProtected ?? DEFAULT_POLICY.requireReadProtected) && !r.readProtected) {
    throw new VerificationError('READ_PROTECT', `key block BLOCK_KEY${r.slot} of device ${toHex(r.deviceId)} is not read-protected: its key may have been read by software`);
  }
  if ((policy?.requireWriteProtected ?? DEFAULT_POLICY.requireWriteProtected) && !r.writeProtected) {
    throw new VerificationError('WRITE_PROTECT', `key block BLOCK_KEY${r.slot} of device ${toHex(r.deviceId)} is not write-protected`);
  }
  if ((policy?.requireSecureBoot ?? DEFAULT_POLICY.requireSecureBoot) && !r.secureBoot) {
    throw new VerificationError('SECURE_BOOT', `device ${toHex(r.deviceId)} does not have secure boot enabled`);
  }
  if ((policy?.requireFlashEncryption ?? DEFAULT_POLICY.requireFlashEncryption) && !r.flashEncryption) {
    throw new VerificationError('FLASH_ENCRYPTION', `device ${toHex(r.deviceId)} does not have flash encryption enabled`);
  }
  if (!firmwareAllowed(policy?.firmwareIds, r.firmwareId)) {
    throw new VerificationError('FIRMWARE', `device ${toHex(r.deviceId)} runs firmware ${toHex(r.firmwareId).slice(0, 16)}…, which the policy does not allow`);
  }
  return new VerifiedAttestation(r);
}

/**
 * Verifies an attestation answer to the challenge `nonce`; returns what it proves, or throws
 * VerificationError with a `reason`: MAC, DEVICE, SLOT, PURPOSE, READ_PROTECT, WRITE_PROTECT,
 * SECURE_BOOT, FLASH_ENCRYPTION, FIRMWARE.
 */
export function verifyAttestation(att: { nonce: Uint8Array; response: AttestResponse }, opts: VerifyAttestationOptions): VerifiedAttestation {
  return check(att.nonce, att.response, opts.key, opts.deviceId, opts.slot, opts.policy);
}

/** One answer for verifyMany: the attestation, its device's escrowed key, and what to expect. */
export interface AttestationToVerify {
  nonce: Uint8Array;
  response: AttestResponse;
  key: Uint8Array;
  deviceId?: Uint8Array | string;
  slot?: number;
}

/**
 * Verifies many answers under one policy, each exactly as verifyAttestation would; each item gets
 * its own result, whatever the others do: what it proves, or the VerificationError it failed with
 * (`result instanceof VerificationError`) — its reason, or MALFORMED for wrong types or sizes.
 * No wrapper object per item, so a batch costs no more per answer than single verifications.
 */
export function verifyMany(items: readonly AttestationToVerify[], opts: { policy?: Partial<Policy> } = {}): (VerifiedAttestation | VerificationError)[] {
  if (!Array.isArray(items)) throw new TypeError('items must be an array');
  const policy = opts.policy;
  const out: (VerifiedAttestation | VerificationError)[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    try {
      if (typeof it !== 'object' || it === null || typeof it.response !== 'object' || it.response === null) {
        throw new TypeError('an item must be an object with nonce, response and key');
      }
      out[i] = check(it.nonce, it.response, it.key, it.deviceId, it.slot, policy);
    } catch (err) {
      out[i] = itemError(err, i);
    }
  }
  return out;
}

function itemError(err: unknown, i: number): VerificationError {
  if (err instanceof VerificationError) return err;
  if (err instanceof TypeError || err instanceof RangeError) return new VerificationError('MALFORMED', `item ${i} is malformed: ${err.message}`);
  throw err;
}

export interface VerifyTokenOptions {
  key: Uint8Array;
  /** When given, the token must be for exactly this resource. */
  resource?: string;
  /**
   * When given, the resource must name this device: its last path segment after "devices/" (Azure's
   * `<hub>/devices/<id>`, optionally `/modules/<m>` after it) must be this id, so a device's key
   * cannot vouch for another device's resource.
   */
  deviceId?: string;
  /** When given, the token's skn must be exactly this ("" for none: a device-scoped token). */
  keyName?: string;
  /** Seconds since the epoch; default now. A token whose expiry is not after `now` is refused. */
  now?: number;
  /**
   * Longest lifetime accepted, in seconds: a token expiring later than now + this is refused
   * (LIFETIME), so a leaked token cannot be used for years. Default DEFAULT_MAX_TOKEN_LIFETIME.
   */
  maxLifetimeSeconds?: number;
}

/** One day: the default bound of a token's remaining lifetime (Azure's SDKs sign for an hour). */
export const DEFAULT_MAX_TOKEN_LIFETIME = 86_400;

/** The device id a SAS resource names: the segment after "devices/", or undefined. */
export function resourceDevice(resource: string): string | undefined {
  const parts = resource.split('/');
  const at = parts.lastIndexOf('devices');
  return at >= 0 && at + 1 < parts.length ? parts[at + 1] : undefined;
}

export interface VerifiedToken {
  resource: string;
  expiry: number;
  keyName: string;
  /**
   * The signature in base64: a token has one accepted spelling (docs/protocol.md §7.2), so this
   * identifies it — the key for a replay or deny list.
   */
  signature: string;
}

/** Verifies a SAS token; throws VerificationError with reason FORMAT, SIGNATURE, RESOURCE or EXPIRED. */
export function verifyToken(token: string, opts: VerifyTokenOptions): VerifiedToken {
  keyBytes(opts.key);
  let t;
  try {
    t = parseSasToken(token);
  } catch (err) {
    throw new VerificationError('FORMAT', `token is malformed: ${(err as Error).message}`);
  }
  const want = hmacSha256(opts.key, sasStringToSign(t.resource, t.expiry));
  if (!macEqual(want, t.signature)) throw new VerificationError('SIGNATURE', 'token signature does not verify with this key');
  return checkTokenClaims(t, opts);
}

/**
 * What a token's authentic fields must say (after its signature verified): the expected resource,
 * device and key name, not expired, and valid no longer than the lifetime allowed. Shared by
 * verifyToken and the HSM keyring, so both refuse the same tokens.
 */
export function checkTokenClaims(t: SasToken, opts: Omit<VerifyTokenOptions, 'key'>): VerifiedToken {
  if (opts.resource !== undefined && opts.resource !== t.resource) {
    throw new VerificationError('RESOURCE', `token is for "${t.resource}", expected "${opts.resource}"`);
  }
  if (opts.deviceId !== undefined && resourceDevice(t.resource) !== opts.deviceId) {
    throw new VerificationError('RESOURCE', `token is for "${t.resource}", not for device "${opts.deviceId}"`);
  }
  if (opts.keyName !== undefined && t.keyName !== opts.keyName) {
    throw new VerificationError('KEY_NAME', `token names the key "${t.keyName}", expected ${opts.keyName ? `"${opts.keyName}"` : 'none'}`);
  }
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (t.expiry <= now) throw new VerificationError('EXPIRED', `token expired at ${new Date(t.expiry * 1000).toISOString()}`);
  const max = opts.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME;
  aint(max, 'maxLifetimeSeconds', 1, 0xffffffff);
  if (t.expiry - now > max) {
    throw new VerificationError('LIFETIME', `token is valid until ${new Date(t.expiry * 1000).toISOString()}, more than ${max} s from now`);
  }
  return { resource: t.resource, expiry: t.expiry, keyName: t.keyName, signature: toBase64(t.signature) };
}
