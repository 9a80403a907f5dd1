// Test chips made by the real espefuse in virtual mode: a fresh image with a factory MAC, then keys
// burned (and read-protected) the way a factory would, and the silicon side file the emulator reads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Espefuse, withPrivateKeyFile } from '../../host/espefuse/driver.js';
import { createVirtualChip, writeSiliconKey } from '../../host/espefuse/virtual.js';

export interface TestChip { chip: string; image: string; deviceId: string }

/** Chip directories of this test run, removed when the process exits. */
const chipDirs: string[] = [];
process.once('exit', () => { for (const d of chipDirs) rmSync(d, { recursive: true, force: true }); });

/** `keys`: block → [key, purpose], burned in one espefuse call. */
export async function makeChip(chip: string, keys: Record<string, [Uint8Array, string]>, mac?: string): Promise<TestChip> {
  const dir = mkdtempSync(join(tmpdir(), 'efa-chip-'));
  chipDirs.push(dir);
  const image = join(dir, `${chip}.bin`);
  const made = await createVirtualChip({ chip, out: image, ...(mac ? { mac } : {}) });
  const fuse = new Espefuse(chip, { kind: 'virt', image });
  const entries = Object.entries(keys);
  const burn = async (i: number, args: string[]): Promise<void> => {
    if (i === entries.length) { await fuse.run(['burn-key', ...args], { confirm: false }); return; }
    const [block, [key, purpose]] = entries[i];
    await withPrivateKeyFile(key, (path) => burn(i + 1, [...args, block, path, purpose]));
  };
  if (entries.length > 0) await burn(0, []);
  for (const [block, [key]] of entries) await writeSiliconKey(image, chip, block, key);
  return { chip, image, deviceId: made.deviceId };
}
