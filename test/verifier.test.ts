// The backend Verifier with its embedded (in-memory) stores: sealed challenges, the bound on
// remembered answers, batches that isolate a malformed item, device ids in every spelling (one
// parser everywhere), revocation, and the revoke command's usage and failures.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createDevice } from '../device/src/device.js';
import { keyMap, Verifier } from '../host/backend.js';
import { RevokedError, StoreError, VerificationError } from '../host/errors.js';
import { MemoryNonceStore } from '../host/verifier/nonce-store.js';
import { keyGeneration, MemoryRevocationStore } from '../host/verifier/revocation.js';
import { verifyAttestation } from '../host/verify.js';
import { deviceIdToBytes, parseDeviceId } from '../protocol/deviceid.js';
import { cli } from './support/cli.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';

const idA = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xaa);
const idB = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xbb);
const hexA = '7cdfa10000aa';
const keyB = new Uint8Array(32).fill(0x42);
const devA = createDevice(softChip({ mac: idA, keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } }));
const devB = createDevice(softChip({ mac: idB, keys: { 0: { key: keyB }, 1: { key: keyB } } }));
const keys = keyMap([['7C:DF:A1:00:00:AA/0', TEST_KEY], ['7C:DF:A1:00:00:AA/1', TEST_KEY], ['7cdfa10000bb/0', keyB], ['7cdfa10000bb/1', keyB]]);
const answer = (nonce: Uint8Array, dev = devA) => ({ nonce, response: dev.attest(nonce) });
const reason = (r: string) => (e: unknown) => e instanceof VerificationError && e.reason === r;

describe('device ids: one parser for every entry point', () => {
  const forms = ['7cdfa10000aa', '7CDFA10000AA', '7c:df:a1:00:00:aa', '7C:DF:A1:00:00:AA', '7c-df-a1-00-00-aa', '7C-Df-a1-00-00-AA', idA];
  const bad: [unknown, new (...a: any[]) => Error][] = [
    ['7cdfa10000a', RangeError], ['7cdfa10000aaa', RangeError], ['7c:df-a1:00:00:aa', RangeError], ['7c:dfa1:00:00:aa', RangeError],
    ['7cdfa10000ag', RangeError], ['', RangeError], [' 7cdfa10000aa', RangeError], ['7c:df:a1:00:00:aa:', RangeError], ['7c.df.a1.00.00.aa', RangeError],
    [new Uint8Array(5), RangeError], [new Uint8Array(7), RangeError], [null, TypeError], [0x7cdfa10000aa, TypeError], [undefined, TypeError],
  ];

  it('accepts colon, dash, upper- and lower-case and bytes as the same device', () => {
    for (const f of forms) {
      assert.equal(parseDeviceId(f), hexA, String(f));
      assert.equal(parseDeviceId(f), hexA, `keys.ts: ${String(f)}`);
      assert.deepEqual(deviceIdToBytes(f), idA);
    }
  });

  it('refuses everything else, naming the argument', () => {
    for (const [v, type] of bad) {
      assert.throws(() => parseDeviceId(v, '--device-id'), (e: unknown) => e instanceof type && /--device-id/.test((e as Error).message), String(v));
      assert.throws(() => parseDeviceId(v), type);
    }
  });

  it('the Verifier, verifyAttestation and keyMap take any spelling', async () => {
    const v = new Verifier({ keys });
    for (const f of ['7C:DF:A1:00:00:AA', '7c-df-a1-00-00-aa', idA]) {
      const att = answer(v.challenge(f).nonce);
      assert.equal((await v.verify(att)).deviceId, hexA, String(f));
      assert.equal(verifyAttestation(att, { key: TEST_KEY, deviceId: '7C-DF-A1-00-00-AA' }).deviceId, hexA);
    }
    const expiry = Math.floor(Date.now() / 1000) + 60;
    const tok = devB.token('hub/devices/b', expiry);
    for (const f of ['7C:DF:A1:00:00:BB', '7c-df-a1-00-00-bb', '7CDFA10000BB']) assert.equal((await v.verifyToken(f, tok)).expiry, expiry, f);
    assert.throws(() => v.challenge('7c:df:a1'), (e: unknown) => e instanceof RangeError && /deviceId/.test((e as Error).message));
    await assert.rejects(v.verifyToken('nope', tok), RangeError);
  });
});

describe('sealed challenges', () => {
  it('a nonce with any byte changed is not a challenge of this verifier, and spends nothing', async () => {
    const v = new Verifier({ keys });
    const { nonce } = v.challenge(hexA);
    assert.equal(nonce.length, 49);
    for (let i = 0; i < nonce.length; i++) {
      const n = nonce.slice();
      n[i] ^= 0x01;
      await assert.rejects(v.verify(answer(n)), reason('NONCE'), `byte ${i}`);
    }
    assert.equal((await v.verify(answer(nonce))).deviceId, hexA);
  });

  it('a forged answer does not use up the challenge; the genuine one still verifies', async () => {
    const v = new Verifier({ keys });
    const { nonce } = v.challenge();
    const forged = answer(nonce);
    forged.response = { ...forged.response, mac: new Uint8Array(32) };
    await assert.rejects(v.verify(forged), reason('MAC'));
    assert.ok(await v.verify(answer(nonce)));
    await assert.rejects(v.verify(answer(nonce)), reason('NONCE'));
  });

  it('only a verifier with the server key opens a challenge; a rotated key still opens the old ones', async () => {
    const k1 = new Uint8Array(randomBytes(32));
    const k2 = new Uint8Array(randomBytes(32));
    const nonces = new MemoryNonceStore();
    const old = new Verifier({ keys, serverKey: k1, nonces });
    const stranger = new Verifier({ keys, serverKey: k2, nonces });
    const rotated = new Verifier({ keys, serverKey: [k2, k1], nonces });
    const c = old.challenge(hexA).nonce;
    await assert.rejects(stranger.verify(answer(c)), reason('NONCE'));
    assert.ok(await rotated.verify(answer(c)));
    assert.ok(await stranger.verify(answer(rotated.challenge().nonce)), 'new challenges are sealed with the first key');
  });

  it('nonce sizes 49..64 only (the device takes 16..64), and 64 works end to end', async () => {
    for (const n of [15, 32, 48, 65]) assert.throws(() => new Verifier({ keys, nonceSize: n }), (e: unknown) => e instanceof RangeError && /nonceSize/.test((e as Error).message));
    assert.throws(() => new Verifier({ keys, serverKey: new Uint8Array(16) }), (e: unknown) => e instanceof RangeError && /serverKey/.test((e as Error).message));
    const v = new Verifier({ keys, nonceSize: 64 });
    const { nonce } = v.challenge();
    assert.equal(nonce.length, 64);
    assert.ok(await v.verify(answer(nonce)));
  });

  it('a restarted verifier with the memory store refuses challenges from before (their history is gone)', async () => {
    const serverKey = new Uint8Array(randomBytes(32));
    const first = new Verifier({ keys, serverKey });
    const spent = answer(first.challenge().nonce);
    const outstanding = answer(first.challenge().nonce);
    assert.ok(await first.verify(spent));
    const second = new Verifier({ keys, serverKey });
    await assert.rejects(second.verify(spent), reason('NONCE_STALE'), 'a replay after a restart');
    await assert.rejects(second.verify(outstanding), reason('NONCE_STALE'));
  });
});

describe('answered challenges: bounded, expired first, never pushed out', () => {
  it('full of live entries, verification fails closed and is counted; expired entries make room', async () => {
    let now = 1_000_000;
    const v = new Verifier({ keys, challengeTtlMs: 1000, maxOutstanding: 3, now: () => now });
    const first = [0, 1, 2].map(() => answer(v.challenge().nonce));
    for (const a of first) assert.ok(await v.verify(a));
    now += 500;
    const late = answer(v.challenge().nonce);
    now += 100;
    await assert.rejects(v.verify(late), (e: unknown) => e instanceof StoreError && e.code === 'STORE_FULL' && /memory nonce store is full/.test((e as Error).message));
    await assert.rejects(v.verify(first[0]!), reason('NONCE'), 'the live entries were kept: a replay is still refused');
    assert.equal(v.nonces.stats().full, 1);
    now += 401; // the first three have expired, the late one has not
    assert.ok(await v.verify(late));
    assert.equal(v.pending, 1);
    assert.equal(v.nonces.stats().expired, 3);
  });
});

describe('verifyBatch', () => {
  it('a malformed item fails alone; the others keep their results', async () => {
    const v = new Verifier({ keys });
    const good1 = answer(v.challenge().nonce);
    const good2 = answer(v.challenge().nonce, devB);
    const items = [good1, { nonce: 'zz', response: null }, { nonce: new Uint8Array(49), response: { ...good1.response, deviceId: 'x' } }, good2, null] as unknown as (typeof good1)[];
    const r = await v.verifyBatch(items);
    assert.deepEqual(r.map((x) => x.ok), [true, false, false, true, false]);
    for (const i of [1, 4]) assert.ok(!r[i]!.ok && r[i]!.error instanceof VerificationError && r[i]!.error.reason === 'MALFORMED' && r[i]!.error.message.startsWith(`item ${i} is malformed`));
    assert.ok(!r[2]!.ok && reason('NONCE')(r[2]!.error));
    await assert.rejects(v.verify(good1), reason('NONCE'), 'the good items were spent, and their results kept');
  });
});

describe('revocation', () => {
  it('a revoked key block is refused with its own code; other blocks, generations and removal verify', async () => {
    const revocations = new MemoryRevocationStore();
    const v = new Verifier({ keys, revocations });
    await revocations.add({ deviceId: '7C:DF:A1:00:00:AA', block: 'BLOCK_KEY0', reason: 'stolen' });
    const r = await v.verify(answer(v.challenge().nonce)).then(() => undefined, (e: unknown) => e);
    assert.ok(r instanceof RevokedError);
    assert.equal(r.code, 'VERIFY_REVOKED');
    assert.equal(r.exitCode, 3);
    assert.match(r.message, /device 7cdfa10000aa BLOCK_KEY0 is revoked \(stolen\)/);
    const expiry = Math.floor(Date.now() / 1000) + 60;
    assert.ok(await v.verifyToken(hexA, devA.token('hub/devices/a', expiry)), 'the token key (BLOCK_KEY1) is another block');
    await revocations.add({ deviceId: hexA, block: 'BLOCK_KEY1', reason: 'token key leaked' });
    await assert.rejects(v.verifyToken(hexA, devA.token('hub/devices/a', expiry)), reason('REVOKED'), 'tokens too, by their own block');
    assert.ok(await v.verifyToken(idB, devB.token('hub/devices/b', expiry)), 'other devices are untouched');
    await revocations.remove(hexA, 0);
    await revocations.add({ deviceId: hexA, block: 0, generation: keyGeneration(keyB) });
    assert.ok(await v.verify(answer(v.challenge().nonce)), 'an entry for another key generation does not match');
    await revocations.add({ deviceId: hexA, block: 0, generation: keyGeneration(TEST_KEY) });
    await assert.rejects(v.verify(answer(v.challenge().nonce)), reason('REVOKED'));
  });

  it('the key generation is a fixed public fingerprint of the key', () => {
    assert.equal(keyGeneration(TEST_KEY), keyGeneration(TEST_KEY.slice()));
    assert.match(keyGeneration(TEST_KEY), /^[0-9a-f]{16}$/);
    assert.notEqual(keyGeneration(TEST_KEY), keyGeneration(keyB));
    assert.throws(() => keyGeneration(new Uint8Array(31)), RangeError);
  });
});

describe('revoke command', function () {
  this.timeout(20_000);
  it('checks its arguments before touching a store; without a store it says how to give one', async () => {
    const noStore = await cli(['revoke', 'add', '--device-id', hexA], { env: { EFUSE_ATTEST_REDIS: '' } });
    assert.equal(noStore.code, 2);
    assert.match(noStore.stderr, /--redis URL or set EFUSE_ATTEST_REDIS/);
    const badId = await cli(['revoke', 'add', '--device-id', '7c:df', '--redis', 'redis://127.0.0.1:1', '--json']);
    assert.equal(badId.code, 2);
    assert.equal(JSON.parse(badId.stdout).error.code, 'USAGE');
    assert.match(JSON.parse(badId.stdout).error.message, /--device-id/);
  });

  it('an unreachable store is exit code 9, naming the store, in one line', async () => {
    const r = await cli(['revoke', 'list', '--redis', 'redis://127.0.0.1:1', '--timeout', '500', '--json']);
    assert.equal(r.code, 9);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ok, false);
    assert.equal(out.error.code, 'STORE_UNAVAILABLE');
    assert.match(out.error.message, /redis:\/\/127\.0\.0\.1:1/);
    assert.equal(r.stdout.trim().split('\n').length, 1);
  });
});
