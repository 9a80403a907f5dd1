// The escrow store: where every device key is kept before it is burned, so the only copy of a key is
// never the read-protected eFuse block. The interface is what the provisioning sequence relies on;
// the encrypted file vault (vault.ts) is the default, and a database or HSM backend implements the
// same contract (docs/provisioning.md §3).
import { CHIPS } from '../../protocol/index.js';
import { EscrowError } from '../errors.js';
import { DERIVATION_SCHEME, type Derivation } from '../keys.js';
import { parseDeviceId } from '../../protocol/deviceid.js';
import { blockName, keyBytes } from '../../protocol/keyblock.js';

/** escrowed: the key is stored; burned: the fuses were seen holding it; verified: the device proved it. */
export type EscrowState = 'escrowed' | 'burned' | 'verified';
export const STATES: readonly EscrowState[] = Object.freeze(['escrowed', 'burned', 'verified']);

export type { Derivation };

export interface EscrowRecord {
  /** 12 lowercase hex digits: the factory MAC. */
  deviceId: string;
  chip: string;
  /** BLOCK_KEY0..BLOCK_KEY5. */
  block: string;
  /** eFuse key purpose name, e.g. HMAC_UP. */
  purpose: string;
  key: Uint8Array;
  /** ISO 8601 UTC. */
  createdAt: string;
  updatedAt: string;
  state: EscrowState;
  derivation?: Derivation;
}

/** A record without its key: what listings show. */
export type EscrowEntry = Omit<EscrowRecord, 'key'>;

/**
 * The contract every backend keeps:
 * - put: durable before it resolves (a crash right after never loses the record), and verified
 *   readable. A record for the same device and block with the SAME key is merged (the state only
 *   moves forward); with a DIFFERENT key it is refused with EscrowError code ESCROW_CONFLICT — an
 *   escrowed key is never replaced, because it may already be in a fuse.
 * - get: the record, or undefined. Without `block`, the device's only record; EscrowError if it has
 *   several.
 * - setState: moves a record forward (escrowed → burned → verified); an older state is a no-op.
 * - list: every record without its key.
 * All failures are EscrowError, and a failed write leaves the store as it was.
 */
export interface EscrowStore {
  readonly location: string;
  put(rec: EscrowRecord): Promise<void>;
  get(deviceId: string, block?: string): Promise<EscrowRecord | undefined>;
  setState(deviceId: string, block: string, state: EscrowState): Promise<void>;
  list(): Promise<EscrowEntry[]>;
  /**
   * Stores shared by several stations: claims (device, block) for this station until release() or
   * until the claim lapses (its station is gone), so two stations never work on one device at once.
   * A device claimed by another live station is EscrowError ESCROW_BUSY. Single-host stores omit it.
   */
  claim?(deviceId: string, block: string): Promise<void>;
  release?(deviceId: string, block: string): Promise<void>;
}

export function stateRank(s: EscrowState): number {
  return STATES.indexOf(s);
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Checks a record at the store boundary; `where` names it in messages. Never echoes key bytes. */
export function checkRecord(rec: unknown, where = 'record'): EscrowRecord {
  if (typeof rec !== 'object' || rec === null) throw new TypeError(`${where} must be an object`);
  const r = rec as Record<string, unknown>;
  const deviceId = parseDeviceId(r.deviceId, `${where}.deviceId`);
  if (typeof r.chip !== 'string' || !(r.chip in CHIPS)) throw new RangeError(`${where}.chip must be one of ${Object.keys(CHIPS).join(', ')}`);
  const block = blockName(r.block, `${where}.block`);
  if (typeof r.purpose !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(r.purpose)) throw new RangeError(`${where}.purpose must be a key purpose name such as HMAC_UP`);
  keyBytes(r.key, `${where}.key`);
  for (const f of ['createdAt', 'updatedAt'] as const) {
    if (typeof r[f] !== 'string' || !ISO_RE.test(r[f] as string)) throw new RangeError(`${where}.${f} must be an ISO 8601 UTC time`);
  }
  if (!STATES.includes(r.state as EscrowState)) throw new RangeError(`${where}.state must be one of ${STATES.join(', ')}`);
  const out: EscrowRecord = {
    deviceId, chip: r.chip, block, purpose: r.purpose, key: r.key as Uint8Array,
    createdAt: r.createdAt as string, updatedAt: r.updatedAt as string, state: r.state as EscrowState,
  };
  if (r.derivation !== undefined) {
    const d = r.derivation as Record<string, unknown>;
    if (typeof d !== 'object' || d === null || d.scheme !== DERIVATION_SCHEME || typeof d.registrationId !== 'string'
      || typeof d.masterId !== 'string' || !/^[0-9a-f]{16}$/.test(d.masterId)) {
      throw new RangeError(`${where}.derivation must be {scheme: "${DERIVATION_SCHEME}", registrationId, masterId}`);
    }
    out.derivation = { scheme: DERIVATION_SCHEME, registrationId: d.registrationId, masterId: d.masterId };
  }
  return out;
}

/** The listing form of a record. */
export function entryOf(r: EscrowRecord): EscrowEntry {
  const { key: _key, ...rest } = r;
  return { ...rest, ...(r.derivation ? { derivation: { ...r.derivation } } : {}) };
}

/** A new record, stamped now. */
export function newRecord(fields: Omit<EscrowRecord, 'createdAt' | 'updatedAt' | 'state'> & { state?: EscrowState }): EscrowRecord {
  const now = new Date().toISOString();
  return checkRecord({ state: 'escrowed', ...fields, createdAt: now, updatedAt: now }, 'record');
}

/**
 * The merge rule of put(), shared by backends: returns the record to store, or throws
 * ESCROW_CONFLICT when `incoming` carries a different key than `existing`.
 */
export function mergeRecord(existing: EscrowRecord | undefined, incoming: EscrowRecord, equalKeys: (a: Uint8Array, b: Uint8Array) => boolean): EscrowRecord {
  if (!existing) return incoming;
  if (!equalKeys(existing.key, incoming.key)) {
    throw new EscrowError(
      `the escrow already holds a different key for device ${existing.deviceId} ${existing.block} (state ${existing.state}); ` +
      'an escrowed key is never replaced, because it may already be burned', 'ESCROW_CONFLICT');
  }
  if (existing.chip !== incoming.chip) {
    throw new EscrowError(`the escrow record for device ${existing.deviceId} ${existing.block} is for ${existing.chip}, not ${incoming.chip}`, 'ESCROW_CONFLICT');
  }
  const forward = stateRank(incoming.state) > stateRank(existing.state);
  return {
    ...existing,
    state: forward ? incoming.state : existing.state,
    updatedAt: forward ? incoming.updatedAt : existing.updatedAt,
    ...(existing.derivation ?? incoming.derivation ? { derivation: existing.derivation ?? incoming.derivation } : {}),
  };
}
