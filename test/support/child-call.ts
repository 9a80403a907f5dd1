// Calls one function of the code under test in a fresh Node process (child-main.ts), for what this
// process cannot show: as an unprivileged user, so permission answers (EPERM from kill(2), EACCES)
// really happen although the tests run as root; under a file-size limit (`ulimit -f`), so a write
// fails with EFBIG as on a full disk; or only with fresh module state (lock.ts reads the boot id once
// per process). The child loads every module before it changes user, so the build tree need not be
// readable by that user (StrykerJS's sandbox directory is private to root).
//
// Under StrykerJS the child runs the mutant this process runs: the instrumented code takes the active
// mutant from __STRYKER_ACTIVE_MUTANT__ when its global is unset. During the dry run, the mutants the
// child's call reached are added to the coverage of the current test, so the test is run for them
// (not those run while its modules loaded: static mutants stay static, as in this process).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ChildRequest {
  /** A module URL (see distModule) and the path of a function in it, e.g. `FileLock.acquire`. */
  module: string;
  fn: string;
  args?: unknown[];
  /** Calls made first, as root, with every module loaded: fault hooks, fixtures. */
  before?: { module: string; fn: string; args?: unknown[] }[];
  user?: { uid: number; gid: number };
}

export interface ChildOutcome {
  ok: boolean;
  value?: unknown;
  error?: { name?: string; message?: string; code?: unknown; causeCode?: unknown };
  /** Set when the child could not make the call at all. */
  setup?: string;
  reached?: string[];
}

export interface ChildOptions {
  args?: unknown[];
  before?: ChildRequest['before'];
  user?: { uid: number; gid: number };
  /** `ulimit -f` for the child, in 512-byte blocks (0: no file can grow). */
  fileSizeBlocks?: number;
  timeoutMs?: number;
}

/** The user and group `nobody`. */
export const NOBODY = { uid: 65534, gid: 65534 } as const;

/** Whether this process may start a child as another user. */
export const canSwitchUser = (): boolean => process.getuid?.() === 0;

/** The URL of a compiled module, by its path under dist/ (`host/escrow/lock.js`). */
export const distModule = (path: string): string => new URL(`../../${path}`, import.meta.url).href;

const MAIN = fileURLToPath(new URL('./child-main.js', import.meta.url));
const MUTANT_ENV = '__STRYKER_ACTIVE_MUTANT__';

/** What the tests use of StrykerJS's namespace (made by the first instrumented module a process loads). */
export interface StrykerNs { activeMutant?: string | number; currentTestId?: string; mutantCoverage?: { perTest?: Record<string, Record<string, number>> } }

/** StrykerJS's namespace in this process; undefined unless under StrykerJS. */
export const strykerNs = (): StrykerNs | undefined => (globalThis as { __stryker__?: StrykerNs }).__stryker__;

function addCoverage(ids: string[]): void {
  const ns = strykerNs();
  if (!ns?.mutantCoverage || ns.activeMutant !== undefined || !ns.currentTestId || ids.length === 0) return;
  const perTest = (ns.mutantCoverage.perTest ??= {});
  const mine = (perTest[ns.currentTestId] ??= {});
  for (const id of ids) mine[id] = (mine[id] ?? 0) + 1;
}

export async function callInChild(module: string, fn: string, opts: ChildOptions = {}): Promise<ChildOutcome> {
  const req: ChildRequest = { module, fn, ...(opts.args ? { args: opts.args } : {}), ...(opts.before ? { before: opts.before } : {}), ...(opts.user ? { user: opts.user } : {}) };
  const env = { ...process.env };
  const active = strykerNs()?.activeMutant;
  if (active !== undefined) env[MUTANT_ENV] = String(active); else delete env[MUTANT_ENV];
  const argv = [MAIN, JSON.stringify(req)];
  const child = opts.fileSizeBlocks === undefined
    ? spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('/bin/sh', ['-c', 'ulimit -f "$0" && exec "$@"', String(opts.fileSizeBlocks), process.execPath, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const status = await new Promise<number | null>((res, rej) => { child.once('error', rej); child.once('close', (code) => res(code)); })
    .finally(() => clearTimeout(timer));
  const line = stdout.trim().split('\n').pop() ?? '';
  let out: ChildOutcome;
  try {
    out = JSON.parse(line) as ChildOutcome;
  } catch {
    throw new Error(`the child for ${fn} ended with status ${status} and no outcome: ${stderr.slice(-2000)}`);
  }
  addCoverage(out.reached ?? []);
  delete out.reached;
  if (out.setup !== undefined) throw new Error(`the child could not call ${fn}: ${out.setup}`);
  return out;
}
