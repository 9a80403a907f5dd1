// Private key files of the espefuse driver: the sweep of key directories left by a killed process.
// It runs in a shared, world-writable place (/dev/shm), so a name planted there by another local user
// — a symbolic link as key.bin, a link as the directory, a directory of someone else — must never
// make it write to, or remove, anything but its own leftovers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepKeyDirs, withPrivateKeyFile } from '../host/espefuse/driver.js';

/** The pid of a process that has exited (and so is free, barring a quick reuse). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('key files: the sweep of leftover key directories', () => {
  let base: string;
  let outside: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'efa-keybase-'));
    outside = mkdtempSync(join(tmpdir(), 'efa-victim-'));
  });
  afterEach(() => { rmSync(base, { recursive: true, force: true }); rmSync(outside, { recursive: true, force: true }); });

  it('wipes and removes a leftover of a dead process (a real 0700 directory of this user)', async () => {
    const dir = join(base, `efuse-attest-key-${deadPid()}-abc123`);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'key.bin'), Buffer.alloc(32, 0x5a), { mode: 0o600 });
    assert.equal(await sweepKeyDirs(base), 1);
    assert.equal(existsSync(dir), false);
  });

  it('a symbolic link planted as key.bin: the file it points to keeps its bytes', async () => {
    const victim = join(outside, 'victim.dat');
    writeFileSync(victim, Buffer.alloc(64, 0x41));
    const dir = join(base, `efuse-attest-key-${deadPid()}-planted`);
    mkdirSync(dir, { mode: 0o700 });
    symlinkSync(victim, join(dir, 'key.bin'));
    await sweepKeyDirs(base);
    assert.deepEqual(readFileSync(victim), Buffer.alloc(64, 0x41), 'the target of the link was not written');
  });

  it('a symbolic link planted as the directory: nothing behind it is written or removed', async () => {
    const victimDir = join(outside, 'dir');
    mkdirSync(victimDir, { mode: 0o700 });
    writeFileSync(join(victimDir, 'key.bin'), Buffer.alloc(32, 0x42));
    const link = join(base, `efuse-attest-key-${deadPid()}-linked`);
    symlinkSync(victimDir, link);
    assert.equal(await sweepKeyDirs(base), 0);
    assert.deepEqual(readFileSync(join(victimDir, 'key.bin')), Buffer.alloc(32, 0x42));
    assert.ok(existsSync(link), 'a name that is not ours is left alone');
  });

  it('a directory open to others is not ours: left alone', async () => {
    const dir = join(base, `efuse-attest-key-${deadPid()}-open`);
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    writeFileSync(join(dir, 'key.bin'), Buffer.alloc(32, 0x43));
    assert.equal(await sweepKeyDirs(base), 0);
    assert.deepEqual(readFileSync(join(dir, 'key.bin')), Buffer.alloc(32, 0x43));
  });

  it('a FIFO planted as key.bin does not block the sweep', async function () {
    this.timeout(5000);
    const dir = join(base, `efuse-attest-key-${deadPid()}-fifo`);
    mkdirSync(dir, { mode: 0o700 });
    const mk = spawnSync('mkfifo', [join(dir, 'key.bin')]);
    if (mk.status !== 0) this.skip();
    assert.equal(await sweepKeyDirs(base), 1);
  });

  it('withPrivateKeyFile: the key is in a 0600 file during the call and gone afterwards', async () => {
    let seen = '';
    await withPrivateKeyFile(new Uint8Array(32).fill(7), async (path) => {
      seen = path;
      assert.deepEqual(readFileSync(path), Buffer.alloc(32, 7));
    });
    assert.equal(existsSync(seen), false);
  });
});
