// Starts the emulator (emulator/build/<chip>/efuse-attest-emu): an emulated ESP32 that runs the firmware on
// the real XS engine with a simulated ESP-IDF, its UART on a pseudo-terminal. `path` is a real serial
// device node: open it with Client.open (serialport) exactly as a USB bridge.
// The process protocol (emulator/src/main.c): one "PTY /dev/pts/N" line on stdout when the firmware
// runs; SIGUSR1 -> one {"stats":{...}} line on stderr; SIGHUP resets the chip; SIGTERM ends it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { astring } from '../protocol/bytes.js';
import { chipsWith, requireChip } from '../protocol/chips.js';
import { TimeoutError, TransportError, UsageError } from './errors.js';
import { linkMap } from './firmware/link-map.js';
import { childEnv } from './childenv.js';

export interface EmulatorOptions {
  /** An emulated chip of protocol/chips.ts ("esp32s3", …): emulator/build/<chip>/efuse-attest-emu runs it. */
  chip: string;
  /** eFuse image made by espefuse --virt. */
  efuse: string;
  /** What the silicon holds beyond the image; default `<efuse>.silicon.json`. */
  silicon?: string;
  /** Also make this path a symbolic link to the pty (removed when the emulator ends). */
  link?: string;
  /**
   * A root manifest to link instead of the firmware's moddable.json (its modules, preloads and config
   * for this chip, as mcconfig would resolve them).
   */
  manifest?: string;
  /** A file to run as the module "main" instead of the one the manifests name (device/boot.js). */
  main?: string;
  /** Pass the emulator's stderr (trace, module loads) through to onLog, or process.stderr. */
  verbose?: boolean;
  /** Merged over the "config" of moddable.json (the firmware's mc/config). */
  configJson?: object;
  /** Emulator binary; default picked by chip from <root>/emulator/build. */
  binary?: string;
  /** How long to wait for the firmware to run; default 10 s. */
  startTimeoutMs?: number;
  /** Receives the emulator's stderr lines other than stats (errors it reports, trace with verbose). */
  onLog?: (line: string) => void;
}

/** The engine's own counters after a garbage collection, and the UART's byte counts. */
export interface EmulatorStats {
  chunkBytes: number;
  chunkPeak: number;
  slotBytes: number;
  slotPeak: number;
  heapCount: number;
  callbackErrors: number;
  bytesIn: number;
  bytesOut: number;
  resets: number;
  /** Bytes lost to a full RX FIFO (the firmware did not read when called). */
  rxLost: number;
}

export interface Emulator {
  /** The pty to open (/dev/pts/N). */
  readonly path: string;
  readonly pid: number;
  /** Resolves with the exit code (null when killed by a signal) once the emulator has ended. */
  readonly exited: Promise<number | null>;
  stats(): Promise<EmulatorStats>;
  /** Resets the chip (boot text, firmware restarted, same pty); resolves once it runs again. */
  reset(): Promise<void>;
  /** Ends the emulator; resolves with its last stats line. */
  stop(): Promise<EmulatorStats | undefined>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STATS_FIELDS: readonly (keyof EmulatorStats)[] = [
  'chunkBytes', 'chunkPeak', 'slotBytes', 'slotPeak', 'heapCount', 'callbackErrors', 'bytesIn', 'bytesOut', 'resets', 'rxLost',
];
const KEEP_LINES = 20;
const STATS_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 5000;

/**
 * The binary for a chip (one per chip, as an IDF app is built for one target) from `dir` (default:
 * $EFUSE_ATTEST_EMULATOR_DIR, else <root>/emulator/build; emulator/build/sdk holds the build on a
 * Moddable SDK's own XS engine when one was found).
 */
export function emulatorBinary(chip: string, dir = process.env.EFUSE_ATTEST_EMULATOR_DIR || ROOT + 'emulator/build'): string {
  requireChip(chip, 'emulated');
  return join(dir, chip, 'efuse-attest-emu');
}

/** Parses a `{"stats":{...}}` line; undefined for any other line. */
export function parseStatsLine(line: string): EmulatorStats | undefined {
  if (!line.startsWith('{"stats":')) return undefined;
  let parsed: unknown;
  try { parsed = JSON.parse(line); } catch { return undefined; }
  const s = (parsed as { stats?: Record<string, unknown> }).stats;
  if (!s || typeof s !== 'object') return undefined;
  const out = {} as EmulatorStats;
  for (const k of STATS_FIELDS) {
    const v = s[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return undefined;
    out[k] = v;
  }
  return out;
}

function buildArgs(opts: EmulatorOptions, linkmap: string | undefined): string[] {
  const args = ['--chip', opts.chip, '--efuse', opts.efuse, '--root', ROOT];
  if (linkmap !== undefined) args.push('--linkmap', linkmap);
  if (opts.silicon !== undefined) args.push('--silicon', astring(opts.silicon, 'silicon', 1));
  if (opts.link !== undefined) args.push('--link', astring(opts.link, 'link', 1));
  if (opts.main !== undefined) args.push('--main', astring(opts.main, 'main', 1));
  if (opts.configJson !== undefined) {
    if (opts.configJson === null || typeof opts.configJson !== 'object' || Array.isArray(opts.configJson)) {
      throw new TypeError('configJson must be an object');
    }
    args.push('--config-json', JSON.stringify(opts.configJson));
  }
  if (opts.verbose) args.push('--verbose');
  return args;
}

export async function startEmulator(opts: EmulatorOptions): Promise<Emulator> {
  const chip = astring(opts.chip, 'chip', 1);
  requireChip(chip, 'emulated');
  astring(opts.efuse, 'efuse', 1);
  const binary = opts.binary ?? emulatorBinary(chip);
  let linkmapDir: string | undefined;
  let linkmap: string | undefined;
  if (opts.manifest !== undefined) {
    const text = linkMap(ROOT, chip, astring(opts.manifest, 'manifest', 1));
    linkmapDir = mkdtempSync(join(tmpdir(), 'efuse-attest-linkmap-'));
    linkmap = join(linkmapDir, `${chip}.map`);
    writeFileSync(linkmap, text);
  }
  const args = buildArgs(opts, linkmap);
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000;
  if (!existsSync(binary)) {
    throw new UsageError(`no emulator for ${chip}: ${binary} is missing (scripts/setup.sh, or make -C emulator, builds it for ${chipsWith('emulated').join(', ')})`);
  }

  // Own process group: a Ctrl-C at the terminal reaches the caller, which stops the emulator in order.
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: childEnv() });
  const recent: string[] = [];
  let lastStats: EmulatorStats | undefined;
  let statsWaiters: { resolve(s: EmulatorStats): void; reject(e: Error): void }[] = [];
  let exitCode: number | null | undefined;

  const log = (line: string) => {
    recent.push(line);
    if (recent.length > KEEP_LINES) recent.shift();
    if (opts.onLog) opts.onLog(line);
    else if (opts.verbose) process.stderr.write(`emulator: ${line}\n`);
  };
  const tail = () => (recent.length ? `: ${recent.join(' / ')}` : '');

  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      exitCode = code;
      const waiters = statsWaiters;
      statsWaiters = [];
      for (const w of waiters) w.reject(new TransportError(`the emulator exited (status ${code})${tail()}`));
      resolve(code);
    });
  });
  const onParentExit = () => { if (exitCode === undefined) child.kill('SIGKILL'); };
  process.once('exit', onParentExit);
  void exited.then(() => {
    process.removeListener('exit', onParentExit);
    if (linkmapDir) rmSync(linkmapDir, { recursive: true, force: true });
  });

  let stderrBuffer = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderrBuffer += chunk;
    let nl: number;
    while ((nl = stderrBuffer.indexOf('\n')) >= 0) {
      const line = stderrBuffer.slice(0, nl);
      stderrBuffer = stderrBuffer.slice(nl + 1);
      const stats = parseStatsLine(line);
      if (stats) {
        lastStats = stats;
        const waiters = statsWaiters;
        statsWaiters = [];
        for (const w of waiters) w.resolve(stats);
      } else if (line) {
        log(line);
      }
    }
  });

  const path = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new TimeoutError(`the emulator did not start within ${startTimeoutMs} ms${tail()}`));
    }, startTimeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const m = /^PTY (\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new TransportError(`cannot run the emulator ${binary}: ${err.message}`, { cause: err }));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      // Status 2: the arguments or the chip files were refused; otherwise the firmware did not start.
      const why = `the emulator exited with status ${code} before it was ready${tail()}`;
      reject(code === 2 ? new UsageError(why) : new TransportError(why));
    });
  });

  const signal = (name: NodeJS.Signals) => {
    if (exitCode !== undefined) throw new TransportError(`the emulator has exited (status ${exitCode})${tail()}`);
    child.kill(name);
  };

  const stats = () => new Promise<EmulatorStats>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(`no stats from the emulator within ${STATS_TIMEOUT_MS} ms`)), STATS_TIMEOUT_MS);
    statsWaiters.push({
      resolve: (s) => { clearTimeout(timer); resolve(s); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    });
    try { signal('SIGUSR1'); } catch (e) { clearTimeout(timer); statsWaiters.pop(); reject(e); }
  });

  return Object.freeze({
    path,
    pid: child.pid!,
    exited,
    stats,
    async reset() {
      // Signals are handled in the order they arrive: the stats line after SIGHUP proves the new
      // firmware is running.
      signal('SIGHUP');
      await stats();
    },
    async stop() {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      return lastStats;
    },
  });
}
