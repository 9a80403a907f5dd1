// Atomic writes (host/atomic.ts): not only the resulting contents but the order of the file-system
// calls, which is what makes a write survive a power cut — the temporary file's data is fsync'd
// before the rename publishes it, and the directory is fsync'd after, so the rename itself is durable.
// The calls are recorded through the module's FileOps seam, each delegating to the real node:fs.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type FileOps, syncDir, writeFileAtomic } from '../host/atomic.js';

type Step = [op: string, path: string];

/** Real file operations that log every call, on the file and on its handle, in order. */
function recording(fail: Partial<Record<'rename' | 'link' | 'dirSync', NodeJS.ErrnoException>> = {}): { ops: FileOps; steps: Step[] } {
  const steps: Step[] = [];
  const name = (p: unknown) => basename(String(p));
  const ops: FileOps = {
    open: (async (path: string, flags?: string | number, mode?: number) => {
      const fh = await open(path, flags, mode);
      steps.push(['open', name(path)]);
      return new Proxy(fh, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver) as unknown;
          if (typeof v !== 'function' || !['writeFile', 'sync', 'datasync', 'close', 'write'].includes(String(prop))) {
            return typeof v === 'function' ? v.bind(target) : v;
          }
          return async (...args: unknown[]) => {
            steps.push([String(prop), name(path)]);
            if (prop === 'sync' && fail.dirSync && !String(path).endsWith('.tmp')) throw fail.dirSync;
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    }) as FileOps['open'],
    link: (async (a: string, b: string) => {
      steps.push(['link', `${name(a)}->${name(b)}`]);
      if (fail.link) throw fail.link;
      return link(a, b);
    }) as FileOps['link'],
    rename: (async (a: string, b: string) => {
      steps.push(['rename', `${name(a)}->${name(b)}`]);
      if (fail.rename) throw fail.rename;
      return rename(a, b);
    }) as FileOps['rename'],
    unlink: (async (p: string) => {
      steps.push(['unlink', name(p)]);
      return unlink(p);
    }) as FileOps['unlink'],
  };
  return { ops, steps };
}

const at = (steps: Step[], op: string, re: RegExp): number => {
  const i = steps.findIndex(([o, p]) => o === op && re.test(p));
  assert.ok(i >= 0, `no ${op} on ${re} in ${JSON.stringify(steps)}`);
  return i;
};

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
const TMP = /^\.target\.bin\.\d+\.[0-9a-f]{12}\.tmp$/;

describe('atomic writes: fsync before rename, directory after', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-atomic-')); });

  it('replace: write, fsync and close the temp file, then rename it over the target, then fsync the directory', async () => {
    const target = join(dir, 'target.bin');
    writeFileSync(target, 'old');
    const { ops, steps } = recording();
    await writeFileAtomic(target, 'new contents', { ops });
    assert.equal(readFileSync(target, 'utf8'), 'new contents');
    const tmp = steps[0]![1];
    assert.match(tmp, TMP);
    const d = basename(dir);
    assert.deepEqual(steps, [
      ['open', tmp], ['writeFile', tmp], ['sync', tmp], ['close', tmp],
      ['rename', `${tmp}->target.bin`],
      ['open', d], ['sync', d], ['close', d],
    ]);
    assert.deepEqual(readdirSync(dir), ['target.bin'], 'no temp file left');
  });

  it('exclusive: the temp file is fsync\'d before link publishes it; the directory after the unlink', async () => {
    const target = join(dir, 'target.bin');
    const { ops, steps } = recording();
    await writeFileAtomic(target, Uint8Array.of(1, 2, 3), { ops, exclusive: true });
    assert.deepEqual([...readFileSync(target)], [1, 2, 3]);
    const sync = at(steps, 'sync', TMP);
    const publish = at(steps, 'link', /->target\.bin$/);
    assert.ok(at(steps, 'writeFile', TMP) < sync && sync < publish, JSON.stringify(steps));
    assert.ok(at(steps, 'close', TMP) < publish);
    const dirSync = at(steps, 'sync', new RegExp(`^${basename(dir)}$`));
    assert.ok(at(steps, 'unlink', TMP) < dirSync, 'the directory is synced once its entries are final');
    assert.deepEqual(readdirSync(dir), ['target.bin']);
  });

  it('exclusive onto an existing file: EEXIST, the target and directory untouched, no temp file left', async () => {
    const target = join(dir, 'target.bin');
    writeFileSync(target, 'keep');
    const { ops, steps } = recording();
    await assert.rejects(writeFileAtomic(target, 'other', { ops, exclusive: true }), { code: 'EEXIST' });
    assert.equal(readFileSync(target, 'utf8'), 'keep');
    assert.deepEqual(readdirSync(dir), ['target.bin']);
    assert.ok(at(steps, 'sync', TMP) < at(steps, 'link', /./));
    assert.ok(!steps.some(([o, p]) => o === 'sync' && p === basename(dir)), 'nothing was published: no directory sync');
  });

  it('a failed rename removes the temp file, rethrows the fs error as is and skips the directory sync', async () => {
    const target = join(dir, 'target.bin');
    writeFileSync(target, 'old');
    const { ops, steps } = recording({ rename: errno('EXDEV') });
    await assert.rejects(writeFileAtomic(target, 'new', { ops }), { code: 'EXDEV' });
    assert.equal(readFileSync(target, 'utf8'), 'old');
    assert.deepEqual(readdirSync(dir), ['target.bin']);
    assert.ok(at(steps, 'sync', TMP) < at(steps, 'rename', /./));
    assert.ok(at(steps, 'rename', /./) < at(steps, 'unlink', TMP));
    assert.ok(!steps.some(([o, p]) => o === 'sync' && p === basename(dir)));
  });

  it('syncDir: a file system that cannot fsync a directory (EINVAL) is accepted; EIO is not; the handle is closed', async () => {
    for (const code of ['EINVAL', 'ENOTSUP', 'EISDIR']) {
      const { ops, steps } = recording({ dirSync: errno(code) });
      await syncDir(dir, ops);
      assert.deepEqual(steps.map(([o]) => o), ['open', 'sync', 'close'], code);
    }
    const { ops, steps } = recording({ dirSync: errno('EIO') });
    await assert.rejects(syncDir(dir, ops), { code: 'EIO' });
    assert.deepEqual(steps.map(([o]) => o), ['open', 'sync', 'close']);
  });

  it('the new file has the requested mode (default 0600)', async () => {
    const { statSync } = await import('node:fs');
    await writeFileAtomic(join(dir, 'a'), 'x');
    await writeFileAtomic(join(dir, 'b'), 'x', { mode: 0o644 });
    assert.equal(statSync(join(dir, 'a')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'b')).mode & 0o777, 0o644);
  });
});
