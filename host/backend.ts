// Backend verification at scale: no serial, no device. A Verifier issues sealed challenges
// (verifier/sealed.ts: expiry and device binding under a server key, nothing stored), looks keys up
// by device id (an escrow store, a database, an HSM front — anything with `lookup`), refuses revoked
// devices (verifier/revocation.ts), and accepts each challenge's answer once: spent challenges go to a
// nonce store (verifier/nonce-store.ts), in memory by default or in Redis shared by every instance
// (verifier/redis-stores.ts). A replayed answer fails (docs/protocol.md §5); a store that cannot answer
// makes verification fail, never pass (docs/deployment.md, "Verifier cluster").
import { randomBytes } from 'node:crypto';
import { type AttestResponse, TOKEN_SLOT } from '../protocol/index.js';
import { parseDeviceId } from '../protocol/deviceid.js';
import { RevokedError, StoreError, VerificationError } from './errors.js';
import { type Policy, type VerifiedAttestation, type VerifiedToken, verifyAttestation, verifyToken } from './verify.js';
import { isRevocationAware, MemoryNonceStore, type NonceStore, type RevocationAwareNonceStore, type SpendResult } from './verifier/nonce-store.js';
import { matchRevocation, MemoryRevocationStore, type Revocation, type RevocationStore } from './verifier/revocation.js';
import { ChallengeSealer, SEALED_MIN } from './verifier/sealed.js';

/** Where keys come from: returns the 32-byte key of a device's slot, or undefined if unknown. */
export interface KeyLookup {
  /** `deviceId` is always canonical: 12 lowercase hex digits. */
  lookup(deviceId: string, slot: number): Promise<Uint8Array | undefined> | Uint8Array | undefined;
}

export interface VerifierOptions {
  keys: KeyLookup;
  policy?: Partial<Policy>;
  /** How long an issued challenge stays valid, ms (default 60 s). */
  challengeTtlMs?: number;
  /**
   * The key that seals challenges (32+ bytes), or several: the first seals, all open (rotation).
   * Every instance of a cluster needs the same key. Default: a random key of this instance, so its
   * challenges are valid only here and only until it stops.
   */
  serverKey?: Uint8Array | readonly Uint8Array[];
  /** Spent challenges (default: in memory, this process only). */
  nonces?: NonceStore;
  /** Revoked devices and keys (default: an empty list in memory). */
  revocations?: RevocationStore;
  /** Most answered challenges the default memory nonce store remembers at once (default 100 000). */
  maxOutstanding?: number;
  /** Bytes in a challenge nonce, 49..64 (default 49). */
  nonceSize?: number;
  /** Answers verified at once by verifyBatch (default 32). */
  batchConcurrency?: number;
  now?: () => number;
}

export interface Challenge {
  nonce: Uint8Array;
  expiresAt: number;
}

export type BatchResult<T> = { ok: true; value: T } | { ok: false; error: VerificationError | StoreError };

function aint(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer`);
  if (v < min || v > max) throw new RangeError(`${name} must be ${min}..${max}, got ${v}`);
  return v;
}

export class Verifier {
  readonly nonces: NonceStore;
  readonly revocations: RevocationStore;
  private readonly keys: KeyLookup;
  private readonly policy: Partial<Policy>;
  private readonly ttl: number;
  private readonly sealer: ChallengeSealer;
  private readonly concurrency: number;
  private readonly now: () => number;
  /** The nonce store, when it also holds the revocations: check and spend in one step. */
  private readonly atomic: RevocationAwareNonceStore | undefined;

  constructor(opts: VerifierOptions) {
    if (!opts || typeof opts.keys?.lookup !== 'function') throw new TypeError('keys must have a lookup(deviceId, slot) function');
    this.keys = opts.keys;
    this.policy = opts.policy ?? {};
    this.ttl = opts.challengeTtlMs ?? 60_000;
    if (typeof this.ttl !== 'number' || !(this.ttl > 0) || this.ttl > 2 ** 31 - 1) throw new RangeError('challengeTtlMs must be a positive number of ms');
    this.now = opts.now ?? Date.now;
    if (typeof this.now !== 'function') throw new TypeError('now must be a function');
    this.concurrency = opts.batchConcurrency === undefined ? 32 : aint(opts.batchConcurrency, 'batchConcurrency', 1, 10_000);
    this.sealer = new ChallengeSealer(opts.serverKey ?? new Uint8Array(randomBytes(32)), opts.nonceSize ?? SEALED_MIN);
    if (opts.nonces !== undefined && typeof opts.nonces?.spend !== 'function') throw new TypeError('nonces must be a NonceStore');
    if (opts.revocations !== undefined && typeof opts.revocations?.forDevice !== 'function') throw new TypeError('revocations must be a RevocationStore');
    if (opts.nonces !== undefined && opts.maxOutstanding !== undefined) throw new TypeError('maxOutstanding applies to the default memory store only; set it on the store');
    this.nonces = opts.nonces ?? new MemoryNonceStore({ now: this.now, ...(opts.maxOutstanding !== undefined ? { maxEntries: opts.maxOutstanding } : {}) });
    this.revocations = opts.revocations ?? new MemoryRevocationStore();
    this.atomic = isRevocationAware(this.nonces) && this.nonces.holds(this.revocations) ? this.nonces : undefined;
  }

  /** Answered challenges still remembered by the default memory store (0 for other stores). */
  get pending(): number { return this.nonces instanceof MemoryNonceStore ? this.nonces.size : 0; }

  /**
   * A fresh challenge, optionally bound to the device it is meant for (any spelling of its id).
   * Nothing is stored: any instance with the same server key can verify the answer.
   */
  challenge(deviceId?: string | Uint8Array): Challenge {
    const id = deviceId === undefined ? undefined : parseDeviceId(deviceId, 'deviceId');
    const expiresAt = Math.floor(this.now() + this.ttl);
    return { nonce: this.sealer.seal(this.nonces.epoch, expiresAt, id), expiresAt };
  }

  /**
   * Verifies an answer to one of this cluster's challenges and spends the challenge, so no other
   * answer to it is accepted anywhere. VerificationError for an answer that does not verify (reason
   * NONCE, NONCE_EXPIRED, NONCE_STALE, DEVICE, NO_KEY, REVOKED or one of verifyAttestation's);
   * StoreError when a store cannot answer; TypeError/RangeError for malformed input.
   */
  async verify(att: { nonce: Uint8Array; response: AttestResponse }): Promise<VerifiedAttestation> {
    if (typeof att !== 'object' || att === null) throw new TypeError('attestation must be an object with nonce and response');
    if (!(att.nonce instanceof Uint8Array)) throw new TypeError('nonce must be a Uint8Array');
    if (typeof att.response !== 'object' || att.response === null) throw new TypeError('response must be an object');
    const c = this.sealer.open(att.nonce);
    if (typeof c === 'string') throw new VerificationError('NONCE', 'this challenge was not issued by this verifier (or its cluster): unknown nonce');
    const now = this.now();
    if (c.expiresAt <= now) throw new VerificationError('NONCE_EXPIRED', 'this challenge expired before the answer came');
    const deviceId = parseDeviceId(att.response.deviceId, 'response.deviceId');
    if (c.deviceId !== undefined && c.deviceId !== deviceId) {
      throw new VerificationError('DEVICE', `challenge was issued to device ${c.deviceId}, answered by ${deviceId}`);
    }
    const slot = att.response.slot;
    // Spent only once the answer is authentic: a forged answer cannot use up someone's challenge.
    if (this.atomic) {
      const key = await this.key(deviceId, slot);
      const result = verifyAttestation(att, { key, policy: this.policy });
      const r = await this.atomic.spendUnlessRevoked(c.id, c.epoch, c.expiresAt - now, deviceId, `BLOCK_KEY${slot}`, key);
      if (typeof r === 'object') throw revokedError(r, deviceId, `BLOCK_KEY${slot}`);
      return this.spent(r, result);
    }
    const [key, revoked] = await Promise.all([this.key(deviceId, slot), this.revocations.forDevice(deviceId)]);
    const result = verifyAttestation(att, { key, policy: this.policy });
    this.refuseRevoked(revoked, deviceId, slot, key);
    return this.spent(await this.nonces.spend(c.id, c.epoch, c.expiresAt - now), result);
  }

  private spent(spent: SpendResult, result: VerifiedAttestation): VerifiedAttestation {
    if (spent === 'replay') throw new VerificationError('NONCE', 'this challenge was already answered (replay)');
    if (spent === 'stale') {
      throw new VerificationError('NONCE_STALE', `this challenge predates the history of the nonce store ${this.nonces.name} (restarted without its records); ask for a new challenge`);
    }
    return result;
  }

  /** Verifies a SAS token presented by `deviceId` (any spelling), signed with the key in `slot` (default 0). */
  /**
   * Verifies a SAS token of a device with the key of its token block (default TOKEN_SLOT, 1: the
   * firmware signs tokens only there). `resourceDevice`: the id the resource must name (Azure's
   * `<hub>/devices/<id>`); `keyName`: the skn it must carry ("" for none); `maxLifetimeSeconds`: the
   * longest remaining lifetime accepted (default one day).
   */
  async verifyToken(deviceId: string | Uint8Array, token: string, opts: { resource?: string; resourceDevice?: string; keyName?: string; maxLifetimeSeconds?: number; slot?: number; now?: number } = {}): Promise<VerifiedToken> {
    const id = parseDeviceId(deviceId, 'deviceId');
    const slot = opts.slot ?? TOKEN_SLOT;
    const [key, revoked] = await Promise.all([this.key(id, slot), this.revocations.forDevice(id)]);
    const result = verifyToken(token, {
      key,
      ...(opts.resource !== undefined ? { resource: opts.resource } : {}),
      ...(opts.resourceDevice !== undefined ? { deviceId: opts.resourceDevice } : {}),
      ...(opts.keyName !== undefined ? { keyName: opts.keyName } : {}),
      ...(opts.maxLifetimeSeconds !== undefined ? { maxLifetimeSeconds: opts.maxLifetimeSeconds } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
    });
    this.refuseRevoked(revoked, id, slot, key);
    return result;
  }

  /**
   * Verifies many answers, a few at a time; each item gets its own result, whatever the others do.
   * A malformed item fails alone with reason MALFORMED; a store outage fails the items it touched.
   */
  async verifyBatch(items: readonly { nonce: Uint8Array; response: AttestResponse }[]): Promise<BatchResult<VerifiedAttestation>[]> {
    if (!Array.isArray(items)) throw new TypeError('items must be an array');
    const out: BatchResult<VerifiedAttestation>[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        try {
          out[i] = { ok: true, value: await this.verify(items[i]!) };
        } catch (err) {
          out[i] = { ok: false, error: asItemError(err, i) };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    return out;
  }

  /** Forgets expired answered challenges of the memory store; other stores expire them themselves. */
  sweep(): number {
    return this.nonces instanceof MemoryNonceStore ? this.nonces.sweep() : 0;
  }

  /** Closes the stores. */
  async close(): Promise<void> {
    await Promise.all([this.nonces.close(), this.revocations.close()]);
  }

  private refuseRevoked(entries: readonly Revocation[], deviceId: string, slot: number, key: Uint8Array): void {
    if (entries.length === 0) return;
    const block = `BLOCK_KEY${slot}`;
    const e = matchRevocation(entries, block, key);
    if (e) throw revokedError(e, deviceId, block);
  }

  private async key(deviceId: string, slot: number): Promise<Uint8Array> {
    const key = await this.keys.lookup(deviceId, slot);
    if (!key) throw new VerificationError('NO_KEY', `no escrowed key for device ${deviceId} slot ${slot}`);
    return key;
  }
}

function revokedError(e: Revocation, deviceId: string, block: string): RevokedError {
  const what = e.generation ? `key generation ${e.generation} in ${block}` : block;
  return new RevokedError(deviceId, block, `device ${deviceId} ${what} is revoked${e.reason ? ` (${e.reason})` : ''} since ${e.revokedAt}`);
}

function asItemError(err: unknown, i: number): VerificationError | StoreError {
  if (err instanceof VerificationError || err instanceof StoreError) return err;
  if (err instanceof TypeError || err instanceof RangeError) return new VerificationError('MALFORMED', `item ${i} is malformed: ${err.message}`);
  return new VerificationError('ERROR', `item ${i} could not be verified: ${err instanceof Error ? err.message : String(err)}`);
}

/** A KeyLookup over a plain map of "deviceId/slot" → key (any spelling of the id), for tests and small deployments. */
export function keyMap(entries: Iterable<[string, Uint8Array]>): KeyLookup {
  const m = new Map<string, Uint8Array>();
  for (const [k, key] of entries) {
    const at = k.lastIndexOf('/');
    if (at < 0) throw new RangeError(`keyMap entries must be "deviceId/slot", got "${k}"`);
    m.set(`${parseDeviceId(k.slice(0, at), 'keyMap deviceId')}/${k.slice(at + 1)}`, key);
  }
  return { lookup: (deviceId, slot) => m.get(`${deviceId}/${slot}`) };
}

export { verifyAttestation, verifyMany, verifyToken, DEFAULT_POLICY, type Policy, VerifiedAttestation, type VerifiedToken } from './verify.js';
export { attestationFromJson, attestationToJson } from './serialize.js';
export { RevokedError, StoreError, VerificationError } from './errors.js';
export { parseDeviceId } from '../protocol/deviceid.js';
export { MemoryNonceStore, type NonceStore, type NonceStoreStats, type SpendResult } from './verifier/nonce-store.js';
export { keyGeneration, MemoryRevocationStore, type Revocation, type RevocationInput, type RevocationStore } from './verifier/revocation.js';
export { RedisConnection, type RedisStoreOptions } from './verifier/redis.js';
export { openRedisStores, RedisNonceStore, RedisRevocationStore } from './verifier/redis-stores.js';
