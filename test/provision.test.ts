// Provisioning as an operator runs it: the built CLI, the real espefuse in virtual mode, the emulator
// for the challenge. Full runs on ESP32-S3 and ESP32-C3 images and refusals of used blocks; the
// crash-and-resume cases are in provision-crash.test.ts (every step, in-process, in
// provision-resume.test.ts), the operator's options (dry run, confirmation, batch, --master, clones,
// the passphrase) in provision-cli.test.ts. Whatever happens, every burned key is in the escrow,
// decrypts, and is the key the silicon holds; no key byte is printed, logged or reported.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../protocol/index.js';
import { EXIT, VerificationError } from '../host/errors.js';
import { newRecord } from '../host/escrow/store.js';
import { FileVault } from '../host/escrow/vault.js';
import { keyBlock } from '../host/espefuse/summary.js';
import { siliconPath } from '../host/espefuse/virtual.js';
import { deriveDeviceKey, masterId } from '../host/keys.js';
import { type ProvisionResult, STEPS } from '../host/provision/sequence.js';
import { makeChip } from './support/chips.js';
import { ROOT } from './support/vectors.js';
import { PASS, BLOCK, efa, escrowed, auditOf, assertNoKeys, invariant, challenge, workspace } from './support/provisioning.js';

describe('provision: real espefuse on virtual chips', function () {
  this.timeout(60_000);
  const { workdir } = workspace('efa-provision-');

  for (const chip of ['esp32s3', 'esp32c3']) {
    it(`${chip}: chip create, provision --yes: escrowed, burned HMAC_UP read-protected, verified; a second run burns nothing`, async () => {
      const { d, vault, audit } = workdir();
      const image = join(d, 'chip.bin');
      const made = await efa(['chip', 'create', '--chip', chip, '--out', image, '--json']);
      assert.equal(made.code, 0, made.stderr);
      const deviceId = (JSON.parse(made.stdout) as { result: { deviceId: string } }).result.deviceId;
      const args = ['provision', '--virt', image, '--chip', chip, '--yes', '--json', '--vault', vault, '--audit', audit];

      const r = await efa(args);
      assert.equal(r.code, EXIT.OK, r.stdout + r.stderr);
      const dev = (JSON.parse(r.stdout) as { result: { devices: ProvisionResult[] } }).result.devices[0]!;
      assert.equal(dev.outcome, 'provisioned');
      assert.equal(dev.state, 'verified');
      assert.equal(dev.deviceId, deviceId);
      assert.equal(dev.burned, true);
      assert.deepEqual(dev.steps.map((s) => `${s.step}:${s.outcome}`), STEPS.map((s) => `${s}:ok`));

      // The fuses, read afresh: HMAC_UP, read- and write-protected; the other blocks untouched.
      const { summary, burned, rec } = await invariant(chip, image, vault);
      assert.ok(burned);
      assert.equal(summary.mac, deviceId);
      const k = keyBlock(summary, BLOCK);
      assert.equal(k.purpose, 'HMAC_UP');
      assert.ok(k.readProtected && k.writeProtected);
      assert.ok(summary.keys.filter((b) => b.block !== BLOCK).every((b) => b.unused));
      assert.equal(rec!.state, 'verified');
      assert.equal(rec!.chip, chip);
      assert.equal(rec!.purpose, 'HMAC_UP');
      assert.equal(rec!.derivation, undefined);

      // escrow export gives the same key, and that key — and no other — verifies the device's attestation.
      const keyFile = join(d, 'exported.bin');
      const ex = await efa(['escrow', 'export', '--device-id', deviceId, '--out', keyFile, '--vault', vault]);
      assert.equal(ex.code, 0, ex.stderr);
      const exported = new Uint8Array(readFileSync(keyFile));
      assert.deepEqual(exported, rec!.key);
      const none = await efa(['escrow', 'export', '--device-id', '020000000000', '--reveal', '--vault', vault, '--json']);
      assert.equal(none.code, EXIT.ESCROW, none.stdout);
      assert.equal((JSON.parse(none.stdout) as { error: { code: string } }).error.code, 'ESCROW_MISSING');
      await challenge(chip, image, deviceId, exported);
      const wrong = Uint8Array.from(exported);
      wrong[0] ^= 1;
      await assert.rejects(challenge(chip, image, deviceId, wrong), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');

      const lines = auditOf(audit);
      assert.deepEqual(lines.map((l) => `${l.step}:${l.outcome}`), STEPS.map((s) => `${s}:ok`));
      assert.ok(lines.every((l) => l.deviceId === deviceId && l.chip === chip && l.block === BLOCK && l.run === lines[0]!.run));

      // Again: nothing to burn, the device is verified with the escrowed key, nothing changes on the chip or in the key.
      const imageBefore = readFileSync(image);
      const again = await efa(args);
      assert.equal(again.code, EXIT.OK, again.stdout + again.stderr);
      const dev2 = (JSON.parse(again.stdout) as { result: { devices: ProvisionResult[] } }).result.devices[0]!;
      assert.equal(dev2.outcome, 'already-provisioned');
      assert.equal(dev2.burned, false);
      assert.deepEqual(dev2.steps.filter((s) => s.outcome === 'skip').map((s) => s.step), ['keygen', 'escrow', 'burn']);
      assert.deepEqual(readFileSync(image), imageBefore);
      assert.deepEqual((await escrowed(vault, deviceId))!.key, exported);
      assert.ok(!auditOf(audit).slice(STEPS.length).some((l) => l.step === 'burn' && l.outcome === 'ok'));

      // A dry run now plans a verification: one summary, no burn-key.
      const dry = await efa(['provision', '--virt', image, '--chip', chip, '--dry-run', '--json', '--vault', vault]);
      assert.equal(dry.code, 0, dry.stderr);
      const row = (JSON.parse(dry.stdout) as { result: { devices: { plan: string; commands: string[] }[] } }).result.devices[0]!;
      assert.equal(row.plan, 'verify');
      assert.equal(row.commands.length, 1);
      assert.match(row.commands[0]!, / summary --format json /);

      assertNoKeys({ stdout: r.stdout + again.stdout + dry.stdout + ex.stdout, stderr: r.stderr + again.stderr + ex.stderr, audit: readFileSync(audit, 'utf8') }, [exported]);
    });
  }

  it('a block burned elsewhere, without an escrow record, is refused (exit 7) and never burned again', async () => {
    const { vault, audit } = workdir();
    const outside = new Uint8Array(randomBytes(32));
    const c = await makeChip('esp32s3', { [BLOCK]: [outside, 'HMAC_UP'] });
    const before = readFileSync(c.image);
    const siBefore = readFileSync(siliconPath(c.image));
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32s3', '--yes', '--json', '--vault', vault, '--audit', audit]);
    assert.equal(r.code, EXIT.ESPEFUSE, r.stdout + r.stderr);
    const err = (JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } }).error;
    assert.equal(err.code, 'BLOCK_USED');
    assert.match(err.message, new RegExp(`${BLOCK} of device ${c.deviceId} is already used \\(purpose HMAC_UP, read-protected.*never burned again`));
    assert.deepEqual(readFileSync(c.image), before);
    assert.deepEqual(readFileSync(siliconPath(c.image)), siBefore);
    assert.equal(existsSync(vault), false, 'no vault was created');
    const lines = auditOf(audit);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.step, 'read');
    assert.equal(lines[0]!.outcome, 'refuse');
    assert.equal(lines[0]!.code, 'BLOCK_USED');
    assert.equal(lines[0]!.deviceId, c.deviceId);
    assertNoKeys({ stdout: r.stdout, stderr: r.stderr, audit: readFileSync(audit, 'utf8') }, [outside]);
  });

  it('a block in an unexpected state although a key is escrowed for it is refused (BLOCK_STATE), nothing changes', async () => {
    const { vault, audit } = workdir();
    // Burned as a readable USER block (not what provisioning burns), with a key escrowed for it.
    const c = await makeChip('esp32c3', { [BLOCK]: [new Uint8Array(randomBytes(32)), 'USER'] });
    const key = new Uint8Array(randomBytes(32));
    await new FileVault(vault, { passphrase: PASS }).put(newRecord({ deviceId: c.deviceId, chip: 'esp32c3', block: BLOCK, purpose: 'HMAC_UP', key }));
    const before = { image: readFileSync(c.image), vault: readFileSync(vault) };
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32c3', '--yes', '--vault', vault, '--audit', audit]);
    assert.equal(r.code, EXIT.ESPEFUSE, r.stderr);
    assert.match(r.stderr, /is purpose USER, readable, write-protected, holds data — neither unused nor burned HMAC_UP.*Not touching it/);
    assert.deepEqual(readFileSync(c.image), before.image);
    assert.deepEqual(readFileSync(vault), before.vault);
    assert.deepEqual(auditOf(audit).map((l) => `${l.step}:${l.outcome}:${l.code}`), ['read:refuse:BLOCK_STATE']);
  });
});


describe('docs/provisioning.md matches the code', () => {
  const doc = readFileSync(ROOT + 'docs/provisioning.md', 'utf8');
  const cell = (label: string) => {
    const m = new RegExp(`^\\| ${label.replace(/[()]/g, '\\$&')} \\| \`([^\`]+)\``, 'm').exec(doc);
    assert.ok(m, `the §4 table has a row "${label}"`);
    return m[1]!;
  };

  it('§4 vector: the derived key and the master id', () => {
    const master = new Uint8Array(Buffer.from(cell('master (base64)'), 'base64'));
    assert.equal(master.length, 64);
    const key = deriveDeviceKey(master, cell('MAC'));
    assert.equal(cell('registrationId'), 'aabbccddeeff');
    assert.equal(Buffer.from(key).toString('base64'), cell('deviceKey (base64)'));
    assert.equal(toHex(key), cell('deviceKey (hex)'));
    assert.equal(masterId(master), cell('masterId'));
  });

  it('§2 lists the steps in order, and §6 the exit codes', () => {
    const section2 = doc.slice(doc.indexOf('## 2. The sequence'), doc.indexOf('### 2.1'));
    const steps = [...section2.matchAll(/^\| `([a-z-]+)` \| /gm)].map((m) => m[1]);
    assert.deepEqual(steps, [...STEPS]);
    const codes = [...doc.slice(doc.indexOf('Exit codes (')).matchAll(/^\| (\d) \| /gm)].map((m) => Number(m[1]));
    assert.deepEqual(codes, Object.values(EXIT));
  });
});
