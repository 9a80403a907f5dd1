// The chip table (protocol/chips.ts) on its own: every entry, the lookups and the one refusal
// (requireChip / UnsupportedChipError), in memory. test/chips.test.ts checks the same table against
// espefuse, ESP-IDF's headers, the native C and the emulator builds; this file needs none of them.
import assert from 'node:assert/strict';
import {
  CHIP_TABLE, chipCode, chipName, CHIPS, chipsWith, hasHmacPeripheral, PURPOSE_HMAC_UP, PURPOSES, purposeName, requireChip,
  UnsupportedChipError, type ChipNeed,
} from '../protocol/chips.js';

const S3 = ['USER', 'RESERVED', 'XTS_AES_256_KEY_1', 'XTS_AES_256_KEY_2', 'XTS_AES_128_KEY', 'HMAC_DOWN_ALL', 'HMAC_DOWN_JTAG',
  'HMAC_DOWN_DIGITAL_SIGNATURE', 'HMAC_UP', 'SECURE_BOOT_DIGEST0', 'SECURE_BOOT_DIGEST1', 'SECURE_BOOT_DIGEST2'];
const C3 = ['USER', 'RESERVED', '', '', ...S3.slice(4)];
const H2 = ['USER', 'ECDSA_KEY', 'RESERVED', '', ...S3.slice(4)];
const C5 = ['USER', 'ECDSA_KEY', '', '', ...S3.slice(4), 'KM_INIT_KEY', '', '', 'XTS_AES_128_PSRAM_KEY', 'ECDSA_KEY_P192',
  'ECDSA_KEY_P384_L', 'ECDSA_KEY_P384_H'];
const P4 = ['USER', 'ECDSA_KEY', ...S3.slice(2), 'KM_INIT_KEY', '', '', '', 'ECDSA_KEY_P192', 'ECDSA_KEY_P384_L', 'ECDSA_KEY_P384_H'];
const ALL = ['esp32', 'esp32s2', 'esp32s3', 'esp32c2', 'esp32c3', 'esp32c5', 'esp32c6', 'esp32h2', 'esp32p4'];

/** The error requireChip throws for these arguments (fails if it returns). */
function refusal(name: unknown, ...needs: ChipNeed[]): UnsupportedChipError {
  try {
    requireChip(name, ...needs);
  } catch (e) {
    assert.ok(e instanceof UnsupportedChipError, String(e));
    return e;
  }
  assert.fail(`requireChip(${String(name)}, ${needs.join(', ')}) returned`);
}

describe('chip table: entries, lookups and the one refusal (in memory)', () => {
  it('every entry, field by field, in ESP-IDF order; the table and its entries are frozen', () => {
    const row = (name: string, model: number, hmac: boolean, purposes: string[], emulated: boolean, imageSize = 0x200) =>
      ({ name, model, hmac, keyBlocks: purposes.length > 0 ? 6 : 0, purposes, emulated, imageSize });
    assert.deepEqual(CHIP_TABLE.map((c) => ({ ...c, purposes: [...c.purposes] })), [
      row('esp32', 1, false, [], true, 0x120),
      row('esp32s2', 2, true, S3, false),
      row('esp32s3', 9, true, S3, true),
      row('esp32c2', 12, false, [], false),
      row('esp32c3', 5, true, C3, true),
      row('esp32c5', 23, true, C5, false),
      row('esp32c6', 13, true, C3, true),
      row('esp32h2', 16, true, H2, true),
      row('esp32p4', 18, true, P4, false),
    ]);
    assert.deepEqual(CHIP_TABLE.map((c) => c.keyBlocks), [0, 6, 6, 0, 6, 6, 6, 6, 6]);
    assert.ok(Object.isFrozen(CHIP_TABLE) && CHIP_TABLE.every((c) => Object.isFrozen(c) && Object.isFrozen(c.purposes)));
    assert.deepEqual(CHIPS, { esp32: 1, esp32s2: 2, esp32s3: 9, esp32c2: 12, esp32c3: 5, esp32c5: 23, esp32c6: 13, esp32h2: 16, esp32p4: 18 });
    assert.ok(Object.isFrozen(CHIPS));
    assert.deepEqual([...PURPOSES], S3);
    assert.ok(Object.isFrozen(PURPOSES));
    assert.equal(PURPOSE_HMAC_UP, 8);
    for (const c of CHIP_TABLE) if (c.hmac) assert.equal(c.purposes[PURPOSE_HMAC_UP], 'HMAC_UP', c.name);
  });

  it('chipsWith: the chips with every need asked for, in table order', () => {
    assert.deepEqual(chipsWith(), ALL);
    assert.deepEqual(chipsWith('known'), ALL);
    assert.deepEqual(chipsWith('hmac'), ['esp32s2', 'esp32s3', 'esp32c3', 'esp32c5', 'esp32c6', 'esp32h2', 'esp32p4']);
    assert.deepEqual(chipsWith('emulated'), ['esp32', 'esp32s3', 'esp32c3', 'esp32c6', 'esp32h2']);
    assert.deepEqual(chipsWith('virtual'), ALL.filter((n) => n !== 'esp32'));
    assert.deepEqual(chipsWith('hmac', 'emulated'), ['esp32s3', 'esp32c3', 'esp32c6', 'esp32h2']);
    assert.deepEqual(chipsWith('emulated', 'virtual'), ['esp32s3', 'esp32c3', 'esp32c6', 'esp32h2']);
    assert.deepEqual(chipsWith('known', 'hmac', 'emulated', 'virtual'), ['esp32s3', 'esp32c3', 'esp32c6', 'esp32h2']);
  });

  it('requireChip gives the entry itself when every need is met', () => {
    for (const c of CHIP_TABLE) assert.equal(requireChip(c.name), c);
    assert.equal(requireChip('esp32', 'known', 'emulated'), CHIP_TABLE[0]);
    assert.equal(requireChip('esp32s2', 'hmac', 'virtual'), CHIP_TABLE[1]);
    assert.equal(requireChip('esp32h2', 'hmac', 'emulated', 'virtual'), CHIP_TABLE[7]);
  });

  it('UnsupportedChipError: a RangeError named UnsupportedChipError, carrying the chip, the need and the list', () => {
    const e = refusal('esp32c2', 'hmac');
    assert.ok(e instanceof RangeError);
    assert.equal(e.name, 'UnsupportedChipError');
    assert.equal(String(e), 'UnsupportedChipError: chip "esp32c2" is not supported (no HMAC peripheral); use one of esp32s2, esp32s3, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4');
    assert.equal(e.chip, 'esp32c2');
    assert.equal(e.need, 'hmac');
    assert.deepEqual(e.supported, ['esp32s2', 'esp32s3', 'esp32c3', 'esp32c5', 'esp32c6', 'esp32h2', 'esp32p4']);
    const direct = new UnsupportedChipError('x', 'known', ['a', 'b']);
    assert.equal(direct.message, 'chip "x" is not supported; use one of a, b');
    assert.equal(direct.need, 'known');
  });

  it('refusals: unknown names (of any type) as "known", otherwise the first need the chip lacks', () => {
    const cases: [unknown, ChipNeed[], ChipNeed, string][] = [
      ['esp99', [], 'known', 'chip "esp99" is not supported; use one of ' + ALL.join(', ')],
      ['ESP32', ['emulated'], 'known', 'chip "ESP32" is not supported; use one of esp32, esp32s3, esp32c3, esp32c6, esp32h2'],
      [42, ['emulated'], 'known', 'chip "42" is not supported; use one of esp32, esp32s3, esp32c3, esp32c6, esp32h2'],
      [undefined, [], 'known', 'chip "undefined" is not supported; use one of ' + ALL.join(', ')],
      [null, ['hmac'], 'known', 'chip "null" is not supported; use one of esp32s2, esp32s3, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4'],
      ['esp32c5', ['emulated'], 'emulated', 'chip "esp32c5" is not supported (not emulated); use one of esp32, esp32s3, esp32c3, esp32c6, esp32h2'],
      ['esp32c5', ['hmac', 'emulated'], 'emulated', 'chip "esp32c5" is not supported (not emulated); use one of esp32s3, esp32c3, esp32c6, esp32h2'],
      ['esp32', ['hmac', 'emulated'], 'hmac', 'chip "esp32" is not supported (no HMAC peripheral); use one of esp32s3, esp32c3, esp32c6, esp32h2'],
      ['esp32', ['emulated', 'virtual'], 'virtual', 'chip "esp32" is not supported (no virtual chips of it); use one of esp32s3, esp32c3, esp32c6, esp32h2'],
      ['esp32c2', ['known', 'virtual', 'hmac'], 'hmac', 'chip "esp32c2" is not supported (no HMAC peripheral); use one of esp32s2, esp32s3, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4'],
    ];
    for (const [name, needs, need, message] of cases) {
      const e = refusal(name, ...needs);
      assert.equal(e.message, message, String(name));
      assert.equal(e.need, need, String(name));
      assert.equal(e.chip, String(name));
    }
  });

  it('chipCode, chipName, hasHmacPeripheral, purposeName', () => {
    assert.equal(chipCode('esp32s3'), 9);
    assert.equal(chipCode('esp32c6'), 13);
    assert.throws(() => chipCode('esp32x'), (e: unknown) => e instanceof UnsupportedChipError && e.need === 'known');
    for (const c of CHIP_TABLE) assert.equal(chipName(c.model), c.name);
    assert.equal(chipName(0), 'chip#0');
    assert.equal(chipName(99), 'chip#99');
    assert.equal(hasHmacPeripheral('esp32s3'), true);
    assert.equal(hasHmacPeripheral('esp32'), false);
    assert.equal(hasHmacPeripheral('esp32c2'), false);
    assert.throws(() => hasHmacPeripheral('esp8266'), /chip "esp8266" is not supported; use one of esp32, /);
    assert.equal(purposeName(0), 'USER');
    assert.equal(purposeName(8), 'HMAC_UP');
    assert.equal(purposeName(11), 'SECURE_BOOT_DIGEST2');
    assert.equal(purposeName(12), 'UNKNOWN(12)');
    assert.equal(purposeName(-1), 'UNKNOWN(-1)');
  });
});
