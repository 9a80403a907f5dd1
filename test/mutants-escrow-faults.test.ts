// Escrow code under conditions the other escrow tests cannot make as root in one process. The lock
// file and the leftover clean-up: another user (kill(2) answers EPERM, a read-only file cannot be
// opened for writing), a full disk (a file-size limit), a boot id read fresh or not readable at all,
// the clock at an exact age, the back-off sequence, and another process acting between two file
// calls. The file vault: how often scrypt runs and the memory it may use, plaintext buffers
// overwritten, read-back failures, the wrapped file key's length. PKCS#11: the library finalised by
// the last close, a login refused for another reason than the PIN, a keyring with nothing cached.
// Some run in a child process (test/support/child-call.ts); the others hook the clock, timers,
// Buffer or a built-in's function in this process for one call and put them back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, chownSync, existsSync, linkSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeIoError } from '../host/atomic.js';
import { EscrowError } from '../host/errors.js';
import { cleanLeftovers, keyFileLeftovers } from '../host/escrow/leftovers.js';
import type { Kek } from '../host/escrow/envelope.js';
import { FileLock } from '../host/escrow/lock.js';
import type { EscrowRecord } from '../host/escrow/store.js';
import { CHECK_MESSAGE, encodeHeader, FORMAT_1, HEADER_SIZE, KDF_SCRYPT, KDF_LIMITS, MAX_SCRYPT_MEM, readHeader } from '../host/escrow/vault-format.js';
import { FileVault } from '../host/escrow/vault.js';
import { toHex } from '../protocol/index.js';
import { ioError, withBuiltinHook } from './support/builtin-hooks.js';
import { callInChild, canSwitchUser, distModule, NOBODY } from './support/child-call.js';
import { codedError } from './support/errors.js';
import { haveSoftHsm } from './support/softhsm.js';

const escrowError = (code: string, msg: string | RegExp) => codedError(EscrowError, code, msg);
const deadPid = (): number => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
const BOOT_ID = '/proc/sys/kernel/random/boot_id';
const bootId = (): string => (existsSync(BOOT_ID) ? readFileSync(BOOT_ID, 'utf8').trim() : '');
const owner = (over: Record<string, unknown> = {}): string => JSON.stringify({ pid: process.pid, host: hostname(), boot: '', since: 's', token: 't', ...over });
const LOCK = distModule('host/escrow/lock.js');

/** Whether `p` settles within `ms` (real time; the clock may be frozen). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<false>((r) => { timer = setTimeout(() => r(false), ms); });
  try {
    return await Promise.race([p.then(() => true, () => true), t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` with Date.now() reading `at()`. */
async function withClock<T>(at: () => number, fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = at;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

/** An mtime `ms` before `t`, with `t` a whole second so that mtimeMs is exact. */
const setAge = (path: string, t: number, ms: number): void => {
  const s = (t - ms) / 1000;
  utimesSync(path, s, s);
};

describe('escrow lock file: other users, a full disk, the boot id, the clock and races', function () {
  this.timeout(30_000);
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-lockf-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('as another user: a live owner it may not signal (kill answers EPERM) still holds the lock', async function () {
    if (!canSwitchUser()) this.skip();
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    const path = join(dir, 'v.lock');
    writeFileSync(path, owner());
    const r = await callInChild(LOCK, 'FileLock.acquire', { args: [path, 'the vault', { timeoutMs: 50 }], user: NOBODY });
    assert.equal(r.ok, false);
    assert.equal(r.error?.code, 'ESCROW_LOCKED');
    assert.match(r.error?.message ?? '', new RegExp(`^the vault is locked by process ${process.pid} on `));
    assert.equal(readFileSync(path, 'utf8'), owner(), 'the lock is left as it was');
  });

  it('a fresh process records the trimmed boot id, and a live owner without one holds the lock', async () => {
    const path = join(dir, 'v.lock');
    const r = await callInChild(LOCK, 'FileLock.acquire', { args: [path, 'the vault'] });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.equal((JSON.parse(readFileSync(path, 'utf8')) as { boot: string }).boot, bootId());
    writeFileSync(path, owner());
    const held = await callInChild(LOCK, 'FileLock.acquire', { args: [path, 'the vault', { timeoutMs: 50 }] });
    assert.equal(held.error?.code, 'ESCROW_LOCKED', 'no boot id recorded: the live pid decides');
    if (bootId() !== '') {
      writeFileSync(path, owner({ boot: 'another-boot' }));
      const broken = await callInChild(LOCK, 'FileLock.acquire', { args: [path, 'the vault', { timeoutMs: 50 }] });
      assert.equal(broken.ok, true, 'a live pid of another boot is another process');
    }
  });

  it('without a readable boot id: the owner records none, and a live pid is not judged by its boot', async () => {
    const path = join(dir, 'v.lock');
    const before = [{ module: distModule('test/support/builtin-hooks.js'), fn: 'failReadsOf', args: [BOOT_ID] }];
    const r = await callInChild(LOCK, 'FileLock.acquire', { args: [path, 'the vault'], before });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.equal((JSON.parse(readFileSync(path, 'utf8')) as { boot: string }).boot, '');
    writeFileSync(path, owner({ boot: 'another-boot' }));
    const held = await callInChild(LOCK, 'FileLock.acquire', { args: [path, 'the vault', { timeoutMs: 50 }], before });
    assert.equal(held.error?.code, 'ESCROW_LOCKED');
  });

  it('a full disk (EFBIG under a file-size limit): ESCROW_IO with its cause, and the half-made lock removed', async () => {
    const path = join(dir, 'v.lock');
    const r = await callInChild(LOCK, 'FileLock.acquire', { args: [path, 'the vault', { timeoutMs: 50 }], fileSizeBlocks: 0 });
    assert.deepEqual(r.error, {
      name: 'EscrowError', code: 'ESCROW_IO', causeCode: 'EFBIG',
      message: `cannot lock the vault (${path}): ${describeIoError(ioError('EFBIG'))}; nothing was changed`,
    });
    assert.ok(!existsSync(path), 'its own empty lock file is removed');
  });

  it('an unowned lock exactly unownedStaleMs old is not stale yet; 1 ms older it is', async () => {
    const path = join(dir, 'v.lock');
    const t = Math.floor(Date.now() / 1000) * 1000;
    writeFileSync(path, '');
    setAge(path, t, 1000);
    await withClock(() => t, () => assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 0, unownedStaleMs: 1000 }), escrowError('ESCROW_LOCKED', /an unknown process/)));
    assert.equal(readFileSync(path, 'utf8'), '');
    const l = await withClock(() => t + 1, () => FileLock.acquire(path, 'the vault', { timeoutMs: 0, unownedStaleMs: 1000 }));
    await l.release();
  });

  it('gives up once the clock reaches the deadline, not only past it', async () => {
    const path = join(dir, 'v.lock');
    writeFileSync(path, owner());
    const t = Date.now();
    const real = Date.now;
    Date.now = () => t;
    const p = FileLock.acquire(path, 'the vault', { timeoutMs: 0 });
    p.catch(() => {});
    try {
      assert.ok(await settlesWithin(p, 500), 'still waiting with the clock at the deadline');
    } finally {
      Date.now = real;
    }
    await assert.rejects(p, escrowError('ESCROW_LOCKED', /locked by process/));
  });

  it('a breaker exactly unownedStaleMs old is left to its owner', async () => {
    const path = join(dir, 'v.lock');
    const t = Math.floor(Date.now() / 1000) * 1000;
    writeFileSync(path, '');
    setAge(path, t, 5000);
    writeFileSync(path + '.break', '');
    setAge(path + '.break', t, 1000);
    await withClock(() => t, () => assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 0, unownedStaleMs: 1000 }), escrowError('ESCROW_LOCKED', /an unknown process/)));
    assert.ok(existsSync(path + '.break') && existsSync(path));
  });

  it('backs off 5 ms, doubling to 100 ms, each plus up to as much again at random', async () => {
    const path = join(dir, 'v.lock');
    writeFileSync(path, owner());
    const slept: number[] = [];
    const realTimeout = globalThis.setTimeout;
    const realRandom = Math.random;
    Math.random = () => 0.5;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      slept.push(ms ?? 0);
      if (slept.length === 8) rmSync(path);
      return realTimeout(fn, 0);
    }) as typeof setTimeout;
    try {
      const l = await FileLock.acquire(path, 'the vault', { timeoutMs: 10_000 });
      await l.release();
    } finally {
      globalThis.setTimeout = realTimeout;
      Math.random = realRandom;
    }
    assert.deepEqual(slept, [7.5, 15, 30, 60, 120, 150, 150, 150]);
  });

  it('a breaker that cannot be opened for another reason (EMFILE) is not removed, however old', async () => {
    const path = join(dir, 'v.lock');
    const breaker = path + '.break';
    const t = Math.floor(Date.now() / 1000) * 1000;
    writeFileSync(path, '');
    setAge(path, t, 5000);
    writeFileSync(breaker, '');
    setAge(breaker, t, 5000);
    await withBuiltinHook('node:fs/promises', 'open', (orig: (...a: unknown[]) => Promise<FileHandle>) => async (...a: unknown[]) => {
      if (a[0] === breaker) throw ioError('EMFILE', 'too many open files');
      return orig(...a);
    }, async () => {
      await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 0, unownedStaleMs: 1000 }), escrowError('ESCROW_LOCKED', /an unknown process/));
    });
    assert.ok(existsSync(breaker));
  });

  it('a stale lock replaced by a live one while it is being broken is left alone', async () => {
    const path = join(dir, 'v.lock');
    const breaker = path + '.break';
    writeFileSync(path, owner({ pid: deadPid() }));
    const fresh = owner({ token: 'fresh' });
    await withBuiltinHook('node:fs/promises', 'open', (orig: (...a: unknown[]) => Promise<FileHandle>) => async (...a: unknown[]) => {
      // Another process broke it and took it between this one's read and its breaker.
      if (a[0] === breaker && !existsSync(breaker)) writeFileSync(path, fresh);
      return orig(...a);
    }, async () => {
      await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 0 }), escrowError('ESCROW_LOCKED', new RegExp(`locked by process ${process.pid} `)));
    });
    assert.equal(readFileSync(path, 'utf8'), fresh);
    assert.ok(!existsSync(breaker));
  });
});

describe('escrow leftovers: other users, and files changed between the check and the open', function () {
  this.timeout(30_000);
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-leftf-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const tmpName = (pid: number, name = 'v') => `.${name}.${pid}.0123456789ab.tmp`;

  it('as another user: a live writer it may not signal keeps its file; an empty read-only one is removed unopened; root\'s is left', async function () {
    if (!canSwitchUser()) this.skip();
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    const dead = deadPid();
    const live = join(dir, tmpName(process.pid));
    const empty = join(dir, tmpName(dead));
    const roots = join(dir, tmpName(dead, 'w'));
    writeFileSync(live, 'x');
    writeFileSync(empty, '');
    writeFileSync(roots, 'x');
    chownSync(live, NOBODY.uid, NOBODY.gid);
    chownSync(empty, NOBODY.uid, NOBODY.gid);
    chmodSync(empty, 0o400);
    const r = await callInChild(distModule('test/support/escrow-child.js'), 'cleanAllWiping', { args: [dir], user: NOBODY });
    assert.deepEqual(r, { ok: true, value: [tmpName(dead)] });
    assert.deepEqual(readdirSync(dir).sort(), [tmpName(process.pid), tmpName(dead, 'w')].sort());
  });

  it('a key copy swapped for another file after its check is neither wiped nor removed', async () => {
    const p = join(dir, tmpName(deadPid(), 'k.bin'));
    writeFileSync(p, Buffer.alloc(32, 0x77));
    await withBuiltinHook('node:fs/promises', 'open', (orig: (...a: unknown[]) => Promise<FileHandle>) => async (...a: unknown[]) => {
      if (a[0] === p) {
        writeFileSync(join(dir, 'other'), Buffer.alloc(32, 0x55));
        renameSync(join(dir, 'other'), p);
      }
      return orig(...a);
    }, async () => {
      assert.deepEqual(await cleanLeftovers(dir, keyFileLeftovers('k.bin')), []);
    });
    assert.deepEqual(readFileSync(p), Buffer.alloc(32, 0x55));
  });

  it('a key copy given a second link after its check is neither wiped nor removed', async () => {
    const p = join(dir, tmpName(deadPid(), 'k.bin'));
    writeFileSync(p, Buffer.alloc(32, 0x77));
    await withBuiltinHook('node:fs/promises', 'open', (orig: (...a: unknown[]) => Promise<FileHandle>) => async (...a: unknown[]) => {
      if (a[0] === p && !existsSync(join(dir, 'other'))) linkSync(p, join(dir, 'other'));
      return orig(...a);
    }, async () => {
      assert.deepEqual(await cleanLeftovers(dir, keyFileLeftovers('k.bin')), []);
    });
    assert.deepEqual(readFileSync(p), Buffer.alloc(32, 0x77));
    assert.deepEqual(readFileSync(join(dir, 'other')), Buffer.alloc(32, 0x77));
  });

  it('the wipe closes the descriptor it opened', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    writeFileSync(join(dir, tmpName(deadPid(), 'k.bin')), Buffer.alloc(32, 0x77));
    const before = fds();
    assert.equal((await cleanLeftovers(dir, keyFileLeftovers('k.bin'))).length, 1);
    assert.equal(fds(), before);
  });
});

describe('escrow file vault: scrypt calls, wiped plaintext, read-back faults and the wrapped file key\'s length', function () {
  this.timeout(30_000);
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-vaultf-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const KEY = new Uint8Array(32).fill(0x5c);
  const rec = (deviceId = '7cdfa1000001'): EscrowRecord => ({
    deviceId, chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: KEY,
    createdAt: '2026-01-02T03:04:05.678Z', updatedAt: '2026-01-02T03:04:05.678Z', state: 'escrowed',
  });
  const KDF = { log2N: 14, r: 1, p: 1 };

  /** A format-1 vault (docs/provisioning.md §3.1): the whole file under the scrypt key, keys in clear inside. */
  function format1(pass: string, kdf: { log2N: number; r: number; p: number }, records: EscrowRecord[]): Buffer {
    const salt = new Uint8Array(32).fill(3);
    const out = scryptSync(Buffer.from(pass, 'utf8'), salt, 64, { N: 2 ** kdf.log2N, r: kdf.r, p: kdf.p, maxmem: 64 * 1024 * 1024 });
    const check = createHmac('sha256', out.subarray(32)).update(CHECK_MESSAGE).digest().subarray(0, 16);
    const nonce = new Uint8Array(12).fill(1);
    const head = encodeHeader({ format: FORMAT_1, kekKind: KDF_SCRYPT, kdf, salt, check, nonce, generation: 1 });
    const c = createCipheriv('aes-256-gcm', out.subarray(0, 32), nonce, { authTagLength: 16 });
    c.setAAD(head);
    const body = Buffer.concat([c.update(JSON.stringify({ format: 1, records: records.map((r) => ({ ...r, key: toHex(r.key) })) })), c.final()]);
    return Buffer.concat([head, body, c.getAuthTag()]);
  }

  /** A KEK whose wrapped form is a random handle of `size` bytes (a token keeping the keys itself). */
  function handleKek(id: string, size: number, kept = new Map<string, Uint8Array>()): Kek {
    return {
      id,
      async wrap(dk) { const h = randomBytes(size); kept.set(h.toString('hex'), Uint8Array.from(dk)); return h; },
      async unwrap(w) { const k = kept.get(Buffer.from(w).toString('hex')); if (!k) throw new Error('unknown handle'); return Uint8Array.from(k); },
    };
  }

  it('format 1: scrypt runs once for an instance, however often it reads the file', async () => {
    const path = join(dir, 'f1.vault');
    writeFileSync(path, format1('pw', KDF, [rec()]));
    let calls = 0;
    await withBuiltinHook('node:crypto', 'scryptSync', (orig: (...a: unknown[]) => Buffer) => (...a: unknown[]) => { calls++; return orig(...a); }, async () => {
      const v = new FileVault(path, { passphrase: 'pw' });
      assert.equal((await v.list()).length, 1);
      assert.deepEqual((await v.get('7cdfa1000001'))?.key, KEY);
    });
    assert.equal(calls, 1);
  });

  it('format 1: scrypt may use the memory the costliest header within the limits needs', async () => {
    // N = 2^18, r = 16 is the 512 MiB limit; p = 4 the most. OpenSSL needs 128·r·(N + 2) + 128·r·p bytes.
    const kdf = { log2N: 18, r: 16, p: KDF_LIMITS.p[1] };
    assert.equal(128 * 2 ** kdf.log2N * kdf.r, MAX_SCRYPT_MEM);
    const need = (k: { log2N: number; r: number; p: number }) => 128 * k.r * (2 ** k.log2N + 2) + 128 * k.r * k.p;
    // That is this Node's own rule, as a small case shows.
    const small = { log2N: 14, r: 2, p: 3 };
    scryptSync('', 'salt', 1, { N: 2 ** small.log2N, r: small.r, p: small.p, maxmem: need(small) });
    assert.throws(() => scryptSync('', 'salt', 1, { N: 2 ** small.log2N, r: small.r, p: small.p, maxmem: need(small) - 1 }), { code: 'ERR_CRYPTO_INVALID_SCRYPT_PARAMS' });
    const path = join(dir, 'big.vault');
    const head = encodeHeader({ format: FORMAT_1, kekKind: KDF_SCRYPT, kdf, salt: new Uint8Array(32).fill(4), check: new Uint8Array(16), nonce: new Uint8Array(12), generation: 1 });
    writeFileSync(path, Buffer.concat([head, Buffer.alloc(64)]));
    const asked: { N: number; r: number; p: number; maxmem: number }[] = [];
    // Not the real 512 MiB derivation: the call is recorded and answered with zeros (a wrong passphrase).
    await withBuiltinHook('node:crypto', 'scryptSync', () => (...a: unknown[]) => { asked.push(a[3] as never); return Buffer.alloc(64); }, async () => {
      await assert.rejects(new FileVault(path, { passphrase: 'pw' }).list(), (e: unknown) => e instanceof EscrowError && e.code === 'ESCROW_PASSPHRASE');
    });
    assert.equal(asked.length, 1);
    assert.deepEqual({ N: asked[0]!.N, r: asked[0]!.r, p: asked[0]!.p }, { N: 2 ** 18, r: 16, p: 4 });
    assert.ok(asked[0]!.maxmem >= need(kdf), `maxmem ${asked[0]!.maxmem} < ${need(kdf)}`);
  });

  it('format 1: the decrypted body, every key in clear, is overwritten once parsed', async () => {
    const path = join(dir, 'f1.vault');
    writeFileSync(path, format1('pw', KDF, [rec()]));
    const hex = Buffer.from(toHex(KEY));
    const hits: Buffer[] = [];
    const realConcat = Buffer.concat;
    Buffer.concat = ((list: readonly Uint8Array[], n?: number) => {
      const b = realConcat(list, n);
      if (b.includes(hex)) hits.push(b);
      return b;
    }) as typeof Buffer.concat;
    try {
      assert.equal((await new FileVault(path, { passphrase: 'pw' }).list()).length, 1);
    } finally {
      Buffer.concat = realConcat;
    }
    assert.ok(hits.length >= 1, 'the body was decrypted');
    for (const b of hits) assert.ok(!b.includes(hex), 'a copy of the body still holds the key');
  });

  it('format 2: the plaintext of a write is overwritten once encrypted', async () => {
    const path = join(dir, 'v.vault');
    const hits: Buffer[] = [];
    const realFrom = Buffer.from;
    Buffer.from = ((...a: unknown[]) => {
      const b = (realFrom as (...x: unknown[]) => Buffer)(...a);
      if (typeof a[0] === 'string' && a[0].startsWith('{"format":2,')) hits.push(b);
      return b;
    }) as typeof Buffer.from;
    try {
      await new FileVault(path, { passphrase: 'pw', kdf: KDF }).put(rec());
    } finally {
      Buffer.from = realFrom;
    }
    assert.equal(hits.length, 1);
    assert.ok(hits[0]!.every((x) => x === 0));
  });

  /** Puts a second record with the vault's reads after its write answered by `readBack`. */
  async function putWithReadBack(readBack: (bytes: Buffer) => Buffer): Promise<void> {
    const path = join(dir, 'rb.vault');
    const v = new FileVault(path, { passphrase: 'pw', kdf: KDF });
    await v.put(rec());
    const before = readFileSync(path);
    await withBuiltinHook('node:fs/promises', 'readFile', (orig: (...a: unknown[]) => Promise<Buffer>) => async (...a: unknown[]) => {
      const r = await orig(...a);
      return a[0] === path && Buffer.isBuffer(r) && !r.equals(before) ? readBack(r) : r;
    }, async () => {
      await v.put(rec('7cdfa1000002'));
    });
  }

  it('a write whose read-back fails is ESCROW_READBACK, naming the read error', async () => {
    await assert.rejects(putWithReadBack(() => { throw ioError('EIO'); }),
      escrowError('ESCROW_READBACK', `the vault ${join(dir, 'rb.vault')} was written but does not read back (${describeIoError(ioError('EIO'))}); do not burn until this is resolved`));
  });

  it('a write that reads back other bytes is ESCROW_READBACK', async () => {
    await assert.rejects(putWithReadBack((b) => { const c = Buffer.from(b); c[c.length - 1]! ^= 1; return c; }),
      escrowError('ESCROW_READBACK', `the vault ${join(dir, 'rb.vault')} was written but does not read back (its bytes differ from what was written); do not burn until this is resolved`));
  });

  it('a KEK\'s wrapped file key of 28 bytes (AES-GCM\'s nonce and tag) is the shortest the format reads; 27 is refused before writing', async () => {
    const ok = new FileVault(join(dir, 'k28.vault'), { kek: handleKek('h28', 28) });
    await ok.put(rec());
    assert.equal(readFileSync(join(dir, 'k28.vault')).readUInt16BE(HEADER_SIZE), 28);
    assert.deepEqual((await ok.get('7cdfa1000001'))?.key, KEY);
    const short = new FileVault(join(dir, 'k27.vault'), { kek: handleKek('h27', 27) });
    await assert.rejects(short.put(rec()), escrowError('ESCROW_KEK', /wrapped the vault's file key into 27 bytes, outside 28\.\.65535; nothing was written/));
    assert.equal(existsSync(join(dir, 'k27.vault')), false, 'no file was written');
  });

  it('a file whose wrapped file key is under 28 bytes is refused as damaged, even by a KEK that would unwrap it', async () => {
    const kept = new Map<string, Uint8Array>();
    const kek = handleKek('h28', 28, kept);
    const path = join(dir, 's.vault');
    await new FileVault(path, { kek }).put(rec());
    const raw = readFileSync(path);
    const bodyStart = HEADER_SIZE + 2 + 28;
    const fileKey = kept.get(raw.subarray(HEADER_SIZE + 2, bodyStart).toString('hex'))!;
    // The same vault written by hand with a 27-byte handle that the KEK unwraps to the same file key,
    // and a body sealed under it: only the format's lower bound tells this file from a good one.
    const handle = randomBytes(27);
    kept.set(handle.toString('hex'), fileKey);
    const d = createDecipheriv('aes-256-gcm', fileKey, readHeader(raw, path).nonce);
    d.setAAD(raw.subarray(0, bodyStart));
    d.setAuthTag(raw.subarray(raw.length - 16));
    const plain = Buffer.concat([d.update(raw.subarray(bodyStart, raw.length - 16)), d.final()]);
    const aad = Buffer.concat([raw.subarray(0, HEADER_SIZE), Buffer.of(0, 27), handle]);
    const c = createCipheriv('aes-256-gcm', fileKey, readHeader(raw, path).nonce);
    c.setAAD(aad);
    writeFileSync(path, Buffer.concat([aad, c.update(plain), c.final(), c.getAuthTag()]));
    await assert.rejects(new FileVault(path, { kek }).list(), escrowError('ESCROW_TAMPERED', /failed its integrity check: it was altered or damaged \(the token key is right\)/));
  });

  it('an empty body under a valid tag decrypts: it is refused as content, not as damage', async () => {
    const kept = new Map<string, Uint8Array>();
    const kek = handleKek('h60', 60, kept);
    const path = join(dir, 'e.vault');
    await new FileVault(path, { kek }).put(rec());
    const raw = readFileSync(path);
    const bodyStart = HEADER_SIZE + 2 + raw.readUInt16BE(HEADER_SIZE);
    const fileKey = kept.get(raw.subarray(HEADER_SIZE + 2, bodyStart).toString('hex'))!;
    const c = createCipheriv('aes-256-gcm', fileKey, readHeader(raw, path).nonce);
    c.setAAD(raw.subarray(0, bodyStart));
    c.final();
    writeFileSync(path, Buffer.concat([raw.subarray(0, bodyStart), c.getAuthTag()]));
    await assert.rejects(new FileVault(path, { kek }).list(), escrowError('ESCROW_FORMAT', `the vault ${path} decrypts but its content is invalid (not JSON)`));
  });
});

describe('escrow PKCS#11 sessions in a process of their own (SoftHSM2)', function () {
  this.timeout(30_000);
  before(function () { if (!haveSoftHsm()) this.skip(); });
  const CHILD = distModule('test/support/escrow-child.js');

  it('the last close finalises the library: a token made afterwards is seen by the next open', async () => {
    assert.deepEqual(await callInChild(CHILD, 'reopenAfterLastClose'), { ok: true, value: ['first', 'second'] });
  });

  it('a keyring finds a key another keyring put into the token', async () => {
    assert.deepEqual(await callInChild(CHILD, 'secondKeyringHas'), { ok: true, value: [true, false] });
  });

  it('a login the token refuses for another reason than the PIN names the token\'s answer', async () => {
    const r = await callInChild(CHILD, 'loginWithoutUserPin');
    assert.deepEqual(r.error, {
      name: 'EscrowError', code: 'ESCROW_PIN', causeCode: 0x102, // the pkcs11js error, with the CKR value
      message: 'cannot log in to the PKCS#11 token "no-user-pin": CKR_USER_PIN_NOT_INITIALIZED; nothing was changed',
    });
  });
});
