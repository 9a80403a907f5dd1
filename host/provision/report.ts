// The batch report of `efuse-attest provision --report out.json|out.csv`: one row per device, no key
// bytes. CSV cells that a spreadsheet would run as a formula are prefixed with a quote.
import { writeFileAtomic } from '../atomic.js';
import type { ProvisionResult } from './sequence.js';

export const CSV_COLUMNS = ['target', 'deviceId', 'chip', 'block', 'outcome', 'state', 'derived', 'burned', 'ms', 'errorCode', 'error'] as const;

export interface Report {
  run: string;
  startedAt: string;
  finishedAt: string;
  escrow: string;
  audit: string;
  counts: Record<string, number>;
  devices: ProvisionResult[];
}

function csvCell(v: unknown): string {
  let s = v === undefined || v === null ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function reportCsv(r: Report): string {
  const rows = r.devices.map((d) => [
    d.target, d.deviceId, d.chip, d.block, d.outcome, d.state, d.derived, d.burned, d.ms, d.error?.code, d.error?.message,
  ].map(csvCell).join(','));
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export function reportJson(r: Report): string {
  return JSON.stringify(r, null, 2) + '\n';
}

/** Writes the report atomically; the format follows the file name (.csv, anything else JSON). */
export async function writeReport(path: string, r: Report): Promise<void> {
  await writeFileAtomic(path, /\.csv$/i.test(path) ? reportCsv(r) : reportJson(r), { mode: 0o644 });
}

export function countOutcomes(devices: ProvisionResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const d of devices) counts[d.outcome] = (counts[d.outcome] ?? 0) + 1;
  return counts;
}
