// Several virtual chips at once in one station process (provision --parallel N): every device
// provisioned with its own key, per-port progress lines, one report with a row per device in the
// order given, and one intact audit chain, whatever order the devices finished in.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../protocol/index.js';
import { Espefuse } from '../host/espefuse/driver.js';
import { isBurnedHmacUp, keyBlock } from '../host/espefuse/summary.js';
import { createVirtualChip, readSilicon } from '../host/espefuse/virtual.js';
import { FileVault } from '../host/escrow/vault.js';
import { verifyAuditFile } from '../host/provision/audit.js';
import { provisionBatch } from '../host/provision/parallel.js';
import type { ProvisionResult } from '../host/provision/sequence.js';
import { cli } from './support/cli.js';

const PASS = 'parallel test passphrase';

describe('provision --parallel: several ports in one station', function () {
  this.timeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'efa-parallel-'));

  it('4 virtual chips, 4 at once: all provisioned and verified, one report in target order, per-port progress, an intact audit chain', async () => {
    const chips = await Promise.all([0, 1, 2, 3].map((i) => createVirtualChip({ chip: 'esp32s3', out: join(dir, `p${i}.bin`) })));
    const vault = join(dir, 'escrow.vault');
    const audit = join(dir, 'audit.jsonl');
    const report = join(dir, 'report.json');
    const r = await cli(['provision', ...chips.flatMap((c) => ['--virt', c.image]), '--chip', 'esp32s3', '--yes', '--parallel', '4',
      '--vault', vault, '--audit', audit, '--report', report], { env: { EFUSE_ATTEST_PASSPHRASE: PASS }, timeoutMs: 85_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { devices: ProvisionResult[]; counts: Record<string, number> };
    assert.deepEqual(rep.counts, { provisioned: 4 });
    assert.deepEqual(rep.devices.map((d) => d.deviceId), chips.map((c) => c.deviceId), 'rows in the order the targets were given');
    // Progress names the port of every step.
    for (const c of chips) assert.match(r.stderr, new RegExp(`virt ${c.image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (read|burn|check)`));
    const v = new FileVault(vault, { passphrase: PASS });
    const keys = new Set<string>();
    for (const c of chips) {
      const s = await new Espefuse('esp32s3', { kind: 'virt', image: c.image }, { session: false }).summary();
      assert.ok(isBurnedHmacUp(keyBlock(s, 'BLOCK_KEY0')));
      const rec = await v.get(c.deviceId, 'BLOCK_KEY0');
      assert.equal(rec?.state, 'verified');
      assert.equal(toHex(rec!.key), (await readSilicon(c.image))?.keys.BLOCK_KEY0);
      keys.add(toHex(rec!.key));
    }
    assert.equal(keys.size, 4, 'four different keys');
    const chain = await verifyAuditFile(audit);
    assert.equal(chain.ok, true, JSON.stringify(chain.broken));
    assert.equal(chain.entries, 4 * 8);
  });

  it('provisionBatch checks its arguments, naming them', async () => {
    await assert.rejects(provisionBatch({ targets: [], parallel: 0 } as never), (e: Error) => e instanceof RangeError && /parallel/.test(e.message));
    await assert.rejects(provisionBatch({ targets: [], parallel: 1.5 } as never), (e: Error) => e instanceof TypeError && /parallel/.test(e.message));
    await assert.rejects(provisionBatch({ targets: 'x', parallel: 1 } as never), (e: Error) => e instanceof TypeError && /targets/.test(e.message));
  });
});
