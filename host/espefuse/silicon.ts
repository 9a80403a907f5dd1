// The silicon side file of a virtual chip: <image>.silicon.json =
// {"chip":"esp32s3","keys":{"BLOCK_KEY0":"<64 hex>"}}, standing for what the silicon holds (espefuse
// zeroes read-protected blocks in the image, as the chip does on readout); the emulator reads it
// (emulator/idf/sim_silicon.c). It is the chip, not the escrow: written when a key is burned into a
// virtual chip, never read to recover a key. Its "chip" is the virtual chip's identity, which a
// 512-byte eFuse image does not carry.
import { readFile } from 'node:fs/promises';
import { abytes, CHIPS, toHex } from '../../protocol/index.js';
import { describeIoError, writeFileAtomic } from '../atomic.js';
import { EspefuseError } from '../errors.js';
import { blockName } from '../../protocol/keyblock.js';

export interface Silicon { chip: string; keys: Record<string, string> }

export function siliconPath(image: string): string {
  return image + '.silicon.json';
}

/** The side file of `image`, or undefined when there is none. EspefuseError when it is malformed. */
export async function readSilicon(image: string): Promise<Silicon | undefined> {
  const path = siliconPath(image);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EspefuseError(`cannot read ${path}: ${describeIoError(err)}`, 'SILICON_IO');
  }
  let s: Silicon;
  try { s = JSON.parse(text) as Silicon; } catch { throw new EspefuseError(`${path} is not JSON`, 'SILICON_FORMAT'); }
  const keysOk = typeof s?.keys === 'object' && s.keys !== null
    && Object.entries(s.keys).every(([b, k]) => /^BLOCK_KEY[0-5]$/.test(b) && typeof k === 'string' && /^[0-9a-f]{64}$/.test(k));
  if (typeof s?.chip !== 'string' || !(s.chip in CHIPS) || !keysOk) {
    throw new EspefuseError(`${path} is not a silicon side file ({"chip": ..., "keys": {"BLOCK_KEYn": "<64 hex>"}})`, 'SILICON_FORMAT');
  }
  return { chip: s.chip, keys: { ...s.keys } };
}

async function writeSilicon(image: string, s: Silicon): Promise<void> {
  try {
    await writeFileAtomic(siliconPath(image), JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  } catch (err) {
    throw new EspefuseError(`cannot write ${siliconPath(image)}: ${describeIoError(err)}`, 'SILICON_IO', { cause: err });
  }
}

/** Puts `key` into the virtual silicon's `block` (atomically); the chip must match the side file's. */
export async function writeSiliconKey(image: string, chip: string, block: string, key: Uint8Array): Promise<void> {
  abytes(key, 'key', 32, 32);
  const cur = (await readSilicon(image)) ?? { chip, keys: {} };
  if (cur.chip !== chip) throw new EspefuseError(`${siliconPath(image)} is a virtual ${cur.chip}, not ${chip}`, 'CHIP_MISMATCH');
  cur.keys[blockName(block)] = toHex(key);
  await writeSilicon(image, cur);
}

/** Takes a key back out of the virtual silicon (a burn that espefuse did not perform). */
export async function removeSiliconKey(image: string, block: string): Promise<void> {
  const cur = await readSilicon(image);
  if (!cur || !(blockName(block) in cur.keys)) return;
  delete cur.keys[blockName(block)];
  await writeSilicon(image, cur);
}

