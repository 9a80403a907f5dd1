import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createDevice } from '../device/src/device.js';
import { keyMap, Verifier } from '../host/backend.js';
import { VerificationError } from '../host/errors.js';
import { attestationFromJson, attestationToJson } from '../host/serialize.js';
import { verifyAttestation, verifyToken } from '../host/verify.js';
import { buildTranscript, toHex } from '../protocol/index.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';

const reason = (r: string) => (e: unknown) => e instanceof VerificationError && e.reason === r;
const idA = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xaa);
const idB = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xbb);
const keyB = new Uint8Array(32).fill(0x42);
const devA = createDevice(softChip({ mac: idA, keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY }, 2: { key: TEST_KEY, readProtected: false } } }));
const devB = createDevice(softChip({ mac: idB, keys: { 0: { key: keyB }, 1: { key: keyB } } }));

function attestWith(dev = devA, nonce: Uint8Array = new Uint8Array(randomBytes(32)), slot = 0) {
  return { nonce, response: dev.attest(nonce, slot) };
}

describe('verifyAttestation', () => {
  it('accepts a good answer and reports what it proves', () => {
    const v = verifyAttestation(attestWith(), { key: TEST_KEY, deviceId: toHex(idA), slot: 0 });
    assert.equal(v.deviceId, toHex(idA));
    assert.equal(v.chip, 'esp32s3');
    assert.equal(v.readProtected, true);
  });

  it('rejects a wrong key, a wrong nonce, a wrong device, a wrong slot', () => {
    const a = attestWith();
    assert.throws(() => verifyAttestation(a, { key: keyB }), reason('MAC'));
    assert.throws(() => verifyAttestation({ ...a, nonce: new Uint8Array(32) }, { key: TEST_KEY }), reason('MAC'));
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY, deviceId: idB }), reason('DEVICE'));
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY, slot: 1 }), reason('SLOT'));
  });

  it('an attestation from device A does not verify as device B, with either key', () => {
    const a = attestWith(devA);
    assert.throws(() => verifyAttestation(a, { key: keyB, deviceId: idB }), reason('MAC'));
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY, deviceId: idB }), reason('DEVICE'));
  });

  it('rejects every tampered field of the reported state', () => {
    const a = attestWith();
    const tampered: [string, unknown][] = [
      ['chip', 5], ['revision', 3], ['deviceId', idB], ['slot', 1], ['purpose', 5], ['readProtected', false], ['writeProtected', true],
      ['hmac', false], ['secureBoot', true], ['flashEncryption', true], ['firmwareId', new Uint8Array(32)],
      ['firmwareVersion', '9.9.9'], ['deviceNonce', new Uint8Array(16).fill(1)],
    ];
    for (const [field, value] of tampered) {
      assert.throws(() => verifyAttestation({ nonce: a.nonce, response: { ...a.response, [field]: value } }, { key: TEST_KEY }), reason('MAC'), field);
    }
    const mac = a.response.mac.slice();
    mac[31] ^= 1;
    assert.throws(() => verifyAttestation({ nonce: a.nonce, response: { ...a.response, mac } }, { key: TEST_KEY }), reason('MAC'));
  });

  it('policy: refuses a readable key unless allowed; secure boot and firmware when required', () => {
    const a = attestWith(devA, undefined, 2);
    assert.throws(() => verifyAttestation(a, { key: TEST_KEY }), reason('READ_PROTECT'));
    assert.equal(verifyAttestation(a, { key: TEST_KEY, policy: { requireReadProtected: false } }).readProtected, false);
    const b = attestWith();
    assert.throws(() => verifyAttestation(b, { key: TEST_KEY, policy: { requireSecureBoot: true } }), reason('SECURE_BOOT'));
    assert.throws(() => verifyAttestation(b, { key: TEST_KEY, policy: { firmwareIds: ['00'.repeat(32)] } }), reason('FIRMWARE'));
    assert.ok(verifyAttestation(b, { key: TEST_KEY, policy: { firmwareIds: ['ab'.repeat(32)] } }));
  });

  it('policy: flash encryption and write protection, when required, are checked against what the device attests', () => {
    // devC: its key block is not write-protected, and it has no flash encryption.
    const devC = createDevice(softChip({ mac: idA, keys: { 0: { key: TEST_KEY, writeProtected: false } } }));
    const c = attestWith(devC);
    assert.ok(verifyAttestation(c, { key: TEST_KEY }), 'neither is required by default');
    assert.throws(() => verifyAttestation(c, { key: TEST_KEY, policy: { requireFlashEncryption: true } }), reason('FLASH_ENCRYPTION'));
    assert.throws(() => verifyAttestation(c, { key: TEST_KEY, policy: { requireWriteProtected: true } }), reason('WRITE_PROTECT'));
    const devD = createDevice(softChip({ mac: idA, flashEncryption: true, keys: { 0: { key: TEST_KEY, writeProtected: true } } }));
    const d = attestWith(devD);
    assert.ok(verifyAttestation(d, { key: TEST_KEY, policy: { requireFlashEncryption: true, requireWriteProtected: true } }));
  });

  it('refuses an answer whose MAC is valid but whose key block is not HMAC_UP', () => {
    // What a device with some other MAC-capable block would send: signed right, but the wrong purpose.
    const a = attestWith();
    const response = { ...a.response, purpose: 5 };
    const { mac: _mac, ...fields } = response;
    const mac = new Uint8Array(createHmac('sha256', TEST_KEY).update(buildTranscript(fields, a.nonce)).digest());
    assert.throws(() => verifyAttestation({ nonce: a.nonce, response: { ...response, mac } }, { key: TEST_KEY }), reason('PURPOSE'));
  });

  it('JSON form round-trips and rejects malformed files naming the field', () => {
    const a = attestWith();
    const back = attestationFromJson(JSON.parse(JSON.stringify(attestationToJson(a))));
    assert.ok(verifyAttestation(back, { key: TEST_KEY }));
    const j = attestationToJson(a);
    assert.throws(() => attestationFromJson({ ...j, nonce: 'zz' }), /nonce/);
    assert.throws(() => attestationFromJson({ ...j, response: { ...j.response, slot: 9 } }), /response\.slot/);
    assert.throws(() => attestationFromJson({ ...j, response: { ...j.response, mac: '00' } }), /response\.mac/);
    assert.throws(() => attestationFromJson(null), TypeError);
  });
});

describe('backend Verifier', () => {
  const keys = keyMap([[`${toHex(idA)}/0`, TEST_KEY], [`${toHex(idA)}/1`, TEST_KEY], [`${toHex(idB)}/0`, keyB], [`${toHex(idB)}/1`, keyB]]);

  it('verifies an answer to its own challenge once; a replay is rejected', async () => {
    const v = new Verifier({ keys });
    const { nonce } = v.challenge(toHex(idA));
    const a = attestWith(devA, nonce);
    assert.equal((await v.verify(a)).deviceId, toHex(idA));
    await assert.rejects(v.verify(a), reason('NONCE'));
  });

  it('rejects nonces it never issued, expired ones, and answers from another device', async () => {
    let now = 1000;
    const v = new Verifier({ keys, challengeTtlMs: 100, now: () => now });
    await assert.rejects(v.verify(attestWith()), reason('NONCE'));
    const c = v.challenge();
    now += 101;
    await assert.rejects(v.verify(attestWith(devA, c.nonce)), reason('NONCE_EXPIRED'));
    const forA = v.challenge(toHex(idA));
    await assert.rejects(v.verify(attestWith(devB, forA.nonce)), reason('DEVICE'));
  });

  it('looks keys up by device id and fails clearly for unknown devices', async () => {
    const v = new Verifier({ keys: keyMap([]) });
    await assert.rejects(v.verify(attestWith(devA, v.challenge().nonce)), reason('NO_KEY'));
  });

  it('verifies batches, one failure not stopping the rest', async () => {
    const v = new Verifier({ keys });
    const items = [attestWith(devA, v.challenge().nonce), attestWith(devB, v.challenge().nonce), attestWith(devA, new Uint8Array(32))];
    const r = await v.verifyBatch(items);
    assert.deepEqual(r.map((x) => x.ok), [true, true, false]);
  });

  it('keeps no state per challenge: a flood of challenges stores nothing', () => {
    const v = new Verifier({ keys, maxOutstanding: 10 });
    for (let i = 0; i < 25; i++) v.challenge();
    assert.equal(v.pending, 0);
  });

  it('verifies device tokens by device id', async () => {
    const v = new Verifier({ keys });
    const expiry = Math.floor(Date.now() / 1000) + 60;
    const tok = devB.token('hub/devices/b', expiry);
    assert.equal((await v.verifyToken(toHex(idB), tok, { resource: 'hub/devices/b' })).expiry, expiry);
    await assert.rejects(v.verifyToken(toHex(idA), tok), reason('SIGNATURE'));
  });
});

describe('verifyToken', () => {
  const expiry = 2_000_000_000;
  const tok = devA.token('hub/devices/a', expiry, { keyName: 'device' });
  it('accepts a good token and checks resource and expiry', () => {
    assert.equal(verifyToken(tok, { key: TEST_KEY, now: expiry - 1 }).keyName, 'device');
    assert.throws(() => verifyToken(tok, { key: TEST_KEY, now: expiry }), reason('EXPIRED'));
    assert.throws(() => verifyToken(tok, { key: TEST_KEY, resource: 'hub/devices/b', now: 0 }), reason('RESOURCE'));
  });
  it('rejects a wrong key, an edited expiry and garbage', () => {
    assert.throws(() => verifyToken(tok, { key: keyB, now: 0 }), reason('SIGNATURE'));
    assert.throws(() => verifyToken(tok.replace(`se=${expiry}`, `se=${expiry + 1}`), { key: TEST_KEY, now: 0 }), reason('SIGNATURE'));
    assert.throws(() => verifyToken('not a token', { key: TEST_KEY }), reason('FORMAT'));
  });
});

describe('device API refuses bad input with protocol statuses', () => {
  it('short nonces, bad slots, bad resources and expiries', () => {
    const st = (s: string) => (e: unknown) => (e as { status?: string }).status === s;
    assert.throws(() => devA.attest(new Uint8Array(15)), st('BAD_NONCE'));
    assert.throws(() => devA.attest(new Uint8Array(65)), st('BAD_NONCE'));
    assert.throws(() => devA.attest(new Uint8Array(16), 6), st('BAD_SLOT'));
    assert.throws(() => devA.token('', 1), st('BAD_RESOURCE'));
    assert.throws(() => devA.token('a\nb', 1), st('BAD_RESOURCE'));
    assert.throws(() => devA.token('r', 0), st('BAD_EXPIRY'));
    assert.throws(() => devA.attest(new Uint8Array(16), 3), st('KEY_PURPOSE'));
    assert.throws(() => devA.attest(new Uint8Array(16), 1), st('KEY_ROLE'), 'BLOCK_KEY1 is the token key');
    assert.throws(() => devA.token('r', 1, { slot: 0 }), st('KEY_ROLE'), 'BLOCK_KEY0 is an attestation key');
    const noHmac = createDevice(softChip({ model: 'esp32c2' }));
    assert.throws(() => noHmac.attest(new Uint8Array(16)), (e: unknown) => st('NO_HMAC')(e) && /no HMAC peripheral on esp32c2/.test((e as Error).message));
  });
});
