// The PostgreSQL escrow store (host/escrow/pg.ts) in detail, on the test PostgreSQL server
// (test/support/postgres.ts; each test its own fresh database): what open() does with an empty, a
// half-made or another KEK's database, read-only opens (create: false), the schema lock, every
// method's rows, audit rows and messages, and the database errors each one names. The cheapest
// scrypt the KDF accepts and an in-memory AES-GCM KEK keep it fast.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import pg from 'pg';
import { EscrowError } from '../host/errors.js';
import { type Kek, PassphraseKek, recordAad, seal } from '../host/escrow/envelope.js';
import { kekInfoJson, PgStore } from '../host/escrow/pg.js';
import { SCHEMA, verifyAuditRows } from '../host/escrow/pg-schema.js';
import type { EscrowRecord } from '../host/escrow/store.js';
import { codedError } from './support/errors.js';
import { memoryKek } from './support/memory-kek.js';
import { freshDatabase, havePostgres } from './support/postgres.js';

const PASS = 'pg store passphrase';
const KDF = { log2N: 14, r: 1, p: 1 };
const T0 = '2026-01-02T03:04:05.678Z';
const T1 = '2026-01-02T03:04:06Z';


const rec = (deviceId = '7cdfa1000001', block = 'BLOCK_KEY0', over: Partial<EscrowRecord> = {}): EscrowRecord => ({
  deviceId, chip: 'esp32s3', block, purpose: 'HMAC_UP', key: new Uint8Array(32).fill(0x5c),
  createdAt: T0, updatedAt: T0, state: 'escrowed', ...over,
});

/** Runs `fn` on a plain client of `url` (what another tool, or an attacker with SQL, sees). */
async function sql<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const tables = (url: string) => sql(url, async (c) =>
  (await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE tablename LIKE 'efa_%' ORDER BY 1")).rows.map((r) => r.t));
const kekRows = (url: string) => sql(url, async (c) =>
  (await c.query<{ id: string; kind: string; info: unknown; active: boolean }>('SELECT id, kind, info, active FROM efa_kek ORDER BY created_at, id')).rows);

const opened: PgStore[] = [];
const keep = (s: PgStore): PgStore => { opened.push(s); return s; };

describe('PostgreSQL escrow store: opening', function () {
  this.timeout(30_000);
  before(function () { if (!havePostgres()) this.skip(); });
  after(async () => { for (const s of opened.splice(0)) await s.close(); });

  it('names its station host:pid unless told, in the store and in its audit rows', async () => {
    const url = await freshDatabase('station');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF }));
    assert.equal(s.station, `${hostname()}:${process.pid}`);
    await s.put(rec());
    assert.deepEqual((await s.auditRows()).map((r) => r.station), [`${hostname()}:${process.pid}`]);
    const named = keep(await PgStore.open(url, { passphrase: PASS, station: 'st-9' }));
    assert.equal(named.station, 'st-9');
  });

  it('a KEK object on a new database: recorded as the one active external KEK; another KEK later is ESCROW_KEK and changes nothing', async () => {
    const url = await freshDatabase('extkek');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    assert.equal(s.kekId, 'kek-a');
    assert.deepEqual(await kekRows(url), [{ id: 'kek-a', kind: 'external', info: {}, active: true }]);
    await s.put(rec());
    keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    await assert.rejects(PgStore.open(url, { kek: memoryKek('kek-b', 9) }), codedError(EscrowError, 'ESCROW_KEK',
      `the escrow ${url} is wrapped by key-encryption key kek-a, not kek-b; nothing was changed`));
    await assert.rejects(PgStore.open(url, { kek: memoryKek('kek-b', 9), create: false }), codedError(EscrowError, 'ESCROW_KEK', /wrapped by key-encryption key kek-a, not kek-b/));
    assert.deepEqual(await kekRows(url), [{ id: 'kek-a', kind: 'external', info: {}, active: true }]);
    // A passphrase cannot open what a KEK object wraps.
    await assert.rejects(PgStore.open(url, { passphrase: PASS }), codedError(EscrowError, 'ESCROW_KEK',
      `the escrow ${url} is wrapped by key-encryption key kek-a (external), not by a passphrase: give --kek`));
  });

  it('a passphrase on a new database: one active scrypt KEK with its parameters, salt and check; opened again by the passphrase', async () => {
    const url = await freshDatabase('passkek');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF }));
    const rows = await kekRows(url);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.id, s.kekId);
    assert.equal(rows[0]!.kind, 'scrypt');
    assert.equal(rows[0]!.active, true);
    const info = rows[0]!.info as { kdf: unknown; salt: string; check: string };
    assert.deepEqual(info.kdf, KDF);
    const again = PassphraseKek.derive(PASS, { kdf: KDF, salt: Buffer.from(info.salt, 'hex'), check: Buffer.from(info.check, 'hex') });
    assert.deepEqual(kekInfoJson(again.info), info);
    assert.equal(again.id, s.kekId);
    await s.put(rec());
    const b = keep(await PgStore.open(url, { passphrase: PASS, create: false }));
    assert.equal(b.kekId, s.kekId);
    assert.deepEqual((await b.get('7cdfa1000001'))?.key, new Uint8Array(32).fill(0x5c));
    await assert.rejects(PgStore.open(url, { passphrase: 'another passphrase' }), codedError(EscrowError, 'ESCROW_PASSPHRASE', /./));
  });

  it('create: false on a database without the escrow tables: empty everywhere, read-only, nothing created', async () => {
    const url = await freshDatabase('dry');
    for (const opts of [{ passphrase: PASS }, { kek: memoryKek('kek-a') }]) {
      const s = keep(await PgStore.open(url, { ...opts, create: false }));
      assert.equal(s.kekId, undefined);
      assert.equal(await s.get('7cdfa1000001'), undefined);
      assert.equal(await s.get('7cdfa1000001', 'BLOCK_KEY1'), undefined);
      assert.deepEqual(await s.list(), []);
      assert.deepEqual(await s.envelopes(), []);
      await s.claim('7cdfa1000001', 'BLOCK_KEY0');
      await s.release('7cdfa1000001', 'BLOCK_KEY0');
      await assert.rejects(s.put(rec()), (e: unknown) => e instanceof TypeError && e.message === 'this escrow was opened read-only (create: false)');
      // Argument checks still come first.
      await assert.rejects(s.get('nope'), RangeError);
      await assert.rejects(s.get('7cdfa1000001', 'BLOCK_KEY9'), RangeError);
      await assert.rejects(s.put({ ...rec(), key: new Uint8Array(3) }), RangeError);
      await assert.rejects(s.claim('nope', 'BLOCK_KEY0'), RangeError);
      await assert.rejects(s.claim('7cdfa1000001', 'BLOCK_KEY9'), RangeError);
      await assert.rejects(s.release('nope', 'BLOCK_KEY0'), RangeError);
      await assert.rejects(s.release('7cdfa1000001', 'BLOCK_KEY9'), RangeError);
    }
    assert.deepEqual(await tables(url), []);
  });

  it('create: false on a database with the tables but no KEK yet: empty, and no KEK is recorded', async () => {
    const url = await freshDatabase('half');
    await sql(url, (c) => c.query(SCHEMA));
    for (const opts of [{ passphrase: PASS }, { kek: memoryKek('kek-a') }]) {
      const s = keep(await PgStore.open(url, { ...opts, create: false }));
      assert.equal(s.kekId, undefined);
      assert.deepEqual(await s.list(), []);
      await assert.rejects(s.put(rec()), TypeError);
    }
    assert.deepEqual(await kekRows(url), []);
    // Opened for writing, the same database gets its KEK.
    const w = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    assert.equal(w.kekId, 'kek-a');
    assert.deepEqual((await kekRows(url)).map((r) => r.id), ['kek-a']);
  });

  it('stations creating one escrow at once: the schema lock makes one KEK, which every station opens', async () => {
    const url = await freshDatabase('race');
    const stores = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => PgStore.open(url, { passphrase: PASS, kdf: KDF, station: `st-${i}` })));
    for (const r of stores) if (r.status === 'fulfilled') keep(r.value);
    assert.deepEqual(stores.map((r) => r.status === 'rejected' ? String(r.reason) : 'ok'), ['ok', 'ok', 'ok', 'ok']);
    const rows = await kekRows(url);
    assert.equal(rows.length, 1);
    assert.deepEqual(new Set(stores.map((r) => (r as PromiseFulfilledResult<PgStore>).value.kekId)), new Set([rows[0]!.id]));
  });

  it('close() ends the pool: the store answers no more, as an ESCROW_IO error', async () => {
    const url = await freshDatabase('close');
    const s = await PgStore.open(url, { passphrase: PASS, kdf: KDF });
    await s.put(rec());
    await s.close();
    await assert.rejects(s.list(), codedError(EscrowError, 'ESCROW_IO', /^cannot list in the escrow database .*: Cannot use a pool after calling end on the pool; nothing was changed$/));
    await s.close(); // twice is harmless
  });

  it('an idle store keeps nothing alive: the process may exit with it open', async () => {
    const url = await freshDatabase('idle');
    const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWRAP');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF }));
    await s.list();
    await new Promise((r) => setImmediate(r));
    const idle = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWRAP');
    assert.deepEqual(idle.sort(), before.sort());
  });
});

describe('PostgreSQL escrow store: records, states and the audit rows', function () {
  this.timeout(30_000);
  before(function () { if (!havePostgres()) this.skip(); });
  after(async () => { for (const s of opened.splice(0)) await s.close(); });

  const derivation = { scheme: 'dps-hmac-sha256' as const, registrationId: '7cdfa1000002', masterId: '0123456789abcdef' };

  it('get, list and envelopes: ordered by device and block, every field back, derivation only where given', async () => {
    const url = await freshDatabase('records');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    const b = rec('7cdfa1000002', 'BLOCK_KEY3', { key: new Uint8Array(32).fill(2), derivation, purpose: 'HMAC_DOWN_ALL', chip: 'esp32c3', state: 'burned', updatedAt: T1 });
    const a1 = rec('7cdfa1000001', 'BLOCK_KEY1', { key: new Uint8Array(32).fill(1) });
    const a0 = rec('7cdfa1000001', 'BLOCK_KEY0');
    for (const r of [b, a1, a0]) await s.put(r);
    assert.deepEqual(await s.get('7C:DF:A1:00:00:02'), b);
    assert.deepEqual(await s.get('7cdfa1000001', '1'), a1);
    assert.deepEqual(await s.get('7cdfa1000001', 'block_key0'), a0);
    assert.equal(await s.get('7cdfa1000001', 'BLOCK_KEY2'), undefined);
    assert.equal(await s.get('7cdfa1000009'), undefined);
    await assert.rejects(s.get('7cdfa1000001'), codedError(EscrowError, 'ESCROW_AMBIGUOUS', 'device 7cdfa1000001 has 2 escrowed keys (BLOCK_KEY0, BLOCK_KEY1); name the block'));
    const entry = ({ key: _k, ...rest }: EscrowRecord) => rest;
    assert.deepEqual(await s.list(), [entry(a0), entry(a1), entry(b)]);
    const cts = await sql(url, async (c) => (await c.query<{ key_ct: Buffer }>('SELECT key_ct FROM efa_escrow ORDER BY device_id, block')).rows.map((r) => new Uint8Array(r.key_ct)));
    assert.deepEqual(await s.envelopes(), [
      { deviceId: '7cdfa1000001', block: 'BLOCK_KEY0', kek: 'kek-a', ct: cts[0] },
      { deviceId: '7cdfa1000001', block: 'BLOCK_KEY1', kek: 'kek-a', ct: cts[1] },
      { deviceId: '7cdfa1000002', block: 'BLOCK_KEY3', kek: 'kek-a', ct: cts[2] },
    ]);
    const stored = await sql(url, async (c) => (await c.query('SELECT device_id, block, chip, purpose, state, kek, created_at, updated_at, derivation FROM efa_escrow ORDER BY device_id, block')).rows);
    assert.deepEqual(stored, [
      { device_id: '7cdfa1000001', block: 'BLOCK_KEY0', chip: 'esp32s3', purpose: 'HMAC_UP', state: 'escrowed', kek: 'kek-a', created_at: T0, updated_at: T0, derivation: null },
      { device_id: '7cdfa1000001', block: 'BLOCK_KEY1', chip: 'esp32s3', purpose: 'HMAC_UP', state: 'escrowed', kek: 'kek-a', created_at: T0, updated_at: T0, derivation: null },
      { device_id: '7cdfa1000002', block: 'BLOCK_KEY3', chip: 'esp32c3', purpose: 'HMAC_DOWN_ALL', state: 'burned', kek: 'kek-a', created_at: T0, updated_at: T1, derivation },
    ]);
  });

  it('put: a new record is one escrow row; the same again changes nothing; a later state moves it on with its time; an earlier one is ignored', async () => {
    const url = await freshDatabase('put');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'st-p' }));
    const r = rec();
    await s.put(r);
    await s.put(r);
    await s.put({ ...r, state: 'burned', updatedAt: T1 });
    await s.put({ ...r, state: 'escrowed', updatedAt: '2026-05-05T00:00:00Z' });
    await s.put({ ...r, state: 'burned', updatedAt: '2026-05-05T00:00:00Z' });
    assert.deepEqual(await s.get(r.deviceId, r.block), { ...r, state: 'burned', updatedAt: T1 });
    const rows = await s.auditRows();
    assert.deepEqual(rows.map((x) => ({ seq: x.seq, station: x.station, deviceId: x.deviceId, block: x.block, action: x.action, fromState: x.fromState, toState: x.toState, detail: x.detail })), [
      { seq: 1, station: 'st-p', deviceId: r.deviceId, block: 'BLOCK_KEY0', action: 'escrow', fromState: null, toState: 'escrowed', detail: null },
      { seq: 2, station: 'st-p', deviceId: r.deviceId, block: 'BLOCK_KEY0', action: 'state', fromState: 'escrowed', toState: 'burned', detail: null },
    ]);
    for (const x of rows) assert.ok(Math.abs(Date.parse(x.time) - Date.now()) < 60_000, x.time);
    assert.equal(rows[0]!.time, new Date(rows[0]!.time).toISOString());
  });

  it('put: a derivation fills the gap of a record stored without one, audited with its master id; a stored one is kept', async () => {
    const url = await freshDatabase('derive');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a'), station: 'st-d' }));
    const r = rec();
    await s.put(r);
    await s.put({ ...r, state: 'burned', updatedAt: T1, derivation });
    await s.put({ ...r, derivation: { ...derivation, masterId: 'fedcba9876543210' } });
    assert.deepEqual(await s.get(r.deviceId, r.block), { ...r, state: 'burned', updatedAt: T1, derivation });
    assert.deepEqual(await sql(url, async (c) => (await c.query('SELECT derivation FROM efa_escrow')).rows), [{ derivation }]);
    assert.deepEqual((await s.auditRows()).map((x) => [x.seq, x.station, x.deviceId, x.block, x.action, x.fromState, x.toState, x.detail]), [
      [1, 'st-d', r.deviceId, 'BLOCK_KEY0', 'escrow', null, 'escrowed', null],
      [2, 'st-d', r.deviceId, 'BLOCK_KEY0', 'state', 'escrowed', 'burned', null],
      [3, 'st-d', r.deviceId, 'BLOCK_KEY0', 'derivation', 'burned', 'burned', 'master 0123456789abcdef'],
    ]);
    assert.equal(verifyAuditRows(await s.auditRows()).ok, true);
  });

  it('setState: refuses an unknown state and a missing record with their sentences; moves forward only, stamped now', async () => {
    const url = await freshDatabase('state');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF }));
    await assert.rejects(s.setState('7cdfa1000001', 'BLOCK_KEY0', 'lost' as never), (e: unknown) => e instanceof RangeError && e.message === 'state must be escrowed, burned, verified, got "lost"');
    await assert.rejects(s.setState('7C:DF:A1:00:00:01', '0', 'burned'), codedError(EscrowError, 'ESCROW_MISSING', 'the escrow has no record for device 7cdfa1000001 BLOCK_KEY0'));
    await s.put(rec());
    const t = Date.now();
    await s.setState('7cdfa1000001', 'BLOCK_KEY0', 'verified');
    const v = await s.get('7cdfa1000001', 'BLOCK_KEY0');
    assert.equal(v?.state, 'verified');
    assert.equal(v?.createdAt, T0);
    assert.ok(Date.parse(v!.updatedAt) >= t - 1000 && Date.parse(v!.updatedAt) <= Date.now() + 1000, v?.updatedAt);
    await s.setState('7cdfa1000001', 'BLOCK_KEY0', 'burned');
    await s.setState('7cdfa1000001', 'BLOCK_KEY0', 'verified');
    assert.deepEqual(await s.get('7cdfa1000001', 'BLOCK_KEY0'), v);
    assert.deepEqual((await s.auditRows()).map((x) => [x.action, x.fromState, x.toState]), [['escrow', null, 'escrowed'], ['state', 'escrowed', 'verified']]);
  });

  it('a failed transaction is rolled back and its connection reused: many refusals in a row, then a write, all at once too', async () => {
    const url = await freshDatabase('rollback');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF }));
    for (let i = 0; i < 6; i++) await assert.rejects(s.setState('7cdfa1000001', 'BLOCK_KEY0', 'burned'), codedError(EscrowError, 'ESCROW_MISSING', /no record/));
    await s.put(rec());
    await Promise.all(Array.from({ length: 6 }, () => assert.rejects(s.setState('7cdfa100000f', 'BLOCK_KEY0', 'burned'), codedError(EscrowError, 'ESCROW_MISSING', /no record/))));
    await s.setState('7cdfa1000001', 'BLOCK_KEY0', 'burned');
    assert.equal((await s.get('7cdfa1000001', 'BLOCK_KEY0'))?.state, 'burned');
    const open = await sql(url, async (c) => (await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'")).rows[0]!.n);
    assert.equal(Number(open), 0);
  });

  it('stations writing at once: one audit chain, seq 1..n without a gap or a fork', async () => {
    const url = await freshDatabase('chain');
    const a = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'st-a' }));
    const b = keep(await PgStore.open(url, { passphrase: PASS, station: 'st-b' }));
    const ids = Array.from({ length: 12 }, (_, i) => `7cdfa10010${i.toString(16).padStart(2, '0')}`);
    await Promise.all(ids.map((id, i) => (i % 2 ? a : b).put(rec(id))));
    const rows = await a.auditRows();
    assert.deepEqual(rows.map((x) => x.seq), ids.map((_, i) => i + 1));
    assert.deepEqual(rows.map((x) => x.deviceId).sort(), ids);
    assert.equal(verifyAuditRows(rows).ok, true);
  });

  it('stored rows that fail their checks are named by device and block', async () => {
    const url = await freshDatabase('damaged');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    await s.put(rec());
    await s.put(rec('7cdfa1000002'));
    await sql(url, (c) => c.query("UPDATE efa_escrow SET purpose = 'not a purpose' WHERE device_id = '7cdfa1000001'"));
    await assert.rejects(s.get('7cdfa1000001'), (e: unknown) => e instanceof RangeError && e.message === 'the escrow record for device 7cdfa1000001 BLOCK_KEY0.purpose must be a key purpose name such as HMAC_UP');
    await sql(url, (c) => c.query("UPDATE efa_escrow SET wrapped_key = wrapped_key || '\\x00'::bytea WHERE device_id = '7cdfa1000002'"));
    await assert.rejects(s.get('7cdfa1000002'), /unwrap/);
    await sql(url, async (c) => {
      await c.query("INSERT INTO efa_kek (id, kind, info, active) VALUES ('kek-z', 'external', '{}', false)");
      await c.query("UPDATE efa_escrow SET kek = 'kek-z' WHERE device_id = '7cdfa1000002'");
    });
    await assert.rejects(s.get('7cdfa1000002'), codedError(EscrowError, 'ESCROW_KEK',
      'the escrow record for device 7cdfa1000002 BLOCK_KEY0 is wrapped by key-encryption key kek-z, not by the one given (kek-a); nothing was changed'));
  });
});

describe('PostgreSQL escrow store: claims', function () {
  this.timeout(30_000);
  before(function () { if (!havePostgres()) this.skip(); });
  after(async () => { for (const s of opened.splice(0)) await s.close(); });

  const ID = '7cdfa1000001';
  const BOOT = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  interface Claim { station: string; host: string; pid: number; boot: string; left: number }
  /** The claim row, with the seconds it has left by the database's clock. */
  const claimRow = async (url: string): Promise<Claim | undefined> => sql(url, async (c) =>
    (await c.query<Claim>('SELECT station, host, pid, boot, extract(epoch FROM expires_at - now())::float8 AS "left" FROM efa_claim')).rows[0]);
  const setClaim = (url: string, station: string, host: string, pid: number, boot: string, expires = "now() + interval '1 hour'") =>
    sql(url, (c) => c.query(`UPDATE efa_claim SET station = $1, host = $2, pid = $3, boot = $4, expires_at = ${expires}`, [station, host, pid, boot]));
  const takeovers = async (s: PgStore) => (await s.auditRows()).filter((r) => r.action === 'claim').map((r) => [r.deviceId, r.block, r.fromState, r.toState, r.detail, r.station]);
  /** The pid of a process that has exited. */
  const deadPid = (): number => Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());

  it('a free device: one row naming this station, host, pid and boot, for the claim TTL (10 min unless told)', async () => {
    const url = await freshDatabase('claim');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'st-c' }));
    await s.claim('7C:DF:A1:00:00:01', '0');
    const row = await claimRow(url);
    assert.deepEqual({ ...row, left: undefined }, { station: 'st-c', host: hostname(), pid: process.pid, boot: BOOT, left: undefined });
    assert.ok(row!.left > 595 && row!.left <= 600, String(row!.left));
    assert.deepEqual(await sql(url, async (c) => (await c.query('SELECT device_id, block FROM efa_claim')).rows), [{ device_id: ID, block: 'BLOCK_KEY0' }]);
    // Its own claim again: renewed for the TTL of this store, no takeover recorded.
    const t = keep(await PgStore.open(url, { passphrase: PASS, station: 'st-c2', claimTtlMs: 3_600_000 }));
    await setClaim(url, 'st-c', hostname(), process.pid, BOOT, "now() + interval '1 minute'");
    await t.claim(ID, 'BLOCK_KEY0');
    const again = await claimRow(url);
    assert.equal(again?.station, 'st-c2');
    assert.ok(again!.left > 3595 && again!.left <= 3600, String(again!.left));
    assert.deepEqual(await takeovers(s), []);
  });

  it('a live claim of another station is ESCROW_BUSY with its sentence, and stays', async () => {
    const url = await freshDatabase('busy');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'st-here' }));
    await s.claim(ID, 'BLOCK_KEY0');
    const cases: [string, number, string][] = [
      ['far-away-host', process.pid, BOOT], // another host: its pid and boot mean nothing here
      ['far-away-host', deadPid(), BOOT],
      ['far-away-host', process.pid, 'another-boot'],
      [hostname(), process.ppid, BOOT], // this host, another live process
    ];
    for (const [host, pid, boot] of cases) {
      await setClaim(url, 'st-far', host, pid, boot, "'2099-01-02T03:04:05.678Z'");
      await assert.rejects(s.claim(ID, 'BLOCK_KEY0'), codedError(EscrowError, 'ESCROW_BUSY',
        `device ${ID} BLOCK_KEY0 is being provisioned by station st-far (claim until 2099-01-02T03:04:05.678Z); not touching it — run again when that station is done`));
      assert.deepEqual({ ...await claimRow(url), left: 0 }, { station: 'st-far', host, pid, boot, left: 0 });
    }
    assert.deepEqual(await takeovers(s), []);
  });

  it('a claim of a live process this one may not signal (another user\'s station on this host) is ESCROW_BUSY', async function () {
    // As root any process may be signalled: the claim is then checked with an unprivileged effective
    // user id, against a process of another user (the PostgreSQL user of test/support/postgres.ts).
    const root = process.getuid?.() === 0;
    if (root && spawnSync('id', ['-u', 'postgres']).status !== 0) this.skip();
    const url = await freshDatabase('eperm');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'st-here' }));
    await s.claim(ID, 'BLOCK_KEY0');
    const other = root ? spawn('setpriv', ['--reuid=postgres', '--regid=postgres', '--clear-groups', '--', 'sleep', '30'], { stdio: 'ignore' }) : undefined;
    try {
      const pid = other?.pid ?? 1;
      // Until setpriv has changed its user, the child is still root's.
      while (other && !/^Uid:\s+[1-9]/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) await new Promise((r) => setTimeout(r, 10));
      await setClaim(url, 'st-other-user', hostname(), pid, BOOT);
      if (root) process.seteuid!('nobody');
      try {
        await assert.rejects(s.claim(ID, 'BLOCK_KEY0'), codedError(EscrowError, 'ESCROW_BUSY', /is being provisioned by station st-other-user/));
      } finally {
        if (root) process.seteuid!(0);
      }
    } finally {
      other?.kill();
    }
    assert.equal((await claimRow(url))?.station, 'st-other-user');
  });

  it('taken over, and audited with the reason: a lapsed claim, a dead process on this host, a claim from before a reboot', async () => {
    const url = await freshDatabase('takeover');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'st-here', claimTtlMs: 120_000 }));
    await s.claim(ID, 'BLOCK_KEY1');
    const cases: [string, string, number, string, string][] = [
      ['st-1', 'far-away-host', 1, BOOT, "now() - interval '1 second'"],
      ['st-2', hostname(), deadPid(), BOOT, "now() + interval '1 hour'"],
      ['st-3', hostname(), process.ppid, 'another-boot', "now() + interval '1 hour'"],
      ['st-4', hostname(), process.pid, 'another-boot', "now() + interval '1 hour'"],
    ];
    for (const [station, host, pid, boot, expires] of cases) {
      await setClaim(url, station, host, pid, boot, expires);
      await s.claim(ID, 'BLOCK_KEY1');
      const row = await claimRow(url);
      assert.deepEqual({ ...row, left: 0 }, { station: 'st-here', host: hostname(), pid: process.pid, boot: BOOT, left: 0 });
      assert.ok(row!.left > 115 && row!.left <= 120, String(row!.left));
    }
    assert.deepEqual(await takeovers(s), [
      [ID, 'BLOCK_KEY1', null, null, 'taken over from station st-1 (its claim lapsed)', 'st-here'],
      [ID, 'BLOCK_KEY1', null, null, 'taken over from station st-2 (its process is gone)', 'st-here'],
      [ID, 'BLOCK_KEY1', null, null, 'taken over from station st-3 (its process is gone)', 'st-here'],
      [ID, 'BLOCK_KEY1', null, null, 'taken over from station st-4 (its process is gone)', 'st-here'],
    ]);
  });

  it('release removes only this process\'s claim on that device and block', async () => {
    const url = await freshDatabase('release');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF }));
    await s.claim(ID, 'BLOCK_KEY0');
    await s.claim(ID, 'BLOCK_KEY1');
    await s.claim('7cdfa1000002', 'BLOCK_KEY0');
    await sql(url, (c) => c.query("UPDATE efa_claim SET host = 'far-away-host' WHERE device_id = '7cdfa1000002'"));
    await s.claim('7cdfa1000003', 'BLOCK_KEY0');
    await sql(url, (c) => c.query("UPDATE efa_claim SET pid = $1 WHERE device_id = '7cdfa1000003'", [process.ppid]));
    await s.release('7C:DF:A1:00:00:01', '1');
    await s.release('7cdfa1000002', 'BLOCK_KEY0');
    await s.release('7cdfa1000003', 'BLOCK_KEY0');
    const left = await sql(url, async (c) => (await c.query('SELECT device_id, block FROM efa_claim ORDER BY 1, 2')).rows);
    assert.deepEqual(left, [{ device_id: ID, block: 'BLOCK_KEY0' }, { device_id: '7cdfa1000002', block: 'BLOCK_KEY0' }, { device_id: '7cdfa1000003', block: 'BLOCK_KEY0' }]);
    // Bad arguments are argument errors, not database errors.
    await assert.rejects(s.release('nope', 'BLOCK_KEY0'), (e: unknown) => e instanceof RangeError && /^deviceId must be 12 hex digits/.test(e.message));
    await assert.rejects(s.release(ID, 'BLOCK_KEY7'), RangeError);
  });
});

describe('PostgreSQL escrow store: KEK rotation', function () {
  this.timeout(30_000);
  before(function () { if (!havePostgres()) this.skip(); });
  after(async () => { for (const s of opened.splice(0)) await s.close(); });

  it('re-wraps every record under the new KEK in one transaction, audited; device-key ciphertexts unchanged; the old KEK no longer opens it', async () => {
    const url = await freshDatabase('rotate');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    const r1 = rec('7cdfa1000002', 'BLOCK_KEY0', { state: 'burned' });
    const r0 = rec('7cdfa1000001', 'BLOCK_KEY2', { key: new Uint8Array(32).fill(3) });
    await s.put(r1);
    await s.put(r0);
    const before = await s.envelopes();
    const wrappedBefore = await sql(url, async (c) => (await c.query<{ w: Buffer }>('SELECT wrapped_key AS w FROM efa_escrow ORDER BY device_id')).rows.map((r) => r.w.toString('hex')));
    const kb = memoryKek('kek-b', 9);
    assert.equal(await s.rotateKek(kb, { kind: 'test-kind', json: { note: 'b' } }), 2);
    assert.equal(s.kekId, 'kek-b');
    assert.deepEqual(await kekRows(url), [
      { id: 'kek-a', kind: 'external', info: {}, active: false },
      { id: 'kek-b', kind: 'test-kind', info: { note: 'b' }, active: true },
    ]);
    assert.deepEqual(await s.envelopes(), before.map((e) => ({ ...e, kek: 'kek-b' })));
    const wrappedAfter = await sql(url, async (c) => (await c.query<{ w: Buffer }>('SELECT wrapped_key AS w FROM efa_escrow ORDER BY device_id')).rows.map((r) => r.w.toString('hex')));
    for (const [i, w] of wrappedAfter.entries()) assert.notEqual(w, wrappedBefore[i]);
    assert.deepEqual((await s.auditRows()).filter((x) => x.action === 'rewrap').map((x) => [x.deviceId, x.block, x.fromState, x.toState, x.detail]), [
      ['7cdfa1000001', 'BLOCK_KEY2', 'escrowed', 'escrowed', 'kek-a -> kek-b'],
      ['7cdfa1000002', 'BLOCK_KEY0', 'burned', 'burned', 'kek-a -> kek-b'],
    ]);
    // The store goes on with the new KEK: reads, and new records sealed under it.
    assert.deepEqual(await s.get('7cdfa1000001'), r0);
    await s.put(rec('7cdfa1000003'));
    assert.deepEqual((await s.envelopes()).map((e) => e.kek), ['kek-b', 'kek-b', 'kek-b']);
    const b = keep(await PgStore.open(url, { kek: memoryKek('kek-b', 9) }));
    assert.deepEqual(await b.get('7cdfa1000002'), r1);
    await assert.rejects(PgStore.open(url, { kek: memoryKek('kek-a') }), codedError(EscrowError, 'ESCROW_KEK', /wrapped by key-encryption key kek-b, not kek-a/));
    // Back to a KEK the database already knows: its row is kept, and active again.
    assert.equal(await b.rotateKek(memoryKek('kek-a'), { kind: 'ignored', json: {} }), 3);
    assert.deepEqual((await kekRows(url)).map((k) => [k.id, k.kind, k.active]), [['kek-a', 'external', true], ['kek-b', 'test-kind', false]]);
    assert.deepEqual(await (keep(await PgStore.open(url, { kek: memoryKek('kek-a') }))).get('7cdfa1000002'), r1);
  });

  it('an empty escrow switches KEK with nothing to re-wrap', async () => {
    const url = await freshDatabase('rotate0');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    assert.equal(await s.rotateKek(memoryKek('kek-b'), { kind: 'external', json: {} }), 0);
    assert.deepEqual((await kekRows(url)).map((k) => [k.id, k.active]), [['kek-a', false], ['kek-b', true]]);
    assert.deepEqual(await s.auditRows(), []);
  });

  it('a rotation that fails is ESCROW_IO with its cause and changes nothing: the old KEK stays, in the database and in the store', async () => {
    const url = await freshDatabase('rotatefail');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    await s.put(rec());
    await s.put(rec('7cdfa1000002'));
    const boom = new Error('token gone');
    let calls = 0;
    const bad: Kek = { id: 'kek-bad', async wrap() { if (++calls === 2) throw boom; return new Uint8Array(60); }, async unwrap() { throw boom; } };
    await assert.rejects(s.rotateKek(bad, { kind: 'external', json: {} }), (e: unknown) => {
      codedError(EscrowError, 'ESCROW_IO', `cannot rotate the key-encryption key in the escrow database ${url}: token gone; nothing was changed`)(e);
      assert.equal((e as Error).cause, boom);
      return true;
    });
    assert.equal(s.kekId, 'kek-a');
    assert.deepEqual(await kekRows(url), [{ id: 'kek-a', kind: 'external', info: {}, active: true }]);
    assert.deepEqual((await s.envelopes()).map((e) => e.kek), ['kek-a', 'kek-a']);
    assert.equal((await s.get('7cdfa1000002'))?.deviceId, '7cdfa1000002');
    assert.deepEqual((await s.auditRows()).map((x) => x.action), ['escrow', 'escrow']);
  });

  it('a KEK that fails with something other than an Error: its string form in the sentence', async () => {
    const url = await freshDatabase('rotatethrow');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    await s.put(rec());
    for (const [thrown, shown] of [['the token says no', 'the token says no'], [undefined, 'undefined'], [{ code: 7 }, '[object Object]']] as const) {
      const bad: Kek = { id: 'kek-bad', async wrap() { throw thrown; }, async unwrap() { throw thrown; } };
      await assert.rejects(s.rotateKek(bad, { kind: 'external', json: {} }), (e: unknown) => {
        codedError(EscrowError, 'ESCROW_IO', `cannot rotate the key-encryption key in the escrow database ${url}: ${shown}; nothing was changed`)(e);
        assert.equal((e as Error).cause, thrown);
        return true;
      });
    }
    assert.equal(s.kekId, 'kek-a');
  });

  it('a station opening the escrow while a rotation runs waits for it, then sees the new KEK', async () => {
    const url = await freshDatabase('rotatelock');
    const s = keep(await PgStore.open(url, { kek: memoryKek('kek-a') }));
    await s.put(rec());
    const kb = memoryKek('kek-b', 9);
    let started!: () => void;
    const wrapping = new Promise<void>((r) => { started = r; });
    const slow: Kek = { id: 'kek-b', async wrap(dk, a) { started(); await new Promise((r) => setTimeout(r, 400)); return kb.wrap(dk, a); }, unwrap: kb.unwrap };
    const rotation = s.rotateKek(slow, { kind: 'external', json: {} });
    await wrapping;
    const opening = PgStore.open(url, { kek: memoryKek('kek-a') });
    assert.equal(await rotation, 1);
    await assert.rejects(opening.then(keep), codedError(EscrowError, 'ESCROW_KEK', /wrapped by key-encryption key kek-b, not kek-a/));
  });
});

describe('PostgreSQL escrow store: database errors and read-back', function () {
  this.timeout(30_000);
  before(function () { if (!havePostgres()) this.skip(); });
  after(async () => { for (const s of opened.splice(0)) await s.close(); });

  it('each method names what it could not do, the database without its password, and the error, with the error as cause', async () => {
    const url = await freshDatabase('dberr');
    const withPassword = url.replace('postgres://efa@', 'postgres://efa:pw@');
    const s = keep(await PgStore.open(withPassword, { kek: memoryKek('kek-a') }));
    assert.equal(s.location, url);
    await s.put(rec());
    await sql(url, async (c) => {
      await c.query('ALTER TABLE efa_escrow RENAME TO efa_escrow_gone');
      await c.query('ALTER TABLE efa_escrow_audit RENAME TO efa_escrow_audit_gone');
      await c.query('ALTER TABLE efa_claim RENAME TO efa_claim_gone');
    });
    const fails = (what: string, table: string) => (e: unknown) => {
      codedError(EscrowError, 'ESCROW_IO', `cannot ${what} in the escrow database ${url}: relation "${table}" does not exist; nothing was changed`)(e);
      assert.equal(((e as Error).cause as { code?: string }).code, '42P01');
      return true;
    };
    await assert.rejects(s.get(ID0), fails('read', 'efa_escrow'));
    await assert.rejects(s.get(ID0, 'BLOCK_KEY0'), fails('read', 'efa_escrow'));
    await assert.rejects(s.list(), fails('list', 'efa_escrow'));
    await assert.rejects(s.envelopes(), fails('list', 'efa_escrow'));
    await assert.rejects(s.auditRows(), fails('read the audit', 'efa_escrow_audit'));
    await assert.rejects(s.put(rec('7cdfa1000002')), fails('escrow a key', 'efa_escrow'));
    await assert.rejects(s.setState(ID0, 'BLOCK_KEY0', 'burned'), fails('change a record', 'efa_escrow'));
    await assert.rejects(s.claim(ID0, 'BLOCK_KEY0'), fails('claim a device', 'efa_claim'));
    await assert.rejects(s.release(ID0, 'BLOCK_KEY0'), fails('release a device', 'efa_claim'));
    await assert.rejects(s.rotateKek(memoryKek('kek-b'), { kind: 'external', json: {} }), fails('rotate the key-encryption key', 'efa_escrow'));
    assert.equal(s.kekId, 'kek-a');
  });

  it('put reads the record back after its commit: a record that does not read back, or not with the key just stored, is ESCROW_READBACK', async () => {
    const url = await freshDatabase('readback');
    const kek = memoryKek('kek-a');
    const s = keep(await PgStore.open(url, { kek }));
    const other = await seal(kek, new Uint8Array(32).fill(0x77), recordAad(ID0, 'BLOCK_KEY1', 'esp32s3'));
    await sql(url, (c) => c.query(`
      CREATE FUNCTION efa_test_swap() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.block = 'BLOCK_KEY1' THEN NEW.wrapped_key := '\\x${Buffer.from(other.wrappedKey).toString('hex')}'; NEW.key_ct := '\\x${Buffer.from(other.ct).toString('hex')}'; END IF;
        IF NEW.block = 'BLOCK_KEY2' THEN NEW.purpose := 'not a purpose'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER efa_test_swap BEFORE INSERT ON efa_escrow FOR EACH ROW EXECUTE FUNCTION efa_test_swap();`));
    await s.put(rec(ID0, 'BLOCK_KEY0'));
    await assert.rejects(s.put(rec(ID0, 'BLOCK_KEY1')), codedError(EscrowError, 'ESCROW_READBACK',
      `the escrow database ${url} does not return the key just stored for device ${ID0} BLOCK_KEY1; do not burn`));
    await assert.rejects(s.put(rec(ID0, 'BLOCK_KEY2')), codedError(EscrowError, 'ESCROW_READBACK',
      `the escrow database ${url} took the record but does not read back (the escrow record for device ${ID0} BLOCK_KEY2.purpose must be a key purpose name such as HMAC_UP); do not burn until this is resolved`));
  });
});

const ID0 = '7cdfa1000001';
