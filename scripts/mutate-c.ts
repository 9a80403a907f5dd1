// npm run mutate:c — mutation testing of the native C, where StrykerJS does not reach: the firmware's
// efuse.c and crc32.c and the simulated ESP-IDF. Each mutant is one source edit of the kind a developer could make
// (a wrong bit, a wrong block, a short fill, a missing bounds check, a lost entropy source); the script
// applies it, rebuilds the emulator into its own folder, runs the tests that should notice, and
// reports the mutant killed (a test failed) or survived. Sources are restored after every mutant,
// also on Ctrl-C. Options: --only ID[,ID…], --json, --help. Exit status 0 when every mutant was
// killed or is listed as equivalent, 1 otherwise, 2 on bad usage or a broken build of the original.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILD = join(ROOT, 'emulator/build/mutants');
const EFUSE = 'device/native/efuse/efuse.c';
const IDF_TESTS = 'dist/test/emulator-idf.test.js';
const CRC = 'device/native/crc32/crc32.c';
const CRC_TESTS = 'dist/test/native-crc32.test.js';
const RUNTIME_TESTS = ['dist/test/emulator.test.js', 'dist/test/conformance.test.js'];

interface Mutant {
  id: string;
  file: string;
  what: string;
  find: string;
  replace: string;
  /** Test files that should kill it (run with --bail). */
  tests: string[];
  /** Why no test can tell it apart from the original, when that is so. */
  equivalent?: string;
}

const MUTANTS: readonly Mutant[] = [
  { id: 'rd-from-wr', file: EFUSE, what: 'attest reports read protection from the write-disable bit', find: 'bool readProtected = esp_efuse_get_key_dis_read(block);', replace: 'bool readProtected = esp_efuse_get_key_dis_write(block);', tests: [IDF_TESTS] },
  { id: 'slot-bound', file: EFUSE, what: 'attest accepts slot 6 (missing bounds check)', find: 'int slot = arg_int(the, 0, "slot", 0, KEY_SLOTS - 1);\n\tsize_t nonceLength', replace: 'int slot = arg_int(the, 0, "slot", 0, KEY_SLOTS);\n\tsize_t nonceLength', tests: [IDF_TESTS] },
  { id: 'secure-boot-bit', file: EFUSE, what: 'the transcript puts secure boot in the flash-encryption bit', find: '(secureBoot ? 2 : 0) | (flashEncryption ? 4 : 0)); /* bit 0', replace: '(secureBoot ? 4 : 0) | (flashEncryption ? 4 : 0)); /* bit 0', tests: [IDF_TESTS] },
  { id: 'short-nonce-fill', file: EFUSE, what: 'only half the device nonce is random', find: 'fill_random(deviceNonce, sizeof(deviceNonce));', replace: 'memset(deviceNonce, 0, sizeof(deviceNonce));\n\tfill_random(deviceNonce, sizeof(deviceNonce) / 2);', tests: [IDF_TESTS] },
  { id: 'wrong-block', file: EFUSE, what: 'attest reads the flags of the next key block', find: 'esp_efuse_block_t block = (esp_efuse_block_t)(EFUSE_BLK_KEY0 + slot);\n\tbool readProtected', replace: 'esp_efuse_block_t block = (esp_efuse_block_t)(EFUSE_BLK_KEY0 + slot + 1);\n\tbool readProtected', tests: [IDF_TESTS] },
  { id: 'tilde-encoded', file: EFUSE, what: "the string-to-sign percent-encodes '~'", find: "c == '_' || c == '~';", replace: "c == '_';", tests: [IDF_TESTS] },
  { id: 'nonce-min', file: EFUSE, what: 'a 15-byte host nonce is accepted', find: '#define NONCE_MIN 16', replace: '#define NONCE_MIN 15', tests: [IDF_TESTS] },
  { id: 'abs-done-0-only', file: EFUSE, what: 'secure boot V2 (ABS_DONE_1) is not seen on the ESP32', find: 'return esp_efuse_read_field_bit(ESP_EFUSE_ABS_DONE_0) || esp_efuse_read_field_bit(ESP_EFUSE_ABS_DONE_1);', replace: 'return esp_efuse_read_field_bit(ESP_EFUSE_ABS_DONE_0);', tests: [IDF_TESTS] },
  { id: 'err-name-table', file: EFUSE, what: "errors named by esp_err_to_name (no table in Moddable's sdkconfig)", find: 'const char *name = error_name(err);', replace: 'const char *name = esp_err_to_name(err);\n\tif (strncmp(name, "ESP_", 4)) name = error_name(0);', tests: [IDF_TESTS] },
  { id: 'no-adc-entropy', file: EFUSE, what: 'the entropy source is never enabled for the device nonce', find: '#if MODDEF_EFUSE_ADC_ENTROPY\n\tbootloader_random_enable();\n#endif', replace: '', tests: RUNTIME_TESTS },
  { id: 'transcript-not-zeroed', file: EFUSE, what: 'the transcript is left on the stack after the HMAC', find: 'memzero(transcript, sizeof(transcript));', replace: '', tests: [IDF_TESTS], equivalent: 'the transcript holds no secret (the verifier rebuilds it from the answer); zeroing is hygiene no test can observe' },
  { id: 'sim-rd-bit', file: 'emulator/idf/sim_efuse.c', what: 'the simulated chip reads RD_DIS at the write-protect bit', find: 'return s >= 0 && (sim_field_u32(&sim.layout->rd_dis) >> sim.layout->key_rd_bit[s] & 1);', replace: 'return s >= 0 && (sim_field_u32(&sim.layout->rd_dis) >> sim.layout->key_wr_bit[s] & 1);', tests: [IDF_TESTS] },
  { id: 'sim-purpose-unchecked', file: 'emulator/idf/sim_hmac.c', what: 'the simulated peripheral MACs with a block of any purpose', find: 'if (sim_field_u32(&l->key_purpose[key_id]) != ESP_EFUSE_KEY_PURPOSE_HMAC_UP) return ESP_FAIL;', replace: '', tests: [IDF_TESTS] },
  { id: 'sim-crypt-parity', file: 'emulator/idf/sim_efuse.c', what: 'flash encryption read as "any bit set" instead of an odd count', find: 'for (; cnt; cnt >>= 1) odd ^= cnt & 1;', replace: 'odd = cnt != 0;', tests: [IDF_TESTS] },
  { id: 'crc-fill-offset', file: CRC, what: 'crc32Fill writes each running CRC one element early', find: 'memcpy(run + 4 * ((size_t)k + 1), &crc, 4);', replace: 'memcpy(run + 4 * (size_t)k, &crc, 4);', tests: [CRC_TESTS] },
  { id: 'crc-fill-view-offset', file: CRC, what: "crc32Fill ignores the view's byteOffset", find: 'uint8_t *run = (uint8_t *)runData + offset;', replace: 'uint8_t *run = (uint8_t *)runData;', tests: [CRC_TESTS] },
  { id: 'crc-run-bound', file: CRC, what: "crc32Fill trusts the view's length (no bound by its buffer)", find: 'if ((uint64_t)offset + 4 * ((uint64_t)to + 1) > runSize)', replace: 'if (0)', tests: [CRC_TESTS] },
  { id: 'crc-end-bound', file: CRC, what: 'a range may end one byte past the buffer (crc32Update and crc32Fill read it)', find: '*b = arg_uint(the, index + 1, second, count);', replace: '*b = arg_uint(the, index + 1, second, count + 1);', tests: [CRC_TESTS] },
  { id: 'crc-seed-dropped', file: CRC, what: 'crc32Update starts every CRC from 0 (the chained CRC is lost)', find: 'crc = esp_rom_crc32_le(crc, bytes + start, end - start);', replace: 'crc = esp_rom_crc32_le(0, bytes + start, end - start);', tests: [CRC_TESTS] },
  { id: 'sim-rom-crc-init', file: 'emulator/idf/sim_rom.c', what: 'the simulated ROM CRC does not invert the CRC passed in', find: 'uint32_t c = ~crc;', replace: 'uint32_t c = crc;', tests: [CRC_TESTS] },
  { id: 'sim-always-entropy', file: 'emulator/idf/sim_app.c', what: 'the simulated RNG is random without an entropy source', find: 'if (!adcEntropy) {', replace: 'if (0) {', tests: [IDF_TESTS] },
  { id: 'role-unchecked', file: EFUSE, what: 'a block of the other role is used (key roles not enforced)', find: 'if (!((mask >> slot) & 1))', replace: 'if (!((mask >> slot) & 1) && 0)', tests: [IDF_TESTS] },
  { id: 'star-upper', file: EFUSE, what: "'*' encoded as %2A, not as the Azure IoT SDK's %2a", find: "c == '*' ? 'a' : hex[c & 15]", replace: 'hex[c & 15]', tests: [IDF_TESTS] },
];

interface Outcome { id: string; file: string; what: string; result: 'killed' | 'survived' | 'equivalent' | 'not applied'; ms: number; by?: string; note?: string }

const USAGE = `usage: npm run mutate:c -- [--only ID[,ID…]] [--json]

Applies each mutant of the native C (efuse.c, the simulated ESP-IDF), rebuilds the emulator into
emulator/build/mutants, runs the tests that should notice, and reports killed or survived.
Mutants: ${MUTANTS.map((m) => m.id).join(', ')}
Exit status: 0 all killed (or equivalent), 1 a mutant survived or did not apply, 2 bad usage or build.`;

function make(): { ok: boolean; out: string } {
  const r = spawnSync('make', ['-s', '-C', join(ROOT, 'emulator'), '-j2', `BUILD=${BUILD}`], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

function runTests(files: string[]): { failed: boolean; by?: string } {
  const r = spawnSync('npx', ['mocha', '--bail', ...files], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, EFUSE_ATTEST_EMULATOR_DIR: BUILD }, maxBuffer: 64 << 20,
  });
  if (r.status === 0) return { failed: false };
  const m = /\n\s+1\) ([^\n]+)\n\s+([^\n]+)/.exec(r.stdout);
  return { failed: true, by: m ? `${m[1]!.trim()} › ${m[2]!.trim()}` : 'a test failed' };
}

function main(argv: string[]): number {
  if (argv.includes('--help')) { console.log(USAGE); return 0; }
  const json = argv.includes('--json');
  const at = argv.indexOf('--only');
  const only = at >= 0 ? (argv[at + 1] ?? '').split(',').filter(Boolean) : undefined;
  for (const a of argv) if (a.startsWith('--') && !['--json', '--only', '--help'].includes(a)) { console.error(`unknown option ${a}\n${USAGE}`); return 2; }
  const unknown = only?.filter((id) => !MUTANTS.some((m) => m.id === id)) ?? [];
  if (at >= 0 && (!only || only.length === 0 || unknown.length > 0)) { console.error(`--only: unknown mutant ${unknown.join(', ') || '(none given)'}\n${USAGE}`); return 2; }
  const chosen = MUTANTS.filter((m) => !only || only.includes(m.id));

  const base = make();
  if (!base.ok) { console.error(`the emulator does not build unmutated:\n${base.out}`); return 2; }
  const originals = new Map<string, string>();
  const restore = (): void => { for (const [f, text] of originals) writeFileSync(join(ROOT, f), text); };
  const onSignal = (): void => { restore(); process.exit(130); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const outcomes: Outcome[] = [];
  try {
    for (const m of chosen) {
      const started = Date.now();
      const path = join(ROOT, m.file);
      const text = originals.get(m.file) ?? readFileSync(path, 'utf8');
      originals.set(m.file, text);
      const base = { id: m.id, file: m.file, what: m.what };
      if (!text.includes(m.find)) {
        outcomes.push({ ...base, result: 'not applied', ms: 0, note: 'the source no longer has the text this mutant edits: update it' });
      }
      else {
        writeFileSync(path, text.replace(m.find, m.replace));
        try {
          const built = make();
          if (!built.ok) outcomes.push({ ...base, result: 'killed', ms: Date.now() - started, by: 'the build (-Werror)' });
          else {
            const t = runTests(m.tests);
            const result = t.failed ? 'killed' : m.equivalent ? 'equivalent' : 'survived';
            outcomes.push({ ...base, result, ms: Date.now() - started, ...(t.by ? { by: t.by } : {}), ...(m.equivalent && !t.failed ? { note: m.equivalent } : {}) });
          }
        } finally {
          writeFileSync(path, text);
        }
      }
      const o = outcomes[outcomes.length - 1]!;
      if (!json) console.log(`${o.result.padEnd(11)} ${o.id.padEnd(22)} ${(o.ms / 1000).toFixed(0).padStart(4)} s  ${o.what}${o.by ? `\n            by: ${o.by}` : ''}${o.note ? `\n            ${o.note}` : ''}`);
    }
  } finally {
    restore();
    rmSync(BUILD, { recursive: true, force: true });
  }
  const killed = outcomes.filter((o) => o.result === 'killed').length;
  const counted = outcomes.filter((o) => o.result !== 'equivalent').length;
  const score = counted ? killed / counted : 1;
  if (json) console.log(JSON.stringify({ score, killed, mutants: outcomes }, null, 2));
  else console.log(`\n${killed} of ${counted} non-equivalent mutants killed (${(score * 100).toFixed(0)} %), ${outcomes.length - counted} equivalent`);
  return outcomes.every((o) => o.result === 'killed' || o.result === 'equivalent') ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
