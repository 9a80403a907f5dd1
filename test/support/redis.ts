// A real redis-server (Debian's, installed by scripts/setup.sh) for the tests: started on loopback
// on a free port with its own temporary directory, stopped (and the directory removed) by stop() or,
// at the latest, when the test process exits. It can be killed and started again on the same port,
// the way an outage looks to the verifiers.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly pid: number | undefined;
  /** Sends a signal to the server (SIGKILL for a crash, SIGSTOP/SIGCONT for a hang). */
  signal(sig: NodeJS.Signals): void;
  /** Kills the server at once (SIGKILL) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory; resolves when it accepts connections. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on('exit', () => {
  for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function redisServerPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('redis-server is not installed: run bash scripts/setup.sh (it installs Debian\'s redis-server)');
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function launch(bin: string, port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [
      '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no',
      '--protected-mode', 'yes', '--daemonize', 'no', '--logfile', '', '--loglevel', 'notice', ...extra,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let log = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`redis-server did not start on port ${port} within 10 s:\n${log}`)); }, 10_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (/Ready to accept connections/.test(log)) { clearTimeout(timer); child.stdout!.off('data', onData); child.stdout!.resume(); resolve(child); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    child.once('exit', (code) => { live.delete(child); clearTimeout(timer); reject(new Error(`redis-server exited with ${code} on port ${port}:\n${log}`)); });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Starts a redis-server; `extra` are more command-line options. */
export async function startRedis(extra: string[] = []): Promise<RedisServer> {
  const bin = redisServerPath();
  const dir = mkdtempSync(join(tmpdir(), 'efuse-attest-redis-'));
  dirs.add(dir);
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(bin, port, dir, extra);
    } catch (err) {
      if (attempt >= 4) throw err; // the port was taken in between: try another
    }
  }
  let proc: ChildProcess = child;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() { return proc.pid; },
    signal(sig) { proc.kill(sig); },
    async kill() { const gone = exited(proc); proc.kill('SIGKILL'); await gone; live.delete(proc); },
    async restart() { proc = await launch(bin, port, dir, extra); },
    async stop() {
      const gone = exited(proc);
      proc.kill('SIGCONT');
      proc.kill('SIGTERM');
      await gone;
      live.delete(proc);
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}
