// Finding the espefuse executable: $ESPEFUSE, then the project's own virtualenv (scripts/setup.sh
// makes <repo>/.venv with esptool 5.x), then PATH. Anything else is a clear EspefuseError that says
// how to install it. Also where the session worker (worker.py) is and which Python runs it.
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, readSync } from 'node:fs';
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

/**
 * The Python interpreter that runs `bin`, read from the script's first lines: `#!/path/python`, or the
 * `'''exec' "/path/python" "$0" "$@"` trampoline pip writes when that path is too long for `#!`.
 * Undefined when `bin` is not a Python script (a wrapper, a frozen .exe): then there is no session worker.
 */
export function espefusePython(bin: string): string | undefined {
  let head: string;
  try {
    const fd = openSync(bin, 'r');
    try {
      const buf = Buffer.alloc(512);
      head = buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const [first = '', second = ''] = head.split('\n');
  const bang = /^#!\s*(\S*python[0-9.]*(?:\.exe)?)\s*$/.exec(first.trim());
  if (bang) return executable(bang[1]) ? bang[1] : undefined;
  const tramp = /^'''exec' "([^"]+)" "\$0" "\$@"/.exec(second);
  if (/^#!\s*\/bin\/sh/.test(first) && tramp && /python[0-9.]*$/.test(tramp[1])) return executable(tramp[1]) ? tramp[1] : undefined;
  return undefined;
}

/** worker.py, the espefuse session worker, shipped beside this module's source (package "files"). */
export function workerScript(): string | undefined {
  const root = repoRoot();
  const p = root ? join(root, 'host', 'espefuse', 'worker.py') : undefined;
  return p && existsSync(p) ? p : undefined;
}
