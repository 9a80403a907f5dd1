// Finding the espefuse executable: $ESPEFUSE, then the project's own virtualenv (scripts/setup.sh
// makes <repo>/.venv with esptool 5.x), then PATH. Anything else is a clear EspefuseError that says
// how to install it.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EspefuseError } from '../errors.js';

const WINDOWS = process.platform === 'win32';
const NAMES = WINDOWS ? ['espefuse.exe', 'espefuse.cmd', 'espefuse'] : ['espefuse'];

function executable(path: string): boolean {
  try {
    accessSync(path, WINDOWS ? constants.F_OK : constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The directory holding this package's package.json, found by walking up from this module. */
export function repoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'efuse-attest') return dir;
      } catch { /* not ours: keep walking */ }
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export const INSTALL_HINT = "run `npm run setup` (it makes .venv with esptool 5.x), or `pip install 'esptool>=5,<6'`, or set ESPEFUSE to its path";

/** The path of espefuse to run; EspefuseError (code ESPEFUSE_MISSING) when there is none. */
export function findEspefuse(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.ESPEFUSE;
  if (fromEnv) {
    if (!executable(fromEnv)) throw new EspefuseError(`ESPEFUSE is set to ${fromEnv}, which is not an executable file`, 'ESPEFUSE_MISSING');
    return fromEnv;
  }
  const root = repoRoot();
  if (root) {
    for (const p of [join(root, '.venv', 'bin', 'espefuse'), join(root, '.venv', 'Scripts', 'espefuse.exe')]) {
      if (executable(p)) return p;
    }
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const n of NAMES) {
      const p = join(dir, n);
      if (executable(p)) return p;
    }
  }
  throw new EspefuseError(`espefuse was not found: ${INSTALL_HINT}`, 'ESPEFUSE_MISSING');
}
