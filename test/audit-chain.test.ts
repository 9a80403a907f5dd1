// The tamper-evident audit (docs/provisioning.md §5.1): hash-chained lines in the audit log file and
// rows in the PostgreSQL escrow's audit table; `efuse-attest audit verify` names the first broken
// entry — an edited line, an edited line whose hash was recomputed, a removed or an inserted line —
// and exits 6; concurrent writers (one process and several) keep one intact chain.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createHash } from 'node:crypto';
import { PgStore } from '../host/escrow/pg.js';
import { newRecord } from '../host/escrow/store.js';
import { generateKey } from '../host/keys.js';
import { type AuditEntry, AuditLog, verifyAuditFile } from '../host/provision/audit.js';
import { cli } from './support/cli.js';
import { freshDatabase, havePostgres } from './support/postgres.js';
import { ROOT } from './support/vectors.js';

const entry = (i: number, step = 'read'): AuditEntry => ({
  time: new Date(Date.UTC(2026, 11, 2, 12, 0, i)).toISOString(), run: 'c0f905e83e99', deviceId: 'aabbccddeeff', chip: 'esp32s3',
  block: 'BLOCK_KEY0', target: 'virt s3.bin', step, outcome: 'ok', ms: i,
});

async function verifyCli(path: string): Promise<{ code: number; json: { ok: boolean; error?: { code: string; message: string }; result?: { file: { entries: number; head: string } } } }> {
  const r = await cli(['audit', 'verify', '--audit', path, '--json']);
  return { code: r.code, json: JSON.parse(r.stdout) as never };
}

describe('tamper-evident audit', function () {
  this.timeout(30_000);
  // A fresh directory each run: a process that runs the suites again (as a mutation-test runner does) starts clean.
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'efa-audit-')); });
  let k = 0;
  const fresh = async (count: number) => {
    const path = join(dir, `a${++k}.jsonl`);
    const log = new AuditLog(path);
    for (let i = 0; i < count; i++) await log.append(entry(i));
    return path;
  };

  it('each line carries prev and hash; verify walks the chain and gives the head', async () => {
    const path = await fresh(5);
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prev: string; hash: string; step: string });
    assert.equal(lines.length, 5);
    assert.equal(lines[0]!.prev, createHash('sha256').update('').digest('hex'));
    for (let i = 1; i < 5; i++) assert.equal(lines[i]!.prev, lines[i - 1]!.hash);
    const r = await verifyCli(path);
    assert.equal(r.code, 0);
    assert.equal(r.json.result?.file.entries, 5);
    assert.equal(r.json.result?.file.head, lines[4]!.hash);
  });

  const edits: [string, (lines: string[]) => string[], number, RegExp][] = [
    ['an edited line', (l) => { l[2] = l[2]!.replace('"outcome":"ok"', '"outcome":"skip"'); return l; }, 3, /does not match its hash/],
    ['an edited line with its hash recomputed', (l) => {
      const body = l[2]!.replace('"outcome":"ok"', '"outcome":"fail"').replace(/,"hash":"[0-9a-f]{64}"\}$/, '}');
      l[2] = `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`;
      return l;
    }, 4, /prev hash is not the hash of the line before/],
    ['a removed line', (l) => { l.splice(1, 1); return l; }, 2, /prev hash/],
    ['an inserted unchained line', (l) => { l.splice(3, 0, JSON.stringify(entry(9, 'burn'))); return l; }, 4, /not chained/],
    ['two lines swapped', (l) => { [l[1], l[2]] = [l[2]!, l[1]!]; return l; }, 2, /prev hash/],
  ];
  for (const [name, edit, line, re] of edits) {
    it(`${name}: audit verify names line ${line}, exit 6`, async () => {
      const path = await fresh(5);
      writeFileSync(path, edit(readFileSync(path, 'utf8').trim().split('\n')).join('\n') + '\n');
      const r = await verifyCli(path);
      assert.equal(r.code, 6);
      assert.equal(r.json.error?.code, 'AUDIT_TAMPERED');
      assert.match(r.json.error!.message, new RegExp(`broken at line ${line}: `));
      assert.match(r.json.error!.message, re);
    });
  }

  it('a log written before chaining: new lines chain onto all its bytes; editing an old line is detected', async () => {
    const path = join(dir, 'legacy.jsonl');
    writeFileSync(path, [entry(0), entry(1)].map((e) => JSON.stringify(e)).join('\n') + '\n');
    const log = new AuditLog(path);
    await log.append(entry(2));
    await log.append(entry(3));
    const ok = await verifyAuditFile(path);
    assert.deepEqual([ok.ok, ok.entries, ok.unchained], [true, 2, 2]);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"ms":1', '"ms":7'));
    const bad = await verifyAuditFile(path);
    assert.deepEqual(bad.broken?.line, 3);
  });

  it('concurrent writers — 20 appends at once in this process, and 2 processes × 15 — keep one intact chain', async () => {
    const path = join(dir, 'busy.jsonl');
    const log = new AuditLog(path);
    const child = () => new Promise<number | null>((res) => {
      const code = `import('${ROOT}dist/host/provision/audit.js').then(async ({ AuditLog }) => { const l = new AuditLog(${JSON.stringify(path)});
        for (let i = 0; i < 15; i++) await l.append(${JSON.stringify(entry(0))}); })`;
      spawn(process.execPath, ['-e', code], { stdio: 'inherit' }).on('close', res);
    });
    const [c1, c2] = await Promise.all([child(), child(), Promise.all(Array.from({ length: 20 }, (_, i) => log.append(entry(i))))]);
    assert.deepEqual([c1, c2], [0, 0]);
    const r = await verifyAuditFile(path);
    assert.equal(r.ok, true, JSON.stringify(r.broken));
    assert.equal(r.entries, 50);
  });

  it('PostgreSQL: an audit row changed behind the triggers\' back is named by audit verify --escrow', async function () {
    if (!havePostgres()) this.skip();
    const url = await freshDatabase('auditv');
    const s = await PgStore.open(url, { passphrase: 'audit table passphrase', kdf: { log2N: 14, r: 8, p: 1 } });
    const r = newRecord({ deviceId: '090000000001', chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: generateKey() });
    await s.put(r);
    await s.setState(r.deviceId, r.block, 'burned');
    await s.setState(r.deviceId, r.block, 'verified');
    await s.close();
    const path = await fresh(2);
    const env = { EFUSE_ATTEST_PASSPHRASE: 'audit table passphrase' };
    const good = await cli(['audit', 'verify', '--audit', path, '--escrow', url, '--json'], { env });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.equal((JSON.parse(good.stdout) as { result: { table: { entries: number } } }).result.table.entries, 3);
    // A database owner can switch the append-only trigger off; the chain still tells.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('ALTER TABLE efa_escrow_audit DISABLE TRIGGER efa_audit_guard');
    await c.query("UPDATE efa_escrow_audit SET to_state = 'burned' WHERE seq = 3");
    await c.end();
    const bad = await cli(['audit', 'verify', '--audit', path, '--escrow', url, '--json'], { env });
    assert.equal(bad.code, 6);
    assert.match((JSON.parse(bad.stdout) as { error: { message: string } }).error.message, /audit table .* is broken at entry 3: its content does not match its hash/);
  });
});
