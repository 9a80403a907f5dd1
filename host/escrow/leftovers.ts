// Clean-up of temporary files left by a process killed mid-write (docs/provisioning.md §3.3):
// writeFileAtomic names its temp file `.<name>.<pid>.<12 hex>.tmp` beside the target, so after a
// SIGKILL a key file's temp copy (raw key bytes) or an older vault generation can stay behind.
// Removed only when it is safe: a regular file (never a symlink, never followed), owned by this user,
// with a single link, whose writer's pid is gone on this machine. Key copies are overwritten with
// zeros through a descriptor opened without following links and checked to be that same file.
import { constants } from 'node:fs';
import { lstat, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const TMP_RE = /^\.(.+)\.(\d+)\.([0-9a-f]{12})\.tmp$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LeftoverOptions {
  /** Which target names' temp files to consider (the part between the leading dot and the pid). */
  names: (target: string, size: number) => boolean;
  /** Overwrite with zeros before unlinking (temp copies of keys). */
  wipe?: boolean;
}

/** Removes this user's dead writers' temp files in `dir`; returns the names removed. Never throws. */
export async function cleanLeftovers(dir: string, opts: LeftoverOptions): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try { names = await readdir(dir); } catch { return removed; }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = TMP_RE.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    try {
      const st = await lstat(path);
      if (!st.isFile() || st.nlink !== 1 || (uid !== undefined && st.uid !== uid)) continue;
      if (!opts.names(m[1]!, st.size)) continue;
      const pid = Number(m[2]);
      if (!Number.isSafeInteger(pid) || pid <= 0 || alive(pid)) continue;
      if (opts.wipe && st.size > 0) {
        const fh = await open(path, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
        try {
          const now = await fh.stat();
          if (now.ino !== st.ino || now.dev !== st.dev || !now.isFile() || now.nlink !== 1) continue;
          await fh.write(Buffer.alloc(now.size), 0, now.size, 0);
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      await unlink(path);
      removed.push(name);
    } catch {
      // Gone already, or not ours to touch: leave it.
    }
  }
  return removed;
}

/** Temp copies of raw key files (`*.bin`, 32 bytes) and of `target` itself, in its directory. */
export function keyFileLeftovers(target: string): LeftoverOptions {
  return { names: (t, size) => t === target || (t.endsWith('.bin') && size <= 32), wipe: true };
}
