// The main job, `efuse-attest demo`, run as the README runs it: a virtual chip made by espefuse is
// provisioned, booted in the emulator and attested over a pty. The test checks what it leaves behind
// with the other commands and independently of them: the fuses, the vault, the audit log.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileVault } from '../host/escrow/vault.js';
import { Espefuse } from '../host/espefuse/driver.js';
import { isBurnedHmacUp, keyBlock } from '../host/espefuse/summary.js';
import { readSilicon } from '../host/espefuse/silicon.js';
import { cli } from './support/cli.js';

describe('demo (the main job)', function () {
  this.timeout(120_000);
  const root = mkdtempSync(join(tmpdir(), 'efa-demo-'));

  it('provisions, boots and attests an emulated ESP32-S3, and leaves an escrowed, burned, verified chip', async () => {
    const dir = join(root, 'run');
    const r = await cli(['demo', '--dir', dir, '--json'], { timeoutMs: 110_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout) as { ok: boolean; result: Record<string, any> };
    assert.equal(out.ok, true);
    const d = out.result;
    assert.equal(d.chip, 'esp32s3');
    assert.match(d.deviceId, /^[0-9a-f]{12}$/);
    assert.deepEqual(d.steps.map((s: { step: string }) => s.step), ['chip', 'provision', 'provision token key', 'boot', 'info', 'reset', 'attest', 'token']);
    assert.equal(d.info.keyBlocks[0].purpose, 'HMAC_UP');
    assert.equal(d.info.keyBlocks[0].readProtected, true);
    assert.equal(d.attestation.verified, true);
    assert.equal(d.token.verified, true);
    assert.match(d.wrongKeyRefused, /does not verify/);
    assert.ok(d.bootLines > 0, 'the reset put boot text on the line and the host skipped it');

    // The fuses, read by espefuse: HMAC_UP, read-protected, on the device the demo reported.
    const summary = await new Espefuse('esp32s3', { kind: 'virt', image: d.files.image }, { session: false }).summary();
    assert.equal(summary.mac, d.deviceId);
    assert.ok(isBurnedHmacUp(keyBlock(summary, 'BLOCK_KEY0')));
    assert.ok(isBurnedHmacUp(keyBlock(summary, 'BLOCK_KEY1')), 'the token key has its own block');

    // The vault, opened with the passphrase the demo wrote: the key is escrowed, verified, and is
    // the key the (emulated) silicon holds.
    assert.equal(statSync(d.files.passphrase).mode & 0o777, 0o600);
    assert.equal(statSync(d.files.vault).mode & 0o777, 0o600);
    const pass = readFileSync(d.files.passphrase, 'utf8').trim();
    const opened = await FileVault.open(d.files.vault, { passphrase: pass });
    const rec = await opened.get(d.deviceId, 'BLOCK_KEY0');
    const tokenRec = await opened.get(d.deviceId, 'BLOCK_KEY1');
    assert.ok(rec && tokenRec);
    assert.deepEqual([rec.state, tokenRec.state], ['verified', 'verified']);
    const silicon = await readSilicon(d.files.image);
    assert.equal(Buffer.from(rec.key).toString('hex'), silicon?.keys.BLOCK_KEY0);
    assert.equal(Buffer.from(tokenRec.key).toString('hex'), silicon?.keys.BLOCK_KEY1);
    assert.notEqual(Buffer.from(rec.key).toString('hex'), Buffer.from(tokenRec.key).toString('hex'), 'two keys, one per role');

    // No key bytes anywhere the demo writes text.
    const hex = Buffer.from(rec.key).toString('hex');
    const b64 = Buffer.from(rec.key).toString('base64');
    for (const text of [r.stdout, r.stderr, readFileSync(d.files.audit, 'utf8')]) {
      assert.ok(!text.includes(hex) && !text.includes(b64), 'no key bytes in output or audit log');
    }

    // The other commands work on what it left.
    const list = await cli(['escrow', 'list', '--vault', d.files.vault, '--passphrase-file', d.files.passphrase, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as { result: { records: { deviceId: string }[] } }).result.records[0].deviceId, d.deviceId);
  });

  it('refuses a chip without the HMAC peripheral and a --dir that is not empty (exit 2), touching nothing', async () => {
    const c2 = await cli(['demo', '--chip', 'esp32c2', '--dir', join(root, 'c2')]);
    assert.equal(c2.code, 2);
    assert.match(c2.stderr, /chip "esp32c2" is not supported \(no HMAC peripheral\); use one of esp32s3, esp32c3, esp32c6, esp32h2$/m);
    const busy = join(root, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'mine'), 'x');
    const r = await cli(['demo', '--dir', busy]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--dir .*busy is not empty/);
    assert.deepEqual(readdirSync(busy), ['mine']);
    assert.equal(readFileSync(join(busy, 'mine'), 'utf8'), 'x');
  });
});
