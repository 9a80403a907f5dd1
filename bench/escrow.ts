// 9. Escrow and stations. (a) A durable escrow write — put() of a new record, resolved only once it
// is on disk and read back — in the PostgreSQL store (a transaction with its audit row, committed
// with fsync, then read back) against the file vault (read-merge-write of the whole file, fsync,
// rename, fsync dir, read back). (b) Devices per minute when one station provisions 4 virtual chips
// 4 at once, against the same 4 one after another. Both are ratios measured in the same run; the
// PostgreSQL server is a throwaway cluster on loopback (test/support/postgres.ts).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgStore } from '../host/escrow/pg.js';
import { type EscrowStore, newRecord } from '../host/escrow/store.js';
import { FileVault } from '../host/escrow/vault.js';
import { VirtualChipEfuse } from '../host/efuse/virtual-chip.js';
import { createVirtualChip } from '../host/espefuse/virtual.js';
import { generateKey } from '../host/keys.js';
import { AuditLog } from '../host/provision/audit.js';
import { defaultChallenge } from '../host/provision/challenge.js';
import { provisionBatch } from '../host/provision/parallel.js';
import { freshDatabase, havePostgres, stopPostgres } from '../test/support/postgres.js';
import { line, summarize, type Summary } from './util.js';

const KDF = { log2N: 14, r: 8, p: 1 };
let id = 0;
const rec = () => newRecord({ deviceId: `0b${(++id).toString(16).padStart(10, '0')}`, chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: generateKey() });

async function writes(store: EscrowStore, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = rec();
    const t0 = performance.now();
    await store.put(r);
    ms.push(performance.now() - t0);
  }
  return ms;
}

export interface EscrowFigures {
  writes?: { n: number; pgMs: Summary; vaultMs: Summary; vaultRecordsAtEnd: number; ratioPgOverVault: number };
  parallel: { devices: number; sequentialPerMin: number; parallelPerMin: number; speedup: number; cores: number };
}

export async function benchEscrow(n = 60): Promise<EscrowFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'efa-bench-escrow-'));
  const out: Partial<EscrowFigures> = {};
  try {
    if (havePostgres()) {
      const pg = await PgStore.open(await freshDatabase('bench'), { passphrase: randomBytes(16).toString('hex'), kdf: KDF });
      const vault = new FileVault(join(dir, 'escrow.vault'), { passphrase: randomBytes(16).toString('hex'), kdf: KDF });
      await writes(pg, 3); // warm-up: connections, schema, the KEK derivation
      await writes(vault, 3);
      const pgMs: number[] = [];
      const vaultMs: number[] = [];
      for (let i = 0; i < n / 10; i++) { // interleaved, so both see the same machine
        pgMs.push(...await writes(pg, 10));
        vaultMs.push(...await writes(vault, 10));
      }
      await pg.close();
      const p = summarize(pgMs);
      const v = summarize(vaultMs);
      out.writes = { n, pgMs: p, vaultMs: v, vaultRecordsAtEnd: n + 3, ratioPgOverVault: p.median / v.median };
      line(`9a. durable escrow write, ${n}× (ms median / p95)`, `PostgreSQL ${p.median.toFixed(2)} / ${p.p95.toFixed(2)}, vault ${v.median.toFixed(2)} / ${v.p95.toFixed(2)}`);
      line('    ratio PostgreSQL / vault (median; the vault grows to ' + `${n + 3} records)`, (p.median / v.median).toFixed(2));
    } else {
      line('9a. durable escrow write', 'skipped: no PostgreSQL (bash scripts/setup.sh)');
    }

    // (b) 4 devices: one after another, then 4 at once, each with the default challenge.
    const round = async (parallel: number): Promise<number> => {
      const chips = await Promise.all([0, 1, 2, 3].map((i) => createVirtualChip({ chip: 'esp32s3', out: join(dir, `p${parallel}-${i}-${randomBytes(3).toString('hex')}.bin`) })));
      const vault = new FileVault(join(dir, `v${parallel}.vault`), { passphrase: 'bench passphrase', kdf: KDF });
      const targets = chips.map((c) => new VirtualChipEfuse('esp32s3', c.image));
      const t0 = performance.now();
      const results = await provisionBatch({
        targets, parallel, store: vault, audit: new AuditLog(join(dir, `a${parallel}.jsonl`)), block: 'BLOCK_KEY0', challenge: defaultChallenge(),
      }).finally(() => Promise.all(targets.map((t) => t.close())));
      const ms = performance.now() - t0;
      const bad = results.find((r) => r.outcome !== 'provisioned');
      if (bad) throw new Error(`a device ended ${bad.outcome}: ${bad.error?.message ?? ''}`);
      return (chips.length / ms) * 60_000;
    };
    const seq = await round(1);
    const par = await round(4);
    out.parallel = { devices: 4, sequentialPerMin: seq, parallelPerMin: par, speedup: par / seq, cores: cpus().length };
    line('9b. devices per minute, 4 virtual chips, 1 at a time / 4 at once', `${seq.toFixed(1)} / ${par.toFixed(1)}`);
    line(`    speed-up with 4 ports (${cpus().length} cores: espefuse and the emulator are CPU-bound processes)`, `${(par / seq).toFixed(2)}×`);
    return out as EscrowFigures;
  } finally {
    await stopPostgres();
    await rm(dir, { recursive: true, force: true });
  }
}
