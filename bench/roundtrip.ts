// 2. Attestation round trip through the emulator: serialport → pty → XS engine running the firmware →
// native C → simulated HMAC, and back, verified on the host. The pty has no baud-rate delay, so the
// measured time is software only (host + emulator); the wire time of a real UART is added from the
// bytes the emulator's UART counted, giving the projected round trip as a ratio to pure wire time.
import { readFileSync } from 'node:fs';
import type { Client } from '../host/client.js';
import type { Emulator } from '../host/emulator.js';
import { verifyAttestation } from '../host/verify.js';
import { line, summarize, type Summary, verdict } from './util.js';

export const BAUDS = [115200, 921600] as const;
const TARGET_RATIO_115200 = 1.1;
const TARGET_RATIO_921600 = 1.15;
const TARGET_HOST_CPU_US = 150;
const CLK_TCK = 100; // USER_HZ of /proc/<pid>/stat on Linux
/**
 * Attestations made before the measured ones. V8 compiles the host's hot paths in tiers as they run,
 * so on this path the host's CPU per attestation falls by about half over the first few thousand
 * (docs/performance.md §2); a verifier or test rig spends nearly all its life past that point. The
 * first 1000 are reported on their own as the cold figure.
 */
const WARM_UP = 5000;
const COLD = 1000;

/**
 * CPU seconds (user + system) of a process, from /proc; undefined where there is no /proc. Counted
 * in clock ticks (10 ms), hence the long runs it is read across.
 */
export function processCpu(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)\s/s, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

/** Wall time of `n` calls of `fn`, one sample (µs) per call. */
async function timeEach(n: number, fn: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push((performance.now() - t0) * 1000);
  }
  return out;
}

export interface RoundTripFigures {
  attestations: number;
  attestUs: Summary;
  pingUs: Summary;
  bytesPerAttestation: { request: number; response: number; total: number };
  bytesPerPing: number;
  /** Emulator and host CPU per attestation, µs (the split of the software time; ±10 ms / n). */
  emulatorCpuUs?: number;
  hostCpuUs: number;
  projected: { baud: number; wireMs: number; roundTripMs: number; ratio: number }[];
  targetRatio: number;
  met: boolean;
  /** At 921600 baud (target ≤ 1.15×) and the host's CPU per attestation (target ≤ 150 µs). */
  met921600: boolean;
  hostCpuMet: boolean;
  /** Host CPU per attestation over the first 1000 after the port opened (not warmed up), µs. */
  coldHostCpuUs: number;
  warmUp: number;
}

/**
 * `build` names the emulator build in the printed heading (the default build parses the firmware's
 * modules at boot; the linked one runs xsl's archive, as a device does); `label` is the row's number.
 */
export async function benchRoundTrip(
  emu: Emulator, client: Client, key: Uint8Array, n = 1000, opts: { label?: string; build?: string } = {},
): Promise<RoundTripFigures> {
  const label = opts.label ?? '2.';
  const build = opts.build ?? 'modules parsed at boot';
  const verifyOne = async () => { verifyAttestation(await client.attest(), { key }); };
  const cold0 = process.cpuUsage();
  for (let i = 0; i < COLD; i++) await verifyOne();
  const cold = process.cpuUsage(cold0);
  const coldHostCpuUs = (cold.user + cold.system) / COLD;
  for (let i = COLD; i < WARM_UP; i++) await verifyOne();
  for (let i = 0; i < 100; i++) await client.ping();

  let s0 = await emu.stats();
  const pingUs = summarize(await timeEach(n, async () => { await client.ping(); }));
  let s1 = await emu.stats();
  const bytesPerPing = (s1.bytesIn - s0.bytesIn + s1.bytesOut - s0.bytesOut) / n;

  s0 = await emu.stats();
  const emuCpu0 = processCpu(emu.pid);
  const hostCpu0 = process.cpuUsage();
  const attestUs = summarize(await timeEach(n, verifyOne));
  const hostCpu = process.cpuUsage(hostCpu0);
  const emuCpu1 = processCpu(emu.pid);
  s1 = await emu.stats();
  const request = (s1.bytesIn - s0.bytesIn) / n;
  const response = (s1.bytesOut - s0.bytesOut) / n;
  const total = request + response;

  const softwareMs = attestUs.mean / 1000;
  const projected = BAUDS.map((baud) => {
    const wireMs = (total * 10 * 1000) / baud; // 8N1: 10 bit times per byte
    return { baud, wireMs, roundTripMs: softwareMs + wireMs, ratio: (softwareMs + wireMs) / wireMs };
  });
  const met = projected[0]!.ratio <= TARGET_RATIO_115200;
  const met921600 = projected[1]!.ratio <= TARGET_RATIO_921600;
  const emulatorCpuUs = emuCpu0 !== undefined && emuCpu1 !== undefined ? ((emuCpu1 - emuCpu0) * 1e6) / n : undefined;
  const hostCpuUs = (hostCpu.user + hostCpu.system) / n;
  const hostCpuMet = hostCpuUs <= TARGET_HOST_CPU_US;

  line(`${label} attestation round trip, pty, emulator with ${build}, ${n}× (µs mean/median)`, `${attestUs.mean.toFixed(0)} / ${attestUs.median.toFixed(0)} (p95 ${attestUs.p95.toFixed(0)})`);
  line('   of which CPU: emulator / host (µs per attestation)', `${emulatorCpuUs === undefined ? 'n/a' : emulatorCpuUs.toFixed(0)} / ${hostCpuUs.toFixed(0)}`);
  line(`   host CPU per attestation after ${WARM_UP} (target <= ${TARGET_HOST_CPU_US} µs)`, `${hostCpuUs.toFixed(0)} µs (${verdict(hostCpuMet)})`);
  line(`   host CPU per attestation, first ${COLD} after opening`, `${coldHostCpuUs.toFixed(0)} µs`);
  line('   bytes on the wire: request + response', `${request} + ${response} = ${total}`);
  for (const p of projected) {
    const target = p.baud === 115200 ? ` (target <= ${TARGET_RATIO_115200}: ${verdict(met)})` : ` (target <= ${TARGET_RATIO_921600}: ${verdict(met921600)})`;
    line(`   at ${p.baud} baud: wire ms, projected ms, ratio`, `${p.wireMs.toFixed(2)}, ${p.roundTripMs.toFixed(2)}, ${p.ratio.toFixed(3)}×${target}`);
  }
  line(`   ping, ${bytesPerPing} bytes on the wire (µs mean/median)`, `${pingUs.mean.toFixed(0)} / ${pingUs.median.toFixed(0)}`);
  return {
    attestations: n, attestUs, pingUs, bytesPerAttestation: { request, response, total }, bytesPerPing,
    ...(emulatorCpuUs === undefined ? {} : { emulatorCpuUs }), hostCpuUs, projected, targetRatio: TARGET_RATIO_115200, met, met921600, hostCpuMet,
    coldHostCpuUs, warmUp: WARM_UP,
  };
}
