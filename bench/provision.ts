// 4. Provisioning one virtual chip: provisionDevice (read → keygen → escrow in a FileVault → burn →
// check → mark-burned, audit log fsync'd per step) against the bare espefuse runs a script would make
// for the same work — `summary --format json`, `burn-key`, `summary`, three processes and three
// connections — spawned directly on a fresh image with child_process. provisionDevice drives espefuse
// through one session (one process, one connection: host/espefuse/worker.py), so the ratio is the
// interpreter starts and connections saved, less what the library adds. The same with `session: false`
// (one espefuse command per step, the fallback) shows the library's own cost against the bare runs.
// Fresh images every round, rounds interleaved.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileVault } from '../host/escrow/vault.js';
import { keyDirBase } from '../host/espefuse/driver.js';
import { VirtualChipEfuse } from '../host/efuse/virtual-chip.js';
import { findEspefuse } from '../host/espefuse/locate.js';
import { AuditLog } from '../host/provision/audit.js';
import { defaultChallenge } from '../host/provision/challenge.js';
import { provisionDevice } from '../host/provision/sequence.js';
import { benchChip } from './chip.js';
import { line, summarize, type Summary, verdict } from './util.js';

const CHIP = 'esp32s3';
const TARGET_RATIO = 0.5;
const BARE_PROCESSES = 3;

function espefuse(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`espefuse ${args.join(' ')} exited ${code}`))));
  });
}

/** The three espefuse runs of a provision, nothing else; ms. */
async function bareRound(bin: string): Promise<number> {
  const c = await benchChip(CHIP, false);
  const where = ['--chip', CHIP, '--virt', '--path-efuse-file', c.image];
  const json = join(c.dir, 'summary.json');
  const keyFile = join(keyDirBase(), `efa-bench-${process.pid}-${randomBytes(4).toString('hex')}.bin`);
  try {
    const t0 = performance.now();
    await espefuse(bin, [...where, 'summary', '--format', 'json', '--file', json]);
    JSON.parse(await readFile(json, 'utf8'));
    await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
    await espefuse(bin, [...where, '--do-not-confirm', 'burn-key', 'BLOCK_KEY0', keyFile, 'HMAC_UP']);
    await espefuse(bin, [...where, 'summary', '--format', 'json', '--file', json]);
    JSON.parse(await readFile(json, 'utf8'));
    return performance.now() - t0;
  } finally {
    await unlink(keyFile).catch(() => {});
    await c.remove();
  }
}

interface OurRound { ms: number; challengeMs: number; processes: number; mode: string }

/** One provisionDevice on a fresh image into `vault`: total ms, the challenge step's ms, espefuse processes. */
async function ourRound(vault: FileVault, audit: AuditLog, challenge: boolean, session = true): Promise<OurRound> {
  const c = await benchChip(CHIP, false);
  const efuse = new VirtualChipEfuse(CHIP, c.image, { session });
  try {
    const t0 = performance.now();
    const r = await provisionDevice({
      efuse, store: vault, audit, block: 'BLOCK_KEY0',
      challenge: challenge ? defaultChallenge() : null,
    });
    const ms = performance.now() - t0;
    const want = challenge ? 'provisioned' : 'burned-unverified';
    if (r.outcome !== want) throw new Error(`provision ended ${r.outcome}: ${r.error?.message ?? ''}`);
    const { processes, mode } = efuse.espefuse.connection;
    return { ms, challengeMs: r.steps.find((st) => st.step === 'challenge' && st.outcome === 'ok')?.ms ?? 0, processes, mode };
  } finally {
    await efuse.close();
    await c.remove();
  }
}

export interface ProvisionFigures {
  rounds: number;
  oursMs: Summary;
  bareMs: Summary;
  /** provisionDevice with `session: false` (one espefuse command per step, the fallback), same rounds. */
  commandMs: Summary;
  /** First device into a new vault: includes the vault's one scrypt derivation. */
  firstDeviceMs: number;
  ratioBest: number;
  ratioMedian: number;
  withChallengeMs: Summary;
  /** The challenge step alone (emulator start, one attestation, verify, stop), from the result's steps. */
  challengeStepMs: Summary;
  targetRatio: number;
  met: boolean;
  /** espefuse processes per device (each one connection to the chip): ours (most in any round), bare. */
  processesPerDevice: number;
  bareProcessesPerDevice: number;
  /** How provisionDevice reached espefuse: 'session' (worker.py) or 'command' (the fallback). */
  mode: string;
}

export async function benchProvision(rounds = 6, challengeRounds = 3): Promise<ProvisionFigures> {
  const bin = findEspefuse();
  const dir = await mkdtemp(join(tmpdir(), 'efa-bench-vault-'));
  try {
    const vault = new FileVault(join(dir, 'escrow.vault'), { passphrase: randomBytes(16).toString('hex') });
    const audit = new AuditLog(join(dir, 'audit.jsonl'));
    await bareRound(bin); // warm-up: page cache, Python bytecode, the chip template
    const firstDeviceMs = (await ourRound(vault, audit, false)).ms;
    const ours: number[] = [];
    const bare: number[] = [];
    const command: number[] = [];
    let processes = 0;
    let commandProcesses = 0;
    const modes = new Set<string>();
    for (let i = 0; i < rounds; i++) {
      const r = await ourRound(vault, audit, false);
      ours.push(r.ms);
      processes = Math.max(processes, r.processes);
      modes.add(r.mode);
      bare.push(await bareRound(bin));
      const f = await ourRound(vault, audit, false, false);
      command.push(f.ms);
      commandProcesses = Math.max(commandProcesses, f.processes);
    }
    const mode = [...modes].join('+');
    const withChallenge: number[] = [];
    const challengeStep: number[] = [];
    for (let i = 0; i < challengeRounds; i++) {
      const r = await ourRound(vault, audit, true);
      withChallenge.push(r.ms);
      challengeStep.push(r.challengeMs);
    }
    const o = summarize(ours);
    const b = summarize(bare);
    const f = summarize(command);
    const c = summarize(withChallenge);
    const step = summarize(challengeStep);
    const ratioBest = o.min / b.min;
    const ratioMedian = o.median / b.median;
    const met = ratioMedian <= TARGET_RATIO;
    line(`4. provisionDevice, no challenge, ${rounds}× (ms best/median)`, `${o.min.toFixed(0)} / ${o.median.toFixed(0)}`);
    line('   bare espefuse summary, burn-key, summary (ms best/med.)', `${b.min.toFixed(0)} / ${b.median.toFixed(0)}`);
    line(`   ratio best / median (target <= ${TARGET_RATIO}, median)`, `${ratioBest.toFixed(3)} / ${ratioMedian.toFixed(3)} (${verdict(met)})`);
    line('   espefuse processes = connections per device', `${processes} (${mode}) vs ${BARE_PROCESSES} bare`);
    line('   one espefuse command per step (session: false), median', `${f.median.toFixed(0)} ms, ${(f.median / b.median).toFixed(3)}× bare, ${commandProcesses} processes`);
    line('   first device into a new vault, with its scrypt (ms)', firstDeviceMs.toFixed(0));
    line(`   with the default challenge, ${challengeRounds}× (ms median)`, `${c.median.toFixed(0)}, of which the challenge step ${step.median.toFixed(0)}`);
    return {
      rounds, oursMs: o, bareMs: b, commandMs: f, firstDeviceMs, ratioBest, ratioMedian, withChallengeMs: c, challengeStepMs: step, targetRatio: TARGET_RATIO, met,
      processesPerDevice: processes, bareProcessesPerDevice: BARE_PROCESSES, mode,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
