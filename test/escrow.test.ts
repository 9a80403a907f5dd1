// Device keys and the escrow vault: derivation vectors and input checks; the vault's format, its
// refusals (wrong passphrase, any altered byte, a different key for a stored record) leaving the file
// byte-for-byte unchanged; the lock (stale locks broken, live ones waited for); two processes writing
// at once; a read-only directory and a full disk failing cleanly. No espefuse here.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../protocol/index.js';
import { EscrowError } from '../host/errors.js';
import { newRecord, type EscrowRecord } from '../host/escrow/store.js';
import { FileVault, HEADER_SIZE, MAGIC } from '../host/escrow/vault.js';
import { deriveDeviceKey, dpsDeviceKey, generateKey, masterId, redactKey } from '../host/keys.js';
import { parseDeviceId } from '../protocol/deviceid.js';
import { ROOT } from './support/vectors.js';

const PASS = 'correct horse battery staple';
const DPS_GROUP_KEY = Buffer.from('8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==', 'base64');

function rec(i: number, key = generateKey(), block = 'BLOCK_KEY0'): EscrowRecord {
  return newRecord({ deviceId: `0200000000${i.toString(16).padStart(2, '0')}`, chip: 'esp32s3', block, purpose: 'HMAC_UP', key });
}

async function rejects(p: Promise<unknown>, code: string, re?: RegExp): Promise<EscrowError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EscrowError, `expected EscrowError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected EscrowError ${code}`);
}

describe('keys', () => {
  it('generateKey: 32 fresh bytes each time', () => {
    const a = generateKey();
    const b = generateKey();
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
  });

  it('dpsDeviceKey reproduces Microsoft\'s published DPS group-enrollment example', () => {
    // docs/azure.md: registration id sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6 with the documented group key.
    const k = dpsDeviceKey(new Uint8Array(DPS_GROUP_KEY), 'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6');
    assert.equal(Buffer.from(k).toString('base64'), 'Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=');
  });

  it('deriveDeviceKey uses the 12 lowercase hex digits of the MAC as the registration id (docs/provisioning.md §4 vector)', () => {
    const master = new Uint8Array(DPS_GROUP_KEY);
    // Computed independently with Python's hmac module.
    const want = 'sa2GpcAfxISBc8J0x0UgVML7HAc2JTVKWlC1F22f5P4=';
    for (const id of ['aabbccddeeff', 'AA:BB:CC:DD:EE:FF', 'aa-bb-cc-dd-ee-ff', Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff)]) {
      assert.equal(Buffer.from(deriveDeviceKey(master, id)).toString('base64'), want);
    }
    assert.deepEqual(deriveDeviceKey(master, 'aabbccddeeff'), new Uint8Array(createHmac('sha256', master).update('aabbccddeeff').digest()));
    assert.match(masterId(master), /^[0-9a-f]{16}$/);
  });

  it('refuses bad inputs by type and size, naming the argument', () => {
    const m = new Uint8Array(32);
    const table: [() => unknown, ErrorConstructor, RegExp][] = [
      [() => deriveDeviceKey('master' as never, 'aabbccddeeff'), TypeError, /master/],
      [() => deriveDeviceKey(new Uint8Array(8), 'aabbccddeeff'), RangeError, /master must be 16\.\.1024 bytes/],
      [() => deriveDeviceKey(m, 'aabbccddeef'), RangeError, /deviceId must be 12 hex/],
      [() => deriveDeviceKey(m, 'aa:bbccddeeff'), RangeError, /deviceId/],
      [() => deriveDeviceKey(m, 42 as never), TypeError, /deviceId/],
      [() => deriveDeviceKey(m, new Uint8Array(5)), RangeError, /deviceId must be 6 bytes/],
      [() => dpsDeviceKey(m, 'Upper'), RangeError, /registrationId/],
      [() => dpsDeviceKey(m, ''), RangeError, /registrationId/],
      [() => parseDeviceId(null), TypeError, /deviceId/],
    ];
    for (const [fn, type, re] of table) assert.throws(fn, (e: Error) => e instanceof type && re.test(e.message));
  });

  it('redactKey removes the key in hex, spaced hex and base64', () => {
    const k = generateKey();
    const hex = toHex(k);
    const text = `a ${hex} b ${hex.toUpperCase()} c ${hex.match(/../g)!.join(' ')} d ${Buffer.from(k).toString('base64')}`;
    const out = redactKey(text, k);
    assert.ok(!out.toLowerCase().includes(hex.slice(0, 16)));
    assert.equal(out.split('[key]').length, 5);
  });
});

describe('escrow vault', function () {
  this.timeout(60_000);
  // A fresh directory each run: a process that runs the suites again (as a mutation-test runner does) starts clean.
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'efa-vault-')); });

  it('stores, merges and lists records; file is 0600 and starts with the documented header', async () => {
    const path = join(dir, 'v1', 'escrow.vault');
    const v = new FileVault(path, { passphrase: PASS });
    assert.equal(await v.exists(), false);
    assert.equal(await FileVault.exists(path), false, 'asked without a passphrase');
    assert.equal(await v.get('020000000001', 'BLOCK_KEY0'), undefined);
    const r1 = rec(1);
    await v.put(r1);
    await v.put(rec(2));
    assert.equal(await FileVault.exists(path), true);
    await assert.rejects(FileVault.exists(''), TypeError);
    const raw = readFileSync(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'v1')).mode & 0o777, 0o700);
    assert.equal(raw.subarray(0, 8).toString('latin1'), MAGIC);
    assert.deepEqual([...raw.subarray(8, 16)], [2, 1, 15, 8, 1, 0, 0, 0], 'format 2, scrypt KEK, log2 N 15, r 8, p 1');
    assert.equal(raw.readUInt32BE(76), 2, 'generation counts writes');
    assert.ok(!raw.toString('latin1').includes('020000000001'), 'records are encrypted');
    // A second process-like instance (new scrypt derivation) reads it back.
    const v2 = new FileVault(path, { passphrase: PASS });
    const got = await v2.get('02:00:00:00:00:01', 'BLOCK_KEY0');
    assert.deepEqual(got?.key, r1.key);
    assert.equal(got?.state, 'escrowed');
    // Same key again: merged, and the state only moves forward.
    await v2.put({ ...r1, state: 'burned' });
    await v2.setState('020000000001', 'BLOCK_KEY0', 'escrowed');
    assert.equal((await v2.get('020000000001'))?.state, 'burned');
    await v2.setState('020000000001', 'BLOCK_KEY0', 'verified');
    assert.equal((await v2.get('020000000001'))?.state, 'verified');
    const list = await v2.list();
    assert.equal(list.length, 2);
    assert.ok(list.every((e) => !('key' in e)));
    assert.ok(!JSON.stringify(list).includes(toHex(r1.key)));
    await rejects(v2.setState('0200000000ff', 'BLOCK_KEY0', 'burned'), 'ESCROW_MISSING');
  });

  it('never replaces an escrowed key with a different one', async () => {
    const path = join(dir, 'v2.vault');
    const v = new FileVault(path, { passphrase: PASS });
    const r = rec(3);
    await v.put(r);
    const before = readFileSync(path);
    await rejects(v.put(rec(3)), 'ESCROW_CONFLICT', /never replaced/);
    assert.deepEqual(readFileSync(path), before);
    await v.put(rec(3, generateKey(), 'BLOCK_KEY1'));
    await rejects(v.get('020000000003'), 'ESCROW_AMBIGUOUS', /name the block/);
  });

  describe('refusals leave the file unchanged', () => {
    let path = '';
    let original: Buffer;
    const secret = generateKey();
    before(async () => {
      path = join(dir, 'v3.vault');
      await new FileVault(path, { passphrase: PASS }).put(rec(4, secret));
      original = readFileSync(path);
    });
    afterEach(() => {
      writeFileSync(path, original);
      assert.equal(existsSync(path + '.lock'), false, 'no lock left behind');
    });

    it('wrong passphrase: a clear error, for reads and writes', async () => {
      const v = new FileVault(path, { passphrase: 'not the passphrase' });
      await rejects(v.get('020000000004', 'BLOCK_KEY0'), 'ESCROW_PASSPHRASE', /wrong passphrase.*nothing was changed/);
      await rejects(v.put(rec(5)), 'ESCROW_PASSPHRASE');
      await rejects(FileVault.open(path, { passphrase: 'x' }), 'ESCROW_PASSPHRASE');
      assert.deepEqual(readFileSync(path), original);
    });

    const tampers: [string, (b: Buffer) => Buffer, string][] = [
      ['magic', (b) => { b[0] ^= 1; return b; }, 'ESCROW_FORMAT'],
      ['format version', (b) => { b[8] = 9; return b; }, 'ESCROW_FORMAT'],
      ['KEK kind', (b) => { b[9] = 2; return b; }, 'ESCROW_TAMPERED'],
      ['wrapped file key', (b) => { b[HEADER_SIZE + 20] ^= 1; return b; }, 'ESCROW_TAMPERED'],
      ['scrypt cost', (b) => { b[10] = 30; return b; }, 'ESCROW_TAMPERED'],
      ['reserved byte', (b) => { b[14] = 1; return b; }, 'ESCROW_TAMPERED'],
      ['salt', (b) => { b[20] ^= 1; return b; }, 'ESCROW_PASSPHRASE'],
      ['nonce', (b) => { b[70] ^= 1; return b; }, 'ESCROW_TAMPERED'],
      ['generation', (b) => { b[79] ^= 1; return b; }, 'ESCROW_TAMPERED'],
      ['ciphertext', (b) => { b[HEADER_SIZE + 5] ^= 0x80; return b; }, 'ESCROW_TAMPERED'],
      ['tag', (b) => { b[b.length - 1] ^= 1; return b; }, 'ESCROW_TAMPERED'],
      ['truncated', (b) => b.subarray(0, b.length - 1), 'ESCROW_TAMPERED'],
      ['appended', (b) => Buffer.concat([b, Buffer.of(0)]), 'ESCROW_TAMPERED'],
      ['cut to the header', (b) => b.subarray(0, HEADER_SIZE), 'ESCROW_TAMPERED'],
      ['empty', () => Buffer.alloc(0), 'ESCROW_FORMAT'],
    ];
    for (const [name, change, code] of tampers) {
      it(`tampered ${name}: ${code}, and a write does not touch it`, async () => {
        const bad = change(Buffer.from(original));
        writeFileSync(path, bad);
        const v = new FileVault(path, { passphrase: PASS });
        const e = await rejects(v.get('020000000004', 'BLOCK_KEY0'), code);
        assert.ok(!e.message.includes(toHex(secret)));
        await rejects(v.put(rec(6)), code);
        assert.deepEqual(readFileSync(path), bad);
      });
    }
  });

  describe('lock', () => {
    it('breaks a lock whose process is gone, and one nobody owns after a while', async () => {
      const path = join(dir, 'v4.vault');
      const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
      const deadPid = Number(child.stdout.toString());
      writeFileSync(path + '.lock', JSON.stringify({ pid: deadPid, host: (await import('node:os')).hostname(), boot: '', since: 'then', token: 'x' }));
      const v = new FileVault(path, { passphrase: PASS, timeoutMs: 2000 });
      await v.put(rec(7));
      assert.equal(existsSync(path + '.lock'), false);
      writeFileSync(path + '.lock', 'garbage');
      const old = new Date(Date.now() - 60_000);
      utimesSync(path + '.lock', old, old);
      await v.put(rec(8));
      assert.equal((await v.list()).length, 2);
    });

    it('waits for a live lock and then gives up with its owner named', async () => {
      const path = join(dir, 'v5.vault');
      writeFileSync(path + '.lock', JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), boot: '', since: 'now', token: 'someone-else' }));
      const v = new FileVault(path, { passphrase: PASS, timeoutMs: 300 });
      await rejects(v.put(rec(9)), 'ESCROW_LOCKED', new RegExp(`process ${process.pid}`));
      assert.equal(existsSync(path), false);
      assert.ok(existsSync(path + '.lock'), 'a live lock is left alone');
    });

    it('two processes adding 20 records each: all 40 are there', async () => {
      const path = join(dir, 'v6.vault');
      const script = join(dir, 'writer.mjs');
      writeFileSync(script, `
        import { FileVault } from ${JSON.stringify(ROOT + 'dist/host/escrow/vault.js')};
        import { newRecord } from ${JSON.stringify(ROOT + 'dist/host/escrow/store.js')};
        import { randomBytes } from 'node:crypto';
        const [path, prefix] = process.argv.slice(2);
        const v = new FileVault(path, { passphrase: ${JSON.stringify(PASS)} });
        for (let i = 0; i < 20; i++) {
          await v.put(newRecord({ deviceId: prefix + i.toString(16).padStart(2, '0'), chip: 'esp32c3', block: 'BLOCK_KEY1', purpose: 'HMAC_UP', key: new Uint8Array(randomBytes(32)) }));
        }
      `);
      const run = (prefix: string) => new Promise<number>((resolve, reject) => {
        const c = spawn(process.execPath, [script, path, prefix], { stdio: ['ignore', 'inherit', 'inherit'] });
        c.on('error', reject);
        c.on('close', (code) => resolve(code ?? -1));
      });
      assert.deepEqual(await Promise.all([run('0a00000000'), run('0b00000000')]), [0, 0]);
      const list = await new FileVault(path, { passphrase: PASS }).list();
      assert.equal(list.length, 40);
      assert.equal(new Set(list.map((e) => e.deviceId)).size, 40);
      assert.equal(readFileSync(path).readUInt32BE(76), 40, 'one generation per write, none lost');
    });
  });

  describe('failing file systems (tmpfs mounts: root only)', function () {
    let mnt = '';
    let mounted = false;
    before(function () {
      mnt = join(dir, 'mnt');
      mounted = false;
      execFileSync('mkdir', ['-p', mnt]);
      const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt]);
      if (r.status !== 0) this.skip();
      mounted = true;
    });
    after(() => { if (mounted) spawnSync('umount', ['-l', mnt]); });

    it('a read-only directory: clean EscrowError, vault intact and readable', async () => {
      const path = join(mnt, 'ro.vault');
      const v = new FileVault(path, { passphrase: PASS });
      await v.put(rec(10));
      const before = readFileSync(path);
      assert.equal(spawnSync('mount', ['-o', 'remount,ro', mnt]).status, 0);
      try {
        await rejects(v.put(rec(11)), 'ESCROW_IO', /read-only \(EROFS\); nothing was changed/);
        assert.deepEqual(readFileSync(path), before);
        assert.equal((await v.list()).length, 1);
      } finally {
        spawnSync('mount', ['-o', 'remount,rw', mnt]);
      }
    });

    it('a full disk: clean EscrowError, vault intact, no temp or lock file left', async () => {
      const path = join(mnt, 'full.vault');
      const v = new FileVault(path, { passphrase: PASS });
      await v.put(rec(12));
      const before = readFileSync(path);
      // Fill the file system, then free one page: enough for the lock, not for a new vault copy.
      const filler = join(mnt, 'filler');
      spawnSync('sh', ['-c', `dd if=/dev/zero of=${filler} bs=4096 2>/dev/null; truncate -s -4096 ${filler}`]);
      try {
        const e = await rejects(v.put(rec(13)), 'ESCROW_IO', /^cannot write the vault .*disk is full \(ENOSPC\)/);
        assert.equal((e.cause as NodeJS.ErrnoException).code, 'ENOSPC', 'the cause is kept');
        assert.deepEqual(readFileSync(path), before);
        const left = execFileSync('ls', ['-A', mnt]).toString().trim().split('\n').sort();
        const names = ['filler', 'full.vault', 'full.vault.generation', 'ro.vault', 'ro.vault.generation'];
        assert.deepEqual(left, names.filter((n) => existsSync(join(mnt, n))).sort());
        assert.equal((await v.list()).length, 1);
      } finally {
        spawnSync('rm', ['-f', filler]);
      }
      await v.put(rec(13));
      assert.equal((await v.list()).length, 2);
    });
  });
});
