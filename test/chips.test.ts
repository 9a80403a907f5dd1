// The chip table (protocol/chips.ts) against every place that restates a chip fact: espefuse's own chip
// definitions, ESP-IDF's headers (the sdk-kit's real ones when present, the emulator's copies), the
// device's native C (efuse.c reads the facts from IDF at build time, so it is parsed and compared
// here), the emulator's boot list and builds, the firmware's manifests and the CLI's usage texts; and
// the one refusal point, requireChip, as the library, the emulator launcher and the CLI use it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { emulatorBinary, startEmulator } from '../host/emulator.js';
import { findEspefuse } from '../host/espefuse/locate.js';
import { createVirtualChip } from '../host/espefuse/virtual.js';
import { ManifestError, resolveManifest } from '../host/firmware/manifest.js';
import { platformOf } from '../host/firmware/link-map.js';
import { CHIP_TABLE, chipCode, chipsWith, PURPOSE_HMAC_UP, PURPOSES, requireChip, UnsupportedChipError } from '../protocol/index.js';
import { TARGETS } from '../scripts/firmware-check.js';
import { chipTableHeader } from '../scripts/gen-chips.js';
import { cli } from './support/cli.js';
import { ROOT } from './support/vectors.js';

const IDF_COPY = join(ROOT, 'emulator/idf/components');
const KIT_IDF = join(resolve(process.env.EFUSE_ATTEST_SDK_KIT || join(ROOT, '..', 'shared', 'sdk-kit')), 'esp-idf/components');
const BUILD = process.env.EFUSE_ATTEST_EMULATOR_DIR || join(ROOT, 'emulator/build');
const EMULATED = CHIP_TABLE.filter((c) => c.emulated).map((c) => c.name);
const read = (path: string): string => readFileSync(path, 'utf8');

/** value → name of a chip's esp_efuse_purpose_t (without _MAX), from an IDF header. */
function headerPurposes(file: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const [, name, v] of read(file).matchAll(/ESP_EFUSE_KEY_PURPOSE_(\w+)\s*=\s*(\d+)/g)) if (name !== 'MAX') m.set(Number(v), name!);
  return m;
}

/** The table's purposes of a chip as value → name. */
function tablePurposes(chip: string): Map<number, string> {
  return new Map(requireChip(chip).purposes.map((n, v) => [v, n] as const).filter(([, n]) => n !== ''));
}

/** The IDF facts of one chip from an IDF tree's headers (soc caps, purposes, models). */
function assertHeadersAgree(components: string, chip: string): void {
  const c = requireChip(chip);
  const caps = read(join(components, `soc/${chip}/include/soc/soc_caps.h`));
  assert.equal(/#define\s+SOC_HMAC_SUPPORTED\s+1\b/.test(caps), c.hmac, `${chip}: SOC_HMAC_SUPPORTED in ${components}`);
  assert.equal(/#define\s+SOC_EFUSE_KEY_PURPOSE_FIELD\s+1\b/.test(caps), c.keyBlocks > 0, `${chip}: SOC_EFUSE_KEY_PURPOSE_FIELD in ${components}`);
  const models = read(join(components, 'esp_hw_support/include/esp_chip_info.h'));
  const model = new RegExp(`CHIP_${chip.toUpperCase()}\\s*=\\s*(\\d+)`).exec(models);
  assert.equal(Number(model?.[1]), c.model, `${chip}: esp_chip_model_t in ${components}`);
  if (c.keyBlocks > 0) {
    assert.deepEqual(headerPurposes(join(components, `efuse/${chip}/include/esp_efuse_chip.h`)), tablePurposes(chip), `${chip}: esp_efuse_purpose_t in ${components}`);
  }
}

describe('chip table (protocol/chips.ts)', () => {
  describe('requireChip: the one refusal', () => {
    it('gives the entry of a chip that has what is needed', () => {
      assert.equal(requireChip('esp32s3', 'hmac', 'emulated', 'virtual').model, 9);
      assert.equal(chipCode('esp32c5'), 23);
      assert.deepEqual(chipsWith('emulated'), ['esp32', 'esp32s3', 'esp32c3', 'esp32c6', 'esp32h2']);
    });

    it('refuses an unknown chip, or one that lacks a need, with one error type and one message naming it and the list', () => {
      const cases: [unknown, Parameters<typeof requireChip>[1][], string][] = [
        ['esp99', [], 'chip "esp99" is not supported; use one of esp32, esp32s2, esp32s3, esp32c2, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4'],
        ['esp32c2', ['hmac'], 'chip "esp32c2" is not supported (no HMAC peripheral); use one of esp32s2, esp32s3, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4'],
        ['esp32c5', ['emulated'], 'chip "esp32c5" is not supported (not emulated); use one of esp32, esp32s3, esp32c3, esp32c6, esp32h2'],
        ['esp32', ['hmac', 'emulated'], 'chip "esp32" is not supported (no HMAC peripheral); use one of esp32s3, esp32c3, esp32c6, esp32h2'],
        ['esp32', ['virtual'], 'chip "esp32" is not supported (no virtual chips of it); use one of esp32s2, esp32s3, esp32c2, esp32c3, esp32c5, esp32c6, esp32h2, esp32p4'],
        [42, ['emulated'], 'chip "42" is not supported; use one of esp32, esp32s3, esp32c3, esp32c6, esp32h2'],
      ];
      for (const [name, needs, message] of cases) {
        assert.throws(() => requireChip(name, ...needs), (e: unknown) => {
          assert.ok(e instanceof UnsupportedChipError && e instanceof RangeError, String(e));
          assert.equal(e.message, message);
          assert.equal(e.chip, String(name));
          return true;
        });
      }
    });

    it('is what the library refuses with: emulator launcher, virtual chips, the espefuse driver', async () => {
      assert.throws(() => emulatorBinary('esp32c5'), UnsupportedChipError);
      await assert.rejects(startEmulator({ chip: 'esp32p4', efuse: '/nonexistent.bin' }), /chip "esp32p4" is not supported \(not emulated\)/);
      const dir = mkdtempSync(join(tmpdir(), 'efa-chips-'));
      try {
        await assert.rejects(createVirtualChip({ chip: 'esp32', out: join(dir, 'a.bin') }), (e: unknown) => e instanceof UnsupportedChipError && e.need === 'virtual');
        await assert.rejects(createVirtualChip({ chip: 'esp99', out: join(dir, 'b.bin') }), (e: unknown) => e instanceof UnsupportedChipError && e.need === 'known');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a virtual chip that cannot be emulated (esp32c5)', function () {
    this.timeout(60_000);
    let dir = '';
    before(() => { dir = mkdtempSync(join(tmpdir(), 'efa-c5-')); });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('chip create makes it; emulate and demo refuse it up front, naming the emulated chips (exit 2)', async () => {
      const image = join(dir, 'c5.bin');
      const made = await cli(['chip', 'create', '--chip', 'esp32c5', '--out', image]);
      assert.equal(made.code, 0, made.stderr);
      const emu = await cli(['emulate', '--chip', 'esp32c5', '--efuse', image]);
      assert.equal(emu.code, 2);
      assert.equal(emu.stderr.trim(), 'efuse-attest: chip "esp32c5" is not supported (not emulated); use one of esp32, esp32s3, esp32c3, esp32c6, esp32h2');
      const demo = await cli(['demo', '--chip', 'esp32c5', '--dir', join(dir, 'demo')]);
      assert.equal(demo.code, 2);
      assert.match(demo.stderr, /chip "esp32c5" is not supported \(not emulated\); use one of esp32s3, esp32c3, esp32c6, esp32h2$/m);
      assert.ok(!existsSync(join(dir, 'demo')), 'the demo touched nothing');
    });

    it('provisioning it with the challenge is refused before anything is written (exit 2); without the challenge it burns', async () => {
      const image = join(dir, 'c5-provision.bin');
      assert.equal((await cli(['chip', 'create', '--chip', 'esp32c5', '--out', image])).code, 0);
      const before = readFileSync(image);
      const vault = join(dir, 'c5.vault');
      const audit = join(dir, 'c5-audit.jsonl');
      const env = { EFUSE_ATTEST_PASSPHRASE: 'c5 test passphrase' };
      const args = ['provision', '--virt', image, '--chip', 'esp32c5', '--yes', '--json', '--vault', vault, '--audit', audit];
      const refused = await cli(args, { env });
      assert.equal(refused.code, 2, refused.stdout + refused.stderr);
      const err = (JSON.parse(refused.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'USAGE');
      assert.match(err.message, /does not run esp32c5 \(it runs esp32, esp32s3, esp32c3, esp32c6, esp32h2\); provision it without the challenge \(--no-challenge\)/);
      assert.deepEqual(readFileSync(image), before, 'nothing burned');
      assert.equal(existsSync(vault), false, 'nothing escrowed');
      const burned = await cli([...args, '--no-challenge'], { env });
      assert.equal(burned.code, 0, burned.stdout + burned.stderr);
      assert.equal((JSON.parse(burned.stdout) as { result: { devices: { outcome: string }[] } }).result.devices[0]!.outcome, 'burned-unverified');
    });

    it('the emulator advertises and accepts only the emulated chips', () => {
      const bin = emulatorBinary('esp32s3');
      const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
      assert.match(help.stdout, new RegExp(`--chip CHIP +chip model: ${EMULATED.join(', ')}\\n`));
      const c5 = spawnSync(bin, ['--chip', 'esp32c5', '--efuse', join(dir, 'c5.bin')], { encoding: 'utf8' });
      assert.equal(c5.status, 2);
      assert.match(c5.stderr, new RegExp(`unknown chip "esp32c5"; expected one of ${EMULATED.join(', ')}`));
    });
  });

  it('usage texts list the chips from the table', async () => {
    const emulate = await cli(['emulate', '--help']);
    assert.match(emulate.stdout, new RegExp(`--chip CHIP +${EMULATED.join(', ')} \\(`));
    const chip = await cli(['chip', '--help']);
    assert.match(chip.stdout, new RegExp(`--chip NAME +${chipsWith('virtual').join(', ')}\\n`));
    const demo = await cli(['demo', '--help']);
    assert.match(demo.stdout, new RegExp(`--chip NAME +an emulated chip with the HMAC peripheral: ${chipsWith('hmac', 'emulated').join(', ')}\\n`));
  });

  describe('the emulator', () => {
    it('is built for the emulated chips, with chip_table.h as the generator writes it', () => {
      assert.equal(read(join(BUILD, 'gen/chip_table.h')), chipTableHeader(), 'rebuild: make -C emulator');
      for (const c of CHIP_TABLE) {
        assert.equal(existsSync(join(BUILD, c.name, 'efuse-attest-emu')), c.emulated, `emulator/build/${c.name}`);
      }
    });

    it('boot.c has the ROM text of every emulated chip and of no other', () => {
      const boot = read(join(ROOT, 'emulator/src/boot.c'));
      const table = boot.slice(boot.indexOf('static const emu_chip chips[] = {'), boot.indexOf('};', boot.indexOf('static const emu_chip chips[] = {')));
      assert.deepEqual([...table.matchAll(/^\t\{ "(\w+)",$/gm)].map((m) => m[1]).sort(), [...EMULATED].sort());
    });
  });

  describe('the device\'s native C (device/native/efuse/efuse.c) reads what the table says', () => {
    const source = read(join(ROOT, 'device/native/efuse/efuse.c'));

    it('model numbers and names', () => {
      const block = /CHIP_NAMES\[\] = \{([^;]*)\};/.exec(source)?.[1] ?? '';
      const pairs = [...block.matchAll(/\{ (\d+), "(\w+)" \}/g)].map(([, m, n]) => [n!, Number(m)] as const);
      assert.deepEqual(new Map(pairs), new Map(CHIP_TABLE.map((c) => [c.name, c.model] as const)));
    });

    it('key slots, HMAC_UP and the purpose names of every firmware target', () => {
      assert.equal(Number(/#define KEY_SLOTS (\d+)/.exec(source)?.[1]), Math.max(...CHIP_TABLE.map((c) => c.keyBlocks)));
      assert.ok(CHIP_TABLE.every((c) => c.keyBlocks === 0 || c.keyBlocks === 6), 'BLOCK_KEY0..5 or none');
      assert.equal(Number(/#define PURPOSE_HMAC_UP (\d+)/.exec(source)?.[1]), PURPOSE_HMAC_UP);
      const names = [...(/PURPOSE_NAMES\[\] = \{([^;]*)\};/.exec(source)?.[1] ?? '').matchAll(/"(\w+)"/g)].map((m) => m[1]);
      assert.deepEqual(names, PURPOSES);
      // purpose_name's one per-target case, as the C has it.
      const h2 = /#if CONFIG_IDF_TARGET_(\w+)\n\tif \(purpose == (\d+) \|\| purpose == (\d+)\)\n\t\treturn purpose == \2 \? "(\w+)" : "(\w+)";\n#endif/.exec(source);
      assert.ok(h2, 'purpose_name has changed shape: update this test with it');
      const special = { chip: h2[1]!.toLowerCase(), names: new Map([[Number(h2[2]), h2[4]!], [Number(h2[3]), h2[5]!]]) };
      for (const c of CHIP_TABLE.filter((x) => x.emulated && x.hmac)) {
        c.purposes.forEach((name, v) => {
          if (name === '') return;
          const device = (c.name === special.chip ? special.names.get(v) : undefined) ?? PURPOSES[v];
          assert.equal(device, name, `${c.name}: purpose ${v}`);
        });
        assert.equal(c.purposes[PURPOSE_HMAC_UP], 'HMAC_UP', c.name);
      }
    });
  });

  describe('ESP-IDF\'s headers', () => {
    it('the emulator\'s copies agree for every chip it simulates', () => {
      for (const c of CHIP_TABLE) {
        if (existsSync(join(IDF_COPY, `soc/${c.name}`))) assertHeadersAgree(IDF_COPY, c.name);
      }
      for (const chip of EMULATED) assert.ok(existsSync(join(IDF_COPY, `soc/${chip}`)), `emulator/idf has ${chip}`);
    });

    it('the real ESP-IDF v6.0 headers of the sdk-kit agree', function () {
      if (!existsSync(KIT_IDF)) this.skip(); // no sdk-kit here
      let n = 0;
      for (const c of CHIP_TABLE) {
        if (!existsSync(join(KIT_IDF, `efuse/${c.name}/include/esp_efuse_chip.h`))) continue;
        assertHeadersAgree(KIT_IDF, c.name);
        n++;
      }
      assert.ok(n >= 3, `chips checked: ${n}`);
    });
  });

  it('espefuse\'s chip definitions agree: eFuse window, key blocks, purposes', function () {
    this.timeout(30_000);
    let python = '';
    try { python = join(dirname(realpathSync(findEspefuse())), 'python'); } catch { /* none */ }
    if (!existsSync(python)) this.skip(); // espefuse not from a virtualenv: its Python is unknown
    const script = [
      'import importlib, json, sys',
      'out = {}',
      'for chip in sys.argv[1:]:',
      '    mem = importlib.import_module("espefuse.efuse.%s.mem_definition" % chip)',
      '    fields = importlib.import_module("espefuse.efuse.%s.fields" % chip)',
      '    blocks = [mem.EfuseDefineBlocks.get(b) for b in mem.EfuseDefineBlocks.BLOCKS]',
      '    kp = getattr(getattr(fields, "EfuseKeyPurposeField", None), "KEY_PURPOSES", [])',
      '    out[chip] = {"memSize": mem.EfuseDefineRegisters.EFUSE_MEM_SIZE,',
      '                 "keyBlocks": len([b for b in blocks if b.key_purpose is not None]),',
      '                 "purposes": [[p[0], p[1]] for p in kp if isinstance(p[1], int) and p[1] >= 0 and not p[0].startswith("CUSTOM")]}',
      'print(json.dumps(out))',
    ].join('\n');
    const r = spawnSync(python, ['-c', script, ...CHIP_TABLE.map((c) => c.name)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const defs = JSON.parse(r.stdout) as Record<string, { memSize: number; keyBlocks: number; purposes: [string, number][] }>;
    for (const c of CHIP_TABLE) {
      const d = defs[c.name]!;
      assert.equal(c.imageSize, d.memSize, `${c.name}: EFUSE_MEM_SIZE`);
      assert.equal(c.keyBlocks, d.keyBlocks, `${c.name}: key blocks`);
      if (c.keyBlocks === 0) continue;
      const has = new Set(d.purposes.map(([n, v]) => `${v}:${n}`));
      tablePurposes(c.name).forEach((n, v) => assert.ok(has.has(`${v}:${n}`), `${c.name}: espefuse has no purpose ${n} = ${v}`));
      for (const [n, v] of d.purposes) assert.ok(tablePurposes(c.name).has(v), `${c.name}: the table has no purpose ${v} (espefuse ${n})`);
    }
  });

  it('the firmware\'s manifests build exactly the emulated chips', () => {
    const root = JSON.parse(read(join(ROOT, 'moddable.json'))) as { platforms: Record<string, unknown> };
    const chipTargets = Object.keys(root.platforms).filter((p) => /^esp32(\/esp32\w*)?$/.test(p) && !p.includes('_'));
    assert.deepEqual(chipTargets.sort(), EMULATED.map(platformOf).sort(), 'moddable.json: one platform entry per emulated chip');
    for (const chip of EMULATED) {
      assert.doesNotThrow(() => resolveManifest(join(ROOT, 'moddable.json'), platformOf(chip)), chip);
    }
    for (const t of TARGETS) assert.ok(EMULATED.map(platformOf).includes(t), `firmware:check target ${t} is an emulated chip`);
    for (const c of CHIP_TABLE.filter((x) => !x.emulated)) {
      assert.throws(() => resolveManifest(join(ROOT, 'moddable.json'), platformOf(c.name)), ManifestError, `${c.name} is not a firmware target`);
    }
  });
});
