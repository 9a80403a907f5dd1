// The emulator's link map: what xsl would link for one chip, from the firmware's manifests
// (manifest.ts), written as lines the emulator reads (emulator/src/linkmap.c):
//
//   platform  esp32/esp32s3
//   module    <name> <absolute path of its .js>       one per module, under its manifest name
//   preload   <name>                                  in manifest order
//   config    <JSON>                                  mc/config of that target
//   digest    <SHA-256 over every module's name and source>   (the emulated app's ELF SHA-256)
//   error     <message>                               the target does not build: the emulator says so
//
// Fields are tab-separated. Modules the SDK provides get the emulator's stand-ins (STAND_INS).
// Usage: node dist/host/firmware/link-map.js ROOT OUT_DIR CHIP... (writes OUT_DIR/CHIP.map)
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManifestError, resolveManifest } from './manifest.js';

/** SDK modules the firmware imports, and the emulator's own implementation of each. */
export const STAND_INS: Readonly<Record<string, string>> = Object.freeze({
  'embedded:io/serial': 'emulator/modules/serial.js',
});

/** The Moddable platform a chip builds as: "esp32" for the original, "esp32/<chip>" otherwise. */
export function platformOf(chip: string): string {
  if (!/^esp32[a-z0-9]*$/.test(chip)) throw new RangeError(`chip must be an ESP32-family name, got "${chip}"`);
  return chip === 'esp32' ? 'esp32' : `esp32/${chip}`;
}

/** The link map of `manifest` (default: the firmware's, ROOT/moddable.json) for one chip. */
export function linkMap(root: string, chip: string, manifest = join(root, 'moddable.json')): string {
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
  lines.push(`digest\t${digest.digest('hex')}`);
  return lines.join('\n') + '\n';
}

/** Writes each map only when it changed, so make rebuilds nothing when nothing did. */
function main(argv: string[]): void {
  if (argv.length < 3) {
    process.stderr.write('usage: link-map.js ROOT OUT_DIR CHIP...\n');
    process.exit(2);
  }
  const [root, dir, ...chips] = argv as [string, string, ...string[]];
  mkdirSync(dir, { recursive: true });
  for (const chip of chips) {
    const out = join(dir, `${chip}.map`);
    const text = linkMap(root, chip);
    let old = '';
    try { old = readFileSync(out, 'utf8'); } catch { /* a first run */ }
    if (old !== text) {
      writeFileSync(out + '.tmp', text);
      renameSync(out + '.tmp', out);
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
