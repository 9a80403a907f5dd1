// A provisioning run that dies (SIGKILL) right after one step, for the end-to-end crash tests: the
// library's sequence on a virtual chip (the real espefuse, the emulator for the challenge) with the
// step callback — called once a step's audit line is written — killing the process. Nothing after
// that point runs: no cleanup, no lock release, no claim release, as after a power cut.
//   node dist/test/support/crash-run.js '{"step":"burn","chip":"esp32s3","image":"…","vault":"…","audit":"…"}'
// The passphrase comes from EFUSE_ATTEST_PASSPHRASE; "escrow" names a PostgreSQL URL instead of a vault.
import { VirtualChipEfuse } from '../../host/efuse/virtual-chip.js';
import { PgStore } from '../../host/escrow/pg.js';
import type { EscrowStore } from '../../host/escrow/store.js';
import { FileVault } from '../../host/escrow/vault.js';
import { AuditLog } from '../../host/provision/audit.js';
import { defaultChallenge } from '../../host/provision/challenge.js';
import { provisionDevice, STEPS, type Step } from '../../host/provision/sequence.js';

export interface CrashRun {
  step: Step;
  chip: string;
  image: string;
  audit: string;
  vault?: string;
  escrow?: string;
  block?: string;
  /** Run the challenge step (default true). */
  challenge?: boolean;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '') as CrashRun;
  if (!STEPS.includes(o.step)) throw new RangeError(`step must be one of ${STEPS.join(', ')}`);
  const passphrase = process.env.EFUSE_ATTEST_PASSPHRASE;
  if (!passphrase) throw new TypeError('EFUSE_ATTEST_PASSPHRASE is not set');
  const store: EscrowStore = o.escrow ? await PgStore.open(o.escrow, { passphrase }) : await FileVault.open(o.vault!, { passphrase });
  const r = await provisionDevice({
    efuse: new VirtualChipEfuse(o.chip, o.image), store, audit: new AuditLog(o.audit), block: o.block ?? 'BLOCK_KEY0',
    challenge: o.challenge === false ? null : defaultChallenge({ timeoutMs: 5000 }),
    onStep: (step, outcome) => { if (step === o.step && outcome === 'ok') process.kill(process.pid, 'SIGKILL'); },
  });
  // Reached only when the step never ended ok.
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(1);
}

main().catch((err: unknown) => { process.stderr.write(`crash-run: ${(err as Error).message}\n`); process.exit(2); });
