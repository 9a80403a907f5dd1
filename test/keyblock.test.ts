// The key-block facts (protocol/keyblock.ts): the one check of a key, a slot and a block name that
// the library, the CLI, the stores and the wire codec all use.
import assert from 'node:assert/strict';
import { blockName, blockSlot, KEY_SIZE, KEY_SLOTS, keyBytes, keySlot } from '../protocol/keyblock.js';

describe('key blocks: sizes, slots and names', () => {
  it('a key is exactly 32 bytes; anything else is refused naming the argument', () => {
    assert.equal(KEY_SIZE, 32);
    const k = new Uint8Array(32);
    assert.equal(keyBytes(k), k);
    assert.throws(() => keyBytes(new Uint8Array(31)), (e: unknown) => e instanceof RangeError && e.message === 'key must be 32 bytes, got 31');
    assert.throws(() => keyBytes(new Uint8Array(33), 'k2'), (e: unknown) => e instanceof RangeError && e.message === 'k2 must be 32 bytes, got 33');
    assert.throws(() => keyBytes('00'.repeat(32)), TypeError);
  });

  it('slots are 0..5; a non-integer is a TypeError, out of range a RangeError', () => {
    assert.equal(KEY_SLOTS, 6);
    for (let s = 0; s < 6; s++) assert.equal(keySlot(s), s);
    assert.throws(() => keySlot(6), (e: unknown) => e instanceof RangeError && e.message === 'slot must be 0..5, got 6');
    assert.throws(() => keySlot(-1, '--slot'), (e: unknown) => e instanceof RangeError && e.message === '--slot must be 0..5, got -1');
    assert.throws(() => keySlot(1.5), TypeError);
    assert.throws(() => keySlot('1'), TypeError);
  });

  it('block names: any case, a slot digit or a slot number give the canonical name and its slot', () => {
    for (const [given, want] of [['BLOCK_KEY0', 'BLOCK_KEY0'], ['block_key5', 'BLOCK_KEY5'], ['3', 'BLOCK_KEY3'], [4, 'BLOCK_KEY4'], [0, 'BLOCK_KEY0']] as const) {
      assert.equal(blockName(given), want, String(given));
      assert.equal(blockSlot(given), Number(want.slice(-1)), String(given));
    }
  });

  it('anything else is refused with the argument named, and a long value shortened in the message', () => {
    for (const bad of ['BLOCK_KEY6', '6', '', 'BLOCK_KEY', 'XBLOCK_KEY1', 'BLOCK_KEY1X', ' 1']) {
      assert.throws(() => blockName(bad, '--block'), (e: unknown) => e instanceof RangeError && e.message === `--block must be BLOCK_KEY0..BLOCK_KEY5, got "${bad}"`, bad);
    }
    assert.throws(() => blockName('B'.repeat(41)), (e: unknown) => e instanceof RangeError && e.message.endsWith(`got "${'B'.repeat(40)}…"`));
    assert.throws(() => blockName('B'.repeat(40)), (e: unknown) => e instanceof RangeError && e.message.endsWith(`got "${'B'.repeat(40)}"`));
    assert.throws(() => blockName(6), (e: unknown) => e instanceof RangeError && e.message === 'block must be 0..5, got 6');
    assert.throws(() => blockName(true), (e: unknown) => e instanceof TypeError && e.message === 'block must be a block name such as BLOCK_KEY0 or a slot 0..5');
    assert.throws(() => blockSlot('BLOCK_KEY9', 'b'), (e: unknown) => e instanceof RangeError && e.message.startsWith('b must be'));
    assert.throws(() => blockSlot('BLOCK_KEY9'), (e: unknown) => e instanceof RangeError && e.message === 'block must be BLOCK_KEY0..BLOCK_KEY5, got "BLOCK_KEY9"');
    assert.throws(() => blockSlot(7), (e: unknown) => e instanceof RangeError && e.message === 'block must be 0..5, got 7');
  });
});
