// Virtual chips for the benchmarks, made with the library's own espefuse code: a fresh image from
// espefuse --virt, optionally a key burned HMAC_UP (read-protected) and handed to the virtual silicon,
// in a temp directory that remove() deletes.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Espefuse } from '../host/espefuse/driver.js';
import { createVirtualChip, writeSiliconKey } from '../host/espefuse/virtual.js';

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
    await writeSiliconKey(image, chip, 'BLOCK_KEY0', key);
    await new Espefuse(chip, { kind: 'virt', image }).burnKey('BLOCK_KEY0', key);
    out.key = key;
  }
  return out;
}
