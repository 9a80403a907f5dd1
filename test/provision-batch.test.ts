// Batch provisioning as a library (host/provision/batch.ts), in-process on in-memory eFuses: the
// survey a dry run and the BURN confirmation are made from, the confirmation text, the run with its
// progress and report, and the one error that sums up failed devices. provision.test.ts runs the
// same through the CLI on virtual chips.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../host/errors.js';
import { FileVault } from '../host/escrow/vault.js';
import { newRecord } from '../host/escrow/store.js';
import { MASKED_KEY } from '../host/efuse/commands.js';
import { AuditLog, verifyAuditFile } from '../host/provision/audit.js';
import { batchError, confirmText, plansBurn, runBatch, survey } from '../host/provision/batch.js';
import { defaultChallenge } from '../host/provision/challenge.js';
import type { ProvisionResult } from '../host/provision/sequence.js';
import { MemoryEfuse } from './support/memory-efuse.js';

const PASS = 'batch test passphrase';
const BLOCK = 'BLOCK_KEY0';

describe('provision batch (library, in-memory eFuses)', function () {
  this.timeout(20_000);
  const dir = mkdtempSync(join(tmpdir(), 'efa-batch-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const vault = () => new FileVault(join(dir, `v${++n}.vault`), { passphrase: PASS, kdf: { log2N: 14 } });

  it('survey: each device\'s plan from its fuses and the escrow, the commands it would run; nothing is written', async () => {
    const v = vault();
    const fresh = new MemoryEfuse({ chip: 'esp32s3' });
    const used = new MemoryEfuse({ chip: 'esp32s3', keys: { [BLOCK]: [new Uint8Array(randomBytes(32)), 'HMAC_UP'] } });
    const escrowed = new MemoryEfuse({ chip: 'esp32s3' });
    await v.put(newRecord({ deviceId: escrowed.mac, chip: 'esp32s3', block: BLOCK, purpose: 'HMAC_UP', key: new Uint8Array(randomBytes(32)) }));
    const targets = [fresh, used, escrowed];
    const rows = await survey(targets, { chip: 'esp32s3', block: BLOCK, escrow: { kind: 'store', store: v } });
    assert.deepEqual(rows.map((r) => [r.target, r.deviceId, r.plan, r.commands.length]), [
      [fresh.label, fresh.mac, 'burn-new', 3], [used.label, used.mac, 'refuse', 1], [escrowed.label, escrowed.mac, 'burn-escrowed', 3],
    ]);
    assert.match(rows[1]!.detail, /already used .* has no key for it/);
    assert.equal(plansBurn(rows), true);
    assert.equal(targets.reduce((a, t) => a + t.burns, 0), 1, 'only the burn made when the chip was set up');

    const none = await survey(targets, { chip: 'esp32s3', block: BLOCK, escrow: { kind: 'none', location: join(dir, 'nothing.vault') } });
    assert.deepEqual(none.map((r) => r.plan), ['burn-new', 'refuse', 'burn-new']);
    assert.match(none[1]!.detail, /the escrow \(none yet\) has no key/);
    const unopened = await survey(targets, { chip: 'esp32s3', block: BLOCK, escrow: { kind: 'unopened', location: 'x' } });
    assert.deepEqual(unopened.map((r) => [r.plan, r.commands.length]), [['unknown', 3], ['unknown', 3], ['unknown', 3]]);
    assert.equal(plansBurn(unopened), false, 'an unknown plan is not a planned burn');
    assert.match(unopened[0]!.detail, /not consulted/);
  });

  it('survey: a device that cannot be read is a refusal row, the others are still surveyed', async () => {
    const broken = new MemoryEfuse({ chip: 'esp32c3' });
    broken.summary = async () => { throw new Error('no answer on the port'); };
    const ok = new MemoryEfuse({ chip: 'esp32c3' });
    const rows = await survey([broken, ok], { chip: 'esp32c3', block: BLOCK, escrow: { kind: 'none', location: 'x' } });
    assert.deepEqual(rows.map((r) => [r.plan, r.detail, r.commands.length, r.deviceId]), [['refuse', 'no answer on the port', 0, undefined], ['burn-new', `${BLOCK} is unused: make a key, escrow it, burn it`, 3, ok.mac]]);
  });

  it('confirmText: every device that may be burned, the key masked; the others not listed', async () => {
    const rows = [
      { target: 'port a', deviceId: 'aabbccddeeff', block: BLOCK, plan: 'burn-new' as const, detail: '', commands: [] },
      { target: 'port b', deviceId: '020000000001', block: BLOCK, plan: 'verify' as const, detail: '', commands: [] },
      { target: 'port c', block: BLOCK, plan: 'burn-escrowed' as const, detail: '', commands: [] },
      { target: 'port d', deviceId: '020000000002', block: BLOCK, plan: 'unknown' as const, detail: '', commands: [] },
    ];
    assert.deepEqual(confirmText(rows, BLOCK, '/v').split('\n'), [
      'About to burn eFuses — this cannot be undone. 3 device(s):',
      `  port a  device aabbccddeeff: ${BLOCK} <- ${MASKED_KEY} purpose HMAC_UP, read-protected, write-protected`,
      `  port c  device ?: ${BLOCK} <- ${MASKED_KEY} purpose HMAC_UP, read-protected, write-protected (the key already escrowed)`,
      `  port d  device 020000000002: ${BLOCK} <- ${MASKED_KEY} purpose HMAC_UP, read-protected, write-protected`,
      'Every key is escrowed in /v and read back before its burn.',
    ]);
    assert.equal(MASKED_KEY, `[${Array(32).fill('??').join(' ')}]`);
  });

  for (const parallel of [1, 3]) {
    it(`runBatch, parallel ${parallel}: every device provisioned and verified, the report in target order, progress per step, one audit chain`, async () => {
      const targets = [0, 1, 2].map((i) => new MemoryEfuse({ chip: i % 2 ? 'esp32c3' : 'esp32s3' }));
      const auditPath = join(dir, `audit-${parallel}.jsonl`);
      const progress: [number, number, string][] = [];
      const v = vault();
      const report = await runBatch({
        targets, parallel, store: v, audit: new AuditLog(auditPath), block: BLOCK, challenge: defaultChallenge({ timeoutMs: 1000 }),
        onProgress: (done, total, line) => progress.push([done, total, line]),
      });
      assert.deepEqual(report.counts, { provisioned: 3 });
      assert.deepEqual(report.devices.map((d) => [d.target, d.deviceId, d.state]), targets.map((t) => [t.label, t.mac, 'verified']));
      assert.equal(report.escrow, v.location);
      assert.equal(report.audit, auditPath);
      assert.match(report.run, /^[0-9a-f]{12}$/);
      assert.ok(report.startedAt <= report.finishedAt);
      for (const t of targets) {
        assert.deepEqual(progress.filter(([, , l]) => l.startsWith(t.label + ' ')).map(([, , l]) => l.slice(t.label.length + 1)),
          ['read', 'keygen', 'escrow', 'burn', 'check', 'mark-burned', 'challenge', 'mark-verified', 'provisioned']);
      }
      assert.ok(progress.every(([, total]) => total === 3));
      assert.deepEqual(progress.filter(([, , l]) => l.endsWith(' provisioned')).map(([done]) => done), [1, 2, 3]);
      const chain = await verifyAuditFile(auditPath);
      assert.equal(chain.ok, true);
      assert.equal(chain.entries, 3 * 8);
      assert.equal(batchError(report.devices), undefined);
    });
  }

  it('batchError: a lone device\'s own error; for several, a count naming the first failure and the report, with its exit code', async () => {
    const ok = { target: 'virt a', outcome: 'provisioned' } as ProvisionResult;
    const refused = { target: 'virt b', outcome: 'refused', error: { code: 'BLOCK_USED', message: 'BLOCK_KEY0 is already used', exitCode: EXIT.ESPEFUSE } } as ProvisionResult;
    const escrow = { target: 'virt c', outcome: 'refused', error: { code: 'ESCROW_CONFLICT', message: 'not the key', exitCode: EXIT.ESCROW } } as ProvisionResult;
    assert.equal(batchError([]), undefined);
    assert.equal(batchError([ok]), undefined);
    const one = batchError([refused])!;
    assert.deepEqual([one.message, one.code, one.exitCode], ['BLOCK_KEY0 is already used', 'BLOCK_USED', EXIT.ESPEFUSE]);
    const many = batchError([ok, refused, escrow], 'out.csv')!;
    assert.deepEqual([many.message, many.code, many.exitCode], ['2 of 3 devices did not provision (first: virt b: BLOCK_KEY0 is already used); see out.csv', 'BLOCK_USED', EXIT.ESPEFUSE]);
    assert.equal(batchError([ok, escrow])!.message, '1 of 2 devices did not provision (first: virt c: not the key)');
  });

  it('runBatch: a device that fails does not stop the others; the report counts both', async () => {
    const good = new MemoryEfuse({ chip: 'esp32s3' });
    const bad = new MemoryEfuse({ chip: 'esp32s3' });
    bad.failNextBurn('refuse');
    const report = await runBatch({ targets: [bad, good], store: vault(), audit: new AuditLog(join(dir, 'fail.jsonl')), block: BLOCK, challenge: null });
    assert.deepEqual(report.counts, { failed: 1, 'burned-unverified': 1 });
    assert.equal(report.devices[0]!.error?.code, 'ESPEFUSE_FAILED');
    assert.equal(batchError(report.devices)!.exitCode, EXIT.ESPEFUSE);
  });
});
