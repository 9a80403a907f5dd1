// One espefuse session per device (docs/provisioning.md §2.4), with the real espefuse of the project's
// virtualenv on virtual chips: provisionDevice reads, burns and re-reads over one espefuse process and
// ends it; the key never reaches a command line, the environment or a file; espefuse's "Aborting." is
// still a burn not made; espefuse's own message is in every failure; a session that dies fails the
// device clearly, and a session whose parent dies ends instead of lingering.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { toHex } from '../protocol/index.js';
import { VirtualChipEfuse } from '../host/efuse/virtual-chip.js';
import { EspefuseError } from '../host/errors.js';
import { FileVault } from '../host/escrow/vault.js';
import { Espefuse, keyDirBase } from '../host/espefuse/driver.js';
import { espefusePython, findEspefuse, workerScript } from '../host/espefuse/locate.js';
import { isBurnedHmacUp, keyBlock } from '../host/espefuse/summary.js';
import { createVirtualChip } from '../host/espefuse/virtual.js';
import { AuditLog } from '../host/provision/audit.js';
import { provisionDevice } from '../host/provision/sequence.js';
import { ROOT } from './support/vectors.js';

const BLOCK = 'BLOCK_KEY0';

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function gone(pid: number, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (!alive(pid)) return true;
  return !alive(pid);
}

/** A "python" for the worker: the virtualenv's, running `patch` (Python, one statement a line) first. */
function pythonWith(dir: string, name: string, patch: string): string {
  const python = espefusePython(findEspefuse());
  assert.ok(python, 'the virtualenv espefuse names its Python');
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh
exec '${python}' -c '
import runpy, sys
${patch}
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
' "$@"
`);
  chmodSync(path, 0o700);
  return path;
}

describe('espefuse session: one process and one connection per device', function () {
  this.timeout(60_000);
  let dir = '';
  let n = 0;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'efa-session-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const chip = async (name = `c${++n}`) => (await createVirtualChip({ chip: 'esp32s3', out: join(dir, `${name}.bin`) })).image;

  it('worker.py is found beside the sources and is in the package', () => {
    const script = workerScript();
    assert.ok(script && existsSync(script), 'worker.py is found');
    const files = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;
    assert.ok(files.includes(relative(ROOT, script)), `package.json "files" lists ${relative(ROOT, script)}`);
  });

  it('provisionDevice: read, burn and re-read over one espefuse process, ended when the device is done', async () => {
    const image = await chip();
    const vault = new FileVault(join(dir, 'v1.vault'), { passphrase: 'session test' });
    const efuse = new VirtualChipEfuse('esp32s3', image);
    const ef = efuse.espefuse;
    const pids = new Set<number>();
    const seen: { cmdline: string; environ: string }[] = [];
    const saved = process.env.EFUSE_ATTEST_PASSPHRASE;
    process.env.EFUSE_ATTEST_PASSPHRASE = 'passphrase-in-env';
    let r;
    try {
      r = await provisionDevice({
        efuse, store: vault, audit: new AuditLog(join(dir, 'a1.jsonl')), block: BLOCK, challenge: null,
        onStep: () => {
          const pid = ef.connection.pid;
          if (pid === undefined) return;
          pids.add(pid);
          seen.push({ cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8'), environ: readFileSync(`/proc/${pid}/environ`, 'utf8') });
        },
      });
    } finally {
      if (saved === undefined) delete process.env.EFUSE_ATTEST_PASSPHRASE; else process.env.EFUSE_ATTEST_PASSPHRASE = saved;
    }
    assert.equal(r.outcome, 'burned-unverified', JSON.stringify(r.error));
    assert.deepEqual(ef.connection, { mode: 'session', processes: 1 }, 'one espefuse process, no longer running');
    assert.equal(pids.size, 1, 'the same worker from the read to the check');
    assert.ok(await gone([...pids][0]!), 'the worker has exited');

    const rec = await vault.get(r.deviceId!, BLOCK);
    const hex = toHex(rec!.key);
    for (const s of seen) {
      assert.match(s.cmdline, /worker\.py/);
      assert.ok(!s.cmdline.includes(hex) && !s.environ.includes(hex), 'the key is on no command line and in no environment');
      assert.doesNotMatch(s.environ, /EFUSE_ATTEST_PASSPHRASE|passphrase-in-env/);
    }
    const check = new Espefuse('esp32s3', { kind: 'virt', image });
    try { assert.ok(isBurnedHmacUp(keyBlock(await check.summary(), BLOCK))); } finally { await check.close(); }
  });

  it('summary, burnKey, summary: one worker, no key file anywhere, close() idempotent, then a new session', async () => {
    const image = await chip();
    const ef = new Espefuse('esp32s3', { kind: 'virt', image });
    const created: string[] = [];
    const watcher = watch(keyDirBase(), (_e, name) => { if (name && String(name).startsWith(`efuse-attest-key-${process.pid}-`)) created.push(String(name)); });
    try {
      assert.ok(keyBlock(await ef.summary(), BLOCK).unused);
      const pid = ef.connection.pid!;
      const after = await ef.burnKey(BLOCK, new Uint8Array(randomBytes(32)));
      assert.ok(isBurnedHmacUp(keyBlock(after, BLOCK)));
      assert.ok(isBurnedHmacUp(keyBlock(await ef.summary(), BLOCK)));
      assert.deepEqual(ef.connection, { mode: 'session', processes: 1, pid });
      await ef.close();
      await ef.close();
      assert.ok(await gone(pid));
      assert.ok(isBurnedHmacUp(keyBlock(await ef.summary(), BLOCK)), 'a call after close() opens a new session');
      assert.equal(ef.connection.processes, 2);
    } finally {
      watcher.close();
      await ef.close();
    }
    assert.deepEqual(created, [], 'no key directory was made');
  });

  it('espefuse answering "Aborting." (exit status 0 on the command line) is BURN_UNCONFIRMED, nothing burned', async () => {
    const image = await chip();
    // The real espefuse in the worker, its BURN prompt asked and answered "burn": it prints
    // "Aborting." and exits 0 from inside burn_key, as on a terminal.
    const wrapper = pythonWith(dir, 'python-answers-burn', `import builtins
import espefuse.efuse.base_fields as f
ask = f.EspEfusesBase.confirm
f.EspEfusesBase.confirm = staticmethod(lambda action, do_not_confirm: ask(action, False))
builtins.input = lambda *a: "burn"`);
    const ef = new Espefuse('esp32s3', { kind: 'virt', image }, { python: wrapper });
    try {
      await assert.rejects(ef.burnKey(BLOCK, new Uint8Array(randomBytes(32))), (e: unknown) => {
        assert.ok(e instanceof EspefuseError, String(e));
        assert.equal(e.code, 'BURN_UNCONFIRMED');
        assert.match(e.message, /espefuse reported success but BLOCK_KEY0 .* not HMAC_UP and read-protected/);
        return true;
      });
      assert.equal(ef.connection.mode, 'session');
      assert.equal(ef.connection.processes, 1);
    } finally {
      await ef.close();
    }
    const check = new Espefuse('esp32s3', { kind: 'virt', image });
    try { assert.ok(keyBlock(await check.summary(), BLOCK).unused, 'the block is still unused'); } finally { await check.close(); }
  });

  it("a failure carries espefuse's own message, and the session goes on", async () => {
    const image = await chip();
    const ef = new Espefuse('esp32s3', { kind: 'virt', image });
    try {
      const key = new Uint8Array(randomBytes(32));
      await ef.burnKey(BLOCK, key);
      const pid = ef.connection.pid;
      // No preflight here: espefuse itself refuses to burn a read-protected block again.
      await assert.rejects(ef.burnKey(BLOCK, key), (e: unknown) => {
        assert.ok(e instanceof EspefuseError, String(e));
        assert.equal(e.code, 'ESPEFUSE_FAILED');
        assert.match(e.message, /^espefuse burn-key on virt .* failed: BLOCK_KEY0 is read-protected\. The written value can not be read/);
        assert.ok(!e.message.includes(toHex(key)));
        return true;
      });
      assert.ok(isBurnedHmacUp(keyBlock(await ef.summary(), BLOCK)));
      assert.equal(ef.connection.pid, pid, 'the same worker');
    } finally {
      await ef.close();
    }
    const port = new Espefuse('esp32s3', { kind: 'port', port: join(dir, 'no-such-port') });
    try {
      await assert.rejects(port.summary(), (e: unknown) => {
        assert.ok(e instanceof EspefuseError, String(e));
        assert.equal(e.code, 'ESPEFUSE_FAILED');
        assert.match(e.message, /^espefuse summary on port .*no-such-port failed: .*could not open port .*no-such-port/);
        return true;
      });
      assert.equal(port.connection.pid, undefined, 'a session that could not connect is ended');
    } finally {
      await port.close();
    }
  });

  it('a worker killed between steps or during one fails that call with ESPEFUSE_EXITED; the next call opens a new session', async () => {
    const image = await chip();
    const ef = new Espefuse('esp32s3', { kind: 'virt', image });
    try {
      await ef.summary();
      const first = ef.connection.pid!;
      process.kill(first, 'SIGKILL');
      assert.ok(await gone(first));
      await assert.rejects(ef.burnKey(BLOCK, new Uint8Array(randomBytes(32))), (e: unknown) => {
        assert.ok(e instanceof EspefuseError, String(e));
        assert.equal(e.code, 'ESPEFUSE_EXITED');
        assert.match(e.message, new RegExp(`^the espefuse session on virt .* ended unexpectedly \\(pid ${first}, SIGKILL\\); burn-key was not run`));
        return true;
      });
      assert.ok(keyBlock(await ef.summary(), BLOCK).unused, 'nothing was burned; a new session reads the chip');
      const second = ef.connection.pid!;
      assert.notEqual(second, first);
      const pending = ef.summary(); // re-reads the chip: the worker is busy when it is killed
      process.kill(second, 'SIGKILL');
      await assert.rejects(pending, (e: unknown) => {
        assert.ok(e instanceof EspefuseError, String(e));
        assert.equal(e.code, 'ESPEFUSE_EXITED');
        assert.match(e.message, new RegExp(`^espefuse summary on virt .* did not finish: its espefuse process \\(pid ${second}\\) exited \\(SIGKILL\\)`));
        return true;
      });
      assert.equal(ef.connection.processes, 2);
    } finally {
      await ef.close();
    }
  });

  it('a read that times out is killed with its worker; a burn that times out is left to finish, and does', async function () {
    this.timeout(90_000);
    const image = await chip();
    const slowRead = pythonWith(dir, 'python-slow-summary', `import time
import espefuse.efuse.base_operations as b
summary = b.BaseCommands.summary
b.BaseCommands.summary = lambda self, *a, **k: (time.sleep(60), summary(self, *a, **k))[1]`);
    const reader = new Espefuse('esp32s3', { kind: 'virt', image }, { python: slowRead, timeoutMs: 4000 });
    let pid: number | undefined;
    const timer = setInterval(() => { pid ??= reader.connection.pid; }, 20);
    try {
      await assert.rejects(reader.summary(), (e: unknown) => {
        assert.ok(e instanceof EspefuseError, String(e));
        assert.equal(e.code, 'ESPEFUSE_TIMEOUT');
        assert.match(e.message, /^espefuse summary on virt .* did not finish within 4 s$/);
        return true;
      });
    } finally {
      clearInterval(timer);
      await reader.close();
    }
    assert.ok(pid !== undefined && await gone(pid), 'the worker was killed');

    const slowBurn = pythonWith(dir, 'python-slow-burn', `import time
import espefuse.efuse.esp32s3.operations as o
burn = o.ESP32S3Commands.burn_key
o.ESP32S3Commands.burn_key = lambda self, *a, **k: (time.sleep(8), burn(self, *a, **k))[1]`);
    const burner = new Espefuse('esp32s3', { kind: 'virt', image }, { python: slowBurn, timeoutMs: 4000 });
    try {
      assert.ok(keyBlock(await burner.summary(), BLOCK).unused);
      const worker = burner.connection.pid!;
      await assert.rejects(burner.burnKey(BLOCK, new Uint8Array(randomBytes(32))), (e: unknown) => {
        assert.ok(e instanceof EspefuseError, String(e));
        assert.equal(e.code, 'ESPEFUSE_TIMEOUT');
        assert.match(e.message, /^espefuse burn-key on virt .* did not finish within 4 s; it was left running: do not disconnect the chip, and re-read its eFuses/);
        return true;
      });
      assert.ok(alive(worker), 'the burn was not killed');
      assert.ok(await gone(worker, 30_000), 'the worker exits once its burn is done');
    } finally {
      await burner.close();
    }
    const check = new Espefuse('esp32s3', { kind: 'virt', image }, { session: false });
    assert.ok(isBurnedHmacUp(keyBlock(await check.summary(), BLOCK)), 'the burn finished');
  });

  it('a worker whose parent is killed ends on its own (end of input), the chip image untouched by it afterwards', async () => {
    const image = await chip();
    const script = `
      import { Espefuse } from ${JSON.stringify(join(ROOT, 'dist/host/espefuse/driver.js'))};
      const ef = new Espefuse('esp32s3', { kind: 'virt', image: ${JSON.stringify(image)} });
      await ef.summary();
      process.stdout.write(String(ef.connection.pid) + '\\n', () => process.kill(process.pid, 'SIGKILL'));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const signal = await new Promise((resolve) => child.on('close', (_c, s) => resolve(s)));
    assert.equal(signal, 'SIGKILL');
    const pid = Number(out.trim());
    assert.ok(Number.isInteger(pid) && pid > 0, out);
    assert.ok(await gone(pid), 'the orphaned worker exited');
    assert.ok(existsSync(image));
  });
});
