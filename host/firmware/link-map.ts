// The emulator's link map: what xsl would link for one chip, from the firmware's manifests
// (manifest.ts), written as lines the emulator reads (emulator/src/linkmap.c):
//
//   platform  esp32/esp32s3
//   module    <name> <absolute path of its .js>       one per module, under its manifest name
//   preload   <name>                                  in manifest order
//   config    <JSON>                                  mc/config of that target
//   define    <MODDEF_NAME> <value>                   a macro of mc.defines.h (the manifests' "defines")
//   cinclude  <folder>                                a C include folder the manifests add, with
//                                                     $(IDF_PATH) mapped onto the simulated IDF
//   digest    <SHA-256 over every module's name and source>   (the emulated app's ELF SHA-256)
//   error     <message>                               the target does not build: the emulator says so
//
// Fields are tab-separated. Modules the SDK provides get the emulator's stand-ins (STAND_INS).
// Usage: node dist/host/firmware/link-map.js ROOT OUT_DIR [--idf DIR] CHIP... (writes OUT_DIR/CHIP.map)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { definesOf, ManifestError, resolveManifest } from './manifest.js';

/** SDK modules the firmware imports, and the emulator's own implementation of each. */
export const STAND_INS: Readonly<Record<string, string>> = Object.freeze({
  'embedded:io/serial': 'emulator/modules/serial.js',
});

/** The Moddable platform a chip builds as: "esp32" for the original, "esp32/<chip>" otherwise. */
export function platformOf(chip: string): string {
  if (!/^esp32[a-z0-9]*$/.test(chip)) throw new RangeError(`chip must be an ESP32-family name, got "${chip}"`);
  return chip === 'esp32' ? 'esp32' : `esp32/${chip}`;
}

/**
 * The link map of `manifest` (default: the firmware's, ROOT/moddable.json) for one chip. `idf` is the
 * simulated IDF (default ROOT/emulator/idf): the manifests' $(IDF_PATH) folders map onto it, and a
 * folder it lacks fails the target, as a missing folder fails mcconfig.
 */
export function linkMap(root: string, chip: string, manifest = join(root, 'moddable.json'), idf = join(root, 'emulator/idf')): string {
  const platform = platformOf(chip);
  const clean = (s: string): string => s.replace(/[\t\r\n]/g, ' ');
  let m;
  try {
    m = resolveManifest(manifest, platform);
  }
  catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    return `platform\t${platform}\nerror\t${clean(e.message)}\n`;
  }
  const modules = new Map(m.modules);
  for (const [name, file] of Object.entries(STAND_INS)) {
    if (!modules.has(name)) modules.set(name, join(root, file));
  }
  const digest = createHash('sha256');
  const lines = [`platform\t${platform}`];
  for (const [name, file] of modules) {
    lines.push(`module\t${name}\t${file}`);
    digest.update(name).update('\0').update(readFileSync(file)).update('\0');
  }
  for (const name of m.preload) lines.push(`preload\t${name}`);
  lines.push(`config\t${JSON.stringify(m.config)}`);
  for (const [name, value] of definesOf(m.defines)) lines.push(`define\t${name}\t${clean(value)}`);
  for (const dir of m.includeDirs) {
    if (dir.includes('$(MODDABLE)')) continue; // the SDK's own folders: not part of the simulated tree
    const mapped = dir.replaceAll('$(IDF_PATH)', idf).replaceAll('$(ESP32_SUBCLASS)', chip); // the platform's chip
    if (mapped.includes('$(')) return `platform\t${platform}\nerror\t${clean(`include folder ${dir}: unknown variable`)}\n`;
    if (!existsSync(mapped)) return `platform\t${platform}\nerror\t${clean(`include folder ${dir} (${mapped}) does not exist`)}\n`;
    lines.push(`cinclude\t${mapped.replace(/\/$/, '')}`);
  }
  lines.push(`digest\t${digest.digest('hex')}`);
  return lines.join('\n') + '\n';
}

/** Writes each map only when it changed, so make rebuilds nothing when nothing did. */
function main(argv: string[]): void {
  const at = argv.indexOf('--idf');
  const idf = at >= 0 ? argv.splice(at, 2)[1] : undefined;
  if (argv.length < 3 || (at >= 0 && !idf)) {
    process.stderr.write('usage: link-map.js ROOT OUT_DIR [--idf DIR] CHIP...\n');
    process.exit(2);
  }
  const [root, dir, ...chips] = argv as [string, string, ...string[]];
  mkdirSync(dir, { recursive: true });
  for (const chip of chips) {
    const out = join(dir, `${chip}.map`);
    const text = linkMap(root, chip, join(root, 'moddable.json'), idf ?? join(root, 'emulator/idf'));
    let old = '';
    try { old = readFileSync(out, 'utf8'); } catch { /* a first run */ }
    if (old !== text) {
      writeFileSync(out + '.tmp', text);
      renameSync(out + '.tmp', out);
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
