// Provisioning against the PostgreSQL escrow, as stations run it: the built CLI with
// --escrow postgres://… on a real server (test/support/postgres.ts), the real espefuse on virtual
// chips. A SIGKILL after every step and a resume (docs/provisioning.md §2.1) on this store; two
// station processes racing on one device id (a clone: two chips, one MAC), of which exactly one
// burns; a station killed mid-run whose device another station then finishes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { toHex } from '../protocol/index.js';
import { EXIT } from '../host/errors.js';
import { PgStore } from '../host/escrow/pg.js';
import type { EscrowState } from '../host/escrow/store.js';
import { Espefuse } from '../host/espefuse/driver.js';
import { isBurnedHmacUp, keyBlock } from '../host/espefuse/summary.js';
import { createVirtualChip, readSilicon } from '../host/espefuse/virtual.js';
import { AuditLog } from '../host/provision/audit.js';
import { defaultChallenge } from '../host/provision/challenge.js';
import { provisionDevice, type ProvisionResult, type Step, STEPS } from '../host/provision/sequence.js';
import { AFTER_CRASH, crashAfter } from './support/crash.js';
import type { CrashRun } from './support/crash-run.js';
import { MemoryEfuse } from './support/memory-efuse.js';
import { freshDatabase, havePostgres } from './support/postgres.js';
import { ROOT } from './support/vectors.js';

const PASS = 'station test passphrase';
const BLOCK = 'BLOCK_KEY0';

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** The built CLI. */
function efa(args: string[]): Promise<Run> {
  return run([ROOT + 'dist/host/cli/bin.js', ...args]);
}

/** The library's provisioning of one virtual chip, killed (SIGKILL) right after `c.step` (support/crash-run.ts). */
function crashRun(c: CrashRun): Promise<Run> {
  return run([ROOT + 'dist/test/support/crash-run.js', JSON.stringify(c)]);
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, EFUSE_ATTEST_PASSPHRASE: PASS }, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args.join(' ')} timed out`)); }, 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    child.stdin.end();
  });
}

const devicesOf = (r: Run): ProvisionResult[] => {
  const j = JSON.parse(r.stdout) as { ok: boolean; result?: { devices: ProvisionResult[] } };
  return j.result?.devices ?? [];
};

describe('provision with the PostgreSQL escrow (stations)', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'efa-station-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const workdir = () => { const d = join(dir, `w${++n}`); mkdirSync(d); return d; };
  const stores: PgStore[] = [];
  after(async () => { for (const s of stores) await s.close(); });
  before(function () { if (!havePostgres()) this.skip(); });

  const open = async (url: string) => { const s = await PgStore.open(url, { passphrase: PASS }); stores.push(s); return s; };
  /** A new escrow database whose passphrase KEK uses scrypt's lowest accepted cost: every station run derives it. */
  const database = async (prefix: string) => {
    const url = await freshDatabase(prefix);
    await (await PgStore.open(url, { passphrase: PASS, kdf: { log2N: 14, r: 8, p: 1 } })).close();
    return url;
  };

  /** A burned block has its key in the database, and it is the silicon's key. */
  async function invariant(store: PgStore, chip: string, image: string): Promise<{ burned: boolean; state?: EscrowState; key?: Uint8Array }> {
    const s = await new Espefuse(chip, { kind: 'virt', image }, { session: false }).summary();
    const k = keyBlock(s, BLOCK);
    const rec = await store.get(s.mac, BLOCK);
    if (!k.unused) {
      assert.ok(isBurnedHmacUp(k));
      assert.ok(rec, 'a burned block has its escrow record');
      assert.equal(toHex(rec.key), (await readSilicon(image))?.keys[BLOCK]);
    }
    return { burned: !k.unused, ...(rec ? { state: rec.state, key: rec.key } : {}) };
  }

  describe('a crash (SIGKILL) after any step, then the same command again', () => {
    let url: string;
    before(async () => { url = await database('crash'); });

    /**
     * One step's crash and resume. Steps before the challenge run with --no-challenge (the emulator's
     * start-up is the dearest part and the file-vault matrix covers the challenge after each step):
     * their resume ends burned-unverified, the record "burned".
     */
    async function crashAndResume(step: Step): Promise<void> {
      const d = workdir();
      const chip = step.length % 2 === 0 ? 'esp32s3' : 'esp32c3';
      const c = await createVirtualChip({ chip, out: join(d, 'chip.bin') });
      const challenged = step === 'challenge' || step === 'mark-verified';
      const args = ['provision', '--virt', c.image, '--chip', chip, '--yes', '--json', '--escrow', url, '--audit', join(d, 'audit.jsonl'),
        ...(challenged ? [] : ['--no-challenge'])];
      const crashed = await crashRun({ step, chip, image: c.image, escrow: url, audit: join(d, 'audit.jsonl'), challenge: challenged });
      assert.equal(crashed.signal, 'SIGKILL', `${step}: ${crashed.stdout}${crashed.stderr}`);
      const store = await open(url);
      const mid = await invariant(store, chip, c.image);
      assert.equal(mid.burned, AFTER_CRASH[step].burned, `${step}: burned`);
      assert.equal(mid.state, AFTER_CRASH[step].state, `${step}: state`);
      const resumed = await efa(args);
      assert.equal(resumed.code, EXIT.OK, `${step}: ${resumed.stdout}${resumed.stderr}`);
      const want = challenged ? AFTER_CRASH[step].resumed : 'burned-unverified';
      assert.equal(devicesOf(resumed)[0]?.outcome, want, `${step}: outcome`);
      const end = await invariant(store, chip, c.image);
      assert.ok(end.burned);
      assert.equal(end.state, challenged ? 'verified' : 'burned', `${step}: final state`);
      if (mid.key) assert.deepEqual(end.key, mid.key, `${step}: the key escrowed before the crash is the one burned`);
    }

    // Real processes on real espefuse for a few steps, on both chip kinds; every step below in-process.
    const KILLED: Step[] = ['keygen', 'burn', 'mark-burned', 'challenge'];
    it(`after each of ${KILLED.join(', ')}: every burned key is in the database and decrypts; the resume finishes with that key`, async function () {
      this.timeout(120_000);
      // Four stations at a time on one database: the steps are independent devices.
      await Promise.all(KILLED.map((s) => crashAndResume(s)));
    });

    for (const step of STEPS) {
      it(`in-process, in-memory eFuse, after ${step}: the claim left behind is this station's, the resume finishes with the escrowed key`, async () => {
        const chip = step.length % 2 === 0 ? 'esp32s3' : 'esp32c3';
        const ef = new MemoryEfuse({ chip });
        const store = await open(url);
        const common = { efuse: ef, store, audit: new AuditLog(join(workdir(), 'audit.jsonl')), block: BLOCK, challenge: defaultChallenge({ timeoutMs: 1000 }) };
        await crashAfter(step, common);
        const state = async () => {
          const k = keyBlock(await ef.summary(), BLOCK);
          const rec = await store.get(ef.mac, BLOCK);
          if (!k.unused) {
            assert.ok(isBurnedHmacUp(k));
            assert.equal(toHex(rec!.key), toHex(ef.keyIn(BLOCK)!), 'a burned block has its key in the database, the silicon\'s');
          }
          return { burned: !k.unused, state: rec?.state, key: rec?.key };
        };
        const mid = await state();
        assert.equal(mid.burned, AFTER_CRASH[step].burned);
        assert.equal(mid.state, AFTER_CRASH[step].state);
        const resumed = await provisionDevice(common);
        assert.equal(resumed.outcome, AFTER_CRASH[step].resumed, JSON.stringify(resumed.error));
        assert.equal(ef.burns, 1);
        const end = await state();
        assert.equal(end.state, 'verified');
        if (mid.key) assert.deepEqual(end.key, mid.key);
        assert.equal((await store.auditRows()).filter((r) => r.action === 'claim' && r.deviceId === ef.mac).length, 0, 'no takeover: the claim was this station\'s');
      });
    }
  });

  it('two station processes race on one device id (two chips, one MAC): exactly one burns, the other is refused', async () => {
    const url = await database('race');
    const d = workdir();
    const mac = '02:aa:00:00:00:01';
    const a = await createVirtualChip({ chip: 'esp32s3', out: join(d, 'a.bin'), mac });
    const b = await createVirtualChip({ chip: 'esp32s3', out: join(d, 'b.bin'), mac });
    const run = (image: string) => efa(['provision', '--virt', image, '--chip', 'esp32s3', '--yes', '--json', '--no-challenge', '--escrow', url, '--audit', join(d, 'audit.jsonl')]);
    const [ra, rb] = await Promise.all([run(a.image), run(b.image)]);
    const burned = [];
    for (const [img, r] of [[a.image, ra], [b.image, rb]] as const) {
      const s = await new Espefuse('esp32s3', { kind: 'virt', image: img }, { session: false }).summary();
      if (!keyBlock(s, BLOCK).unused) burned.push(img);
      else assert.equal(r.code, EXIT.ESCROW, `the station that did not burn was refused by the escrow: ${r.stdout}${r.stderr}`);
    }
    assert.equal(burned.length, 1, `exactly one chip burned: ${JSON.stringify([ra.stdout, rb.stdout])}`);
    const store = await open(url);
    const rec = await store.get(a.deviceId, BLOCK);
    assert.equal(toHex(rec!.key), (await readSilicon(burned[0]!))?.keys[BLOCK]);
  });

  it('a station killed mid-run: another station finishes its device with the escrowed key', async () => {
    const url = await database('takeover');
    const d = workdir();
    const c = await createVirtualChip({ chip: 'esp32c3', out: join(d, 'chip.bin') });
    const args = (audit: string) => ['provision', '--virt', c.image, '--chip', 'esp32c3', '--yes', '--json', '--escrow', url, '--audit', audit];
    // Station 1 dies right after escrowing (its claim on the device still in the database).
    const killed = await crashRun({ step: 'escrow', chip: 'esp32c3', image: c.image, escrow: url, audit: join(d, 'station1.jsonl') });
    assert.equal(killed.signal, 'SIGKILL');
    const store = await open(url);
    const before = await store.get(c.deviceId, BLOCK);
    assert.equal(before?.state, 'escrowed');
    const other = await efa(args(join(d, 'station2.jsonl')));
    assert.equal(other.code, EXIT.OK, other.stdout + other.stderr);
    assert.equal(devicesOf(other)[0]?.outcome, 'resumed');
    const end = await invariant(store, 'esp32c3', c.image);
    assert.equal(end.state, 'verified');
    assert.deepEqual(end.key, before!.key);
    const takeover = (await store.auditRows()).filter((r) => r.action === 'claim');
    assert.equal(takeover.length, 1);
    assert.match(takeover[0]!.detail ?? '', /its process is gone/);
  });

  it('a live station\'s claim: a second station is refused with ESCROW_BUSY and touches nothing', async () => {
    const url = await database('busy');
    const d = workdir();
    const c = await createVirtualChip({ chip: 'esp32s3', out: join(d, 'chip.bin') });
    const holder = await open(url);
    await holder.claim(c.deviceId, BLOCK); // this test process is the live station holding it
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32s3', '--yes', '--json', '--escrow', url, '--audit', join(d, 'a.jsonl')]);
    assert.equal(r.code, EXIT.ESCROW);
    assert.equal(devicesOf(r).length === 0 ? (JSON.parse(r.stdout) as { error: { code: string } }).error.code : devicesOf(r)[0]?.error?.code, 'ESCROW_BUSY');
    assert.ok(keyBlock(await new Espefuse('esp32s3', { kind: 'virt', image: c.image }, { session: false }).summary(), BLOCK).unused);
    assert.equal(await holder.get(c.deviceId, BLOCK), undefined);
    await holder.release(c.deviceId, BLOCK);
  });

  it('--dry-run against a database without an escrow yet reads the device and creates nothing', async () => {
    const url = await freshDatabase('dry');
    const d = workdir();
    const c = await createVirtualChip({ chip: 'esp32s3', out: join(d, 'chip.bin') });
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32s3', '--dry-run', '--json', '--escrow', url]);
    assert.equal(r.code, EXIT.OK, r.stdout + r.stderr);
    const dev = (JSON.parse(r.stdout) as { result: { devices: { plan: string; deviceId: string }[] } }).result.devices[0]!;
    assert.deepEqual([dev.plan, dev.deviceId], ['burn-new', c.deviceId]);
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    const { rows } = await probe.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE tablename LIKE 'efa_%'");
    await probe.end();
    assert.equal(Number(rows[0]!.n), 0, 'no table was created');
  });
});
