// Virtual chips for the benchmarks, made with the library's own espefuse code: a fresh image from
// espefuse --virt, optionally a key burned HMAC_UP (read-protected) and handed to the virtual silicon,
// in a temp directory that remove() deletes; and such a chip run in the emulator with a client on it.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../host/client.js';
import { type Emulator, type EmulatorStats, startEmulator } from '../host/emulator.js';
import { VirtualChipEfuse } from '../host/efuse/virtual-chip.js';
import { createVirtualChip } from '../host/espefuse/virtual.js';
import { buildLinkedEmulator } from '../scripts/firmware/linked.js';

export interface BenchChip {
  chip: string;
  dir: string;
  image: string;
  deviceId: string;
  /** The key in BLOCK_KEY0, when one was burned. */
  key?: Uint8Array;
  remove(): Promise<void>;
}

/** A fresh image; with `burn`, a random key in BLOCK_KEY0 with purpose HMAC_UP. */
export async function benchChip(chip: string, burn: boolean): Promise<BenchChip> {
  const dir = await mkdtemp(join(tmpdir(), 'efa-bench-'));
  const image = join(dir, `${chip}.bin`);
  const made = await createVirtualChip({ chip, out: image });
  const out: BenchChip = { chip, dir, image, deviceId: made.deviceId, remove: () => rm(dir, { recursive: true, force: true }) };
  if (burn) {
    const key = new Uint8Array(randomBytes(32));
    const efuse = new VirtualChipEfuse(chip, image); // the key into the silicon and the fuses, as provisioning burns it
    try { await efuse.burnKey('BLOCK_KEY0', key); } finally { await efuse.close(); }
    out.key = key;
  }
  return out;
}

/**
 * A fresh chip (keyed with `burn`) in the emulator (`binary`: another build), a client on it, and
 * the emulator's stats at boot; all of it stopped and removed afterwards.
 */
export async function onBenchEmulator<T>(
  chip: string, opts: { burn: boolean; binary?: string },
  fn: (emu: Emulator, client: Client, boot: EmulatorStats, made: BenchChip) => Promise<T>,
): Promise<T> {
  const made = await benchChip(chip, opts.burn);
  try {
    const emu = await startEmulator({ chip, efuse: made.image, ...(opts.binary ? { binary: opts.binary } : {}) });
    try {
      const boot = await emu.stats();
      const client = await Client.open(emu.path, { timeoutMs: 5000 });
      try {
        return await fn(emu, client, boot, made);
      } finally {
        await client.close();
      }
    } finally {
      await emu.stop();
    }
  } finally {
    await made.remove();
  }
}

const linked = new Map<string, string>();

/**
 * The linked emulator of `chip` (xsl's archive compiled in; 32-bit with `m32`), made by the SDK's real
 * tools once per benchmark run: rows 2d and 5 both run it.
 */
export function linkedEmulator(chip: string, m32 = false): string {
  const key = `${chip}${m32 ? '/m32' : ''}`;
  let binary = linked.get(key);
  if (binary === undefined) linked.set(key, (binary = buildLinkedEmulator(chip, { m32 })));
  return binary;
}
