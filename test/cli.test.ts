import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevice } from '../device/src/device.js';
import { attestationToJson } from '../host/serialize.js';
import { cli } from './support/cli.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';

describe('CLI', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'efa-cli-'));
  const keyFile = join(dir, 'key.bin');
  const wrongKey = join(dir, 'wrong.bin');
  writeFileSync(keyFile, TEST_KEY);
  writeFileSync(wrongKey, randomBytes(32));
  const dev = createDevice(softChip({ keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } }));
  const nonce = new Uint8Array(randomBytes(32));
  const attFile = join(dir, 'att.json');
  writeFileSync(attFile, JSON.stringify(attestationToJson({ nonce, response: dev.attest(nonce) })));

  it('--help lists commands and documents exit codes', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['list', 'info', 'attest', 'verify', 'token']) assert.match(r.stdout, new RegExp(`\\n  ${c} `));
    assert.match(r.stdout, /Exit codes/);
    assert.match((await cli(['help', 'attest'])).stdout, /--slot N/);
  });

  it('unknown commands and options are usage errors (exit 2) in one line', async () => {
    const r = await cli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.equal((await cli(['info', '--bogus'])).code, 2);
    assert.equal((await cli(['info'])).code, 2);
  });

  it('a missing port is a transport error (exit 5), also in --json', async () => {
    const r = await cli(['info', '--port', join(dir, 'no-such-tty'), '--json']);
    assert.equal(r.code, 5);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, false);
    assert.equal(j.error.code, 'TRANSPORT');
    assert.doesNotMatch(r.stderr, /at .*\.js/, 'no stack trace without --debug');
  });

  it('verify accepts a good attestation and exits 3 on the wrong key', async () => {
    const ok = await cli(['verify', '--attestation', attFile, '--key', keyFile, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).result.attestation.chip, 'esp32s3');
    const bad = await cli(['verify', '--attestation', attFile, '--key', wrongKey]);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /MAC does not verify/);
    const viaStdin = await cli(['verify', '--attestation', '-', '--key', keyFile], { input: JSON.stringify(attestationToJson({ nonce, response: dev.attest(nonce) })) });
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
  });

  it('verify checks tokens', async () => {
    const tok = dev.token('hub/devices/x', 2_000_000_000);
    assert.equal((await cli(['verify', '--token', tok, '--key', keyFile, '--now', '1900000000', '--max-lifetime', '4294967295'])).code, 0);
    assert.equal((await cli(['verify', '--token', tok, '--key', keyFile, '--now', '1900000000'])).code, 3, 'valid for longer than a day');
    assert.equal((await cli(['verify', '--token', tok, '--key', wrongKey, '--now', '1900000000', '--max-lifetime', '4294967295'])).code, 3);
  });

  it('bad key files are named in the error', async () => {
    const short = join(dir, 'short.bin');
    writeFileSync(short, new Uint8Array(31));
    const r = await cli(['verify', '--attestation', attFile, '--key', short]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /short\.bin must hold exactly 32 bytes/);
  });

  it('output never contains the key bytes', async () => {
    const hex = Buffer.from(TEST_KEY).toString('hex');
    for (const args of [['verify', '--attestation', attFile, '--key', keyFile, '--json'], ['verify', '--attestation', attFile, '--key', wrongKey, '--json']]) {
      const r = await cli(args);
      assert.ok(!r.stdout.includes(hex) && !r.stderr.includes(hex));
    }
  });
});
