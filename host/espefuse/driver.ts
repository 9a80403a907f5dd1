// The espefuse driver: every eFuse read and burn goes through the real espefuse (esptool 5.x), with
// the chip always named (--chip) and the target either a serial port or a virtual eFuse image
// (--virt --path-efuse-file), so the same code drives a board and a virtual chip (STYLE.md §6).
// espefuse exits 0 even when it aborts, so a burn counts only once a fresh summary shows it.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { lstat, mkdtemp, open, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abytes, hasHmacPeripheral } from '../../protocol/index.js';
import { EspefuseError } from '../errors.js';
import { redactKey } from '../keys.js';
import { blockName } from '../escrow/store.js';
import { findEspefuse } from './locate.js';
import { readSilicon, siliconPath } from './silicon.js';
import { describeBlock, type EfuseSummary, keyBlock, parseSummary } from './summary.js';
import { childEnv } from '../childenv.js';

export type EspefuseTarget =
  | { kind: 'virt'; image: string }
  | { kind: 'port'; port: string; baud?: number };

export interface EspefuseOptions {
  /** The espefuse executable (default: findEspefuse()). */
  bin?: string;
  /** Per call; default 60 s for virtual images, 180 s for ports. */
  timeoutMs?: number;
}

export const KEY_PURPOSE = 'HMAC_UP';

/** eFuse register window size of the virtual image (REGS.EFUSE_MEM_SIZE in espefuse). */
export function imageSize(chip: string): number {
  return chip === 'esp32' ? 0x120 : 0x200;
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

  constructor(readonly chip: string, readonly target: EspefuseTarget, opts: EspefuseOptions = {}) {
    if (typeof chip !== 'string') throw new TypeError('chip must be a string such as esp32s3');
    hasHmacPeripheral(chip); // RangeError naming the chip list when unknown
    if (target?.kind === 'virt') {
      if (typeof target.image !== 'string' || target.image === '') throw new TypeError('target.image must be a path');
    } else if (target?.kind === 'port') {
      if (typeof target.port !== 'string' || target.port === '') throw new TypeError('target.port must be a path');
    } else {
      throw new TypeError('target must be {kind: "virt", image} or {kind: "port", port}');
    }
    this.bin = opts.bin ?? findEspefuse();
    this.timeoutMs = opts.timeoutMs ?? (target.kind === 'virt' ? 60_000 : 180_000);
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
    const ignore = () => { process.stderr.write('efuse-attest: an eFuse burn is in progress; waiting for espefuse to finish\n'); };
    if (opts.critical) { process.on('SIGINT', ignore); process.on('SIGTERM', ignore); }
    try {
      exit = await new Promise((resolve) => {
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
    } finally {
      if (opts.critical) { process.off('SIGINT', ignore); process.off('SIGTERM', ignore); }
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
   * Refuses, with the reason, unless `block` can take an HMAC_UP key that is then read-protected:
   * HMAC peripheral present, block unused, purpose settable, RD_DIS not write-locked.
   */
  preflight(s: EfuseSummary, block: string): void {
    const b = blockName(block);
    if (!hasHmacPeripheral(this.chip)) {
      throw new EspefuseError(`${this.chip} has no HMAC peripheral: an HMAC_UP key would be unusable`, 'ESPEFUSE_NO_HMAC');
    }
    const k = keyBlock(s, b);
    if (!k.unused) {
      throw new EspefuseError(`${b} of device ${s.mac} is already used (${describeBlock(k)}); a used block is never burned again`, 'BLOCK_USED');
    }
    if (!k.purposeWritable) {
      throw new EspefuseError(`KEY_PURPOSE_${k.slot} of device ${s.mac} is write-protected: ${b} cannot be given purpose HMAC_UP`, 'PURPOSE_LOCKED');
    }
    if (!s.rdDisWritable) {
      throw new EspefuseError(
        `RD_DIS of device ${s.mac} is write-protected${s.secureBoot ? ' (secure boot is enabled, which locks it)' : ''}: ` +
        `a key burned now could not be read-protected, so it is not burned. Provision the HMAC key before enabling secure boot`,
        'RD_DIS_LOCKED');
    }
  }

  /**
   * Burns `key` into `block` with purpose HMAC_UP (espefuse also read- and write-protects it), then
   * re-reads the eFuses and returns the summary that proves it. EspefuseError if the burn cannot be
   * confirmed. Does NOT run preflight: callers do, on a summary they have just read.
   */
  async burnKey(block: string, key: Uint8Array): Promise<EfuseSummary> {
    const b = blockName(block);
    abytes(key, 'key', 32, 32);
    await withPrivateKeyFile(key, (path) => this.run(this.burnKeyCommand(b, path), { confirm: false, secret: key, critical: true }));
    const after = await this.summary();
    const k = keyBlock(after, b);
    if (k.purpose !== KEY_PURPOSE || !k.readProtected) {
      throw new EspefuseError(`espefuse reported success but ${b} of device ${after.mac} is now ${describeBlock(k)}, not HMAC_UP and read-protected`, 'BURN_UNCONFIRMED');
    }
    return after;
  }

  async close(): Promise<void> {}
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
