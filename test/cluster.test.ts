// A verifier cluster against a real redis-server on loopback: verifier instances in separate
// processes sharing the Redis stores. Two instances race 1,000 copies of one answer; a challenge of
// one instance verifies on another; a revocation (made with the CLI) is refused everywhere; a
// restarted instance still verifies its outstanding challenges; a killed or hung Redis makes
// verification fail closed, and it recovers when Redis is back.
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createDevice } from '../device/src/device.js';
import { keyMap, Verifier } from '../host/backend.js';
import { StoreError, VerificationError } from '../host/errors.js';
import { attestationToJson } from '../host/serialize.js';
import { openRedisStores } from '../host/verifier/redis-stores.js';
import { keyGeneration } from '../host/verifier/revocation.js';
import { cli } from './support/cli.js';
import { startRedis, type RedisServer } from './support/redis.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';
import { ROOT } from './support/vectors.js';

const idA = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xaa);
const hexA = '7cdfa10000aa';
const keyA1 = new Uint8Array(32).fill(0x5a);
// BLOCK_KEY0 and BLOCK_KEY2 attest; BLOCK_KEY1 is the token key (the firmware's default roles).
const devA = createDevice(softChip({ mac: idA, keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY }, 2: { key: keyA1 } } }));
const KEYS: [string, string][] = [[`${hexA}/0`, Buffer.from(TEST_KEY).toString('hex')], [`${hexA}/1`, Buffer.from(TEST_KEY).toString('hex')], [`${hexA}/2`, Buffer.from(keyA1).toString('hex')]];
const serverKey = new Uint8Array(randomBytes(32));

const answer = (nonce: Uint8Array, slot = 0) => ({ nonce, response: devA.attest(nonce, slot) });
const fromHexNonce = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const reason = (r: string) => (e: unknown) => e instanceof VerificationError && e.reason === r;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A verifier instance in its own process (test/support/verifier-worker.ts). */
class Instance {
  private readonly replies: ((m: any) => void)[] = [];
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m) => this.replies.shift()?.(m));
  }

  static start(url: string, prefix: string): Promise<Instance> {
    const child = fork(ROOT + 'dist/test/support/verifier-worker.js', [], {
      env: { ...process.env, EFA_REDIS_URL: url, EFA_PREFIX: prefix, EFA_SERVER_KEY: Buffer.from(serverKey).toString('hex'), EFA_KEYS: JSON.stringify(KEYS) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const inst = new Instance(child);
    return new Promise((resolve, reject) => {
      inst.replies.push((m) => (m.ready ? resolve(inst) : reject(new Error(String(m.error)))));
      child.once('exit', (code) => reject(new Error(`verifier process exited with ${code} before it was ready`)));
    });
  }

  request(msg: object): Promise<any> {
    return new Promise((resolve, reject) => {
      this.replies.push((m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
      this.child.send(msg);
    });
  }

  async challenge(deviceId?: string): Promise<Uint8Array> {
    return fromHexNonce((await this.request({ op: 'challenge', ...(deviceId ? { deviceId } : {}) })).nonce);
  }

  verify(att: ReturnType<typeof answer>): Promise<{ ok: boolean; code?: string; message?: string; value?: { deviceId: string } }> {
    return this.request({ op: 'verify', attestation: attestationToJson(att) });
  }

  /** Ends the process at once, as a crash would. */
  kill(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((r) => { this.child.once('exit', () => r()); this.child.kill('SIGKILL'); });
  }
}

describe('verifier cluster over Redis', function () {
  this.timeout(20_000);
  let redis: RedisServer;
  let a: Instance;
  let b: Instance;
  const prefix = 'cluster:';

  before(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([Instance.start(redis.url, prefix), Instance.start(redis.url, prefix)]);
  });
  after(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await redis?.stop();
  });

  it('two instances race 1,000 copies of one valid answer: exactly one is accepted', async () => {
    const att = answer(await a.challenge(hexA));
    const json = attestationToJson(att);
    await Promise.all([a.request({ op: 'arm', attestation: json, copies: 500 }), b.request({ op: 'arm', attestation: json, copies: 500 })]);
    const [ra, rb] = await Promise.all([a.request({ op: 'go' }), b.request({ op: 'go' })]);
    assert.equal(ra.accepted + rb.accepted, 1, 'one acceptance in the whole cluster');
    assert.equal((ra.refused.VERIFY_NONCE ?? 0) + (rb.refused.VERIFY_NONCE ?? 0), 999, 'every other copy refused as a replay');
    assert.deepEqual(Object.keys({ ...ra.refused, ...rb.refused }), ['VERIFY_NONCE'], 'and for no other reason');
  });

  it('a challenge issued by one instance is verified by another, once', async () => {
    const att = answer(await a.challenge('7C:DF:A1:00:00:AA'));
    const onB = await b.verify(att);
    assert.equal(onB.ok, true, onB.message);
    assert.equal(onB.value!.deviceId, hexA);
    assert.equal((await a.verify(att)).code, 'VERIFY_NONCE');
  });

  it('a device revoked with the CLI is refused on every instance; another block and a removal verify again', async () => {
    const store = ['--redis', redis.url, '--prefix', prefix];
    const add = await cli(['revoke', 'add', '--device-id', '7C-DF-A1-00-00-AA', '--block', 'BLOCK_KEY0', '--reason', 'key leaked', '--json', ...store]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(JSON.parse(add.stdout).result.added.deviceId, hexA);
    for (const inst of [a, b]) {
      const r = await inst.verify(answer(await inst.challenge()));
      assert.equal(r.code, 'VERIFY_REVOKED');
      assert.match(r.message!, /7cdfa10000aa BLOCK_KEY0 is revoked \(key leaked\)/);
      const other = await inst.verify(answer(await inst.challenge(), 2));
      assert.equal(other.ok, true, 'BLOCK_KEY2 of the same device is not revoked');
    }
    const list = await cli(['revoke', 'list', '--json', ...store]);
    assert.deepEqual(JSON.parse(list.stdout).result.revocations.map((e: { block: string }) => e.block), ['BLOCK_KEY0']);
    const rm = await cli(['revoke', 'remove', '--device-id', hexA, '--block', '0', ...store]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /removed the revocation of 7cdfa10000aa BLOCK_KEY0/);
    for (const inst of [a, b]) assert.equal((await inst.verify(answer(await inst.challenge()))).ok, true);
  });

  it('revoke --key pins one key generation: that key is refused, the entry removed by its generation', async () => {
    const store = ['--redis', redis.url, '--prefix', prefix];
    const dir = mkdtempSync(join(tmpdir(), 'efuse-attest-revoke-'));
    try {
      writeFileSync(join(dir, 'k1.bin'), keyA1, { mode: 0o600 });
      const add = await cli(['revoke', 'add', '--device-id', hexA, '--block', '2', '--key', join(dir, 'k1.bin'), '--json', ...store]);
      assert.equal(add.code, 0, add.stderr);
      assert.equal(JSON.parse(add.stdout).result.added.generation, keyGeneration(keyA1));
      assert.equal((await b.verify(answer(await a.challenge(), 2))).code, 'VERIFY_REVOKED');
      assert.equal((await b.verify(answer(await a.challenge(), 0))).ok, true, 'the other block is not revoked');
      const rm = await cli(['revoke', 'remove', '--device-id', hexA, '--block', 'BLOCK_KEY2', '--generation', keyGeneration(keyA1).toUpperCase(), '--json', ...store]);
      assert.equal(JSON.parse(rm.stdout).result.removed, true);
      assert.equal((await a.verify(answer(await b.challenge(), 2))).ok, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a restarted instance loses no outstanding challenge, and forgets no spent one', async () => {
    const before = answer(await a.challenge(hexA));
    const outstanding = answer(await a.challenge(hexA));
    assert.equal((await a.verify(before)).ok, true);
    await a.kill();
    a = await Instance.start(redis.url, prefix);
    const r = await a.verify(outstanding);
    assert.equal(r.ok, true, r.message);
    assert.equal((await a.verify(before)).code, 'VERIFY_NONCE');
  });
});

describe('verifier over Redis: outages fail closed', function () {
  this.timeout(20_000);
  let redis: RedisServer;
  let v: Verifier;

  before(async () => {
    redis = await startRedis();
    const s = await openRedisStores({ url: redis.url, commandTimeoutMs: 300 });
    v = new Verifier({ keys: keyMap([[`${hexA}/0`, TEST_KEY], [`${hexA}/1`, TEST_KEY]]), serverKey, nonces: s.nonces, revocations: s.revocations });
  });
  after(async () => {
    await v?.close();
    await redis?.stop();
  });

  /** Verifies fresh answers until the store answers again. */
  async function recover(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try { await v.verify(answer(v.challenge(hexA).nonce)); return; } catch (err) { if (!isDown(err) && !reason('NONCE_STALE')(err)) throw err; await sleep(50); }
    }
    assert.fail('verification did not work again within 5 s of Redis coming back');
  }

  const isDown = (e: unknown) => e instanceof StoreError && e.store === redis.url && e.message.includes(redis.url) && e.exitCode === 9;

  it('killing Redis mid-run: every later answer is refused naming the store; it recovers when Redis returns', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, async () => answer(v.challenge(hexA).nonce)));
    const outcomes: string[] = [];
    for (let i = 0; i < answers.length; i++) {
      if (i === 20) await redis.kill();
      try {
        await v.verify(answers[i]!);
        outcomes.push('ok');
      } catch (err) {
        assert.ok(isDown(err), `answer ${i}: ${String(err)}`);
        outcomes.push('down');
      }
    }
    assert.deepEqual(outcomes, [...Array(20).fill('ok'), ...Array(20).fill('down')]);
    await assert.rejects(v.verifyToken(hexA, 'SharedAccessSignature sr=x&sig=y&se=1'), isDown, 'revocation lookups fail closed too');
    const beforeOutage = answers[30]!;
    const spentBefore = answers[0]!;

    await redis.restart(); // an empty server: it kept no record of spent challenges
    await recover();
    // The server lost its history, so nothing from before it is accepted — not even a replay of a spent answer.
    await assert.rejects(v.verify(spentBefore), reason('NONCE_STALE'));
    await assert.rejects(v.verify(beforeOutage), reason('NONCE_STALE'));
  });

  it('Redis restored from an old snapshot (epoch kept, last spends lost): nothing from before verifies', async () => {
    await recover();
    const spent = answer(v.challenge(hexA).nonce);
    const outstanding = answer(v.challenge(hexA).nonce);
    const admin = new Redis(redis.url);
    try { await admin.save(); } finally { admin.disconnect(); } // the snapshot holds the epoch, not the spend below
    assert.ok(await v.verify(spent));
    await redis.kill();
    await redis.restart(); // loads the snapshot: same epoch key, no record of that spend
    await recover();
    await assert.rejects(v.verify(spent), reason('NONCE_STALE'), 'a replay is refused although its record was lost');
    await assert.rejects(v.verify(outstanding), reason('NONCE_STALE'));
  });

  it('a hung Redis (SIGSTOP) fails verification within the command timeout instead of waiting', async () => {
    const att = answer(v.challenge(hexA).nonce);
    redis.signal('SIGSTOP');
    try {
      await assert.rejects(v.verify(att), (e: unknown) => isDown(e) && /timed out/i.test((e as Error).message));
    } finally {
      redis.signal('SIGCONT');
    }
    let r: unknown;
    for (let i = 0; i < 100; i++) {
      try { r = await v.verify(answer(v.challenge(hexA).nonce)); break; } catch (err) { if (!isDown(err)) throw err; await sleep(50); }
    }
    assert.equal((r as { deviceId: string }).deviceId, hexA, 'new challenges verify once Redis answers again');
    // The timed-out command reached the server and ran when it woke: that answer counts as spent.
    // Failing closed means the device is asked again, never that an answer is accepted twice.
    await assert.rejects(v.verify(att), reason('NONCE'));
  });

  it('a revocation list that lost its entries with Redis makes verification fail closed until it is restored', async () => {
    await recover();
    await v.revocations.add({ deviceId: hexA, block: 'BLOCK_KEY3', reason: 'kept elsewhere' });
    assert.ok(await v.verify(answer(v.challenge(hexA).nonce)), 'BLOCK_KEY0 is not revoked');
    await redis.kill();
    await redis.restart(); // without persistence: the revocation is gone
    let err: unknown;
    for (let i = 0; i < 100; i++) {
      err = await v.verify(answer(v.challenge(hexA).nonce)).then(() => undefined, (e: unknown) => e);
      if (!(err instanceof StoreError && err.code === 'STORE_UNAVAILABLE') && !reason('NONCE_STALE')(err)) break;
      await sleep(50);
    }
    assert.ok(err instanceof StoreError && err.code === 'STORE_CORRUPT', String(err));
    assert.match((err as Error).message, /revocation list at redis:\/\/127\.0\.0\.1:\d+ went back .* lost entries/);
    await assert.rejects(v.verifyToken(hexA, 'SharedAccessSignature sr=x&sig=y&se=1'), (e: unknown) => e instanceof StoreError && e.code === 'STORE_CORRUPT');
    await v.revocations.add({ deviceId: hexA, block: 'BLOCK_KEY3', reason: 'restored' });
    assert.ok(await v.verify(answer(v.challenge(hexA).nonce)), 'verifies again once the list is restored');
  });
});
