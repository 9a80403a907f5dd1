// efuse-attest provision: keygen → escrow → burn → check → challenge, for one device or a batch
// (repeat --port / --virt). Burning is irreversible: the command shows what it will do, keys masked
// as espefuse masks them, and asks for BURN unless --yes; --dry-run only reads and prints the exact
// espefuse commands. Resuming after a crash is running the same command again (docs/provisioning.md).
// The work is the library's (host/provision/batch.ts); this file reads options and prints.
import { resolve } from 'node:path';
import { hasHmacPeripheral } from '../../../protocol/index.js';
import { AbortedError, UsageError } from '../../errors.js';
import { blockName } from '../../../protocol/keyblock.js';
import { FileVault } from '../../escrow/vault.js';
import type { EspefuseTarget } from '../../espefuse/driver.js';
import { findEspefuse } from '../../espefuse/locate.js';
import type { EfuseController } from '../../efuse/controller.js';
import { openController } from '../../efuse/open.js';
import { wipe } from '../../keys.js';
import { AuditLog } from '../../provision/audit.js';
import { batchError, confirmText, plansBurn, runBatch, survey, type SurveyEscrow, type SurveyRow } from '../../provision/batch.js';
import { defaultChallenge } from '../../provision/challenge.js';
import { type Report, writeReport } from '../../provision/report.js';
import { MAX_PARALLEL } from '../../provision/parallel.js';
import type { ProvisionResult } from '../../provision/sequence.js';
import { type Command, type Context, int, required, str, type Values } from '../command.js';
import { DEFAULT_AUDIT, escrowUrl, getPassphrase, openStore, type OpenedStore, readMasterFile, VAULT_OPTIONS, VAULT_USAGE, vaultPath } from '../secrets.js';

function list(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

function targets(values: Values): EspefuseTarget[] {
  const baud = str(values, 'baud') !== undefined ? int(values, 'baud', 0, 300, 5_000_000) : undefined;
  const out: EspefuseTarget[] = [
    ...list(values, 'port').map((port): EspefuseTarget => ({ kind: 'port', port, ...(baud ? { baud } : {}) })),
    ...list(values, 'virt').map((image): EspefuseTarget => ({ kind: 'virt', image })),
  ];
  if (out.length === 0) throw new UsageError('give at least one --port PATH or --virt IMAGE');
  const seen = new Set<string>();
  for (const t of out) {
    const k = t.kind === 'port' ? t.port : t.image;
    if (seen.has(k)) throw new UsageError(`${k} is given twice`);
    seen.add(k);
  }
  return out;
}

/**
 * The escrow for a dry run, which changes nothing: consulted only if it exists and a passphrase (or
 * token) is at hand; a wrong passphrase or a damaged vault is an error here too.
 */
async function dryRunEscrow(values: Values): Promise<{ escrow: SurveyEscrow; location: string; close(): Promise<void> }> {
  const url = escrowUrl(values);
  if (url !== undefined) {
    const passOk = str(values, 'kek') !== undefined || (await getPassphrase(values, { creating: false }).then(() => true, () => false));
    if (!passOk) return { escrow: { kind: 'unopened', location: url }, location: url, close: async () => {} };
    const opened: OpenedStore = await openStore(values, { mustExist: false, create: false });
    return { escrow: { kind: 'store', store: opened }, location: opened.location, close: () => opened.close() };
  }
  const path = vaultPath(values);
  const location = resolve(path);
  if (!(await FileVault.exists(path))) return { escrow: { kind: 'none', location }, location, close: async () => {} };
  const pass = await getPassphrase(values, { creating: false }).catch(() => undefined);
  if (pass === undefined) return { escrow: { kind: 'unopened', location }, location, close: async () => {} };
  return { escrow: { kind: 'store', store: await FileVault.open(path, { passphrase: pass }) }, location, close: async () => {} };
}

interface BatchInput { efs: EfuseController[]; chip: string; block: string; master: Uint8Array | undefined; timeoutMs: number }

/** Confirms (unless --yes), provisions every target and writes the report. */
async function burnAll(values: Values, ctx: Context, vault: OpenedStore, { efs, chip, block, master, timeoutMs }: BatchInput): Promise<Report> {
  if (values.yes !== true) {
    const rows = await survey(efs, { chip, block, escrow: { kind: 'store', store: vault }, master: master !== undefined });
    if (plansBurn(rows) && !(await ctx.confirm(confirmText(rows, block, vault.location), 'BURN'))) {
      // ctx.confirm answers false without asking when there is no terminal: say which case this was.
      throw new AbortedError(process.stdin.isTTY
        ? 'nothing was burned: the answer was not BURN'
        : 'nothing was burned: confirmation needs a terminal (type BURN), or pass --yes');
    }
  }
  const report = await runBatch({
    targets: efs, parallel: int(values, 'parallel', 1, 1, MAX_PARALLEL), store: vault, audit: new AuditLog(resolve(str(values, 'audit') ?? DEFAULT_AUDIT)), block,
    challenge: values['no-challenge'] === true ? null : defaultChallenge({ timeoutMs }), ...(master ? { master } : {}),
    onProgress: (done, total, line) => ctx.progress(done, total, line),
  });
  const reportPath = str(values, 'report');
  if (reportPath) await writeReport(reportPath, report);
  const err = batchError(report.devices, reportPath);
  if (err) throw err;
  return report;
}

export const provision: Command = {
  name: 'provision',
  summary: 'generate, escrow, burn (HMAC_UP, read-protected) and verify device keys',
  usage: `efuse-attest provision --virt chip.bin [--virt chip2.bin …] --chip esp32s3 [options]
efuse-attest provision --port /dev/ttyUSB0 [--port …] --chip esp32s3 [options]

For each device: read its eFuses → make a key (or derive it with --master) → escrow it (fsync'd,
read back) → espefuse burn-key BLOCK HMAC_UP → re-read the eFuses (purpose HMAC_UP, read-protected)
→ challenge it (an attestation verified with the escrowed key) → mark it verified.
Running the same command again after a crash resumes safely: an escrowed key is burned or verified,
never replaced; a used block without an escrow record is refused, never burned again.

  --chip NAME          esp32s3, esp32c3, ... (required; checked against each device)
  --port PATH          a device on a serial port (repeatable)
  --baud N             espefuse baud rate for ports
  --virt IMAGE         a virtual chip (efuse-attest chip create) (repeatable)
  --block NAME         BLOCK_KEY0..BLOCK_KEY5 (default BLOCK_KEY0)
  --master FILE        derive keys from this master (DPS group key, raw bytes) instead of random
  --dry-run            read the devices and print what would happen and the espefuse commands
  --yes                burn without asking (batch rigs); without it, type BURN at the prompt
  --no-challenge       skip the attestation check (records stay "burned", not "verified")
  --timeout MS         challenge answer timeout (default 2000)
  --parallel N         provision up to N devices at once (1..${MAX_PARALLEL}, default 1); one report
  --report FILE        write a report: FILE.csv as CSV, anything else JSON
  --audit FILE         the audit log (default ${DEFAULT_AUDIT})
${VAULT_USAGE}`,
  options: {
    ...VAULT_OPTIONS,
    chip: { type: 'string' }, port: { type: 'string', multiple: true }, virt: { type: 'string', multiple: true }, baud: { type: 'string' },
    block: { type: 'string' }, master: { type: 'string' }, 'dry-run': { type: 'boolean' }, yes: { type: 'boolean', short: 'y' },
    'no-challenge': { type: 'boolean' }, timeout: { type: 'string' }, report: { type: 'string' }, audit: { type: 'string' },
    parallel: { type: 'string' },
  },
  async run(values, _positionals, ctx: Context) {
    const chip = required(values, 'chip');
    hasHmacPeripheral(chip); // RangeError for an unknown chip
    const block = blockName(str(values, 'block') ?? 'BLOCK_KEY0', '--block');
    const ts = targets(values);
    const bin = findEspefuse();
    const masterPath = str(values, 'master');
    const master = masterPath ? await readMasterFile(masterPath) : undefined;
    const timeoutMs = int(values, 'timeout', 2000, 1, 600_000);
    const efs = ts.map((t) => openController(chip, t, { bin }));
    try {
      if (values['dry-run'] === true) {
        wipe(master);
        const { escrow, location, close } = await dryRunEscrow(values);
        try {
          return { dryRun: true, chip, block, vault: location, devices: await survey(efs, { chip, block, escrow, master: master !== undefined }) };
        } finally {
          await close();
        }
      }
      const vault = await openStore(values, { mustExist: false });
      try {
        return await burnAll(values, ctx, vault, { efs, chip, block, master, timeoutMs });
      } finally {
        await vault.close();
      }
    } finally {
      wipe(master);
      for (const ef of efs) await ef.close();
    }
  },
  format(r: Report & { dryRun?: boolean; devices: (ProvisionResult | SurveyRow)[] }) {
    if (r.dryRun) {
      return (r.devices as SurveyRow[]).map((d) => [`${d.target}  device ${d.deviceId ?? '?'}  ${d.block}: ${d.plan} — ${d.detail}`, ...d.commands.map((c) => `  ${c}`)].join('\n')).join('\n')
        + '\n(dry run: nothing was changed)';
    }
    const lines = (r.devices as ProvisionResult[]).map((d) => `${d.target}  device ${d.deviceId ?? '?'}  ${d.block}: ${d.outcome}${d.state ? ` (escrow: ${d.state})` : ''}  ${(d.ms / 1000).toFixed(1)} s`);
    return [...lines, `escrow ${r.escrow}, audit log ${r.audit}`].join('\n');
  },
};
