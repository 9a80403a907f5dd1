// verifyMany (many answers, one result each), the VerifiedAttestation result (ids as bytes, hex on
// demand), and the HMAC the verifier computes (host/hmac.ts) against node:crypto's createHmac.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createDevice } from '../device/src/device.js';
import { VerificationError } from '../host/errors.js';
import { Hmac32 } from '../host/hmac.js';
import { VerifiedAttestation, verifyAttestation, verifyMany } from '../host/verify.js';
import { buildTranscript, toHex, writeTranscript } from '../protocol/index.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';

const idA = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xaa);
const idB = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xbb);
const keyB = new Uint8Array(32).fill(0x42);
const devA = createDevice(softChip({ mac: idA, keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY }, 2: { key: TEST_KEY, readProtected: false } } }));
const devB = createDevice(softChip({ mac: idB, keys: { 0: { key: keyB }, 1: { key: keyB } } }));

function attestWith(dev = devA, slot = 0) {
  const nonce = new Uint8Array(randomBytes(32));
  return { nonce, response: dev.attest(nonce, slot) };
}

const reasonOf = (r: VerifiedAttestation | VerificationError) => (r instanceof VerificationError ? r.reason : 'ok');

describe('verifyMany', () => {
  it('gives each item its own result: a bad item is refused, the others verify', () => {
    const a1 = attestWith(devA);
    const b = attestWith(devB);
    const a2 = attestWith(devA);
    const forged = { ...attestWith(devA), key: keyB };
    const items = [
      { ...a1, key: TEST_KEY },
      forged,
      { ...b, key: keyB, deviceId: toHex(idB) },
      { ...a2, key: TEST_KEY, deviceId: idB },
      { ...attestWith(devA, 2), key: TEST_KEY },
      { ...a2, key: TEST_KEY, slot: 0 },
    ];
    const r = verifyMany(items);
    assert.deepEqual(r.map(reasonOf), ['ok', 'MAC', 'ok', 'DEVICE', 'READ_PROTECT', 'ok']);
    assert.equal((r[0] as VerifiedAttestation).deviceId, toHex(idA));
    assert.equal((r[2] as VerifiedAttestation).deviceId, toHex(idB));
    for (const [i, x] of r.entries()) {
      if (x instanceof VerifiedAttestation) assert.deepEqual(x, verifyAttestation(items[i]!, items[i]!), `item ${i} as verifyAttestation`);
      else assert.throws(() => verifyAttestation(items[i]!, items[i]!), (e: unknown) => e instanceof VerificationError && e.reason === x.reason);
    }
  });

  it('a malformed item fails alone with reason MALFORMED, naming its index', () => {
    const good = { ...attestWith(), key: TEST_KEY };
    const r = verifyMany([
      good, null as never, { ...good, key: new Uint8Array(31) }, { ...good, nonce: new Uint8Array(8) },
      { ...good, response: { ...good.response, firmwareVersion: 7 as never } }, good,
    ]);
    assert.deepEqual(r.map(reasonOf), ['ok', 'MALFORMED', 'MALFORMED', 'MALFORMED', 'MALFORMED', 'ok']);
    assert.match((r[2] as VerificationError).message, /^item 2 is malformed: key must be 32 bytes/);
    assert.throws(() => verifyMany('nope' as never), TypeError);
  });

  it('applies one policy to every item', () => {
    const open = { ...attestWith(devA, 2), key: TEST_KEY };
    assert.deepEqual(verifyMany([open]).map(reasonOf), ['READ_PROTECT']);
    assert.deepEqual(verifyMany([open], { policy: { requireReadProtected: false } }).map(reasonOf), ['ok']);
    assert.deepEqual(verifyMany([open], { policy: { requireReadProtected: false, requireSecureBoot: true } }).map(reasonOf), ['SECURE_BOOT']);
  });
});

describe('VerifiedAttestation', () => {
  it('keeps the ids as bytes, copied from the answer, and spells them in hex when asked', () => {
    const fresh = attestWith();
    const a = { nonce: fresh.nonce, response: { ...fresh.response, deviceId: fresh.response.deviceId.slice() } };
    const v = verifyAttestation(a, { key: TEST_KEY });
    assert.ok(v instanceof VerifiedAttestation);
    assert.deepEqual(v.deviceIdBytes, idA);
    assert.equal(v.deviceId, '7cdfa10000aa');
    assert.equal(v.firmwareId, toHex(a.response.firmwareId));
    a.response.deviceId[0] ^= 1;
    assert.equal(v.deviceId, '7cdfa10000aa', 'a later change to the answer does not change what was verified');
  });

  it('JSON gives the hex spellings and every field', () => {
    const a = attestWith();
    const j = JSON.parse(JSON.stringify(verifyAttestation(a, { key: TEST_KEY }))) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j).sort(), ['chip', 'deviceId', 'firmwareId', 'firmwareVersion', 'flashEncryption', 'readProtected', 'revision', 'secureBoot', 'slot', 'writeProtected']);
    assert.equal(j.deviceId, '7cdfa10000aa');
    assert.equal(j.firmwareId, toHex(a.response.firmwareId));
  });
});

describe('verification input checks', () => {
  it('a firmware version that is not a string is a TypeError, not an empty version', () => {
    const a = attestWith();
    const fields = { ...a.response, firmwareVersion: 42 as unknown as string };
    assert.throws(() => writeTranscript(fields, a.nonce, new Uint8Array(256)), /firmwareVersion must be a string/);
    assert.throws(() => verifyAttestation({ nonce: a.nonce, response: fields }, { key: TEST_KEY }), TypeError);
  });

  it('a policy field given as undefined keeps its default instead of switching the check off', () => {
    const open = attestWith(devA, 2);
    assert.throws(() => verifyAttestation(open, { key: TEST_KEY, policy: { requireReadProtected: undefined as unknown as boolean } }),
      (e: unknown) => e instanceof VerificationError && e.reason === 'READ_PROTECT');
  });
});

describe('Hmac32', () => {
  it('equals createHmac for every message length up to its buffer, and leaves no key bytes behind', () => {
    const h = new Hmac32(200);
    const key = new Uint8Array(randomBytes(32));
    for (let n = 0; n <= 200; n++) {
      const m = new Uint8Array(randomBytes(n));
      h.message.set(m);
      assert.equal(toHex(h.mac(key, n)), createHmac('sha256', key).update(m).digest('hex'), `length ${n}`);
    }
    const state = h as unknown as { inner: Uint8Array; outer: Uint8Array };
    assert.ok(state.inner.subarray(0, 32).every((b) => b === 0) && state.outer.subarray(0, 32).every((b) => b === 0));
  });

  it('the MAC of a transcript is the one the device computed', () => {
    const a = attestWith();
    const t = buildTranscript(a.response, a.nonce);
    const h = new Hmac32(t.length);
    h.message.set(t);
    assert.deepEqual(new Uint8Array(h.mac(TEST_KEY, t.length)), a.response.mac);
  });
});
