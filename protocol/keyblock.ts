// eFuse key blocks, each fact checked in one place: the key size, the slots and the block names.
// Every entry point that takes a key, a slot or a block (library, CLI, stores, wire codec) checks it
// here, so the limits and the messages are the same everywhere. Portable: no Node APIs.
import { abytes, aint } from './bytes.js';

/** Bytes in an HMAC key as burned into one eFuse key block (256 bits). */
export const KEY_SIZE = 32;
/** Key blocks BLOCK_KEY0..BLOCK_KEY5, addressed on the wire by slot number 0..5. */
export const KEY_SLOTS = 6;

const BLOCK_PREFIX = 'BLOCK_KEY';
const BLOCK_RE = /^BLOCK_KEY[0-5]$/;

/** A key slot number 0..KEY_SLOTS-1 (TypeError for a non-integer, RangeError out of range). */
export function keySlot(value: unknown, name = 'slot'): number {
  return aint(value, name, 0, KEY_SLOTS - 1);
}

/** A key: exactly KEY_SIZE bytes. */
export function keyBytes(value: unknown, name = 'key'): Uint8Array {
  return abytes(value, name, KEY_SIZE, KEY_SIZE);
}

/**
 * The canonical block name (BLOCK_KEY0..BLOCK_KEY5) of a block name in any case, a slot digit
 * ("0".."5") or a slot number.
 */
export function blockName(value: unknown, name = 'block'): string {
  if (typeof value === 'number') return BLOCK_PREFIX + keySlot(value, name);
  if (typeof value !== 'string') throw new TypeError(`${name} must be a block name such as BLOCK_KEY0 or a slot 0..${KEY_SLOTS - 1}`);
  const v = /^[0-5]$/.test(value) ? BLOCK_PREFIX + value : value.toUpperCase();
  if (!BLOCK_RE.test(v)) throw new RangeError(`${name} must be BLOCK_KEY0..BLOCK_KEY${KEY_SLOTS - 1}, got "${value.length > 40 ? value.slice(0, 40) + '…' : value}"`);
  return v;
}

/** The slot number of a block given in any form blockName accepts. */
export function blockSlot(block: unknown, name = 'block'): number {
  return Number(blockName(block, name).slice(BLOCK_PREFIX.length));
}
