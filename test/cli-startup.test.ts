// CLI start-up (docs/performance.md §10): a command's module, and the packages only it needs, are
// loaded when that command runs, so `--help` and an offline `verify` do not load the serial binding,
// PostgreSQL, Redis or PKCS#11. Checked in a fresh Node process through require.cache, where the
// CommonJS packages land when ESM imports them. The lazy table's summaries are the commands' own.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevice } from '../device/src/device.js';
import { commands } from '../host/cli/commands/index.js';
import { attestationToJson } from '../host/serialize.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';
import { ROOT } from './support/vectors.js';

const HEAVY = /node_modules\/(pg|pg-[a-z]+|ioredis|pkcs11js|@serialport\/[a-z-]+)\//;

/** Runs the CLI's main() with `args` in a fresh process; returns its exit code and the packages it loaded. */
function loadedBy(args: string[]): { code: number; heavy: string[] } {
  const script = `
    import { createRequire } from 'node:module';
    const { main } = await import(${JSON.stringify(join(ROOT, 'dist/host/cli/main.js'))});
    const code = await main(${JSON.stringify(args)});
    const heavy = Object.keys(createRequire(import.meta.url).cache).filter((p) => ${HEAVY}.test(p));
    process.stderr.write('\\n' + JSON.stringify({ code, heavy }) + '\\n');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  const last = r.stderr.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as { code: number; heavy: string[] };
}

describe('CLI start-up', function () {
  this.timeout(120_000);
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'efa-startup-')); });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('--help and help <command> load none of the serial, database, Redis or PKCS#11 packages', () => {
    for (const args of [['--help'], ['help', 'verify'], ['verify', '--help']]) {
      const r = loadedBy(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.deepEqual(r.heavy, [], args.join(' '));
    }
  });

  it('verify of one saved attestation loads none of them either', () => {
    const dev = createDevice(softChip({ keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } }));
    const nonce = new Uint8Array(randomBytes(32));
    const att = join(dir, 'att.json');
    const key = join(dir, 'key.bin');
    writeFileSync(att, JSON.stringify(attestationToJson({ nonce, response: dev.attest(nonce) })));
    writeFileSync(key, TEST_KEY);
    const r = loadedBy(['verify', '--attestation', att, '--key', key, '--json']);
    assert.equal(r.code, 0);
    assert.deepEqual(r.heavy, []);
  });

  it('a command that opens a port still loads the serial binding (when it runs)', () => {
    const r = loadedBy(['ping', '--port', join(dir, 'no-such-port'), '--json']);
    assert.notEqual(r.code, 0);
    assert.ok(r.heavy.some((p) => p.includes('@serialport/bindings-cpp')), 'the binding was loaded to open the port');
  });

  it("the table's names and summaries are the commands' own", async () => {
    for (const entry of commands) {
      const c = await entry.load();
      assert.equal(c.name, entry.name);
      assert.equal(c.summary, entry.summary, entry.name);
    }
  });
});
