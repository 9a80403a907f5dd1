// The escrow store's shared rules (host/escrow/store.ts), checked directly: block names, the record
// checks at the store boundary (each names its field and never echoes key bytes), the listing form,
// and the merge rule every backend's put() uses — the state only moves forward, and updatedAt moves
// with it; a different key or chip is ESCROW_CONFLICT.
import assert from 'node:assert/strict';
import { EscrowError } from '../host/errors.js';
import { checkRecord, entryOf, type EscrowRecord, mergeRecord, newRecord, STATES, stateRank } from '../host/escrow/store.js';
import { blockName, blockSlot } from '../protocol/keyblock.js';
import { DERIVATION_SCHEME } from '../host/keys.js';
import { equalBytes } from '../protocol/index.js';

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
