// Edges of the verifier (host/verify.ts) and the backend Verifier (host/backend.ts) that the
// mutation run found unchecked: exact boundaries of expiry and token lifetime, every field of what a
// verification returns, the key-name and resource-device checks, slots past the last key block with a
// valid MAC, and the Verifier's own argument checks and batch results.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createDevice } from '../device/src/device.js';
import { keyGeneration, keyMap, MemoryNonceStore, MemoryRevocationStore, type Revocation, type SpendResult, Verifier } from '../host/backend.js';
import { VerificationError } from '../host/errors.js';
import { deviceIdToBytes } from '../protocol/deviceid.js';
import { DEFAULT_MAX_TOKEN_LIFETIME, hmacSha256, resourceDevice, verifyAttestation, verifyMany, verifyToken } from '../host/verify.js';
import { buildTranscript, formatSasToken, sasStringToSign, toBase64, toHex } from '../protocol/index.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';

const reason = (r: string) => (e: unknown) => e instanceof VerificationError && e.reason === r;
const id = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0x5a);
const dev = createDevice(softChip({ mac: id, keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } }));

/** An answer with some fields changed and a MAC that is valid for them (what a device would sign). */
function signed(changes: Record<string, unknown>, slot = 0) {
  const nonce = new Uint8Array(randomBytes(32));
  const response = { ...dev.attest(nonce, slot), ...changes };
  const { mac: _mac, ...fields } = response;
  const mac = new Uint8Array(createHmac('sha256', TEST_KEY).update(buildTranscript(fields as never, nonce)).digest());
  return { nonce, response: { ...response, mac } };
}

const token = (resource: string, expiry: number, keyName = '', key = TEST_KEY) =>
  formatSasToken(resource, expiry, hmacSha256(key, sasStringToSign(resource, expiry)), keyName);

describe('verifyAttestation: what it returns and its edges', () => {
  it('returns every attested field, as the device reported it', () => {
    const a = signed({ secureBoot: true, flashEncryption: true, writeProtected: true, revision: 3, firmwareVersion: '1.2.3' });
    const v = verifyAttestation(a, { key: TEST_KEY, deviceId: id, slot: 0 });
    assert.deepEqual(v.deviceIdBytes, id);
    assert.deepEqual(JSON.parse(JSON.stringify(v)), {
      deviceId: toHex(id), chip: 'esp32s3', revision: 3, slot: 0, secureBoot: true, flashEncryption: true,
      readProtected: true, writeProtected: true, firmwareId: toHex(a.response.firmwareId), firmwareVersion: '1.2.3',
    });
    const plain = verifyAttestation(signed({ secureBoot: false, flashEncryption: false, writeProtected: false }), { key: TEST_KEY });
    assert.deepEqual([plain.secureBoot, plain.flashEncryption, plain.writeProtected], [false, false, false]);
  });

  it('an answer for a slot past the last key block is malformed (RangeError), never verified', () => {
    const a = signed({});
    assert.throws(() => verifyAttestation({ ...a, response: { ...a.response, slot: 6 } }, { key: TEST_KEY }), (e: unknown) => e instanceof RangeError && /slot/.test((e as Error).message));
    assert.ok(verifyAttestation(signed({ slot: 5 }), { key: TEST_KEY }));
  });

  it('the policy fields not given keep their defaults (read protection required)', () => {
    const a = signed({ readProtected: false });
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY, policy: { requireSecureBoot: false } }), reason('READ_PROTECT'));
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY }), (e: unknown) => reason('READ_PROTECT')(e) && /BLOCK_KEY0 of device 7cdfa100005a/.test((e as Error).message));
    assert.ok(verifyAttestation(signed({ secureBoot: true }), { key: TEST_KEY, policy: { requireSecureBoot: true } }));
  });

  it('firmware allow-list: hex in any case or bytes; an empty list allows any', () => {
    const a = signed({});
    const fw = toHex(a.response.firmwareId);
    assert.ok(verifyAttestation(a, { key: TEST_KEY, policy: { firmwareIds: [fw.toUpperCase()] } }));
    assert.ok(verifyAttestation(a, { key: TEST_KEY, policy: { firmwareIds: ['00', a.response.firmwareId] } }));
    assert.ok(verifyAttestation(a, { key: TEST_KEY, policy: { firmwareIds: [] } }));
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY, policy: { firmwareIds: [new Uint8Array(32)] } }),
      (e: unknown) => reason('FIRMWARE')(e) && (e as Error).message.includes(`firmware ${fw.slice(0, 16)}…`));
  });

  it('refusals name the device and the expected values', () => {
    const a = signed({});
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY, deviceId: '7cdfa100005b' }), /from device 7cdfa100005a, expected 7cdfa100005b/);
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY, slot: 3 }), /used key slot 0, expected 3/);
    assert.throws(() => verifyAttestation(a, { key: new Uint8Array(32) }), /MAC does not verify for device 7cdfa100005a/);
    assert.throws(() => verifyAttestation(signed({ purpose: 5 }), { key: TEST_KEY }), /purpose is HMAC_DOWN_ALL, not HMAC_UP/);
    assert.deepEqual(deviceIdToBytes('7C:DF:A1:00:00:5A'), id);
  });

  it('a key or MAC of the wrong size is a RangeError naming it', () => {
    const a = signed({});
    assert.throws(() => verifyAttestation(a, { key: new Uint8Array(31) }), /key/);
    assert.throws(() => verifyAttestation({ ...a, response: { ...a.response, mac: a.response.mac.subarray(0, 31) } }, { key: TEST_KEY }), /response\.mac/);
  });
});

describe('verifyToken: boundaries', () => {
  const resource = 'hub.example/devices/dev-1';
  const now = 1_000_000;

  it('expiry: refused at now, accepted one second later', () => {
    assert.throws(() => verifyToken(token(resource, now), { key: TEST_KEY, now }), (e: unknown) => reason('EXPIRED')(e) && /expired at 1970-01-12T13:46:40\.000Z/.test((e as Error).message));
    assert.equal(verifyToken(token(resource, now + 1), { key: TEST_KEY, now }).expiry, now + 1);
  });

  it('lifetime: exactly the maximum is accepted, one second more is LIFETIME; default one day; the bound is checked', () => {
    assert.equal(DEFAULT_MAX_TOKEN_LIFETIME, 86_400);
    assert.ok(verifyToken(token(resource, now + 86_400), { key: TEST_KEY, now }));
    assert.throws(() => verifyToken(token(resource, now + 86_401), { key: TEST_KEY, now }), (e: unknown) => reason('LIFETIME')(e) && /more than 86400 s from now/.test((e as Error).message));
    assert.ok(verifyToken(token(resource, now + 10), { key: TEST_KEY, now, maxLifetimeSeconds: 10 }));
    assert.throws(() => verifyToken(token(resource, now + 11), { key: TEST_KEY, now, maxLifetimeSeconds: 10 }), reason('LIFETIME'));
    assert.throws(() => verifyToken(token(resource, now + 1), { key: TEST_KEY, now, maxLifetimeSeconds: 0 }), RangeError);
  });

  it('without now, the clock is used', () => {
    const t = Math.floor(Date.now() / 1000);
    assert.ok(verifyToken(token(resource, t + 60), { key: TEST_KEY }));
    assert.throws(() => verifyToken(token(resource, t - 1), { key: TEST_KEY }), reason('EXPIRED'));
  });

  it('returns resource, expiry, key name and the signature in base64', () => {
    const sig = hmacSha256(TEST_KEY, sasStringToSign(resource, now + 5));
    assert.deepEqual(verifyToken(formatSasToken(resource, now + 5, sig, 'device'), { key: TEST_KEY, now }),
      { resource, expiry: now + 5, keyName: 'device', signature: toBase64(sig) });
  });

  it('key name: must match when given ("" for none), ignored when not', () => {
    const named = token(resource, now + 5, 'registry');
    assert.ok(verifyToken(named, { key: TEST_KEY, now, keyName: 'registry' }));
    assert.ok(verifyToken(named, { key: TEST_KEY, now }));
    assert.throws(() => verifyToken(named, { key: TEST_KEY, now, keyName: '' }), (e: unknown) => reason('KEY_NAME')(e) && /names the key "registry", expected none/.test((e as Error).message));
    assert.throws(() => verifyToken(token(resource, now + 5), { key: TEST_KEY, now, keyName: 'x' }), /names the key "", expected "x"/);
  });

  it('resource and resource device: exact match when given', () => {
    const t = token(resource, now + 5);
    assert.ok(verifyToken(t, { key: TEST_KEY, now, resource, deviceId: 'dev-1' }));
    assert.throws(() => verifyToken(t, { key: TEST_KEY, now, resource: resource + 'x' }), (e: unknown) => reason('RESOURCE')(e) && /expected "hub\.example\/devices\/dev-1x"/.test((e as Error).message));
    assert.throws(() => verifyToken(t, { key: TEST_KEY, now, deviceId: 'dev-2' }), (e: unknown) => reason('RESOURCE')(e) && /not for device "dev-2"/.test((e as Error).message));
    assert.throws(() => verifyToken(token('hub.example/devices', now + 5), { key: TEST_KEY, now, deviceId: '' }), reason('RESOURCE'));
  });

  it('resourceDevice: the segment after the last "devices", optionally with a module after it', () => {
    assert.equal(resourceDevice('hub/devices/a'), 'a');
    assert.equal(resourceDevice('hub/devices/a/modules/m'), 'a');
    assert.equal(resourceDevice('devices/b'), 'b');
    assert.equal(resourceDevice('hub/devices/a/devices/c'), 'c');
    assert.equal(resourceDevice('hub/devices'), undefined);
    assert.equal(resourceDevice('hub/device/a'), undefined);
  });

  it('a malformed token is FORMAT, a signature by another key SIGNATURE', () => {
    assert.throws(() => verifyToken('SharedAccessSignature sr=x', { key: TEST_KEY, now }), (e: unknown) => reason('FORMAT')(e) && /^token is malformed: /.test((e as Error).message));
    assert.throws(() => verifyToken(token(resource, now + 5, '', new Uint8Array(32)), { key: TEST_KEY, now }), (e: unknown) => reason('SIGNATURE')(e) && /does not verify with this key/.test((e as Error).message));
  });
});

describe('Verifier: options and batches', () => {
  const keys = keyMap([[`${toHex(id)}/0`, TEST_KEY], [`${toHex(id)}/1`, TEST_KEY]]);

  it('refuses bad options, naming them', () => {
    assert.throws(() => new Verifier({ keys: {} as never }), (e: unknown) => e instanceof TypeError && /lookup/.test((e as Error).message));
    assert.throws(() => new Verifier(undefined as never), TypeError);
    for (const ttl of [0, -1, 2 ** 31, Number.NaN]) assert.throws(() => new Verifier({ keys, challengeTtlMs: ttl }), (e: unknown) => e instanceof RangeError && /challengeTtlMs/.test((e as Error).message), String(ttl));
    assert.ok(new Verifier({ keys, challengeTtlMs: 2 ** 31 - 1 }));
    assert.throws(() => new Verifier({ keys, now: 5 as never }), (e: unknown) => e instanceof TypeError && /now/.test((e as Error).message));
    assert.throws(() => new Verifier({ keys, batchConcurrency: 0 }), (e: unknown) => e instanceof RangeError && /batchConcurrency must be 1\.\.10000, got 0/.test((e as Error).message));
    assert.throws(() => new Verifier({ keys, batchConcurrency: 1.5 }), (e: unknown) => e instanceof TypeError && /batchConcurrency must be an integer/.test((e as Error).message));
    assert.ok(new Verifier({ keys, batchConcurrency: 10_000 }));
    assert.throws(() => new Verifier({ keys, batchConcurrency: 10_001 }), RangeError);
    assert.throws(() => new Verifier({ keys, nonces: {} as never }), /nonces must be a NonceStore/);
    assert.throws(() => new Verifier({ keys, revocations: {} as never }), /revocations must be a RevocationStore/);
  });

  it('challenges expire after the TTL: at expiresAt the answer is NONCE_EXPIRED', async () => {
    let t = 1_000;
    const v = new Verifier({ keys, challengeTtlMs: 500, now: () => t });
    const c = v.challenge();
    assert.equal(c.expiresAt, 1_500);
    t = 1_499;
    assert.ok(await v.verify({ nonce: c.nonce, response: dev.attest(c.nonce, 0) }));
    const d = v.challenge();
    t = d.expiresAt;
    await assert.rejects(v.verify({ nonce: d.nonce, response: dev.attest(d.nonce, 0) }), reason('NONCE_EXPIRED'));
  });

  it('verify refuses malformed input with TypeError, and an unknown key with NO_KEY naming device and slot', async () => {
    const v = new Verifier({ keys });
    await assert.rejects(v.verify(null as never), TypeError);
    await assert.rejects(v.verify({ nonce: 'x', response: {} } as never), /nonce must be a Uint8Array/);
    await assert.rejects(v.verify({ nonce: new Uint8Array(49), response: null } as never), /response must be an object/);
    const c = v.challenge();
    const other = createDevice(softChip({ mac: Uint8Array.of(1, 2, 3, 4, 5, 6), keys: { 0: { key: TEST_KEY } } }));
    await assert.rejects(v.verify({ nonce: c.nonce, response: other.attest(c.nonce, 0) }), (e: unknown) => reason('NO_KEY')(e) && /device 010203040506 slot 0/.test((e as Error).message));
  });

  it('verifyBatch: one result per item in order; malformed items are MALFORMED naming their index; empty is empty', async () => {
    const v = new Verifier({ keys, batchConcurrency: 2 });
    assert.deepEqual(await v.verifyBatch([]), []);
    await assert.rejects(v.verifyBatch('x' as never), TypeError);
    const items = [0, 1, 2, 3, 4].map(() => { const c = v.challenge(); return { nonce: c.nonce, response: dev.attest(c.nonce, 0) }; });
    const out = await v.verifyBatch([items[0]!, null as never, items[1]!, { ...items[2]!, nonce: new Uint8Array(49) }, items[3]!, items[4]!]);
    assert.deepEqual(out.map((r) => r.ok), [true, false, true, false, true, true]);
    const bad = out[1] as { ok: false; error: VerificationError };
    assert.equal(bad.error.reason, 'MALFORMED');
    assert.match(bad.error.message, /^item 1 is malformed: /);
    assert.equal((out[3] as { ok: false; error: VerificationError }).error.reason, 'NONCE');
    assert.equal((out[0] as { ok: true; value: { deviceId: string } }).value.deviceId, toHex(id));
  });

  it('verifyBatch: a lookup that throws something else fails its item with ERROR, not the batch', async () => {
    const v = new Verifier({ keys: { lookup: () => { throw new Error('database gone'); } } });
    const c = v.challenge();
    const [r] = await v.verifyBatch([{ nonce: c.nonce, response: dev.attest(c.nonce, 0) }]);
    assert.equal(r!.ok, false);
    const err = (r as { ok: false; error: VerificationError }).error;
    assert.equal(err.reason, 'ERROR');
    assert.match(err.message, /^item 0 could not be verified: database gone$/);
  });

  it('verifyToken uses the token block by default and passes every option through', async () => {
    const v = new Verifier({ keys: keyMap([[`${toHex(id)}/1`, TEST_KEY]]) });
    const now = 2_000_000;
    const t = token('hub/devices/dev-9', now + 30, 'k');
    assert.ok(await v.verifyToken(id, t, { now, resource: 'hub/devices/dev-9', resourceDevice: 'dev-9', keyName: 'k', maxLifetimeSeconds: 30 }));
    await assert.rejects(v.verifyToken(id, t, { now, slot: 0 }), reason('NO_KEY'));
    await assert.rejects(v.verifyToken(id, t, { now, resource: 'hub/devices/dev-8' }), reason('RESOURCE'));
    await assert.rejects(v.verifyToken(id, t, { now, resourceDevice: 'dev-8' }), reason('RESOURCE'));
    await assert.rejects(v.verifyToken(id, t, { now, keyName: '' }), reason('KEY_NAME'));
    await assert.rejects(v.verifyToken(id, t, { now, maxLifetimeSeconds: 29 }), reason('LIFETIME'));
    await assert.rejects(v.verifyToken(id, t, { now: now + 30 }), reason('EXPIRED'));
  });

  it('keyMap: any spelling of the id; an entry without a slot is a RangeError', async () => {
    const m = keyMap([['7C:DF:A1:00:00:5A/3', TEST_KEY]]);
    assert.equal(await m.lookup(toHex(id), 3), TEST_KEY);
    assert.equal(await m.lookup(toHex(id), 0), undefined);
    assert.throws(() => keyMap([['7cdfa100005a', TEST_KEY]]), /"deviceId\/slot", got "7cdfa100005a"/);
  });
});

describe('verifier refusals: exact messages and argument names', () => {
  const keys = keyMap([[`${toHex(id)}/0`, TEST_KEY]]);
  const now = 1_000_000;

  it('verifyAttestation and verifyToken name their arguments and say what was required', () => {
    assert.throws(() => deviceIdToBytes('zz'), /^RangeError: deviceId must be 12 hex digits/);
    assert.throws(() => verifyAttestation(signed({}), { key: TEST_KEY, deviceId: 'zz' }), /^RangeError: deviceId must be 12 hex digits/);
    assert.throws(() => verifyToken(token('h/devices/d', now + 5), { key: new Uint8Array(31), now }), /^RangeError: key/);
    assert.throws(() => verifyToken(token('h/devices/d', now + 5), { key: TEST_KEY, now, maxLifetimeSeconds: 0 }), /maxLifetimeSeconds/);
    assert.throws(() => verifyToken(token('h/devices/d', now + 86_401), { key: TEST_KEY, now }), /valid until 1970-01-13T13:46:41\.000Z, more than 86400 s/);
    const d = signed({ writeProtected: false, secureBoot: false, flashEncryption: false });
    assert.throws(() => verifyAttestation(d, { key: TEST_KEY, policy: { requireWriteProtected: true } }), /^VerificationError: key block BLOCK_KEY0 of device 7cdfa100005a is not write-protected$/);
    assert.throws(() => verifyAttestation(d, { key: TEST_KEY, policy: { requireSecureBoot: true } }), /^VerificationError: device 7cdfa100005a does not have secure boot enabled$/);
    assert.throws(() => verifyAttestation(d, { key: TEST_KEY, policy: { requireFlashEncryption: true } }), /^VerificationError: device 7cdfa100005a does not have flash encryption enabled$/);
  });

  it('Verifier options: the exact bounds and messages', () => {
    assert.ok(new Verifier({ keys, batchConcurrency: 1 }));
    assert.throws(() => new Verifier({} as never), /keys must have a lookup/);
    assert.throws(() => new Verifier({ keys, challengeTtlMs: '5' as never }), /challengeTtlMs must be a positive number of ms/);
    assert.throws(() => new Verifier({ keys, nonces: null as never }), /nonces must be a NonceStore/);
    assert.throws(() => new Verifier({ keys, revocations: null as never }), /revocations must be a RevocationStore/);
    const v0 = new Verifier({ keys });
    assert.throws(() => new Verifier({ keys, nonces: v0.nonces, maxOutstanding: 5 }), /maxOutstanding applies to the default memory store only/);
  });

  it('Verifier.verify: the message of each refusal', async () => {
    const v = new Verifier({ keys });
    await assert.rejects(v.verify('x' as never), /attestation must be an object with nonce and response/);
    await assert.rejects(v.verify(null as never), /attestation must be an object with nonce and response/);
    await assert.rejects(v.verify({ nonce: new Uint8Array(49), response: 'x' } as never), /response must be an object/);
    await assert.rejects(v.verify({ nonce: new Uint8Array(49), response: dev.attest(new Uint8Array(49), 0) }), /^VerificationError: this challenge was not issued by this verifier/);
    const c = v.challenge(toHex(id));
    const r = dev.attest(c.nonce, 0);
    await assert.rejects(v.verify({ nonce: c.nonce, response: { ...r, deviceId: new Uint8Array(5) } }), /response\.deviceId/);
    await assert.rejects(v.verify({ nonce: c.nonce, response: { ...r, deviceId: Uint8Array.of(1, 2, 3, 4, 5, 6) } }), /^VerificationError: challenge was issued to device 7cdfa100005a, answered by 010203040506$/);
    assert.ok(await v.verify({ nonce: c.nonce, response: r }));
    await assert.rejects(v.verify({ nonce: c.nonce, response: r }), /^VerificationError: this challenge was already answered \(replay\)$/);
    let t = 0;
    const w = new Verifier({ keys, now: () => t, challengeTtlMs: 10 });
    const e = w.challenge();
    t = 10;
    await assert.rejects(w.verify({ nonce: e.nonce, response: dev.attest(e.nonce, 0) }), /^VerificationError: this challenge expired before the answer came$/);
    await assert.rejects(v.verifyToken('zz', 'x'), /^RangeError: deviceId must be/);
    await assert.rejects(v.verifyBatch({} as never), /^TypeError: items must be an array$/);
    assert.throws(() => keyMap([['/0', TEST_KEY]]), /keyMap deviceId/);
    await v.close();
  });

  it('verifyBatch runs at most batchConcurrency lookups at once', async () => {
    let inFlight = 0;
    let most = 0;
    const slow = { lookup: async () => { inFlight++; most = Math.max(most, inFlight); await new Promise((r) => setTimeout(r, 5)); inFlight--; return TEST_KEY; } };
    const v = new Verifier({ keys: slow, batchConcurrency: 2 });
    const items = [0, 1, 2, 3, 4, 5].map(() => { const c = v.challenge(); return { nonce: c.nonce, response: dev.attest(c.nonce, 0) }; });
    const out = await v.verifyBatch(items);
    assert.ok(out.every((x) => x.ok));
    assert.equal(most, 2);
  });
});

describe('revocations: what the refusal says', () => {
  it('a revoked block, and a revoked key generation, with reason and time', async () => {
    const revocations = new MemoryRevocationStore();
    const v = new Verifier({ keys: keyMap([[`${toHex(id)}/0`, TEST_KEY]]), revocations });
    await revocations.add({ deviceId: id, block: 0, reason: 'stolen' });
    const c = v.challenge();
    await assert.rejects(v.verify({ nonce: c.nonce, response: dev.attest(c.nonce, 0) }),
      (e: unknown) => reason('REVOKED')(e) && /^device 7cdfa100005a BLOCK_KEY0 is revoked \(stolen\) since \d{4}-\d\d-\d\dT/.test((e as Error).message));
    await revocations.remove(id, 0);
    const gen = keyGeneration(TEST_KEY);
    await revocations.add({ deviceId: id, block: 0, generation: gen });
    const d = v.challenge();
    await assert.rejects(v.verify({ nonce: d.nonce, response: dev.attest(d.nonce, 0) }),
      (e: unknown) => reason('REVOKED')(e) && new RegExp(`^device 7cdfa100005a key generation ${gen} in BLOCK_KEY0 is revoked since `).test((e as Error).message));
  });
});

describe('Verifier: a nonce store that also holds the revocations (check and spend in one call)', () => {
  const keys = keyMap([[`${toHex(id)}/0`, TEST_KEY]]);

  /** A revocation-aware nonce store recording its calls; `answer` is what spendUnlessRevoked returns. */
  function bothStore(revocations: MemoryRevocationStore, now: () => number) {
    const inner = new MemoryNonceStore({ now });
    const calls: unknown[][] = [];
    const store = {
      name: 'both://test', epoch: inner.epoch, answer: 'ok' as SpendResult | Revocation, calls,
      stats: () => inner.stats(),
      close: async () => { calls.push(['close']); },
      spend: async (...args: unknown[]) => { calls.push(['spend', ...args]); return 'ok' as SpendResult; },
      holds: (r: unknown) => r === revocations,
      spendUnlessRevoked: async (...args: unknown[]) => { calls.push(['spendUnlessRevoked', ...args]); return store.answer; },
    };
    return store;
  }

  it('passes the challenge id, its epoch, the time it has left, device, block and key; replay, stale and a revocation refuse', async () => {
    let t = 10_000;
    const revocations = new MemoryRevocationStore();
    const store = bothStore(revocations, () => t);
    const v = new Verifier({ keys, nonces: store, revocations, now: () => t, challengeTtlMs: 1_000 });
    const answer = () => { const c = v.challenge(); return { nonce: c.nonce, response: dev.attest(c.nonce, 0) }; };
    const a = answer();
    t += 400;
    assert.equal((await v.verify(a)).deviceId, toHex(id));
    assert.equal(store.calls.length, 1);
    const [what, cid, epoch, ttl, device, block, key] = store.calls[0]!;
    assert.deepEqual([what, typeof cid, epoch, ttl, device, block, key], ['spendUnlessRevoked', 'string', store.epoch, 600, toHex(id), 'BLOCK_KEY0', TEST_KEY]);

    store.answer = 'replay';
    await assert.rejects(v.verify(answer()), /^VerificationError: this challenge was already answered \(replay\)$/);
    store.answer = 'stale';
    await assert.rejects(v.verify(answer()), (e: unknown) => reason('NONCE_STALE')(e) &&
      (e as Error).message === 'this challenge predates the history of the nonce store both://test (restarted without its records); ask for a new challenge');
    store.answer = { deviceId: toHex(id), block: 'BLOCK_KEY0', reason: 'lost', revokedAt: '2026-12-01T00:00:00.000Z' };
    await assert.rejects(v.verify(answer()), (e: unknown) => reason('REVOKED')(e) && (e as Error).message === 'device 7cdfa100005a BLOCK_KEY0 is revoked (lost) since 2026-12-01T00:00:00.000Z');
    store.answer = { deviceId: toHex(id), block: 'BLOCK_KEY0', revokedAt: '2026-12-01T00:00:00.000Z' };
    await assert.rejects(v.verify(answer()), (e: unknown) => reason('REVOKED')(e) && (e as Error).message === 'device 7cdfa100005a BLOCK_KEY0 is revoked since 2026-12-01T00:00:00.000Z');

    // A forged answer is refused before the store is asked: it cannot use up the challenge.
    store.calls.length = 0;
    const f = answer();
    await assert.rejects(v.verify({ ...f, response: { ...f.response, mac: new Uint8Array(32) } }), reason('MAC'));
    assert.deepEqual(store.calls, []);
  });

  it('a store that does not hold these revocations is only asked to spend', async () => {
    const revocations = new MemoryRevocationStore();
    const store = bothStore(new MemoryRevocationStore(), Date.now);
    const v = new Verifier({ keys, nonces: store, revocations });
    const c = v.challenge();
    assert.ok(await v.verify({ nonce: c.nonce, response: dev.attest(c.nonce, 0) }));
    assert.deepEqual(store.calls.map((x) => x[0]), ['spend']);
    assert.equal(v.pending, 0, 'pending counts the memory store only');
  });

  it('close() closes the nonce store and the revocation store', async () => {
    const revocations = new MemoryRevocationStore();
    let closed = 0;
    revocations.close = async () => { closed++; };
    const store = bothStore(revocations, Date.now);
    const v = new Verifier({ keys, nonces: store, revocations });
    await v.close();
    assert.deepEqual([store.calls, closed], [[['close']], 1]);
  });
});

describe('verifyMany: what a malformed item or argument says', () => {
  it('an item that is not an object with a response object: MALFORMED with the exact message; not an array: TypeError', () => {
    const good = { ...signed({}), key: TEST_KEY };
    const items = [null, 5, 'x', { ...good, response: null }, { ...good, response: 'r' }, { nonce: good.nonce, key: TEST_KEY }, good];
    const out = verifyMany(items as never);
    assert.equal(out.length, items.length);
    for (let i = 0; i < 6; i++) {
      const e = out[i] as VerificationError;
      assert.ok(e instanceof VerificationError, `item ${i}`);
      assert.deepEqual([e.reason, e.message], ['MALFORMED', `item ${i} is malformed: an item must be an object with nonce, response and key`]);
    }
    assert.equal((out[6] as { deviceId: string }).deviceId, toHex(id));
    assert.throws(() => verifyMany('nope' as never), { name: 'TypeError', message: 'items must be an array' });
  });

  it('the firmware id returned is a copy: a later change to the answer does not change it', () => {
    const a = signed({});
    const fw = toHex(a.response.firmwareId);
    const v = verifyAttestation(a, { key: TEST_KEY });
    a.response.firmwareId[0] ^= 1;
    assert.equal(v.firmwareId, fw);
    assert.equal(toHex(v.firmwareIdBytes), fw);
  });
});
