// The emulator's simulated ESP-IDF (emulator/idf) against the real espefuse: images are made by
// espefuse in virtual mode, read back with `espefuse summary --format json`, and what the simulated
// API answers (printed by emulator/idf/test/sim_check.c) must agree with that summary and with
// node:crypto's HMAC over the key file. Also: the chip layouts are what the generator makes from the
// installed espefuse, and device/native/efuse/efuse.c compiles warning-free against these headers.
// espefuse: found as the library finds it (host/espefuse/locate.ts): $ESPEFUSE, else .venv, else PATH.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { linkMap } from '../host/firmware/link-map.js';
import { findEspefuse } from '../host/espefuse/locate.js';
import { buildTranscript, CHIP_TABLE } from '../protocol/index.js';
import { type ContractCalls, runContract } from './support/contract.js';
import { ROOT } from './support/vectors.js';

const IDF = join(ROOT, 'emulator/idf');
/** The emulator build's generated headers: chip_table.h, from protocol/chips.ts. */
const GEN = join(process.env.EFUSE_ATTEST_EMULATOR_DIR || join(ROOT, 'emulator/build'), 'gen');
const CONTRACT = join(ROOT, 'test/fixtures/efuse/contract.js');
const XS = join(ROOT, 'node_modules/@agoric/xsnap/moddable/xs');

function run(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

type Summary = Record<string, { value: unknown; raw_value: string; readable: boolean }>;
interface KeyState { purpose: number; readProtected: boolean; writeProtected: boolean; purposeWriteProtected: boolean; unused: boolean }
interface Sim {
  ok: boolean; error?: string; target: string; model: number; revision: number; cores: number;
  mac: string; macErr: string; macNull: string; secureBoot: boolean; secureBootApp: boolean; flashEncryption: boolean;
  keys?: KeyState[]; findHmacUp?: number; notKeyBlockPurpose?: number;
  hmac?: { slot: number; err: string; mac: string }[]; hmacNullMessage?: string; hmacNullResult?: string;
  randomDiffers: boolean; weakRandom: string; entropyRandom: string; app: { version: string; project: string; sha256: string };
  errName: string; unknownErrName: string;
}

/** The include path of the simulated IDF's own sources for a chip, as the emulator's Makefile gives it. */
function idfIncludes(chip: string): string[] {
  const components = ['bootloader_support/include', 'esp_app_format/include', 'esp_common/include', 'esp_hw_support/include', 'esp_rom/include',
    `soc/${chip}/include`, 'efuse/include', `efuse/${chip}/include`, 'esp_security/include', 'esp_hal_security/include'];
  return [...components.map((c) => `-I${IDF}/components/${c}`), `-I${IDF}/config/${chip}`, `-I${IDF}/sim/include`, `-I${IDF}`, `-I${GEN}`];
}

/** Moddable's include path for a manifest's C that the simulated IDF has (make.esp32.mk INC_DIRS). */
function moddableIncludes(chip: string): string[] {
  return ['bootloader_support/include', 'esp_app_format/include', 'esp_common/include', 'esp_hw_support/include', 'esp_rom/include', `soc/${chip}/include`]
    .map((c) => `-I${IDF}/components/${c}`).concat(`-I${IDF}/config/${chip}`);
}

/** Factory-only fields a test sets by hand, where espefuse keeps them: block read offsets from
 *  espefuse/efuse/<chip>/mem_definition.py, bit positions from efuse_defs/<chip>.yaml. espefuse's own
 *  summary of the patched file is checked first, so a wrong offset here fails the test. */
const FACTORY: Record<string, { mac: [number, number]; crc?: [number, number]; major?: [number, number, number]; minorLo?: [number, number, number]; minorHi?: [number, number, number] }> = {
  esp32s3: { mac: [0x44, 0], major: [0x44, 5 * 32 + 24, 2], minorLo: [0x44, 3 * 32 + 18, 3], minorHi: [0x44, 5 * 32 + 23, 1] },
  esp32c3: { mac: [0x44, 0], major: [0x44, 5 * 32 + 24, 2], minorLo: [0x44, 3 * 32 + 18, 3], minorHi: [0x44, 5 * 32 + 23, 1] },
  esp32: { mac: [0x00, 32], crc: [0x00, 80] },
};

/** Sets `len` bits at (block offset, bit) of the register window inside the byte-reversed file. */
function setBits(img: Uint8Array, off: number, bit: number, len: number, value: number): void {
  for (let i = 0; i < len; i++) {
    const b = bit + i;
    const at = img.length - 1 - (off + (b >> 3));
    if ((value >> i) & 1) img[at] |= 1 << (b & 7);
    else img[at] &= ~(1 << (b & 7));
  }
}

/** ESP32 ROM CRC-8 of a MAC (espefuse esp32/fields.py calc_crc). */
function crc8(bytes: Uint8Array): number {
  let c = 0;
  for (const x of bytes) {
    c ^= x;
    for (let i = 0; i < 8; i++) c = c & 1 ? (c >> 1) ^ 0x8c : c >> 1;
  }
  return c;
}

describe('emulator: simulated ESP-IDF vs espefuse', function () {
  this.timeout(120_000);
  let espefuse = '';
  let dir = '';
  const bins = new Map<string, string>();
  let n = 0;

  before(function () {
    espefuse = findEspefuse();
    dir = mkdtempSync(join(tmpdir(), 'efa-idf-'));
  });

  /** sim_check built for one chip (compiled on first use), as an IDF app is built for one target. */
  function simBinary(chip: string): string {
    let out = bins.get(chip);
    if (!out) {
      out = join(dir, `sim_check_${chip}`);
      const srcs = readdirC(IDF).concat(join(IDF, 'test/sim_check.c'));
      const r = run('cc', ['-std=c11', '-O1', '-Wall', '-Wextra', '-Werror', ...idfIncludes(chip), ...srcs, '-o', out]);
      assert.equal(r.status, 0, `cc sim_check (${chip}):\n${r.stderr}`);
      bins.set(chip, out);
    }
    return out;
  }

  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  function readdirC(d: string): string[] {
    const r = run('sh', ['-c', `ls "${d}"/*.c`]);
    return r.stdout.split('\n').filter(Boolean);
  }

  function tmp(name: string): string { return join(dir, `${n++}-${name}`); }

  function efuse(chip: string, image: string, ...args: string[]): string {
    const r = run(espefuse, ['--chip', chip, '--virt', '--path-efuse-file', image, '--do-not-confirm', ...args]);
    assert.equal(r.status, 0, `espefuse ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  function summary(chip: string, image: string): Summary {
    const out = tmp('summary.json');
    efuse(chip, image, 'summary', '--format', 'json', '--file', out);
    return JSON.parse(readFileSync(out, 'utf8')) as Summary;
  }

  function blankImage(chip: string): string {
    const image = tmp(`${chip}.bin`);
    summary(chip, image); // espefuse creates a zeroed file of the chip's size
    return image;
  }

  function keyFile(key: Uint8Array): string {
    const f = tmp('key.bin');
    writeFileSync(f, key);
    return f;
  }

  function silicon(chip: string, keys: Record<string, Uint8Array | string>): string {
    const f = tmp('silicon.json');
    const hex: Record<string, string> = {};
    for (const [k, v] of Object.entries(keys)) hex[k] = typeof v === 'string' ? v : Buffer.from(v).toString('hex');
    writeFileSync(f, JSON.stringify({ chip, keys: hex }));
    return f;
  }

  function sim(chip: string, image: string, siliconFile: string | null, message = new Uint8Array(0), firmware?: string): Sim {
    const args = [chip, image, siliconFile ?? '-', Buffer.from(message).toString('hex')];
    if (firmware) args.push(firmware);
    // A chip the simulated IDF has no folder for goes to the ESP32-S3 build, which refuses it.
    const r = run(simBinary(existsSync(join(IDF, 'config', chip)) ? chip : 'esp32s3'), args);
    assert.ok(r.status === 0 || r.status === 2, `sim_check exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Sim;
  }

  const hmacOf = (key: Uint8Array, msg: Uint8Array) => createHmac('sha256', key).update(msg).digest('hex');

  /** Every key block's purpose and protection bits as espefuse reports them. */
  function assertKeysMatch(s: Sim, sum: Summary): void {
    const rdDis = Number(sum.RD_DIS.raw_value);
    const wrDis = Number(sum.WR_DIS.raw_value);
    const keys: KeyState[] = s.keys ?? [];
    assert.equal(keys.length, 6, 'six key blocks');
    for (let slot = 0; slot < 6; slot++) {
      const k = keys[slot];
      assert.equal(k.purpose, Number(sum[`KEY_PURPOSE_${slot}`].raw_value), `purpose of BLOCK_KEY${slot}`);
      assert.equal(k.readProtected, ((rdDis >> slot) & 1) === 1, `read protection of BLOCK_KEY${slot}`);
      assert.equal(k.readProtected, !sum[`BLOCK_KEY${slot}`].readable, `espefuse readable flag of BLOCK_KEY${slot}`);
      assert.equal(k.writeProtected, ((wrDis >> (23 + slot)) & 1) === 1, `write protection of BLOCK_KEY${slot}`);
      assert.equal(k.purposeWriteProtected, ((wrDis >> (8 + slot)) & 1) === 1, `KEY_PURPOSE_${slot} write protection`);
    }
  }

  it('sim_chips.c is what tools/gen_chips.py makes from the installed espefuse for the chip table\'s chips', function () {
    const python = join(dirname(realpathSync(espefuse)), 'python');
    if (!existsSync(python)) this.skip(); // espefuse not from a virtualenv: its Python is unknown
    const r = run(python, [join(IDF, 'tools/gen_chips.py'), ...CHIP_TABLE.map((c) => c.name)]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(join(IDF, 'sim_chips.c'), 'utf8'), 'regenerate emulator/idf/sim_chips.c');
  });

  for (const chip of ['esp32s3', 'esp32c3']) {
    it(`${chip}: HMAC_UP key read-protected in BLOCK_KEY0, HMAC_DOWN_ALL in BLOCK_KEY1`, () => {
      const image = blankImage(chip);
      const key0 = new Uint8Array(randomBytes(32));
      const key1 = new Uint8Array(randomBytes(32));
      efuse(chip, image, 'burn-key', 'BLOCK_KEY0', keyFile(key0), 'HMAC_UP', 'BLOCK_KEY1', keyFile(key1), 'HMAC_DOWN_ALL');
      const sum = summary(chip, image);
      // espefuse exits 0 even when it did not burn: the summary is the proof.
      assert.equal(sum.KEY_PURPOSE_0.value, 'HMAC_UP');
      assert.equal(sum.KEY_PURPOSE_1.value, 'HMAC_DOWN_ALL');
      assert.match(sum.BLOCK_KEY0.raw_value, /^0x0{64}$/, 'a read-protected key block is zero in the image');

      const msg = new Uint8Array(randomBytes(100));
      const s = sim(chip, image, silicon(chip, { BLOCK_KEY0: key0 }), msg);
      assert.equal(s.ok, true, s.error);
      assert.equal(s.target, chip);
      assertKeysMatch(s, sum);
      assert.deepEqual(s.keys![0], { purpose: 8, readProtected: true, writeProtected: true, purposeWriteProtected: true, unused: false });
      assert.equal(s.keys![2].unused, true);
      assert.equal(s.findHmacUp, 4);
      assert.equal(s.notKeyBlockPurpose, 16, 'a block that is no key block has purpose ESP_EFUSE_KEY_PURPOSE_MAX');
      assert.deepEqual(s.hmac![0], { slot: 0, err: 'ESP_OK', mac: hmacOf(key0, msg) });
      assert.equal(s.hmac![1].err, 'ESP_FAIL', 'HMAC_DOWN_ALL is refused in upstream mode');
      assert.equal(s.hmac![2].err, 'ESP_FAIL', 'an unused block (purpose USER) is refused');
      assert.equal(s.hmac![6].err, 'ESP_ERR_INVALID_ARG', 'key id past HMAC_KEY5');
      assert.equal(s.hmacNullMessage, 'ESP_ERR_INVALID_ARG');
      assert.equal(s.hmacNullResult, 'ESP_ERR_INVALID_ARG');
      assert.equal(s.secureBoot, false);
      assert.equal(s.flashEncryption, false);
      assert.equal(s.model, chip === 'esp32s3' ? 9 : 5);
    });
  }

  it('a readable key is used as the image holds it: key file bytes, no reversal', () => {
    const image = blankImage('esp32s3');
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    efuse('esp32s3', image, 'burn-key', 'BLOCK_KEY3', keyFile(key), 'HMAC_UP', '--no-read-protect');
    const sum = summary('esp32s3', image);
    assert.equal(sum.BLOCK_KEY3.raw_value, '0x' + Buffer.from(key).toString('hex'));
    const msg = new TextEncoder().encode('abc');
    const s = sim('esp32s3', image, null, msg);
    assert.equal(s.ok, true, s.error);
    assertKeysMatch(s, sum);
    assert.equal(s.keys![3].readProtected, false);
    assert.equal(s.hmac![3].mac, hmacOf(key, msg));
    // The side file may repeat the key; if it differs, the chip is refused, naming the block.
    assert.equal(sim('esp32s3', image, silicon('esp32s3', { BLOCK_KEY3: key }), msg).ok, true);
    const wrong = sim('esp32s3', image, silicon('esp32s3', { BLOCK_KEY3: new Uint8Array(randomBytes(32)) }));
    assert.equal(wrong.ok, false);
    assert.match(wrong.error!, /BLOCK_KEY3 .*different key/);
  });

  it('HMAC over messages of every padding shape matches node:crypto', () => {
    const image = blankImage('esp32c3');
    const key = new Uint8Array(randomBytes(32));
    efuse('esp32c3', image, 'burn-key', 'BLOCK_KEY5', keyFile(key), 'HMAC_UP');
    const sil = silicon('esp32c3', { BLOCK_KEY5: key });
    for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1024, 5000]) {
      const msg = new Uint8Array(randomBytes(len));
      assert.equal(sim('esp32c3', image, sil, msg).hmac![5].mac, hmacOf(key, msg), `message of ${len} bytes`);
    }
  });

  for (const chip of ['esp32s2', 'esp32c6', 'esp32h2']) {
    it(`${chip}: key purposes, protection and HMAC from the image`, () => {
      const image = blankImage(chip);
      const key = new Uint8Array(randomBytes(32));
      efuse(chip, image, 'burn-key', 'BLOCK_KEY2', keyFile(key), 'HMAC_UP');
      const sum = summary(chip, image);
      const msg = new Uint8Array(randomBytes(40));
      const s = sim(chip, image, silicon(chip, { BLOCK_KEY2: key }), msg);
      assert.equal(s.ok, true, s.error);
      assertKeysMatch(s, sum);
      assert.equal(s.keys![2].purpose, 8);
      assert.equal(s.hmac![2].mac, hmacOf(key, msg));
      assert.equal(s.hmac![0].err, 'ESP_FAIL');
    });
  }

  it('refuses a read-protected HMAC_UP block without its key, naming the block', () => {
    const image = blankImage('esp32s3');
    efuse('esp32s3', image, 'burn-key', 'BLOCK_KEY4', keyFile(new Uint8Array(randomBytes(32))), 'HMAC_UP');
    const s = sim('esp32s3', image, null);
    assert.equal(s.ok, false);
    assert.match(s.error!, /BLOCK_KEY4 is read-protected with purpose HMAC_UP/);
    // A read-protected block of another purpose needs no key: HMAC refuses it anyway.
    const other = blankImage('esp32s3');
    efuse('esp32s3', other, 'burn-key', 'BLOCK_KEY4', keyFile(new Uint8Array(randomBytes(32))), 'HMAC_DOWN_JTAG');
    const t = sim('esp32s3', other, null);
    assert.equal(t.ok, true, t.error);
    assert.equal(t.hmac![4].err, 'ESP_FAIL');
  });

  it('refuses bad inputs with a reason: chip, image size, silicon file', () => {
    const image = blankImage('esp32s3');
    const cases: [string, string, string | null, RegExp][] = [
      ['esp99', image, null, /unknown chip "esp99"/],
      ['esp32c3', join(dir, 'missing.bin'), null, /missing\.bin/],
      ['esp32s3', silicon('esp32s3', {}), null, /is \d+ bytes; espefuse makes 512-byte files/],
      ['esp32c3', image, silicon('esp32s3', {}), /is for esp32s3, not esp32c3/],
      ['esp32s3', image, silicon('esp32s3', { BLOCK_KEY7: new Uint8Array(32) }), /BLOCK_KEY0\.\.BLOCK_KEY5/],
      ['esp32s3', image, silicon('esp32s3', { BLOCK_KEY0: 'abcd' }), /keys\.BLOCK_KEY0 must be 64 hex/],
      ['esp32s3', image, silicon('esp32s3', { BLOCK_KEY0: 'zz'.repeat(32) }), /keys\.BLOCK_KEY0 must be 64 hex/],
    ];
    const broken = tmp('broken.json');
    writeFileSync(broken, '{"chip": "esp32s3", "keys": {');
    cases.push(['esp32s3', image, broken, /silicon file .*broken\.json/]);
    for (const [chip, img, sil, re] of cases) {
      const s = sim(chip, img, sil);
      assert.equal(s.ok, false, `${chip} ${img} ${sil} must be refused`);
      assert.match(s.error!, re);
    }
    // Each build is for one chip, as CONFIG_IDF_TARGET fixes it at compile time.
    let r = run(simBinary('esp32s3'), ['esp32', blankImage('esp32'), '-']);
    assert.equal(r.status, 2);
    assert.match(r.stdout, /esp32: this simulated IDF is built for esp32s3/);
    r = run(simBinary('esp32'), ['esp32s3', image, '-']);
    assert.equal(r.status, 2);
    assert.match(r.stdout, /esp32s3: this simulated IDF is built for esp32/);
  });

  it('secure boot and flash encryption follow SECURE_BOOT_EN and the parity of SPI_BOOT_CRYPT_CNT', () => {
    const image = blankImage('esp32s3');
    efuse('esp32s3', image, 'burn-efuse', 'SECURE_BOOT_EN', '1', 'SPI_BOOT_CRYPT_CNT', '1');
    let sum = summary('esp32s3', image);
    assert.equal(sum.SECURE_BOOT_EN.value, true);
    assert.equal(sum.SPI_BOOT_CRYPT_CNT.value, 'Enable');
    let s = sim('esp32s3', image, null);
    assert.equal(s.secureBoot, true);
    assert.equal(s.flashEncryption, true);
    efuse('esp32s3', image, 'burn-efuse', 'SPI_BOOT_CRYPT_CNT', '3');
    sum = summary('esp32s3', image);
    assert.equal(sum.SPI_BOOT_CRYPT_CNT.value, 'Disable');
    s = sim('esp32s3', image, null);
    assert.equal(s.flashEncryption, false, 'an even count of bits is disabled');
  });

  for (const chip of ['esp32s3', 'esp32c3']) {
    it(`${chip}: factory MAC and wafer revision read as espefuse reads them`, () => {
      const image = blankImage(chip);
      const img = new Uint8Array(readFileSync(image));
      const f = FACTORY[chip];
      const mac = [0x7c, 0xdf, 0xa1, 0x12, 0x34, 0x56];
      for (let i = 0; i < 6; i++) setBits(img, f.mac[0], f.mac[1] + 8 * (5 - i), 8, mac[i]);
      setBits(img, ...f.major!, 1);
      setBits(img, ...f.minorLo!, 2);
      setBits(img, ...f.minorHi!, 1);
      writeFileSync(image, img);
      const sum = summary(chip, image);
      const macText = mac.map((b) => b.toString(16).padStart(2, '0')).join(':');
      assert.equal(String(sum.MAC.value).split(' ')[0], macText, 'espefuse reads the patched MAC');
      assert.equal(sum.WAFER_VERSION_MAJOR.value, 1);
      assert.equal(sum.WAFER_VERSION_MINOR.value, 10);
      const s = sim(chip, image, null);
      assert.equal(s.mac, macText);
      assert.equal(s.macErr, 'ESP_OK');
      assert.equal(s.macNull, 'ESP_ERR_INVALID_ARG');
      assert.equal(s.revision, 110);
    });
  }

  it('original ESP32 (no HMAC, no key purposes): MAC with its CRC, ABS_DONE_1, FLASH_CRYPT_CNT', () => {
    const image = blankImage('esp32');
    assert.equal(readFileSync(image).length, 0x120, 'espefuse makes a 288-byte file for the ESP32');
    const img = new Uint8Array(readFileSync(image));
    const mac = Uint8Array.of(0x24, 0x0a, 0xc4, 0x01, 0x02, 0x03);
    for (let i = 0; i < 6; i++) setBits(img, FACTORY.esp32.mac[0], FACTORY.esp32.mac[1] + 8 * (5 - i), 8, mac[i]);
    setBits(img, FACTORY.esp32.crc![0], FACTORY.esp32.crc![1], 8, crc8(mac));
    writeFileSync(image, img);
    const macText = Buffer.from(mac).toString('hex').match(/../g)!.join(':');
    assert.match(String(summary('esp32', image).MAC.value), new RegExp(`^${macText} \\(CRC 0x[0-9a-f]{2} OK\\)`));
    let s = sim('esp32', image, null);
    assert.equal(s.ok, true, s.error);
    assert.equal(s.mac, macText);
    assert.equal(s.macErr, 'ESP_OK');
    assert.equal(s.keys, undefined, 'the no-HMAC build has no key purposes');
    assert.equal(s.hmac, undefined);
    assert.equal(s.model, 1);
    assert.equal(s.cores, 2);
    assert.equal(s.secureBoot, false);
    efuse('esp32', image, 'burn-efuse', 'ABS_DONE_1', '1', 'FLASH_CRYPT_CNT', '1');
    s = sim('esp32', image, null);
    assert.equal(s.secureBoot, true, 'ABS_DONE_1 read from the eFuse');
    assert.equal(s.secureBootApp, false, 'esp_secure_boot_enabled() reports the app\'s sdkconfig on the ESP32, as in IDF');
    assert.equal(s.flashEncryption, true);
    // A wrong CRC is ESP_ERR_INVALID_CRC, as IDF reports it; espefuse flags it too.
    const bad = new Uint8Array(readFileSync(image));
    setBits(bad, FACTORY.esp32.crc![0], FACTORY.esp32.crc![1], 8, crc8(mac) ^ 0xff);
    writeFileSync(image, bad);
    assert.match(String(summary('esp32', image).MAC.value), /invalid/);
    assert.equal(sim('esp32', image, null).macErr, 'ESP_ERR_INVALID_CRC');
    // Keys in a side file for a chip without key purposes are refused.
    const k = sim('esp32', image, silicon('esp32', { BLOCK_KEY0: new Uint8Array(32) }));
    assert.match(k.error!, /no eFuse key purposes/);
  });

  it('random bytes, error names and the app description', () => {
    const image = blankImage('esp32c3');
    const fw = tmp('main.js');
    writeFileSync(fw, 'export default 1;\n');
    const s = sim('esp32c3', image, null, new Uint8Array(0), fw);
    assert.equal(s.randomDiffers, true);
    // As on a chip without RF: no entropy source, a fixed sequence from power-on; with the ADC source, random.
    const again = sim('esp32c3', image, null, new Uint8Array(0), fw);
    assert.equal(again.weakRandom, s.weakRandom, 'without an entropy source the RNG repeats from power-on');
    assert.notEqual(again.entropyRandom, s.entropyRandom, 'with bootloader_random_enable it does not');
    assert.equal(s.errName, 'UNKNOWN ERROR', 'no name table in Moddable\'s configuration: the native module names codes itself');
    assert.equal(s.unknownErrName, 'UNKNOWN ERROR');
    assert.deepEqual(s.app, { version: '0.1.0', project: 'efuse-attest', sha256: createHash('sha256').update(readFileSync(fw)).digest('hex') });
    const d = sim('esp32c3', image, null);
    assert.equal(d.app.sha256, createHash('sha256').update('efuse-attest emulator firmware').digest('hex'));
  });

  /** Runs test/fixtures/efuse/contract.js on the emulator (real XS engine, efuse.c, this simulated
   *  IDF) and returns what each call of the native module returned or threw, by name. */
  const contract = (chip: string, image: string, silicon?: string): Promise<ContractCalls> =>
    runContract({ chip, image, main: CONTRACT, tag: 'efuse-contract', ...(silicon ? { silicon } : {}) });

  const bytesOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 1) & 0xff);
  it('efuse module on the XS engine (esp32s3): results, argument errors and esp_err_t messages', async () => {
    const image = blankImage('esp32s3');
    const key0 = new Uint8Array(randomBytes(32));
    // BLOCK_KEY0 attests, BLOCK_KEY1 is the token key (the firmware's default roles), BLOCK_KEY2 is not an HMAC_UP key.
    const key1 = new Uint8Array(randomBytes(32));
    efuse('esp32s3', image, 'burn-key', 'BLOCK_KEY0', keyFile(key0), 'HMAC_UP', 'BLOCK_KEY1', keyFile(key1), 'HMAC_UP',
      'BLOCK_KEY2', keyFile(new Uint8Array(randomBytes(32))), 'HMAC_DOWN_ALL');
    // A key burned without read protection (but write-protected): the module must report read
    // protection from the read-disable bit, not the write-disable one.
    const key3 = new Uint8Array(randomBytes(32));
    efuse('esp32s3', image, 'burn-key', 'BLOCK_KEY3', keyFile(key3), 'HMAC_UP', '--no-read-protect');
    efuse('esp32s3', image, 'burn-efuse', 'SECURE_BOOT_EN', '1');
    const calls = await contract('esp32s3', image, silicon('esp32s3', { BLOCK_KEY0: key0, BLOCK_KEY1: key1 }));
    const sum = summary('esp32s3', image);

    assert.deepEqual(calls.value('chip'), { model: 'esp32s3', revision: 0, hmac: true, secureBoot: true, flashEncryption: false });
    assert.deepEqual(calls.value('mac'), { buffer: '000000000000' });
    assert.deepEqual(calls.value('firmware'), {
      id: createHash('sha256').update(readFileSync(CONTRACT)).digest('hex'), version: '0.1.0', project: 'efuse-attest',
    });
    assert.equal(calls.value('random(1)'), 1);
    assert.equal(calls.value('random(256)'), 256);
    for (const a of ['0', '257', '1.5', 'NaN']) calls.thrown(`random(${a})`, 'RangeError', /count: must be an integer 1\.\.256/);
    for (const a of ["'3'", 'undefined']) calls.thrown(`random(${a})`, 'TypeError', /count: expected an integer/);
    for (let slot = 0; slot < 6; slot++) {
      const k = calls.value(`keyBlock(${slot})`) as { purpose: number; readProtected: boolean };
      assert.equal(k.purpose, Number(sum[`KEY_PURPOSE_${slot}`].raw_value));
      assert.equal(k.readProtected, ((Number(sum.RD_DIS.raw_value) >> slot) & 1) === 1);
    }
    assert.deepEqual(calls.value('keyBlock(0)'), { purpose: 8, readProtected: true, writeProtected: true, unused: false });
    assert.deepEqual(calls.value('keyBlock(4)'), { purpose: 0, readProtected: false, writeProtected: false, unused: true });
    calls.thrown('keyBlock(6)', 'RangeError', /slot: must be an integer 0\.\.5/);
    calls.thrown('keyBlock(-1)', 'RangeError', /slot/);
    calls.thrown("keyBlock('0')", 'TypeError', /slot: expected an integer/);

    // The key MACs only what the C builds: the attestation transcript from the state it reads itself.
    assert.equal(calls.value('hmac is not exported'), 'undefined');
    const fw = createHash('sha256').update(readFileSync(CONTRACT)).digest('hex');
    const attested = (name: string, nonce: Uint8Array): void => {
      const a = calls.value(name) as Record<string, string | number | boolean>;
      const fields = {
        chip: a.chip as number, revision: a.revision as number, deviceId: Buffer.from(a.deviceId as string, 'hex'),
        hmac: a.hmac as boolean, secureBoot: a.secureBoot as boolean, flashEncryption: a.flashEncryption as boolean,
        firmwareId: Buffer.from(a.firmwareId as string, 'hex'), firmwareVersion: a.firmwareVersion as string,
        slot: a.slot as number, purpose: a.purpose as number, readProtected: a.readProtected as boolean,
        writeProtected: a.writeProtected as boolean, deviceNonce: Buffer.from(a.deviceNonce as string, 'hex'),
      };
      assert.deepEqual({ ...fields, deviceId: a.deviceId, firmwareId: a.firmwareId, deviceNonce: undefined }, {
        ...fields, chip: 9, revision: 0, deviceId: '000000000000', hmac: true, secureBoot: true, flashEncryption: false,
        firmwareId: fw, firmwareVersion: '0.1.0', slot: 0, purpose: 8, readProtected: true, writeProtected: true, deviceNonce: undefined,
      }, `${name}: the chip's state as espefuse burned it`);
      assert.equal(fields.deviceNonce.length, 16);
      assert.equal(a.mac, hmacOf(key0, buildTranscript(fields, nonce)), `${name}: MAC over the protocol's transcript`);
    };
    attested('attest(0, Uint8Array)', bytesOf(32));
    attested('attest(0, ArrayBuffer)', bytesOf(32));
    attested('attest(0, DataView at offset 10 of 40)', bytesOf(64).subarray(10, 50));
    attested('attest(0, 16 bytes)', bytesOf(16));
    attested('attest(0, 64 bytes)', bytesOf(64));
    // Fresh device nonces, random over their whole length: no byte position stays the same across seven.
    const nonces = [0, 1, 2, 3, 4, 5].map((i) => (calls.value(`attest(0, nonce ${i})`) as { deviceNonce: string }).deviceNonce)
      .concat((calls.value('attest(0, 16 bytes)') as { deviceNonce: string }).deviceNonce);
    for (let at = 0; at < 32; at += 2) {
      assert.ok(new Set(nonces.map((x) => x.slice(at, at + 2))).size > 1, `device nonce byte ${at / 2} never changes: ${nonces.join(' ')}`);
    }
    calls.thrown('attest(0, 15 bytes)', 'RangeError', /hostNonce: 16\.\.64 bytes, got 15/);
    calls.thrown('attest(0, 65 bytes)', 'RangeError', /hostNonce: 16\.\.64 bytes, got 65/);
    calls.thrown('attest(0, string)', 'TypeError', /hostNonce: expected an ArrayBuffer or an ArrayBuffer view/);
    calls.thrown('attest(0)', 'TypeError', /hostNonce/);
    calls.thrown('attest(6, n)', 'RangeError', /slot: must be an integer 0\.\.5/);
    calls.thrown("attest('0', n)", 'TypeError', /slot: expected an integer/);
    // esp_err_t errors start with the name (device/src/device.ts maps them to protocol statuses).
    calls.thrown('attest(2, n)', 'Error', /^ESP_FAIL: key block BLOCK_KEY2 purpose is HMAC_DOWN_ALL \(5\), not HMAC_UP \(8\)$/);
    calls.thrown('attest(4, n)', 'Error', /^ESP_FAIL: key block BLOCK_KEY4 purpose is USER \(0\), not HMAC_UP \(8\)$/);
    // Key roles, enforced in C (defines efuse.attest_slots / token_slots): BLOCK_KEY1 signs tokens only.
    calls.thrown('attest(1, n)', 'Error', /^KEY_ROLE: BLOCK_KEY1 is not an attestation key \(attestation blocks 0x3d, token blocks 0x02\)$/);
    calls.thrown('token(0, r)', 'Error', /^KEY_ROLE: BLOCK_KEY0 is not a token key/);
    const a3 = calls.value('attest(3, n)') as Record<string, string | number | boolean>;
    assert.deepEqual([a3.slot, a3.purpose, a3.readProtected, a3.writeProtected], [3, 8, false, true], 'read protection from RD_DIS, write protection from WR_DIS');
    const f3 = {
      chip: 9, revision: 0, deviceId: Buffer.from(a3.deviceId as string, 'hex'), hmac: true, secureBoot: true, flashEncryption: false,
      firmwareId: Buffer.from(fw, 'hex'), firmwareVersion: '0.1.0', slot: 3, purpose: 8, readProtected: false, writeProtected: true,
      deviceNonce: Buffer.from(a3.deviceNonce as string, 'hex'),
    };
    assert.equal(a3.mac, hmacOf(key3, buildTranscript(f3, bytesOf(32))), 'the transcript carries the key flags as read');
    if (calls.has('attest(0, view of SharedArrayBuffer)')) calls.thrown('attest(0, view of SharedArrayBuffer)', 'TypeError', /SharedArrayBuffer/);
    // Tokens: the C builds the string-to-sign: percent-encoding of all but A-Z a-z 0-9 - . _ ~, "\n", expiry.
    // (the Azure IoT SDK's encodeUriComponentStrict: "%2a" for "*", lower case)
    const strict = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
    const signed = (resource: string, expiry: number) => ({ buffer: hmacOf(key1, Buffer.from(`${strict(resource)}\n${expiry}`)) });
    assert.deepEqual(calls.value('token(1, hub/devices/Dev 1(x))'), signed("myhub.azure-devices.net/devices/Dev 1(x)!*'~", 1700000000));
    assert.deepEqual(calls.value('token(1, 256 bytes)'), signed('r'.repeat(254) + '\u00e9', 4294967295));
    calls.thrown('token(1, 257 bytes)', 'RangeError', /./);
    calls.thrown('token(1, empty)', 'RangeError', /resource: 1\.\.256 bytes/);
    calls.thrown('token(1, control)', 'RangeError', /resource: no control characters/);
    calls.thrown('token(1, number)', 'TypeError', /resource: expected a string/);
    calls.thrown('token(1, expiry 0)', 'RangeError', /expiry: must be an integer 1\.\.4294967295/);
    calls.thrown('token(1, expiry 1.5)', 'RangeError', /expiry/);
    calls.thrown("token(1, expiry '1')", 'TypeError', /expiry: expected an integer/);
    calls.thrown('token(2, r)', 'Error', /^ESP_FAIL: key block BLOCK_KEY2 purpose is HMAC_DOWN_ALL/);
  });

  it('efuse module on the XS engine (original ESP32): no HMAC peripheral, no key purposes, arguments still checked', async () => {
    const image = blankImage('esp32');
    let calls = await contract('esp32', image);
    assert.deepEqual(calls.value('chip'), { model: 'esp32', revision: 0, hmac: false, secureBoot: false, flashEncryption: false });
    assert.deepEqual(calls.value('mac'), { buffer: '000000000000' });
    // Secure boot as the chip's eFuses have it (ABS_DONE_1), not as esp_secure_boot_enabled()
    // reports the app's sdkconfig on the ESP32; a MAC with a bad CRC is named by the module itself
    // (esp_err_to_name has no table in Moddable's configuration).
    efuse('esp32', image, 'burn-efuse', 'ABS_DONE_1', '1');
    const bad = new Uint8Array(readFileSync(image));
    setBits(bad, FACTORY.esp32.crc![0], FACTORY.esp32.crc![1], 8, 0x5a);
    writeFileSync(image, bad);
    calls = await contract('esp32', image);
    assert.equal((calls.value('chip') as { secureBoot: boolean }).secureBoot, true);
    calls.thrown('mac', 'Error', /^ESP_ERR_INVALID_CRC: esp_efuse_mac_get_default$/);
    calls.thrown('attest(0, Uint8Array)', 'Error', /^no HMAC peripheral on esp32$/);
    calls.thrown('token(2, r)', 'Error', /^no HMAC peripheral on esp32$/);
    calls.thrown('attest(6, n)', 'RangeError', /slot/);
    calls.thrown('attest(0, string)', 'TypeError', /hostNonce/);
    calls.thrown('keyBlock(0)', 'Error', /^ESP_ERR_NOT_SUPPORTED: esp32 has no eFuse key purposes$/);
    calls.thrown('keyBlock(6)', 'RangeError', /slot/);
    assert.equal(calls.value('random(256)'), 256);
  });

  it('efuse module on the XS engine (esp32h2): key purposes 1 and 2 are named ECDSA_KEY and RESERVED there', async () => {
    const image = blankImage('esp32h2');
    efuse('esp32h2', image, 'burn-efuse', 'KEY_PURPOSE_0', '1', 'KEY_PURPOSE_1', '2');
    const calls = await contract('esp32h2', image);
    calls.thrown('attest(0, Uint8Array)', 'Error', /^ESP_FAIL: key block BLOCK_KEY0 purpose is ECDSA_KEY \(1\), not HMAC_UP \(8\)$/);
    calls.thrown('token(1, hub/devices/Dev 1(x))', 'Error', /^ESP_FAIL: key block BLOCK_KEY1 purpose is RESERVED \(2\), not HMAC_UP \(8\)$/);
  });

  for (const chip of ['esp32s3', 'esp32c3', 'esp32']) {
    it(`${chip}: efuse.c compiles warning-free with Moddable's include path plus what the manifests add, and not without the latter`, () => {
      const map = linkMap(ROOT, chip);
      const added = map.split('\n').filter((l) => l.startsWith('cinclude\t')).map((l) => `-I${l.slice(9)}`);
      // mc.defines.h, as mcconfig writes it into the build folder from the manifests' "defines"
      const defines = tmp('defines');
      mkdirSync(defines);
      writeFileSync(join(defines, 'mc.defines.h'), map.split('\n').filter((l) => l.startsWith('define\t'))
        .map((l) => `#define ${l.split('\t')[1]} ${l.split('\t')[2]}\n`).join(''));
      assert.match(readFileSync(join(defines, 'mc.defines.h'), 'utf8'), /#define MODDEF_EFUSE_ADC_ENTROPY \(1\)/);
      assert.ok(added.some((d) => d.endsWith('components/efuse/include')), `the manifests add efuse/include for ${chip}:\n${map}`);
      // A full compile (-c), not -fsyntax-only: unused-function and similar warnings come later.
      const cc = (includes: string[]) => run('cc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-c', '-o', tmp('efuse.o'),
        `-I${defines}`, ...includes, `-I${XS}/includes`, `-I${XS}/platforms`, join(ROOT, 'device/native/efuse/efuse.c')]);
      const r = cc([...moddableIncludes(chip), ...added]);
      assert.equal(r.status, 0, r.stderr);
      const bare = cc(moddableIncludes(chip));
      assert.notEqual(bare.status, 0, 'Moddable\'s own include path lacks the eFuse headers');
      assert.match(bare.stderr, /esp_efuse\.h: No such file/);
    });
  }
});
