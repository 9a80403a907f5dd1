// Mutation testing with StrykerJS (docs/reliability.md §5): `npm run mutate [group…]` runs one
// Stryker pass per group below, one after the other; never part of `npm test` or CI.
//
// How it fits this project: Stryker copies the project into a sandbox, writes every mutant of the
// TypeScript sources into it at once (mutation switching), then runs `tsc` there (buildCommand), so
// mocha runs the compiled dist/test/*.test.js as usual with the mutants selected at run time. The
// TypeScript checker drops the mutants that do not compile. Coverage is per test, so each mutant
// runs only the tests that reach it. Each group carries only the fast in-memory tests that reach its
// code: no emulator, no espefuse (Python) unless the group is espefuse with STRYKER_PYTHON=1, no Redis; the
// escrow group starts its own PostgreSQL and SoftHSM token once per run, as its tests do.
//
// Incremental: each group keeps its last result in mutation/<group>.json (committed), so a re-run
// after a small change tests only the mutants in changed code or reached by changed tests.
import { existsSync } from 'node:fs';

const group = process.env.STRYKER_GROUP ?? 'protocol';

/**
 * Grep that leaves out the emulator targets of suites that also run in memory, and the frame decoder's
 * large-input tests: they feed megabytes of hostile input (16 s each once instrumented). The other
 * frame tests check the same events on smaller input.
 */
const IN_MEMORY = '/^(?!conformance: emulator|reliability: link faults \\(emulator)(?!.*(literal reading of §2\\.1|idle flushes of a buffer full|framing work is bounded per input byte))/';

const GROUPS = {
  // protocol/: framing, codec, CRC, SAS tokens, transcripts, device ids.
  protocol: {
    mutate: ['protocol/**/*.ts', '!protocol/index.ts'],
    spec: ['mutants-protocol', 'chip-table', 'keyblock', 'protocol', 'sas', 'verify'],
  },
  // The verifier and the in-memory backend.
  verify: {
    mutate: ['host/verify.ts', 'host/backend.ts'],
    spec: ['mutants-verify', 'verify', 'verify-many', 'verifier', 'sas'],
  },
  // The firmware's device logic, as compiled for the host (api.ts, main.ts and native.ts run only on XS).
  device: {
    mutate: ['device/src/device.ts', 'device/src/hardware.ts', 'device/src/service.ts'],
    spec: ['mutants-device', 'verify', 'verifier', 'conformance'],
  },
  // Escrow stores: file vault, envelopes, locks, PostgreSQL, PKCS#11 KEKs, the HSM keyring.
  escrow: {
    mutate: ['host/escrow/**/*.ts', '!host/escrow/public.ts'],
    spec: ['mutants-escrow', 'mutants-escrow-pg', 'mutants-escrow-faults', 'escrow', 'escrow-contract', 'escrow-envelope', 'escrow-leftovers', 'escrow-nonces', 'audit-chain', 'hsm-verify', 'atomic'],
  },
  // The store rules every backend shares (merge rule, record checks): a quick subset of `escrow`.
  'escrow-store': {
    mutate: ['host/escrow/store.ts'],
    spec: ['mutants-escrow', 'escrow-nonces', 'escrow-contract'],
  },
  // Provisioning on the in-memory eFuse (test/support/memory-efuse.ts) with a file vault and audit
  // log: no Python, no emulator, no PostgreSQL. Left out by its grep: the contract's virtual-chip and
  // port cases and the parallel run on virtual chips (espefuse), and the PostgreSQL audit check;
  // provision.test.ts and provision-pg.test.ts drive the same code through espefuse and PostgreSQL.
  provision: {
    mutate: ['host/provision/**/*.ts'],
    spec: ['mutants-provision', 'provision-resume', 'provision-batch', 'efuse-contract', 'audit-chain', 'provision-parallel'],
    grep: '/^(?!eFuse controller contract: virtual chip|eFuse controllers for a port|provision --parallel: several ports in one station 4 virtual chips|tamper-evident audit PostgreSQL)/',
  },
  // The espefuse code: by default only the fast tests without Python (mutants-espefuse: the summary
  // parser, side file, locating espefuse, the driver's command mode against a shell-script espefuse;
  // mutants-espefuse-worker: worker.ts and the driver's sessions against a stand-in worker.py written
  // in Node, and its process handling in command mode; keyfiles). STRYKER_PYTHON=1 adds the tests that
  // run the real worker.py and espefuse (espefuse-driver, provision; they need .venv in the sandbox).
  espefuse: {
    mutate: ['host/espefuse/**/*.ts'],
    spec: ['mutants-espefuse', 'mutants-espefuse-worker', 'keyfiles', ...(process.env.STRYKER_PYTHON === '1' ? ['espefuse-driver', 'provision'] : [])],
  },
};

/** Whether the group's tests run espefuse in Python, and so need the virtualenv in the sandbox. */
const python = group === 'espefuse' && process.env.STRYKER_PYTHON === '1';

const g = GROUPS[group];
if (!g) throw new Error(`STRYKER_GROUP must be one of ${Object.keys(GROUPS).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  mutate: g.mutate,
  testRunner: 'mocha',
  mochaOptions: {
    spec: g.spec.filter((s) => existsSync(`test/${s}.test.ts`)).map((s) => `dist/test/${s}.test.js`),
    grep: g.grep ?? IN_MEMORY,
  },
  buildCommand: 'npx tsc -p tsconfig.json',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  // Static mutants (in code run once at module load: tables, frozen constants) need a fresh test
  // process each, with every test of the group: ~50 % of the time for ~25 % of the mutants. They are
  // left out of the routine run (reported as Ignored); STRYKER_STATIC=1 includes them.
  ignoreStatic: process.env.STRYKER_STATIC !== '1',
  // Two cores, shared with the checker and the servers some tests start.
  concurrency: 2,
  timeoutMS: 10_000,
  timeoutFactor: 2,
  incremental: true,
  incrementalFile: `mutation/${group}.json`,
  // The sandbox needs the sources, tests and tsconfig; not the virtualenv or build outputs
  // (groups whose tests run espefuse in Python put the virtualenv back).
  ignorePatterns: ['dist', 'emulator/build', 'reports', 'mutation', '.efuse-attest', '.stryker-tmp', ...(python ? [] : ['.venv'])],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${group}.html` },
  jsonReporter: { fileName: `reports/mutation/${group}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
