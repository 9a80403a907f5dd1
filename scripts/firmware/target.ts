// One build target through the real Moddable build, as far as it goes without Espressif's toolchain:
//   mcconfig   the real mcconfig resolves the manifests and writes the makefile and mc/config;
//   sdkconfig  sdkconfig.h where ESP-IDF's build would put it (the kit's, or made by kconfgen);
//   xsl        that makefile's mc.xs.c target: xsc compiles every module, xsid scans the C, xsl links
//              the modules and runs the preloads;
//   archive    mc.xs.c (xsl's preloaded archive) compiled as the makefile compiles it, and its size;
//   cc         every C file of the project's manifests compiled with the makefile's own C_DEFINES,
//              C_INCLUDES and C_FLAGS.
// With Espressif's compiler on the PATH (the makefile's CC) the C is compiled as is. Otherwise Debian's
// cross compilers stand in: riscv64-unknown-elf-gcc (RISC-V chips; -march=rv32imc becomes
// rv32imc_zicsr_zifencei with -mabi=ilp32, as GCC 12 spells it) and xtensa-lx106-elf-gcc (Xtensa chips),
// syntax only (-fsyntax-only instead of -c -MMD -MP), over Debian's newlib headers (libnewlib-dev) with
// two wrapper headers for what newlib 3.3 lacks against ESP-IDF.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { CheckError, cacheRoot, generateSdkconfig, idfVersion, lastLines, sdkEnv, which, type Sdk } from './sdk.js';

export type StepName = 'mcconfig' | 'sdkconfig' | 'xsl' | 'archive' | 'cc';

export interface Step {
  readonly step: StepName;
  readonly ok: boolean;
  /** What was done, or why it failed (one sentence). */
  readonly detail: string;
  readonly ms: number;
}

/** xsl's preloaded archive (mc.xs.c) as compiled for the chip: bytes in flash and RAM. */
export interface Archive {
  /** text + rodata + data: what the archive takes in flash. */
  readonly flash: number;
  readonly text: number;
  readonly data: number;
  readonly bss: number;
  /** Preloaded slots (mxHeapCount) and keys (mxKeysCount) in the archive. */
  readonly slots: number;
  readonly keys: number;
  /** xsl's own summary line, e.g. "815 instances, 1081 keys, 69 colors, 0 holes". */
  readonly xsl: string;
  readonly compiler: string;
}

export interface TargetResult {
  readonly target: string;
  readonly ok: boolean;
  readonly steps: Step[];
  /** The makefile's TMP_DIR: mc.config.js, mc.xs.c, the modules. */
  readonly tmpDir?: string;
  readonly archive?: Archive;
  /** The C compiler used, and whether it is a stand-in for the makefile's CC. */
  readonly compiler?: { readonly command: string; readonly standIn: boolean; readonly espressif: string };
}

type Vars = Record<string, string>;
const VAR_NAMES = ['ESP32_SUBCLASS', 'ESP_ARCH', 'CC', 'C_DEFINES', 'C_INCLUDES', 'C_FLAGS', 'TMP_DIR', 'SDKCONFIG_H', 'SDKCONFIG_FILE', 'EXPECTED_ESP_IDF'];
const STAND_INS: Record<string, string> = { riscv: 'riscv64-unknown-elf-gcc', xtensa: 'xtensa-lx106-elf-gcc' };
const NEWLIB = '/usr/include/newlib';

const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Runs a command line with /bin/sh, as make runs a recipe. */
function sh(command: string, env: NodeJS.ProcessEnv, cwd?: string): { ok: boolean; out: string } {
  const r = spawnSync('/bin/sh', ['-c', command], { env, cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function findFile(dir: string, name: string): string | undefined {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry === name) return path;
    if (statSync(path).isDirectory()) {
      const found = findFile(path, name);
      if (found) return found;
    }
  }
  return undefined;
}

/** The makefile's compile variables, printed by a rule appended to it. */
function makeVars(makefile: string, idfVer: string, env: NodeJS.ProcessEnv): Vars {
  const rules = join(dirname(makefile), 'efuse-attest-vars.mk');
  writeFileSync(rules, 'efuse-attest-vars:\n' + VAR_NAMES.map((n) => `\t$(info ${n}=$(${n}))\n`).join('') + '\t@:\n');
  const r = spawnSync('make', ['-s', '-f', makefile, '-f', rules, 'efuse-attest-vars', `IDF_VERSION=${idfVer}`], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new CheckError(`cannot read the compile variables of ${makefile}: ${lastLines(r.stderr, 2)}`);
  const vars: Vars = {};
  for (const line of r.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && VAR_NAMES.includes(line.slice(0, eq))) vars[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  return vars;
}

/** The project's own C files in the makefile (`$(TMP_DIR)/x.c.o: /path/x.c …` rules under `root`). */
function projectCFiles(makefile: string, root: string): string[] {
  const text = readFileSync(makefile, 'utf8');
  const files = [...text.matchAll(/^\$\(TMP_DIR\)\/[^\s:]+\.o: (\S+\.c)\s/gm)].map((m) => m[1]!);
  return files.filter((f) => isAbsolute(f) && !relative(root, f).startsWith('..'));
}

/** Two wrapper headers over Debian's newlib 3.3 for ESP-IDF v6.0 (written once into the cache). */
function newlibOverlay(): string {
  const dir = join(cacheRoot(), 'newlib-overlay-1');
  const files: Record<string, string> = {
    'machine/setjmp.h': '/* Debian\'s newlib 3.3 has no Xtensa jmp_buf; Espressif\'s newlib has 17 ints. */\n'
      + '#if defined(__XTENSA__) && !defined(_JBLEN)\n#define _JBLEN 17\n#define _JBTYPE int\n#endif\n#include_next <machine/setjmp.h>\n',
    'sys/reent.h': '/* Debian\'s newlib 3.3 declares _global_impure_ptr const; ESP-IDF\'s esp_libc sys/reent.h declares it\n'
      + ' * without, as newlib 4.x: the 3.3 declaration is renamed out of the way. */\n'
      + '#define _global_impure_ptr efuse_attest_newlib33_global_impure_ptr\n#include_next <sys/reent.h>\n#undef _global_impure_ptr\n',
  };
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

/** Empty lwip headers for compiling mc.xs.c against an ESP-IDF tree without its lwip submodule (the kit). */
function lwipStub(): string {
  const dir = join(cacheRoot(), 'lwip-stub');
  mkdirSync(join(dir, 'lwip'), { recursive: true });
  for (const h of ['netdb.h', 'inet.h']) writeFileSync(join(dir, 'lwip', h), '/* absent from this ESP-IDF tree; mc.xs.c uses none of it */\n');
  return dir;
}

interface Compiler { command: string; standIn: boolean; espressif: string; flags: string; extra: string[] }

function compilerFor(vars: Vars): Compiler {
  const espressif = vars.CC ?? '';
  if (espressif && which(espressif)) return { command: espressif, standIn: false, espressif, flags: vars.C_FLAGS ?? '', extra: [] };
  const standIn = STAND_INS[vars.ESP_ARCH ?? ''];
  if (!standIn) throw new CheckError(`no stand-in compiler for ESP_ARCH "${vars.ESP_ARCH}" (${vars.ESP32_SUBCLASS})`);
  if (!which(standIn)) {
    throw new CheckError(`neither ${espressif} nor its stand-in ${standIn} is on the PATH: install Debian's ${standIn === STAND_INS.riscv ? 'gcc-riscv64-unknown-elf' : 'gcc-xtensa-lx106'} (npm run setup)`);
  }
  if (!existsSync(join(NEWLIB, 'sys', 'reent.h'))) throw new CheckError(`newlib headers expected at ${NEWLIB}: install Debian's libnewlib-dev (npm run setup)`);
  let flags = ` ${vars.C_FLAGS ?? ''} `;
  for (const f of ['-c', '-MMD', '-MP']) flags = flags.split(` ${f} `).join(' ');
  if (vars.ESP_ARCH === 'riscv') flags = flags.split(' -march=rv32imc ').join(' -march=rv32imc_zicsr_zifencei -mabi=ilp32 ');
  return { command: standIn, standIn: true, espressif, flags: flags.trim(), extra: ['-isystem', newlibOverlay(), '-isystem', NEWLIB] };
}

/** `$(CC) $(C_DEFINES) $(C_INCLUDES) $(C_FLAGS) src`, as the makefile's rule, plus what a stand-in needs. */
function compileLine(cc: Compiler, vars: Vars, src: string, tail: string[]): string {
  return [cc.command, vars.C_DEFINES, vars.C_INCLUDES, cc.flags, ...cc.extra.map(quote), ...tail.map(quote), quote(src)].join(' ');
}

function sizes(cc: Compiler, object: string): { text: number; data: number; bss: number } {
  const size = cc.command.replace(/gcc$/, 'size');
  const r = spawnSync(size, [object], { encoding: 'utf8' });
  const m = /^\s*(\d+)\s+(\d+)\s+(\d+)/m.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) throw new CheckError(`${size} could not read ${object}`);
  return { text: Number(m[1]), data: Number(m[2]), bss: Number(m[3]) };
}

export interface TargetOptions { root: string; out: string; sdk: Sdk; log: (step: Step) => void }

/** Runs every step for `target` ("esp32/esp32s3", "esp32", …); stops at the first that fails. */
export function checkTarget(target: string, o: TargetOptions): TargetResult {
  const steps: Step[] = [];
  const result: { tmpDir?: string; archive?: Archive; compiler?: TargetResult['compiler'] } = {};
  const env = sdkEnv(o.sdk);
  const idfVer = idfVersion(o.sdk.idf);
  const step = (name: StepName, fn: () => string): boolean => {
    const t0 = Date.now();
    let s: Step;
    try {
      s = { step: name, ok: true, detail: fn(), ms: Date.now() - t0 };
    } catch (e) {
      if (!(e instanceof CheckError)) throw e;
      s = { step: name, ok: false, detail: e.message, ms: Date.now() - t0 };
    }
    steps.push(s);
    o.log(s);
    return s.ok;
  };
  const out = join(o.out, target.replace(/\//g, '_'));
  let makefile = '';
  let vars: Vars = {};
  const done = (): TargetResult => ({ target, ok: steps.every((s) => s.ok), steps, ...result });

  if (!step('mcconfig', () => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const r = sh(`mcconfig -p ${quote(target)} -o ${quote(out)} ${quote(join(o.root, 'moddable.json'))}`, env, o.root);
    if (!r.ok) {
      // mcconfig names paths as the manifests write them: show where $(IDF_PATH) and $(MODDABLE) point
      const expand = (l: string): string => l.split('$(IDF_PATH)').join(o.sdk.idf).split('$(MODDABLE)').join(o.sdk.moddable);
      const errors = r.out.split('\n').filter((l) => /^(###|#) ?[Ee]rror/.test(l)).map((l) => expand(l.replace(/^#+ ?[Ee]rror: ?/, '').replace(/!$/, '')));
      throw new CheckError(`mcconfig refused ${target}: ${errors.length ? errors.join('; ') : lastLines(r.out, 3)}`);
    }
    makefile = findFile(join(out, 'tmp'), 'makefile') ?? '';
    if (!makefile) throw new CheckError(`mcconfig wrote no makefile under ${join(out, 'tmp')}`);
    vars = makeVars(makefile, idfVer, env);
    result.tmpDir = vars.TMP_DIR;
    const expected = vars.EXPECTED_ESP_IDF ?? '';
    if (expected && !idfVer.startsWith(expected)) {
      throw new CheckError(`ESP-IDF ${idfVer} at ${o.sdk.idf}, but this Moddable SDK expects ESP-IDF ${expected}`);
    }
    return `makefile ${relative(out, makefile)} (${vars.ESP32_SUBCLASS}, ESP-IDF ${idfVer})`;
  })) return done();

  if (!step('sdkconfig', () => {
    const mc = vars.SDKCONFIG_FILE ?? '';
    const header = vars.SDKCONFIG_H ?? '';
    if (!existsSync(mc)) throw new CheckError(`mcconfig wrote no ${mc}`);
    const sub = vars.ESP32_SUBCLASS ?? '';
    let source: string;
    let how: string;
    const kitMc = o.sdk.kit && join(o.sdk.kit, 'sdkconfig', sub, 'sdkconfig.mc');
    if (kitMc && existsSync(kitMc) && readFileSync(kitMc).equals(readFileSync(mc))) {
      source = join(o.sdk.kit!, 'sdkconfig', sub, 'sdkconfig.h');
      if (!existsSync(source)) throw new CheckError(`incomplete sdk-kit: expected ${source}, which does not exist`);
      how = `the kit's (sdkconfig.mc identical)`;
    }
    else {
      source = generateSdkconfig(o.sdk, o.root, sub, mc);
      how = 'made by kconfgen from sdkconfig.mc';
    }
    mkdirSync(dirname(header), { recursive: true });
    copyFileSync(source, header);
    const now = new Date();
    utimesSync(header, now, now); // newer than sdkconfig.mc: make does not run ESP-IDF's build for it
    return `${relative(vars.TMP_DIR ?? '', header)}: ${how}`;
  })) return done();

  let xslSummary = '';
  if (!step('xsl', () => {
    const r = sh(`make -f ${quote(makefile)} ${quote(join(vars.TMP_DIR!, 'mc.xs.c'))} IDF_VERSION=${idfVer}`, env, o.root);
    if (!r.ok) {
      const lines = r.out.split('\n').filter((l) => /error|not found/i.test(l) && !/^(fatal: not a git repository|make(\[\d+\])?: \*\*\*)/.test(l))
        .map((l) => l.replace(/^#+ /, '').replace(/!$/, ''));
      const unique = [...new Set(lines)];
      throw new CheckError(`xsc/xsl failed for ${target}: ${unique.length ? unique.slice(0, 3).join(' / ') : lastLines(r.out, 3)}`);
    }
    xslSummary = /^### (\d+ instances.*)$/m.exec(r.out)?.[1] ?? '';
    const modules = (r.out.match(/^# xsc /gm) ?? []).length;
    return `${modules} modules compiled, linked and preloaded${xslSummary ? ` (${xslSummary})` : ''}`;
  })) return done();

  let cc: Compiler;
  try {
    cc = compilerFor(vars);
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    step('cc', () => { throw e; });
    return done();
  }
  result.compiler = { command: cc.command, standIn: cc.standIn, espressif: cc.espressif };
  const ccName = cc.standIn ? `${cc.command}, stand-in for ${cc.espressif}` : cc.command;

  if (!step('archive', () => {
    const src = join(vars.TMP_DIR!, 'mc.xs.c');
    const object = join(vars.TMP_DIR!, 'mc.xs.c.o');
    const stub = existsSync(join(o.sdk.idf, 'components', 'lwip', 'lwip', 'src', 'include', 'lwip', 'netdb.h')) ? [] : ['-isystem', lwipStub()];
    const tail = cc.standIn ? ['-c', ...stub, '-o', object] : [...stub, '-o', object];
    const r = sh(compileLine(cc, vars, src, tail), env, vars.TMP_DIR);
    if (!r.ok) throw new CheckError(`mc.xs.c does not compile for ${target} (${ccName}): ${lastLines(r.out.split('\n').filter((l) => /error/.test(l)).join('\n') || r.out, 3)}`);
    const s = sizes(cc, object);
    const c = readFileSync(src, 'utf8');
    const count = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)`).exec(c)?.[1] ?? 0);
    result.archive = { flash: s.text + s.data, ...s, slots: count('mxHeapCount'), keys: count('mxKeysCount'), xsl: xslSummary, compiler: cc.command };
    return `${result.archive.flash} bytes in flash (text+rodata ${s.text}, data ${s.data}), ${result.archive.slots} slots, ${result.archive.keys} keys (${ccName})`
      + (stub.length ? '; no lwip in this ESP-IDF tree: its two headers stubbed' : '');
  })) return done();

  const files = projectCFiles(makefile, o.root);
  if (files.length === 0) step('cc', () => 'the manifests list no C file of the project for this target');
  for (const file of files) {
    step('cc', () => {
      const tail = cc.standIn ? ['-fsyntax-only'] : ['-o', join(vars.TMP_DIR!, basename(file) + '.o')];
      const r = sh(compileLine(cc, vars, file, tail), env, vars.TMP_DIR);
      const name = relative(o.root, file);
      if (!r.ok) throw new CheckError(`${name} does not compile for ${target} (${ccName}): ${lastLines(r.out.split('\n').filter((l) => /error/.test(l)).join('\n') || r.out, 3)}`);
      return `${name} (${ccName}${cc.standIn ? ', syntax only' : ''})`;
    });
  }
  return done();
}
