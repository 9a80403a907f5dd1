// The provisioning audit log: one JSON object per line, appended and fsync'd before the step it
// records counts as done (docs/provisioning.md §5). It says who did what to which device and how it
// ended; it never holds key bytes (messages pass through redactKey as well). Lines are hash-chained
// (§5.1): each carries the hash of the line before it and its own, so an edited, inserted or removed
// line breaks the chain at that point and `efuse-attest audit verify` names it.
import { createHash } from 'node:crypto';
import { open, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeIoError } from '../atomic.js';
import { AuditError } from '../errors.js';
import { FileLock } from '../escrow/lock.js';

export type AuditOutcome = 'ok' | 'skip' | 'fail' | 'refuse';

export interface AuditEntry {
  /** ISO 8601 UTC. */
  time: string;
  /** One id per `provision` run, to group a batch. */
  run: string;
  /** 12 hex digits; absent when the device could not be read. */
  deviceId?: string;
  chip: string;
  block: string;
  /** "virt chip.bin" or "port /dev/ttyUSB0". */
  target: string;
  step: string;
  outcome: AuditOutcome;
  /** Milliseconds the step took. */
  ms?: number;
  /** What happened, for skips and notes. */
  detail?: string;
  /** The error message of a failure (never key bytes). */
  error?: string;
  code?: string;
}

export interface AuditSink {
  append(entry: AuditEntry): Promise<void>;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
/** A chained line ends with these two fields, hash last: `…,"prev":"<64 hex>","hash":"<64 hex>"}`. */
const CHAINED_RE = /^(.*,"prev":"([0-9a-f]{64})"),"hash":"([0-9a-f]{64})"\}$/s;
const TAIL = 64 * 1024;

/** The chain hash of a line that follows `prev`: SHA-256 of the line up to and including its prev field, closed with "}". */
export function chainLine(entryJson: string, prev: string): string {
  const body = `${entryJson.slice(0, -1)},"prev":"${prev}"}`;
  return `${body.slice(0, -1)},"hash":"${sha256(body)}"}`;
}

/**
 * The hash the next line must carry as `prev`: the last line's own hash, or — for an empty file or
 * one whose last line is not chained (a log written before chaining) — SHA-256 of every byte so far.
 */
async function headOf(fh: Awaited<ReturnType<typeof open>>): Promise<string> {
  const { size } = await fh.stat();
  if (size === 0) return sha256('');
  const len = Math.min(size, TAIL);
  const buf = Buffer.alloc(len);
  await fh.read(buf, 0, len, size - len);
  const text = buf.toString('utf8').replace(/\n$/, '');
  const nl = text.lastIndexOf('\n');
  if (nl >= 0 || len === size) {
    const m = CHAINED_RE.exec(text.slice(nl + 1));
    if (m) return m[3]!;
  }
  const all = Buffer.alloc(size);
  await fh.read(all, 0, size, 0);
  const m = CHAINED_RE.exec(all.toString('utf8').replace(/\n$/, '').split('\n').at(-1) ?? '');
  return m ? m[3]! : sha256(all);
}

/** An append-only, hash-chained JSON-lines file, mode 0600, each line fsync'd. */
export class AuditLog implements AuditSink {
  private dirReady = false;
  /** Appends of this process, one at a time (other processes: the lock file). */
  private queue: Promise<unknown> = Promise.resolve();
  constructor(readonly path: string) {
    if (typeof path !== 'string' || path === '') throw new TypeError('audit log path must be a non-empty string');
  }

  append(entry: AuditEntry): Promise<void> {
    const next = this.queue.then(() => this.appendNow(entry));
    this.queue = next.catch(() => {});
    return next;
  }

  private async appendNow(entry: AuditEntry): Promise<void> {
    const json = JSON.stringify(entry);
    try {
      if (!this.dirReady) {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        this.dirReady = true;
      }
    } catch (err) {
      throw new AuditError(`cannot write the audit log ${this.path}: ${describeIoError(err)}`, 'AUDIT_IO', { cause: err });
    }
    // The chain needs the last line's hash: writers of other processes take turns under a lock file.
    const lock = await FileLock.acquire(this.path + '.lock', `the audit log ${this.path}`);
    try {
      const fh = await open(this.path, 'a+', 0o600);
      try {
        // One write(2) of the whole line with O_APPEND: concurrent writers never interleave within a line.
        await fh.write(chainLine(json, await headOf(fh)) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw new AuditError(`cannot write the audit log ${this.path}: ${describeIoError(err)}`, 'AUDIT_IO', { cause: err });
    } finally {
      await lock.release();
    }
  }
}

export interface ChainReport {
  /** Lines checked (chained ones). */
  entries: number;
  /** Lines before the chain began (a log written before chaining): covered by the first chained line's prev. */
  unchained: number;
  /** The hash of the last line: record it elsewhere to detect a cut-off tail later. */
  head: string;
  ok: boolean;
  /** The first line (1-based) where the chain breaks, and why. */
  broken?: { line: number; reason: string };
}

/** Checks the chain of an audit log file. */
export async function verifyAuditFile(path: string): Promise<ChainReport> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    throw new AuditError(`cannot read the audit log ${path}: ${describeIoError(err)}`, 'AUDIT_IO', { cause: err });
  }
  const report: ChainReport = { entries: 0, unchained: 0, head: sha256(''), ok: true };
  let offset = 0;
  let prevHash: string | undefined;
  let lineNo = 0;
  const text = raw.toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    lineNo++;
    const expected = prevHash ?? sha256(raw.subarray(0, offset));
    const m = CHAINED_RE.exec(line);
    const fail = (reason: string) => { report.ok = false; report.broken = { line: lineNo, reason }; };
    if (!m) {
      if (report.entries > 0) { fail('the line is not chained (inserted, or its hash fields were removed)'); break; }
      report.unchained++;
    } else {
      let parsed = true;
      try { JSON.parse(line); } catch { parsed = false; }
      if (!parsed) { fail('the line is not valid JSON'); break; }
      if (m[2] !== expected) { fail('its prev hash is not the hash of the line before it (a line before it was edited, removed or inserted)'); break; }
      if (sha256(m[1] + '}') !== m[3]) { fail('its content does not match its hash (the line was edited)'); break; }
      report.entries++;
      prevHash = m[3];
    }
    offset += Buffer.byteLength(line, 'utf8') + 1;
  }
  if (report.ok) report.head = prevHash ?? sha256(raw);
  return report;
}

/** Keeps entries in memory: for library callers that log elsewhere, and for tests. */
export class MemoryAudit implements AuditSink {
  readonly entries: AuditEntry[] = [];
  async append(entry: AuditEntry): Promise<void> { this.entries.push({ ...entry }); }
}
