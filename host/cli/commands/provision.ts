// efuse-attest provision: keygen → escrow → burn → check → challenge, for one device or a batch
// (repeat --port / --virt). Burning is irreversible: the command shows what it will do, keys masked
// as espefuse masks them, and asks for BURN unless --yes; --dry-run only reads and prints the exact
// espefuse commands. Resuming after a crash is running the same command again (docs/provisioning.md).
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { hasHmacPeripheral } from '../../../protocol/index.js';
import { AbortedError, EfuseAttestError, UsageError } from '../../errors.js';
import { type EscrowRecord, type EscrowStore } from '../../escrow/store.js';
import { blockName, KEY_SIZE } from '../../../protocol/keyblock.js';
import { FileVault } from '../../escrow/vault.js';
import { Espefuse, type EspefuseTarget } from '../../espefuse/driver.js';
import { findEspefuse } from '../../espefuse/locate.js';
import { wipe } from '../../keys.js';
import { AuditLog } from '../../provision/audit.js';
import { defaultChallenge } from '../../provision/challenge.js';
import { countOutcomes, type Report, writeReport } from '../../provision/report.js';
import { MAX_PARALLEL, provisionBatch } from '../../provision/parallel.js';
import { plan, type Plan, type ProvisionResult } from '../../provision/sequence.js';
import { type Command, type Context, int, required, str, type Values } from '../command.js';
import { DEFAULT_AUDIT, escrowUrl, getPassphrase, openStore, type OpenedStore, readMasterFile, VAULT_OPTIONS, VAULT_USAGE, vaultPath } from '../secrets.js';

const MASKED_KEY = `[${Array(KEY_SIZE).fill('??').join(' ')}]`;

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

interface DryRow { target: string; deviceId?: string; block: string; plan: Plan['action'] | 'unknown'; detail: string; commands: string[] }

/** The exact espefuse command lines a run would use for `p` (paths of private temp files shown as <...>). */
function commandsFor(ef: Espefuse, block: string, p: Plan['action'] | 'unknown'): string[] {
  const lines = [ef.display(ef.summaryCommand('<private temp dir>/summary.json'))];
  if (p === 'burn-new' || p === 'burn-escrowed' || p === 'unknown') {
    lines.push(ef.display(ef.burnKeyCommand(block, '<private temp dir>/key.bin'), { confirm: false }) + '    # key.bin = ' + MASKED_KEY);
    lines.push(ef.display(ef.summaryCommand('<private temp dir>/summary.json')));
  }
  return lines;
}

/**
 * Reads each device and looks up its escrow record to say what would happen. `vault` undefined: the
 * escrow could not be consulted (it exists but no passphrase was at hand); null: there is no vault yet.
 */
async function survey(efs: Espefuse[], block: string, chip: string, vault: EscrowStore | null | undefined, master: boolean): Promise<DryRow[]> {
  const rows: DryRow[] = [];
  const all = vault && master ? await vault.list() : [];
  for (const ef of efs) {
    try {
      const s = await ef.summary();
      const rec: EscrowRecord | undefined = vault ? await vault.get(s.mac, block) : undefined;
      const p = vault !== undefined ? plan(s, chip, block, rec, vault ? `the escrow (${vault.location})` : 'the escrow (none yet)', { master, deviceRecords: all.filter((e) => e.deviceId === s.mac) }) : undefined;
      if (rec) wipe(rec.key);
      rows.push({
        target: ef.label, deviceId: s.mac, block, plan: p?.action ?? 'unknown',
        detail: p?.detail ?? 'the escrow was not consulted (no passphrase)', commands: commandsFor(ef, block, p?.action ?? 'unknown'),
      });
    } catch (err) {
      rows.push({ target: ef.label, block, plan: 'refuse', detail: (err as Error).message, commands: [] });
    } finally {
      await ef.close(); // one espefuse session at a time, however many devices; provisioning opens its own
    }
  }
  return rows;
}

function confirmText(rows: DryRow[], block: string, vault: string): string {
  const burns = rows.filter((r) => r.plan === 'burn-new' || r.plan === 'burn-escrowed' || r.plan === 'unknown');
  return [
    `About to burn eFuses — this cannot be undone. ${burns.length} device(s):`,
    ...burns.map((r) => `  ${r.target}  device ${r.deviceId ?? '?'}: ${block} <- ${MASKED_KEY} purpose HMAC_UP, read-protected, write-protected` +
      (r.plan === 'burn-escrowed' ? ' (the key already escrowed)' : '')),
    `Every key is escrowed in ${vault} and read back before its burn.`,
  ].join('\n');
}

interface BatchInput { efs: Espefuse[]; chip: string; block: string; vault: EscrowStore; master: Uint8Array | undefined; timeoutMs: number }

/** Confirms (unless --yes), provisions every target and writes the report. */
async function burnAll(values: Values, ctx: Context, { efs, chip, block, vault, master, timeoutMs }: BatchInput): Promise<Report> {
  if (values.yes !== true) {
    const rows = await survey(efs, block, chip, vault, master !== undefined);
    if (rows.some((r) => r.plan === 'burn-new' || r.plan === 'burn-escrowed')) {
      const ok = await ctx.confirm(confirmText(rows, block, vault.location), 'BURN');
      if (!ok) {
        wipe(master);
        // ctx.confirm answers false without asking when there is no terminal: say which case this was.
        throw new AbortedError(process.stdin.isTTY
          ? 'nothing was burned: the answer was not BURN'
          : 'nothing was burned: confirmation needs a terminal (type BURN), or pass --yes');
      }
    }
  }

  const audit = new AuditLog(resolve(str(values, 'audit') ?? DEFAULT_AUDIT));
  const run = randomBytes(6).toString('hex');
  const challenge = values['no-challenge'] === true ? null : defaultChallenge({ timeoutMs });
  const startedAt = new Date().toISOString();
  const parallel = int(values, 'parallel', 1, 1, MAX_PARALLEL);
  let done = 0;
  let devices: ProvisionResult[];
  try {
    // Per-port progress: every line names its port; with --parallel several ports interleave.
    devices = await provisionBatch({
      targets: efs, parallel, store: vault, audit, block, run, challenge, ...(master ? { master } : {}),
      onStep: (i, step) => ctx.progress(done, efs.length, `${efs[i]!.label} ${step}`),
      onDevice: (i, r) => ctx.progress(++done, efs.length, `${efs[i]!.label} ${r.outcome}`),
    });
  } finally {
    wipe(master);
  }
  const report: Report = {
    run, startedAt, finishedAt: new Date().toISOString(), escrow: vault.location, audit: audit.path, counts: countOutcomes(devices), devices,
  };
  const reportPath = str(values, 'report');
  if (reportPath) await writeReport(reportPath, report);
  const bad = devices.filter((d) => d.error);
  if (bad.length === 1 && devices.length === 1) {
    const e = bad[0].error!;
    throw new EfuseAttestError(e.message, e.code, e.exitCode);
  }
  if (bad.length > 0) {
    const e = bad[0].error!;
    throw new EfuseAttestError(
      `${bad.length} of ${devices.length} devices did not provision (first: ${bad[0].target}: ${e.message})${reportPath ? `; see ${reportPath}` : ''}`,
      e.code, e.exitCode);
  }
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
    const efs = ts.map((t) => new Espefuse(chip, t, { bin }));
    const masterPath = str(values, 'master');
    const master = masterPath ? await readMasterFile(masterPath) : undefined;
    const timeoutMs = int(values, 'timeout', 2000, 1, 600_000);

    if (values['dry-run'] === true) {
      // Changes nothing: the escrow is consulted only if it exists and a passphrase (or token) is at hand.
      let vault: EscrowStore | null | undefined = null;
      let location: string;
      let opened: OpenedStore | undefined;
      if (escrowUrl(values) !== undefined) {
        const passOk = str(values, 'kek') !== undefined || (await getPassphrase(values, { creating: false }).then(() => true, () => false));
        opened = passOk ? await openStore(values, { mustExist: false, create: false }) : undefined;
        vault = opened;
        location = opened?.location ?? escrowUrl(values)!;
      } else {
        const probe = new FileVault(vaultPath(values), { passphrase: 'probe' });
        location = probe.location;
        if (await probe.exists()) {
          // A wrong passphrase or a damaged vault is an error here too; only a missing passphrase is tolerated.
          const pass = await getPassphrase(values, { creating: false }).catch(() => undefined);
          vault = pass === undefined ? undefined : await FileVault.open(vaultPath(values), { passphrase: pass });
        }
      }
      wipe(master);
      try {
        return { dryRun: true, chip, block, vault: location, devices: await survey(efs, block, chip, vault, master !== undefined) };
      } finally {
        await opened?.close();
      }
    }

    const vault = await openStore(values, { mustExist: false });
    try {
      return await burnAll(values, ctx, { efs, chip, block, vault, master, timeoutMs });
    } finally {
      wipe(master);
      await vault.close();
    }
  },
  format(r: Report & { dryRun?: boolean; devices: (ProvisionResult | DryRow)[] }) {
    if (r.dryRun) {
      return (r.devices as DryRow[]).map((d) => [`${d.target}  device ${d.deviceId ?? '?'}  ${d.block}: ${d.plan} — ${d.detail}`, ...d.commands.map((c) => `  ${c}`)].join('\n')).join('\n')
        + '\n(dry run: nothing was changed)';
    }
    const lines = (r.devices as ProvisionResult[]).map((d) => `${d.target}  device ${d.deviceId ?? '?'}  ${d.block}: ${d.outcome}${d.state ? ` (escrow: ${d.state})` : ''}  ${(d.ms / 1000).toFixed(1)} s`);
    return [...lines, `escrow ${r.escrow}, audit log ${r.audit}`].join('\n');
  },
};
