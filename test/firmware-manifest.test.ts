// The firmware's manifests as the emulator reads them (host/firmware/manifest.ts, link-map.ts), which
// is how mcconfig reads them: platform matching, module names, per-target config, include folders.
// A naming mistake that xsl would not link fails here without any SDK.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { linkMap, platformOf } from '../host/firmware/link-map.js';
import { ManifestError, matchPlatform, moduleName, resolveManifest } from '../host/firmware/manifest.js';
import { chipsWith } from '../protocol/index.js';
import { ROOT } from './support/vectors.js';

const MANIFEST = join(ROOT, 'moddable.json');
const CHIPS = chipsWith('emulated'); // the firmware's targets

describe('firmware manifests (as mcconfig resolves them)', () => {
  it('platform entries match as mcconfig matches them: exact, then "head/*", then "..."', () => {
    const platforms = { 'esp32/esp32s3': 1, 'esp32/*': 2, esp32: 3, '...': 4 } as unknown as Record<string, unknown>;
    assert.equal(matchPlatform(platforms as never, 'esp32/esp32s3'), 1);
    assert.equal(matchPlatform(platforms as never, 'esp32/esp32s3_cdc'), 2, 'a board is not the chip');
    assert.equal(matchPlatform(platforms as never, 'esp32'), 3);
    assert.equal(matchPlatform(platforms as never, 'lin'), 4);
  });

  it('import specifiers become module names as xsl and the device loader make them', () => {
    assert.equal(moduleName('./device.js', 'device/src/main'), 'device/src/device');
    assert.equal(moduleName('../../protocol/index.js', 'device/src/main'), 'protocol/index');
    assert.equal(moduleName('efuse', 'device/src/native'), 'efuse');
    assert.equal(moduleName('moddable:embedded:io/serial', undefined), 'embedded:io/serial');
    assert.equal(moduleName('./x.mjs', 'a/b'), 'a/x');
    assert.equal(moduleName('../../../x.js', 'a/b'), undefined, 'above the top of the names');
  });

  for (const chip of CHIPS) {
    it(`${chip}: every import of every firmware module names a module of the manifests; the UART config is the target's`, () => {
      const m = resolveManifest(MANIFEST, platformOf(chip));
      const names = new Set([...m.modules.keys(), 'embedded:io/serial', 'mc/config']);
      let imports = 0;
      for (const [name, file] of m.modules) {
        assert.ok(!name.endsWith('.js'), `module "${name}": xsl strips .js from imports, so this name is never found`);
        const source = readFileSync(file, 'utf8');
        for (const [, spec] of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']/g)) {
          if (!spec) continue;
          const target = moduleName(spec, name);
          assert.ok(target && names.has(target), `${name} imports "${spec}", which names no module (${target})`);
          imports++;
        }
      }
      assert.ok(imports >= 20, `the imports were read (${imports})`);
      for (const p of m.preload) assert.ok(m.modules.has(p), `preload ${p}`);
      const root = JSON.parse(readFileSync(MANIFEST, 'utf8')) as { platforms: Record<string, { config?: unknown }> };
      assert.deepEqual(m.config, root.platforms[platformOf(chip)]!.config, 'the root platform entry reaches mc/config');
      assert.ok(m.includeDirs.some((d) => d.endsWith('components/efuse/include/')), 'the eFuse headers are on the C include path');
    });
  }

  it('a board without a platform entry, and a non-ESP32 target, are refused with the manifest\'s message', () => {
    assert.throws(() => resolveManifest(MANIFEST, 'esp32/nodemcu'), (e: unknown) => e instanceof ManifestError && /add a "platforms" entry/.test(e.message));
    assert.throws(() => resolveManifest(MANIFEST, 'lin'), (e: unknown) => e instanceof ManifestError && /ESP32-family targets only/.test(e.message));
    assert.match(linkMap(ROOT, 'esp32s2'), /^error\t.*add a "platforms" entry/m, 'the emulator says so too');
  });

  it('the identity API is the module "efuse-attest"; its documented use type-checks, and a wrong use does not', async function () {
    this.timeout(60_000);
    for (const chip of CHIPS) {
      const m = resolveManifest(MANIFEST, platformOf(chip));
      assert.ok(m.modules.get('efuse-attest')?.endsWith(join('dist', 'device', 'src', 'api.js')), `${chip}: "efuse-attest" is device/src/api`);
      assert.ok(m.preload.includes('efuse-attest'), `${chip}: preloaded`);
    }
    const tsc = (project: string) => promisify(execFile)(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]);
    await tsc(join(ROOT, 'device', 'examples'));
    const dir = mkdtempSync(join(ROOT, 'device', 'examples', '.check-')); // inside the project's rootDir, outside its outDir
    try {
      writeFileSync(join(dir, 'wrong.ts'), "import { token } from 'efuse-attest';\nexport const t: number = token('hub/devices/x', 1);\n");
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: join(ROOT, 'device', 'examples', 'tsconfig.json'), include: [join(dir, '*.ts')] }));
      await assert.rejects(tsc(dir), (e: { stdout?: string }) => /wrong\.ts.*TS2322/s.test(e.stdout ?? ''));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
