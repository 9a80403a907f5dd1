// npm run firmware:check — the firmware through the real Moddable SDK build for each supported target:
// the firmware JS built, then per target mcconfig, the xsc/xsid/xsl link, xsl's archive compiled and
// sized, and the project's native C compiled with the generated makefile's flags (firmware/target.ts),
// against $MODDABLE + $IDF_PATH or else the sdk-kit beside the project (firmware/sdk.ts).
//
// Options and exit status: USAGE below (`npm run firmware:check -- --help`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckError, findSdk, idfVersion, kitToolsBuilt, lastLines, prepareSdk, type Sdk } from './firmware/sdk.js';
import { checkTarget, type Step, type TargetResult } from './firmware/target.js';

/** This package's root (the script runs from dist/scripts/). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The sdk-kit's place beside the project ($EFUSE_ATTEST_SDK_KIT elsewhere). */
export const KIT_DIR = resolve(process.env.EFUSE_ATTEST_SDK_KIT || join(PACKAGE_ROOT, '..', 'shared', 'sdk-kit'));
export const TARGETS: readonly string[] = Object.freeze(['esp32/esp32s3', 'esp32/esp32c3', 'esp32']);

export interface CheckReport {
  readonly ok: boolean;
  readonly sdk?: { kind: Sdk['kind']; moddable: string; idf: string; idfVersion: string };
  readonly build?: { ok: boolean; ms: number };
  readonly targets: TargetResult[];
  readonly out?: string;
  readonly error?: string;
  readonly ms: number;
}

/** The SDK the check would use, or undefined when there is none (then the check cannot run). */
export function sdkForCheck(): Sdk | undefined {
  return findSdk(KIT_DIR);
}

interface Options { targets: string[]; out?: string; root: string; build: boolean; json: boolean; help?: boolean }

function parseArgs(argv: string[]): Options {
  const o: Options = { targets: [], root: PACKAGE_ROOT, build: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new CheckError(`${a} needs a value`);
      return v;
    };
    if (a === '--target') o.targets.push(value());
    else if (a === '--out') o.out = resolve(value());
    else if (a === '--root') o.root = resolve(value());
    else if (a === '--no-build') o.build = false;
    else if (a === '--json') o.json = true;
    else if (a === '--help') o.help = true;
    else throw new CheckError(`unknown option ${a} (options: --target T, --out DIR, --root DIR, --no-build, --json)`);
  }
  if (o.targets.length === 0) o.targets = [...TARGETS];
  return o;
}

const USAGE = `usage: npm run firmware:check -- [--target T]... [--out DIR] [--root DIR] [--no-build] [--json]
  --target T   a Moddable platform: esp32/esp32s3, esp32/esp32c3, esp32 (default: all three)
  --out DIR    keep the build folders there (default: a temporary folder, removed afterwards)
  --root DIR   the project to check (default: this package)
  --no-build   use the firmware JS already in dist/ (default: tsc -p device/tsconfig.json first)
  --json       one JSON object on stdout; the step lines go to stderr
Uses $MODDABLE + $IDF_PATH (Moddable SDK 8.2.x with its tools built, ESP-IDF v6.0), else the sdk-kit at
${KIT_DIR} ($EFUSE_ATTEST_SDK_KIT). Exit status: 0 passed, 1 a step failed, 2 bad usage or no usable SDK.
`;

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function main(argv: string[]): Promise<number> {
  const t0 = Date.now();
  let o: Options;
  try {
    o = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`firmware-check: ${(e as Error).message}\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const say = (line: string): void => { (o.json ? process.stderr : process.stdout).write(line + '\n'); };
  const report: { -readonly [K in keyof CheckReport]: CheckReport[K] } = { ok: false, sdk: undefined, build: undefined, targets: [], ms: 0 };
  const finish = (code: number): number => {
    report.ms = Date.now() - t0;
    if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return code;
  };

  let sdk: Sdk | undefined;
  try {
    sdk = findSdk(KIT_DIR);
    if (!sdk) throw new CheckError(`no Moddable SDK: set MODDABLE and IDF_PATH (Moddable SDK 8.2.x with its tools built, ESP-IDF v6.0), or put the sdk-kit at ${KIT_DIR}`);
    if (sdk.kind === 'kit' && !kitToolsBuilt(sdk)) {
      say(`firmware-check: building the Moddable tools from the sdk-kit ${sdk.kit} into ${sdk.moddable} (once per kit version, about 35 s)`);
    }
    prepareSdk(sdk);
    report.sdk = { kind: sdk.kind, moddable: sdk.moddable, idf: sdk.idf, idfVersion: idfVersion(sdk.idf) };
    say(`firmware-check: Moddable SDK ${sdk.moddable}, ESP-IDF ${report.sdk.idfVersion} at ${sdk.idf}`);
    if (!existsSync(join(o.root, 'moddable.json'))) throw new CheckError(`no moddable.json in ${o.root}`);
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    report.error = e.message;
    say(`firmware-check: ${e.message}`);
    return finish(2);
  }

  if (o.build) {
    const b0 = Date.now();
    const tsc = join(o.root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = existsSync(tsc)
      ? spawnSync(process.execPath, [tsc, '-p', join(o.root, 'device', 'tsconfig.json')], { cwd: o.root, encoding: 'utf8' })
      : undefined;
    report.build = { ok: r?.status === 0, ms: Date.now() - b0 };
    if (!r || r.status !== 0) {
      report.error = r ? `the firmware JS does not build (tsc -p device/tsconfig.json): ${lastLines(r.stdout + r.stderr, 3)}`
        : `TypeScript expected at ${tsc}: run npm ci first`;
      say(`firmware-check: ${report.error}`);
      return finish(1);
    }
    say(`${pad('firmware', 15)} ${pad('tsc', 10)} ok    ${secs(report.build.ms)}  device/tsconfig.json → dist/`);
  }

  const out = o.out ?? mkdtempSync(join(tmpdir(), 'efa-fwcheck-'));
  if (o.out) report.out = out;
  try {
    for (const target of o.targets) {
      const log = (s: Step): void => say(`${pad(target, 15)} ${pad(s.step, 10)} ${s.ok ? 'ok  ' : 'FAIL'}  ${secs(s.ms)}  ${s.detail}`);
      const result = checkTarget(target, { root: o.root, out, sdk, log });
      report.targets.push(result);
    }
  } finally {
    if (!o.out) rmSync(out, { recursive: true, force: true });
  }
  report.ok = report.targets.every((t) => t.ok);
  const failed = report.targets.filter((t) => !t.ok).map((t) => t.target);
  if (failed.length > 0) report.error = report.targets.flatMap((t) => t.steps.filter((s) => !s.ok).map((s) => s.detail)).join('; ');
  const archives = report.targets.filter((t) => t.archive).map((t) => `${t.target} ${t.archive!.flash} B`);
  say(`firmware-check: ${report.ok ? 'ok' : `FAILED (${failed.join(', ')})`} in ${secs(Date.now() - t0)}`
    + (archives.length ? `; preloaded XS archive in flash: ${archives.join(', ')}` : ''));
  return finish(report.ok ? 0 : 1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // output piped into e.g. head: stop quietly when the reader is gone
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`firmware-check: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
