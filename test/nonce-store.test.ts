// One contract suite for the verifier's stores, run over every implementation: the in-memory stores
// and the Redis stores against a real redis-server started here on loopback.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { StoreError } from '../host/errors.js';
import { MemoryNonceStore, type NonceStore } from '../host/verifier/nonce-store.js';
import { RedisConnection } from '../host/verifier/redis.js';
import { openRedisStores } from '../host/verifier/redis-stores.js';
import { keyGeneration, MemoryRevocationStore, type RevocationStore } from '../host/verifier/revocation.js';
import { startRedis, type RedisServer } from './support/redis.js';

interface Impl {
  name: string;
  open(): Promise<{ nonces: NonceStore; revocations: RevocationStore; close(): Promise<void> }>;
}

let server: RedisServer;
let prefixes = 0;

const impls: Impl[] = [
  {
    name: 'memory',
    async open() {
      const nonces = new MemoryNonceStore();
      const revocations = new MemoryRevocationStore();
      return { nonces, revocations, close: async () => { await nonces.close(); await revocations.close(); } };
    },
  },
  {
    name: 'redis',
    async open() {
      // A prefix per test: each starts from an empty store on the one server.
      const s = await openRedisStores({ url: server.url, prefix: `t${++prefixes}:` });
      return { nonces: s.nonces, revocations: s.revocations, close: async () => { await s.nonces.close(); await s.revocations.close(); } };
    },
  },
];

const id = () => randomBytes(16).toString('hex');
const devA = '7cdfa10000aa';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('verifier stores', () => {
  before(async function () {
    this.timeout(15_000);
    server = await startRedis();
  });
  after(async () => { await server?.stop(); });

  for (const impl of impls) {
    describe(`NonceStore contract: ${impl.name}`, () => {
      let s: Awaited<ReturnType<Impl['open']>>;
      beforeEach(async () => { s = await impl.open(); });
      afterEach(async () => { await s.close(); });

      it('spends an id once; later spends are replays; other ids are independent', async () => {
        const a = id();
        assert.equal(await s.nonces.spend(a, s.nonces.epoch, 60_000), 'ok');
        assert.equal(await s.nonces.spend(a, s.nonces.epoch, 60_000), 'replay');
        assert.equal(await s.nonces.spend(id(), s.nonces.epoch, 60_000), 'ok');
        const st = s.nonces.stats();
        assert.equal(st.spent, 2);
        assert.equal(st.replays, 1);
      });

      it('of 200 concurrent spends of one id exactly one is ok', async () => {
        const a = id();
        const r = await Promise.all(Array.from({ length: 200 }, () => s.nonces.spend(a, s.nonces.epoch, 60_000)));
        assert.equal(r.filter((x) => x === 'ok').length, 1);
        assert.equal(r.filter((x) => x === 'replay').length, 199);
      });

      it('refuses an id from another epoch as stale, without spending it', async () => {
        const a = id();
        const other = s.nonces.epoch.map((b) => b ^ 0xff);
        assert.equal(s.nonces.epoch.length, 4);
        assert.equal(await s.nonces.spend(a, other, 60_000), 'stale');
        assert.equal(await s.nonces.spend(a, s.nonces.epoch, 60_000), 'ok');
      });

      it('remembers an id for its lifetime, and no longer', async () => {
        const a = id();
        assert.equal(await s.nonces.spend(a, s.nonces.epoch, 150), 'ok');
        await sleep(50);
        assert.equal(await s.nonces.spend(a, s.nonces.epoch, 150), 'replay');
        await sleep(200);
        assert.equal(await s.nonces.spend(a, s.nonces.epoch, 150), 'ok');
      });
    });

    describe(`RevocationStore contract: ${impl.name}`, () => {
      let s: Awaited<ReturnType<Impl['open']>>;
      beforeEach(async () => { s = await impl.open(); });
      afterEach(async () => { await s.close(); });

      it('adds, finds by device, lists in order and removes exact entries', async () => {
        const gen = keyGeneration(new Uint8Array(32).fill(7));
        const e = await s.revocations.add({ deviceId: '7C:DF:A1:00:00:AA', block: 0, reason: 'key leaked' });
        assert.deepEqual({ ...e, revokedAt: '' }, { deviceId: devA, block: 'BLOCK_KEY0', reason: 'key leaked', revokedAt: '' });
        await s.revocations.add({ deviceId: devA, block: 'block_key1', generation: gen.toUpperCase() });
        await s.revocations.add({ deviceId: '7cdfa10000bb', block: 'BLOCK_KEY2' });
        assert.equal((await s.revocations.forDevice('7c-df-a1-00-00-aa')).length, 2);
        assert.deepEqual((await s.revocations.forDevice('7cdfa10000cc')), []);
        const all = await s.revocations.list();
        assert.deepEqual(all.map((x) => [x.deviceId, x.block, x.generation]), [[devA, 'BLOCK_KEY0', undefined], [devA, 'BLOCK_KEY1', gen], ['7cdfa10000bb', 'BLOCK_KEY2', undefined]]);
        assert.equal(await s.revocations.remove(devA, 1), false, 'the entry names a generation: removing without one matches nothing');
        assert.equal(await s.revocations.remove(devA, 1, gen), true);
        assert.equal(await s.revocations.remove(devA, 'BLOCK_KEY0'), true);
        assert.equal(await s.revocations.remove(devA, 'BLOCK_KEY0'), false);
        assert.deepEqual((await s.revocations.list()).map((x) => x.deviceId), ['7cdfa10000bb']);
      });

      it('adding an equal entry again replaces it; bad input is a TypeError or RangeError naming the argument', async () => {
        await s.revocations.add({ deviceId: devA, block: 0, reason: 'first' });
        await s.revocations.add({ deviceId: devA, block: 0, reason: 'second\u001b[2J' });
        const l = await s.revocations.forDevice(devA);
        assert.equal(l.length, 1);
        assert.equal(l[0]!.reason, 'second [2J', 'control characters never reach a terminal');
        const bad: [() => Promise<unknown>, new (...a: any[]) => Error, RegExp][] = [
          [() => s.revocations.add({ deviceId: 'nope', block: 0 }), RangeError, /deviceId/],
          [() => s.revocations.add({ deviceId: 5 as unknown as string, block: 0 }), TypeError, /deviceId/],
          [() => s.revocations.add({ deviceId: devA, block: 6 }), RangeError, /block/],
          [() => s.revocations.add({ deviceId: devA, block: 'BLOCK_KEY9' }), RangeError, /block/],
          [() => s.revocations.add({ deviceId: devA, block: 0, generation: 'abc' }), RangeError, /generation/],
          [() => s.revocations.add({ deviceId: devA, block: 0, reason: 'x'.repeat(201) }), RangeError, /reason/],
          [() => s.revocations.remove(devA, 0, 'zz'), RangeError, /generation/],
        ];
        for (const [fn, type, re] of bad) await assert.rejects(fn(), (e: unknown) => e instanceof type && re.test((e as Error).message));
      });
    });
  }

  describe('Redis stores: connection and failures', () => {
    it('refuse to open, naming the address, when nothing listens there', async function () {
      this.timeout(5000);
      await assert.rejects(RedisConnection.open({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 1000 }), (e: unknown) =>
        e instanceof StoreError && e.store === 'redis://127.0.0.1:1' && /redis:\/\/127\.0\.0\.1:1/.test(e.message) && e.exitCode === 9);
    });

    it('check their options and never show a password', async () => {
      await assert.rejects(RedisConnection.open({ url: 'http://x' }), RangeError);
      await assert.rejects(RedisConnection.open({ url: 7 as unknown as string }), TypeError);
      await assert.rejects(RedisConnection.open({ url: server.url, commandTimeoutMs: 0 }), (e: unknown) => e instanceof RangeError && /commandTimeoutMs/.test((e as Error).message));
      await assert.rejects(RedisConnection.open({ url: 'redis://user:s3cret@127.0.0.1:1', connectTimeoutMs: 500 }), (e: unknown) =>
        e instanceof StoreError && !/s3cret/.test(e.message) && !/s3cret/.test(e.store));
    });

    it('refuse a server that may evict spent challenges under memory pressure', async function () {
      this.timeout(10_000);
      const lru = await startRedis(['--maxmemory', '64mb', '--maxmemory-policy', 'volatile-lru']);
      try {
        await assert.rejects(RedisConnection.open({ url: lru.url }), (e: unknown) =>
          e instanceof StoreError && e.code === 'STORE_CONFIG' && /maxmemory-policy volatile-lru/.test(e.message) && e.message.includes(lru.url));
      } finally {
        await lru.stop();
      }
    });

    it('two connections share one epoch and one spent set', async () => {
      const a = await openRedisStores({ url: server.url, prefix: 'shared:' });
      const b = await openRedisStores({ url: server.url, prefix: 'shared:' });
      try {
        assert.deepEqual(a.nonces.epoch, b.nonces.epoch);
        const x = id();
        assert.equal(await a.nonces.spend(x, a.nonces.epoch, 60_000), 'ok');
        assert.equal(await b.nonces.spend(x, b.nonces.epoch, 60_000), 'replay');
      } finally {
        await a.connection.close();
        await b.connection.close();
      }
    });
  });
});
