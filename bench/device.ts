// Benchmarks that need the emulator and espefuse: 2 (attestation round trip over the emulator's pty;
// 2c the firmware's steps on XS), 4 (provisioning against bare espefuse) and 5 (firmware heap in the
// emulator). One emulator serves 2 and 5; its stats are read right after boot, before the first
// request. A benchmark that fails prints why and is recorded as {error}; the others still run, and the
// exit status says so.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { emulatorBinary } from '../host/emulator.js';
import { benchAmplifyEmulator } from './amplify.js';
import { linkedEmulator, onBenchEmulator } from './chip.js';
import { benchFirmwareSteps, type FirmwareSteps } from './firmware-steps.js';
import { benchFootprint, type FootprintFigures } from './footprint.js';
import { benchProvision } from './provision.js';
import { type Breakdown, hostBreakdown } from './breakdown.js';
import { benchRoundTrip, type RoundTripFigures } from './roundtrip.js';
import { line } from './util.js';

const CHIP = 'esp32s3';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const M32 = ROOT + 'emulator/build/m32';

/**
 * The emulator built as a 32-bit program (Debian's gcc-multilib): made on first use, and brought up
 * to date on every run (make rebuilds only what changed), so it never runs older native C.
 */
function build32(): string {
  const r = spawnSync('make', ['-s', '-C', ROOT + 'emulator', '-j2', 'CC=gcc -m32', `BUILD=${M32}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the 32-bit emulator does not build (gcc-multilib installed by scripts/setup.sh?): ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  return emulatorBinary(CHIP, M32);
}

const footprint32 = (): Promise<FootprintFigures> =>
  onBenchEmulator(CHIP, { burn: true, binary: build32() }, (emu, client, boot) => benchFootprint(emu, client, boot, 1000, '5b. 32-bit build,'));

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

function printBreakdown(b: Breakdown): void {
  const f = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(1));
  line(`2b. host CPU per attestation, ${b.attestations}× (µs): total`, `${f(b.inSitu.total)} (user ${f(b.inSitu.user)}, system ${f(b.inSitu.system)})`);
  line('    main thread / other threads (pool, GC helpers)', `${f(b.inSitu.mainThread)} / ${f(b.inSitu.otherThreads)}`);
  line('    transport, poller, event loop, kernel (pty)', f(b.transportAndEventLoop));
  line('    session and commands', f(b.sessionAndCommands));
  line('    message codec / frame codec / verify', `${f(b.messageCodec)} / ${f(b.frameCodec)} / ${f(b.verify)}`);
}

const emulatorBenchmarks = (): Promise<{ roundTrip: RoundTripFigures; hostBreakdown: Breakdown; firmwareSteps: FirmwareSteps; footprint: FootprintFigures }> =>
  onBenchEmulator(CHIP, { burn: true }, async (emu, client, boot, made) => {
    const roundTrip = await benchRoundTrip(emu, client, made.key!);
    const breakdown = await hostBreakdown(client, made.key!);
    printBreakdown(breakdown);
    const firmwareSteps = await benchFirmwareSteps(made);
    return { roundTrip, hostBreakdown: breakdown, firmwareSteps, footprint: await benchFootprint(emu, client, boot) };
  });

/**
 * 2d. The round trip again on the linked emulator (the firmware from xsl's archive, preloaded as in a
 * device's flash, on the SDK's own XS engine): the device-true stand-in, where the engine's garbage
 * collector does not walk the firmware's code at every collection, as on a board.
 */
const roundTripLinked = (): Promise<RoundTripFigures> =>
  onBenchEmulator(CHIP, { burn: true, binary: linkedEmulator(CHIP) }, (emu, client, _boot, made) =>
    benchRoundTrip(emu, client, made.key!, 1000, { label: '2d.', build: "xsl's archive (as a device runs it)" }));

export async function benchDevice(): Promise<Record<string, unknown>> {
  const emu = await guarded('2./5. emulator benchmarks', emulatorBenchmarks);
  const roundTripDevice = await guarded('2d. round trip on the linked emulator', roundTripLinked);
  const footprint32bit = await guarded('5b. 32-bit footprint', footprint32);
  const provision = await guarded('4. provisioning', () => benchProvision());
  const amplifyEmulator = await guarded('7. emulator amplification', benchAmplifyEmulator);
  return 'error' in emu ? { roundTrip: emu, roundTripDevice, footprint: emu, footprint32bit, provision, amplifyEmulator }
    : { ...emu, roundTripDevice, footprint32bit, provision, amplifyEmulator };
}
