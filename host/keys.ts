// Device keys: fresh 256-bit keys from the operating system's CSPRNG, and per-device keys derived from
// a master secret with the Azure DPS group-enrollment scheme, so a backend holding only the master
// (the DPS group key) can recompute any device's key (docs/provisioning.md §4).
//
//   deviceKey = HMAC-SHA256(master, utf8(registrationId))
//   registrationId = the device id: the 6 factory-MAC bytes as 12 lowercase hex digits, no separators
//                    (MAC aa:bb:cc:dd:ee:0f → "aabbccddee0f")
//
// DPS computes base64(HMAC-SHA256(base64decode(groupKey), utf8(registrationId))): with the decoded
// group key as `master`, the two agree byte for byte.
import { createHmac, getRandomValues } from 'node:crypto';
import { toHex, utf8Encode } from '../protocol/index.js';
import { parseDeviceId } from '../protocol/deviceid.js';
import { KEY_SIZE } from '../protocol/keyblock.js';

export { KEY_SIZE };
/** A master shorter than this is refused: it would be guessable from any one derived key. */
export const MASTER_MIN = 16;
export const MASTER_MAX = 1024;

/** The derivation recorded in the escrow beside a derived key (EscrowRecord.derivation). */
export const DERIVATION_SCHEME = 'dps-hmac-sha256' as const;

/** A fresh random 32-byte key from the OS CSPRNG (getrandom(2) on Linux). */
export function generateKey(): Uint8Array {
  return getRandomValues(new Uint8Array(KEY_SIZE));
}

/** The DPS registration id of a device: its canonical device id. */
export function registrationId(deviceId: unknown): string {
  return parseDeviceId(deviceId);
}

function amaster(master: unknown): Uint8Array {
  if (!(master instanceof Uint8Array)) throw new TypeError('master must be a Uint8Array');
  if (master.length < MASTER_MIN || master.length > MASTER_MAX) {
    throw new RangeError(`master must be ${MASTER_MIN}..${MASTER_MAX} bytes, got ${master.length}`);
  }
  return master;
}

/**
 * The DPS group-enrollment key of any registration id: HMAC-SHA256(master, utf8(registrationId)).
 * DPS registration ids are 1..128 characters of lowercase letters, digits, '-', '.', '_' and ':'.
 */
export function dpsDeviceKey(master: Uint8Array, registrationId: string): Uint8Array {
  amaster(master);
  if (typeof registrationId !== 'string') throw new TypeError('registrationId must be a string');
  if (!/^[a-z0-9._:-]{1,128}$/.test(registrationId)) {
    throw new RangeError(`registrationId must be 1..128 of a-z 0-9 - . _ :, got "${registrationId}"`);
  }
  return new Uint8Array(createHmac('sha256', master).update(utf8Encode(registrationId)).digest());
}

/** The key of a device under group enrollment: dpsDeviceKey(master, registrationId(deviceId)). */
export function deriveDeviceKey(master: Uint8Array, deviceId: string | Uint8Array): Uint8Array {
  amaster(master);
  return dpsDeviceKey(master, parseDeviceId(deviceId));
}

/** How an escrowed key was derived (EscrowRecord.derivation): never the master itself. */
export interface Derivation {
  scheme: typeof DERIVATION_SCHEME;
  /** The message that was MACed: the DPS registration id (for a device id, its canonical form). */
  registrationId: string;
  /** masterId() of the master. */
  masterId: string;
}

/**
 * The key for `registrationId` under `master`, with the record of its derivation: the one place a
 * derived key and its escrow record are made (keygen, escrow add, provisioning).
 */
export function deriveKey(master: Uint8Array, registrationId: string): { key: Uint8Array; derivation: Derivation } {
  return { key: dpsDeviceKey(master, registrationId), derivation: { scheme: DERIVATION_SCHEME, registrationId, masterId: masterId(master) } };
}

/**
 * A short public name for a master secret, recorded with derived keys so an operator can tell which
 * master a device's key came from. It is HMAC-SHA256(master, "efuse-attest master id")[0..8]: the
 * message is not 12 hex digits, so it can never equal (a prefix of) any device's key.
 */
export function masterId(master: Uint8Array): string {
  amaster(master);
  return toHex(new Uint8Array(createHmac('sha256', master).update('efuse-attest master id').digest()).subarray(0, 8));
}

/** Overwrites secret bytes in place; call when a key buffer is no longer needed. */
export function wipe(bytes: Uint8Array | undefined): void {
  if (bytes) bytes.fill(0);
}

/**
 * Removes every rendering of `key` this project or espefuse could print (hex in either case, with or
 * without separators, base64) from `text`. Defence in depth for messages built from tool output.
 */
export function redactKey(text: string, key: Uint8Array | undefined): string {
  if (!key || key.length === 0) return text;
  const hex = toHex(key);
  const b64 = Buffer.from(key).toString('base64');
  const spaced = new RegExp(hex.match(/../g)!.join('[ :-]?'), 'gi');
  return text.replace(spaced, '[key]').split(b64).join('[key]').split(b64.replace(/=+$/, '')).join('[key]');
}
