// Private key files of the espefuse driver: the sweep of key directories left by a killed process.
// It runs in a shared, world-writable place (/dev/shm), so a name planted there by another local user
// — a symbolic link as key.bin, a link as the directory, a directory of someone else — must never
// make it write to, or remove, anything but its own leftovers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  accessSync, chmodSync, chownSync, closeSync, constants, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync,
  symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { keyDirBase, sweepKeyDirs, withPrivateKeyFile } from '../host/espefuse/driver.js';

/** What a descriptor kept open on a file reads now (the bytes of the inode, even once unlinked). */
function readFd(fd: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  readSync(fd, b, 0, n, 0);
  return b;
}
const fds = (): number => readdirSync('/proc/self/fd').length;
const ROOT = process.getuid?.() === 0;

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

  it('the key file is overwritten with zeros before it is removed, and closed', async () => {
    const dir = join(base, `efuse-attest-key-${deadPid()}-wipe`);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'key.bin'), Buffer.alloc(32, 0x5a), { mode: 0o600 });
    const fd = openSync(join(dir, 'key.bin'), 'r');
    try {
      const before = fds();
      assert.equal(await sweepKeyDirs(base), 1);
      assert.equal(fds(), before, 'no descriptor left open');
      assert.deepEqual(readFd(fd, 32), Buffer.alloc(32), 'zeroed');
    } finally { closeSync(fd); }
    assert.equal(existsSync(dir), false);
  });

  it('a hard link planted as key.bin: removed, but the file it shares keeps its bytes', async () => {
    const victim = join(outside, 'victim.dat');
    writeFileSync(victim, Buffer.alloc(32, 0x44));
    const dir = join(base, `efuse-attest-key-${deadPid()}-hardlink`);
    mkdirSync(dir, { mode: 0o700 });
    linkSync(victim, join(dir, 'key.bin'));
    assert.equal(await sweepKeyDirs(base), 1);
    assert.deepEqual(readFileSync(victim), Buffer.alloc(32, 0x44));
  });

  it('a key.bin or a directory of another user is not written', async function () {
    if (!ROOT) this.skip(); // only root can make them
    const dir = join(base, `efuse-attest-key-${deadPid()}-theirs`);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'key.bin'), Buffer.alloc(32, 0x45), { mode: 0o600 });
    chownSync(join(dir, 'key.bin'), 54321, 54321);
    const fd = openSync(join(dir, 'key.bin'), 'r');
    try {
      assert.equal(await sweepKeyDirs(base), 1);
      assert.deepEqual(readFd(fd, 32), Buffer.alloc(32, 0x45), 'their file keeps its bytes');
    } finally { closeSync(fd); }
    const other = join(base, `efuse-attest-key-${deadPid()}-otheruser`);
    mkdirSync(other, { mode: 0o700 });
    writeFileSync(join(other, 'key.bin'), Buffer.alloc(32, 0x46));
    chownSync(other, 54321, 54321);
    assert.equal(await sweepKeyDirs(base), 0);
    assert.deepEqual(readFileSync(join(other, 'key.bin')), Buffer.alloc(32, 0x46));
  });

  it('a live process\'s directory and names without the prefix are left alone', async () => {
    const live = join(base, `efuse-attest-key-${process.pid}-live`);
    const other = join(base, 'other-0700');
    for (const d of [live, other]) {
      mkdirSync(d, { mode: 0o700 });
      writeFileSync(join(d, 'key.bin'), Buffer.alloc(32, 0x47));
    }
    assert.equal(await sweepKeyDirs(base), 0);
    for (const d of [live, other]) assert.deepEqual(readFileSync(join(d, 'key.bin')), Buffer.alloc(32, 0x47));
  });

  it('keyDirBase: /dev/shm when this user can write there, else the temp directory', () => {
    let shm = true;
    try { accessSync('/dev/shm', constants.W_OK | constants.X_OK); } catch { shm = false; }
    assert.equal(keyDirBase(), shm ? '/dev/shm' : tmpdir());
  });

  it('withPrivateKeyFile: a directory named by this pid; the file zeroed and closed afterwards', async () => {
    let fd = -1;
    const before = fds();
    await withPrivateKeyFile(new Uint8Array(32).fill(9), async (path) => {
      assert.equal(dirname(dirname(path)), keyDirBase());
      assert.match(basename(dirname(path)), new RegExp(`^efuse-attest-key-${process.pid}-`));
      fd = openSync(path, 'r');
    });
    try {
      assert.deepEqual(readFd(fd, 32), Buffer.alloc(32));
      assert.equal(fds(), before + 1, 'only the descriptor of this test is open');
    } finally { closeSync(fd); }
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
