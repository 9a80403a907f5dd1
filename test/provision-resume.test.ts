// Resuming after a crash at any point (docs/provisioning.md §2.1, §2.2), in-process and fast: the
// provisioning sequence on an in-memory eFuse (support/memory-efuse.ts, held to the real espefuse by
// efuse-contract.test.ts) with a real file vault and a real audit log. The "crash" is the step
// callback, called once a step's audit line is on disk: from then on the store and the audit log
// accept nothing more — no failure line, no cleanup — as when the process dies there. Then the same
// provisioning again. For every step and both chip kinds: every burned key is escrowed and is the key
// the silicon holds, the resume finishes with that key, and the outcome is the one §2.2 gives.
// provision.test.ts kills real processes (SIGKILL) on virtual chips for a few of these steps.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EscrowState } from '../host/escrow/store.js';
import { FileVault } from '../host/escrow/vault.js';
import { isBurnedHmacUp, keyBlock } from '../host/espefuse/summary.js';
import { AuditLog, type AuditEntry, verifyAuditFile } from '../host/provision/audit.js';
import { defaultChallenge } from '../host/provision/challenge.js';
import { provisionDevice, STEPS } from '../host/provision/sequence.js';
import { AFTER_CRASH, crashAfter } from './support/crash.js';
import { MemoryEfuse } from './support/memory-efuse.js';

const PASS = 'resume test passphrase';
const BLOCK = 'BLOCK_KEY0';


const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const lines = (path: string): AuditEntry[] => existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AuditEntry) : [];

describe('provision: a crash after any step, then the same provisioning again (in-process, in-memory eFuse)', function () {
  this.timeout(20_000);
  const dir = mkdtempSync(join(tmpdir(), 'efa-resume-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // One vault for the matrix: scrypt runs once per vault instance, and the records are per device.
  const vaultPath = join(dir, 'escrow.vault');
  const vault = new FileVault(vaultPath, { passphrase: PASS, kdf: { log2N: 14 } });
  const challenge = defaultChallenge({ timeoutMs: 1000, retries: 0 });

  /** The safety invariant: a burned block is HMAC_UP and read-protected, its key escrowed and the silicon's. */
  async function invariant(ef: MemoryEfuse): Promise<{ burned: boolean; state?: EscrowState; key?: Uint8Array }> {
    const k = keyBlock(await ef.summary(), BLOCK);
    const rec = await vault.get(ef.mac, BLOCK);
    if (!k.unused) {
      assert.ok(isBurnedHmacUp(k), `${BLOCK} is burned HMAC_UP and read-protected`);
      assert.ok(rec, 'a burned block has its escrow record');
      assert.equal(hex(rec.key), hex(ef.keyIn(BLOCK)!), 'the escrowed key is the key the silicon holds');
    }
    return { burned: !k.unused, ...(rec ? { state: rec.state, key: rec.key } : {}) };
  }

  for (const chip of ['esp32s3', 'esp32c3']) {
    for (const step of STEPS) {
      it(`${chip}, after ${step}: every burned key is escrowed and is the silicon's; the resume finishes with that key (${AFTER_CRASH[step].resumed})`, async () => {
        const ef = new MemoryEfuse({ chip });
        const auditPath = join(dir, `${chip}-${step}.jsonl`);
        const common = { efuse: ef, store: vault, audit: new AuditLog(auditPath), block: BLOCK, challenge };
        await crashAfter(step, common);
        const last = lines(auditPath).at(-1);
        assert.equal(`${last?.step}:${last?.outcome}`, `${step}:ok`, 'the crashed step was logged, and nothing after it');
        const want = AFTER_CRASH[step];
        const mid = await invariant(ef);
        assert.equal(mid.burned, want.burned, 'block burned after the crash');
        assert.equal(mid.state, want.state, 'escrow state after the crash');
        assert.equal(existsSync(vaultPath + '.lock'), false, 'no vault lock left behind');

        const resumed = await provisionDevice(common);
        assert.equal(resumed.outcome, want.resumed, JSON.stringify(resumed.error));
        assert.equal(resumed.burned, !want.burned, 'the resume burns only what was not burned');
        assert.equal(ef.burns, 1, 'one burn in all');
        const end = await invariant(ef);
        assert.ok(end.burned);
        assert.equal(end.state, 'verified');
        // No key was replaced: the key escrowed before the crash is the one burned and verified.
        if (mid.key) assert.deepEqual(end.key, mid.key);
        await challenge({ efuse: ef, chip, deviceId: ef.mac, block: BLOCK, slot: 0 }, end.key!);
        const text = readFileSync(auditPath, 'utf8');
        for (const r of [hex(end.key!), hex(end.key!).toUpperCase(), Buffer.from(end.key!).toString('base64')]) assert.ok(!text.includes(r), 'no key in the audit log');
        const chain = await verifyAuditFile(auditPath);
        assert.equal(chain.ok, true, 'the audit chain is intact across the crash');
      });
    }
  }

  for (const step of STEPS.slice(0, STEPS.indexOf('challenge'))) {
    it(`without a challenge, after ${step}: the resume ends burned-unverified with the record "burned"`, async () => {
      const ef = new MemoryEfuse({ chip: 'esp32c3' });
      const common = { efuse: ef, store: vault, audit: new AuditLog(join(dir, `nc-${step}.jsonl`)), block: BLOCK, challenge: null };
      await crashAfter(step, common);
      const mid = await invariant(ef);
      assert.equal(mid.burned, AFTER_CRASH[step].burned);
      assert.equal(mid.state, AFTER_CRASH[step].state);
      const resumed = await provisionDevice(common);
      assert.equal(resumed.outcome, 'burned-unverified', JSON.stringify(resumed.error));
      assert.equal(resumed.state, 'burned');
      assert.equal(ef.opened, 0, 'the device was never opened');
      const end = await invariant(ef);
      assert.equal(end.state, 'burned');
      if (mid.key) assert.deepEqual(end.key, mid.key);
    });
  }

  it('a device verified by an earlier run, run again without a challenge: already-provisioned, still "verified", nothing burned or opened', async () => {
    const ef = new MemoryEfuse({ chip: 'esp32c3' });
    const common = { efuse: ef, store: vault, audit: new AuditLog(join(dir, 'nc-verified.jsonl')), block: BLOCK };
    assert.equal((await provisionDevice({ ...common, challenge })).outcome, 'provisioned');
    const opened = ef.opened;
    const again = await provisionDevice({ ...common, challenge: null });
    assert.deepEqual([again.outcome, again.state, again.burned], ['already-provisioned', 'verified', false], JSON.stringify(again.error));
    assert.equal(ef.opened, opened);
    assert.equal((await invariant(ef)).state, 'verified');
  });

  describe('a burn that fails', () => {
    it('espefuse fails before any fuse changes: failed, the key stays escrowed; the next run burns that key', async () => {
      const ef = new MemoryEfuse({ chip: 'esp32s3' });
      ef.failNextBurn('refuse');
      const common = { efuse: ef, store: vault, audit: new AuditLog(join(dir, 'refuse.jsonl')), block: BLOCK, challenge };
      const r = await provisionDevice(common);
      assert.equal(r.outcome, 'failed');
      assert.equal(r.error?.code, 'ESPEFUSE_FAILED');
      assert.equal(r.state, 'escrowed');
      assert.ok(keyBlock(await ef.summary(), BLOCK).unused);
      const escrowed = (await vault.get(ef.mac, BLOCK))!.key;
      const again = await provisionDevice(common);
      assert.equal(again.outcome, 'resumed');
      assert.equal(hex(ef.keyIn(BLOCK)!), hex(escrowed));
    });

    it('a burn the fuses do not confirm: BURN_UNCONFIRMED, the record stays escrowed, the next run refuses the block (BLOCK_STATE)', async () => {
      const ef = new MemoryEfuse({ chip: 'esp32c3' });
      ef.failNextBurn('unconfirmed');
      const common = { efuse: ef, store: vault, audit: new AuditLog(join(dir, 'unconfirmed.jsonl')), block: BLOCK, challenge };
      const r = await provisionDevice(common);
      assert.equal(r.outcome, 'failed');
      assert.equal(r.error?.code, 'BURN_UNCONFIRMED');
      assert.equal(r.state, 'escrowed');
      const again = await provisionDevice(common);
      assert.equal(again.outcome, 'refused');
      assert.equal(again.error?.code, 'BLOCK_STATE');
      assert.equal(ef.burns, 1);
    });

    it('a burn whose answer is lost (timeout) but which happened: the next run verifies the escrowed key', async () => {
      const ef = new MemoryEfuse({ chip: 'esp32s3' });
      ef.failNextBurn('lost');
      const common = { efuse: ef, store: vault, audit: new AuditLog(join(dir, 'lost.jsonl')), block: BLOCK, challenge };
      const r = await provisionDevice(common);
      assert.equal(r.error?.code, 'ESPEFUSE_TIMEOUT');
      assert.equal(r.state, 'escrowed');
      const again = await provisionDevice(common);
      assert.equal(again.outcome, 'resumed');
      assert.equal(again.burned, false);
      assert.equal((await invariant(ef)).state, 'verified');
    });

    it('secure boot locks RD_DIS: refused before the burn (RD_DIS_LOCKED), nothing burned', async () => {
      const ef = new MemoryEfuse({ chip: 'esp32c3', secureBoot: true });
      const r = await provisionDevice({ efuse: ef, store: vault, audit: new AuditLog(join(dir, 'sb.jsonl')), block: BLOCK, challenge });
      assert.equal(r.error?.code, 'RD_DIS_LOCKED');
      assert.equal(ef.burns, 0);
      assert.ok(r.error && /secure boot/.test(r.error.message));
    });
  });
});
