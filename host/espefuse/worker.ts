// The client of worker.py (docs/provisioning.md §2.4): one Python process holding one espefuse
// connection to one chip, asked in line-delimited JSON over its stdin and answering on its stdout, one
// answer per request, in order. This file is the pipe and the process; driver.ts decides what to ask.
//
// The worker runs in its own process group, so Ctrl-C at the terminal never reaches it, and it ends on
// its own when its stdin closes — when close() is called or this process dies — after finishing the
// request in hand: a burn is never cut short. While nothing is asked of it, it does not keep this
// process alive. A key goes down the pipe in a buffer that is zeroed once written.
import { type ChildProcess, spawn } from 'node:child_process';
import { childEnv } from '../childenv.js';
import { EspefuseError } from '../errors.js';

export interface WorkerAnswer {
  id: number;
  ok: boolean;
  /** summary: espefuse's `summary --format json` text. */
  json?: string;
  /** burn-key: espefuse answered its BURN prompt with "Aborting." (exit status 0 on the command line). */
  aborted?: boolean;
  error?: { type: string; message: string; output: string };
}

/** The worker cannot run espefuse's Python API (no such interpreter, esptool older than 5): use the command. */
export class WorkerUnavailable extends Error {}

interface Pending { op: string; critical: boolean; resolve: (a: WorkerAnswer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

type Handle = { ref(): void; unref(): void };
const HEX = '0123456789abcdef';
const STDERR_KEEP = 2000;

export class EspefuseWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = '';
  private stderrTail = '';
  private ready?: { resolve: () => void; reject: (e: Error) => void };
  private exit?: { code: number | null; signal: NodeJS.Signals | null };
  private readonly exited: Promise<void>;
  private ending = false;
  /** A burn that timed out was left to finish (letGo): nothing may kill the worker now. */
  private burnLeftRunning = false;

  private constructor(private readonly child: ChildProcess, readonly label: string) {
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => { this.exit = { code, signal }; this.onExit(); resolve(); }));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => this.onData(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderrTail = (this.stderrTail + d).slice(-STDERR_KEEP); });
    child.stdin!.on('error', () => { /* the worker is gone: its exit is reported */ });
    child.on('error', () => { /* a failed spawn is reported by start(), a failed kill by the exit that follows */ });
  }

  /**
   * Starts `python script` and waits for its ready line: WorkerUnavailable when it cannot serve,
   * EspefuseError ESPEFUSE_TIMEOUT when it does not say within `timeoutMs`.
   */
  static async start(python: string, script: string, label: string, timeoutMs: number, name = 'session'): Promise<EspefuseWorker> {
    const child = spawn(python, [script], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: childEnv({ NO_COLOR: '1', TERM: 'dumb', COLUMNS: '200', PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' }),
    });
    const w = new EspefuseWorker(child, label);
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new WorkerUnavailable(`cannot run ${python}: ${e.message}`)));
    });
    const ready = new Promise<void>((resolve, reject) => { w.ready = { resolve, reject }; });
    const timer = setTimeout(() => w.ready?.reject(new EspefuseError(
      `espefuse ${name} on ${label} did not start: ${python} ${script} was not ready within ${timeoutMs / 1000} s`, 'ESPEFUSE_TIMEOUT')), timeoutMs);
    try {
      await spawned;
      await ready;
      return w;
    } catch (err) {
      w.kill();
      throw err;
    } finally {
      clearTimeout(timer);
      w.idle();
    }
  }

  get pid(): number | undefined { return this.child.pid; }

  /** Ended, by close() or otherwise. */
  get gone(): boolean { return this.exit !== undefined; }

  /** How it ended, for messages: "exit 1", "SIGKILL". */
  get how(): string { return this.exit ? (this.exit.signal ?? `exit ${this.exit.code}`) : 'running'; }

  /** The end of what it wrote to stderr (a Python traceback when it crashed). */
  get stderr(): string { return this.stderrTail.trim(); }

  /**
   * One request; resolves with the answer, ok or not. EspefuseError when the worker is gone, exits
   * before answering, or does not answer within `timeoutMs`: then a `critical` request (a burn) is left
   * to finish and the worker is let go; any other is killed with the worker.
   */
  request(op: string, fields: Record<string, unknown>, opts: { timeoutMs: number; critical?: boolean; secret?: Uint8Array; name?: string }): Promise<WorkerAnswer> {
    const name = opts.name ?? op;
    if (this.exit || this.ending) return Promise.reject(this.goneError(name, false));
    const id = this.nextId++;
    const line = encodeRequest({ id, op, ...fields }, opts.secret);
    return new Promise<WorkerAnswer>((resolve, reject) => {
      const critical = opts.critical === true;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new EspefuseError(`espefuse ${name} on ${this.label} did not finish within ${opts.timeoutMs / 1000} s` +
          (critical ? '; it was left running: do not disconnect the chip, and re-read its eFuses before doing anything else' : ''), 'ESPEFUSE_TIMEOUT'));
        if (critical) this.letGo(); else this.kill();
      }, opts.timeoutMs);
      this.pending.set(id, { op: name, critical, resolve, reject, timer });
      this.busy();
      this.child.stdin!.write(line, () => line.fill(0));
    });
  }

  /** Ends the worker: its stdin is closed, it finishes what it is doing and exits. Idempotent. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.exit) return;
    this.ending = true;
    this.child.stdin!.end();
    // A burn, pending or left running after its time limit, finishes on its own.
    if (this.burnLeftRunning || [...this.pending.values()].some((p) => p.critical)) return;
    this.busy();
    const timer = setTimeout(() => this.kill(), graceMs);
    try { await this.exited; } finally { clearTimeout(timer); }
  }

  private kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }

  /** Stops waiting for a worker that is finishing a burn; it exits when done. */
  private letGo(): void {
    this.ending = true;
    this.burnLeftRunning = true;
    this.child.stdin!.end();
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(this.goneError(p.op, p.critical)); }
    this.pending.clear();
    this.idle();
  }

  private onData(d: string): void {
    this.buffered += d;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const text = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      let msg: { ready?: boolean; error?: unknown; id?: unknown };
      try { msg = JSON.parse(text) as typeof msg; } catch { this.stderrTail += `\n(unreadable answer: ${text.slice(0, 200)})`; this.kill(); return; }
      if (this.ready) {
        const r = this.ready;
        this.ready = undefined;
        if (msg.ready === true) r.resolve(); else r.reject(new WorkerUnavailable(String(msg.error ?? 'the worker is not ready')));
        continue;
      }
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (!p) continue; // an answer after its timeout
      this.pending.delete(msg.id as number);
      clearTimeout(p.timer);
      if (this.pending.size === 0) this.idle();
      p.resolve(msg as WorkerAnswer);
    }
  }

  private onExit(): void {
    this.ready?.reject(new WorkerUnavailable(`the worker exited before it was ready (${this.how})${this.stderr ? `: ${this.stderr.split('\n').at(-1)}` : ''}`));
    this.ready = undefined;
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(this.goneError(p.op, p.critical)); }
    this.pending.clear();
  }

  /** The error for a request the worker will never answer. */
  goneError(op: string, critical: boolean): EspefuseError {
    const why = this.exit ? `its espefuse process (pid ${this.pid}) exited (${this.how})` : 'its espefuse process was let go';
    const tail = this.stderr ? `: ${this.stderr.split('\n').slice(-3).join(' ')}` : '';
    return new EspefuseError(`espefuse ${op} on ${this.label} did not finish: ${why}${tail}` +
      (critical ? '. The burn may or may not have happened: re-read the eFuses before doing anything else' : ''), 'ESPEFUSE_EXITED');
  }

  /** While requests are pending, the worker and its pipes keep this process alive; otherwise not. */
  private busy(): void { this.handles().forEach((h) => h.ref()); }
  private idle(): void { this.handles().forEach((h) => h.unref()); }
  private handles(): Handle[] {
    const c = this.child;
    return [c as unknown as Handle, c.stdin as unknown as Handle, c.stdout as unknown as Handle, c.stderr as unknown as Handle]
      .filter((h) => typeof h?.ref === 'function');
  }
}

/**
 * The request line as bytes. A secret is written into the buffer as hex ("key") straight from its
 * bytes, never as a string, so zeroing the buffer once written leaves no copy of it in this process.
 */
export function encodeRequest(fields: Record<string, unknown>, secret?: Uint8Array): Uint8Array {
  const head = JSON.stringify(fields);
  if (!secret) return Buffer.from(head + '\n');
  const open = Buffer.from(head.slice(0, -1) + ',"key":"');
  const out = Buffer.alloc(open.length + secret.length * 2 + 3);
  open.copy(out);
  let o = open.length;
  for (const b of secret) { out[o++] = HEX.charCodeAt(b >> 4); out[o++] = HEX.charCodeAt(b & 15); }
  out.write('"}\n', o, 'latin1');
  return out;
}
