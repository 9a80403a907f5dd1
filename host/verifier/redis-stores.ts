// The verifier's shared stores in Redis: spent challenges (RedisNonceStore) and the revocation list
// (RedisRevocationStore), over one RedisConnection (redis.ts). Of any number of concurrent answers to
// one challenge, from any number of verifier instances, exactly one is spent. When both stores share
// a connection, a verification checks the device's revocations and spends its challenge in one
// atomic script, and the spends of one turn of the event loop travel as one script call.
import { toHex } from '../../protocol/index.js';
import { parseDeviceId } from '../../protocol/deviceid.js';
import { blockName } from '../../protocol/keyblock.js';
import { StoreError } from '../errors.js';
import type { NonceStoreStats, RevocationAwareNonceStore, SpendResult } from './nonce-store.js';
import { MAX_BATCH, RedisConnection, type RedisStoreOptions } from './redis.js';
import {
  ageneration, checkRevocation, entryField, keyGeneration, type Revocation, type RevocationInput, type RevocationStore, sortRevocations,
} from './revocation.js';

type Mode = 'none' | 'any' | 'fields';

interface Pending {
  spent: string;
  hash: string;
  epoch: string;
  ttl: number;
  mode: Mode;
  f1: string;
  f2: string;
  resolve(r: SpendResult | Revocation | 'check'): void;
  reject(err: unknown): void;
}

export class RedisNonceStore implements RevocationAwareNonceStore {
  readonly name: string;
  private readonly conn: RedisConnection;
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly counts: NonceStoreStats = { spent: 0, replays: 0, stale: 0, full: 0, expired: 0 };

  constructor(conn: RedisConnection) {
    this.conn = conn;
    this.name = conn.address;
    conn.acquire();
  }

  get epoch(): Uint8Array { return this.conn.epoch; }

  async spend(id: string, epoch: Uint8Array, ttlMs: number): Promise<SpendResult> {
    return (await this.script(id, epoch, ttlMs, '', 'none')) as SpendResult;
  }

  holds(revocations: RevocationStore): boolean {
    return revocations instanceof RedisRevocationStore && revocations.connection === this.conn;
  }

  async spendUnlessRevoked(id: string, epoch: Uint8Array, ttlMs: number, deviceId: string, block: string, key: Uint8Array): Promise<SpendResult | Revocation> {
    const hash = this.conn.prefix + 'revoked:' + deviceId;
    const first = await this.script(id, epoch, ttlMs, hash, 'any');
    if (first !== 'check') return first;
    // The device has entries: ask again about exactly this block and key, still in one atomic step.
    const generation = keyGeneration(key);
    const second = await this.script(id, epoch, ttlMs, hash, 'fields', block, entryField({ block, generation }));
    if (second === 'check') throw new StoreError(this.name, `the redis nonce store at ${this.name} gave an unexpected answer; verification refused`, 'STORE_CORRUPT');
    return second;
  }

  private script(id: string, epoch: Uint8Array, ttlMs: number, hash: string, mode: Mode, f1 = '', f2 = ''): Promise<SpendResult | Revocation | 'check'> {
    return new Promise((resolve, reject) => {
      const c = this.conn;
      this.queue.push({
        spent: c.prefix + 'spent:' + id, hash: hash || c.prefix + 'revoked:', epoch: toHex(epoch), ttl: Math.max(1, Math.ceil(ttlMs)), mode, f1, f2, resolve, reject,
      });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) void this.send(this.queue.splice(0, MAX_BATCH));
  }

  private async send(batch: Pending[]): Promise<void> {
    const c = this.conn;
    const keys: string[] = [c.prefix + 'epoch', c.versionKey];
    const args: (string | number)[] = [c.epochCandidate];
    for (const p of batch) {
      keys.push(p.spent, p.hash);
      args.push(p.epoch, p.ttl, p.mode, p.f1, p.f2);
    }
    let out: string[];
    try {
      if (!c.ready) throw new StoreError(this.name, `the redis nonce store at ${this.name} is reconnecting and its history is not yet checked; verification refused`);
      out = await c.run('nonce', () => c.client.efaSpend(keys.length, ...keys, ...args));
      if (!Array.isArray(out) || out.length !== batch.length + 2) throw new StoreError(this.name, `the redis nonce store at ${this.name} gave an unexpected answer; verification refused`, 'STORE_CORRUPT');
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    c.noteEpoch(out[0]!);
    try {
      c.noteVersion(out[1]!);
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const r = out[i + 2]!;
      if (r === 'ok') this.counts.spent++;
      else if (r === 'replay') this.counts.replays++;
      else if (r === 'stale') this.counts.stale++;
      if (r.startsWith('revoked:')) {
        try { batch[i]!.resolve(parseEntry(r.slice(8), this.name)); } catch (err) { batch[i]!.reject(err); }
      } else if (r === 'ok' || r === 'replay' || r === 'stale' || r === 'check') {
        batch[i]!.resolve(r);
      } else {
        batch[i]!.reject(new StoreError(this.name, `the redis nonce store at ${this.name} gave an unexpected answer; verification refused`, 'STORE_CORRUPT'));
      }
    }
  }

  stats(): NonceStoreStats { return { ...this.counts }; }

  async close(): Promise<void> { await this.conn.release(); }
}

export class RedisRevocationStore implements RevocationStore {
  readonly name: string;
  private readonly conn: RedisConnection;

  constructor(conn: RedisConnection) {
    this.conn = conn;
    this.name = conn.address;
    conn.acquire();
  }

  /** @internal The connection this store uses, so a nonce store over it can check revocations itself. */
  get connection(): RedisConnection { return this.conn; }

  private hash(deviceId: string): string { return this.conn.prefix + 'revoked:' + deviceId; }
  private get index(): string { return this.conn.prefix + 'revoked-devices'; }

  async add(entry: RevocationInput): Promise<Revocation> {
    const e = checkRevocation(entry);
    const c = this.conn;
    await c.run('revocation', () => c.client.efaRevoke(this.hash(e.deviceId), this.index, c.versionKey, entryField(e), JSON.stringify(e), e.deviceId, Date.now()));
    return e;
  }

  async remove(deviceId: string | Uint8Array, block: string | number, generation?: string): Promise<boolean> {
    const id = parseDeviceId(deviceId);
    const field = entryField({ block: blockName(block), ...(generation !== undefined ? { generation: ageneration(generation) } : {}) });
    const c = this.conn;
    return (await c.run('revocation', () => c.client.efaUnrevoke(this.hash(id), this.index, c.versionKey, field, id, Date.now()))) > 0;
  }

  async forDevice(deviceId: string | Uint8Array): Promise<Revocation[]> {
    const id = parseDeviceId(deviceId);
    const c = this.conn;
    const [version, ...flat] = await c.run('revocation', () => c.client.efaRevoked(this.hash(id), c.versionKey));
    c.noteVersion(version!);
    const out: Revocation[] = [];
    for (let i = 1; i < flat.length; i += 2) out.push(parseEntry(flat[i]!, this.name));
    return out;
  }

  async list(): Promise<Revocation[]> {
    const c = this.conn;
    const ids = await c.run('revocation', () => c.client.smembers(this.index));
    const hashes = await c.run('revocation', () => Promise.all(ids.map((id) => c.client.hgetall(this.hash(id)))));
    return sortRevocations(hashes.flatMap((h) => Object.values(h).map((json) => parseEntry(json, this.name))));
  }

  async close(): Promise<void> { await this.conn.release(); }
}

/** Opens both stores over one connection. */
export async function openRedisStores(opts: RedisStoreOptions = {}): Promise<{ nonces: RedisNonceStore; revocations: RedisRevocationStore; connection: RedisConnection }> {
  const connection = await RedisConnection.open(opts);
  return { nonces: new RedisNonceStore(connection), revocations: new RedisRevocationStore(connection), connection };
}

function parseEntry(json: string, store: string): Revocation {
  try {
    const o = JSON.parse(json) as Revocation;
    return checkRevocation(o, typeof o.revokedAt === 'string' ? o.revokedAt : new Date(0).toISOString());
  } catch (err) {
    // A hand-edited entry that does not parse still revokes nothing silently: refuse, naming it.
    throw new StoreError(store, `the revocation store at ${store} holds an entry that does not parse: ${(err as Error).message}`, 'STORE_CORRUPT');
  }
}
