// The espefuse code that needs no espefuse, checked directly and fast (no Python): the summary parser
// on summary JSON made here in espefuse's shape, the key-block helpers, the silicon side file, finding
// espefuse and its Python, the driver's argument lists, quoting and error text, the EFSR token of a
// fresh virtual chip, and the driver's command mode against a stand-in espefuse (a shell script).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EspefuseError } from '../host/errors.js';
import { Espefuse, espefuseErrorText, imageSize, KEY_PURPOSE, shellQuote } from '../host/espefuse/driver.js';
import { espefusePython, findEspefuse, INSTALL_HINT, repoRoot, workerScript } from '../host/espefuse/locate.js';
import { readSilicon, removeSiliconKey, siliconPath, writeSiliconKey } from '../host/espefuse/silicon.js';
import { describeBlock, type EfuseKeyBlock, isBurnedHmacUp, keyBlock, parseSummary } from '../host/espefuse/summary.js';
import { createVirtualChip, efuseToken, randomMac } from '../host/espefuse/virtual.js';
import { codedError } from './support/errors.js';

type Doc = Record<string, unknown>;
const ZERO_KEY = '0x' + '00'.repeat(32);
const f = (value: unknown, raw: unknown, readable = true, writeable = true) => ({ value, raw_value: raw, readable, writeable });

/** A blank esp32s3 as `espefuse summary --format json` shows it (the fields the parser reads). */
function blank(over: Doc = {}): Doc {
  const d: Doc = {
    MAC: f('7c:df:a1:00:00:01 (OK)', '0x7cdfa1000001'),
    SECURE_BOOT_EN: f(false, 0),
    SPI_BOOT_CRYPT_CNT: f('Disable', '0x0'),
    RD_DIS: f(0, 0),
    WAFER_VERSION_MAJOR: f(0, 0),
    WAFER_VERSION_MINOR: f(2, 2),
  };
  for (let s = 0; s < 6; s++) {
    d[`BLOCK_KEY${s}`] = f(ZERO_KEY, ZERO_KEY);
    d[`KEY_PURPOSE_${s}`] = f('USER', 0);
  }
  return { ...d, ...over };
}

const outputError = (why: string) => (e: unknown): boolean => {
  assert.ok(e instanceof EspefuseError, String(e));
  assert.equal(e.code, 'ESPEFUSE_OUTPUT');
  assert.equal(e.message, `espefuse summary output is not what was expected (${why})`);
  return true;
};

const block = (over: Partial<EfuseKeyBlock> = {}): EfuseKeyBlock => ({
  block: 'BLOCK_KEY0', slot: 0, purpose: 'USER', purposeCode: 0, readProtected: false, writeProtected: false,
  purposeWritable: true, empty: true, unused: true, ...over,
});

describe('espefuse summary: parseSummary', () => {
  it('a blank chip: MAC, six unused key blocks, no secure boot or flash encryption, revision', () => {
    const s = parseSummary(JSON.stringify(blank()), 'esp32s3');
    assert.deepEqual(s, {
      chip: 'esp32s3', mac: '7cdfa1000001',
      keys: [0, 1, 2, 3, 4, 5].map((slot) => block({ block: `BLOCK_KEY${slot}`, slot })),
      secureBoot: false, flashEncryption: false, rdDisWritable: true, revision: { major: 0, minor: 2 },
    });
    assert.deepEqual(parseSummary(blank(), 'esp32c3'), { ...s, chip: 'esp32c3' }, 'an already-parsed object is taken as is');
  });

  it('a burned HMAC_UP block: purpose, read- and write-protection, not empty, not unused', () => {
    const s = parseSummary(blank({
      BLOCK_KEY1: f(ZERO_KEY, ZERO_KEY, false, false),
      KEY_PURPOSE_1: f('HMAC_UP', 8, true, false),
      BLOCK_KEY2: f('x', '0x01', true, true),
      KEY_PURPOSE_3: f(undefined, '0x5'),
      KEY_PURPOSE_4: f(7, 99),
      BLOCK_KEY5: f(ZERO_KEY, ZERO_KEY, true, false),
    }), 'esp32s3');
    assert.deepEqual(s.keys[1], block({ block: 'BLOCK_KEY1', slot: 1, purpose: 'HMAC_UP', purposeCode: 8, readProtected: true, writeProtected: true, purposeWritable: false, empty: false, unused: false }));
    assert.deepEqual(s.keys[2], block({ block: 'BLOCK_KEY2', slot: 2, empty: false, unused: false }), 'a block with data');
    assert.equal(s.keys[3].purpose, 'HMAC_DOWN_ALL', 'no purpose text: the name of the code');
    assert.equal(s.keys[3].purposeCode, 5);
    assert.equal(s.keys[3].unused, false, 'a purpose other than USER is not unused');
    assert.equal(s.keys[4].purpose, 'UNKNOWN(99)', 'a code past the table');
    assert.deepEqual(s.keys[5], block({ block: 'BLOCK_KEY5', slot: 5, writeProtected: true, unused: false }), 'write-protected: empty but not unused');
  });

  it('a read-protected block of purpose USER is neither empty nor unused', () => {
    const s = parseSummary(blank({ BLOCK_KEY0: f(ZERO_KEY, ZERO_KEY, false, true) }), 'esp32s3');
    assert.deepEqual(s.keys[0], block({ readProtected: true, empty: false, unused: false }));
  });

  it('key blocks without both fields are left out (chips without key purposes)', () => {
    const d = blank();
    delete d.BLOCK_KEY2;
    delete d.KEY_PURPOSE_4;
    const s = parseSummary(d, 'esp32s3');
    assert.deepEqual(s.keys.map((k) => k.block), ['BLOCK_KEY0', 'BLOCK_KEY1', 'BLOCK_KEY3', 'BLOCK_KEY5']);
    assert.deepEqual(s.keys.map((k) => k.slot), [0, 1, 3, 5]);
    const none = blank();
    for (let n = 0; n < 6; n++) { delete none[`BLOCK_KEY${n}`]; delete none[`KEY_PURPOSE_${n}`]; }
    none.BLOCK_KEY6 = f(ZERO_KEY, ZERO_KEY);
    none.KEY_PURPOSE_6 = f('USER', 0);
    assert.deepEqual(parseSummary(none, 'esp32c2').keys, [], 'only slots 0..5');
  });

  it('MAC: the first six hex pairs, lowercase, followed by a word boundary', () => {
    assert.equal(parseSummary(blank({ MAC: f('7C:DF:A1:0A:BB:0F', 0) }), 'esp32s3').mac, '7cdfa10abb0f');
    assert.equal(parseSummary(blank({ MAC: f('aa:bb:cc:dd:ee:ff(OK)', 0) }), 'esp32s3').mac, 'aabbccddeeff');
    for (const v of ['aa:bb:cc:dd:ee:ff0', 'aa:bb:cc:dd:ee', ' aa:bb:cc:dd:ee:ff', 'aabbccddeeff', 'aa-bb-cc-dd-ee-ff', 'ga:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:fg', 0x7cdfa1000001, null]) {
      assert.throws(() => parseSummary(blank({ MAC: f(v, 0) }), 'esp32s3'), outputError('MAC.value is not a MAC address'), String(v));
    }
  });

  it('raw values: a non-negative integer or a 0x hex string', () => {
    const code = (raw: unknown) => parseSummary(blank({ KEY_PURPOSE_0: f(undefined, raw) }), 'esp32s3').keys[0].purposeCode;
    assert.equal(code(8), 8);
    assert.equal(code(0), 0);
    assert.equal(code('0x0B'), 11);
    assert.equal(code('0xaF'), 175);
    for (const raw of [-1, 1.5, '8', '0x', 'x8', '0x8g', ' 0x8', '0x8 ', '0xg8', true, null, undefined]) {
      assert.throws(() => code(raw), outputError('KEY_PURPOSE_0.raw_value is not a hex number'), String(raw));
    }
    assert.throws(() => parseSummary(blank({ BLOCK_KEY3: f('', 'zero') }), 'esp32s3'), outputError('BLOCK_KEY3.raw_value is not a hex number'));
    // A read-protected block's raw value is not read.
    assert.equal(parseSummary(blank({ BLOCK_KEY3: f('', 'zero', false) }), 'esp32s3').keys[3].readProtected, true);
  });

  it('readable and writeable must be true or false', () => {
    assert.throws(() => parseSummary(blank({ BLOCK_KEY2: { ...f(ZERO_KEY, ZERO_KEY), readable: 1 } }), 'esp32s3'), outputError('BLOCK_KEY2.readable is not true or false'));
    assert.throws(() => parseSummary(blank({ BLOCK_KEY2: { ...f(ZERO_KEY, ZERO_KEY), writeable: 'yes' } }), 'esp32s3'), outputError('BLOCK_KEY2.writeable is not true or false'));
    assert.throws(() => parseSummary(blank({ KEY_PURPOSE_5: { value: 'USER', raw_value: 0, readable: true } }), 'esp32s3'), outputError('KEY_PURPOSE_5.writeable is not true or false'));
    assert.throws(() => parseSummary(blank({ RD_DIS: { value: 0, raw_value: 0 } }), 'esp32s3'), outputError('RD_DIS.writeable is not true or false'));
    assert.equal(parseSummary(blank({ RD_DIS: f(0, 0, true, false) }), 'esp32s3').rdDisWritable, false);
  });

  it('secure boot: value true or a non-zero raw value', () => {
    const sb = (v: unknown, raw: unknown) => parseSummary(blank({ SECURE_BOOT_EN: f(v, raw) }), 'esp32s3').secureBoot;
    assert.equal(sb(false, 0), false);
    assert.equal(sb(true, 0), true);
    assert.equal(sb(false, '0x1'), true);
    assert.equal(sb('True', 0), false, 'only the boolean true');
    assert.equal(sb(true, 'on'), true, 'value true: the raw value is not read');
    assert.throws(() => sb(false, 'on'), outputError('SECURE_BOOT_EN.raw_value is not a hex number'));
    const d = blank();
    delete d.SECURE_BOOT_EN;
    assert.throws(() => parseSummary(d, 'esp32s3'), outputError('no field SECURE_BOOT_EN'));
  });

  it('flash encryption: an odd number of SPI_BOOT_CRYPT_CNT bits; no field, none', () => {
    const fe = (raw: unknown) => parseSummary(blank({ SPI_BOOT_CRYPT_CNT: f('', raw) }), 'esp32s3').flashEncryption;
    assert.deepEqual([0, 1, 3, 7, '0x4', '0x6', '0x5', 0b10110].map(fe), [false, true, false, true, true, false, false, true]);
    assert.throws(() => fe(-3), outputError('SPI_BOOT_CRYPT_CNT.raw_value is not a hex number'));
    const d = blank();
    delete d.SPI_BOOT_CRYPT_CNT;
    assert.equal(parseSummary(d, 'esp32s3').flashEncryption, false);
  });

  it('revision: integer values, else 0', () => {
    const rev = (major: unknown, minor: unknown) => parseSummary(blank({ WAFER_VERSION_MAJOR: f(major, 0), WAFER_VERSION_MINOR: f(minor, 0) }), 'esp32s3').revision;
    assert.deepEqual(rev(1, 3), { major: 1, minor: 3 });
    assert.deepEqual(rev(1.5, '3'), { major: 0, minor: 0 });
    const d = blank();
    delete d.WAFER_VERSION_MAJOR;
    delete d.WAFER_VERSION_MINOR;
    assert.deepEqual(parseSummary(d, 'esp32s3').revision, { major: 0, minor: 0 });
  });

  it('what is not a summary is ESPEFUSE_OUTPUT, never another error', () => {
    assert.throws(() => parseSummary('{', 'esp32s3'), outputError('not JSON'));
    for (const doc of ['[]', 'null', '3', '"x"', [], null, 3, undefined]) {
      assert.throws(() => parseSummary(doc, 'esp32s3'), outputError('not a JSON object'), String(doc));
    }
    assert.throws(() => parseSummary({}, 'esp32s3'), outputError('no field MAC'));
    for (const bad of [null, [], 'aa:bb:cc:dd:ee:ff', 5]) {
      assert.throws(() => parseSummary(blank({ MAC: bad }), 'esp32s3'), outputError('no field MAC'), String(bad));
      assert.throws(() => parseSummary(blank({ KEY_PURPOSE_2: bad }), 'esp32s3'), outputError('no field KEY_PURPOSE_2'), String(bad));
    }
    const throwing = (thrown: unknown): Doc => {
      const d = blank();
      Object.defineProperty(d, 'RD_DIS', { enumerable: true, get() { throw thrown; } });
      return d;
    };
    assert.throws(() => parseSummary(throwing(new Error('boom')), 'esp32s3'), outputError('boom'));
    assert.throws(() => parseSummary(throwing('plain'), 'esp32s3'), outputError('plain'));
    const own = new EspefuseError('own', 'ESPEFUSE_BLOCK');
    assert.throws(() => parseSummary(throwing(own), 'esp32s3'), (e: unknown) => e === own);
  });
});

describe('espefuse summary: key-block helpers', () => {
  it('keyBlock finds a block by name; a missing one is ESPEFUSE_BLOCK', () => {
    const s = parseSummary(blank(), 'esp32s3');
    assert.equal(keyBlock(s, 'BLOCK_KEY4'), s.keys[4]);
    assert.throws(() => keyBlock({ ...s, keys: s.keys.slice(0, 2) }, 'BLOCK_KEY2'), (e: unknown) =>
      e instanceof EspefuseError && e.code === 'ESPEFUSE_BLOCK' && e.message === 'esp32s3 has no key block BLOCK_KEY2');
  });

  it('isBurnedHmacUp: purpose HMAC_UP and read-protected, both', () => {
    assert.equal(isBurnedHmacUp(block({ purpose: 'HMAC_UP', readProtected: true })), true);
    assert.equal(isBurnedHmacUp(block({ purpose: 'HMAC_UP', readProtected: false })), false);
    assert.equal(isBurnedHmacUp(block({ purpose: 'HMAC_DOWN_ALL', readProtected: true })), false);
    assert.equal(KEY_PURPOSE, 'HMAC_UP');
  });

  it('describeBlock: purpose, protection, contents', () => {
    assert.equal(describeBlock(block()), 'purpose USER, readable, empty');
    assert.equal(describeBlock(block({ empty: false })), 'purpose USER, readable, holds data');
    assert.equal(describeBlock(block({ purpose: 'HMAC_UP', readProtected: true, writeProtected: true, empty: false })), 'purpose HMAC_UP, read-protected, write-protected');
    assert.equal(describeBlock(block({ readProtected: true, empty: true })), 'purpose USER, read-protected');
    assert.equal(describeBlock(block({ writeProtected: true })), 'purpose USER, readable, write-protected, empty');
  });
});

describe('espefuse: the silicon side file', () => {
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-silicon-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const KEY = new Uint8Array(32).fill(0xab);
  const code = (c: string, msg: string | RegExp) => codedError(EspefuseError, c, msg);

  it('siliconPath appends .silicon.json; no side file reads as undefined', async () => {
    assert.equal(siliconPath('/a/chip.bin'), '/a/chip.bin.silicon.json');
    assert.equal(await readSilicon(join(dir, 'none.bin')), undefined);
  });

  it('writeSiliconKey makes the file (0600, two-space JSON, newline), keeps other keys, normalises the block', async () => {
    const image = join(dir, 'chip.bin');
    await writeSiliconKey(image, 'esp32s3', '2', KEY);
    const path = siliconPath(image);
    assert.equal(readFileSync(path, 'utf8'), JSON.stringify({ chip: 'esp32s3', keys: { BLOCK_KEY2: 'ab'.repeat(32) } }, null, 2) + '\n');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    await writeSiliconKey(image, 'esp32s3', 'block_key0', new Uint8Array(32).fill(1));
    assert.deepEqual(await readSilicon(image), { chip: 'esp32s3', keys: { BLOCK_KEY2: 'ab'.repeat(32), BLOCK_KEY0: '01'.repeat(32) } });
    await assert.rejects(writeSiliconKey(image, 'esp32c3', 'BLOCK_KEY1', KEY), code('CHIP_MISMATCH', `${path} is a virtual esp32s3, not esp32c3`));
    await assert.rejects(writeSiliconKey(image, 'esp32s3', 'BLOCK_KEY1', new Uint8Array(31)), (e: unknown) => e instanceof RangeError && e.message === 'key must be 32 bytes, got 31');
  });

  it('removeSiliconKey takes one key out; no file or no such key changes nothing', async () => {
    const image = join(dir, 'chip.bin');
    await removeSiliconKey(image, 'BLOCK_KEY0');
    assert.equal(existsSync(siliconPath(image)), false, 'no file made');
    await writeSiliconKey(image, 'esp32s3', 'BLOCK_KEY0', KEY);
    await writeSiliconKey(image, 'esp32s3', 'BLOCK_KEY1', KEY);
    const before = readFileSync(siliconPath(image), 'utf8');
    writeFileSync(siliconPath(image), before.replace('\n}\n', '\n}\n\n'));
    await removeSiliconKey(image, 'BLOCK_KEY3');
    assert.equal(readFileSync(siliconPath(image), 'utf8'), before.replace('\n}\n', '\n}\n\n'), 'not rewritten');
    await removeSiliconKey(image, '0');
    assert.equal(readFileSync(siliconPath(image), 'utf8'), JSON.stringify({ chip: 'esp32s3', keys: { BLOCK_KEY1: 'ab'.repeat(32) } }, null, 2) + '\n');
  });

  it('a malformed side file is SILICON_FORMAT; an unreadable one SILICON_IO', async () => {
    const image = join(dir, 'chip.bin');
    const path = siliconPath(image);
    const FORMAT = `${path} is not a silicon side file ({"chip": ..., "keys": {"BLOCK_KEYn": "<64 hex>"}})`;
    writeFileSync(path, '{');
    await assert.rejects(readSilicon(image), code('SILICON_FORMAT', `${path} is not JSON`));
    const k = 'ab'.repeat(32);
    for (const bad of [null, 3, {}, { chip: 'esp32s3' }, { chip: 'esp32s3', keys: null }, { chip: 'esp32s3', keys: 'x' },
      { chip: 'esp32s9', keys: {} }, { chip: 7, keys: {} }, { keys: {} },
      { chip: 'esp32s3', keys: { BLOCK_KEY6: k } }, { chip: 'esp32s3', keys: { XBLOCK_KEY1: k } }, { chip: 'esp32s3', keys: { BLOCK_KEY1X: k } },
      { chip: 'esp32s3', keys: { BLOCK_KEY1: k.toUpperCase() } }, { chip: 'esp32s3', keys: { BLOCK_KEY1: k + '0' } },
      { chip: 'esp32s3', keys: { BLOCK_KEY1: k.slice(1) } }, { chip: 'esp32s3', keys: { BLOCK_KEY1: 'x' + k } }, { chip: 'esp32s3', keys: { BLOCK_KEY1: 5 } },
      { chip: 'esp32s3', keys: { BLOCK_KEY1: [k] } }, { chip: 'esp32s3', keys: { BLOCK_KEY1: k, BLOCK_KEY6: k } }]) {
      writeFileSync(path, JSON.stringify(bad));
      await assert.rejects(readSilicon(image), code('SILICON_FORMAT', FORMAT), JSON.stringify(bad));
    }
    writeFileSync(path, JSON.stringify({ chip: 'esp32c3', keys: { BLOCK_KEY5: k }, extra: 1 }));
    assert.deepEqual(await readSilicon(image), { chip: 'esp32c3', keys: { BLOCK_KEY5: k } }, 'only chip and keys');
    rmSync(path);
    mkdirSync(path);
    await assert.rejects(readSilicon(image), code('SILICON_IO', new RegExp(`^cannot read ${path}: .*\\(EISDIR\\)$`)));
    await assert.rejects(writeSiliconKey(join(dir, 'no', 'such', 'chip.bin'), 'esp32s3', 'BLOCK_KEY0', KEY), (e: unknown) =>
      code('SILICON_IO', new RegExp(`^cannot write ${join(dir, 'no', 'such', 'chip.bin')}\\.silicon\\.json: .*\\(ENOENT\\)$`))(e)
      && (e as Error & { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT');
  });
});

describe('espefuse: finding espefuse and its Python', () => {
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-locate-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, text: string, mode = 0o755): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    chmodSync(p, mode);
    return p;
  };
  const missing = (msg: string) => (e: unknown): boolean => e instanceof EspefuseError && e.code === 'ESPEFUSE_MISSING' && e.message === msg;

  it('repoRoot is the package holding this module; worker.py is beside the driver source', () => {
    const root = repoRoot();
    assert.ok(root !== undefined);
    assert.equal((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string }).name, 'efuse-attest');
    assert.equal(workerScript(), join(root, 'host', 'espefuse', 'worker.py'));
  });

  it('$ESPEFUSE first: used when executable, else ESPEFUSE_MISSING naming it', () => {
    const bin = script('my-espefuse', '#!/bin/sh\n');
    assert.equal(findEspefuse({ ESPEFUSE: bin, PATH: '' }), bin);
    const plain = script('plain', '', 0o644);
    assert.throws(() => findEspefuse({ ESPEFUSE: plain }), missing(`ESPEFUSE is set to ${plain}, which is not an executable file`));
    assert.throws(() => findEspefuse({ ESPEFUSE: join(dir, 'none') }), missing(`ESPEFUSE is set to ${join(dir, 'none')}, which is not an executable file`));
  });

  it('then PATH, skipping empty entries and files that are not executable; none: the install hint', function () {
    if (existsSync(join(repoRoot() ?? '/', '.venv'))) this.skip(); // the project's own virtualenv comes before PATH
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(a, 'espefuse'), '#!/bin/sh\n', { mode: 0o644 });
    writeFileSync(join(b, 'espefuse'), '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(findEspefuse({ PATH: ['', a, b].join(delimiter) }), join(b, 'espefuse'));
    assert.equal(findEspefuse({ ESPEFUSE: '', PATH: b }), join(b, 'espefuse'), 'an empty ESPEFUSE is unset');
    assert.throws(() => findEspefuse({ PATH: a }), missing(`espefuse was not found: ${INSTALL_HINT}`));
    assert.throws(() => findEspefuse({}), missing(`espefuse was not found: ${INSTALL_HINT}`));
  });

  it('espefusePython: #!python or pip\'s exec trampoline, when that Python is executable', () => {
    const py = script('python3.12', '#!/bin/sh\n');
    const noexec = script('python3', '', 0o644);
    assert.equal(espefusePython(script('e1', `#!${py}\nimport sys\n`)), py);
    assert.equal(espefusePython(script('e2', `#! ${py}  \n`)), py);
    assert.equal(espefusePython(script('e8', ` #!${py}\r\n`)), py, 'the first line is trimmed');
    assert.equal(espefusePython(script('e9', `x#!${py}\n`)), undefined, '#! starts the line');
    assert.equal(espefusePython(script('e10', `#!${py}x\n`)), undefined, 'nothing after the Python');
    const wrapper = script('python3.12-wrapper', '#!/bin/sh\n');
    assert.equal(espefusePython(script('t9', `#! /bin/sh\n'''exec' "${py}" "$0" "$@"\n`)), py, 'a space after #!');
    assert.equal(espefusePython(script('t10', `x#!/bin/sh\n'''exec' "${py}" "$0" "$@"\n`)), undefined, '#! starts the line');
    assert.equal(espefusePython(script('t11', `#!/bin/sh\n'''exec' "${wrapper}" "$0" "$@"\n`)), undefined, 'the path ends in python and its version');
    assert.equal(espefusePython(script('e3', `#!${noexec}\n`)), undefined, 'not executable');
    assert.equal(espefusePython(script('e4', `#!/usr/bin/env python3\n`)), undefined, 'env: not a path to Python');
    assert.equal(espefusePython(script('e5', `#!${py} -u\n`)), undefined);
    assert.equal(espefusePython(script('e6', `#!${join(dir, 'node')}\n`)), undefined, 'not Python');
    assert.equal(espefusePython(script('t1', `#!/bin/sh\n'''exec' "${py}" "$0" "$@"\n' '''\n`)), py);
    assert.equal(espefusePython(script('t2', `#!/bin/sh\n'''exec' "${noexec}" "$0" "$@"\n`)), undefined, 'trampoline to a file that is not executable');
    assert.equal(espefusePython(script('t3', `#!/bin/bash\n'''exec' "${py}" "$0" "$@"\n`)), undefined, 'only /bin/sh');
    assert.equal(espefusePython(script('t4', `#!/bin/sh\n'''exec' "${join(dir, 'node')}" "$0" "$@"\n`)), undefined, 'not Python');
    assert.equal(espefusePython(script('t5', `#!/bin/sh\n'''exec' "${py}x" "$0" "$@"\n`)), undefined, 'name ends after the version');
    assert.equal(espefusePython(script('t6', `#!/bin/sh\n echo '''exec' "${py}" "$0" "$@"\n`)), undefined, 'the trampoline starts the line');
    assert.equal(espefusePython(script('t7', `#!/bin/sh\n`)), undefined);
    assert.equal(espefusePython(script('t8', '')), undefined);
    assert.equal(espefusePython(join(dir, 'missing')), undefined);
    assert.equal(espefusePython(script('e7', `#!${'/x'.repeat(300)}/python\n`)), undefined, 'only the first 512 bytes are read');
  });
});

describe('espefuse driver: pure helpers', () => {
  it('imageSize: the chip table\'s register window', () => {
    assert.equal(imageSize('esp32s3'), 0x200);
    assert.equal(imageSize('esp32c3'), 0x200);
    assert.throws(() => imageSize('esp32x'), /esp32x/);
  });

  it('shellQuote: safe words as they are, anything else in single quotes', () => {
    assert.equal(shellQuote('A-z_0@%+=:,./9'), 'A-z_0@%+=:,./9');
    assert.equal(shellQuote('a b'), `'a b'`);
    assert.equal(shellQuote(''), `''`);
    assert.equal(shellQuote(`it's`), `'it'\\''s'`);
    assert.equal(shellQuote(`'a'`), `''\\''a'\\'''`);
    assert.equal(shellQuote('x$y'), `'x$y'`);
    assert.equal(shellQuote('$y'), `'$y'`);
    assert.equal(shellQuote('x\n'), `'x\n'`);
  });

  it('espefuseErrorText: the fatal error, box drawing removed, continuation lines joined', () => {
    const out = 'espefuse v5.0.2\nConnecting....\n\u256d\u2500 A fatal error occurred: Burning\n  BLOCK_KEY0 \u2502 is  refused\n\nmore after the gap\n';
    assert.equal(espefuseErrorText(out), 'Burning BLOCK_KEY0 is refused');
    assert.equal(espefuseErrorText('x\nerror: unrecognized arguments: --bad\n'), 'unrecognized arguments: --bad');
    assert.equal(espefuseErrorText('ERROR: Bad\nline two\n'), 'Bad line two');
    assert.equal(espefuseErrorText('warn\nsomething error: not at the start\n'), 'warn something error: not at the start', 'error: only at the start');
    const long = Array.from({ length: 40 }, (_, i) => `word${i} `.repeat(3).trim());
    const t = espefuseErrorText(['A fatal error occurred: start', ...long].join('\n'));
    assert.ok(t.startsWith('start word0 word0 word0 word1'), t);
    assert.ok(t.length >= 300 && t.length < 330, `stops past 300 characters: ${t.length}`);
    assert.equal(espefuseErrorText('A fatal error occurred:\n\nlast\n'), 'A fatal error occurred: last', 'an empty fatal line: the last lines');
    assert.equal(espefuseErrorText('A fatal error occurred:\nnext line\n'), 'next line', 'trimmed');
    assert.equal(espefuseErrorText('A fatal error occurred:Burning\u2502BLOCK_KEY0\n'), 'Burning BLOCK_KEY0', 'a box character is a space');
    assert.equal(espefuseErrorText('A fatal error occurred: bad error: thing\n'), 'bad error: thing', 'error: only at the start');
    assert.equal(espefuseErrorText('error:x\n'), 'x');
    assert.equal(espefuseErrorText(`error: ${'a'.repeat(300)}\nnext\n`), 'a'.repeat(300), 'no line added once 300 characters are reached');
    assert.equal(espefuseErrorText(`error: ${'a'.repeat(299)}\nnext\n`), `${'a'.repeat(299)} next`);
  });

  it('espefuseErrorText without an error line: the last three lines, without the banner', () => {
    assert.equal(espefuseErrorText('espefuse v5.0.2\none\ntwo\n\nthree\nfour\n'), 'two three four');
    assert.equal(espefuseErrorText('espefuse v5.0.2\n\n'), 'no output');
    assert.equal(espefuseErrorText(''), 'no output');
    assert.equal(espefuseErrorText('x espefuse v5\n'), 'x espefuse v5');
  });

  it('the constructor checks chip and target; argv puts the global options first', () => {
    const ef = new Espefuse('esp32s3', { kind: 'virt', image: '/v/chip 1.bin' }, { bin: '/opt/espefuse', session: false });
    assert.equal(ef.bin, '/opt/espefuse');
    assert.equal(ef.timeoutMs, 60_000);
    assert.equal(ef.label, 'virt /v/chip 1.bin');
    assert.deepEqual(ef.connection, { mode: 'none', processes: 0 });
    assert.deepEqual(ef.argv(['summary']), ['--chip', 'esp32s3', '--virt', '--path-efuse-file', '/v/chip 1.bin', 'summary']);
    assert.deepEqual(ef.argv(['burn-key'], { confirm: false }), ['--chip', 'esp32s3', '--virt', '--path-efuse-file', '/v/chip 1.bin', '--do-not-confirm', 'burn-key']);
    assert.equal(ef.display(['summary', 'a b']), `espefuse --chip esp32s3 --virt --path-efuse-file '/v/chip 1.bin' summary 'a b'`);
    assert.equal(ef.display(['x'], { confirm: false }), `espefuse --chip esp32s3 --virt --path-efuse-file '/v/chip 1.bin' --do-not-confirm x`);
    assert.deepEqual(ef.summaryCommand(), ['summary', '--format', 'json', '--file', 'summary.json']);
    assert.deepEqual(ef.summaryCommand('/t/s.json'), ['summary', '--format', 'json', '--file', '/t/s.json']);
    assert.deepEqual(ef.burnKeyCommand('3', '/k/key.bin'), ['burn-key', 'BLOCK_KEY3', '/k/key.bin', 'HMAC_UP']);
    const port = new Espefuse('esp32c3', { kind: 'port', port: '/dev/ttyUSB0', baud: 460800 }, { bin: '/e', timeoutMs: 5, session: false });
    assert.equal(port.timeoutMs, 5);
    assert.equal(port.label, 'port /dev/ttyUSB0');
    assert.deepEqual(port.argv(['summary']), ['--chip', 'esp32c3', '--port', '/dev/ttyUSB0', '--baud', '460800', 'summary']);
    const noBaud = new Espefuse('esp32c3', { kind: 'port', port: '/dev/ttyACM0' }, { bin: '/e', session: false });
    assert.equal(noBaud.timeoutMs, 180_000);
    assert.deepEqual(noBaud.argv([]), ['--chip', 'esp32c3', '--port', '/dev/ttyACM0']);
    assert.throws(() => new Espefuse(5 as never, { kind: 'virt', image: 'x' }, { bin: '/e' }), (e: unknown) => e instanceof TypeError && e.message === 'chip must be a string such as esp32s3');
    assert.throws(() => new Espefuse('esp32x', { kind: 'virt', image: 'x' }, { bin: '/e' }), /esp32x/);
    assert.throws(() => new Espefuse('esp32s3', { kind: 'virt', image: '' }, { bin: '/e' }), (e: unknown) => e instanceof TypeError && e.message === 'target.image must be a path');
    assert.throws(() => new Espefuse('esp32s3', { kind: 'virt', image: 3 } as never, { bin: '/e' }), (e: unknown) => e instanceof TypeError && e.message === 'target.image must be a path');
    assert.throws(() => new Espefuse('esp32s3', { kind: 'port', port: '' }, { bin: '/e' }), (e: unknown) => e instanceof TypeError && e.message === 'target.port must be a path');
    assert.throws(() => new Espefuse('esp32s3', { kind: 'port', port: null } as never, { bin: '/e' }), (e: unknown) => e instanceof TypeError && e.message === 'target.port must be a path');
    for (const t of [undefined, { kind: 'usb' }]) {
      assert.throws(() => new Espefuse('esp32s3', t as never, { bin: '/e' }), (e: unknown) => e instanceof TypeError && e.message === 'target must be {kind: "virt", image} or {kind: "port", port}');
    }
  });
});

describe('espefuse driver: command mode against a stand-in espefuse', function () {
  this.timeout(20_000);
  let dir = '';
  let image = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'efa-cmd-'));
    image = join(dir, 'chip.bin');
    writeFileSync(image, Buffer.alloc(0x200));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A shell script standing in for espefuse: records its arguments, answers summary with `summaryJson`. */
  function fake(summaryJson: Doc | string, opts: { exit?: number; burnOut?: string } = {}): string {
    const json = join(dir, 'answer.json');
    writeFileSync(json, typeof summaryJson === 'string' ? summaryJson : JSON.stringify(summaryJson));
    const p = join(dir, 'espefuse');
    writeFileSync(p, `#!/bin/sh
echo "$@" >> "${join(dir, 'calls.txt')}"
prev=""
for a in "$@"; do
  if [ "$a" = burn-key ]; then echo "${opts.burnOut ?? 'burned'}"; exit ${opts.exit ?? 0}; fi
  if [ "$prev" = --file ]; then cp "${json}" "$a"; fi
  prev="$a"
done
echo "espefuse v5.0.2"
echo "A fatal error occurred: no luck" >&2
exit ${opts.exit ?? 0}
`);
    chmodSync(p, 0o755);
    return p;
  }
  const calls = (): string[] => readFileSync(join(dir, 'calls.txt'), 'utf8').trim().split('\n');
  const err = (code: string, msg: string | RegExp) => codedError(EspefuseError, code, msg);

  it('summary runs `summary --format json --file <temp>` and parses what it wrote', async () => {
    const ef = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake(blank()), session: false });
    const s = await ef.summary();
    assert.equal(s.mac, '7cdfa1000001');
    assert.equal(s.keys.length, 6);
    assert.deepEqual(ef.connection, { mode: 'command', processes: 1 });
    assert.match(calls()[0], new RegExp(`^--chip esp32s3 --virt --path-efuse-file ${image} summary --format json --file /.*/summary\\.json$`));
    await ef.close();
  });

  it('the image must exist, be a file, have the chip\'s size, and match its side file', async () => {
    const bin = fake(blank());
    const ef = (img: string, chip = 'esp32s3') => new Espefuse(chip, { kind: 'virt', image: img }, { bin, session: false });
    const none = join(dir, 'none.bin');
    await assert.rejects(ef(none).summary(), err('ESPEFUSE_NO_IMAGE', `no virtual chip image at ${none}; make one with \`efuse-attest chip create --chip esp32s3 --out ${none}\``));
    await assert.rejects(ef(dir).summary(), err('ESPEFUSE_NO_IMAGE', `no virtual chip image at ${dir}; make one with \`efuse-attest chip create --chip esp32s3 --out ${dir}\``));
    writeFileSync(image, Buffer.alloc(0x1ff));
    await assert.rejects(ef(image).summary(), err('ESPEFUSE_NO_IMAGE', `${image} is 511 bytes, not a esp32s3 virtual eFuse image (512 bytes)`));
    writeFileSync(image, Buffer.alloc(0x200));
    await writeSiliconKey(image, 'esp32c3', 'BLOCK_KEY0', new Uint8Array(32));
    await assert.rejects(ef(image).summary(), err('CHIP_MISMATCH', `${image} is a virtual esp32c3 (${siliconPath(image)}), not esp32s3`));
    assert.equal((await ef(image, 'esp32c3').summary()).chip, 'esp32c3');
    assert.equal(existsSync(join(dir, 'calls.txt')), true);
    assert.equal(calls().length, 1, 'espefuse ran only for the good image');
  });

  it('a non-zero exit is ESPEFUSE_FAILED with espefuse\'s own error; a missing program ESPEFUSE_MISSING', async () => {
    const ef = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake(blank(), { exit: 2 }), session: false });
    await assert.rejects(ef.summary(), err('ESPEFUSE_FAILED', `espefuse summary on virt ${image} failed (exit 2): no luck`));
    const gone = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: join(dir, 'nothing'), session: false });
    await assert.rejects(gone.run(['summary']), err('ESPEFUSE_MISSING', new RegExp(`^cannot run espefuse \\(${join(dir, 'nothing')}\\): .*ENOENT`)));
    const r = await new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake(blank()), session: false }).run(['summary']);
    assert.deepEqual(r, { stdout: 'espefuse v5.0.2\n', stderr: 'A fatal error occurred: no luck\n' });
  });

  it('a summary file that was not written is ESPEFUSE_OUTPUT; a bad one the parser\'s error', async () => {
    const p = join(dir, 'espefuse-silent');
    writeFileSync(p, '#!/bin/sh\nexit 0\n');
    chmodSync(p, 0o755);
    await assert.rejects(new Espefuse('esp32s3', { kind: 'virt', image }, { bin: p, session: false }).summary(),
      err('ESPEFUSE_OUTPUT', `espefuse summary on virt ${image} wrote no JSON file`));
    await assert.rejects(new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake('nope'), session: false }).summary(),
      err('ESPEFUSE_OUTPUT', 'espefuse summary output is not what was expected (not JSON)'));
  });

  it('a timeout is ESPEFUSE_TIMEOUT and the process is killed', async () => {
    const p = join(dir, 'espefuse-slow');
    writeFileSync(p, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(p, 0o755);
    const ef = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: p, session: false, timeoutMs: 300 });
    const t0 = Date.now();
    await assert.rejects(ef.run(['summary']), err('ESPEFUSE_TIMEOUT', `espefuse summary on virt ${image} did not finish within 0.3 s`));
    assert.ok(Date.now() - t0 < 5000);
  });

  it('burnKey: burn-key with the key file and HMAC_UP, then a re-read that must show the burn', async () => {
    const burned = blank({ BLOCK_KEY2: f(ZERO_KEY, ZERO_KEY, false, false), KEY_PURPOSE_2: f('HMAC_UP', 8, true, false) });
    const ef = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake(burned), session: false });
    const s = await ef.burnKey('2', new Uint8Array(32).fill(7));
    assert.equal(isBurnedHmacUp(keyBlock(s, 'BLOCK_KEY2')), true);
    const [burn, read] = calls();
    assert.match(burn, new RegExp(`^--chip esp32s3 --virt --path-efuse-file ${image} --do-not-confirm burn-key BLOCK_KEY2 /.*/key\\.bin HMAC_UP$`));
    assert.match(read, / summary --format json --file /);
    assert.deepEqual(ef.connection, { mode: 'command', processes: 2 });

    const notBurned = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake(blank()), session: false });
    await assert.rejects(notBurned.burnKey('BLOCK_KEY2', new Uint8Array(32)),
      err('BURN_UNCONFIRMED', 'espefuse reported success but BLOCK_KEY2 of device 7cdfa1000001 is now purpose USER, readable, empty, not HMAC_UP and read-protected'));
    const notProtected = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake(blank({ KEY_PURPOSE_2: f('HMAC_UP', 8) })), session: false });
    await assert.rejects(notProtected.burnKey('BLOCK_KEY2', new Uint8Array(32)), err('BURN_UNCONFIRMED', /is now purpose HMAC_UP, readable, empty, not HMAC_UP/));
    const protectedOther = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake(blank({ BLOCK_KEY2: f(ZERO_KEY, ZERO_KEY, false) })), session: false });
    await assert.rejects(protectedOther.burnKey('BLOCK_KEY2', new Uint8Array(32)), err('BURN_UNCONFIRMED', /is now purpose USER, read-protected, not HMAC_UP/));
    await assert.rejects(ef.burnKey('BLOCK_KEY2', new Uint8Array(16)), (e: unknown) => e instanceof RangeError && e.message === 'key must be 32 bytes, got 16');
    await assert.rejects(ef.burnKey('BLOCK_KEY9', new Uint8Array(32)), RangeError);
  });

  it('a failed burn names the block\'s command and never shows the key', async () => {
    const key = new Uint8Array(32).fill(0x3c);
    const hex = '3c'.repeat(32);
    const ef = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake(blank(), { exit: 1, burnOut: `A fatal error occurred: bad key ${hex}` }), session: false });
    await assert.rejects(ef.burnKey('BLOCK_KEY1', key), (e: unknown) => {
      assert.ok(e instanceof EspefuseError);
      assert.equal(e.code, 'ESPEFUSE_FAILED');
      assert.match(e.message, new RegExp(`^espefuse burn-key on virt ${image} failed \\(exit 1\\): bad key `));
      assert.ok(!e.message.includes(hex), e.message);
      return true;
    });
  });
});

describe('espefuse virtual chips: MAC and EFSR token', () => {
  it('randomMac: 12 hex digits, locally administered, unicast, different each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const m = randomMac();
      assert.match(m, /^[0-9a-f]{12}$/);
      const b0 = parseInt(m.slice(0, 2), 16);
      assert.equal(b0 & 0x03, 0x02, m);
      seen.add(m);
    }
    assert.ok(seen.size > 60);
  });

  it('efuseToken: the MAC reversed at its offset in its block, others empty, CRC32 of the prefix', () => {
    const mac = Uint8Array.from([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    const tok = efuseToken('esp32s3', { blocks: [8, 12, 4], macBlock: 1, macOffset: 2 }, mac);
    const block1 = Buffer.from([0, 0, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0, 0, 0, 0]).toString('base64url');
    const prefix = `EFSR:esp32s3:000::${block1}:::`;
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32(prefix) >>> 0);
    assert.equal(tok, prefix + crc.toString('base64url'));
    assert.equal(efuseToken('esp32c3', { blocks: [6], macBlock: 0, macOffset: 0 }, mac).split(':').slice(0, 4).join(':'),
      `EFSR:esp32c3:000:${Buffer.from([0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa]).toString('base64url')}`);
  });

  it('createVirtualChip refuses bad options before running espefuse', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'efa-create-'));
    try {
      const out = join(dir, 'chip.bin');
      const bin = join(dir, 'no-espefuse');
      await assert.rejects(createVirtualChip({ chip: 'esp32', out, bin }), /esp32/);
      await assert.rejects(createVirtualChip({ chip: 'esp32s3', out: '', bin }), (e: unknown) => e instanceof TypeError && e.message === 'out must be a path');
      await assert.rejects(createVirtualChip({ chip: 'esp32s3', out: 5 as never, bin }), (e: unknown) => e instanceof TypeError && e.message === 'out must be a path');
      await assert.rejects(createVirtualChip({ chip: 'esp32s3', out, bin, mac: '00:00:00:00:00:00' }), (e: unknown) => e instanceof RangeError && e.message === 'mac must not be all zeros');
      await assert.rejects(createVirtualChip({ chip: 'esp32s3', out, bin, mac: '01:00:00:00:00:00' }), (e: unknown) => e instanceof RangeError && e.message === 'mac 010000000000 is a multicast address; a factory MAC is unicast');
      await assert.rejects(createVirtualChip({ chip: 'esp32s3', out, bin, mac: 'zz' }), (e: unknown) => e instanceof RangeError && /^mac must be 12 hex digits/.test(e.message));
      writeFileSync(siliconPath(out), '{}');
      await assert.rejects(createVirtualChip({ chip: 'esp32s3', out, bin, mac: '02:00:00:00:00:01' }), (e: unknown) =>
        e instanceof EspefuseError && e.code === 'CHIP_EXISTS' && e.message === `${siliconPath(out)} already exists (give --force to replace it)`);
      writeFileSync(out, '');
      await assert.rejects(createVirtualChip({ chip: 'esp32s3', out, bin, mac: '02:00:00:00:00:01' }), (e: unknown) =>
        e instanceof EspefuseError && e.code === 'CHIP_EXISTS' && e.message === `${out} already exists (give --force to replace it)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
