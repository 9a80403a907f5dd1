// The connection to the Redis server that a verifier cluster shares (through ioredis), and the Lua
// scripts the stores over it run (redis-stores.ts: spent challenges and revocations). Every store
// operation is one script, atomic on the server.
//
// Fail closed with bounded waits: no offline queue (a command while disconnected fails at once), no
// re-sending after a dropped connection, a timeout on every command. Any failure becomes a StoreError
// that names the store and its address; the verification it was for is refused. The client
// reconnects by itself, so verification works again as soon as the server is back.
//
// Keys, under a prefix (default "efuse-attest:"):
//   <prefix>epoch                 4-byte epoch as hex, and <prefix>epoch-server, the run_id it is for
//   <prefix>spent:<id>            a spent challenge, expiring with the challenge
//   <prefix>revoked:<deviceId>    hash: "BLOCK_KEYn" or "BLOCK_KEYn/<generation>" → entry JSON
//   <prefix>revoked-devices       set of device ids that have entries, for listing
//   <prefix>revocations-version   moves forward with every change of the list
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { fromHex } from '../../protocol/index.js';
import { StoreError } from '../errors.js';
import { EPOCH_BYTES } from './sealed.js';

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
export const MAX_BATCH = 256;

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

export interface Scripts {
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

export function freshEpoch(): string {
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
