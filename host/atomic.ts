// Durable file replacement: write a temporary file in the same directory, fsync it, rename it over
// the target, fsync the directory. Readers see the old file or the new one, never a mix, and once
// this resolves the new content survives a power cut. Used for the escrow vault, the silicon side
// file of virtual chips and key files.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Short words for the errno codes an operator can act on. */
const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'it is a directory',
  EIO: 'input/output error',
  EEXIST: 'the file already exists',
};

/** "the disk is full (ENOSPC)" for an fs error; the plain message for anything else. */
export function describeIoError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string') return `${ERRNO_WORDS[code] ?? 'I/O error'} (${code})`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * The file-system calls of this module, in one place: the order of fsync and rename is the whole
 * point here, and a test checks it by passing its own (recording) operations in `AtomicOptions.ops`.
 */
export interface FileOps {
  open: typeof open;
  link: typeof link;
  rename: typeof rename;
  unlink: typeof unlink;
}

const NODE_OPS: FileOps = Object.freeze({ open, link, rename, unlink });

/** fsync a directory so a rename or a new entry in it is durable. */
export async function syncDir(dir: string, ops: FileOps = NODE_OPS): Promise<void> {
  const fh = await ops.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } catch (err) {
    // Some file systems cannot fsync a directory; the rename is as durable as they allow.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR') throw err;
  } finally {
    await fh.close();
  }
}

export interface AtomicOptions {
  /** Mode of the new file (default 0o600: only the owner reads it). */
  mode?: number;
  /** Refuse to replace an existing file: fails with EEXIST, atomically (link instead of rename). */
  exclusive?: boolean;
  /** The file-system calls to use (default node:fs/promises). */
  ops?: FileOps;
}

/**
 * Atomically replaces `path` with `data`. On any failure the temporary file is removed, `path` is
 * untouched, and the fs error is rethrown as is (callers wrap it in their own error type).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicOptions = {}): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const ops = opts.ops ?? NODE_OPS;
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await ops.open(tmp, 'wx', opts.mode ?? 0o600);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (opts.exclusive) {
      // link(2) fails with EEXIST instead of replacing: the exclusive variant of rename.
      await ops.link(tmp, path);
      await ops.unlink(tmp);
    } else {
      await ops.rename(tmp, path);
    }
  } catch (err) {
    if (fh) await fh.close().catch(() => {});
    await ops.unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dir, ops);
}
