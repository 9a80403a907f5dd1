// Where a verifier remembers the challenges that have been answered, so that an answer is accepted
// once however many verifier instances see it. Challenges are sealed (sealed.ts), so nothing is
// stored when one is issued; a challenge's id is stored when it is spent, for the rest of its
// lifetime, and spending is atomic across every user of the store.
//
// History and epochs: a store that loses its records (a process restart for the memory store, a
// Redis server restarted without persistence) would let a spent answer verify again. So each store
// has an epoch, 4 bytes that change whenever its history starts afresh; every challenge carries the
// epoch it was issued under, and spending a challenge from another epoch is refused ('stale'). A
// verifier asks for a new challenge; nothing is ever accepted on a history the store no longer has.
import { randomBytes } from 'node:crypto';
import { StoreError } from '../errors.js';
import type { Revocation, RevocationStore } from './revocation.js';
import { EPOCH_BYTES } from './sealed.js';

export type SpendResult = 'ok' | 'replay' | 'stale';

export interface NonceStoreStats {
  /** Challenges spent (answers accepted as first). */
  spent: number;
  /** Answers refused because their challenge had been spent already. */
  replays: number;
  /** Answers refused because their challenge predates the store's history. */
  stale: number;
  /** Answers refused because the store was full of live entries (memory store only). */
  full: number;
  /** Expired entries forgotten. */
  expired: number;
}

/**
 * The contract, kept by every implementation (test/nonce-store.test.ts runs one suite over all):
 * - `epoch` is the store's current epoch; it changes only when the store's history is lost.
 * - `spend(id, epoch, ttlMs)` returns 'ok' the first time `id` is spent in `epoch` and remembers it
 *   for at least `ttlMs`; 'replay' for any later spend while remembered, from any process using the
 *   same store; 'stale' when `epoch` is not the store's epoch. Atomic: of any number of concurrent
 *   spends of one id, exactly one gets 'ok'.
 * - A store that cannot answer throws StoreError naming itself and its address; it never returns 'ok'
 *   without having recorded the id.
 */
export interface NonceStore {
  /** "memory", or the store's address such as "redis://127.0.0.1:6379". */
  readonly name: string;
  readonly epoch: Uint8Array;
  spend(id: string, epoch: Uint8Array, ttlMs: number): Promise<SpendResult>;
  stats(): NonceStoreStats;
  close(): Promise<void>;
}

/**
 * A nonce store that also holds a revocation list (the Redis stores over one connection) checks the
 * list and spends in one atomic step and one round trip: nothing can be revoked in between, and a
 * verification costs one command instead of two.
 */
export interface RevocationAwareNonceStore extends NonceStore {
  /** True when `revocations` lives in this same store. */
  holds(revocations: RevocationStore): boolean;
  /** Spends `id` unless an entry of `deviceId` revokes `block` holding `key`; returns that entry then. */
  spendUnlessRevoked(id: string, epoch: Uint8Array, ttlMs: number, deviceId: string, block: string, key: Uint8Array): Promise<SpendResult | Revocation>;
}

export function isRevocationAware(s: NonceStore): s is RevocationAwareNonceStore {
  const x = s as Partial<RevocationAwareNonceStore>;
  return typeof x.holds === 'function' && typeof x.spendUnlessRevoked === 'function';
}

export interface MemoryNonceStoreOptions {
  /** Most spent challenges remembered at once; when all are still live, spending fails closed (default 100 000). */
  maxEntries?: number;
  now?: () => number;
}

/** The embedded store: one process, no server. Its epoch is new in every process. */
export class MemoryNonceStore implements NonceStore {
  readonly name = 'memory';
  readonly epoch: Uint8Array = new Uint8Array(randomBytes(EPOCH_BYTES));
  private readonly max: number;
  private readonly now: () => number;
  /** id → expiry (ms). */
  private readonly entries = new Map<string, number>();
  private earliest = Infinity;
  /** Size at which expired entries are next swept, so memory follows the live set. */
  private sweepAt = 1024;
  private readonly counts: NonceStoreStats = { spent: 0, replays: 0, stale: 0, full: 0, expired: 0 };

  constructor(opts: MemoryNonceStoreOptions = {}) {
    this.max = opts.maxEntries ?? 100_000;
    if (typeof this.max !== 'number' || !Number.isInteger(this.max)) throw new TypeError('maxEntries must be an integer');
    if (this.max < 1) throw new RangeError(`maxEntries must be at least 1, got ${this.max}`);
    this.now = opts.now ?? Date.now;
  }

  get size(): number { return this.entries.size; }

  async spend(id: string, epoch: Uint8Array, ttlMs: number): Promise<SpendResult> {
    return this.spendSync(id, epoch, ttlMs);
  }

  /** spend() without the promise, for callers that know the store is in memory. */
  spendSync(id: string, epoch: Uint8Array, ttlMs: number): SpendResult {
    if (!sameEpoch(epoch, this.epoch)) { this.counts.stale++; return 'stale'; }
    const now = this.now();
    const exp = this.entries.get(id);
    if (exp !== undefined && exp > now) { this.counts.replays++; return 'replay'; }
    if (this.entries.size >= this.sweepAt) {
      this.sweep();
      this.sweepAt = Math.max(1024, this.entries.size * 2);
    }
    if (this.entries.size >= this.max && exp === undefined) {
      // Expired entries go first; live ones are never pushed out, since forgetting a live entry
      // would let its answer verify again. Full of live entries: fail closed, and count it.
      this.sweep();
      if (this.entries.size >= this.max) {
        this.counts.full++;
        throw new StoreError('memory', `the memory nonce store is full: ${this.max} answered challenges are still live; verification refused until some expire`, 'STORE_FULL');
      }
    }
    const until = now + Math.max(1, ttlMs);
    this.entries.set(id, until);
    if (until < this.earliest) this.earliest = until;
    this.counts.spent++;
    return 'ok';
  }

  /** Forgets expired entries; returns how many. Runs by itself when the store is full. */
  sweep(): number {
    const now = this.now();
    if (this.earliest > now) return 0;
    let n = 0;
    let earliest = Infinity;
    for (const [k, exp] of this.entries) {
      if (exp <= now) { this.entries.delete(k); n++; } else if (exp < earliest) earliest = exp;
    }
    this.earliest = earliest;
    this.counts.expired += n;
    return n;
  }

  stats(): NonceStoreStats { return { ...this.counts }; }

  async close(): Promise<void> { this.entries.clear(); }
}

export function sameEpoch(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
