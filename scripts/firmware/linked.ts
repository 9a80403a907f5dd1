// The emulator built from the firmware as a device carries it: xsl's preloaded archive for the chip
// (mc.xs.c), made by the SDK's real mcconfig, xsc and xsl (target.ts, the firmware check's steps), then
// compiled into the emulator with that SDK's XS engine (make -C emulator ARCHIVE=…; see its Makefile).
// 64-bit into emulator/build/linked (sharing the engine objects of emulator/build/sdk), 32-bit
// (gcc -m32, Debian's gcc-multilib) into emulator/build/linked-m32. Nothing is downloaded: the tools
// come from $MODDABLE or the sdk-kit (built once into the user cache, sdk.ts).
//
// Usage: node dist/scripts/firmware/linked.js [--m32] CHIP   (prints the binary's path)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { platformOf } from '../../host/firmware/link-map.js';
import { KIT_DIR, PACKAGE_ROOT } from '../firmware-check.js';
import { CheckError, findSdk, lastLines, prepareSdk, type Sdk } from './sdk.js';
import { checkTarget } from './target.js';

export interface LinkedOptions {
  /** A 32-bit build (gcc -m32). */
  readonly m32?: boolean;
  /** The project (default: this package). */
  readonly root?: string;
}

/** The folder of the linked build. */
export function linkedBuildDir(m32 = false, root = PACKAGE_ROOT): string {
  return join(root, 'emulator', 'build', m32 ? 'linked-m32' : 'linked');
}

/** The XS engine the emulator builds on for this SDK: the one its tools were built from. */
function sdkXs(sdk: Sdk): string {
  return sdk.kit ? join(sdk.kit, 'moddable', 'xs') : join(sdk.moddable, 'xs');
}

/** Copies when the content differs, so make rebuilds only on a change. */
function update(from: string, to: string): void {
  if (existsSync(to) && readFileSync(to).equals(readFileSync(from))) return;
  copyFileSync(from, to);
}

/**
 * Makes (or brings up to date) the linked emulator for `chip` and returns its binary. Needs the firmware
 * JS in dist/ and the emulator's link maps (npm run build). Throws CheckError with the reason when
 * there is no SDK or a step fails.
 */
export function buildLinkedEmulator(chip: string, opts: LinkedOptions = {}): string {
  const root = opts.root ?? PACKAGE_ROOT;
  const sdk = findSdk(KIT_DIR);
  if (!sdk) throw new CheckError(`no Moddable SDK for the linked emulator: set MODDABLE and IDF_PATH, or put the sdk-kit at ${KIT_DIR}`);
  prepareSdk(sdk);

  const work = join(root, 'emulator', 'build', 'archive-work');
  const target = platformOf(chip);
  const result = checkTarget(target, { root, out: work, sdk, log: () => undefined });
  const xsl = result.steps.find((s) => s.step === 'xsl');
  if (!xsl?.ok || !result.tmpDir) {
    const failed = result.steps.find((s) => !s.ok);
    throw new CheckError(`xsl's archive for ${target} was not made: ${failed ? `${failed.step}: ${failed.detail}` : 'no mc.xs.c'}`);
  }
  const archive = join(root, 'emulator', 'build', 'archive');
  mkdirSync(join(archive, chip), { recursive: true });
  for (const f of ['mc.xs.c', 'mc.xs.h']) update(join(result.tmpDir, f), join(archive, chip, f));

  const build = linkedBuildDir(opts.m32, root);
  const args = ['-s', '-C', join(root, 'emulator'), '-j2', `XS=${sdkXs(sdk)}`, `ARCHIVE=${archive}`, `BUILD=${build}`, `EMU_CHIPS=${chip}`];
  if (opts.m32) args.push('CC=gcc -m32');
  else args.push(`OBJ=${join(root, 'emulator', 'build', 'sdk', 'obj')}`);
  const env = { ...process.env };
  delete env.MAKEFLAGS;
  delete env.MFLAGS;
  const r = spawnSync('make', args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new CheckError(`the linked emulator does not build: ${lastLines(r.stderr || r.stdout, 3)}`);
  return join(build, chip, 'efuse-attest-emu');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const m32 = argv.includes('--m32');
  const chips = argv.filter((a) => a !== '--m32');
  if (chips.length !== 1) {
    process.stderr.write('usage: node dist/scripts/firmware/linked.js [--m32] CHIP\n');
    process.exitCode = 2;
  } else {
    try {
      process.stdout.write(buildLinkedEmulator(chips[0]!, { m32 }) + '\n');
    } catch (e) {
      if (!(e instanceof CheckError)) throw e;
      process.stderr.write(`linked emulator: ${e.message}\n`);
      process.exitCode = 1;
    }
  }
}
