// Batch provisioning as a station runs it, for the CLI (`efuse-attest provision`) and for rigs that
// drive the library: survey the devices (what each would get, and the exact commands), the text a
// person confirms before anything is burned (STYLE.md §13), the run over every target with progress,
// the report, and one error that sums up the devices that did not provision.
import { randomBytes } from 'node:crypto';
import type { EfuseController } from '../efuse/controller.js';
import { MASKED_KEY } from '../efuse/commands.js';
import { EfuseAttestError } from '../errors.js';
import type { EscrowRecord, EscrowStore } from '../escrow/store.js';
import { wipe } from '../keys.js';
import type { AuditSink } from './audit.js';
import { provisionBatch, type BatchOptions } from './parallel.js';
import { countOutcomes, type Report } from './report.js';
import { plan, type Plan, type ProvisionResult } from './sequence.js';

/** What a dry run or a confirmation knows of one device before anything is written. */
export interface SurveyRow {
  target: string;
  deviceId?: string;
  block: string;
  /** 'unknown': the escrow could not be consulted, so a burn is possible. */
  plan: Plan['action'] | 'unknown';
  detail: string;
  /** The commands the run would use (key files as placeholders, the key masked). */
  commands: string[];
}

/** The escrow as a survey sees it. */
export type SurveyEscrow =
  /** Consulted: its records decide each plan. */
  | { kind: 'store'; store: EscrowStore }
  /** There is none yet (nothing created by looking): every device is new to it. */
  | { kind: 'none'; location: string }
  /** It exists but was not opened (no passphrase at hand): plans are 'unknown'. */
  | { kind: 'unopened'; location: string };

export interface SurveyOptions {
  chip: string;
  block: string;
  escrow: SurveyEscrow;
  /** Keys would be derived from a master (--master). */
  master?: boolean;
}

const burns = (p: SurveyRow['plan']): boolean => p === 'burn-new' || p === 'burn-escrowed' || p === 'unknown';

/** Reads each device and its escrow record to say what would happen. Changes nothing; never throws for one device. */
export async function survey(targets: readonly EfuseController[], opts: SurveyOptions): Promise<SurveyRow[]> {
  const { chip, block, escrow } = opts;
  const master = opts.master === true;
  const store = escrow.kind === 'store' ? escrow.store : undefined;
  const escrowName = store ? `the escrow (${store.location})` : 'the escrow (none yet)';
  const all = store && master ? await store.list() : [];
  const rows: SurveyRow[] = [];
  for (const ef of targets) {
    try {
      const s = await ef.summary();
      const rec: EscrowRecord | undefined = store ? await store.get(s.mac, block) : undefined;
      const p = escrow.kind !== 'unopened' ? plan(s, chip, block, rec, escrowName, { master, deviceRecords: all.filter((e) => e.deviceId === s.mac) }) : undefined;
      if (rec) wipe(rec.key);
      const action = p?.action ?? 'unknown';
      rows.push({
        target: ef.label, deviceId: s.mac, block, plan: action,
        detail: p?.detail ?? 'the escrow was not consulted (no passphrase)', commands: ef.plannedCommands(block, burns(action)),
      });
    } catch (err) {
      rows.push({ target: ef.label, block, plan: 'refuse', detail: (err as Error).message, commands: [] });
    }
  }
  return rows;
}

/** A device of the survey is planned to be burned (an unknown plan does not count: nothing says it would). */
export function plansBurn(rows: readonly SurveyRow[]): boolean {
  return rows.some((r) => r.plan === 'burn-new' || r.plan === 'burn-escrowed');
}

/** What a person confirms with BURN: every device that may be burned, the key masked. */
export function confirmText(rows: readonly SurveyRow[], block: string, escrowLocation: string): string {
  const burning = rows.filter((r) => burns(r.plan));
  return [
    `About to burn eFuses — this cannot be undone. ${burning.length} device(s):`,
    ...burning.map((r) => `  ${r.target}  device ${r.deviceId ?? '?'}: ${block} <- ${MASKED_KEY} purpose HMAC_UP, read-protected, write-protected` +
      (r.plan === 'burn-escrowed' ? ' (the key already escrowed)' : '')),
    `Every key is escrowed in ${escrowLocation} and read back before its burn.`,
  ].join('\n');
}

export interface RunBatchOptions extends Omit<BatchOptions, 'onStep' | 'onDevice' | 'run' | 'audit'> {
  /** The audit log (its path goes into the report). */
  audit: AuditSink & { readonly path: string };
  /** Progress: `done` of `total` devices finished; `line` names the target and its step or outcome. */
  onProgress?: (done: number, total: number, line: string) => void;
}

/** Provisions every target (a pool of `parallel`) and returns the report; failures are in its rows. */
export async function runBatch(opts: RunBatchOptions): Promise<Report> {
  const { onProgress, ...rest } = opts;
  const { targets } = opts;
  const run = randomBytes(6).toString('hex');
  const startedAt = new Date().toISOString();
  let done = 0;
  // Per-port progress: every line names its port; with parallel > 1 several ports interleave.
  const devices = await provisionBatch({
    ...rest, run,
    ...(onProgress ? {
      onStep: (i, step) => onProgress(done, targets.length, `${targets[i]!.label} ${step}`),
      onDevice: (i, r) => onProgress(++done, targets.length, `${targets[i]!.label} ${r.outcome}`),
    } : {}),
  });
  return {
    run, startedAt, finishedAt: new Date().toISOString(), escrow: opts.store.location, audit: opts.audit.path,
    counts: countOutcomes(devices), devices,
  };
}

/**
 * One error for the devices of `devices` that did not provision, or undefined when all did: a lone
 * device's own error, else a count naming the first failure (and where the report is), with its
 * code and exit code.
 */
export function batchError(devices: readonly ProvisionResult[], reportPath?: string): EfuseAttestError | undefined {
  const bad = devices.filter((d) => d.error);
  if (bad.length === 0) return undefined;
  const e = bad[0]!.error!;
  if (devices.length === 1) return new EfuseAttestError(e.message, e.code, e.exitCode);
  return new EfuseAttestError(
    `${bad.length} of ${devices.length} devices did not provision (first: ${bad[0]!.target}: ${e.message})${reportPath ? `; see ${reportPath}` : ''}`,
    e.code, e.exitCode);
}
