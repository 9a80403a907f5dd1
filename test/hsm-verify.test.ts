// HSM-side verification: device keys loaded from the escrow into a SoftHSM2 token as non-extractable
// HMAC keys; attestations and SAS tokens verified inside the token give the same answers as
// host/verify.ts with the key in memory, and the token refuses to hand the key out.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevice } from '../device/src/device.js';
import { VerificationError } from '../host/errors.js';
import { HsmKeyring } from '../host/escrow/hsm.js';
import { TokenSession } from '../host/escrow/pkcs11.js';
import { newRecord } from '../host/escrow/store.js';
import { FileVault } from '../host/escrow/vault.js';
import { verifyAttestation, verifyToken } from '../host/verify.js';
import { toHex } from '../protocol/index.js';
import { softChip } from './support/soft-chip.js';
import { haveSoftHsm, newToken } from './support/softhsm.js';

const reason = (r: string) => (e: unknown) => e instanceof VerificationError && e.reason === r;

describe('HSM-side verification (device keys in a PKCS#11 token)', function () {
  this.timeout(30_000);
  before(function () { if (!haveSoftHsm()) this.skip(); });

  it('loads burned keys from the escrow; attestations and tokens verify in the token exactly as with the key in memory', async () => {
    const idA = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 1, 0xaa);
    const idB = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 1, 0xbb);
    const keyA = new Uint8Array(randomBytes(32));
    const keyB = new Uint8Array(randomBytes(32));
    const devA = createDevice(softChip({ mac: idA, keys: { 0: { key: keyA }, 1: { key: keyA } } }));
    const devB = createDevice(softChip({ mac: idB, keys: { 2: { key: keyB, readProtected: false } } }));
    const vault = new FileVault(join(mkdtempSync(join(tmpdir(), 'efa-hsmv-')), 'escrow.vault'), { passphrase: 'hsm verify test', kdf: { log2N: 14, r: 8, p: 1 } });
    await vault.put(newRecord({ deviceId: toHex(idA), chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: keyA, state: 'verified' }));
    await vault.put(newRecord({ deviceId: toHex(idB), chip: 'esp32s3', block: 'BLOCK_KEY2', purpose: 'HMAC_UP', key: keyB, state: 'burned' }));
    await vault.put(newRecord({ deviceId: '7cdfa10001cc', chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: new Uint8Array(32).fill(1) }));
    const t = newToken();
    const uri = `pkcs11:token=${t.label}?pin-source=file:${t.pinFile}`;
    const ring = HsmKeyring.open(uri);
    try {
      assert.equal(await ring.load(vault), 2, 'burned and verified records only');
      assert.equal(await ring.load(vault), 0, 'loading again adds nothing');
      assert.equal(ring.has('7cdfa10001cc', 'BLOCK_KEY0'), false, 'a key only escrowed is not loaded');

      const nonce = new Uint8Array(randomBytes(32));
      const att = { nonce, response: devA.attest(nonce, 0) };
      assert.deepEqual(ring.verifyAttestation(att, { deviceId: toHex(idA), slot: 0 }), verifyAttestation(att, { key: keyA, deviceId: toHex(idA), slot: 0 }));
      // Every refusal the same as in memory.
      const other = { nonce: new Uint8Array(randomBytes(32)), response: att.response };
      assert.throws(() => ring.verifyAttestation(other), reason('MAC'));
      assert.throws(() => ring.verifyAttestation({ nonce, response: { ...att.response, secureBoot: true } }), reason('MAC'));
      assert.throws(() => ring.verifyAttestation(att, { deviceId: toHex(idB) }), reason('DEVICE'));
      assert.throws(() => ring.verifyAttestation(att, { policy: { requireSecureBoot: true } }), reason('SECURE_BOOT'));
      const nb = new Uint8Array(randomBytes(16));
      const attB = { nonce: nb, response: devB.attest(nb, 2) };
      assert.throws(() => ring.verifyAttestation(attB), reason('READ_PROTECT'));
      assert.equal(ring.verifyAttestation(attB, { policy: { requireReadProtected: false } }).slot, 2);

      const expiry = Math.floor(Date.now() / 1000) + 3600;
      const tok = devA.token('hub/devices/a', expiry);
      assert.deepEqual(ring.verifyToken(tok, { deviceId: toHex(idA), block: 'BLOCK_KEY0', resource: 'hub/devices/a' }), verifyToken(tok, { key: keyA, resource: 'hub/devices/a' }));
      assert.throws(() => ring.verifyToken(tok, { deviceId: toHex(idB), block: 'BLOCK_KEY2' }), reason('SIGNATURE'));
      assert.throws(() => ring.verifyToken(tok, { deviceId: toHex(idA), block: 'BLOCK_KEY0', now: expiry }), reason('EXPIRED'));
      assert.throws(() => ring.verifyToken(tok, { deviceId: toHex(idA), block: 'BLOCK_KEY3' }), reason('KEY'));
      // The same claims as verifyToken: a token valid for years, or naming another key, is refused here too.
      const long = devA.token('hub/devices/a', Math.floor(Date.now() / 1000) + 10 * 365 * 86400);
      assert.throws(() => verifyToken(long, { key: keyA }), reason('LIFETIME'));
      assert.throws(() => ring.verifyToken(long, { deviceId: toHex(idA), block: 'BLOCK_KEY0' }), reason('LIFETIME'));
      assert.equal(ring.verifyToken(long, { deviceId: toHex(idA), block: 'BLOCK_KEY0', maxLifetimeSeconds: 11 * 365 * 86400 }).resource, 'hub/devices/a');
      assert.throws(() => ring.verifyToken(tok, { deviceId: toHex(idA), block: 'BLOCK_KEY0', keyName: 'registry' }), reason('KEY_NAME'));
    } finally {
      ring.close();
    }
    // The key cannot be read back out of the token: sensitive, not extractable.
    const s = TokenSession.open(uri, { object: false });
    try {
      const h = s.find(`efa-hmac:${toHex(idA)}:BLOCK_KEY0`, s.p.CKK_GENERIC_SECRET);
      assert.ok(h !== undefined);
      assert.throws(() => s.lib.C_GetAttributeValue(s.session, h, [{ type: s.p.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
      const attrs = s.lib.C_GetAttributeValue(s.session, h, [{ type: s.p.CKA_EXTRACTABLE }, { type: s.p.CKA_SENSITIVE }]);
      assert.deepEqual(attrs.map((a) => (a.value as Buffer)[0]), [0, 1]);
    } finally {
      s.close();
    }
  });
});
