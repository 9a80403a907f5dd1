// 10. CLI cold start: `efuse-attest --help` and `efuse-attest verify` of one saved attestation, each
// a fresh Node process, against bare `node -e 0` in the same run (target ≤ 2×). Wall time of the
// whole process, median of interleaved runs, so the three see the same machine.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDevice } from '../device/src/device.js';
import { attestationToJson } from '../host/serialize.js';
import { softChip } from '../test/support/soft-chip.js';
import { line, summarize, verdict } from './util.js';

const BIN = fileURLToPath(new URL('../host/cli/bin.js', import.meta.url));
const TARGET = 2;

function ms(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const t = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().trim().split('\n').pop() ?? ''}`);
  return t;
}

export function benchStartup(runs = 15): Record<string, number | boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'efa-bench-startup-'));
  try {
    const key = new Uint8Array(randomBytes(32));
    const dev = createDevice(softChip({ keys: { 0: { key }, 1: { key } } }));
    const nonce = new Uint8Array(randomBytes(32));
    writeFileSync(join(dir, 'att.json'), JSON.stringify(attestationToJson({ nonce, response: dev.attest(nonce) })));
    writeFileSync(join(dir, 'key.bin'), key);
    const cases = {
      bare: ['-e', '0'],
      help: [BIN, '--help'],
      verify: [BIN, 'verify', '--attestation', join(dir, 'att.json'), '--key', join(dir, 'key.bin')],
    };
    const samples: Record<string, number[]> = { bare: [], help: [], verify: [] };
    for (const args of Object.values(cases)) ms(args); // warm the file cache
    for (let i = 0; i < runs; i++) for (const [k, args] of Object.entries(cases)) samples[k]!.push(ms(args));
    const med = (k: string) => summarize(samples[k]!).median;
    const bare = med('bare');
    const help = med('help') / bare;
    const verify = med('verify') / bare;
    line(`10. CLI cold start, median of ${runs}: bare node -e 0 (ms)`, bare.toFixed(0));
    line('    efuse-attest --help (ms, ratio; target <= 2)', `${med('help').toFixed(0)}, ${help.toFixed(2)}× (${verdict(help <= TARGET)})`);
    line('    efuse-attest verify of one file (ms, ratio; target <= 2)', `${med('verify').toFixed(0)}, ${verify.toFixed(2)}× (${verdict(verify <= TARGET)})`);
    return { bareMs: bare, helpMs: med('help'), verifyMs: med('verify'), helpRatio: help, verifyRatio: verify, met: help <= TARGET && verify <= TARGET };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
