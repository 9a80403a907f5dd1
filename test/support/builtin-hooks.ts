// Replaces a function of a Node built-in module for the code under test, which imports it by name
// (`import { open } from 'node:fs/promises'`): the ES-module bindings of a built-in follow its
// CommonJS exports after syncBuiltinESMExports(). For what a test cannot make happen for real at the
// right moment: a file swapped by someone else between two calls, the descriptor limit reached at
// one open, a file that cannot be read.
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);

export type Builtin = 'node:fs' | 'node:fs/promises' | 'node:crypto';

/** Puts `make(original)` in place of `mod[name]`; the function returned puts the original back. */
export function hookBuiltin<F extends (...args: any[]) => any>(mod: Builtin, name: string, make: (orig: F) => F): () => void {
  const m = require(mod) as Record<string, unknown>;
  const orig = m[name] as F;
  m[name] = make(orig);
  syncBuiltinESMExports();
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    m[name] = orig;
    syncBuiltinESMExports();
  };
}

/** Runs `body` with `make(original)` in place of `mod[name]`, and puts the original back after it. */
export async function withBuiltinHook<F extends (...args: any[]) => any, T>(mod: Builtin, name: string, make: (orig: F) => F, body: () => Promise<T>): Promise<T> {
  const restore = hookBuiltin(mod, name, make);
  try {
    return await body();
  } finally {
    restore();
  }
}

/** An error as the file-system calls make it: message `CODE: text`, and `code`. */
export const ioError = (code: string, text = 'injected fault'): NodeJS.ErrnoException => Object.assign(new Error(`${code}: ${text}`), { code });

/** From now on in this process, readFileSync of `path` fails with `code` (e.g. a /proc not mounted). */
export function failReadsOf(path: string, code = 'ENOENT'): void {
  hookBuiltin('node:fs', 'readFileSync', (orig: (...a: unknown[]) => unknown) => (...a: unknown[]) => {
    if (a[0] === path) throw ioError(code);
    return orig(...a);
  });
}
