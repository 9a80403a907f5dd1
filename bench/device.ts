// Benchmarks that need the emulator and espefuse: 2 (attestation round trip over the emulator's pty),
// 4 (provisioning against bare espefuse) and 5 (firmware heap in the emulator). One emulator serves
// 2 and 5; its stats are read right after boot, before the first request. A benchmark that fails
// prints why and is recorded as {error}; the others still run, and the exit status says so.
import { Client } from '../host/client.js';
import { startEmulator } from '../host/emulator.js';
import { benchAmplifyEmulator } from './amplify.js';
import { benchChip } from './chip.js';
import { benchFootprint, type FootprintFigures } from './footprint.js';
import { benchProvision } from './provision.js';
import { benchRoundTrip, type RoundTripFigures } from './roundtrip.js';
import { line } from './util.js';

const CHIP = 'esp32s3';

async function guarded<T>(label: string, fn: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await fn();
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    line(`${label} FAILED`, error);
    process.exitCode = 1;
    return { error };
  }
}

async function emulatorBenchmarks(): Promise<{ roundTrip: RoundTripFigures; footprint: FootprintFigures }> {
  const chip = await benchChip(CHIP, true);
  try {
    const emu = await startEmulator({ chip: CHIP, efuse: chip.image });
    try {
      const boot = await emu.stats();
      const client = await Client.open(emu.path, { timeoutMs: 5000 });
      try {
        const roundTrip = await benchRoundTrip(emu, client, chip.key!);
        const footprint = await benchFootprint(emu, client, boot);
        return { roundTrip, footprint };
      } finally {
        await client.close();
      }
    } finally {
      await emu.stop();
    }
  } finally {
    await chip.remove();
  }
}

export async function benchDevice(): Promise<Record<string, unknown>> {
  const emu = await guarded('2./5. emulator benchmarks', emulatorBenchmarks);
  const provision = await guarded('4. provisioning', () => benchProvision());
  const amplifyEmulator = await guarded('6. emulator amplification', benchAmplifyEmulator);
  return 'error' in emu ? { roundTrip: emu, footprint: emu, provision, amplifyEmulator } : { ...emu, provision, amplifyEmulator };
}
