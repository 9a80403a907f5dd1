// The CLI at its edges: what a hostile or broken device can make it print (control characters are
// escaped; a token must be the one asked for), inputs that are not what they seem (a FIFO as a key or
// an attestation, a file as --dir, a directory as --out), a reader that goes away (EPIPE), saved
// attestations and freshness (--nonce), tokens from a file or standard input, a passphrase file others
// can read, and the vault passphrase kept out of child processes. A scripted device on a pty
// (test/fixtures/fake-device.py) plays the device.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { encodeResponse, formatSasToken, type Response, toHex } from '../protocol/index.js';
import { Espefuse } from '../host/espefuse/driver.js';
import { startEmulator } from '../host/emulator.js';
import { EXIT } from '../host/errors.js';
import { attestationToJson } from '../host/serialize.js';
import { hmacSha256 } from '../host/verify.js';
import { sasStringToSign } from '../protocol/index.js';
import { createDevice } from '../device/src/device.js';
import { cli } from './support/cli.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';
import { azureVectors, ROOT } from './support/vectors.js';

const STATE = {
  chip: 9, revision: 2, deviceId: Uint8Array.of(0x7c, 0xdf, 0xa1, 1, 2, 3), hmac: true, secureBoot: false, flashEncryption: false,
  firmwareId: new Uint8Array(32).fill(1), firmwareVersion: '0.1.0',
};
const EVIL = '\x1b]0;pwned\x07\x1b[2J\u009b1m';
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

interface Fake { path: string; stop(): void }

/** The scripted device: answers[type] is the message sent back for a request of that type. */
function fakeDevice(answers: Record<number, Response>, text?: Uint8Array): Promise<Fake> {
  const args = Object.entries(answers).map(([t, r]) => `${t}=${toHex(encodeResponse(r))}`);
  if (text) args.push(`text=${toHex(text)}`);
  const child = spawn('python3', [join(ROOT, 'test/fixtures/fake-device.py'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => {
      const m = /^PTY (.+)$/.exec(line);
      if (!m) { reject(new Error(`fake device said ${line}`)); return; }
      resolve({ path: m[1]!, stop: () => { child.stdin.end(); child.kill(); } });
    });
    child.once('error', reject);
  });
}

async function withFake<T>(answers: Record<number, Response>, fn: (port: string) => Promise<T>, text?: Uint8Array): Promise<T> {
  const f = await fakeDevice(answers, text);
  try { return await fn(f.path); } finally { f.stop(); }
}

describe('CLI edges', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'efa-edges-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key.bin');
  writeFileSync(keyFile, TEST_KEY);
  const dev = createDevice(softChip({ keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } }));
  const nonce = new Uint8Array(randomBytes(32));
  const attFile = join(dir, 'att.json');
  writeFileSync(attFile, JSON.stringify(attestationToJson({ nonce, response: dev.attest(nonce) })));

  describe('device text reaching the terminal', () => {
    it('INFO firmwareVersion with escape sequences is printed escaped, in text and in --json', async () => {
      await withFake({ 2: { type: 'info', id: 0, info: { ...STATE, firmwareVersion: EVIL, keys: [] } } }, async (port) => {
        const r = await cli(['info', '--port', port, '--timeout', '2000']);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stdout, RAW_CONTROL);
        assert.match(r.stdout, /\\x1b\]0;pwned\\x07\\x1b\[2J\\x9b1m/);
        const j = await cli(['info', '--port', port, '--timeout', '2000', '--json']);
        assert.doesNotMatch(j.stdout, RAW_CONTROL);
        assert.equal((JSON.parse(j.stdout) as { result: { firmwareVersion: string } }).result.firmwareVersion, EVIL, 'JSON keeps the value, escaped');
      });
    });

    it('an ERROR detail and --debug log lines with escape sequences are printed escaped', async () => {
      const text = new TextEncoder().encode('\x1b[2Jboot \x1b]0;title\x07\n');
      await withFake({ 2: { type: 'error', id: 0, status: 12, espErr: 0, detail: '\x1b[31mred\x1b[0m \u009b6n' } }, async (port) => {
        const r = await cli(['info', '--port', port, '--timeout', '2000', '--debug']);
        assert.equal(r.code, EXIT.DEVICE);
        assert.doesNotMatch(r.stderr, RAW_CONTROL);
        assert.match(r.stderr, /device error INTERNAL: \\x1b\[31mred/);
        assert.match(r.stderr, /device: \\x1b\[2Jboot \\x1b\]0;title\\x07/);
      }, text);
    });

    it('a token for another resource or expiry than asked, or one with control characters, is refused (exit 3)', async () => {
      const expiry = 2_000_000_000;
      const sign = (res: string, exp: number) => formatSasToken(res, exp, hmacSha256(TEST_KEY, sasStringToSign(res, exp)));
      const cases: [string, string][] = [
        ['other resource', sign('hub/devices/other', expiry)],
        ['other expiry', sign('hub/devices/me', expiry + 1)],
        ['control characters', 'SharedAccessSignature sr=\x1b[2J&sig=x&se=1'],
      ];
      for (const [name, token] of cases) {
        await withFake({ 4: { type: 'token', id: 0, token } }, async (port) => {
          const r = await cli(['token', '--port', port, '--timeout', '2000', '--resource', 'hub/devices/me', '--expiry', String(expiry)]);
          assert.equal(r.code, EXIT.VERIFY, `${name}: ${r.stdout}${r.stderr}`);
          assert.equal(r.stdout, '', `${name}: the token is not printed`);
          assert.doesNotMatch(r.stderr, RAW_CONTROL);
        });
      }
      await withFake({ 4: { type: 'token', id: 0, token: sign('hub/devices/me', expiry) } }, async (port) => {
        const r = await cli(['token', '--port', port, '--timeout', '2000', '--resource', 'hub/devices/me', '--expiry', String(expiry)]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), sign('hub/devices/me', expiry));
      });
    });
  });

  describe('inputs that are not what they seem', () => {
    it('a FIFO as --key or --attestation is refused at once (exit 2), never waited on', async function () {
      const fifo = join(dir, 'fifo');
      if (spawnSync('mkfifo', [fifo]).status !== 0) this.skip();
      for (const args of [['--attestation', attFile, '--key', fifo], ['--attestation', fifo, '--key', keyFile]]) {
        const r = await cli(['verify', ...args], { timeoutMs: 5000 });
        assert.equal(r.code, EXIT.USAGE, r.stderr);
        assert.match(r.stderr, /fifo is not a regular file/);
      }
    });

    it('demo --dir naming a file, and attest --out naming a directory, are clear usage errors', async () => {
      const file = join(dir, 'a-file');
      writeFileSync(file, 'x');
      const d = await cli(['demo', '--dir', file]);
      assert.equal(d.code, EXIT.USAGE, d.stderr);
      assert.match(d.stderr, /--dir .*a-file exists and is not a directory/);
      const a = await cli(['attest', '--port', join(dir, 'no-such-tty'), '--out', dir]);
      assert.equal(a.code, EXIT.USAGE, a.stderr);
      assert.match(a.stderr, /--out .* is a directory/);
    });

    it('attest --out with --key writes the file only once the answer verifies', async () => {
      const bad = dev.attest(new Uint8Array(32));
      const out = join(dir, 'unverified.json');
      await withFake({ 3: { type: 'attest', id: 0, attestation: { ...bad, mac: new Uint8Array(32).fill(7) } } }, async (port) => {
        const r = await cli(['attest', '--port', port, '--timeout', '2000', '--key', keyFile, '--out', out]);
        assert.equal(r.code, EXIT.VERIFY, r.stderr);
        assert.equal(existsSync(out), false, 'nothing was written');
      });
    });

    it('EPIPE on stdout (the reader went away) ends the CLI quietly', async () => {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(ROOT, 'dist/host/cli/bin.js'), 'help', 'verify'], { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.destroy();
        let stderr = '';
        child.stderr.on('data', (d) => { stderr += d; });
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
    });
  });

  describe('verify: freshness and where a token comes from', () => {
    it('--nonce: the matching challenge verifies and says freshness was checked; another is refused (exit 3)', async () => {
      const ok = await cli(['verify', '--attestation', attFile, '--key', keyFile, '--nonce', toHex(nonce)]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /freshness checked/);
      const other = await cli(['verify', '--attestation', attFile, '--key', keyFile, '--nonce', toHex(new Uint8Array(32))]);
      assert.equal(other.code, EXIT.VERIFY);
      assert.match(other.stderr, /not fresh/);
    });

    it('without --nonce the output says freshness was not checked (text and --json)', async () => {
      const r = await cli(['verify', '--attestation', attFile, '--key', keyFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /freshness NOT checked/);
      const j = await cli(['verify', '--attestation', attFile, '--key', keyFile, '--json']);
      assert.equal((JSON.parse(j.stdout) as { result: { freshness: string } }).result.freshness, 'not checked');
    });

    it('--token-file reads the token from a file or from standard input', async () => {
      const expiry = Math.floor(Date.now() / 1000) + 3600;
      const token = dev.token('hub/devices/d1', expiry);
      const file = join(dir, 'token.txt');
      writeFileSync(file, token + '\n');
      const f = await cli(['verify', '--token-file', file, '--key', keyFile, '--resource', 'hub/devices/d1']);
      assert.equal(f.code, 0, f.stderr);
      assert.match(f.stdout, /token verified: hub\/devices\/d1/);
      const s = await cli(['verify', '--token-file', '-', '--key', keyFile], { input: token + '\n' });
      assert.equal(s.code, 0, s.stderr);
      // The token's policy: the device its resource names, its skn, its lifetime.
      assert.equal((await cli(['verify', '--token-file', file, '--key', keyFile, '--device-id', 'd1', '--key-name', ''])).code, 0);
      const other = await cli(['verify', '--token-file', file, '--key', keyFile, '--device-id', 'd2']);
      assert.equal(other.code, 3);
      assert.match(other.stderr, /not for device "d2"/);
      assert.equal((await cli(['verify', '--token-file', file, '--key', keyFile, '--key-name', 'owner'])).code, 3);
      const long = await cli(['verify', '--token-file', file, '--key', keyFile, '--max-lifetime', '60']);
      assert.equal(long.code, 3);
      assert.match(long.stderr, /more than 60 s from now/);
    });
  });

  describe('keygen --master', () => {
    it('takes a DPS registration id such as sn-007-…: the key of docs/vectors/azure.json', async () => {
      const d = azureVectors.dps;
      const master = join(dir, 'group.key');
      writeFileSync(master, Buffer.from(d.groupKey, 'base64'));
      const r = await cli(['keygen', '--master', master, '--registration-id', d.registrationId, '--reveal', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { result: { key: string; derivation: { registrationId: string } } };
      assert.equal(Buffer.from(out.result.key, 'hex').toString('base64'), d.deviceKey);
      assert.equal(out.result.derivation.registrationId, d.registrationId);
      const bad = await cli(['keygen', '--master', master, '--registration-id', 'Not Valid!', '--reveal']);
      assert.equal(bad.code, EXIT.USAGE);
      const both = await cli(['keygen', '--master', master, '--registration-id', d.registrationId, '--device-id', 'aabbccddeeff', '--reveal']);
      assert.equal(both.code, EXIT.USAGE);
    });
  });

  describe('secrets', () => {
    it('a passphrase file readable by others draws a warning; a private one does not', async () => {
      const pass = join(dir, 'pass.txt');
      writeFileSync(pass, 'a passphrase for the edges test\n');
      chmodSync(pass, 0o644);
      const args = (v: string) => ['escrow', 'add', '--device-id', 'aabbccddeeff', '--chip', 'esp32s3', '--vault', join(dir, v), '--passphrase-file', pass];
      const open = await cli(args('v1.vault'));
      assert.equal(open.code, 0, open.stderr);
      assert.match(open.stderr, /warning: --passphrase-file .*pass\.txt is readable by every user \(mode 0644\)/);
      chmodSync(pass, 0o600);
      const priv = await cli(args('v2.vault'));
      assert.equal(priv.code, 0, priv.stderr);
      assert.doesNotMatch(priv.stderr, /warning/);
    });

    it('EFUSE_ATTEST_PASSPHRASE is not in the environment of espefuse or the emulator', async () => {
      const envOut = join(dir, 'child-env.txt');
      const bin = join(dir, 'dump-env.sh');
      writeFileSync(bin, `#!/bin/sh\nenv > '${envOut}'\nexit 1\n`);
      chmodSync(bin, 0o755);
      const image = join(dir, 'img.bin');
      writeFileSync(image, new Uint8Array(512));
      const saved = process.env.EFUSE_ATTEST_PASSPHRASE;
      process.env.EFUSE_ATTEST_PASSPHRASE = 'secret-passphrase-in-env';
      try {
        await new Espefuse('esp32s3', { kind: 'virt', image }, { bin }).summary().catch(() => undefined);
        const espEnv = readFileSync(envOut, 'utf8');
        assert.match(espEnv, /NO_COLOR=1/, 'the child ran');
        assert.doesNotMatch(espEnv, /EFUSE_ATTEST_PASSPHRASE|secret-passphrase-in-env/);
        rmSync(envOut);
        await startEmulator({ chip: 'esp32s3', efuse: image, binary: bin, startTimeoutMs: 2000 }).then((e) => e.stop(), () => undefined);
        const emuEnv = readFileSync(envOut, 'utf8');
        assert.match(emuEnv, /PATH=/, 'the child ran');
        assert.doesNotMatch(emuEnv, /EFUSE_ATTEST_PASSPHRASE|secret-passphrase-in-env/);
      } finally {
        if (saved === undefined) delete process.env.EFUSE_ATTEST_PASSPHRASE; else process.env.EFUSE_ATTEST_PASSPHRASE = saved;
      }
    });
  });
});
