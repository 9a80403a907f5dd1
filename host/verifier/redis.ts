// The shared stores of a verifier cluster, in Redis (through ioredis): spent challenges and
// revocations, seen by every verifier instance at once. Spending is one Lua script, atomic on the
// server: it checks the store's epoch and does SET id NX PX ttl, so of any number of concurrent
// answers to one challenge, from any number of instances, exactly one gets 'ok'.
//
// Fail closed with bounded waits: no offline queue (a command while disconnected fails at once), no
// re-sending after a dropped connection, a timeout on every command. Any failure becomes a StoreError
// that names the store and its address; the verification it was for is refused. The client
// reconnects by itself, so verification works again as soon as the server is back.
//
// Keys, under a prefix (default "efuse-attest:"):
//   <prefix>epoch                 4-byte epoch as hex; created when missing (a server that lost its data)
//   <prefix>spent:<id>            a spent challenge, expiring with the challenge
//   <prefix>revoked:<deviceId>    hash: "BLOCK_KEYn" or "BLOCK_KEYn/<generation>" → entry JSON
//   <prefix>revoked-devices       set of device ids that have entries, for listing
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { fromHex, toHex } from '../../protocol/index.js';
import { parseDeviceId } from '../../protocol/deviceid.js';
import { StoreError } from '../errors.js';
import { EPOCH_BYTES } from './sealed.js';
import type { NonceStoreStats, RevocationAwareNonceStore, SpendResult } from './nonce-store.js';
import {
  ablock, ageneration, checkRevocation, entryField, keyGeneration, type Revocation, type RevocationInput, type RevocationStore, sortRevocations,
} from './revocation.js';

export interface RedisStoreOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS (default redis://127.0.0.1:6379). */
  url?: string;
  /** Prefix of every key, so several deployments can share a server (default "efuse-attest:"). */
  prefix?: string;
  /** Longest wait for the first connection, ms (default 2000). */
  connectTimeoutMs?: number;
  /** Longest wait for any one command, ms (default 500). */
  commandTimeoutMs?: number;
}

// The epoch is bound to the server process that holds it (its run_id). A restarted server — or a
// replica promoted after a failover — may have come back from a snapshot, an AOF synced once a second,
// or asynchronous replication, with an old epoch but without the last spent records; so a new server
// process always gets a new epoch. KEYS: epoch, epoch's server. ARGV: new epoch, this server's run_id.
const EPOCH_LUA = `
local e = redis.call('GET', KEYS[1])
if (not e) or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2])
  e = ARGV[1]
end
return e`;

// Spends a batch of challenges, each atomically and the batch as one script: the spends that
// concurrent verifications make within one turn of the event loop go to the server together, so a
// verification costs a fraction of a command. KEYS: the epoch key, the revocation list's version
// (BUMP_LUA), then per item its spent key and
// its device's revocation hash. ARGV: the epoch to set if the server has none, then per item the
// challenge's epoch, ttl ms, mode and two fields. Modes: "none" spends; "any" spends unless the
// device has revocation entries ('check': the caller computes the key's generation and asks again);
// "fields" spends unless the block (field 1) or the block with that generation (field 2) is revoked.
// Replies: the server's epoch, the list's version, then per item 'ok', 'replay', 'stale', 'check' or 'revoked:' + entry.
const SPEND_LUA = `
local e = redis.call('GET', KEYS[1])
if not e then redis.call('SET', KEYS[1], ARGV[1]) e = ARGV[1] end
local out = {e, redis.call('GET', KEYS[2]) or '0'}
for i = 0, (#KEYS - 2) / 2 - 1 do
  local k = 3 + i * 2
  local a = 2 + i * 5
  local r
  if ARGV[a] ~= e then
    r = 'stale'
  else
    local mode = ARGV[a + 2]
    if mode == 'any' then
      if redis.call('EXISTS', KEYS[k + 1]) == 1 then r = 'check' end
    elseif mode == 'fields' then
      local v = redis.call('HMGET', KEYS[k + 1], ARGV[a + 3], ARGV[a + 4])
      if v[1] then r = 'revoked:' .. v[1] elseif v[2] then r = 'revoked:' .. v[2] end
    end
    if not r then
      if redis.call('SET', KEYS[k], '1', 'NX', 'PX', ARGV[a + 1]) then r = 'ok' else r = 'replay' end
    end
  end
  out[#out + 1] = r
end
return out`;

/** Most spends in one script: bounds how long one script holds the (single-threaded) server. */
const MAX_BATCH = 256;

// Every change of the revocation list moves its version forward: to the change's time in ms, or one
// past the previous version. Verifiers remember the highest version they have seen, and a list whose
// version went back has lost entries (a server restarted without persistence): they refuse to verify
// rather than let a revoked device through. Re-adding the entries (or any remove, for a list that
// should be empty) moves the version past every old one again.
const BUMP_LUA = `
local v = tonumber(redis.call('GET', KEYS[3]) or '0')
local t = tonumber(ARGV[#ARGV])
if t <= v then t = v + 1 end
redis.call('SET', KEYS[3], tostring(t))`;

const REVOKE_LUA = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
${BUMP_LUA}
return 1`;

const UNREVOKE_LUA = `
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
${BUMP_LUA}
return n`;

// KEYS: the device's hash, the list's version. Replies: the version, then the hash's fields and values.
const REVOKED_LUA = `
local r = redis.call('HGETALL', KEYS[1])
table.insert(r, 1, redis.call('GET', KEYS[2]) or '0')
return r`;

interface Scripts {
  efaEpoch(epochKey: string, serverKey: string, fresh: string, runId: string): Promise<string>;
  efaSpend(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<string[]>;
  efaRevoke(hash: string, index: string, version: string, field: string, json: string, deviceId: string, now: number): Promise<number>;
  efaUnrevoke(hash: string, index: string, version: string, field: string, deviceId: string, now: number): Promise<number>;
  efaRevoked(hash: string, version: string): Promise<string[]>;
}

/** The address of a Redis URL without its credentials, as errors and listings show it. */
export function redisAddress(url: string): string {
  let u: URL;
  try { u = new URL(url); } catch { throw new RangeError(`redis url must be redis://host:port[/db], got "${url.replace(/\/\/[^@/]*@/, '//…@')}"`); }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new RangeError(`redis url must start with redis:// or rediss://, got "${u.protocol}"`);
  const db = u.pathname.replace(/^\//, '');
  return `${u.protocol}//${u.hostname}:${u.port || '6379'}${db && db !== '0' ? '/' + db : ''}`;
}

function aposint(v: unknown, name: string, fallback: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer`);
  if (v < 1 || v > max) throw new RangeError(`${name} must be 1..${max}, got ${v}`);
  return v;
}

/** One connection to a Redis server, shared by the nonce and revocation stores over it. */
export class RedisConnection {
  readonly address: string;
  readonly prefix: string;
  readonly client: Redis & Scripts;
  private epochHex: string;
  /**
   * The epoch the scripts set when the server has none (it lost its data). Picked in advance, since
   * random bytes cost more than the rest of a spend, and replaced as soon as it has been adopted, so
   * no two histories ever share an epoch.
   */
  private candidate = freshEpoch();
  private users = 0;
  /**
   * False from a lost connection until the epoch of the server reached again has been checked: the
   * server may be a new process (restart, failover), and no spend goes to it before its epoch is.
   */
  private checked = true;
  /** The highest version of the revocation list seen (see BUMP_LUA). */
  private versionSeen = 0;

  private constructor(client: Redis & Scripts, address: string, prefix: string, epoch: string) {
    this.client = client;
    this.address = address;
    this.prefix = prefix;
    this.epochHex = epoch;
    client.on('close', () => { this.checked = false; });
    client.on('ready', () => { this.refreshEpoch().catch(() => {}); });
  }

  /** Connects, or throws StoreError naming the address within connectTimeoutMs. */
  static async open(opts: RedisStoreOptions = {}): Promise<RedisConnection> {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object');
    const url = opts.url ?? 'redis://127.0.0.1:6379';
    if (typeof url !== 'string') throw new TypeError('url must be a string');
    const address = redisAddress(url);
    const prefix = opts.prefix ?? 'efuse-attest:';
    if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
    const connectTimeout = aposint(opts.connectTimeoutMs, 'connectTimeoutMs', 2000, 600_000);
    const commandTimeout = aposint(opts.commandTimeoutMs, 'commandTimeoutMs', 500, 600_000);
    const client = new Redis(url, {
      lazyConnect: true,
      connectTimeout,
      commandTimeout,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: false,
      // A socket that does not close cleanly is destroyed after this long, so closing never lingers.
      disconnectTimeout: 200,
      // Reconnect soon after an outage, never slower than once a second.
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
    }) as Redis & Scripts;
    // Every failure surfaces as a StoreError from the call that met it; the last one explains a refused connect.
    let lastError: unknown;
    client.on('error', (err) => { lastError = err; });
    client.defineCommand('efaEpoch', { numberOfKeys: 2, lua: EPOCH_LUA });
    client.defineCommand('efaSpend', { lua: SPEND_LUA });
    client.defineCommand('efaRevoke', { numberOfKeys: 3, lua: REVOKE_LUA });
    client.defineCommand('efaUnrevoke', { numberOfKeys: 3, lua: UNREVOKE_LUA });
    client.defineCommand('efaRevoked', { numberOfKeys: 2, lua: REVOKED_LUA });
    try {
      await withTimeout(client.connect(), connectTimeout);
      await checkEviction(client, address);
      const epoch = await client.efaEpoch(prefix + 'epoch', prefix + 'epoch-server', freshEpoch(), await runId(client));
      return new RedisConnection(client, address, prefix, epoch);
    } catch (err) {
      client.disconnect();
      if (err instanceof StoreError) throw err;
      const why = lastError ?? err;
      throw new StoreError(address, `cannot reach the redis store at ${address}: ${describe(why)}`, 'STORE_UNAVAILABLE', { cause: why });
    }
  }

  get epoch(): Uint8Array { return fromHex(this.epochHex, 'epoch'); }

  /** Learns the epoch of the server now connected (a new process gets a new one); spends wait for it. */
  async refreshEpoch(): Promise<void> {
    const epoch = await this.run('nonce', async () => this.client.efaEpoch(this.prefix + 'epoch', this.prefix + 'epoch-server', this.candidate, await runId(this.client)));
    this.noteEpoch(epoch);
    this.checked = this.client.status === 'ready';
  }

  /** @internal The key of the revocation list's version. */
  get versionKey(): string { return this.prefix + 'revocations-version'; }

  /** @internal Checks a version of the revocation list the server reported (see BUMP_LUA). */
  noteVersion(reported: string): void {
    const v = Number(reported);
    if (!Number.isFinite(v) || v < this.versionSeen) {
      throw new StoreError(this.address, `the revocation list at ${this.address} went back from version ${this.versionSeen} to ${reported}: it lost entries (a restart without persistence?); verification refused until it is restored with efuse-attest revoke add (or any revoke remove, if it should be empty)`, 'STORE_CORRUPT');
    }
    this.versionSeen = v;
  }

  /** @internal Whether spends may go to the server: its epoch is known since the last reconnect. */
  get ready(): boolean { return this.checked; }

  /** @internal The epoch a script should set if the server has none. */
  get epochCandidate(): string { return this.candidate; }

  /** Runs one command, turning any failure into a StoreError naming the store and address. */
  async run<T>(what: 'nonce' | 'revocation', fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      // The server may have adopted our candidate epoch without our hearing of it: never offer it again.
      this.candidate = freshEpoch();
      throw new StoreError(this.address, `the redis ${what} store at ${this.address} did not answer (${describe(err)}); verification refused`, 'STORE_UNAVAILABLE', { cause: err });
    }
  }

  /** @internal The server's epoch, as a script reported it. */
  noteEpoch(hex: string): void {
    this.epochHex = hex;
    if (hex === this.candidate) this.candidate = freshEpoch();
  }
  /** @internal */ acquire(): void { this.users++; }

  /** Closes the connection once every store over it is closed. */
  async release(): Promise<void> {
    if (--this.users > 0) return;
    await this.close();
  }

  async close(): Promise<void> {
    this.users = 0;
    if (this.client.status === 'end') return;
    try { await withTimeout(this.client.quit(), 1000); } catch { /* already gone */ }
    this.client.disconnect();
  }

  nonces(): RedisNonceStore { return new RedisNonceStore(this); }
  revocations(): RedisRevocationStore { return new RedisRevocationStore(this); }
}

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
    const field = entryField({ block: ablock(block), ...(generation !== undefined ? { generation: ageneration(generation) } : {}) });
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
  return { nonces: connection.nonces(), revocations: connection.revocations(), connection };
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

/**
 * A server that evicts keys under memory pressure would forget spent challenges while they are still
 * live (they carry a TTL, so even volatile-* policies pick them): refuse it. A server that hides its
 * configuration (CONFIG disabled, as on some managed services) is taken at its operator's word.
 */
async function checkEviction(client: Redis, address: string): Promise<void> {
  let conf: string[];
  try {
    conf = (await client.config('GET', 'maxmemory-policy')) as string[];
    conf = conf.concat((await client.config('GET', 'maxmemory')) as string[]);
  } catch {
    return;
  }
  const get = (k: string) => conf[conf.indexOf(k) + 1];
  const policy = get('maxmemory-policy');
  if (Number(get('maxmemory')) > 0 && policy !== undefined && policy !== 'noeviction') {
    throw new StoreError(address, `the redis store at ${address} evicts keys when full (maxmemory-policy ${policy}): spent challenges could be forgotten and answered again; set maxmemory-policy noeviction`, 'STORE_CONFIG');
  }
}

async function runId(client: Redis): Promise<string> {
  const m = /^run_id:([0-9a-f]+)/m.exec(await client.info('server'));
  if (!m) throw new Error('the server did not report a run_id (INFO server)');
  return m[1]!;
}

function freshEpoch(): string {
  return randomBytes(EPOCH_BYTES).toString('hex');
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
