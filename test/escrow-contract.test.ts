// The escrow store contract (docs/provisioning.md §3.4), one suite run against every backend: the
// encrypted file vault and the PostgreSQL store on a real server (test/support/postgres.ts). Then
// what only the database store adds: the hash-chained audit rows written in the same transaction,
// and triggers that refuse a replaced key, a backward state or a delete even from plain SQL.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { EscrowError } from '../host/errors.js';
import { PassphraseKek } from '../host/escrow/envelope.js';
import { PgStore, auditRowHash, GENESIS, kekInfoJson } from '../host/escrow/pg.js';
import { type EscrowRecord, type EscrowState, type EscrowStore, newRecord, STATES, stateRank } from '../host/escrow/store.js';
import { FileVault } from '../host/escrow/vault.js';
import { generateKey } from '../host/keys.js';
import { openPkcs11Kek } from '../host/escrow/pkcs11.js';
import { freshDatabase, havePostgres } from './support/postgres.js';
import { haveSoftHsm, kekUri, newToken } from './support/softhsm.js';

const PASS = 'contract test passphrase';
const KDF = { log2N: 14, r: 8, p: 1 };

export async function rejectsCode(p: Promise<unknown>, code: string, re?: RegExp): Promise<EscrowError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EscrowError, `expected EscrowError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected EscrowError ${code}`);
}

let n = 0;
function rec(key = generateKey(), block = 'BLOCK_KEY0', deviceId?: string): EscrowRecord {
  return newRecord({ deviceId: deviceId ?? `0300000${(++n).toString(16).padStart(5, '0')}`, chip: 'esp32s3', block, purpose: 'HMAC_UP', key });
}

interface Backend {
  name: string;
  available(): boolean;
  /** What opening with the wrong secret (passphrase, or token PIN) gives. */
  wrongCode: string;
  /** A new, empty store and a way to open it again as another station would. */
  make(): Promise<{ store: EscrowStore; reopen(passphrase?: string): Promise<EscrowStore>; rotate?(): Promise<void> }>;
}

const opened: { close?(): Promise<void> }[] = [];
const keep = <T extends object>(s: T): T => { opened.push(s as { close?(): Promise<void> }); return s; };

let vaultToken: ReturnType<typeof newToken> | undefined;
let pgToken: ReturnType<typeof newToken> | undefined;

export const BACKENDS: Backend[] = [
  {
    name: 'file vault',
    available: () => true,
    wrongCode: 'ESCROW_PASSPHRASE',
    async make() {
      const path = join(mkdtempSync(join(tmpdir(), 'efa-contract-')), 'escrow.vault');
      const store = new FileVault(path, { passphrase: PASS, kdf: KDF });
      return { store, reopen: async (p = PASS) => FileVault.open(path, { passphrase: p }), rotate: () => rotateAndBack(store, () => store.rotateKek({ passphrase: PASS })) };
    },
  },
  {
    name: 'file vault, KEK in a PKCS#11 token',
    available: haveSoftHsm,
    wrongCode: 'ESCROW_PIN',
    async make() {
      const path = join(mkdtempSync(join(tmpdir(), 'efa-contract-')), 'escrow.vault');
      const t = (vaultToken ??= newToken());
      const object = `kek-${++n}`;
      const kek = keep(await openPkcs11Kek(kekUri(t.label, t.pinFile, object), { create: true }));
      const store = new FileVault(path, { kek });
      return {
        store,
        rotate: () => rotateAndBack(store, () => store.rotateKek({ kek })),
        reopen: async (p = PASS) => {
          const pinFile = p === PASS ? t.pinFile : join(dirname(t.pinFile), `${t.label}.wrong`);
          if (p !== PASS) writeFileSync(pinFile, '0000\n');
          return FileVault.open(path, { kek: keep(await openPkcs11Kek(kekUri(t.label, pinFile, object))) });
        },
      };
    },
  },
  {
    name: 'PostgreSQL, KEK in a PKCS#11 token',
    available: () => havePostgres() && haveSoftHsm(),
    wrongCode: 'ESCROW_PIN',
    async make() {
      const url = await freshDatabase('contract');
      const t = (pgToken ??= newToken());
      const object = `kek-${++n}`;
      const kek = keep(await openPkcs11Kek(kekUri(t.label, t.pinFile, object), { create: true }));
      const store = keep(await PgStore.open(url, { kek, station: 'a' }));
      return {
        store,
        rotate: () => rotateAndBack(store, () => store.rotateKek(kek, { kind: 'pkcs11', json: {} })),
        reopen: async (p = PASS) => {
          const pinFile = p === PASS ? t.pinFile : join(dirname(t.pinFile), `${t.label}.wrong`);
          if (p !== PASS) writeFileSync(pinFile, '0000\n');
          return keep(await PgStore.open(url, { kek: keep(await openPkcs11Kek(kekUri(t.label, pinFile, object))), station: 'b' }));
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    available: havePostgres,
    wrongCode: 'ESCROW_PASSPHRASE',
    async make() {
      const url = await freshDatabase('contract');
      const store = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'a' }));
      const back = PassphraseKek.derive(PASS, undefined, KDF);
      return {
        store,
        reopen: async (p = PASS) => keep(await PgStore.open(url, { passphrase: p, station: 'b' })),
        rotate: () => rotateAndBack(store, () => store.rotateKek(back, { kind: 'scrypt', json: kekInfoJson(back.info) })),
      };
    },
  },
];

after(async () => { for (const s of opened.reverse()) await s.close?.(); });

/**
 * escrow rotate-kek twice: to another passphrase's KEK, then `back` to one the backend's reopen() opens
 * with (the same passphrase under a new salt, or the same token key).
 */
async function rotateAndBack(store: EscrowStore, back: () => Promise<number>): Promise<void> {
  const away = `another passphrase ${++n}`;
  if (store instanceof PgStore) {
    const kek = PassphraseKek.derive(away, undefined, KDF);
    await store.rotateKek(kek, { kind: 'scrypt', json: kekInfoJson(kek.info) });
  } else {
    await (store as FileVault).rotateKek({ passphrase: away });
  }
  await back();
}

for (const backend of BACKENDS) {
  describe(`escrow store contract: ${backend.name}`, function () {
    this.timeout(30_000);
    before(function () { if (!backend.available()) this.skip(); });

    it('put is durable: another instance reads the key back; list never shows keys', async () => {
      const { store, reopen } = await backend.make();
      const r = rec();
      await store.put(r);
      const other = await reopen();
      const back = await other.get(r.deviceId, r.block);
      assert.ok(back);
      assert.deepEqual(back.key, r.key);
      assert.equal(back.state, 'escrowed');
      assert.equal((await other.get(r.deviceId))?.block, r.block, 'without a block: the only record');
      const list = await other.list();
      assert.deepEqual(list.map((e) => [e.deviceId, e.block, e.state]), [[r.deviceId, r.block, 'escrowed']]);
      assert.ok(!('key' in list[0]!));
      assert.equal(await other.get('0f0000000000', 'BLOCK_KEY0'), undefined);
    });

    it('the same key merges and states only move forward; setState on no record is ESCROW_MISSING', async () => {
      const { store } = await backend.make();
      const r = rec();
      await store.put(r);
      await store.put({ ...r, state: 'burned' });
      assert.equal((await store.get(r.deviceId, r.block))?.state, 'burned');
      await store.put({ ...r, state: 'escrowed' });
      await store.setState(r.deviceId, r.block, 'escrowed');
      assert.equal((await store.get(r.deviceId, r.block))?.state, 'burned', 'an older state is a no-op');
      await store.setState(r.deviceId, r.block, 'verified');
      assert.equal((await store.get(r.deviceId, r.block))?.state, 'verified');
      await rejectsCode(store.setState('0e0000000000', 'BLOCK_KEY0', 'burned'), 'ESCROW_MISSING');
      await assert.rejects(store.setState(r.deviceId, r.block, 'lost' as never), RangeError);
    });

    it('a derivation put with the same key fills the gap of a record stored without one; a stored derivation wins', async () => {
      const { store, reopen } = await backend.make();
      const r = rec();
      const d1 = { scheme: 'dps-hmac-sha256' as const, registrationId: r.deviceId, masterId: '0123456789abcdef' };
      const d2 = { ...d1, masterId: 'fedcba9876543210' };
      await store.put(r);
      assert.equal((await store.get(r.deviceId, r.block))?.derivation, undefined);
      await store.put({ ...r, state: 'burned', derivation: d1 });
      await store.put({ ...r, derivation: d2 });
      const other = await reopen();
      assert.deepEqual(await other.get(r.deviceId, r.block), { ...r, state: 'burned', derivation: d1 });
      assert.deepEqual((await other.list())[0]?.derivation, d1);
    });

    it('no write path moves a state backwards: put, setState, import by another station, conflicts and KEK rotation, in any order', async () => {
      const { store, reopen, rotate } = await backend.make();
      let other = await reopen();
      // A fixed pseudo-random walk (xorshift32) over every write path; the model is the highest state
      // asked for so far, and after each step both instances must read exactly that state.
      let seed = 0x2545f491;
      const rnd = (n: number) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
      const recs = [rec(), rec(generateKey(), 'BLOCK_KEY3')];
      const want = new Map<EscrowRecord, EscrowState>();
      const pick = (): EscrowState => STATES[rnd(3)]!;
      const steps: string[] = [];
      let backwards = 0;
      for (let i = 0; i < 24; i++) {
        const r = recs[rnd(recs.length)]!;
        const s = pick();
        const was = want.get(r);
        const op = was === undefined ? rnd(2) : rnd(6);
        const into = op === 1 ? other : store;
        if (op <= 1) {
          steps.push(`put ${s}`); // an escrow import with --state is this put
          await into.put({ ...r, state: s, updatedAt: new Date().toISOString() });
        } else if (op <= 3) {
          steps.push(`setState ${s}`);
          await into.setState(r.deviceId, r.block, s);
        } else if (op === 4) {
          steps.push('conflict');
          await rejectsCode(store.put({ ...r, key: generateKey(), state: s }), 'ESCROW_CONFLICT');
          continue;
        } else {
          steps.push('rotate-kek');
          await rotate!();
          other = await reopen(); // the other station opens with the new KEK
          continue;
        }
        if (was !== undefined && stateRank(s) < stateRank(was)) backwards++;
        if (was === undefined || stateRank(s) > stateRank(was)) want.set(r, s);
        for (const [x, w] of want) {
          for (const [who, st] of [['this station', store], ['another station', other]] as const) {
            assert.equal((await st.get(x.deviceId, x.block))?.state, w, `${x.block} for ${who} after ${steps.join(', ')}`);
          }
        }
      }
      assert.ok(backwards >= 3 && steps.includes('rotate-kek') && steps.includes('conflict') && steps.some((x) => x.startsWith('setState')), steps.join(', '));
      const final = await store.list();
      assert.deepEqual(final.map((e) => e.state), [...want.entries()].sort(([a], [b]) => `${a.deviceId}${a.block}`.localeCompare(`${b.deviceId}${b.block}`)).map(([, w]) => w));
    });

    it('a different key for a stored (device, block) is ESCROW_CONFLICT and the stored key stays', async () => {
      const { store, reopen } = await backend.make();
      const r = rec();
      await store.put(r);
      const other = generateKey();
      const stored = Uint8Array.from(r.key);
      const conflict = await rejectsCode(store.put({ ...r, key: other }), 'ESCROW_CONFLICT', /never replaced/);
      // The refusal names the record, never either key, in any spelling (hex, base64, raw bytes).
      const text = `${conflict.message} ${conflict.stack ?? ''} ${JSON.stringify(conflict)}`;
      for (const k of [stored, other]) {
        for (const spelling of [Buffer.from(k).toString('hex'), Buffer.from(k).toString('base64'), Buffer.from(k).toString('latin1')]) {
          assert.ok(!text.toLowerCase().includes(spelling.toLowerCase()), 'no key bytes in a conflict');
        }
      }
      await rejectsCode(store.put({ ...r, chip: 'esp32c3' }), 'ESCROW_CONFLICT');
      assert.deepEqual((await (await reopen()).get(r.deviceId, r.block))?.key, stored);
    });

    it('two stations racing to escrow different keys for one device: exactly one wins, the other gets ESCROW_CONFLICT', async () => {
      const { store, reopen } = await backend.make();
      const other = await reopen();
      const id = `0400000${(++n).toString(16).padStart(5, '0')}`;
      const a = rec(generateKey(), 'BLOCK_KEY0', id);
      const b = rec(generateKey(), 'BLOCK_KEY0', id);
      const results = await Promise.allSettled([store.put(a), other.put(b)]);
      const ok = results.filter((x) => x.status === 'fulfilled').length;
      assert.equal(ok, 1, JSON.stringify(results.map((x) => x.status)));
      const lost = results.find((x) => x.status === 'rejected') as PromiseRejectedResult;
      assert.equal((lost.reason as EscrowError).code, 'ESCROW_CONFLICT');
      const stored = await store.get(id, 'BLOCK_KEY0');
      const winner = results[0]!.status === 'fulfilled' ? a : b;
      assert.deepEqual(stored?.key, winner.key);
    });

    it('several blocks of one device: get without a block is ESCROW_AMBIGUOUS', async () => {
      const { store } = await backend.make();
      const r = rec();
      await store.put(r);
      await store.put(rec(generateKey(), 'BLOCK_KEY1', r.deviceId));
      await rejectsCode(store.get(r.deviceId), 'ESCROW_AMBIGUOUS', /BLOCK_KEY0, BLOCK_KEY1/);
    });

    it(`a wrong passphrase or PIN is ${backend.wrongCode} and changes nothing`, async () => {
      const { store, reopen } = await backend.make();
      const r = rec();
      await store.put(r);
      await rejectsCode((async () => (await reopen('not the passphrase')).get(r.deviceId, r.block))(), backend.wrongCode);
      assert.deepEqual((await store.get(r.deviceId, r.block))?.key, r.key);
    });

    it('bad arguments are TypeError/RangeError naming the argument', async () => {
      const { store } = await backend.make();
      await assert.rejects(store.put({ ...rec(), key: new Uint8Array(31) }), /record\.key/);
      await assert.rejects(store.get('zz'), (e: Error) => e instanceof RangeError && /deviceId/.test(e.message));
      await assert.rejects(store.get('0e0000000000', 'BLOCK_KEY9'), (e: Error) => e instanceof RangeError && /block/.test(e.message));
    });
  });
}

describe('PostgreSQL escrow: audit in the same transaction, guards in the database', function () {
  this.timeout(30_000);
  before(function () { if (!havePostgres()) this.skip(); });

  it('every transition is one hash-chained audit row; a refused conflict is audited too', async () => {
    const url = await freshDatabase('audit');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'st-1' }));
    const r = rec();
    await s.put(r);
    await s.put(r); // no change: no row
    await s.setState(r.deviceId, r.block, 'burned');
    await s.setState(r.deviceId, r.block, 'burned');
    await s.setState(r.deviceId, r.block, 'verified');
    await rejectsCode(s.put({ ...r, key: generateKey() }), 'ESCROW_CONFLICT');
    const rows = await s.auditRows();
    assert.deepEqual(rows.map((x) => [x.seq, x.action, x.fromState, x.toState, x.station]), [
      [1, 'escrow', null, 'escrowed', 'st-1'],
      [2, 'state', 'escrowed', 'burned', 'st-1'],
      [3, 'state', 'burned', 'verified', 'st-1'],
      [4, 'refuse-conflict', null, null, 'st-1'],
    ]);
    let prev: Uint8Array = GENESIS;
    for (const row of rows) {
      assert.deepEqual(row.prev, prev);
      assert.deepEqual(row.hash, auditRowHash(prev, row));
      prev = row.hash;
    }
  });

  it('plain SQL cannot replace a key, move a state back, delete a record or rewrite the audit', async () => {
    const url = await freshDatabase('guard');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF }));
    const r = rec();
    await s.put(r);
    await s.setState(r.deviceId, r.block, 'burned');
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await assert.rejects(c.query("UPDATE efa_escrow SET key_ct = '\\x00'::bytea"), /never replaced/);
      await assert.rejects(c.query("UPDATE efa_escrow SET state = 'escrowed'"), /only moves forward/);
      await assert.rejects(c.query('DELETE FROM efa_escrow'), /never deleted/);
      await assert.rejects(c.query("UPDATE efa_escrow_audit SET action = 'x'"), /append-only/);
      await assert.rejects(c.query('DELETE FROM efa_escrow_audit'), /append-only/);
    } finally {
      await c.end();
    }
    const back = await s.get(r.deviceId, r.block);
    assert.equal(back?.state, 'burned');
    assert.deepEqual(back?.key, r.key);
  });

  it('keys are stored only sealed: no key bytes in any column', async () => {
    const url = await freshDatabase('sealed');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF }));
    const r = rec();
    await s.put(r);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const { rows } = await c.query<{ t: string }>('SELECT row_to_json(e)::text AS t FROM efa_escrow e');
      const hex = Buffer.from(r.key).toString('hex');
      assert.ok(!rows[0]!.t.includes(hex));
      const raw = await c.query<{ wrapped_key: Buffer; key_ct: Buffer }>('SELECT wrapped_key, key_ct FROM efa_escrow');
      assert.ok(!raw.rows[0]!.key_ct.includes(Buffer.from(r.key)));
    } finally {
      await c.end();
    }
  });

  it('claims: another host\'s live claim is ESCROW_BUSY; once it lapses this station takes the device over, and says so', async () => {
    const url = await freshDatabase('lease');
    const s = keep(await PgStore.open(url, { passphrase: PASS, kdf: KDF, station: 'st-here' }));
    const id = '0d0000000001';
    await s.claim(id, 'BLOCK_KEY0'); // creates the table row, then hand it to a station elsewhere
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("UPDATE efa_claim SET station = 'st-far', host = 'far-away-host', pid = 1, expires_at = now() + interval '400 milliseconds'");
    await c.end();
    await rejectsCode(s.claim(id, 'BLOCK_KEY0'), 'ESCROW_BUSY', /station st-far/);
    await new Promise((r) => setTimeout(r, 500));
    await s.claim(id, 'BLOCK_KEY0');
    const rows = (await s.auditRows()).filter((x) => x.action === 'claim');
    assert.equal(rows.length, 1);
    assert.match(rows[0]!.detail ?? '', /from station st-far \(its claim lapsed\)/);
    await s.release(id, 'BLOCK_KEY0');
    await s.claim(id, 'BLOCK_KEY0'); // free again: no takeover to record
    assert.equal((await s.auditRows()).filter((x) => x.action === 'claim').length, 1);
  });

  it('a new escrow refuses a short passphrase and creates nothing', async () => {
    const url = await freshDatabase('short');
    await assert.rejects(PgStore.open(url, { passphrase: 'short', newPassphraseMin: 8 }), (e: Error) => e instanceof RangeError && /at least 8 characters/.test(e.message));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE tablename LIKE 'efa_%'");
    await c.end();
    assert.equal(Number(rows[0]!.n), 0);
    // Exactly the minimum is enough: 8 characters, counted as characters, not UTF-8 bytes.
    const ok = await PgStore.open(url, { passphrase: 'eight\u00e9ch', newPassphraseMin: 8, kdf: KDF });
    assert.equal(typeof ok.kekId, 'string');
    await ok.close();
  });

  it('an unreachable server is a clear ESCROW_IO error', async () => {
    await rejectsCode(PgStore.open('postgres://efa@127.0.0.1:1/none', { passphrase: PASS }), 'ESCROW_IO', /cannot open the escrow/);
  });
});
