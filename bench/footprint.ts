// 5. Firmware footprint in the emulator: the XS engine's own counters (emulator.stats(), taken after a
// garbage collection) right after boot, then across a run of mixed INFO/ATTEST requests — growth per
// request (what the service retains) and the peaks (what it needs while working). Run on the 64-bit
// build of the engine (a slot is 32 bytes) and on the 32-bit build (16 bytes, as on an ESP32, whose
// XS is 32-bit too). Modules are preloaded and the built-ins frozen as on a device, but they are
// parsed at boot into RAM here, where a device keeps them in flash: read the boot figures as an upper
// bound of device RAM; the growth per request carries over.
// Then the same on the linked emulator of the same width (scripts/firmware/linked.ts, made on first
// use): the firmware from xsl's archive for the chip, compiled in, its preloaded heap read-only as in
// a device's flash; its figures are the firmware's RAM as a device runs it.
import type { Client } from '../host/client.js';
import type { Emulator, EmulatorStats } from '../host/emulator.js';
import { linkedEmulator, onBenchEmulator } from './chip.js';
import { line, verdict } from './util.js';

const CHIP = 'esp32s3';

type Mem = Pick<EmulatorStats, 'chunkBytes' | 'chunkPeak' | 'slotBytes' | 'slotPeak' | 'heapCount'>;

const pick = (s: EmulatorStats): Mem => ({
  chunkBytes: s.chunkBytes, chunkPeak: s.chunkPeak, slotBytes: s.slotBytes, slotPeak: s.slotPeak, heapCount: s.heapCount,
});

export interface FootprintFigures {
  boot: Mem;
  requests: number;
  /** After the first quarter of the run (the steady state), and at the end. */
  warm: Mem;
  end: Mem;
  /** (end − warm) / requests in the last three quarters: what each request leaves behind. */
  chunkGrowthPerRequest: number;
  slotGrowthPerRequest: number;
  /** Target: no growth once warm (less than 1 byte per request, i.e. under 1 kB per 1000). */
  met: boolean;
  /** The same run on the linked emulator of the same width (the firmware from xsl's archive). */
  linked?: FootprintFigures | { error: string };
}

/** The linked emulator's run, 64-bit or 32-bit: built on first use, on a fresh keyed chip. */
async function benchLinked(m32: boolean, n: number, label: string): Promise<FootprintFigures | { error: string }> {
  try {
    const binary = linkedEmulator(CHIP, m32);
    return await onBenchEmulator(CHIP, { burn: true, binary }, (emu, client, boot) => measureFootprint(emu, client, boot, n, label));
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    line(`${label} FAILED`, error);
    process.exitCode = 1;
    return { error };
  }
}

/**
 * `boot`: the stats taken before the first request. After the run on `emu`, the same run on the linked
 * emulator of the same width (told by the slot size: 32 bytes on a 64-bit build, 16 on a 32-bit one).
 */
export async function benchFootprint(emu: Emulator, client: Client, boot: EmulatorStats, n = 1000, label = '5.'): Promise<FootprintFigures> {
  const parsed = await measureFootprint(emu, client, boot, n, label);
  const m32 = boot.heapCount > 0 && boot.slotBytes / boot.heapCount === 16;
  const linked = await benchLinked(m32, n, `${label.replace(/,$/, '')} linked from xsl's archive,`);
  return { ...parsed, linked };
}

async function measureFootprint(emu: Emulator, client: Client, boot: EmulatorStats, n: number, label: string): Promise<FootprintFigures> {
  const quarter = Math.floor(n / 4);
  let warm: Mem | undefined;
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) await client.info();
    else await client.attest();
    if (i + 1 === quarter) warm = pick(await emu.stats());
  }
  const end = pick(await emu.stats());
  const w = warm!;
  const rest = n - quarter;
  const chunkGrowthPerRequest = (end.chunkBytes - w.chunkBytes) / rest;
  const slotGrowthPerRequest = (end.slotBytes - w.slotBytes) / rest;
  const met = chunkGrowthPerRequest < 1 && slotGrowthPerRequest < 1;
  const b = pick(boot);
  const kb = (x: number) => (x / 1024).toFixed(1);
  line(`${label} XS heap after boot: chunks / slots (kB)`, `${kb(b.chunkBytes)} / ${kb(b.slotBytes)} (peaks ${kb(b.chunkPeak)} / ${kb(b.slotPeak)}), ${b.heapCount} slots`);
  line(`   after ${n} mixed INFO/ATTEST: chunks / slots (kB)`, `${kb(end.chunkBytes)} / ${kb(end.slotBytes)}, ${end.heapCount} slots`);
  line('   peaks under load: chunks / slots (kB)', `${kb(end.chunkPeak)} / ${kb(end.slotPeak)}`);
  line('   growth per request once warm: chunks / slots (bytes)', `${chunkGrowthPerRequest.toFixed(2)} / ${slotGrowthPerRequest.toFixed(2)} (target < 1: ${verdict(met)})`);
  return { boot: b, requests: n, warm: w, end, chunkGrowthPerRequest, slotGrowthPerRequest, met };
}
