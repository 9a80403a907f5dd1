// Revocation: devices, or single keys of a device, that verifiers must refuse even though their
// answers verify. An entry names a device id and a key block, and optionally a key generation; a
// verification is refused with RevokedError (code VERIFY_REVOKED) when an entry matches. eFuse key
// blocks cannot be burned twice, so a device re-provisioned after a leak gets a key in a new block
// and verifies again; the generation pins an entry to one key, for a block whose escrowed key is
// replaced (an emulated chip re-made, an escrow record corrected).
//
// The key generation is a public fingerprint of a key: the first 8 bytes of
// HMAC-SHA256(key, "efuse-attest key generation"), as 16 hex digits. It identifies the key without
// revealing it, the same way keys.masterId() names a master.
import { createHmac } from 'node:crypto';
import { abytes, toHex } from '../../protocol/index.js';
import { parseDeviceId } from '../../protocol/deviceid.js';
import { blockName } from '../../protocol/keyblock.js';

export interface Revocation {
  /** Canonical device id (12 lowercase hex digits). */
  deviceId: string;
  /** BLOCK_KEY0..BLOCK_KEY5. */
  block: string;
  /** keyGeneration() of the one key revoked; absent: whatever key the block holds. */
  generation?: string;
  reason?: string;
  /** ISO 8601 UTC. */
  revokedAt: string;
}

export interface RevocationInput {
  deviceId: string | Uint8Array;
  block: string | number;
  generation?: string;
  reason?: string;
}

/**
 * The contract, kept by every implementation (test/nonce-store.test.ts runs one suite over all):
 * - add: records the entry (replacing the reason and time of an equal one) and returns it as stored.
 * - remove: deletes the entry with exactly this device, block and generation; true if there was one.
 * - forDevice: every entry of one device; what verification reads, so it is one round trip.
 * - list: every entry, ordered by device, block, generation.
 * - A change is seen by every user of the store as soon as it resolves. A store that cannot answer
 *   throws StoreError naming itself and its address.
 */
export interface RevocationStore {
  readonly name: string;
  add(entry: RevocationInput): Promise<Revocation>;
  remove(deviceId: string | Uint8Array, block: string | number, generation?: string): Promise<boolean>;
  forDevice(deviceId: string | Uint8Array): Promise<Revocation[]>;
  list(): Promise<Revocation[]>;
  close(): Promise<void>;
}

const GENERATION_LABEL = 'efuse-attest key generation';
const GENERATION_RE = /^[0-9a-f]{16}$/;
export const REASON_MAX = 200;

/** The public fingerprint of a 32-byte device key that revocation entries may name. */
export function keyGeneration(key: Uint8Array): string {
  abytes(key, 'key', 32, 32);
  return toHex(new Uint8Array(createHmac('sha256', key).update(GENERATION_LABEL).digest().subarray(0, 8)));
}

export function ageneration(value: unknown, name = 'generation'): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string of 16 hex digits`);
  const v = value.toLowerCase();
  if (!GENERATION_RE.test(v)) throw new RangeError(`${name} must be 16 hex digits (a key generation), got "${value.slice(0, 40)}"`);
  return v;
}

/** Checks an entry at a store's boundary and gives it its canonical form. */
export function checkRevocation(e: RevocationInput, revokedAt: string = new Date().toISOString()): Revocation {
  if (typeof e !== 'object' || e === null) throw new TypeError('revocation must be an object');
  const out: Revocation = { deviceId: parseDeviceId(e.deviceId, 'deviceId'), block: blockName(e.block), revokedAt };
  if (e.generation !== undefined) out.generation = ageneration(e.generation);
  if (e.reason !== undefined) {
    if (typeof e.reason !== 'string') throw new TypeError('reason must be a string');
    if (e.reason.length > REASON_MAX) throw new RangeError(`reason must be at most ${REASON_MAX} characters, got ${e.reason.length}`);
    // Shown in terminals and logs: no control characters.
    out.reason = e.reason.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  }
  return out;
}

/** The field an entry is stored under within its device: "BLOCK_KEY0" or "BLOCK_KEY0/<generation>". */
export function entryField(e: { block: string; generation?: string | undefined }): string {
  return e.generation === undefined ? e.block : `${e.block}/${e.generation}`;
}

/**
 * The entry among `entries` (one device's) that revokes `block` when it holds the key `key`; the
 * generation is computed only when an entry for that block names one.
 */
export function matchRevocation(entries: readonly Revocation[], block: string, key: Uint8Array): Revocation | undefined {
  let generation: string | undefined;
  for (const e of entries) {
    if (e.block !== block) continue;
    if (e.generation === undefined) return e;
    generation ??= keyGeneration(key);
    if (e.generation === generation) return e;
  }
  return undefined;
}

export function sortRevocations(list: Revocation[]): Revocation[] {
  return list.sort((a, b) => (a.deviceId + entryField(a)).localeCompare(b.deviceId + entryField(b)));
}

/** The embedded revocation list of one process. */
export class MemoryRevocationStore implements RevocationStore {
  readonly name = 'memory';
  /** deviceId → field → entry. */
  private readonly byDevice = new Map<string, Map<string, Revocation>>();

  async add(entry: RevocationInput): Promise<Revocation> {
    const e = checkRevocation(entry);
    let m = this.byDevice.get(e.deviceId);
    if (!m) this.byDevice.set(e.deviceId, (m = new Map()));
    m.set(entryField(e), e);
    return { ...e };
  }

  async remove(deviceId: string | Uint8Array, block: string | number, generation?: string): Promise<boolean> {
    const id = parseDeviceId(deviceId);
    const field = entryField({ block: blockName(block), ...(generation !== undefined ? { generation: ageneration(generation) } : {}) });
    const m = this.byDevice.get(id);
    if (!m || !m.delete(field)) return false;
    if (m.size === 0) this.byDevice.delete(id);
    return true;
  }

  async forDevice(deviceId: string | Uint8Array): Promise<Revocation[]> {
    const m = this.byDevice.get(parseDeviceId(deviceId));
    return m ? [...m.values()].map((e) => ({ ...e })) : [];
  }

  /** forDevice() without the promise; `deviceId` must be canonical. */
  forDeviceSync(deviceId: string): readonly Revocation[] | undefined {
    const m = this.byDevice.get(deviceId);
    return m ? [...m.values()] : undefined;
  }

  async list(): Promise<Revocation[]> {
    const out: Revocation[] = [];
    for (const m of this.byDevice.values()) for (const e of m.values()) out.push({ ...e });
    return sortRevocations(out);
  }

  async close(): Promise<void> {}
}
