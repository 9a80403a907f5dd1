// 6. Firmware footprint from the real link: per target, the size of the XS archive xsl preloads into
// flash (mc.xs.c compiled with the generated makefile's flags, by scripts/firmware-check.ts), beside the
// same figure for a baseline project that includes only what this firmware includes from the Moddable
// SDK (manifest_base, the io modules) and an empty main: the difference is what the firmware's own
// modules (device/, protocol/, the efuse host declarations) cost. Needs a Moddable SDK ($MODDABLE +
// $IDF_PATH) or the sdk-kit; skipped otherwise. No target: a figure to watch, not a gate.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckReport } from '../scripts/firmware-check.js';
import { sdkForCheck } from '../scripts/firmware-check.js';
import type { Archive } from '../scripts/firmware/target.js';
import { line } from './util.js';

const SCRIPT = fileURLToPath(new URL('../scripts/firmware-check.js', import.meta.url));
const TARGETS = ['esp32/esp32s3', 'esp32/esp32c3', 'esp32'];

export interface FirmwareFootprint {
  target: string;
  archive: Archive;
  /** The baseline project's archive: Moddable's own modules only. */
  baseline: Archive;
  /** archive − baseline, in flash bytes, slots and keys. */
  own: { flash: number; slots: number; keys: number };
}

function check(args: string[]): Promise<CheckReport> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, '--json', '--no-build', ...TARGETS.flatMap((t) => ['--target', t]), ...args],
      { maxBuffer: 16 << 20 }, (_err, stdout, stderr) => {
        try {
          resolve(JSON.parse(stdout) as CheckReport);
        } catch {
          reject(new Error(`firmware-check printed no JSON: ${stderr.trim().split('\n').slice(-2).join(' / ')}`));
        }
      });
  });
}

export async function benchFirmware(): Promise<FirmwareFootprint[] | { skipped: string }> {
  if (!sdkForCheck()) {
    const skipped = 'no Moddable SDK ($MODDABLE, $IDF_PATH) and no sdk-kit';
    line('6. firmware footprint from the real link', `skipped: ${skipped}`);
    return { skipped };
  }
  const firmware = await check([]);
  if (!firmware.ok) throw new Error(firmware.error ?? 'the firmware check failed');
  const base = await mkdtemp(join(tmpdir(), 'efa-bench-fw-'));
  try {
    await writeFile(join(base, 'moddable.json'), JSON.stringify({
      include: ['$(MODDABLE)/examples/manifest_base.json', '$(MODDABLE)/modules/io/manifest.json'],
      modules: { main: './main' },
    }));
    await writeFile(join(base, 'main.js'), '// baseline: the SDK modules the firmware includes, nothing of its own\n');
    const baseline = await check(['--root', base]);
    if (!baseline.ok) throw new Error(baseline.error ?? 'the baseline build failed');
    const figures: FirmwareFootprint[] = [];
    for (const t of firmware.targets) {
      const a = t.archive!;
      const b = baseline.targets.find((x) => x.target === t.target)!.archive!;
      const own = { flash: a.flash - b.flash, slots: a.slots - b.slots, keys: a.keys - b.keys };
      figures.push({ target: t.target, archive: a, baseline: b, own });
      const kb = (n: number): string => (n / 1024).toFixed(1);
      line(`6. preloaded XS archive in flash, ${t.target} (kB)`, `${kb(a.flash)} (SDK modules alone ${kb(b.flash)}; the firmware's own ${kb(own.flash)}, ${own.slots} slots, ${own.keys} keys)`);
    }
    line('   compiled by', `${firmware.targets.map((t) => `${t.target}: ${t.compiler!.command}${t.compiler!.standIn ? ` for ${t.compiler!.espressif}` : ''}`).join(', ')}`);
    return figures;
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}
