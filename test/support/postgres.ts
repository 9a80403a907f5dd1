// A real PostgreSQL server for the tests: Debian's binaries (scripts/setup.sh installs them), a fresh
// cluster made by initdb in a temp dir, listening only on a free loopback port, started once per test
// process on first use and stopped when it ends. PostgreSQL refuses to run as root, so as root the
// cluster belongs to the `postgres` system user and the server runs as that user (runuser).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PgServer { url: string; port: number; dir: string }

function pgBin(name: string): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(base, v, 'bin', name))) return join(base, v, 'bin', name);
  }
  return name;
}

/** Whether a PostgreSQL server can be run here (setup.sh installs it; a test skips clearly without it). */
export function havePostgres(): boolean {
  return spawnSync(pgBin('initdb'), ['--version']).status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const asRoot = process.getuid?.() === 0;
/** argv to run `cmd` as the cluster's owner: setpriv execs in place, so the pid is the server's own. */
function asOwner(cmd: string, args: string[]): [string, string[]] {
  return asRoot ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--clear-groups', '--', cmd, ...args]] : [cmd, args];
}

let started: Promise<PgServer> | undefined;
let child: ChildProcess | undefined;
let dataDir: string | undefined;

async function start(): Promise<PgServer> {
  const dir = mkdtempSync(join(tmpdir(), 'efa-pg-'));
  dataDir = dir;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  const [icmd, iargs] = asOwner(pgBin('initdb'), ['-D', data, '-A', 'trust', '-U', 'efa', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const init = spawnSync(icmd, iargs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const [cmd, args] = asOwner(pgBin('postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=60',
    '-c', 'shared_buffers=16MB', '-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'log_min_messages=fatal',
  ]);
  child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (log.length < 8000) log += d; });
  const url = `postgres://efa@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      break;
    } catch {
      await c.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, port, dir };
}

/** Stops the server of this run, if one was started (the tests' root hook does it; benchmarks call it). */
export async function stopPostgres(): Promise<void> {
  if (started) await stop();
  started = undefined;
}

async function stop(): Promise<void> {
  const c = child;
  if (c && c.exitCode === null && c.signalCode === null) {
    // SIGINT is PostgreSQL's fast shutdown.
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  child = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
}

/** The shared server of this test run, started on first use. */
export function postgres(): Promise<PgServer> {
  started ??= start();
  return started;
}

let dbCount = 0;
/** A fresh, empty database on the shared server: its connection URL. */
export async function freshDatabase(prefix = 'efa'): Promise<string> {
  const s = await postgres();
  const name = `${prefix}_${process.pid}_${++dbCount}`;
  const c = new pg.Client({ connectionString: s.url });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return `postgres://efa@127.0.0.1:${s.port}/${name}`;
}

// One server per test process. A serial run stops it after its last test (a root hook). In a
// parallel run (mocha --parallel) each worker process runs many files, and a root hook belongs to
// the file that loaded this module first: the worker keeps its server for the files after it, and
// stops it when it exits (immediate shutdown, then its directory removed).
if (typeof after === 'function' && process.env.MOCHA_WORKER_ID === undefined) after(stopPostgres);
process.once('exit', () => {
  if (child?.pid && child.exitCode === null) child.kill('SIGQUIT');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});
