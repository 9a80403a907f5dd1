// npm run bench: every benchmark, printed as figures and ratios against baselines measured in the
// same run. Never part of the tests. `--json` prints the figures as one JSON object too.
import { cpus } from 'node:os';
import { benchFirmware } from './firmware.js';
import { benchAmplifyHost } from './amplify.js';
import { benchCluster } from './cluster.js';
import { benchCodec, benchVerify } from './host.js';
import { benchStartup } from './startup.js';
import { line } from './util.js';

const results: Record<string, unknown> = {
  machine: `${cpus()[0]?.model ?? 'unknown cpu'} × ${cpus().length}, node ${process.version}`,
  date: new Date().toISOString(),
};
console.log(`efuse-attest benchmarks on ${String(results.machine)}\n`);
results.verify = benchVerify();
results.codec = benchCodec();
results.amplify = benchAmplifyHost();
results.startup = benchStartup();
const extra = await import('./device.js').catch(() => undefined);
if (extra) Object.assign(results, await extra.benchDevice());
results.firmware = await benchFirmware().catch((e: unknown) => {
  const error = e instanceof Error ? e.message : String(e);
  line('6. firmware footprint FAILED', error);
  process.exitCode = 1;
  return { error };
});
try {
  results.cluster = await benchCluster();
} catch (err) {
  // Needs redis-server (scripts/setup.sh installs it); the other figures stand without it.
  const error = err instanceof Error ? err.message : String(err);
  line('8. verifier cluster over Redis FAILED', error);
  results.cluster = { error };
  process.exitCode = 1;
}
const escrow = await import('./escrow.js').catch(() => undefined);
if (escrow) {
  results.escrow = await escrow.benchEscrow().catch((err: unknown) => {
    console.log(`9. escrow and stations FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
    return { error: String(err) };
  });
}
if (process.argv.includes('--json')) console.log(JSON.stringify(results, null, 2));
