// The package's public entries (package.json "exports"), imported by name as a program would: each
// resolves, exports what the README names, and a station provisions and verifies a device through
// them alone (the eFuse here is the in-memory one a rig would replace with PortEfuse).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEfuse } from './support/memory-efuse.js';
import { ROOT } from './support/vectors.js';

describe('public entries (package exports)', function () {
  this.timeout(20_000);
  const dir = mkdtempSync(join(tmpdir(), 'efa-public-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every subpath of package.json "exports" resolves to a module with exports', async () => {
    const pkg = JSON.parse(readFileSync(ROOT + 'package.json', 'utf8')) as { name: string; exports: Record<string, unknown> };
    const subpaths = Object.keys(pkg.exports).filter((p) => p !== './package.json');
    assert.deepEqual(subpaths, ['.', './protocol', './backend', './escrow', './provision']);
    for (const p of subpaths) {
      const mod = (await import(pkg.name + p.slice(1))) as Record<string, unknown>;
      const names = Object.keys(mod);
      assert.ok(names.length > 0, `${p} exports nothing`);
      for (const n of names) assert.notEqual(mod[n], undefined, `${p}: ${n} is undefined`);
    }
  });

  it('efuse-attest/provision: a station provisions with the default challenge, and efuse-attest verifies with the escrowed key', async () => {
    const { provisionDevice, provisionBatch, defaultChallenge, MemoryAudit, STEPS } = await import('efuse-attest/provision');
    const { FileVault } = await import('efuse-attest/escrow');
    const { Client, verifyAttestation } = await import('efuse-attest');
    const vault = new FileVault(join(dir, 'escrow.vault'), { passphrase: 'public api test', kdf: { log2N: 14 } });
    const audit = new MemoryAudit();
    const efuse = new MemoryEfuse({ chip: 'esp32c3' });
    const r = await provisionDevice({ efuse, store: vault, audit, block: 'BLOCK_KEY2', challenge: defaultChallenge({ timeoutMs: 2000 }) });
    assert.equal(r.outcome, 'provisioned', r.error?.message);
    assert.deepEqual(r.steps.map((s) => s.step), [...STEPS]);
    const rec = await vault.get(efuse.mac, 'BLOCK_KEY2');
    assert.ok(rec && rec.state === 'verified');

    const link = await efuse.openDevice();
    const client = new Client(link.transport!);
    try {
      const att = await client.attest({ slot: 2 });
      assert.equal(verifyAttestation(att, { key: rec.key, deviceId: efuse.mac, slot: 2 }).deviceId, efuse.mac);
    } finally {
      await client.close();
      await link.close();
    }

    // The batch entry: a second run over the same device finds it done and burns nothing.
    const again = await provisionBatch({ targets: [efuse], store: vault, audit, block: 'BLOCK_KEY2' });
    assert.deepEqual(again.map((d) => [d.outcome, d.burned]), [['already-provisioned', false]]);
  });
});
