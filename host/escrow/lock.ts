// An exclusive lock file for read-merge-write of the vault across processes (docs/provisioning.md
// §3.3). The lock is created with O_CREAT|O_EXCL and holds {pid, host, boot, since, token}. A lock
// whose process is gone (same host: the pid no longer exists, or the machine rebooted since) is stale
// and is broken — under a second "breaker" lock, so two waiters can never both break it and delete
// a fresh lock taken in between.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { describeIoError } from '../atomic.js';
import { EscrowError } from '../errors.js';

export interface LockOptions {
  /** Give up waiting after this long (default 30 s). */
  timeoutMs?: number;
  /** A lock file with no readable owner older than this is stale (default 10 s). */
  unownedStaleMs?: number;
}

interface Owner { pid: number; host: string; boot: string; since: string; token: string }

let bootId: string | undefined;
function currentBoot(): string {
  if (bootId === undefined) {
    try { bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { bootId = ''; }
  }
  return bootId;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Owner;
    return Number.isInteger(o.pid) && typeof o.host === 'string' && typeof o.token === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function readIfExists(path: string): Promise<string | undefined> {
  try { return await readFile(path, 'utf8'); } catch { return undefined; }
}

async function ageMs(path: string): Promise<number> {
  try { return Date.now() - (await stat(path)).mtimeMs; } catch { return 0; }
}

/** A held lock; release() removes it only if it is still ours. */
export class FileLock {
  private constructor(readonly path: string, private readonly token: string) {}

  static async acquire(path: string, what: string, opts: LockOptions = {}): Promise<FileLock> {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    const unownedStale = opts.unownedStaleMs ?? 10_000;
    const token = randomBytes(12).toString('hex');
    const owner: Owner = { pid: process.pid, host: hostname(), boot: currentBoot(), since: new Date().toISOString(), token };
    let delay = 5;
    for (;;) {
      let fh: Awaited<ReturnType<typeof open>> | undefined;
      try {
        fh = await open(path, 'wx', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new EscrowError(`cannot lock ${what} (${path}): ${describeIoError(err)}; nothing was changed`, 'ESCROW_IO', { cause: err });
        }
      }
      if (fh) {
        try {
          await fh.writeFile(JSON.stringify(owner));
          await fh.close();
          return new FileLock(path, token);
        } catch (err) {
          // Our own half-written lock (disk full): remove it, it is nobody else's.
          await fh.close().catch(() => {});
          await unlink(path).catch(() => {});
          throw new EscrowError(`cannot lock ${what} (${path}): ${describeIoError(err)}; nothing was changed`, 'ESCROW_IO', { cause: err });
        }
      }
      const seen = await readIfExists(path);
      if (seen === undefined) continue; // released between our open and read: try again now
      const o = parseOwner(seen);
      const stale = o
        ? o.host === hostname() && ((o.boot !== '' && currentBoot() !== '' && o.boot !== currentBoot()) || !alive(o.pid))
        : (await ageMs(path)) > unownedStale;
      // Broken (or found gone): try again at once. Another process breaking it: wait, as for a live owner.
      if (stale && (await breakStale(path, seen, unownedStale))) continue;
      if (Date.now() >= deadline) {
        const who = o ? `process ${o.pid} on ${o.host} since ${o.since}` : 'an unknown process';
        throw new EscrowError(`${what} is locked by ${who}; if no efuse-attest is running there, remove ${path}`, 'ESCROW_LOCKED');
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 100);
    }
  }

  async release(): Promise<void> {
    const text = await readIfExists(this.path);
    if (text !== undefined && parseOwner(text)?.token === this.token) await unlink(this.path).catch(() => {});
  }
}

/**
 * Removes the stale lock at `path` if it still holds exactly `seen`, under the breaker lock. False
 * when another process holds the breaker (it is breaking the lock now), true otherwise.
 */
async function breakStale(path: string, seen: string, unownedStale: number): Promise<boolean> {
  const breaker = path + '.break';
  let fh;
  try {
    fh = await open(breaker, 'wx', 0o600);
  } catch (err) {
    // Another process is breaking it; a breaker left by a crash is itself removed when old.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await ageMs(breaker)) > unownedStale) await unlink(breaker).catch(() => {});
    return false;
  }
  try {
    await fh.close();
    if ((await readIfExists(path)) === seen) await unlink(path).catch(() => {});
  } finally {
    await unlink(breaker).catch(() => {});
  }
  return true;
}
