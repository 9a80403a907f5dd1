// The espefuse driver: every eFuse read and burn goes through the real espefuse (esptool 5.x), with
// the chip always named (--chip) and the target either a serial port or a virtual eFuse image
// (--virt --path-efuse-file), so the same code drives a board and a virtual chip (STYLE.md §6).
// espefuse exits 0 even when it aborts, so a burn counts only once a fresh summary shows it.
//
// By default one espefuse session serves a device (docs/provisioning.md §2.4): worker.py, run by the
// Python that runs espefuse, opens the connection once and answers summary and burn-key through
// espefuse's own Python API until close(). When espefuse is not a Python script of esptool 5.x (a
// wrapper, an older release) or `session: false` is given, every step runs the espefuse command, as
// argv() and display() print it.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { lstat, mkdtemp, open, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abytes, requireChip } from '../../protocol/index.js';
import { EspefuseError } from '../errors.js';
import { redactKey } from '../keys.js';
import { blockName } from '../../protocol/keyblock.js';
import { espefusePython, findEspefuse, workerScript } from './locate.js';
import { readSilicon, siliconPath } from './silicon.js';
import { describeBlock, type EfuseSummary, keyBlock, parseSummary } from './summary.js';
import { childEnv } from '../childenv.js';
import { EspefuseWorker, type WorkerAnswer, WorkerUnavailable } from './worker.js';

export type EspefuseTarget =
  | { kind: 'virt'; image: string }
  | { kind: 'port'; port: string; baud?: number };

export interface EspefuseOptions {
  /** The espefuse executable (default: findEspefuse()). */
  bin?: string;
  /** Per call; default 60 s for virtual images, 180 s for ports. */
  timeoutMs?: number;
  /** The Python of the session worker (default: the one `bin` names in its first line). */
  python?: string;
  /** One espefuse session per device (default true); false: one espefuse process per step. */
  session?: boolean;
}

/** How a driver has reached its chip: per session or per command, and the espefuse processes started. */
export interface ConnectionStats {
  mode: 'session' | 'command' | 'none';
  /** espefuse processes started so far; each is one connection to the chip. */
  processes: number;
  /** The live session worker's pid. */
  pid?: number;
}

export const KEY_PURPOSE = 'HMAC_UP';

/** eFuse register window size of the virtual image (REGS.EFUSE_MEM_SIZE in espefuse): the chip table's. */
export function imageSize(chip: string): number {
  return requireChip(chip).imageSize;
}

/** Quotes an argument for display as a POSIX shell word. */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** The text of espefuse's own error, without rich-text boxes: "A fatal error occurred: ...". */
export function espefuseErrorText(output: string): string {
  const clean = output.replace(/[\u2500-\u257f]/g, ' ').split('\n').map((l) => l.replace(/\s+/g, ' ').trim());
  const i = clean.findIndex((l) => /fatal error occurred|^error:/i.test(l));
  if (i >= 0) {
    const parts = [clean[i].replace(/^.*fatal error occurred:\s*/i, '').replace(/^error:\s*/i, '')];
    for (let j = i + 1; j < clean.length && clean[j] !== '' && parts.join(' ').length < 300; j++) parts.push(clean[j]);
    const text = parts.join(' ').trim();
    if (text) return text;
  }
  const last = clean.filter((l) => l !== '' && !/^espefuse v/.test(l));
  return last.slice(-3).join(' ') || 'no output';
}

export interface RunResult { stdout: string; stderr: string }

export class Espefuse {
  readonly bin: string;
  readonly timeoutMs: number;
  /** The session worker's Python; undefined once it is known that espefuse runs as a command only. */
  private python: string | undefined;
  private worker?: EspefuseWorker;
  private starting?: Promise<EspefuseWorker | undefined>;
  private closing: Promise<void> = Promise.resolve();
  private processes = 0;
  private mode: ConnectionStats['mode'] = 'none';

  constructor(readonly chip: string, readonly target: EspefuseTarget, opts: EspefuseOptions = {}) {
    if (typeof chip !== 'string') throw new TypeError('chip must be a string such as esp32s3');
    requireChip(chip);
    if (target?.kind === 'virt') {
      if (typeof target.image !== 'string' || target.image === '') throw new TypeError('target.image must be a path');
    } else if (target?.kind === 'port') {
      if (typeof target.port !== 'string' || target.port === '') throw new TypeError('target.port must be a path');
    } else {
      throw new TypeError('target must be {kind: "virt", image} or {kind: "port", port}');
    }
    this.bin = opts.bin ?? findEspefuse();
    this.timeoutMs = opts.timeoutMs ?? (target.kind === 'virt' ? 60_000 : 180_000);
    this.python = opts.session === false ? undefined : (opts.python ?? espefusePython(this.bin));
  }

  /** Session or commands, and how many espefuse processes (connections) this driver has started. */
  get connection(): ConnectionStats {
    const pid = this.worker && !this.worker.gone ? this.worker.pid : undefined;
    return { mode: this.mode, processes: this.processes, ...(pid !== undefined ? { pid } : {}) };
  }

  /** "virt chip.bin" or "port /dev/ttyUSB0": for messages and reports. */
  get label(): string {
    return this.target.kind === 'virt' ? `virt ${this.target.image}` : `port ${this.target.port}`;
  }

  /** The full argument list of a command: global options first, as espefuse 5.x requires. */
  argv(command: string[], opts: { confirm?: false } = {}): string[] {
    const t = this.target;
    const where = t.kind === 'virt'
      ? ['--virt', '--path-efuse-file', t.image]
      : ['--port', t.port, ...(t.baud ? ['--baud', String(t.baud)] : [])];
    return ['--chip', this.chip, ...where, ...(opts.confirm === false ? ['--do-not-confirm'] : []), ...command];
  }

  /** A command line as a user would type it. */
  display(command: string[], opts: { confirm?: false } = {}): string {
    return ['espefuse', ...this.argv(command, opts)].map(shellQuote).join(' ');
  }

  summaryCommand(file = 'summary.json'): string[] {
    return ['summary', '--format', 'json', '--file', file];
  }

  /** burn-key arguments; `keyPath` is the private temp key file. */
  burnKeyCommand(block: string, keyPath: string): string[] {
    return ['burn-key', blockName(block), keyPath, KEY_PURPOSE];
  }

  /**
   * Runs espefuse; EspefuseError on a spawn failure, a timeout or a non-zero exit. Its output goes to
   * files, not pipes, so espefuse never dies of a broken pipe if this process does. A `critical` run
   * (a burn) is in its own process group, so Ctrl-C at the terminal cannot cut it short, and it is
   * never killed: on a timeout it is left to finish and the caller is told to re-read the fuses.
   */
  async run(command: string[], opts: { confirm?: false; secret?: Uint8Array; critical?: boolean } = {}): Promise<RunResult> {
    await this.checkTarget();
    const args = this.argv(command, opts);
    const dir = await mkdtemp(join(tmpdir(), 'efuse-attest-run-'));
    const outPath = join(dir, 'stdout.txt');
    const errPath = join(dir, 'stderr.txt');
    const out = await open(outPath, 'w', 0o600);
    const err = await open(errPath, 'w', 0o600);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | Error | 'timeout';
    if (this.mode === 'none') this.mode = 'command';
    this.processes++;
    const runToEnd = (): Promise<typeof exit> => new Promise((resolve) => {
      const child = spawn(this.bin, args, {
        stdio: ['ignore', out.fd, err.fd],
        detached: opts.critical === true,
        env: childEnv({ NO_COLOR: '1', TERM: 'dumb', COLUMNS: '200', PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' }),
      });
      const timer = setTimeout(() => {
        if (!opts.critical) child.kill('SIGKILL');
        else child.unref();
        resolve('timeout');
      }, this.timeoutMs);
      child.on('error', (e) => { clearTimeout(timer); resolve(e); });
      child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
    });
    try {
      exit = await (opts.critical ? whileBurning(runToEnd) : runToEnd());
    } finally {
      await out.close();
      await err.close();
    }
    try {
      const stdout = await readFile(outPath, 'utf8');
      const stderr = await readFile(errPath, 'utf8');
      if (exit === 'timeout') {
        throw new EspefuseError(`espefuse ${command[0]} on ${this.label} did not finish within ${this.timeoutMs / 1000} s` +
          (opts.critical ? '; it was left running: do not disconnect the chip, and re-read its eFuses before doing anything else' : ''), 'ESPEFUSE_TIMEOUT');
      }
      if (exit instanceof Error) throw new EspefuseError(`cannot run espefuse (${this.bin}): ${exit.message}`, 'ESPEFUSE_MISSING', { cause: exit });
      if (exit.code !== 0) {
        const why = redactKey(espefuseErrorText(stderr + '\n' + stdout), opts.secret);
        throw new EspefuseError(`espefuse ${command[0]} on ${this.label} failed (${exit.signal ?? `exit ${exit.code}`}): ${why}`, 'ESPEFUSE_FAILED');
      }
      return { stdout, stderr };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** A virtual image must exist: espefuse would silently make a blank chip at a mistyped path. */
  private async checkTarget(): Promise<void> {
    if (this.target.kind !== 'virt') return;
    const image = this.target.image;
    let size: number;
    try {
      const st = await stat(image);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
      size = st.size;
    } catch {
      throw new EspefuseError(`no virtual chip image at ${image}; make one with \`efuse-attest chip create --chip ${this.chip} --out ${image}\``, 'ESPEFUSE_NO_IMAGE');
    }
    if (size !== imageSize(this.chip)) {
      throw new EspefuseError(`${image} is ${size} bytes, not a ${this.chip} virtual eFuse image (${imageSize(this.chip)} bytes)`, 'ESPEFUSE_NO_IMAGE');
    }
    // The image does not say which chip it is; its side file does (espefuse --chip on a port checks the chip itself).
    const si = await readSilicon(image);
    if (si && si.chip !== this.chip) throw new EspefuseError(`${image} is a virtual ${si.chip} (${siliconPath(image)}), not ${this.chip}`, 'CHIP_MISMATCH');
  }

  /** Reads the eFuses: `summary --format json --file <private temp>`, parsed. */
  async summary(): Promise<EfuseSummary> {
    const w = await this.session('summary');
    if (w) {
      const a = await this.ask(w, 'summary', {});
      if (typeof a.json !== 'string') throw new EspefuseError(`espefuse summary on ${this.label} gave no JSON`, 'ESPEFUSE_OUTPUT');
      return parseSummary(a.json, this.chip);
    }
    const dir = await mkdtemp(join(tmpdir(), 'efuse-attest-summary-'));
    try {
      const file = join(dir, 'summary.json');
      await this.run(this.summaryCommand(file));
      let text: string;
      try { text = await readFile(file, 'utf8'); } catch { throw new EspefuseError(`espefuse summary on ${this.label} wrote no JSON file`, 'ESPEFUSE_OUTPUT'); }
      return parseSummary(text, this.chip);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Burns `key` into `block` with purpose HMAC_UP (espefuse also read- and write-protects it), then
   * re-reads the eFuses and returns the summary that proves it. EspefuseError if the burn cannot be
   * confirmed. Does NOT check the block first: callers do (host/efuse/preflight.ts), on a summary they
   * have just read.
   */
  async burnKey(block: string, key: Uint8Array): Promise<EfuseSummary> {
    const b = blockName(block);
    abytes(key, 'key', 32, 32);
    const w = await this.session('burn-key');
    if (w) {
      // The key goes down the worker's pipe; an "Aborting." answer is seen by the re-read below.
      await whileBurning(() => this.ask(w, 'burn-key', { block: b, purpose: KEY_PURPOSE, confirm: false }, { critical: true, secret: key }));
    } else {
      await withPrivateKeyFile(key, (path) => this.run(this.burnKeyCommand(b, path), { confirm: false, secret: key, critical: true }));
    }
    const after = await this.summary();
    const k = keyBlock(after, b);
    if (k.purpose !== KEY_PURPOSE || !k.readProtected) {
      throw new EspefuseError(`espefuse reported success but ${b} of device ${after.mac} is now ${describeBlock(k)}, not HMAC_UP and read-protected`, 'BURN_UNCONFIRMED');
    }
    return after;
  }

  /**
   * Ends the session: the worker closes its connection (a port as espefuse leaves it, no reset) and
   * exits. Idempotent; a later call opens a new session.
   */
  async close(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      this.closing = w.close();
      await this.closing;
    }
  }

  /**
   * The open session, started and connected on first use; undefined when espefuse runs as a command.
   * A session that ended without close() fails the call in hand with ESPEFUSE_EXITED (the next one opens a new session).
   */
  private async session(op: string): Promise<EspefuseWorker | undefined> {
    const w = this.worker;
    if (w && !w.gone) return w;
    if (w) {
      this.worker = undefined;
      const why = w.stderr ? `: ${w.stderr.split('\n').slice(-3).join(' ')}` : '';
      throw new EspefuseError(`the espefuse session on ${this.label} ended unexpectedly (pid ${w.pid}, ${w.how})${why}; ` +
        `${op} was not run. Re-read the eFuses before doing anything else`, 'ESPEFUSE_EXITED');
    }
    if (this.python === undefined) return undefined;
    this.starting ??= this.startSession(op).finally(() => { this.starting = undefined; });
    return this.starting;
  }

  private async startSession(op: string): Promise<EspefuseWorker | undefined> {
    await this.closing;
    const script = workerScript();
    if (!script || this.python === undefined) { this.python = undefined; return undefined; }
    await this.checkTarget();
    let w: EspefuseWorker;
    try {
      this.processes++;
      w = await EspefuseWorker.start(this.python, script, this.label, this.timeoutMs, op);
    } catch (err) {
      if (!(err instanceof WorkerUnavailable)) throw err;
      this.python = undefined; // no espefuse Python API there: the command it is, from now on
      return undefined;
    }
    const t = this.target;
    const where = t.kind === 'virt' ? { virt: t.image } : { port: t.port, ...(t.baud ? { baud: t.baud } : {}) };
    try {
      await this.ask(w, 'open', { chip: this.chip, ...where }, {}, op);
    } catch (err) {
      await w.close();
      throw err;
    }
    this.mode = 'session';
    this.worker = w;
    return w;
  }

  /** One request; EspefuseError with espefuse's own message when it failed. */
  private async ask(w: EspefuseWorker, op: string, fields: Record<string, unknown>, opts: { critical?: boolean; secret?: Uint8Array } = {}, name = op): Promise<WorkerAnswer> {
    let a: WorkerAnswer;
    try {
      a = await w.request(op, fields, { timeoutMs: this.timeoutMs, ...opts, name });
    } catch (err) {
      // Timed out or died in the middle: said in this error; the next call opens a new session.
      if (this.worker === w) this.worker = undefined;
      throw err;
    }
    if (a.ok) return a;
    const message = a.error?.message?.replace(/\s+/g, ' ').trim();
    const why = redactKey(message || espefuseErrorText(a.error?.output ?? ''), opts.secret);
    throw new EspefuseError(`espefuse ${name} on ${this.label} failed: ${why}`, 'ESPEFUSE_FAILED');
  }
}

/**
 * Runs a burn with SIGINT and SIGTERM answered by a note instead of an exit: an interrupted burn-key
 * could leave a block half-programmed, and the result must still be read and recorded.
 */
async function whileBurning<T>(fn: () => Promise<T>): Promise<T> {
  const ignore = () => { process.stderr.write('efuse-attest: an eFuse burn is in progress; waiting for espefuse to finish\n'); };
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', ignore);
  }
}

/**
 * Where key files go: /dev/shm (RAM, never written to a disk) when it is usable, else the OS temp dir.
 */
export function keyDirBase(): string {
  try {
    accessSync('/dev/shm', constants.W_OK | constants.X_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

const KEY_DIR_PREFIX = 'efuse-attest-key-';

/**
 * Runs `fn` with the key in a 0600 file inside a fresh 0700 directory; afterwards the file is
 * overwritten with zeros, synced and removed, whatever happened. Directories left by a process that
 * was killed meanwhile (their pid is in the name) are wiped the same way first.
 */
export async function withPrivateKeyFile<T>(key: Uint8Array, fn: (path: string) => Promise<T>): Promise<T> {
  const base = keyDirBase();
  await sweepKeyDirs(base);
  const dir = await mkdtemp(join(base, `${KEY_DIR_PREFIX}${process.pid}-`)); // mkdtemp makes it 0700
  const path = join(dir, 'key.bin');
  try {
    const fh = await open(path, 'wx', 0o600);
    try { await fh.writeFile(key); } finally { await fh.close(); }
    return await fn(path);
  } finally {
    await shred(path, key.length);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Overwrites a key file with zeros and removes it. The file is opened without following a symbolic
 * link and only overwritten when it is a regular file of this user with one link: a name planted by
 * someone else never makes this write to another file.
 */
async function shred(path: string, size: number): Promise<void> {
  try {
    const fh = await open(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (st.isFile() && st.nlink === 1 && (process.getuid === undefined || st.uid === process.getuid())) {
        await fh.write(new Uint8Array(size), 0, size, 0);
        await fh.sync();
      }
    } finally {
      await fh.close();
    }
  } catch { /* never created, or not ours to touch */ }
  await unlink(path).catch(() => {});
}

/**
 * Wipes key directories whose owning process no longer exists. Only real directories (never a
 * symbolic link) owned by this user and closed to others are touched; anything else in the shared
 * base directory is someone else's and is left alone.
 */
export async function sweepKeyDirs(base = keyDirBase()): Promise<number> {
  let names: string[];
  try { names = await readdir(base); } catch { return 0; }
  let n = 0;
  for (const name of names) {
    const m = new RegExp(`^${KEY_DIR_PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    try { process.kill(pid, 0); continue; } catch (err) { if ((err as NodeJS.ErrnoException).code === 'EPERM') continue; }
    const dir = join(base, name);
    try {
      const st = await lstat(dir);
      if (!st.isDirectory() || (process.getuid !== undefined && st.uid !== process.getuid()) || (st.mode & 0o077) !== 0) continue;
    } catch { continue; }
    await shred(join(dir, 'key.bin'), 32);
    await rm(dir, { recursive: true, force: true });
    n++;
  }
  return n;
}
