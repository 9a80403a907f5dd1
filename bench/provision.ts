// 4. Provisioning one virtual chip: provisionDevice (read → keygen → escrow in a FileVault → burn →
// check → mark-burned, audit log fsync'd per step) against the bare espefuse runs it is built on —
// `summary --format json`, `burn-key`, `summary` — spawned directly on a fresh image with
// child_process. Fresh images every round, rounds interleaved; espefuse (a Python process per call)
// dominates both sides, so the ratio is what the library adds.
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
const TARGET_RATIO = 1.2;

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

/** One provisionDevice on a fresh image into `vault`: total ms, and the challenge step's ms. */
async function ourRound(vault: FileVault, audit: AuditLog, challenge: boolean): Promise<{ ms: number; challengeMs: number }> {
  const c = await benchChip(CHIP, false);
  const efuse = new VirtualChipEfuse(CHIP, c.image);
  try {
    const t0 = performance.now();
    const r = await provisionDevice({
      efuse, store: vault, audit, block: 'BLOCK_KEY0',
      challenge: challenge ? defaultChallenge() : null,
    });
    const ms = performance.now() - t0;
    const want = challenge ? 'provisioned' : 'burned-unverified';
    if (r.outcome !== want) throw new Error(`provision ended ${r.outcome}: ${r.error?.message ?? ''}`);
    return { ms, challengeMs: r.steps.find((st) => st.step === 'challenge' && st.outcome === 'ok')?.ms ?? 0 };
  } finally {
    await efuse.close();
    await c.remove();
  }
}

export interface ProvisionFigures {
  rounds: number;
  oursMs: Summary;
  bareMs: Summary;
  /** First device into a new vault: includes the vault's one scrypt derivation. */
  firstDeviceMs: number;
  ratioBest: number;
  ratioMedian: number;
  withChallengeMs: Summary;
  /** The challenge step alone (emulator start, one attestation, verify, stop), from the result's steps. */
  challengeStepMs: Summary;
  targetRatio: number;
  met: boolean;
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
    for (let i = 0; i < rounds; i++) {
      ours.push((await ourRound(vault, audit, false)).ms);
      bare.push(await bareRound(bin));
    }
    const withChallenge: number[] = [];
    const challengeStep: number[] = [];
    for (let i = 0; i < challengeRounds; i++) {
      const r = await ourRound(vault, audit, true);
      withChallenge.push(r.ms);
      challengeStep.push(r.challengeMs);
    }
    const o = summarize(ours);
    const b = summarize(bare);
    const c = summarize(withChallenge);
    const step = summarize(challengeStep);
    const ratioBest = o.min / b.min;
    const ratioMedian = o.median / b.median;
    const met = ratioMedian <= TARGET_RATIO;
    line(`4. provisionDevice, no challenge, ${rounds}× (ms best/median)`, `${o.min.toFixed(0)} / ${o.median.toFixed(0)}`);
    line('   bare espefuse summary, burn-key, summary (ms best/med.)', `${b.min.toFixed(0)} / ${b.median.toFixed(0)}`);
    line(`   ratio best / median (target <= ${TARGET_RATIO})`, `${ratioBest.toFixed(3)} / ${ratioMedian.toFixed(3)} (${verdict(met)})`);
    line('   first device into a new vault, with its scrypt (ms)', firstDeviceMs.toFixed(0));
    line(`   with the default challenge, ${challengeRounds}× (ms median)`, `${c.median.toFixed(0)}, of which the challenge step ${step.median.toFixed(0)}`);
    return { rounds, oursMs: o, bareMs: b, firstDeviceMs, ratioBest, ratioMedian, withChallengeMs: c, challengeStepMs: step, targetRatio: TARGET_RATIO, met };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
