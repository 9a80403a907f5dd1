// The provisioning audit log: one JSON object per line, appended and fsync'd before the step it
// records counts as done (docs/provisioning.md §5). It says who did what to which device and how it
// ended; it never holds key bytes (messages pass through redactKey as well).
import { open, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeIoError } from '../atomic.js';
import { EscrowError } from '../errors.js';

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

/** An append-only JSON-lines file, mode 0600, each line fsync'd. */
export class AuditLog implements AuditSink {
  private dirReady = false;
  constructor(readonly path: string) {
    if (typeof path !== 'string' || path === '') throw new TypeError('audit log path must be a non-empty string');
  }

  async append(entry: AuditEntry): Promise<void> {
    const line = JSON.stringify(entry) + '\n';
    try {
      if (!this.dirReady) {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        this.dirReady = true;
      }
      // One write(2) of the whole line with O_APPEND: concurrent writers never interleave within a line.
      const fh = await open(this.path, 'a', 0o600);
      try {
        await fh.write(line);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw new EscrowError(`cannot write the audit log ${this.path}: ${describeIoError(err)}`, 'AUDIT_IO', { cause: err });
    }
  }
}

/** Keeps entries in memory: for library callers that log elsewhere, and for tests. */
export class MemoryAudit implements AuditSink {
  readonly entries: AuditEntry[] = [];
  async append(entry: AuditEntry): Promise<void> { this.entries.push({ ...entry }); }
}
