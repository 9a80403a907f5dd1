// 7. Frame decoder work on hostile input (docs/protocol.md §2.1): `A5 5A 00 04 FF FB` repeated — a
// valid header claiming a 1024-byte body every 6 bytes — against random bytes of the same length.
// In this process (the protocol/ decoder under Node) and in the emulator (the same decoder in the
// firmware, on the real XS engine), where the figure is the emulator's CPU time to swallow the input.
// Target: the ratio stays a small constant (≤ 3); a decoder that re-checksums each candidate's body
// is about 20× slower on the amplifier.
import { randomBytes } from 'node:crypto';
import type { Client } from '../host/client.js';
import { FrameDecoder } from '../protocol/index.js';
import { amplifier } from '../test/support/fuzz.js';
import { onBenchEmulator } from './chip.js';
import { processCpu } from './roundtrip.js';
import { compare, line, verdict } from './util.js';

const TARGET = 3;

function decodeAll(input: Uint8Array): void {
  const d = new FrameDecoder();
  for (let o = 0; o < input.length; o += 256) d.push(input.subarray(o, o + 256));
  d.flush();
}

export function benchAmplifyHost(): Record<string, number | boolean> {
  const n = 64 * 1024;
  const amp = amplifier(n);
  const rnd = new Uint8Array(randomBytes(n));
  const r = compare(() => decodeAll(rnd), () => decodeAll(amp), 5, 300);
  const mb = (rate: number) => ((rate * n) / 1e6).toFixed(1);
  line('7. frame decode of random bytes (MB/s)', mb(r.a));
  line('   frame decode of the amplifier input (MB/s)', mb(r.b));
  line(`   slowdown amplifier/random (target <= ${TARGET})`, `${r.ratio.toFixed(2)} (${verdict(r.ratio <= TARGET)})`);
  return { randomMBps: (r.a * n) / 1e6, amplifierMBps: (r.b * n) / 1e6, ratio: r.ratio, met: r.ratio <= TARGET };
}

/** Emulator CPU seconds to take `input` (written in 32 KiB pieces) and then answer a ping. */
async function emulatorCpu(pid: number, client: Client, input: Uint8Array): Promise<number> {
  const c0 = processCpu(pid);
  for (let o = 0; o < input.length; o += 32 * 1024) await client.session.transport.write(input.subarray(o, o + 32 * 1024));
  await new Promise((r) => setTimeout(r, 100)); // idle: a partial candidate frame is given up
  await client.ping();
  const c1 = processCpu(pid);
  if (c0 === undefined || c1 === undefined) throw new Error('no /proc: cannot read the emulator\'s CPU time');
  return c1 - c0;
}

export async function benchAmplifyEmulator(): Promise<Record<string, number | boolean>> {
  return onBenchEmulator('esp32s3', { burn: false }, async (emu, client) => {
    const n = 2 * 1024 * 1024;
    const amp = amplifier(n);
    const rnd = new Uint8Array(randomBytes(n));
    let best = { amp: Infinity, rnd: Infinity };
    for (let r = 0; r < 3; r++) {
      best = { rnd: Math.min(best.rnd, await emulatorCpu(emu.pid, client, rnd)), amp: Math.min(best.amp, await emulatorCpu(emu.pid, client, amp)) };
    }
    const ratio = best.amp / Math.max(best.rnd, 0.01);
    line('   emulator CPU for 2 MiB of random bytes (s)', best.rnd.toFixed(2));
    line('   emulator CPU for 2 MiB of the amplifier input (s)', best.amp.toFixed(2));
    line(`   slowdown in the emulator (target <= ${TARGET})`, `${ratio.toFixed(2)} (${verdict(ratio <= TARGET)})`);
    return { emulatorRandomCpu: best.rnd, emulatorAmplifierCpu: best.amp, emulatorRatio: ratio, met: ratio <= TARGET };
  });
}
