// Backend verification at scale: no serial, no device. A Verifier issues challenges, remembers each
// nonce until it is used once or expires, looks keys up by device id (an escrow store, a database,
// an HSM front — anything with `lookup`), and verifies attestations and SAS tokens one by one or in
// batches. The nonce bookkeeping is what makes a replayed answer fail (docs/protocol.md §5).
import { randomBytes } from 'node:crypto';
import { type AttestResponse, toHex } from '../protocol/index.js';
import { VerificationError } from './errors.js';
import { type Policy, type VerifiedAttestation, type VerifiedToken, verifyAttestation, verifyToken } from './verify.js';

/** Where keys come from: returns the 32-byte key of a device's slot, or undefined if unknown. */
export interface KeyLookup {
  lookup(deviceId: string, slot: number): Promise<Uint8Array | undefined> | Uint8Array | undefined;
}

export interface VerifierOptions {
  keys: KeyLookup;
  policy?: Partial<Policy>;
  /** How long an issued challenge stays valid, ms (default 60 s). */
  challengeTtlMs?: number;
  /** Most outstanding challenges kept; the oldest are forgotten first (default 100 000). */
  maxOutstanding?: number;
  nonceSize?: number;
  now?: () => number;
}

export interface Challenge {
  nonce: Uint8Array;
  expiresAt: number;
}

export type BatchResult<T> = { ok: true; value: T } | { ok: false; error: VerificationError };

interface Outstanding { expiresAt: number; deviceId: string | undefined }

export class Verifier {
  private readonly keys: KeyLookup;
  private readonly policy: Partial<Policy>;
  private readonly ttl: number;
  private readonly max: number;
  private readonly nonceSize: number;
  private readonly now: () => number;
  /** Insertion-ordered, so the oldest entries are first to evict. */
  private readonly outstanding = new Map<string, Outstanding>();

  constructor(opts: VerifierOptions) {
    if (!opts || typeof opts.keys?.lookup !== 'function') throw new TypeError('keys must have a lookup(deviceId, slot) function');
    this.keys = opts.keys;
    this.policy = opts.policy ?? {};
    this.ttl = opts.challengeTtlMs ?? 60_000;
    this.max = opts.maxOutstanding ?? 100_000;
    this.nonceSize = opts.nonceSize ?? 32;
    this.now = opts.now ?? Date.now;
    if (!(this.ttl > 0)) throw new RangeError('challengeTtlMs must be positive');
    if (!Number.isInteger(this.max) || this.max < 1) throw new RangeError('maxOutstanding must be a positive integer');
    if (!Number.isInteger(this.nonceSize) || this.nonceSize < 16 || this.nonceSize > 64) throw new RangeError('nonceSize must be 16..64');
  }

  get pending(): number { return this.outstanding.size; }

  /** A fresh challenge, optionally bound to the device it is meant for. */
  challenge(deviceId?: string): Challenge {
    const nonce = new Uint8Array(randomBytes(this.nonceSize));
    const expiresAt = this.now() + this.ttl;
    while (this.outstanding.size >= this.max) {
      const oldest = this.outstanding.keys().next().value as string;
      this.outstanding.delete(oldest);
    }
    this.outstanding.set(toHex(nonce), { expiresAt, deviceId: deviceId?.toLowerCase() });
    return { nonce, expiresAt };
  }

  /** Consumes the challenge (whatever the outcome: a nonce is good for one answer) and verifies. */
  async verify(att: { nonce: Uint8Array; response: AttestResponse }): Promise<VerifiedAttestation> {
    const hex = toHex(att.nonce);
    const entry = this.outstanding.get(hex);
    if (!entry) throw new VerificationError('NONCE', 'this challenge was not issued here, or was already used (replay)');
    this.outstanding.delete(hex);
    if (entry.expiresAt <= this.now()) throw new VerificationError('NONCE_EXPIRED', 'this challenge expired before the answer came');
    const deviceId = toHex(att.response.deviceId);
    if (entry.deviceId !== undefined && entry.deviceId !== deviceId) {
      throw new VerificationError('DEVICE', `challenge was issued to device ${entry.deviceId}, answered by ${deviceId}`);
    }
    const key = await this.key(deviceId, att.response.slot);
    return verifyAttestation(att, { key, policy: this.policy, deviceId });
  }

  /** Verifies a SAS token presented by `deviceId`. */
  async verifyToken(deviceId: string, token: string, opts: { resource?: string; slot?: number; now?: number } = {}): Promise<VerifiedToken> {
    const key = await this.key(deviceId.toLowerCase(), opts.slot ?? 0);
    return verifyToken(token, { key, ...(opts.resource !== undefined ? { resource: opts.resource } : {}), ...(opts.now !== undefined ? { now: opts.now } : {}) });
  }

  /** Verifies many answers; one failure does not stop the others. */
  async verifyBatch(items: readonly { nonce: Uint8Array; response: AttestResponse }[]): Promise<BatchResult<VerifiedAttestation>[]> {
    const out: BatchResult<VerifiedAttestation>[] = [];
    for (const item of items) {
      try {
        out.push({ ok: true, value: await this.verify(item) });
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
        out.push({ ok: false, error: err });
      }
    }
    return out;
  }

  /** Forgets expired challenges; call now and then on a long-running backend. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [k, v] of this.outstanding) if (v.expiresAt <= now) { this.outstanding.delete(k); n++; }
    return n;
  }

  private async key(deviceId: string, slot: number): Promise<Uint8Array> {
    const key = await this.keys.lookup(deviceId, slot);
    if (!key) throw new VerificationError('NO_KEY', `no escrowed key for device ${deviceId} slot ${slot}`);
    return key;
  }
}

/** A KeyLookup over a plain map of "deviceId/slot" → key, for tests and small deployments. */
export function keyMap(entries: Iterable<[string, Uint8Array]>): KeyLookup {
  const m = new Map(entries);
  return { lookup: (deviceId, slot) => m.get(`${deviceId}/${slot}`) };
}

export { verifyAttestation, verifyToken, DEFAULT_POLICY, type Policy, type VerifiedAttestation, type VerifiedToken } from './verify.js';
export { attestationFromJson, attestationToJson } from './serialize.js';
export { VerificationError } from './errors.js';
