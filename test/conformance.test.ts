// One conformance suite, every target (STYLE.md §7): in-memory (the device service in-process),
// the emulator over a pseudo-terminal (real XS engine + native C), and a real board when
// EFUSE_ATTEST_PORT (and EFUSE_ATTEST_KEY, a key file) are set.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DeviceError, VerificationError } from '../host/errors.js';
import { verifyAttestation, verifyToken } from '../host/verify.js';
import { createRequire } from 'node:module';
import { chipName, decodeResponse, encodeFrame, equalBytes, fromHex, PURPOSE_HMAC_UP, toBase64 } from '../protocol/index.js';
import { vectors } from './support/vectors.js';
import { memoryTarget, type Target } from './support/targets.js';
import { extraTargets } from './support/more-targets.js';

const sdk = createRequire(import.meta.url)('azure-iot-common') as {
  SharedAccessSignature: { create(resourceUri: string, keyName: string | undefined, key: string, expiry: number): { toString(): string } };
  encodeUriComponentStrict(s: string): string;
};

const targets: [string, () => Promise<Target>][] = [['memory', memoryTarget], ...extraTargets()];

for (const [name, make] of targets) {
  describe(`conformance: ${name}`, function () {
    this.timeout(60_000);
    let t: Target;
    before(async () => { t = await make(); });
    after(async () => { await t?.close(); });

    it('answers PING', async () => {
      const r = await t.client.ping(Uint8Array.of(1, 2, 3));
      assert.ok(r.roundTripMs >= 0);
    });

    it('INFO reports the device id and an HMAC_UP, read-protected key in slot 0', async () => {
      const info = await t.client.info();
      assert.ok(equalBytes(info.deviceId, t.deviceId));
      assert.equal(info.keys[0].purpose, PURPOSE_HMAC_UP);
      assert.equal(info.keys[0].readProtected, true);
      assert.equal(info.hmac, true);
      assert.match(chipName(info.chip), /^esp32/);
    });

    it('ATTEST verifies with the escrowed key', async () => {
      const att = await t.client.attest({ slot: 0 });
      const v = verifyAttestation(att, { key: t.key, deviceId: t.deviceId, slot: 0 });
      assert.equal(v.readProtected, true);
    });

    it('ATTEST does not verify with a wrong key, nonce or device', async () => {
      const att = await t.client.attest();
      assert.throws(() => verifyAttestation(att, { key: new Uint8Array(randomBytes(32)) }), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');
      assert.throws(() => verifyAttestation({ ...att, nonce: new Uint8Array(randomBytes(32)) }, { key: t.key }), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');
      assert.throws(() => verifyAttestation(att, { key: t.key, deviceId: '000000000001' }), (e: unknown) => e instanceof VerificationError && e.reason === 'DEVICE');
    });

    it('two attestations to the same nonce carry different device nonces', async () => {
      const nonce = new Uint8Array(16).fill(9);
      const a = await t.client.attest({ nonce });
      const b = await t.client.attest({ nonce });
      assert.ok(!equalBytes(a.response.deviceNonce, b.response.deviceNonce));
      assert.ok(!equalBytes(a.response.mac, b.response.mac));
    });

    it('a key block with purpose HMAC_DOWN_ALL gives ESP_FAIL as KEY_PURPOSE', async () => {
      await assert.rejects(t.client.attest({ slot: 2 }), (e: unknown) => e instanceof DeviceError && e.statusName === 'KEY_PURPOSE' && e.espErr === -1 && /HMAC_UP/.test(e.detail));
    });

    if (name !== 'memory') {
      it('the KEY_PURPOSE ERROR detail is the text of the §8.1 ERROR vector', async () => {
        const v = vectors.frames.find((f) => f.name.startsWith('ERROR response'))!;
        const r = decodeResponse(fromHex(v.message));
        assert.equal(r.type, 'error');
        await assert.rejects(t.client.attest({ slot: 2 }), (e: unknown) => e instanceof DeviceError && r.type === 'error' && e.detail === r.detail);
      });
    }

    it('TOKEN for an id with ( ) ! * \' and a space is byte for byte the Azure IoT SDK\'s token', async () => {
      const resource = "myhub.azure-devices.net/devices/Dev 1(x)!*'";
      const expiry = Math.floor(Date.now() / 1000) + 600;
      const tok = await t.client.token({ resource, expiry, keyName: 'device' });
      assert.equal(tok, sdk.SharedAccessSignature.create(sdk.encodeUriComponentStrict(resource), 'device', toBase64(t.tokenKey), expiry).toString());
      assert.equal(verifyToken(tok, { key: t.tokenKey, resource }).keyName, 'device');
    });

    it('TOKEN for the longest resource and key name fits its response (docs/protocol.md §4.4)', async () => {
      const resource = '\u00ff'.repeat(128); // 256 bytes of UTF-8, each %XX: the longest sr
      const expiry = 0xffffffff;
      const tok = await t.client.token({ resource, expiry, keyName: 'k'.repeat(64) });
      assert.ok(tok.length > 700);
      assert.equal(verifyToken(tok, { key: t.tokenKey, resource, now: 1, maxLifetimeSeconds: 0xffffffff }).resource, resource);
    });

    it('TOKEN with RES_LEN 0 or 257 is BAD_RESOURCE, like an unacceptable resource text', async () => {
      const status = (n: string) => (e: unknown) => e instanceof DeviceError && e.statusName === n;
      const req = (len: number) => (id: number) => Uint8Array.of(1, 4, id & 255, id >> 8, 0, 1, 0, 0, 0, len & 255, len >> 8, ...new Uint8Array(len).fill(0x61), 0);
      await assert.rejects(t.client.session.requestRaw(req(0)), status('BAD_RESOURCE'));
      await assert.rejects(t.client.session.requestRaw(req(257)), status('BAD_RESOURCE'));
    });

    it('TOKEN verifies with the escrowed token key (BLOCK_KEY1), not with the attestation key', async () => {
      const expiry = Math.floor(Date.now() / 1000) + 600;
      const tok = await t.client.token({ resource: 'hub.example/devices/d1', expiry });
      const v = verifyToken(tok, { key: t.tokenKey, resource: 'hub.example/devices/d1' });
      assert.equal(v.expiry, expiry);
      assert.throws(() => verifyToken(tok, { key: new Uint8Array(32) }), VerificationError);
      assert.throws(() => verifyToken(tok, { key: t.key }), (e: unknown) => e instanceof VerificationError && e.reason === 'SIGNATURE');
    });

    it('keeps the key roles apart: no attestation with the token key, no token with the attestation key (KEY_ROLE)', async () => {
      const role = (e: unknown) => e instanceof DeviceError && e.statusName === 'KEY_ROLE' && /BLOCK_KEY[01] is not an? (attestation|token) key/.test(e.detail);
      await assert.rejects(t.client.attest({ slot: 1 }), role);
      await assert.rejects(t.client.token({ resource: 'hub.example/devices/d1', slot: 0 }), role);
      verifyAttestation(await t.client.attest({ slot: 0 }), { key: t.key, deviceId: t.deviceId }); // still serving
    });

    it('refuses nonces shorter than 16 or longer than 64 bytes, bad slots and bad versions, by status', async () => {
      const raw = (bytes: number[]) => (id: number) => Uint8Array.of(1, 3, id & 255, id >> 8, ...bytes);
      const status = (name: string) => (e: unknown) => e instanceof DeviceError && e.statusName === name;
      await assert.rejects(t.client.session.requestRaw(raw([0, 15, ...new Array(15).fill(1)])), status('BAD_NONCE'));
      await assert.rejects(t.client.session.requestRaw(raw([0, 0])), status('BAD_NONCE'));
      await assert.rejects(t.client.session.requestRaw(raw([0, 65, ...new Array(65).fill(1)])), status('BAD_NONCE'));
      await assert.rejects(t.client.session.requestRaw(raw([6, 16, ...new Array(16).fill(1)])), status('BAD_SLOT'));
      await assert.rejects(t.client.session.requestRaw(raw([0, 16, 1])), status('MALFORMED'));
      await assert.rejects(t.client.session.requestRaw((id) => Uint8Array.of(2, 2, id & 255, id >> 8)), status('BAD_VERSION'));
      await assert.rejects(t.client.session.requestRaw((id) => Uint8Array.of(1, 0x55, id & 255, id >> 8)), status('UNKNOWN_TYPE'));
      const resource = new TextEncoder().encode('bad\nresource');
      await assert.rejects(t.client.session.requestRaw((id) => Uint8Array.of(1, 4, id & 255, id >> 8, 0, 1, 0, 0, 0, resource.length, 0, ...resource, 0)), status('BAD_RESOURCE'));
      await assert.rejects(t.client.session.requestRaw((id) => Uint8Array.of(1, 4, id & 255, id >> 8, 0, 0, 0, 0, 0, 1, 0, 0x61, 0)), status('BAD_EXPIRY'));
    });

    it('keeps answering after garbage, oversize headers and a cut frame', async () => {
      const junk = new Uint8Array(randomBytes(3000));
      await t.client.session.transport.write(junk);
      await t.client.session.transport.write(Uint8Array.of(0xa5, 0x5a, 0xff, 0x7f, 0x00, 0x80));
      await t.client.session.transport.write(encodeFrame(new Uint8Array(300).fill(1)).subarray(0, 150));
      const att = await t.client.attest();
      verifyAttestation(att, { key: t.key });
    });
  });
}
