// npm run bench: every benchmark, printed as figures and ratios against baselines measured in the
// same run. Never part of the tests. `--json` prints the figures as one JSON object too.
import { cpus } from 'node:os';
import { benchCodec, benchVerify } from './host.js';

const results: Record<string, unknown> = {
  machine: `${cpus()[0]?.model ?? 'unknown cpu'} × ${cpus().length}, node ${process.version}`,
  date: new Date().toISOString(),
};
console.log(`efuse-attest benchmarks on ${String(results.machine)}\n`);
results.verify = benchVerify();
results.codec = benchCodec();
const extra = await import('./device.js').catch(() => undefined);
if (extra) Object.assign(results, await extra.benchDevice());
const escrow = await import('./escrow.js').catch(() => undefined);
if (escrow) {
  results.escrow = await escrow.benchEscrow().catch((err: unknown) => {
    console.log(`6. escrow and stations FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
    return { error: String(err) };
  });
}
if (process.argv.includes('--json')) console.log(JSON.stringify(results, null, 2));
