// The escrow store's shared rules (host/escrow/store.ts), checked directly: block names, the record
// checks at the store boundary (each names its field and never echoes key bytes), the listing form,
// and the merge rule every backend's put() uses — the state only moves forward, and updatedAt moves
// with it; a different key or chip is ESCROW_CONFLICT.
import assert from 'node:assert/strict';
import { EscrowError, VerificationError } from '../host/errors.js';
import { checkRecord, entryOf, type EscrowRecord, mergeRecord, newRecord, STATES, stateRank } from '../host/escrow/store.js';
import { blockName, blockSlot } from '../protocol/keyblock.js';
import { DERIVATION_SCHEME } from '../host/keys.js';
import { equalBytes, toHex } from '../protocol/index.js';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, createHmac, scryptSync } from 'node:crypto';
import { closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gcmOpen, gcmSeal, type Kek, PassphraseKek, recordAad, rewrap, seal, unseal } from '../host/escrow/envelope.js';
import { FileLock } from '../host/escrow/lock.js';
import { FileVault } from '../host/escrow/vault.js';
import { DEFAULT_MODULE, openPkcs11Kek, parsePkcs11Uri, Pkcs11Kek, PIN_ENV, TokenSession } from '../host/escrow/pkcs11.js';
import { HsmKeyring } from '../host/escrow/hsm.js';
import { kekInfoJson, PgStore, redactUrl } from '../host/escrow/pg.js';
import { haveSoftHsm, kekUri, newToken } from './support/softhsm.js';
import { createDevice } from '../device/src/device.js';
import { softChip } from './support/soft-chip.js';
import { cleanLeftovers, keyFileLeftovers } from '../host/escrow/leftovers.js';
import { auditRowHash, GENESIS, LOCK_AUDIT, LOCK_SCHEMA, type PgAuditRow, verifyAuditRows } from '../host/escrow/pg-schema.js';
import { canonical, CHECK_MESSAGE, DEFAULT_KDF, encodeHeader, FILE_KEY_AAD, FORMAT, FORMAT_1, HEADER_SIZE, type Header, KDF_SCRYPT, kdfInLimits, KEK_PKCS11, KEK_SCRYPT, kekCheck, keyOf, parseRecords, readHeader, sortedRecords, TAG_SIZE } from '../host/escrow/vault-format.js';
import { codedError } from './support/errors.js';
import { memoryKek } from './support/memory-kek.js';

const KEY = new Uint8Array(32).fill(0x5c);
const T0 = '2026-01-02T03:04:05.678Z';
const T1 = '2026-01-02T03:04:06Z';
const base = (over: Partial<EscrowRecord> = {}): EscrowRecord => ({
  deviceId: '7cdfa1000001', chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: KEY,
  createdAt: T0, updatedAt: T0, state: 'escrowed', ...over,
});
const derivation = { scheme: DERIVATION_SCHEME, registrationId: '7cdfa1000001', masterId: '0123456789abcdef' };

describe('escrow store rules: block names', () => {
  it('BLOCK_KEY0..5 in any case, or a bare digit', () => {
    assert.equal(blockName('3'), 'BLOCK_KEY3');
    assert.equal(blockName('block_key5'), 'BLOCK_KEY5');
    assert.equal(blockName('BLOCK_KEY0'), 'BLOCK_KEY0');
    assert.equal(blockSlot('block_key4'), 4);
    assert.equal(blockSlot('2'), 2);
    assert.equal(blockName('BLOCK_KEY5'), 'BLOCK_KEY5');
    for (const bad of ['BLOCK_KEY6', 'XBLOCK_KEY1', 'BLOCK_KEY1X']) assert.throws(() => blockName(bad), RangeError, bad);
  });

  it('anything else is refused, naming the argument and the value', () => {
    assert.equal(blockName(3), 'BLOCK_KEY3', 'a slot number names its block');
    assert.throws(() => blockName(6), (e: unknown) => e instanceof RangeError && /^block must be 0\.\.5, got 6/.test(e.message));
    assert.throws(() => blockName(true), (e: unknown) => e instanceof TypeError && e.message === 'block must be a block name such as BLOCK_KEY0 or a slot 0..5');
    assert.throws(() => blockName(null, '--block'), /^TypeError: --block must be a block name/);
    for (const bad of ['6', 'BLOCK_KEY6', '', '03', 'BLOCK_KEY', ' 1']) {
      assert.throws(() => blockName(bad, 'b'), (e: unknown) => e instanceof RangeError && e.message === `b must be BLOCK_KEY0..BLOCK_KEY5, got "${bad}"`, bad);
    }
  });
});

describe('escrow store rules: states', () => {
  it('escrowed < burned < verified; anything else ranks below all', () => {
    assert.deepEqual([...STATES], ['escrowed', 'burned', 'verified']);
    assert.ok(Object.isFrozen(STATES));
    assert.deepEqual(STATES.map(stateRank), [0, 1, 2]);
    assert.equal(stateRank('lost' as never), -1);
  });
});

describe('escrow store rules: checkRecord', () => {
  it('returns a normalized copy (device id, block spelling); derivation copied field by field', () => {
    const r = checkRecord({ ...base({ deviceId: '7C:DF:A1:00:00:01', block: '2', derivation: { ...derivation, extra: 1 } as never }), other: 'x' });
    assert.deepEqual(Object.keys(r).sort(), ['block', 'chip', 'createdAt', 'derivation', 'deviceId', 'key', 'purpose', 'state', 'updatedAt']);
    assert.equal(r.deviceId, '7cdfa1000001');
    assert.equal(r.block, 'BLOCK_KEY2');
    assert.deepEqual(r.derivation, derivation);
    assert.ok(!('derivation' in checkRecord(base())));
  });

  it('each bad field is refused with its name (and where), never with key bytes', () => {
    const cases: [Record<string, unknown>, RegExp, ErrorConstructor][] = [
      [{ chip: 'esp8266' }, /^rec\.chip must be one of esp32, /, RangeError],
      [{ chip: 7 }, /^rec\.chip must be one of/, RangeError],
      [{ block: 'BLOCK_KEY7' }, /^rec\.block must be/, RangeError],
      [{ purpose: 'hmac_up' }, /^rec\.purpose must be a key purpose name such as HMAC_UP$/, RangeError],
      [{ purpose: '' }, /^rec\.purpose/, RangeError],
      [{ purpose: 8 }, /^rec\.purpose/, RangeError],
      [{ purpose: 'HMAC_UP!' }, /^rec\.purpose/, RangeError],
      [{ purpose: '_HMAC' }, /^rec\.purpose/, RangeError],
      [{ key: new Uint8Array(31) }, /rec\.key/, RangeError],
      [{ key: new Uint8Array(33) }, /rec\.key/, RangeError],
      [{ createdAt: '2026-01-02 03:04:05Z' }, /^rec\.createdAt must be an ISO 8601 UTC time$/, RangeError],
      [{ createdAt: 5 }, /^rec\.createdAt/, RangeError],
      [{ updatedAt: '2026-01-02T03:04:05+01:00' }, /^rec\.updatedAt must be an ISO 8601 UTC time$/, RangeError],
      [{ updatedAt: 'x2026-01-02T03:04:05Z' }, /^rec\.updatedAt/, RangeError],
      [{ updatedAt: '2026-01-02T03:04:05.Z' }, /^rec\.updatedAt/, RangeError],
      [{ state: 'lost' }, /^rec\.state must be one of escrowed, burned, verified$/, RangeError],
      [{ deviceId: 'zz' }, /rec\.deviceId/, RangeError],
      [{ derivation: { ...derivation, scheme: 'other' } }, /^rec\.derivation must be \{scheme: /, RangeError],
      [{ derivation: { ...derivation, registrationId: 5 } }, /^rec\.derivation/, RangeError],
      [{ derivation: { ...derivation, masterId: 5 } }, /^rec\.derivation/, RangeError],
      [{ derivation: { ...derivation, masterId: '0123456789ABCDEF' } }, /^rec\.derivation/, RangeError],
      [{ derivation: { ...derivation, masterId: '0123456789abcde' } }, /^rec\.derivation/, RangeError],
      [{ derivation: { ...derivation, masterId: 'x0123456789abcdef' } }, /^rec\.derivation/, RangeError],
      [{ derivation: { ...derivation, masterId: '0123456789abcdef0' } }, /^rec\.derivation/, RangeError],
      [{ derivation: null }, /^rec\.derivation/, RangeError],
      [{ derivation: 'x' }, /^rec\.derivation/, RangeError],
    ];
    for (const [over, re, type] of cases) {
      assert.throws(() => checkRecord({ ...base(), ...over }, 'rec'), (e: unknown) => {
        assert.ok(e instanceof type, `${JSON.stringify(over)}: ${String(e)}`);
        assert.match((e as Error).message, re);
        assert.ok(!(e as Error).message.includes('5c5c'), 'no key bytes');
        return true;
      });
    }
    assert.throws(() => checkRecord(null), (e: unknown) => e instanceof TypeError && e.message === 'record must be an object');
    assert.throws(() => checkRecord('x', 'r'), /^TypeError: r must be an object$/);
    assert.ok(checkRecord({ ...base(), createdAt: '2026-01-02T03:04:05Z', updatedAt: '2026-01-02T03:04:05.1Z' }));
  });
});

describe('escrow store rules: listing and new records', () => {
  it('entryOf drops the key and copies the derivation', () => {
    const r = base({ derivation: { ...derivation } });
    const e = entryOf(r);
    assert.ok(!('key' in e));
    assert.deepEqual(e, { deviceId: r.deviceId, chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', createdAt: T0, updatedAt: T0, state: 'escrowed', derivation });
    assert.notEqual(e.derivation, r.derivation);
    assert.ok(!('derivation' in entryOf(base())));
  });

  it('newRecord: escrowed unless told, stamped now (created = updated)', () => {
    const before = Date.now();
    const r = newRecord({ deviceId: '7cdfa1000002', chip: 'esp32c3', block: '1', purpose: 'HMAC_UP', key: KEY });
    assert.equal(r.state, 'escrowed');
    assert.equal(r.block, 'BLOCK_KEY1');
    assert.equal(r.createdAt, r.updatedAt);
    assert.ok(Date.parse(r.createdAt) >= before - 1 && Date.parse(r.createdAt) <= Date.now());
    assert.equal(newRecord({ deviceId: '7cdfa1000002', chip: 'esp32c3', block: '1', purpose: 'HMAC_UP', key: KEY, state: 'burned' }).state, 'burned');
  });
});

describe('escrow store rules: mergeRecord (what put does with an existing record)', () => {
  it('no existing record: the incoming one as is', () => {
    const r = base({ state: 'verified' });
    assert.equal(mergeRecord(undefined, r, equalBytes), r);
  });

  it('forward: the new state and its updatedAt; same or backward: the stored record unchanged', () => {
    const old = base({ state: 'burned', updatedAt: T0 });
    const fwd = mergeRecord(old, base({ state: 'verified', updatedAt: T1 }), equalBytes);
    assert.deepEqual([fwd.state, fwd.updatedAt, fwd.createdAt], ['verified', T1, T0]);
    for (const s of ['escrowed', 'burned'] as const) {
      const m = mergeRecord(old, base({ state: s, updatedAt: T1, purpose: 'OTHER' }), equalBytes);
      assert.deepEqual([m.state, m.updatedAt, m.purpose], ['burned', T0, 'HMAC_UP'], s);
    }
  });

  it('the stored derivation wins; an incoming one fills a gap; none stays none', () => {
    const other = { ...derivation, masterId: 'fedcba9876543210' };
    assert.deepEqual(mergeRecord(base({ derivation }), base({ derivation: other }), equalBytes).derivation, derivation);
    assert.deepEqual(mergeRecord(base(), base({ derivation: other }), equalBytes).derivation, other);
    assert.ok(!('derivation' in mergeRecord(base(), base(), equalBytes)));
  });

  it('a different key or chip is ESCROW_CONFLICT naming device, block and state, never the keys', () => {
    const old = base({ state: 'burned' });
    const other = new Uint8Array(32).fill(0xa7);
    assert.throws(() => mergeRecord(old, base({ key: other }), equalBytes), (e: unknown) => {
      assert.ok(e instanceof EscrowError);
      assert.equal(e.code, 'ESCROW_CONFLICT');
      assert.match(e.message, /different key for device 7cdfa1000001 BLOCK_KEY0 \(state burned\); an escrowed key is never replaced/);
      assert.ok(!/5c5c|a7a7/i.test(e.message));
      return true;
    });
    assert.throws(() => mergeRecord(old, base({ chip: 'esp32c3' }), equalBytes), (e: unknown) =>
      e instanceof EscrowError && e.code === 'ESCROW_CONFLICT' && /is for esp32s3, not esp32c3/.test(e.message));
    // The comparison is the caller's: a comparator that says "equal" merges.
    assert.equal(mergeRecord(old, base({ key: other, state: 'verified' }), () => true).state, 'verified');
  });
});

// ---- vault file format, envelope encryption, the lock file, leftovers, the PostgreSQL audit chain ----

const escrowError = (code: string, msg: string | RegExp) => codedError(EscrowError, code, msg);
/** Cheap scrypt parameters: these tests check the arithmetic, not the cost. */
const FAST_KDF = { log2N: 4, r: 1, p: 1 };

describe('escrow vault format: limits and header', () => {
  it('kdfInLimits: integer parameters in range, scrypt memory at most 512 MiB', () => {
    assert.equal(kdfInLimits({ log2N: 14, r: 1, p: 1 }), true);
    assert.equal(kdfInLimits({ log2N: 20, r: 4, p: 4 }), true, '128 · 2^20 · 4 is exactly 512 MiB');
    assert.equal(kdfInLimits({ log2N: 20, r: 5, p: 1 }), false, 'over 512 MiB');
    assert.equal(kdfInLimits({ log2N: 17, r: 16, p: 1 }), true);
    for (const k of [{ log2N: 13, r: 8, p: 1 }, { log2N: 21, r: 1, p: 1 }, { log2N: 15, r: 0, p: 1 }, { log2N: 15, r: 17, p: 1 },
      { log2N: 15, r: 8, p: 0 }, { log2N: 15, r: 8, p: 5 }, { log2N: 15.5, r: 8, p: 1 }, { log2N: 15, r: 8.5, p: 1 }, { log2N: 15, r: 8, p: 1.5 }]) {
      assert.equal(kdfInLimits(k), false, JSON.stringify(k));
    }
    assert.deepEqual(DEFAULT_KDF, { log2N: 15, r: 8, p: 1 });
    assert.equal(kdfInLimits(DEFAULT_KDF), true);
  });

  const header = (over: Partial<Header> = {}): Header => ({
    format: FORMAT, kekKind: KEK_SCRYPT, kdf: { log2N: 15, r: 8, p: 1 }, salt: new Uint8Array(32).fill(0x11),
    check: new Uint8Array(16).fill(0x22), nonce: new Uint8Array(12).fill(0x33), generation: 0x01020304, ...over,
  });

  it('encodeHeader: magic, format, KEK kind, scrypt parameters, salt, check, nonce, big-endian generation', () => {
    const h = encodeHeader(header());
    assert.equal(h.length, HEADER_SIZE);
    assert.equal(Buffer.from(h).toString('hex'), Buffer.from('EFAVAULT').toString('hex') + '0201' + '0f0801' + '000000'
      + '11'.repeat(32) + '22'.repeat(16) + '33'.repeat(12) + '01020304');
    const p = encodeHeader(header({ kekKind: KEK_PKCS11 }));
    assert.deepEqual([...p.subarray(8, 16)], [2, 2, 0, 0, 0, 0, 0, 0], 'a PKCS#11 KEK has no scrypt parameters');
  });

  it('readHeader reads back what encodeHeader wrote, also from a view at an offset', () => {
    const h = header({ generation: 0xfffffffe });
    const file = new Uint8Array(7 + HEADER_SIZE + TAG_SIZE + 5);
    file.set(encodeHeader(h), 7);
    const view = file.subarray(7);
    assert.deepEqual(readHeader(view, 'v'), h);
    const p = header({ kekKind: KEK_PKCS11, kdf: { log2N: 0, r: 0, p: 0 } });
    const pf = new Uint8Array(HEADER_SIZE + TAG_SIZE);
    pf.set(encodeHeader(p));
    assert.deepEqual(readHeader(pf, 'v'), p);
    const one = new Uint8Array(HEADER_SIZE + TAG_SIZE);
    one.set(encodeHeader(header({ format: FORMAT_1, kekKind: KDF_SCRYPT })));
    assert.equal(readHeader(one, 'v').format, 1);
  });

  it('readHeader refuses: no magic (ESCROW_FORMAT), truncated, unknown format, altered header bytes', () => {
    const good = new Uint8Array(HEADER_SIZE + TAG_SIZE);
    good.set(encodeHeader(header()));
    const altered = (i: number, v: number) => { const c = Uint8Array.from(good); c[i] = v; return c; };
    const notVault = escrowError('ESCROW_FORMAT', '/x/v is not an efuse-attest vault (no EFAVAULT header)');
    assert.throws(() => readHeader(good.subarray(0, 7), '/x/v'), notVault);
    assert.throws(() => readHeader(altered(0, 0x65), '/x/v'), notVault);
    assert.throws(() => readHeader(altered(7, 0x55), '/x/v'), notVault);
    assert.throws(() => readHeader(good.subarray(0, 8), '/x/v'), escrowError('ESCROW_TAMPERED', 'the vault /x/v is truncated (8 bytes): it was damaged; nothing was changed'));
    assert.throws(() => readHeader(good.subarray(0, HEADER_SIZE + TAG_SIZE - 1), '/x/v'), escrowError('ESCROW_TAMPERED', /truncated \(95 bytes\)/));
    assert.equal(readHeader(good.subarray(0, HEADER_SIZE + TAG_SIZE), '/x/v').generation, 0x01020304);
    for (const f of [0, 3, 255]) {
      assert.throws(() => readHeader(altered(8, f), '/x/v'), escrowError('ESCROW_FORMAT', `the vault /x/v has format version ${f}, which this efuse-attest does not read`));
    }
    const invalid = escrowError('ESCROW_TAMPERED', 'the vault /x/v has an invalid header: it was altered or damaged; nothing was changed');
    for (const [i, v] of [[9, 0], [9, 3], [10, 13], [10, 21], [11, 0], [11, 17], [12, 0], [12, 5], [13, 1], [14, 1], [15, 1]]) {
      assert.throws(() => readHeader(altered(i!, v!), '/x/v'), invalid, `byte ${i} = ${v}`);
    }
    // Format 2 with a PKCS#11 KEK: bytes 10..12 must be zero.
    const pk = new Uint8Array(HEADER_SIZE + TAG_SIZE);
    pk.set(encodeHeader(header({ kekKind: KEK_PKCS11 })));
    for (const i of [10, 11, 12]) { const c = Uint8Array.from(pk); c[i] = 1; assert.throws(() => readHeader(c, '/x/v'), invalid, `pkcs11 byte ${i}`); }
    // Zero KDF bytes are a PKCS#11 header only with that KEK kind.
    for (const k of [0, 3]) { const c = Uint8Array.from(pk); c[9] = k; assert.throws(() => readHeader(c, '/x/v'), invalid, `kind ${k} with zero KDF bytes`); }
    // Format 1 knows only scrypt.
    const f1 = Uint8Array.from(pk);
    f1[8] = FORMAT_1;
    assert.throws(() => readHeader(f1, '/x/v'), invalid, 'format 1 with a PKCS#11 KEK');
    for (const k of [0, KEK_PKCS11, 3]) {
      const c = Uint8Array.from(good);
      c[8] = FORMAT_1;
      c[9] = k;
      assert.throws(() => readHeader(c, '/x/v'), invalid, `format 1, kind ${k} with scrypt parameters in limits`);
    }
    const f1bad = Uint8Array.from(good);
    f1bad[8] = FORMAT_1;
    f1bad[10] = 30;
    assert.throws(() => readHeader(f1bad, '/x/v'), invalid, 'format 1 scrypt out of limits');
  });

  it('keys, AAD, check value and canonical form', () => {
    assert.equal(keyOf('7cdfa1000001', 'BLOCK_KEY2'), '7cdfa1000001/BLOCK_KEY2');
    const head = new Uint8Array(HEADER_SIZE).map((_, i) => i);
    assert.deepEqual(FILE_KEY_AAD(head), Buffer.concat([Buffer.from('efuse-attest vault file key\0'), Buffer.from(head.subarray(0, 48))]));
    assert.deepEqual(Buffer.from(kekCheck('pkcs11:token/kek')), createHash('sha256').update('pkcs11:token/kek').digest().subarray(0, 16));
    assert.equal(kekCheck('x').length, 16);
    const a = base({ deviceId: '7cdfa1000002', block: 'BLOCK_KEY0' });
    const b = base({ deviceId: '7cdfa1000001', block: 'BLOCK_KEY3' });
    const c = base({ deviceId: '7cdfa1000001', block: 'BLOCK_KEY1' });
    const m = new Map([[keyOf(a.deviceId, a.block), a], [keyOf(b.deviceId, b.block), b], [keyOf(c.deviceId, c.block), c]]);
    assert.deepEqual(sortedRecords(m), [c, b, a]);
    assert.equal(canonical(m).toString('utf8'), JSON.stringify([c, b, a].map((r) => ({ ...r, key: '5c'.repeat(32) }))));
    assert.equal(CHECK_MESSAGE, 'efuse-attest vault passphrase check');
  });
});

describe('escrow vault format: parseRecords', () => {
  const kek = PassphraseKek.derive('pw', undefined, FAST_KDF);
  const record = base({ deviceId: '7cdfa1000001', block: 'BLOCK_KEY1', state: 'burned' });
  const plain = (doc: unknown) => Buffer.from(JSON.stringify(doc), 'utf8');
  const invalid = (why: string | RegExp) => escrowError('ESCROW_FORMAT', typeof why === 'string'
    ? `the vault /v decrypts but its content is invalid (${why})` : new RegExp(`^the vault /v decrypts but its content is invalid \\(${why.source}\\)$`));
  async function sealedRecord(r: EscrowRecord = record): Promise<Record<string, unknown>> {
    const s = await seal(kek, r.key, recordAad(r.deviceId, r.block, r.chip));
    const { key: _k, ...fields } = r;
    return { ...fields, sealed: { kek: s.kek, wrappedKey: toHex(s.wrappedKey), ct: toHex(s.ct) } };
  }

  it('format 1: hex keys; format 2: sealed keys opened with the KEK, and their sealed forms kept', async () => {
    const one = await parseRecords(plain({ format: 1, records: [{ ...record, key: '5c'.repeat(32) }] }), 1, undefined, '/v');
    assert.deepEqual([...one.records.entries()], [['7cdfa1000001/BLOCK_KEY1', record]]);
    assert.equal(one.sealed.size, 0);
    const s = await sealedRecord();
    const two = await parseRecords(plain({ format: 2, records: [s] }), 2, kek, '/v');
    assert.deepEqual([...two.records.entries()], [['7cdfa1000001/BLOCK_KEY1', record]]);
    const st = two.sealed.get('7cdfa1000001/BLOCK_KEY1')!;
    assert.equal(st.kek, kek.id);
    assert.equal(toHex(st.ct), (s.sealed as { ct: string }).ct);
    assert.equal(toHex(st.wrappedKey), (s.sealed as { wrappedKey: string }).wrappedKey);
    assert.ok(!('sealed' in two.records.get('7cdfa1000001/BLOCK_KEY1')!));
  });

  it('refuses: not JSON, wrong format or no list, bad keys, duplicates — naming the record', async () => {
    await assert.rejects(parseRecords(Buffer.from('{'), 1, undefined, '/v'), invalid('not JSON'));
    await assert.rejects(parseRecords(plain({ format: 2, records: [] }), 1, undefined, '/v'), invalid('no records list'));
    await assert.rejects(parseRecords(plain({ format: 1, records: {} }), 1, undefined, '/v'), invalid('no records list'));
    assert.equal((await parseRecords(plain({ format: 1, records: [] }), 1, undefined, '/v')).records.size, 0);
    for (const key of [undefined, 5, '5C'.repeat(32), '5c'.repeat(31), '5c'.repeat(33), 'x' + '5c'.repeat(32)]) {
      await assert.rejects(parseRecords(plain({ format: 1, records: [{ ...record, key }] }), 1, undefined, '/v'), invalid('record 0 key is not 64 hex digits'), String(key));
    }
    await assert.rejects(parseRecords(plain({ format: 1, records: [null] }), 1, undefined, '/v'), invalid('record 0 key is not 64 hex digits'));
    const dup = { ...record, key: '5c'.repeat(32) };
    await assert.rejects(parseRecords(plain({ format: 1, records: [dup, { ...dup, state: 'escrowed' }] }), 1, undefined, '/v'), invalid('two records for 7cdfa1000001 BLOCK_KEY1'));
    await assert.rejects(parseRecords(plain({ format: 1, records: [dup, { ...dup, chip: 'esp8266' }] }), 1, undefined, '/v'), invalid(/record 1\.chip must be one of .*/));
    const s = await sealedRecord();
    const sealedOf = s.sealed as Record<string, unknown>;
    for (const bad of [undefined, null, { ...sealedOf, kek: 5 }, { ...sealedOf, wrappedKey: 5 }, { ...sealedOf, ct: 5 },
      { ...sealedOf, wrappedKey: '' }, { ...sealedOf, ct: 'abc' }, { ...sealedOf, wrappedKey: 'AB' + (sealedOf.wrappedKey as string) }, { ...sealedOf, ct: (sealedOf.ct as string) + 'g0' },
      { ...sealedOf, ct: 'x' + (sealedOf.ct as string) + 'x' }, { ...sealedOf, wrappedKey: 'abc' }, { ...sealedOf, wrappedKey: (sealedOf.wrappedKey as string) + 'g0' }]) {
      await assert.rejects(parseRecords(plain({ format: 2, records: [{ ...s, sealed: bad }] }), 2, kek, '/v'), invalid('record 0 has no sealed key'), JSON.stringify(bad));
    }
    await assert.rejects(parseRecords(plain({ format: 2, records: [null] }), 2, kek, '/v'), invalid('record 0 has no sealed key'));
    await assert.rejects(parseRecords(plain({ format: 2, records: [{ ...s, block: 'BLOCK_KEY9' }] }), 2, kek, '/v'), invalid(/record 0\.block must be .*/));
    // A sealed key moved to another record does not open: the integrity error is the envelope's own.
    await assert.rejects(parseRecords(plain({ format: 2, records: [{ ...s, block: 'BLOCK_KEY2' }] }), 2, kek, '/v'),
      escrowError('ESCROW_TAMPERED', /^a data key does not unwrap with key-encryption key scrypt:/));
    const other = PassphraseKek.derive('other', undefined, FAST_KDF);
    await assert.rejects(parseRecords(plain({ format: 2, records: [s] }), 2, other, '/v'),
      escrowError('ESCROW_KEK', `record 0 of the vault /v is wrapped by key-encryption key ${kek.id}, not by the one given (${other.id}); nothing was changed`));
    const s2 = await sealedRecord(base({ deviceId: '7cdfa1000001', block: 'BLOCK_KEY1', chip: 'esp32s3' }));
    await assert.rejects(parseRecords(plain({ format: 2, records: [s, s2] }), 2, kek, '/v'), invalid('two records for 7cdfa1000001 BLOCK_KEY1'));
  });
});

describe('escrow envelope: AES-GCM layers and KEKs', () => {
  const K = new Uint8Array(32).fill(9);
  const aad = Buffer.from('aad');

  it('gcmSeal: nonce ‖ ciphertext ‖ tag, a fresh nonce each time; gcmOpen reverses it or says undefined', () => {
    const a = gcmSeal(K, new Uint8Array(5).fill(1), aad);
    const b = gcmSeal(K, new Uint8Array(5).fill(1), aad);
    assert.equal(a.length, 12 + 5 + 16);
    assert.notDeepEqual(a.subarray(0, 12), b.subarray(0, 12));
    assert.deepEqual(gcmOpen(K, a, aad), Buffer.alloc(5, 1));
    const empty = gcmSeal(K, new Uint8Array(0), aad);
    assert.equal(empty.length, 28);
    assert.deepEqual(gcmOpen(K, empty, aad), Buffer.alloc(0), 'exactly nonce and tag: an empty plaintext');
    assert.equal(gcmOpen(K, empty.subarray(0, 27), aad), undefined);
    assert.equal(gcmOpen(K, a, Buffer.from('other')), undefined);
    assert.equal(gcmOpen(new Uint8Array(32), a, aad), undefined);
    for (const i of [0, 11, 12, 16, 17, 32]) {
      const c = Uint8Array.from(a);
      c[i] ^= 1;
      assert.equal(gcmOpen(K, c, aad), undefined, `byte ${i}`);
    }
    assert.equal(gcmOpen(new Uint8Array(5), a, aad), undefined, 'a bad key size is no answer, not a throw');
    // Known answer: AES-256-GCM with the stored nonce.
    const d = createDecipheriv('aes-256-gcm', K, a.subarray(0, 12), { authTagLength: 16 });
    d.setAAD(aad);
    d.setAuthTag(a.subarray(17));
    assert.deepEqual(Buffer.concat([d.update(a.subarray(12, 17)), d.final()]), Buffer.alloc(5, 1));
  });

  it('recordAad binds device, block and chip', () => {
    assert.equal(Buffer.from(recordAad('7cdfa1000001', 'BLOCK_KEY0', 'esp32s3')).toString('utf8'), 'efuse-attest escrow key\x007cdfa1000001\x00BLOCK_KEY0\x00esp32s3');
  });

  /** A KEK that records what it was given. */
  function recordingKek(id: string): Kek & { seen: Uint8Array[]; aads: Uint8Array[] } {
    const key = new Uint8Array(32).fill(id.length);
    const seen: Uint8Array[] = [];
    const aads: Uint8Array[] = [];
    return {
      id, seen, aads,
      async wrap(dk, a) { seen.push(dk); aads.push(a); return gcmSeal(key, dk, a); },
      async unwrap(w, a) { aads.push(a); const dk = gcmOpen(key, w, a); if (!dk) throw new Error('unwrap'); seen.push(dk); return dk; },
    };
  }

  it('seal: a random 32-byte data key wrapped by the KEK with the record AAD, then zeroed; unseal opens it', async () => {
    const kek = recordingKek('k1');
    const a = recordAad('7cdfa1000001', 'BLOCK_KEY0', 'esp32s3');
    const s = await seal(kek, KEY, a);
    assert.equal(s.kek, 'k1');
    assert.equal(kek.seen[0]!.length, 32);
    assert.ok(kek.seen[0]!.every((x) => x === 0), 'the data key is wiped after wrapping');
    assert.deepEqual(kek.aads[0], a);
    assert.equal(s.ct.length, 12 + 32 + 16);
    await assert.rejects(seal(kek, new Uint8Array(31), a), new RangeError('key must be 32 bytes, got 31'));
    const key = await unseal(kek, s, a, 'rec');
    assert.deepEqual(key, KEY);
    assert.ok(kek.seen[1]!.every((x) => x === 0), 'the unwrapped data key is wiped');
    await assert.rejects(unseal(recordingKek('k2'), s, a, 'rec'),
      escrowError('ESCROW_KEK', 'rec is wrapped by key-encryption key k1, not by the one given (k2); nothing was changed'));
    const tampered = { ...s, ct: Uint8Array.from(s.ct) };
    tampered.ct[20] ^= 1;
    await assert.rejects(unseal(kek, tampered, a, 'rec'), escrowError('ESCROW_TAMPERED', 'rec failed its integrity check: it was altered or moved; nothing was changed'));
  });

  it('unseal refuses a sealed key that is not 32 bytes', async () => {
    const kek = recordingKek('k1');
    const a = Buffer.from('a');
    const dk = new Uint8Array(32).fill(3);
    const short = { kek: 'k1', wrappedKey: await kek.wrap(Uint8Array.from(dk), a), ct: gcmSeal(dk, new Uint8Array(16), a) };
    await assert.rejects(unseal(kek, short, a, 'rec'), escrowError('ESCROW_TAMPERED', /^rec failed its integrity check/));
  });

  it('rewrap: the same ciphertext, the data key under the new KEK, wiped after', async () => {
    const from = recordingKek('k1');
    const to = recordingKek('k22');
    const a = Buffer.from('a');
    const s = await seal(from, KEY, a);
    const r = await rewrap(from, to, s, a);
    assert.equal(r.kek, 'k22');
    assert.equal(r.ct, s.ct);
    assert.deepEqual(to.aads[0], a);
    assert.deepEqual(await unseal(to, r, a, 'rec'), KEY);
    assert.ok(from.seen[1]!.every((x) => x === 0));
  });

  it('PassphraseKek: scrypt(passphrase NFC) → key ‖ check; the id from the check; a wrong passphrase refused', async () => {
    const salt = new Uint8Array(32).fill(4);
    const out = scryptSync(Buffer.from('caf\u00e9', 'utf8'), salt, 64, { N: 16, r: 1, p: 1 });
    const check = createHmac('sha256', out.subarray(32)).update('efuse-attest kek passphrase check').digest().subarray(0, 16);
    const info = { kdf: FAST_KDF, salt, check: Uint8Array.from(check) };
    const k = PassphraseKek.derive('cafe\u0301', info);
    assert.equal(k.id, 'scrypt:' + Buffer.from(check.subarray(0, 8)).toString('hex'));
    assert.deepEqual(k.info, { kdf: FAST_KDF, salt, check: Uint8Array.from(check) });
    assert.notEqual(k.info.kdf, FAST_KDF, 'a copy');
    const w = await k.wrap(KEY, aad);
    assert.deepEqual(gcmOpen(out.subarray(0, 32), w, aad), Buffer.from(KEY), 'the KEK is the first half of the scrypt output');
    assert.deepEqual(await k.unwrap(w, aad), Buffer.from(KEY));
    const bytes = PassphraseKek.derive(Buffer.from('caf\u00e9', 'utf8'), info);
    assert.equal(bytes.id, k.id);
    const fresh = PassphraseKek.derive('x', undefined, FAST_KDF);
    assert.deepEqual(fresh.info.kdf, FAST_KDF);
    assert.equal(fresh.info.salt.length, 32);
    assert.notDeepEqual(PassphraseKek.derive('x', undefined, FAST_KDF).info.salt, fresh.info.salt, 'a random salt');
    assert.throws(() => PassphraseKek.derive('cafe', info), escrowError('ESCROW_PASSPHRASE', 'wrong passphrase for the escrow (its key-encryption key does not match); nothing was changed'));
    assert.throws(() => PassphraseKek.derive(5 as never), (e: unknown) => e instanceof TypeError && e.message === 'passphrase must be a string or a Uint8Array');
    assert.throws(() => PassphraseKek.derive(''), (e: unknown) => e instanceof RangeError && e.message === 'passphrase must not be empty');
    assert.throws(() => PassphraseKek.derive(new Uint8Array(0)), (e: unknown) => e instanceof RangeError && e.message === 'passphrase must not be empty');
    await assert.rejects(k.unwrap(w, Buffer.from('moved')),
      escrowError('ESCROW_TAMPERED', `a data key does not unwrap with key-encryption key ${k.id}: the record was altered or moved; nothing was changed`));
    await k.close();
    await assert.rejects(k.unwrap(w, aad), escrowError('ESCROW_TAMPERED', /does not unwrap/), 'the key is wiped on close');
  });

  it('PassphraseKek: the default scrypt is N = 2^15, r = 8, p = 1', function () {
    this.timeout(20_000);
    const k = PassphraseKek.derive('pw');
    assert.deepEqual(k.info.kdf, { log2N: 15, r: 8, p: 1 });
    const out = scryptSync(Buffer.from('pw'), k.info.salt, 64, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    assert.deepEqual(Buffer.from(k.info.check), createHmac('sha256', out.subarray(32)).update('efuse-attest kek passphrase check').digest().subarray(0, 16));
  });
});

describe('escrow lock file', function () {
  this.timeout(10_000);
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-lock-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const deadPid = (): number => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

  it('acquire writes the owner (pid, host, boot, time, token) in a 0600 file; release removes only its own', async () => {
    const path = join(dir, 'v.lock');
    const lock = await FileLock.acquire(path, 'the vault');
    assert.equal(lock.path, path);
    const o = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o), ['pid', 'host', 'boot', 'since', 'token']);
    assert.equal(o.pid, process.pid);
    assert.equal(o.host, hostname());
    assert.equal(o.boot, existsSync('/proc/sys/kernel/random/boot_id') ? readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() : '');
    assert.match(o.token as string, /^[0-9a-f]{24}$/);
    assert.ok(Math.abs(Date.parse(o.since as string) - Date.now()) < 5000);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    writeFileSync(path, JSON.stringify({ ...o, token: 'someone else' }));
    await lock.release();
    assert.ok(existsSync(path), 'a lock that is no longer ours stays');
    writeFileSync(path, JSON.stringify(o));
    await lock.release();
    assert.ok(!existsSync(path));
    await lock.release();
  });

  it('a live owner: ESCROW_LOCKED after the timeout, naming the owner and the file', async () => {
    const path = join(dir, 'v.lock');
    const held = await FileLock.acquire(path, 'the vault');
    const since = (JSON.parse(readFileSync(path, 'utf8')) as { since: string }).since;
    const t0 = Date.now();
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 150 }),
      escrowError('ESCROW_LOCKED', `the vault is locked by process ${process.pid} on ${hostname()} since ${since}; if no efuse-attest is running there, remove ${path}`));
    assert.ok(Date.now() - t0 >= 150);
    writeFileSync(path, JSON.stringify({ pid: deadPid(), host: 'elsewhere', boot: '', since: 's', token: 't' }));
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 50 }), escrowError('ESCROW_LOCKED', /locked by process \d+ on elsewhere since s;/),
      'a dead pid on another host is not known to be dead');
    writeFileSync(path, 'garbage');
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 50 }), escrowError('ESCROW_LOCKED', `the vault is locked by an unknown process; if no efuse-attest is running there, remove ${path}`));
    writeFileSync(path, JSON.stringify({ pid: 1.5, host: hostname(), token: 't' }));
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 50 }), escrowError('ESCROW_LOCKED', /an unknown process/), 'a pid that is not an integer');
    writeFileSync(path, JSON.stringify({ pid: 1, host: 5, token: 't' }));
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 50 }), escrowError('ESCROW_LOCKED', /an unknown process/), 'a host that is not a string');
    writeFileSync(path, JSON.stringify({ pid: 1, host: hostname(), token: 5 }));
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 50 }), escrowError('ESCROW_LOCKED', /an unknown process/), 'a token that is not a string');
    await held.release();
  });

  it('stale locks are broken: a dead pid on this host, another boot, an old unowned file', async () => {
    const path = join(dir, 'v.lock');
    const boot = existsSync('/proc/sys/kernel/random/boot_id') ? readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() : '';
    writeFileSync(path, JSON.stringify({ pid: deadPid(), host: hostname(), boot, since: 's', token: 't' }));
    (await FileLock.acquire(path, 'the vault', { timeoutMs: 2000 })).release();
    await new Promise((r) => setTimeout(r, 20));
    if (boot !== '') {
      writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), boot: 'another-boot', since: 's', token: 't' }));
      const l = await FileLock.acquire(path, 'the vault', { timeoutMs: 2000 });
      assert.notEqual((JSON.parse(readFileSync(path, 'utf8')) as { token: string }).token, 't');
      await l.release();
      writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), boot: '', since: 's', token: 't' }));
      await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 50 }), escrowError('ESCROW_LOCKED', /locked by process/), 'no boot id recorded: the live pid decides');
      writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), boot, since: 's', token: 't' }));
      await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 50 }), escrowError('ESCROW_LOCKED', /locked by process/), 'same boot, live pid');
    }
    writeFileSync(path, '');
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 100, unownedStaleMs: 60_000 }), escrowError('ESCROW_LOCKED', /an unknown process/));
    const old = new Date(Date.now() - 5000);
    utimesSync(path, old, old);
    const l2 = await FileLock.acquire(path, 'the vault', { timeoutMs: 2000, unownedStaleMs: 1000 });
    await l2.release();
    assert.ok(!existsSync(path));
    // A breaker left by a crash is removed once old, and the stale lock then broken.
    writeFileSync(path, '');
    utimesSync(path, old, old);
    writeFileSync(path + '.break', '');
    utimesSync(path + '.break', old, old);
    const l3 = await FileLock.acquire(path, 'the vault', { timeoutMs: 2000, unownedStaleMs: 1000 });
    assert.ok(!existsSync(path + '.break'));
    await l3.release();
    // A fresh breaker (someone is breaking it now) is waited for until it is old itself.
    writeFileSync(path, '');
    utimesSync(path, old, old);
    writeFileSync(path + '.break', '');
    const t0 = Date.now();
    const l4 = await FileLock.acquire(path, 'the vault', { timeoutMs: 5000, unownedStaleMs: 400 });
    assert.ok(Date.now() - t0 >= 350, `waited ${Date.now() - t0} ms for the breaker`);
    assert.ok(!existsSync(path + '.break'));
    await l4.release();
    // ... but not past the waiter's own deadline: a breaker that stays fresh does not hold it.
    writeFileSync(path, '');
    utimesSync(path, old, old);
    writeFileSync(path + '.break', '');
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 100, unownedStaleMs: 3000 }), escrowError('ESCROW_LOCKED', /locked by an unknown process/));
    assert.ok(existsSync(path + '.break') && existsSync(path), 'the breaker and the lock are left to their owner');
  });

  it('a stale lock is broken and taken at once, even with no time left to wait (timeoutMs 0)', async () => {
    const path = join(dir, 'v.lock');
    writeFileSync(path, JSON.stringify({ pid: deadPid(), host: hostname(), boot: '', since: 's', token: 't' }));
    const l = await FileLock.acquire(path, 'the vault', { timeoutMs: 0 });
    assert.equal((JSON.parse(readFileSync(path, 'utf8')) as { pid: number }).pid, process.pid);
    await l.release();
    assert.ok(!existsSync(path) && !existsSync(path + '.break'));
  });

  it('a lock that cannot be made is ESCROW_IO', async () => {
    const path = join(dir, 'missing', 'v.lock');
    await assert.rejects(FileLock.acquire(path, 'the vault', { timeoutMs: 50 }), (e: unknown) =>
      escrowError('ESCROW_IO', new RegExp(`^cannot lock the vault \\(${path}\\): .*\\(ENOENT\\); nothing was changed$`))(e)
      && (e as Error & { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT');
  });
});

describe('escrow leftovers of killed writers', () => {
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-left-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const deadPid = (): number => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

  it('removes dead writers\' temp files the filter accepts; keeps live, malformed, pid 0 and filtered ones', async () => {
    const dead = deadPid();
    const names = [`.v.${dead}.0123456789ab.tmp`, `.v.${process.pid}.0123456789ab.tmp`, `.v.0.0123456789ab.tmp`, `.w.${dead}.0123456789ab.tmp`,
      `.v.${dead}.0123456789AB.tmp`, `.v.${dead}.0123456789a.tmp`, `x.v.${dead}.0123456789ab.tmp`, `.v.${dead}.0123456789ab.tmpx`, `..${dead}.0123456789ab.tmp`,
      `.v.${dead}9999999999999999.0123456789ab.tmp`];
    for (const n of names) writeFileSync(join(dir, n), 'x');
    const seen: [string, number][] = [];
    const removed = await cleanLeftovers(dir, { names: (t, size) => { seen.push([t, size]); return t === 'v'; } });
    assert.deepEqual(removed, [`.v.${dead}.0123456789ab.tmp`]);
    assert.deepEqual(readdirSync(dir).sort(), names.slice(1).sort());
    assert.ok(seen.some(([t, s]) => t === 'w' && s === 1));
    assert.deepEqual(await cleanLeftovers(join(dir, 'none'), { names: () => true }), []);
  });

  it('a live writer other than this process (the parent) keeps its temp file', async () => {
    const name = `.v.${process.ppid}.0123456789ab.tmp`;
    writeFileSync(join(dir, name), 'x');
    assert.deepEqual(await cleanLeftovers(dir, { names: () => true, wipe: true }), []);
    assert.equal(readFileSync(join(dir, name), 'utf8'), 'x');
  });

  it('wipe: the bytes are overwritten with zeros before the unlink; without wipe they are not', async () => {
    const dead = deadPid();
    const p1 = join(dir, `.k.bin.${dead}.0123456789ab.tmp`);
    const p2 = join(dir, `.v.${dead}.0123456789ab.tmp`);
    writeFileSync(p1, Buffer.alloc(32, 0x77));
    writeFileSync(p2, Buffer.alloc(10, 0x66));
    const fd1 = openSync(p1, 'r');
    const fd2 = openSync(p2, 'r');
    try {
      assert.deepEqual((await cleanLeftovers(dir, keyFileLeftovers('k.bin'))).sort(), [`.k.bin.${dead}.0123456789ab.tmp`]);
      assert.ok(existsSync(p2), 'a key-file filter does not take v');
      assert.deepEqual(await cleanLeftovers(dir, { names: () => true }), [`.v.${dead}.0123456789ab.tmp`]);
      const b1 = Buffer.alloc(32);
      readSync(fd1, b1, 0, 32, 0);
      assert.deepEqual(b1, Buffer.alloc(32), 'wiped');
      const b2 = Buffer.alloc(10);
      readSync(fd2, b2, 0, 10, 0);
      assert.deepEqual(b2, Buffer.alloc(10, 0x66), 'not wiped');
    } finally {
      closeSync(fd1);
      closeSync(fd2);
    }
  });

  it('never a symlink, a hard-linked file or a directory', async () => {
    const dead = deadPid();
    writeFileSync(join(dir, 'target'), 'keep');
    symlinkSync(join(dir, 'target'), join(dir, `.v.${dead}.000000000001.tmp`));
    linkSync(join(dir, 'target'), join(dir, `.v.${dead}.000000000002.tmp`));
    mkdirSync(join(dir, `.v.${dead}.000000000003.tmp`));
    assert.deepEqual(await cleanLeftovers(dir, { names: () => true, wipe: true }), []);
    assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'keep');
  });

  it('keyFileLeftovers: the target itself, or a .bin of at most 32 bytes; wiped', () => {
    const o = keyFileLeftovers('out.key');
    assert.equal(o.wipe, true);
    assert.equal(o.names('out.key', 1000), true);
    assert.equal(o.names('other.key', 32), false);
    assert.equal(o.names('a.bin', 32), true);
    assert.equal(o.names('a.bin', 0), true);
    assert.equal(o.names('a.bin', 33), false);
    assert.equal(o.names('a.binx', 32), false);
    assert.equal(o.names('bin', 32), false);
  });
});

describe('escrow PostgreSQL audit chain (pure)', () => {
  const row = (seq: number, prev: Uint8Array, over: Partial<PgAuditRow> = {}): PgAuditRow => {
    const r = { seq, time: `2026-01-0${seq}T00:00:00Z`, station: 'st', deviceId: '7cdfa1000001', block: 'BLOCK_KEY0', action: 'put', fromState: null, toState: 'escrowed', detail: null, ...over };
    return { ...r, prev, hash: auditRowHash(prev, r) };
  };

  it('auditRowHash: SHA-256 of prev and the row as a JSON array', () => {
    const r = row(1, GENESIS, { detail: 'd', fromState: 'burned' });
    const body = JSON.stringify([1, r.time, 'st', '7cdfa1000001', 'BLOCK_KEY0', 'put', 'burned', 'escrowed', 'd']);
    assert.deepEqual(Buffer.from(r.hash), createHash('sha256').update(new Uint8Array(32)).update(body).digest());
    assert.deepEqual(GENESIS, new Uint8Array(32));
    assert.equal(LOCK_SCHEMA, 0x45464131);
    assert.equal(LOCK_AUDIT, 0x45464132);
  });

  it('verifyAuditRows: entries and head of a good chain; the first broken row and why', () => {
    const r1 = row(1, GENESIS);
    const r2 = row(2, r1.hash);
    const r3 = row(3, r2.hash);
    assert.deepEqual(verifyAuditRows([]), { entries: 0, head: '00'.repeat(32), ok: true });
    assert.deepEqual(verifyAuditRows([r1, r2, r3]), { entries: 3, head: Buffer.from(r3.hash).toString('hex'), ok: true });
    assert.deepEqual(verifyAuditRows([r1, r3]), { entries: 1, head: Buffer.from(r1.hash).toString('hex'), ok: false, broken: { seq: 3, reason: 'expected entry 2 here (an entry was removed or inserted)' } });
    assert.deepEqual(verifyAuditRows([r2]), { entries: 0, head: '00'.repeat(32), ok: false, broken: { seq: 2, reason: 'expected entry 1 here (an entry was removed or inserted)' } });
    const wrongPrev = row(2, r2.hash);
    assert.deepEqual(verifyAuditRows([r1, wrongPrev]), { entries: 1, head: Buffer.from(r1.hash).toString('hex'), ok: false, broken: { seq: 2, reason: 'its prev hash is not the hash of the entry before it' } });
    const edited = { ...r2, detail: 'edited' };
    assert.deepEqual(verifyAuditRows([r1, edited, r3]), { entries: 1, head: Buffer.from(r1.hash).toString('hex'), ok: false, broken: { seq: 2, reason: 'its content does not match its hash (the entry was edited)' } });
  });
});

// ---- the file vault itself (vault.ts), with the cheapest scrypt it accepts and an in-memory KEK ----

const KDF = { log2N: 14, r: 1, p: 1 };
const rec = (deviceId = '7cdfa1000001', block = 'BLOCK_KEY0', over: Partial<EscrowRecord> = {}) => base({ deviceId, block, ...over });

describe('escrow file vault: arguments, reads and refusals', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-fv-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the constructor refuses a bad path, passphrase or scrypt cost, each with its sentence', () => {
    assert.throws(() => new FileVault('', { passphrase: 'p' }), (e: unknown) => e instanceof TypeError && e.message === 'vault path must be a non-empty string');
    assert.throws(() => new FileVault(5 as never, { passphrase: 'p' }), (e: unknown) => e instanceof TypeError && e.message === 'vault path must be a non-empty string');
    assert.throws(() => new FileVault('v', {}), (e: unknown) => e instanceof TypeError && e.message === 'opts.passphrase must be a string or a Uint8Array (or give opts.kek)');
    assert.throws(() => new FileVault('v', { passphrase: 5 as never }), (e: unknown) => e instanceof TypeError && e.message === 'passphrase must be a string or a Uint8Array');
    assert.throws(() => new FileVault('v', { passphrase: null as never }), (e: unknown) => e instanceof TypeError && e.message === 'passphrase must be a string or a Uint8Array');
    assert.throws(() => new FileVault('v', { passphrase: '' }), (e: unknown) => e instanceof RangeError && e.message === 'passphrase must not be empty');
    assert.throws(() => new FileVault('v', { passphrase: new Uint8Array(0) }), (e: unknown) => e instanceof RangeError && e.message === 'passphrase must not be empty');
    for (const kdf of [{ log2N: 13 }, { log2N: 21 }, { r: 0 }, { r: 17 }, { p: 0 }, { p: 5 }, { log2N: 14.5 }]) {
      assert.throws(() => new FileVault('v', { passphrase: 'p', kdf }), (e: unknown) => e instanceof RangeError && e.message === 'kdf must have log2N 14..20, r 1..16, p 1..4', JSON.stringify(kdf));
    }
    assert.ok(new FileVault('v', { kek: memoryKek('m') }), 'a KEK alone is enough');
    const v = new FileVault('rel/escrow.vault', { passphrase: 'p' });
    assert.equal(v.location, resolve('rel/escrow.vault'));
    assert.equal(v.watermarkPath, resolve('rel/escrow.vault') + '.generation');
  });

  it('FileVault.exists: refuses a bad path; reports a read error as ESCROW_IO', async () => {
    await assert.rejects(FileVault.exists(''), (e: unknown) => e instanceof TypeError && e.message === 'vault path must be a non-empty string');
    await assert.rejects(FileVault.exists(7 as never), (e: unknown) => e instanceof TypeError && e.message === 'vault path must be a non-empty string');
    assert.equal(await FileVault.exists(join(dir, 'none.vault')), false);
    // A directory where the vault should be: not "no vault", an error with its cause.
    await assert.rejects(FileVault.exists(dir), (e: unknown) => {
      assert.ok(e instanceof EscrowError && e.code === 'ESCROW_IO');
      assert.match(e.message, new RegExp(`^cannot read the vault ${dir}: .*EISDIR`));
      assert.equal((e.cause as NodeJS.ErrnoException).code, 'EISDIR');
      return true;
    });
    const v = new FileVault(dir, { passphrase: 'p', kdf: KDF });
    await assert.rejects(v.list(), escrowError('ESCROW_IO', new RegExp(`^cannot read the vault ${dir}: `)));
  });

  it('an absent vault reads as empty everywhere', async () => {
    const v = new FileVault(join(dir, 'none.vault'), { passphrase: 'p', kdf: KDF });
    assert.equal(await v.exists(), false);
    assert.equal(await v.describe(), undefined);
    assert.deepEqual(await v.envelopes(), []);
    assert.deepEqual(await v.list(), []);
    assert.equal(await v.get('7cdfa1000001'), undefined);
    assert.equal(await v.get('7cdfa1000001', 'BLOCK_KEY0'), undefined);
    assert.equal(existsSync(join(dir, 'none.vault')), false, 'reading creates nothing');
  });

  it('describe, envelopes, get and list of a passphrase vault and of a KEK vault', async () => {
    const path = join(dir, 'a.vault');
    const v = new FileVault(path, { passphrase: 'p', kdf: KDF });
    await v.put(rec('7cdfa1000002', 'BLOCK_KEY1'));
    await v.put(rec('7cdfa1000001', 'BLOCK_KEY3', { key: new Uint8Array(32).fill(1) }));
    assert.deepEqual(await v.describe(), { format: 2, kek: 'scrypt', generation: 2 });
    const env = await v.envelopes();
    assert.deepEqual(env.map((e) => [e.deviceId, e.block]), [['7cdfa1000001', 'BLOCK_KEY3'], ['7cdfa1000002', 'BLOCK_KEY1']]);
    assert.ok(env.every((e) => /^scrypt:[0-9a-f]{16}$/.test(e.kek) && e.ct.length === 12 + 32 + 16));
    assert.deepEqual((await v.get('7cdfa1000001'))?.key, new Uint8Array(32).fill(1), 'the one record of a device, without naming the block');
    assert.equal(await v.get('7cdfa1000001', 'BLOCK_KEY0'), undefined);
    assert.deepEqual((await v.list()).map((e) => e.deviceId), ['7cdfa1000001', '7cdfa1000002']);
    await v.put(rec('7cdfa1000001', 'BLOCK_KEY0'));
    await assert.rejects(v.get('7C:DF:A1:00:00:01'), escrowError('ESCROW_AMBIGUOUS', 'device 7cdfa1000001 has 2 escrowed keys (BLOCK_KEY0, BLOCK_KEY3); name the block'));

    const kek = memoryKek('pkcs11:t/o:00112233');
    const kv = new FileVault(join(dir, 'k.vault'), { kek });
    await kv.put(rec());
    assert.deepEqual(await kv.describe(), { format: 2, kek: 'pkcs11:t/o:00112233', generation: 1 });
    assert.deepEqual((await kv.envelopes()).map((e) => e.kek), ['pkcs11:t/o:00112233']);
    const raw = readFileSync(join(dir, 'k.vault'));
    assert.deepEqual([...raw.subarray(8, 16)], [2, 2, 0, 0, 0, 0, 0, 0], 'format 2, PKCS#11 KEK, no scrypt parameters');
    assert.deepEqual(raw.subarray(48, 64), kekCheck(kek.id));
    assert.equal(raw.readUInt16BE(HEADER_SIZE), 12 + 32 + 16, 'the wrapped file key: nonce, key, tag');
  });

  it('passphrases: a string is NFC UTF-8, the same as its bytes', async () => {
    const path = join(dir, 'n.vault');
    await new FileVault(path, { passphrase: 'cafe\u0301', kdf: KDF }).put(rec());
    assert.deepEqual((await new FileVault(path, { passphrase: 'caf\u00e9' }).get('7cdfa1000001', 'BLOCK_KEY0'))?.key, KEY);
    assert.deepEqual((await new FileVault(path, { passphrase: Buffer.from('caf\u00e9', 'utf8') }).get('7cdfa1000001', 'BLOCK_KEY0'))?.key, KEY);
    await assert.rejects(new FileVault(path, { passphrase: Buffer.from('cafe\u0301', 'utf8') }).list(),
      escrowError('ESCROW_PASSPHRASE', `wrong passphrase for the vault ${path} (or its header was altered); nothing was changed`));
  });

  it('the wrong kind of KEK, or another one, is ESCROW_KEK naming what is needed', async () => {
    const sp = join(dir, 's.vault');
    await new FileVault(sp, { passphrase: 'p', kdf: KDF }).put(rec());
    await assert.rejects(new FileVault(sp, { kek: memoryKek('m') }).list(),
      escrowError('ESCROW_KEK', `the vault ${sp} is wrapped by a passphrase; give the passphrase, not --kek`));
    const kp = join(dir, 'k.vault');
    await new FileVault(kp, { kek: memoryKek('kek-a') }).put(rec());
    await assert.rejects(new FileVault(kp, { passphrase: 'p' }).list(),
      escrowError('ESCROW_KEK', `the vault ${kp} is wrapped by a key in a PKCS#11 token; give --kek pkcs11:…`));
    await assert.rejects(new FileVault(kp, { kek: memoryKek('kek-b') }).list(),
      escrowError('ESCROW_KEK', `the vault ${kp} is wrapped by another key-encryption key than kek-b; nothing was changed`));
    // The same id but another key: the file key does not unwrap, which is tampering as far as the file can tell.
    await assert.rejects(new FileVault(kp, { kek: memoryKek('kek-a', 8) }).list(),
      escrowError('ESCROW_TAMPERED', `the vault ${kp} failed its integrity check: it was altered or damaged (the token key is right); nothing was changed — restore it from a backup`));
  });

  it('a damaged file key length or body: ESCROW_TAMPERED naming the passphrase or the token key', async () => {
    const sp = join(dir, 's.vault');
    await new FileVault(sp, { passphrase: 'p', kdf: KDF }).put(rec());
    const good = readFileSync(sp);
    const tampered = (p: string, what: string) => escrowError('ESCROW_TAMPERED', `the vault ${p} failed its integrity check: it was altered or damaged (the ${what} is right); nothing was changed — restore it from a backup`);
    const w = good.readUInt16BE(HEADER_SIZE);
    const cases: [string, Buffer][] = [
      ['length 27', Buffer.concat([good.subarray(0, HEADER_SIZE), Buffer.of(0, 27), good.subarray(HEADER_SIZE + 2)])],
      ['length past the end', Buffer.concat([good.subarray(0, HEADER_SIZE), Buffer.of(0xff, 0xff), good.subarray(HEADER_SIZE + 2)])],
      ['length one more', Buffer.concat([good.subarray(0, HEADER_SIZE), Buffer.of(0, w + 1), good.subarray(HEADER_SIZE + 2)])],
      ['length high byte', Buffer.concat([good.subarray(0, HEADER_SIZE), Buffer.of(1, w), good.subarray(HEADER_SIZE + 2)])],
      ['no room for a tag after the wrapped key', good.subarray(0, HEADER_SIZE + 2 + w + TAG_SIZE - 1)],
      ['header, length and a tag only', good.subarray(0, HEADER_SIZE + 2 + TAG_SIZE - 1)],
      ['body', (() => { const b = Buffer.from(good); b[HEADER_SIZE + 2 + w] ^= 1; return b; })()],
    ];
    for (const [name, bytes] of cases) {
      writeFileSync(sp, bytes);
      await assert.rejects(new FileVault(sp, { passphrase: 'p' }).list(), tampered(sp, 'passphrase'), name);
    }
    // Exactly header, length and tag with the length 0: too short a wrapped key, not a crash.
    writeFileSync(sp, Buffer.concat([good.subarray(0, HEADER_SIZE), Buffer.of(0, 0), Buffer.alloc(TAG_SIZE)]));
    await assert.rejects(new FileVault(sp, { passphrase: 'p' }).list(), tampered(sp, 'passphrase'));
    const kp = join(dir, 'k.vault');
    await new FileVault(kp, { kek: memoryKek('kek-a') }).put(rec());
    const kb = readFileSync(kp);
    kb[kb.length - 1] ^= 1;
    writeFileSync(kp, kb);
    await assert.rejects(new FileVault(kp, { kek: memoryKek('kek-a') }).list(), tampered(kp, 'token key'));
  });
});

describe('escrow file vault: writes, generations and KEK rotation', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'efa-fvw-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const generation = (path: string) => readFileSync(path).readUInt32BE(76);

  it('a KEK that wraps the file key into fewer than 28 or more than 65535 bytes writes nothing: the vault stays as it was', async () => {
    const path = join(dir, 'wrap-length.vault');
    const good = memoryKek('kek-w');
    await new FileVault(path, { kek: good }).put(rec('7cdfa1000001'));
    const before = readFileSync(path);
    for (const n of [0, 27, 65536]) {
      // The same KEK as far as the vault can tell (its id, and it unwraps), but its wrap gives n bytes.
      const odd: Kek = { id: good.id, wrap: async () => new Uint8Array(n), unwrap: (w, a) => good.unwrap(w, a) };
      await assert.rejects(new FileVault(path, { kek: odd }).put(rec('7cdfa1000002')), escrowError('ESCROW_KEK',
        `the key-encryption key kek-w wrapped the vault's file key into ${n} bytes, outside 28..65535; nothing was written`));
      assert.deepEqual(readFileSync(path), before, `${n} bytes: the file is untouched`);
    }
    assert.deepEqual((await new FileVault(path, { kek: good }).list()).map((e) => e.deviceId), ['7cdfa1000001']);
    // The upper bound is written and read back (a wrap padded to 65535 bytes; unwrap reads its first 60).
    const padded: Kek = { id: 'kek-n', wrap: async (k, a) => { const out = new Uint8Array(65535); out.set(await good.wrap(k, a)); return out; },
      unwrap: (w, a) => good.unwrap(w.subarray(0, 60), a) };
    const p = join(dir, 'wrap-65535.vault');
    await new FileVault(p, { kek: padded }).put(rec());
    assert.equal(readFileSync(p).readUInt16BE(HEADER_SIZE), 65535);
    assert.deepEqual((await new FileVault(p, { kek: padded }).get('7cdfa1000001', 'BLOCK_KEY0'))?.key, KEY);
  });

  it('setState: refuses an unknown state and a missing record; moves forward only, stamping updatedAt', async () => {
    const path = join(dir, 'v.vault');
    const v = new FileVault(path, { passphrase: 'p', kdf: KDF });
    await assert.rejects(v.setState('7cdfa1000001', 'BLOCK_KEY0', 'lost' as never), (e: unknown) => e instanceof RangeError && e.message === 'state must be escrowed, burned or verified, got "lost"');
    assert.equal(existsSync(path), false, 'refused before the vault is made');
    await v.put(rec('7cdfa1000001', 'BLOCK_KEY0', { state: 'burned' }));
    await assert.rejects(v.setState('7cdfa1000002', '1', 'verified'), escrowError('ESCROW_MISSING', 'the escrow has no record for device 7cdfa1000002 BLOCK_KEY1'));
    const before = readFileSync(path);
    await v.setState('7cdfa1000001', 'BLOCK_KEY0', 'burned');
    await v.setState('7c:df:a1:00:00:01', '0', 'escrowed');
    assert.deepEqual(readFileSync(path), before, 'the same or a lower state writes nothing');
    const t0 = Date.now();
    await v.setState('7c:df:a1:00:00:01', '0', 'verified');
    const r = await v.get('7cdfa1000001', 'BLOCK_KEY0');
    assert.equal(r?.state, 'verified');
    assert.equal(r?.createdAt, T0);
    assert.ok(Date.parse(r!.updatedAt) >= t0 - 1000 && r!.updatedAt.endsWith('Z'), r?.updatedAt);
    assert.equal(generation(path), 2);
  });

  it('put: an unchanged record writes nothing; a new one writes one generation and the watermark', async () => {
    const path = join(dir, 'v.vault');
    const v = new FileVault(path, { passphrase: 'p', kdf: KDF });
    const r = rec();
    await v.put(r);
    assert.equal(generation(path), 1);
    assert.equal(readFileSync(path + '.generation', 'utf8'), '{"generation":1}\n');
    assert.equal(statSync(path + '.generation').mode & 0o777, 0o600);
    const before = readFileSync(path);
    await v.put({ ...r });
    await new FileVault(path, { passphrase: 'p' }).put({ ...r, key: Uint8Array.from(r.key) });
    assert.deepEqual(readFileSync(path), before);
    await v.put(rec('7cdfa1000002'));
    assert.equal(generation(path), 2);
    assert.equal(readFileSync(path + '.generation', 'utf8'), '{"generation":2}\n');
    // The caller's key array is copied, not kept: zeroing it afterwards changes nothing stored.
    const mine = rec('7cdfa1000003', 'BLOCK_KEY0', { key: new Uint8Array(32).fill(3) });
    await v.put(mine);
    mine.key.fill(0);
    await v.put(rec('7cdfa1000004'));
    assert.deepEqual((await v.get('7cdfa1000003'))?.key, new Uint8Array(32).fill(3));
  });

  it('a vault directory that cannot be made is ESCROW_IO with its cause; the lock sits beside the vault', async () => {
    writeFileSync(join(dir, 'file'), 'x');
    const v = new FileVault(join(dir, 'file', 'sub', 'v.vault'), { passphrase: 'p', kdf: KDF });
    await assert.rejects(v.put(rec()), (e: unknown) => {
      assert.ok(e instanceof EscrowError && e.code === 'ESCROW_IO');
      assert.match(e.message, new RegExp(`^cannot create the vault directory ${join(dir, 'file', 'sub')}: `));
      assert.equal((e.cause as NodeJS.ErrnoException).code, 'ENOTDIR');
      return true;
    });
    // A live lock held by someone else: the vault's own lock file, and the timeout given to the vault.
    const path = join(dir, 'l.vault');
    writeFileSync(path + '.lock', JSON.stringify({ pid: process.pid, host: hostname(), boot: '', since: 'now', token: 'someone-else' }));
    await assert.rejects(new FileVault(path, { passphrase: 'p', kdf: KDF, timeoutMs: 50 }).put(rec()),
      escrowError('ESCROW_LOCKED', new RegExp(`^the vault ${path} is locked by process ${process.pid} on `)));
  });

  it('an older generation put back is ESCROW_ROLLBACK, by the watermark or by what this instance saw', async () => {
    const path = join(dir, 'v.vault');
    const v = new FileVault(path, { passphrase: 'p', kdf: KDF });
    await v.put(rec('7cdfa1000001'));
    const old = readFileSync(path);
    await v.put(rec('7cdfa1000002'));
    writeFileSync(path, old);
    const refused = (mark: number) => escrowError('ESCROW_ROLLBACK', `the vault ${path} is generation 1, but generation ${mark} was already written here: ` +
      `an older copy was put back, and keys escrowed since would be lost; nothing was changed (if this is deliberate, remove ${path}.generation)`);
    await assert.rejects(new FileVault(path, { passphrase: 'p' }).list(), refused(2), 'a new instance, by the watermark');
    writeFileSync(path + '.generation', '{"generation":7}');
    await assert.rejects(new FileVault(path, { passphrase: 'p' }).list(), refused(7));
    rmSync(path + '.generation');
    await assert.rejects(v.list(), refused(2), 'this instance saw generation 2');
    assert.equal((await new FileVault(path, { passphrase: 'p' }).list()).length, 1, 'without the watermark a new instance accepts it');
    for (const junk of ['{"generation":"9"}', '{"generation":1e300}', '{"generation":2.5}', 'not json', '{}']) {
      writeFileSync(path + '.generation', junk);
      assert.equal((await new FileVault(path, { passphrase: 'p' }).list()).length, 1, junk);
    }
    writeFileSync(path + '.generation', '{"generation":1}');
    const fresh = new FileVault(path, { passphrase: 'p' });
    await fresh.put(rec('7cdfa1000003'));
    assert.equal(generation(path), 2);
    writeFileSync(path + '.generation', '{"generation":5}');
    await assert.rejects(fresh.list(), escrowError('ESCROW_ROLLBACK', new RegExp(`^the vault ${path} is generation 2, but generation 5 was already written here: `)));
  });

  it('rotateKek: the count, the new KEK in the header, and the old KEK kept when rotation fails', async () => {
    const path = join(dir, 'v.vault');
    const v = new FileVault(path, { passphrase: 'p', kdf: KDF });
    await v.put(rec('7cdfa1000001'));
    await v.put(rec('7cdfa1000002'));
    const failing: Kek = { id: 'broken', async wrap() { throw new Error('token gone'); }, async unwrap() { throw new Error('token gone'); } };
    const before = readFileSync(path);
    await assert.rejects(v.rotateKek({ kek: failing }), /^Error: token gone$/);
    assert.deepEqual(readFileSync(path), before);
    assert.equal((await v.list()).length, 2, 'still opened with the passphrase');
    const kek = memoryKek('kek-r');
    assert.equal(await v.rotateKek({ kek }), 2);
    assert.deepEqual(await v.describe(), { format: 2, kek: 'kek-r', generation: 3 });
    const raw = readFileSync(path);
    assert.deepEqual([...raw.subarray(9, 13)], [2, 0, 0, 0]);
    assert.deepEqual(raw.subarray(48, 64), kekCheck('kek-r'));
    assert.deepEqual((await new FileVault(path, { kek }).get('7cdfa1000002'))?.key, KEY);
    // Back to a passphrase: a new salt, the vault's scrypt cost for new vaults, the new passphrase from now on.
    assert.equal(await v.rotateKek({ passphrase: 'q' }), 2);
    assert.deepEqual(await v.describe(), { format: 2, kek: 'scrypt', generation: 4 });
    const again = readFileSync(path);
    assert.deepEqual([...again.subarray(9, 13)], [1, 14, 1, 1]);
    assert.notDeepEqual(again.subarray(16, 48), before.subarray(16, 48));
    assert.equal((await new FileVault(path, { passphrase: 'q' }).list()).length, 2);
    assert.equal(await v.rotateKek({ passphrase: Buffer.from('r') }), 2);
    assert.equal((await new FileVault(path, { passphrase: 'r' }).list()).length, 2);
    await assert.rejects(v.rotateKek({ kek: failing }), /token gone/);
    assert.equal((await v.list()).length, 2);
    await assert.rejects(new FileVault(path, { kek }).list(), escrowError('ESCROW_KEK', /wrapped by a passphrase/));
  });

  it('a write removes dead writers\' temp copies of the vault and of its watermark, nothing else; a watermark that cannot be written is no failure', async () => {
    const path = join(dir, 'v.vault');
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    const names = [`.v.vault.${dead}.0123456789ab.tmp`, `.v.vault.generation.${dead}.0123456789ab.tmp`, `.w.vault.${dead}.0123456789ab.tmp`, `.v.vault.lock.${dead}.0123456789ab.tmp`];
    for (const n of names) writeFileSync(join(dir, n), 'old');
    mkdirSync(path + '.generation');
    const v = new FileVault(path, { passphrase: 'p', kdf: KDF });
    await v.put(rec());
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')).sort(), [`.v.vault.lock.${dead}.0123456789ab.tmp`, `.w.vault.${dead}.0123456789ab.tmp`]);
    assert.equal(generation(path), 1);
    await v.put(rec('7cdfa1000002'));
    assert.equal(generation(path), 2);
    assert.equal((await new FileVault(path, { passphrase: 'p' }).list()).length, 2);
  });

  it('a format-1 vault is written as format 2 at the next write, even one that changes no record', async () => {
    const path = join(dir, 'old.vault');
    writeFileSync(path, readFileSync(new URL('../../test/fixtures/escrow/format1.vault', import.meta.url)));
    const v = new FileVault(path, { passphrase: 'format one fixture' });
    assert.deepEqual(await v.describe(), { format: 1, kek: 'scrypt', generation: readFileSync(path).readUInt32BE(76) });
    const g = generation(path);
    await v.setState('7cdfa1000001', 'BLOCK_KEY0', 'escrowed');
    const raw = readFileSync(path);
    assert.equal(raw[8], 2);
    assert.equal(raw.readUInt32BE(76), g + 1, 'the generation carries on');
    assert.deepEqual([...raw.subarray(9, 13)], [1, 15, 8, 1], 'a new scrypt KEK at the cost for new vaults');
    assert.equal((await new FileVault(path, { passphrase: 'format one fixture' }).envelopes()).length, 2);
    const before = readFileSync(path);
    await v.setState('7cdfa1000001', 'BLOCK_KEY0', 'escrowed');
    assert.deepEqual(readFileSync(path), before, 'once format 2, an unchanged write writes nothing');
  });

  it('an unowned lock file older than the vault\'s unownedStaleMs is broken', async () => {
    const path = join(dir, 'u.vault');
    writeFileSync(path + '.lock', 'garbage');
    const then = new Date(Date.now() - 3000);
    utimesSync(path + '.lock', then, then);
    await new FileVault(path, { passphrase: 'p', kdf: KDF, unownedStaleMs: 1000, timeoutMs: 5000 }).put(rec());
    assert.equal(existsSync(path + '.lock'), false);
    assert.equal(generation(path), 1);
  });

  it('what an instance has read counts too: an older copy put back later is refused by it without a watermark', async () => {
    const path = join(dir, 'v.vault');
    const w = new FileVault(path, { passphrase: 'p', kdf: KDF });
    await w.put(rec('7cdfa1000001'));
    const old = readFileSync(path);
    await w.put(rec('7cdfa1000002'));
    rmSync(path + '.generation');
    const reader = new FileVault(path, { passphrase: 'p' });
    assert.equal((await reader.list()).length, 2);
    writeFileSync(path, old);
    await assert.rejects(reader.list(), escrowError('ESCROW_ROLLBACK', new RegExp(`^the vault ${path} is generation 1, but generation 2 was already written here: `)));
  });

  /** A format-1 vault as the format-1 code wrote it (docs/provisioning.md §3.1): the whole file under the scrypt key. */
  function format1(pass: string, kdf: { log2N: number; r: number; p: number }, salt: Uint8Array, gen: number, records: EscrowRecord[]): Buffer {
    const out = scryptSync(Buffer.from(pass, 'utf8'), salt, 64, { N: 2 ** kdf.log2N, r: kdf.r, p: kdf.p, maxmem: 64 * 1024 * 1024 });
    const check = createHmac('sha256', out.subarray(32)).update(CHECK_MESSAGE).digest().subarray(0, 16);
    const nonce = new Uint8Array(12).fill(gen);
    const head = encodeHeader({ format: FORMAT_1, kekKind: KDF_SCRYPT, kdf, salt, check, nonce, generation: gen });
    const c = createCipheriv('aes-256-gcm', out.subarray(0, 32), nonce, { authTagLength: 16 });
    c.setAAD(head);
    const body = Buffer.concat([c.update(JSON.stringify({ format: 1, records: records.map((r) => ({ ...r, key: toHex(r.key) })) })), c.final()]);
    return Buffer.concat([head, body, c.getAuthTag()]);
  }

  it('format 1: the header\'s scrypt cost and salt, derived again for another file; a wrong passphrase is ESCROW_PASSPHRASE', async () => {
    const path = join(dir, 'f1.vault');
    writeFileSync(path, format1('pw', { log2N: 14, r: 1, p: 1 }, new Uint8Array(32).fill(1), 1, [rec()]));
    await assert.rejects(new FileVault(path, { passphrase: 'wrong' }).list(),
      escrowError('ESCROW_PASSPHRASE', `wrong passphrase for the vault ${path} (or its header was altered); nothing was changed`));
    const v = new FileVault(path, { passphrase: 'pw' });
    assert.deepEqual((await v.get('7cdfa1000001', 'BLOCK_KEY0'))?.key, KEY);
    assert.deepEqual(await v.describe(), { format: 1, kek: 'scrypt', generation: 1 });
    writeFileSync(path, format1('pw', { log2N: 14, r: 2, p: 1 }, new Uint8Array(32).fill(2), 2, [rec('7cdfa1000002')]));
    assert.deepEqual((await v.list()).map((e) => e.deviceId), ['7cdfa1000002']);
  });

  it('a rotation that fails after the switch (writing the file key) leaves the instance on its old KEK', async () => {
    const path = join(dir, 'k.vault');
    const a = memoryKek('kek-a');
    const v = new FileVault(path, { kek: a });
    await v.put(rec('7cdfa1000001'));
    await v.put(rec('7cdfa1000002'));
    const before = readFileSync(path);
    // Two data keys re-wrapped, then the file key's wrap fails.
    const b = memoryKek('kek-b', 9);
    let wraps = 0;
    const late: Kek = { id: 'kek-b', async wrap(dk, aad) { if (++wraps > 2) throw new Error('token gone'); return b.wrap(dk, aad); }, unwrap: b.unwrap };
    await assert.rejects(v.rotateKek({ kek: late }), /^Error: token gone$/);
    assert.equal(wraps, 3);
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(await v.describe(), { format: 2, kek: 'kek-a', generation: 2 });
    assert.equal((await v.list()).length, 2);
  });
});

describe('escrow PKCS#11 URIs (pure)', () => {
  it('parsePkcs11Uri: token, object, module path and PIN attributes, percent-decoded', () => {
    const saved = process.env.EFUSE_ATTEST_PKCS11_MODULE;
    delete process.env.EFUSE_ATTEST_PKCS11_MODULE;
    try {
      assert.equal(PIN_ENV, 'EFUSE_ATTEST_PKCS11_PIN');
      assert.equal(DEFAULT_MODULE, '/usr/lib/softhsm/libsofthsm2.so');
      assert.deepEqual(parsePkcs11Uri('pkcs11:token=factory;object=escrow-kek'), { token: 'factory', object: 'escrow-kek', modulePath: DEFAULT_MODULE });
      assert.deepEqual(parsePkcs11Uri('pkcs11:token=a%20b;;object=k%3Dv=w?module-path=/m.so&pin-source=file:/p&&pin-value=1%262'),
        { token: 'a b', object: 'k=v=w', modulePath: '/m.so', pinSource: 'file:/p', pinValue: '1&2' });
      assert.deepEqual(parsePkcs11Uri('pkcs11:object=o;token=t?x=1?y'), { token: 't', object: 'o', modulePath: DEFAULT_MODULE }, 'only the first ? starts the query');
      assert.deepEqual(parsePkcs11Uri('pkcs11:token=t', 'uri', false), { token: 't', object: '', modulePath: DEFAULT_MODULE });
      assert.deepEqual(parsePkcs11Uri('pkcs11:=x;token=t;object=o?=y'), { token: 't', object: 'o', modulePath: DEFAULT_MODULE }, 'an attribute with an empty name is not malformed, only unused');
      assert.deepEqual(parsePkcs11Uri('pkcs11:token=t;object=', 'uri', false), { token: 't', object: '', modulePath: DEFAULT_MODULE });
      process.env.EFUSE_ATTEST_PKCS11_MODULE = '/env/module.so';
      assert.equal(parsePkcs11Uri('pkcs11:token=t;object=o').modulePath, '/env/module.so');
      assert.equal(parsePkcs11Uri('pkcs11:token=t;object=o?module-path=/uri.so').modulePath, '/uri.so', 'the URI wins');
    } finally {
      if (saved === undefined) delete process.env.EFUSE_ATTEST_PKCS11_MODULE; else process.env.EFUSE_ATTEST_PKCS11_MODULE = saved;
    }
  });

  it('parsePkcs11Uri refuses, naming the argument', () => {
    const range = (msg: string) => (e: unknown) => e instanceof RangeError && e.message === msg;
    assert.throws(() => parsePkcs11Uri(5 as never), (e: unknown) => e instanceof TypeError && e.message === 'kek must be a pkcs11: URI string');
    assert.throws(() => parsePkcs11Uri(undefined as never, '--to'), (e: unknown) => e instanceof TypeError && e.message === '--to must be a pkcs11: URI string');
    assert.throws(() => parsePkcs11Uri('token=t;object=o'), range('kek must start with pkcs11:, e.g. pkcs11:token=factory;object=escrow-kek'));
    assert.throws(() => parsePkcs11Uri(' pkcs11:token=t;object=o', 'k'), range('k must start with pkcs11:, e.g. pkcs11:token=factory;object=escrow-kek'));
    assert.throws(() => parsePkcs11Uri('pkcs11:token=t;object', 'k'), range('k has a malformed attribute "object"'));
    assert.throws(() => parsePkcs11Uri('pkcs11:token=t;object=o?pin', 'k'), range('k has a malformed query attribute "pin"'));
    assert.throws(() => parsePkcs11Uri('pkcs11:object=o', 'k'), range('k must name token=… and object=…'));
    assert.throws(() => parsePkcs11Uri('pkcs11:token=;object=o', 'k'), range('k must name token=… and object=…'));
    assert.throws(() => parsePkcs11Uri('pkcs11:token=t', 'k'), range('k must name token=… and object=…'));
    assert.throws(() => parsePkcs11Uri('pkcs11:token=t;object=', 'k'), range('k must name token=… and object=…'));
    assert.throws(() => parsePkcs11Uri('pkcs11:object=o', 'uri', false), range('uri must name token=…'));
    assert.throws(() => parsePkcs11Uri('pkcs11:', 'uri', false), range('uri must name token=…'));
  });
});

// ---- PKCS#11 sessions, KEKs and the HSM keyring on a SoftHSM2 token (skipped without SoftHSM2) ----

/** Runs `fn` on a session of the token named by `uri`, closed after. */
function withSession<T>(uri: string, fn: (s: TokenSession) => T): T {
  const s = TokenSession.open(uri, { object: false });
  try { return fn(s); } finally { s.close(); }
}

describe('escrow PKCS#11 sessions and KEKs (SoftHSM2)', function () {
  this.timeout(30_000);
  let t: { label: string; pinFile: string; pin: string };
  let pdir: string;
  before(function () {
    if (!haveSoftHsm()) this.skip();
    t = newToken();
    pdir = mkdtempSync(join(tmpdir(), 'efa-p11-'));
  });
  const pinError = (msg: string) => escrowError('ESCROW_PIN', msg);

  it('the PIN: pin-value first, then pin-source (the first line; "file:" optional), then the environment', () => {
    const saved = process.env[PIN_ENV];
    delete process.env[PIN_ENV];
    try {
      const base = `pkcs11:token=${t.label}`;
      assert.equal(withSession(`${base}?pin-value=${t.pin}&pin-source=file:/nonexistent`, (s) => s.uri.token), t.label);
      assert.equal(withSession(`${base}?pin-source=file:${t.pinFile}`, (s) => s.uri.pinSource), `file:${t.pinFile}`);
      assert.equal(withSession(`${base}?pin-source=${t.pinFile}`, (s) => s.uri.token), t.label, 'a plain path');
      const crlf = join(pdir, 'crlf.pin');
      writeFileSync(crlf, `${t.pin}\r\nnot this line\n`);
      assert.equal(withSession(`${base}?pin-source=file:${crlf}`, (s) => s.uri.token), t.label);
      const missing = join(pdir, 'missing.pin');
      assert.throws(() => TokenSession.open(`${base}?pin-source=file:${missing}`, { object: false }), pinError(`cannot read the token PIN from ${missing}; nothing was changed`));
      for (const content of ['', '\n', '\r\n1234\n']) {
        const empty = join(pdir, 'empty.pin');
        writeFileSync(empty, content);
        assert.throws(() => TokenSession.open(`${base}?pin-source=${empty}`, { object: false }), pinError(`cannot read the token PIN from ${empty}; nothing was changed`), JSON.stringify(content));
      }
      const needed = pinError('the PKCS#11 token PIN is needed: give pin-source=file:PATH in the URI or set EFUSE_ATTEST_PKCS11_PIN');
      assert.throws(() => TokenSession.open(base, { object: false }), needed);
      process.env[PIN_ENV] = '';
      assert.throws(() => TokenSession.open(base, { object: false }), needed);
      process.env[PIN_ENV] = t.pin;
      assert.equal(withSession(base, (s) => s.uri.token), t.label);
      process.env[PIN_ENV] = '0000';
      assert.throws(() => TokenSession.open(base, { object: false }), pinError(`cannot log in to the PKCS#11 token "${t.label}": wrong PIN; nothing was changed`));
    } finally {
      if (saved === undefined) delete process.env[PIN_ENV]; else process.env[PIN_ENV] = saved;
    }
  });

  it('a wrong PIN while this process is logged in is still a wrong PIN; the right one joins the login', () => {
    const good = `pkcs11:token=${t.label}?pin-value=${t.pin}`;
    const wrong = pinError(`cannot log in to the PKCS#11 token "${t.label}": wrong PIN; nothing was changed`);
    assert.throws(() => TokenSession.open(`pkcs11:token=${t.label}?pin-value=0000`, { object: false }), wrong, 'not logged in yet');
    const s = TokenSession.open(good, { object: false });
    try {
      assert.throws(() => TokenSession.open(`pkcs11:token=${t.label}?pin-value=0000`, { object: false }), wrong, 'logged in already');
      assert.equal(withSession(good, (s2) => s2.uri.token), t.label);
      assert.equal(withSession(good, (s2) => s2.find('nothing', s2.p.CKK_AES)), undefined, 'the session still works');
    } finally {
      s.close();
    }
  });

  it('a missing token or module: ESCROW_TOKEN, nothing left open', () => {
    assert.throws(() => TokenSession.open('pkcs11:token=no-such-token?pin-value=1234', { object: false }),
      escrowError('ESCROW_TOKEN', `no PKCS#11 token labelled "no-such-token" is present (module ${DEFAULT_MODULE}); nothing was changed`));
    assert.throws(() => TokenSession.open(`pkcs11:token=t;object=o?module-path=${join(pdir, 'none.so')}&pin-value=1`),
      escrowError('ESCROW_TOKEN', new RegExp(`^cannot load the PKCS#11 module ${join(pdir, 'none.so')} \\(.+\\); nothing was changed$`)));
    assert.throws(() => TokenSession.open(`pkcs11:token=${t.label}?pin-value=1234`), (e: unknown) => e instanceof RangeError && e.message === 'uri must name token=… and object=…');
    assert.throws(() => TokenSession.open(`pkcs11:token=${t.label}?pin-value=1234`, {}), (e: unknown) => e instanceof RangeError && e.message === 'uri must name token=… and object=…');
    assert.equal(withSession(`pkcs11:token=${t.label}?pin-value=${t.pin}`, (s) => s.uri.object), '');
  });

  it('find: by label and key type; two keys of one label are refused', () => {
    withSession(`pkcs11:token=${t.label}?pin-value=${t.pin}`, (s) => {
      const p = s.p;
      const gen = (label: string) => s.lib.C_GenerateKey(s.session, { mechanism: p.CKM_AES_KEY_GEN }, [
        { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_KEY_TYPE, value: p.CKK_AES }, { type: p.CKA_VALUE_LEN, value: 32 },
        { type: p.CKA_LABEL, value: label }, { type: p.CKA_TOKEN, value: false },
      ]);
      assert.equal(s.find('twice', p.CKK_AES), undefined);
      const h = gen('twice');
      assert.deepEqual(s.find('twice', p.CKK_AES), h);
      assert.equal(s.find('twice', p.CKK_GENERIC_SECRET), undefined, 'another key type');
      assert.equal(s.find('twic', p.CKK_AES), undefined, 'another label');
      gen('twice');
      assert.throws(() => s.find('twice', p.CKK_AES), escrowError('ESCROW_TOKEN', `the PKCS#11 token "${t.label}" holds several keys labelled "twice"; nothing was changed`));
      assert.throws(() => s.find('twice', p.CKK_AES), escrowError('ESCROW_TOKEN', /several keys/), 'the search was ended: a new one starts');
    });
  });

  it('Pkcs11Kek: made non-extractable on request, named by a fingerprint; AES-GCM wrap and unwrap in the token', async () => {
    const uri = (object: string) => kekUri(t.label, t.pinFile, object);
    await assert.rejects(openPkcs11Kek(uri('kek-m')), escrowError('ESCROW_TOKEN', `the PKCS#11 token "${t.label}" has no AES key labelled "kek-m"; nothing was changed`));
    assert.throws(() => Pkcs11Kek.open(uri('kek-m'), { create: false }), escrowError('ESCROW_TOKEN', /has no AES key labelled "kek-m"/));
    const kek = await openPkcs11Kek(uri('kek-m'), { create: true });
    const other = Pkcs11Kek.open(uri('kek-n'), { create: true });
    try {
      assert.match(kek.id, new RegExp(`^pkcs11:${t.label}/kek-m:[0-9a-f]{16}$`));
      assert.notEqual(other.id.slice(-16), kek.id.slice(-16));
      const again = await openPkcs11Kek(uri('kek-m'), { create: true });
      assert.equal(again.id, kek.id, 'an existing key is opened, not made again');
      await again.close();
      const aad = Buffer.from('record aad');
      const dk = new Uint8Array(32).fill(0xd5);
      const w1 = await kek.wrap(dk, aad);
      const w2 = await kek.wrap(dk, aad);
      assert.equal(w1.length, 12 + 32 + 16);
      assert.notDeepEqual(w1.subarray(0, 12), w2.subarray(0, 12), 'a fresh IV each time');
      assert.deepEqual(await kek.unwrap(w1, aad), dk);
      const bad = escrowError('ESCROW_TAMPERED', `a data key does not unwrap with key-encryption key ${kek.id}: the record was altered or moved; nothing was changed`);
      await assert.rejects(kek.unwrap(w1, Buffer.from('other aad')), bad);
      await assert.rejects(other.unwrap(w1, aad), escrowError('ESCROW_TAMPERED', new RegExp(`with key-encryption key ${other.id.replace(/[/]/g, '\\/')}:`)));
      await assert.rejects(kek.unwrap(w1.subarray(0, 27), aad), bad);
      await assert.rejects(kek.unwrap(w1.subarray(0, 28), aad), bad);
      // The same operations through the token directly: IV ‖ AES-GCM(ciphertext ‖ 128-bit tag) with the AAD,
      // and the id is the first 8 bytes of GCM over 16 zero bytes under a zero IV with "efuse-attest kek id".
      withSession(`pkcs11:token=${t.label}?pin-value=${t.pin}`, (s) => {
        const p = s.p;
        const h = s.find('kek-m', p.CKK_AES)!;
        const gcm = (iv: Buffer, a: Buffer) => ({ mechanism: p.CKM_AES_GCM, parameter: { type: p.CK_PARAMS_AES_GCM, iv, ivBits: 96, aad: a, tagBits: 128 } as never });
        s.lib.C_DecryptInit(s.session, gcm(Buffer.from(w1.subarray(0, 12)), aad), h);
        assert.deepEqual(new Uint8Array(s.lib.C_Decrypt(s.session, Buffer.from(w1.subarray(12)), Buffer.alloc(64))), dk);
        s.lib.C_EncryptInit(s.session, gcm(Buffer.alloc(12), Buffer.from('efuse-attest kek id')), h);
        const fp = s.lib.C_Encrypt(s.session, Buffer.alloc(16), Buffer.alloc(32));
        assert.equal(kek.id, `pkcs11:${t.label}/kek-m:${fp.subarray(0, 8).toString('hex')}`);
        const attrs = s.lib.C_GetAttributeValue(s.session, h, [{ type: p.CKA_SENSITIVE }, { type: p.CKA_EXTRACTABLE }, { type: p.CKA_TOKEN }, { type: p.CKA_PRIVATE },
          { type: p.CKA_ENCRYPT }, { type: p.CKA_DECRYPT }]);
        assert.deepEqual(attrs.map((a) => (a.value as Buffer)[0]), [1, 0, 1, 1, 1, 1]);
        const len = s.lib.C_GetAttributeValue(s.session, h, [{ type: p.CKA_VALUE_LEN }]);
        assert.equal((len[0]!.value as Buffer).readUInt32LE(0), 32);
      });
    } finally {
      await kek.close();
      await other.close();
    }
  });
});

describe('HSM keyring: importing and verifying inside the token (SoftHSM2)', function () {
  this.timeout(30_000);
  let t: { label: string; pinFile: string; pin: string };
  before(function () {
    if (!haveSoftHsm()) this.skip();
    t = newToken();
  });
  const ID = '7cdfa10001aa';
  const K = new Uint8Array(32).fill(0x3c);
  const mac = (msg: Uint8Array, key = K) => new Uint8Array(createHmac('sha256', key).update(msg).digest());
  const reasonIs = (reason: string, msg?: string | RegExp) => (e: unknown) => {
    assert.ok(e instanceof VerificationError, String(e));
    assert.equal(e.reason, reason);
    if (typeof msg === 'string') assert.equal(e.message, msg); else if (msg) assert.match(e.message, msg);
    return true;
  };

  it('importKey: checks its arguments, puts a sign/verify-only secret key once, under its label', () => {
    const ring = HsmKeyring.open(`pkcs11:token=${t.label}?pin-source=file:${t.pinFile}`);
    try {
      assert.throws(() => ring.importKey(ID, 'BLOCK_KEY0', new Uint8Array(31)), (e: unknown) => e instanceof RangeError && e.message === 'key must be 32 bytes, got 31');
      assert.throws(() => ring.importKey('zz', 'BLOCK_KEY0', K), RangeError);
      assert.throws(() => ring.importKey(ID, 'BLOCK_KEY9', K), RangeError);
      assert.equal(ring.has(ID, 'BLOCK_KEY0'), false);
      const key = Uint8Array.from(K);
      assert.equal(ring.importKey('7C:DF:A1:00:01:AA', '0', key), true);
      assert.deepEqual(key, K, 'the caller\'s key is not touched');
      assert.equal(ring.importKey(ID, 'BLOCK_KEY0', new Uint8Array(32)), false, 'an existing key is kept');
      assert.equal(ring.has(ID, 'block_key0'), true);
      assert.equal(ring.has(ID, 'BLOCK_KEY1'), false);
      assert.equal(ring.verifyMac(ID, 'BLOCK_KEY0', Buffer.from('m'), mac(Buffer.from('m'))), true, 'the first key stayed');
    } finally {
      ring.close();
    }
    // Closed: its session is gone, so the token refuses what it still has a handle for.
    assert.throws(() => ring.verifyMac(ID, 'BLOCK_KEY0', Buffer.from('m'), mac(Buffer.from('m'))), escrowError('ESCROW_TOKEN', /^the PKCS#11 token could not verify: CKR_[A-Z_]+$/));
    // Another keyring (another process, say) finds the key in the token by its label.
    const ring2 = HsmKeyring.open(`pkcs11:token=${t.label}?pin-source=file:${t.pinFile}`);
    try {
      assert.equal(ring2.has(ID, 'BLOCK_KEY0'), true);
      assert.equal(ring2.importKey(ID, 'BLOCK_KEY0', new Uint8Array(32)), false);
      assert.equal(ring2.verifyMac(ID, 'BLOCK_KEY0', Buffer.from('m'), mac(Buffer.from('m'))), true);
    } finally {
      ring2.close();
    }
    withSession(`pkcs11:token=${t.label}?pin-value=${t.pin}`, (s) => {
      const p = s.p;
      const h = s.find(`efa-hmac:${ID}:BLOCK_KEY0`, p.CKK_GENERIC_SECRET);
      assert.ok(h !== undefined, 'found by its label and type');
      const attrs = s.lib.C_GetAttributeValue(s.session, h, [{ type: p.CKA_TOKEN }, { type: p.CKA_PRIVATE }, { type: p.CKA_SENSITIVE }, { type: p.CKA_EXTRACTABLE },
        { type: p.CKA_SIGN }, { type: p.CKA_VERIFY }, { type: p.CKA_ENCRYPT }, { type: p.CKA_DECRYPT }]);
      assert.deepEqual(attrs.map((a) => (a.value as Buffer)[0]), [1, 1, 1, 0, 1, 1, 0, 0]);
    });
  });

  it('verifyMac: true or false by HMAC-SHA256 in the token; no key is VERIFY_KEY; a token failure is ESCROW_TOKEN', () => {
    const uri = `pkcs11:token=${t.label}?pin-source=file:${t.pinFile}`;
    const ring = HsmKeyring.open(uri);
    try {
      ring.importKey(ID, 'BLOCK_KEY1', K);
      const m = Buffer.from('message');
      assert.equal(ring.verifyMac(ID, '1', m, mac(m)), true);
      assert.equal(ring.verifyMac(ID, '1', m, mac(m, new Uint8Array(32))), false);
      assert.equal(ring.verifyMac(ID, '1', Buffer.from('messagf'), mac(m)), false);
      assert.equal(ring.verifyMac(ID, '1', m, mac(m).subarray(0, 31)), false);
      assert.equal(ring.verifyMac(ID, '1', m, new Uint8Array(33)), false);
      assert.throws(() => ring.verifyMac('7cdfa10001ff', 'BLOCK_KEY1', m, mac(m)), reasonIs('KEY', 'the token holds no key for device 7cdfa10001ff BLOCK_KEY1'));
      // Logged out behind the keyring's back (the login is the process's): creating and verifying fail in the token.
      const s = TokenSession.open(`pkcs11:token=${t.label}?pin-value=${t.pin}`, { object: false });
      try {
        s.lib.C_Logout(s.session);
        assert.throws(() => ring.verifyMac(ID, '1', m, mac(m)), escrowError('ESCROW_TOKEN', 'the PKCS#11 token could not verify: CKR_OBJECT_HANDLE_INVALID'));
        assert.throws(() => ring.importKey(ID, 'BLOCK_KEY2', K), escrowError('ESCROW_TOKEN', 'cannot put the key of device 7cdfa10001aa BLOCK_KEY2 into the PKCS#11 token: CKR_USER_NOT_LOGGED_IN'));
      } finally {
        s.lib.C_Login(s.session, s.p.CKU_USER, t.pin);
        s.close();
      }
    } finally {
      ring.close();
    }
  });

  it('load: burned and verified records (or the ones named), each key wiped after; a missing record skipped', async () => {
    const ring = HsmKeyring.open(`pkcs11:token=${t.label}?pin-source=file:${t.pinFile}`);
    try {
      const recs = [
        base({ deviceId: '7cdfa10002a1', state: 'escrowed', key: new Uint8Array(32).fill(1) }),
        base({ deviceId: '7cdfa10002a2', state: 'burned', key: new Uint8Array(32).fill(2) }),
        base({ deviceId: '7cdfa10002a3', state: 'verified', key: new Uint8Array(32).fill(3) }),
      ];
      const handed: EscrowRecord[] = [];
      const store = {
        async list() { return recs.map(entryOf); },
        async get(id: string, block?: string) {
          const r = recs.find((x) => x.deviceId === id && x.block === block);
          if (!r) return undefined;
          const copy = { ...r, key: Uint8Array.from(r.key) };
          handed.push(copy);
          return copy;
        },
      } as unknown as Parameters<HsmKeyring['load']>[0];
      assert.equal(await ring.load(store), 2);
      assert.deepEqual(handed.map((r) => r.deviceId), ['7cdfa10002a2', '7cdfa10002a3']);
      assert.ok(handed.every((r) => r.key.every((b) => b === 0)), 'keys wiped');
      assert.equal(ring.has('7cdfa10002a1', 'BLOCK_KEY0'), false);
      assert.equal(await ring.load(store, [{ deviceId: '7cdfa10002a1', block: 'BLOCK_KEY0' }, { deviceId: '7cdfa10002a9', block: 'BLOCK_KEY0' }, { deviceId: '7cdfa10002a2', block: 'BLOCK_KEY0' }]), 1);
      assert.equal(ring.has('7cdfa10002a1', 'BLOCK_KEY0'), true);
      assert.equal(handed.length, 4);
      assert.ok(handed.every((r) => r.key.every((b) => b === 0)), 'also the one already there');
      assert.equal(ring.verifyMac('7cdfa10002a3', 'BLOCK_KEY0', Buffer.from('x'), mac(Buffer.from('x'), new Uint8Array(32).fill(3))), true);
    } finally {
      ring.close();
    }
  });

  it('verifyAttestation and verifyToken: the refusals before and after the MAC, with their messages', async () => {
    const idA = Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 3, 0xaa);
    const dev = createDevice(softChip({ mac: idA, keys: { 0: { key: K }, 1: { key: K } } }));
    const ring = HsmKeyring.open(`pkcs11:token=${t.label}?pin-source=file:${t.pinFile}`);
    try {
      ring.importKey(toHex(idA), 'BLOCK_KEY0', K);
      ring.importKey(toHex(idA), 'BLOCK_KEY1', K);
      const nonce = new Uint8Array(32).fill(4);
      const att = { nonce, response: dev.attest(nonce, 0) };
      assert.equal(ring.verifyAttestation(att).slot, 0);
      assert.throws(() => ring.verifyAttestation({ nonce, response: { ...att.response, slot: 6 } }), reasonIs('PURPOSE', 'key slot 6 does not exist'));
      assert.throws(() => ring.verifyAttestation({ nonce, response: { ...att.response, mac: att.response.mac.subarray(0, 31) } }),
        (e: unknown) => e instanceof RangeError && e.message === 'response.mac must be 32 bytes, got 31');
      assert.throws(() => ring.verifyAttestation({ nonce: new Uint8Array(32), response: att.response }),
        reasonIs('MAC', `attestation MAC does not verify for device ${toHex(idA)}: wrong key, wrong nonce, or altered answer`));
      assert.throws(() => ring.verifyAttestation(att, { slot: 1 }), VerificationError);
      const tok = dev.token('hub/devices/x', Math.floor(Date.now() / 1000) + 600);
      assert.equal(ring.verifyToken(tok, { deviceId: toHex(idA), block: 'BLOCK_KEY1' }).resource, 'hub/devices/x');
      assert.throws(() => ring.verifyToken('not a token', { deviceId: toHex(idA), block: 'BLOCK_KEY1' }), reasonIs('FORMAT', /^token is malformed: ./));
      assert.throws(() => ring.verifyToken(tok.replace(/sig=[^&]+/, 'sig=' + encodeURIComponent(Buffer.alloc(32).toString('base64'))), { deviceId: toHex(idA), block: 'BLOCK_KEY1' }),
        reasonIs('SIGNATURE', 'token signature does not verify with this key'));
      assert.throws(() => ring.verifyToken(tok, { deviceId: toHex(idA), block: 'BLOCK_KEY1', resource: 'hub/devices/y' }), VerificationError);
    } finally {
      ring.close();
    }
  });
});

describe('escrow PostgreSQL store: what is decided before connecting (pure)', () => {
  it('redactUrl drops the password and keeps the rest; an unparseable URL is shown as postgres://…', () => {
    assert.equal(redactUrl('postgres://efa:s3cret@db.example:5433/escrow?sslmode=require'), 'postgres://efa@db.example:5433/escrow?sslmode=require');
    assert.equal(redactUrl('postgresql://efa@127.0.0.1/e'), 'postgresql://efa@127.0.0.1/e');
    assert.equal(redactUrl('not a url s3cret'), 'postgres://…');
  });

  it('kekInfoJson: the scrypt parameters, salt and check value in hex', () => {
    assert.deepEqual(kekInfoJson({ kdf: { log2N: 15, r: 8, p: 1 }, salt: Uint8Array.of(0, 1, 0xfe), check: Uint8Array.of(0xab, 0xcd) }),
      { kdf: { log2N: 15, r: 8, p: 1 }, salt: '0001fe', check: 'abcd' });
  });

  it('PgStore.open refuses a URL that is not postgres://, no KEK and no passphrase, and a bad claim TTL', async () => {
    const url = 'postgres://efa@127.0.0.1:1/none';
    for (const bad of ['mysql://x/y', 'postgres:/x', ' postgres://x', 5]) {
      await assert.rejects(PgStore.open(bad as never, { passphrase: 'p' }), (e: unknown) => e instanceof TypeError && e.message === 'url must be a postgres:// connection string', String(bad));
    }
    await assert.rejects(PgStore.open(url, {}), (e: unknown) => e instanceof TypeError && e.message === 'opts must give a kek or a passphrase');
    // Past the argument checks (a claim TTL of 1 ms is valid): the connection fails, named with its cause.
    for (const opts of [{ passphrase: 'p' }, { passphrase: 'p', claimTtlMs: 1 }]) {
      await assert.rejects(PgStore.open('postgres://efa:pw@127.0.0.1:1/none', opts), (e: unknown) => {
        assert.ok(e instanceof EscrowError && e.code === 'ESCROW_IO', String(e));
        assert.match(e.message, /^cannot open the escrow in the escrow database postgres:\/\/efa@127\.0\.0\.1:1\/none: connect ECONNREFUSED 127\.0\.0\.1:1; nothing was changed$/);
        assert.equal((e.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
        return true;
      });
    }
    for (const claimTtlMs of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(PgStore.open(url, { passphrase: 'p', claimTtlMs }), (e: unknown) => e instanceof RangeError && e.message === 'opts.claimTtlMs must be a positive whole number of milliseconds', String(claimTtlMs));
    }
  });
});
