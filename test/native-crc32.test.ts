// The firmware's CRC-32 byte loop (device/native/crc32: C over the ROM's esp_rom_crc32_le), run on the
// XS engine in the emulator as the module "protocol/crc32-loop", against the host's reference
// (protocol/crc32-loop.ts): the same results for the same calls, and argument errors that name the
// argument and never read or write outside the buffers.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { linkMap } from '../host/firmware/link-map.js';
import { crc32Fill, crc32Update } from '../protocol/crc32-loop.js';
import { makeChip } from './support/chips.js';
import { type ContractCalls, runContract } from './support/contract.js';
import { ROOT } from './support/vectors.js';

const CONTRACT = join(ROOT, 'test/fixtures/crc32/contract.js');

describe('native CRC-32 byte loop (device/native/crc32) on the XS engine', function () {
  this.timeout(120_000);
  let calls: ContractCalls;

  before(async () => {
    const chip = await makeChip('esp32s3', {});
    calls = await runContract({ chip: 'esp32s3', image: chip.image, main: CONTRACT, tag: 'crc32-contract' });
  });
  const value = (name: string): unknown => calls.value(name);
  /** The contract's data (1100 pseudo-random bytes), as it traced them. */
  const data = (): Uint8Array => {
    const d = new Uint8Array(Buffer.from(value('data') as string, 'hex'));
    assert.equal(d.length, 1100);
    return d;
  };
  const thrown = (name: string, error: string, message: RegExp): void => calls.thrown(name, error, message);

  // That the C ran, not the reference, shows in the argument errors below: the reference checks nothing.
  it('every ESP32 target links the native module under the name of the host\'s reference', () => {
    for (const chip of ['esp32', 'esp32s3', 'esp32c3', 'esp32c6', 'esp32h2']) {
      const modules = linkMap(ROOT, chip).split('\n').filter((l) => l.startsWith('module\tprotocol/crc32'));
      assert.deepEqual(modules, [
        `module\tprotocol/crc32-loop\t${join(ROOT, 'device/native/crc32/crc32.js')}`,
        `module\tprotocol/crc32\t${join(ROOT, 'dist/protocol/crc32.js')}`,
      ], chip);
    }
  });

  it('crc32Update gives the reference\'s CRC for every seed and range, from any kind of buffer', () => {
    const d = data();
    assert.equal(crc32Update(0, d, 0, 0), 0);
    let n = 0;
    for (const seed of [0, 1, 0xcbf43926, 0xffffffff]) {
      for (const [start, end] of [[0, 0], [0, 1], [3, 5], [1, 8], [0, 64], [5, 260], [17, 1040], [0, 1100]] as const) {
        assert.equal(value(`update(${seed}, d, ${start}, ${end})`), crc32Update(seed, d, start, end), `seed ${seed}, ${start}..${end}`);
        n++;
      }
    }
    assert.equal(n, 32);
    assert.equal(value('update of a view'), crc32Update(0, d.subarray(9, 700), 3, 600));
    assert.equal(value('update of an ArrayBuffer'), crc32Update(0, d, 0, 100));
    assert.equal(value('update of a DataView'), crc32Update(0, d, 20, 50));
  });

  it('crc32Fill writes the running CRCs the reference writes, and nothing outside its range', () => {
    const d = data();
    const run = new Uint32Array(302).fill(7);
    run[5] = 0x12345678;
    crc32Fill(d, 5, 290, run);
    assert.deepEqual(value('fill'), [...run]);
    const whole = new Uint32Array(40).fill(3);
    crc32Fill(d.subarray(100), 0, 29, new Uint32Array(whole.buffer, 8, 30));
    assert.deepEqual(value('fill into a view of a larger buffer'), [...whole]);
    assert.equal(whole[1], 3, 'the element before the view is untouched');
    assert.equal(whole[32], 3, 'the element after the last written one is untouched');
    assert.deepEqual(value('fill of an empty range'), [9, 9, 9, 9]);
  });

  // XS's debug builds name the function before (XS 13) or after (XS 17) the message.
  it('bad arguments throw TypeError or RangeError naming the argument', () => {
    for (const name of ['update(-1)', 'update(2 ** 32)', 'update(1.5)']) thrown(name, 'RangeError', /crc: must be an integer 0\.\.4294967295\b/);
    thrown("update('0')", 'TypeError', /crc: expected an integer/);
    for (const name of ['update of an array', 'update of a string', 'update of a Uint16Array']) thrown(name, 'TypeError', /bytes: expected a Uint8Array/);
    thrown('update end past the bytes', 'RangeError', /end: must be an integer 0\.\.1100\b/);
    thrown('update start after end', 'RangeError', /start: 5 is after end 4/);
    thrown('update without end', 'TypeError', /end: expected an integer/);
    thrown('fill to past the bytes', 'RangeError', /to: must be an integer 0\.\.4\b/);
    thrown('fill from after to', 'RangeError', /from: 3 is after to 2/);
    thrown('fill run too short', 'RangeError', /run: 8 elements is too short for to = 8\b/);
    for (const name of ['fill run a Uint8Array', 'fill run a Float32Array', 'fill run an object', 'fill without run']) {
      thrown(name, 'TypeError', /run: expected a Uint32Array/);
    }
  });

  it('a view whose own accessors lie about its size is refused by the bounds of its buffer', () => {
    thrown('fill run with a lying length', 'RangeError', /run: outside its buffer/);
    thrown('fill run with a lying byteOffset', 'RangeError', /run: outside its buffer/);
  });
});
