// The firmware through the real Moddable SDK build (npm run firmware:check, scripts/firmware-check.ts),
// run as a child process whenever a Moddable SDK ($MODDABLE + $IDF_PATH) or the sdk-kit beside the
// project is here; otherwise skipped with one line. One full run serves the per-target assertions; the
// failure cases each run one target on a temporary copy of the project or of the ESP-IDF tree.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckReport } from '../scripts/firmware-check.js';
import { KIT_DIR, TARGETS, sdkForCheck } from '../scripts/firmware-check.js';
import type { Sdk } from '../scripts/firmware/sdk.js';
import { ROOT } from './support/vectors.js';

const SCRIPT = join(ROOT, 'dist', 'scripts', 'firmware-check.js');
/** moddable.json's attestation UART per target: the chip's own UART0 pins. */
const UART: Record<string, { transmit: number; receive: number }> = {
  'esp32/esp32s3': { transmit: 43, receive: 44 },
  'esp32/esp32s3_cdc': { transmit: 43, receive: 44 },
  'esp32/esp32c3': { transmit: 21, receive: 20 },
  esp32: { transmit: 1, receive: 3 },
};

interface Run { code: number; report: CheckReport; stderr: string }

function check(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, '--json', ...args], { env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      try {
        resolve({ code, report: JSON.parse(stdout) as CheckReport, stderr });
      } catch {
        reject(new Error(`firmware-check printed no JSON (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`));
      }
    });
  });
}

/** The `attestUart` object of a generated mc.config.js. */
function attestUart(tmpDir: string): unknown {
  const text = readFileSync(join(tmpDir, 'mc.config.js'), 'utf8');
  const m = /"attestUart": (\{[^}]*\})/.exec(text);
  assert.ok(m, `${tmpDir}/mc.config.js has attestUart`);
  return JSON.parse(m[1]!);
}

const failures = (r: Run): string => r.report.error ?? r.stderr;

describe('firmware check: the real Moddable build per target', function () {
  this.timeout(240_000);
  let sdk: Sdk | undefined;
  let scratch = '';
  let full: Run;

  before(async function () {
    try {
      sdk = sdkForCheck();
    } catch {
      sdk = undefined; // $MODDABLE set but unusable: the check itself says why, and the tests fail
    }
    if (!sdk && !process.env.MODDABLE) {
      console.log(`      firmware check skipped: no Moddable SDK ($MODDABLE, $IDF_PATH) and no sdk-kit at ${KIT_DIR}`);
      this.skip();
    }
    scratch = mkdtempSync(join(tmpdir(), 'efa-fwcheck-test-'));
    full = await check(['--out', join(scratch, 'full')]);
  });

  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('passes every step for esp32/esp32s3, esp32/esp32c3 and esp32', () => {
    assert.equal(full.code, 0, failures(full));
    assert.equal(full.report.ok, true);
    assert.equal(full.report.build?.ok, true, 'the firmware JS was built first');
    assert.deepEqual(full.report.targets.map((t) => t.target), [...TARGETS]);
    for (const t of full.report.targets) {
      assert.deepEqual([...new Set(t.steps.map((s) => s.step))], ['mcconfig', 'sdkconfig', 'xsl', 'archive', 'cc'], t.target);
      assert.ok(t.steps.every((s) => s.ok), t.target);
      for (const c of ['device/native/efuse/efuse.c', 'device/native/crc32/crc32.c']) {
        assert.ok(t.steps.some((s) => s.step === 'cc' && s.detail.startsWith(c)), `${t.target} compiles ${c}`);
      }
      assert.match(t.compiler!.espressif, t.target === 'esp32/esp32c3' ? /^riscv32-esp-elf-gcc$/ : /^xtensa-esp32(s3)?-elf-gcc$/);
    }
  });

  it("gives each target its own attestation UART pins in the generated mc/config", () => {
    for (const t of full.report.targets) {
      assert.deepEqual(attestUart(t.tmpDir!), { port: 0, baud: 115200, ...UART[t.target] }, t.target);
    }
  });

  it('sizes the preloaded XS archive of each target from the real link', () => {
    for (const t of full.report.targets) {
      const a = t.archive!;
      assert.ok(a.flash > 50_000 && a.flash < 2_000_000, `${t.target}: ${a.flash} bytes`);
      assert.equal(a.flash, a.text + a.data);
      assert.ok(a.slots > 1000 && a.keys > 500, `${t.target}: ${a.slots} slots, ${a.keys} keys`);
      assert.match(a.xsl, /^\d+ instances, \d+ keys/);
    }
  });

  it('builds a board named for its chip with that chip\'s pins, and stops an unlisted board with the manifest\'s message', async () => {
    const r = await check(['--no-build', '--out', join(scratch, 'boards'), '--target', 'esp32/esp32s3_cdc', '--target', 'esp32/nodemcu']);
    assert.equal(r.code, 1);
    const [cdc, nodemcu] = r.report.targets;
    assert.ok(cdc!.ok, failures(r));
    assert.deepEqual(attestUart(cdc!.tmpDir!), { port: 0, baud: 115200, ...UART['esp32/esp32s3_cdc'] });
    assert.equal(nodemcu!.ok, false);
    assert.deepEqual(nodemcu!.steps.map((s) => s.step), ['mcconfig']);
    assert.match(nodemcu!.steps[0]!.detail, /no attestation UART is set for this board: add a "platforms" entry/);
  });

  it('fails naming the module when a manifest names it with a .js suffix', async () => {
    const copy = join(scratch, 'project');
    mkdirSync(join(copy, 'dist'), { recursive: true });
    for (const f of ['moddable.json', 'manifests', 'device']) cpSync(join(ROOT, f), join(copy, f), { recursive: true });
    for (const f of ['device', 'protocol']) cpSync(join(ROOT, 'dist', f), join(copy, 'dist', f), { recursive: true });
    const manifest = join(copy, 'manifests', 'firmware.json');
    const json = JSON.parse(readFileSync(manifest, 'utf8')) as { modules: Record<string, string>; preload: string[] };
    json.modules = Object.fromEntries(Object.entries(json.modules).map(([k, v]) => [k === 'efuse-attest' ? 'efuse-attest.js' : k, v]));
    json.preload = json.preload.map((p) => (p === 'efuse-attest' ? 'efuse-attest.js' : p));
    writeFileSync(manifest, JSON.stringify(json, null, '\t'));
    const r = await check(['--no-build', '--root', copy, '--out', join(scratch, 'broken'), '--target', 'esp32/esp32s3']);
    assert.equal(r.code, 1);
    assert.equal(r.report.ok, false);
    const failed = r.report.targets[0]!.steps.find((s) => !s.ok)!;
    assert.equal(failed.step, 'xsl');
    assert.match(failed.detail, /module "efuse-attest\.js" not found/);
  });

  it('fails naming the folder when the ESP-IDF tree lacks a component the manifests add', async function () {
    if (!sdk) this.skip();
    // the same tree with esp_hal_security (hal/hmac_types.h in v6.0) left out
    const idf = join(scratch, 'idf');
    mkdirSync(join(idf, 'components'), { recursive: true });
    for (const e of readdirSync(sdk!.idf)) if (e !== 'components') symlinkSync(join(sdk!.idf, e), join(idf, e));
    for (const c of readdirSync(join(sdk!.idf, 'components'))) {
      if (c !== 'esp_hal_security') symlinkSync(join(sdk!.idf, 'components', c), join(idf, 'components', c));
    }
    const r = await check(['--no-build', '--out', join(scratch, 'idf-out'), '--target', 'esp32/esp32s3'],
      { ...process.env, MODDABLE: sdk!.moddable, IDF_PATH: idf });
    assert.equal(r.code, 1);
    const failed = r.report.targets[0]!.steps.find((s) => !s.ok)!;
    assert.equal(failed.step, 'mcconfig');
    assert.ok(failed.detail.includes(`${idf}/components/esp_hal_security/include/`), failed.detail);
    assert.match(failed.detail, /directory not found/);
  });
});
