// Edges of provisioning (host/provision/) that the mutation run found unchecked, in-process on the
// in-memory eFuse (support/memory-efuse.ts) with a store kept in a Map: plan()'s exact decisions and
// messages, what provisionDevice returns, logs and leaves in the escrow on each path (refusals,
// failures and their codes, a claim and its release, derived keys, a read-back that differs, a burn
// the fuses of another device answer), the pool of provisionBatch, the CSV and JSON reports, the audit
// log's file handling and chain checks, the survey with a master, and the default challenge.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceError, EfuseAttestError, EscrowError, EXIT, VerificationError } from '../host/errors.js';
import type { EfuseController } from '../host/efuse/controller.js';
import { type EscrowEntry, type EscrowRecord, type EscrowState, type EscrowStore, newRecord } from '../host/escrow/store.js';
import type { EfuseSummary } from '../host/espefuse/summary.js';
import { DERIVATION_SCHEME, deriveKey, masterId } from '../host/keys.js';
import { type AuditEntry, AuditLog, chainLine, MemoryAudit, verifyAuditFile } from '../host/provision/audit.js';
import { plansBurn, survey, type SurveyRow } from '../host/provision/batch.js';
import { defaultChallenge } from '../host/provision/challenge.js';
import { MAX_PARALLEL, provisionBatch } from '../host/provision/parallel.js';
import { countOutcomes, CSV_COLUMNS, type Report, reportCsv, reportJson, writeReport } from '../host/provision/report.js';
import { type ChallengeTarget, plan, provisionDevice, type ProvisionResult } from '../host/provision/sequence.js';
import { MemoryEfuse } from './support/memory-efuse.js';

const BLOCK = 'BLOCK_KEY0';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** An escrow store in a Map that records the calls made to it; `claims` adds claim/release. */
class MapStore implements EscrowStore {
  readonly location = 'map://test';
  readonly records = new Map<string, EscrowRecord>();
  readonly calls: string[] = [];
  /** Replaces what get() returns right after a put (a store that does not read back what it took). */
  readBack?: (rec: EscrowRecord) => EscrowRecord | undefined;
  failGet = false;
  claim?: (deviceId: string, block: string) => Promise<void>;
  release?: (deviceId: string, block: string) => Promise<void>;

  constructor(opts: { claims?: boolean } = {}) {
    if (opts.claims) {
      this.claim = async (d, b) => { this.calls.push(`claim ${d} ${b}`); };
      this.release = async (d, b) => { this.calls.push(`release ${d} ${b}`); };
    }
  }

  async put(rec: EscrowRecord): Promise<void> {
    this.calls.push(`put ${rec.deviceId} ${rec.block}`);
    this.records.set(`${rec.deviceId}/${rec.block}`, { ...rec, key: Uint8Array.from(rec.key) });
  }

  async get(deviceId: string, block = BLOCK): Promise<EscrowRecord | undefined> {
    this.calls.push(`get ${deviceId} ${block}`);
    if (this.failGet) throw new EscrowError('the store is gone', 'ESCROW_IO');
    const r = this.records.get(`${deviceId}/${block}`);
    if (!r) return undefined;
    const copy = { ...r, key: Uint8Array.from(r.key) };
    if (this.readBack && this.calls.at(-2)?.startsWith('put ')) return this.readBack(copy);
    return copy;
  }

  async setState(deviceId: string, block: string, state: EscrowState): Promise<void> {
    this.calls.push(`setState ${deviceId} ${block} ${state}`);
    const r = this.records.get(`${deviceId}/${block}`);
    if (r) r.state = state;
  }

  async list(): Promise<EscrowEntry[]> {
    this.calls.push('list');
    return [...this.records.values()].map(({ key: _k, ...e }) => e);
  }
}

const record = (ef: { mac: string; chip: string }, fields: Partial<EscrowRecord> = {}): EscrowRecord =>
  ({ ...newRecord({ deviceId: ef.mac, chip: ef.chip, block: BLOCK, purpose: 'HMAC_UP', key: new Uint8Array(randomBytes(32)) }), ...fields });

/** A summary of a blank esp32s3 with `mac`, its BLOCK_KEY0 changed by `k`. */
async function summaryWith(mac: string, k: Partial<EfuseSummary['keys'][number]> = {}): Promise<EfuseSummary> {
  const s = await new MemoryEfuse({ chip: 'esp32s3', mac }).summary();
  s.keys[0] = { ...s.keys[0]!, ...k };
  return s;
}

describe('plan: each decision, its code and its detail', () => {
  const mac = '02aabbccdd01';
  const rec = (state: EscrowState, chip = 'esp32s3') => ({ ...newRecord({ deviceId: mac, chip, block: BLOCK, purpose: 'HMAC_UP', key: new Uint8Array(32).fill(1) }), state });
  const burned = { purpose: 'HMAC_UP', purposeCode: 8, readProtected: true, writeProtected: true, purposeWritable: false, empty: false, unused: false };

  it('an all-zero MAC is refused first (NO_DEVICE_ID), whatever the escrow holds', async () => {
    const s = await summaryWith('000000000000');
    const expected = { action: 'refuse', code: 'NO_DEVICE_ID', detail: 'the factory MAC reads as all zeros, so the device has no id' };
    assert.deepEqual(plan(s, 'esp32s3', BLOCK, undefined), expected);
    assert.deepEqual(plan(s, 'esp32s3', BLOCK, rec('escrowed')), expected);
    // Not a zero MAC: twelve zeros only, anywhere else the id is a device.
    assert.equal(plan(await summaryWith('000000000001'), 'esp32s3', BLOCK, undefined).action, 'burn-new');
  });

  it('with a record: chip mismatch, verify, clone, burn the escrowed key, block in another state', async () => {
    const blank = await summaryWith(mac);
    assert.deepEqual(plan(blank, 'esp32s3', BLOCK, rec('escrowed', 'esp32c3'), 'the escrow (v)'), {
      action: 'refuse', code: 'ESCROW_CHIP_MISMATCH', detail: `the escrow (v) holds device ${mac} as esp32c3, not esp32s3`,
    });
    assert.deepEqual(plan(await summaryWith(mac, burned), 'esp32s3', BLOCK, rec('burned')), {
      action: 'verify', detail: 'BLOCK_KEY0 is burned (purpose HMAC_UP, read-protected, write-protected) and its key is escrowed (burned): verify it',
    });
    for (const state of ['burned', 'verified'] as const) {
      assert.deepEqual(plan(blank, 'esp32s3', BLOCK, rec(state), 'the escrow (v)'), {
        action: 'refuse', code: 'ESCROW_POSSIBLE_CLONE',
        detail: `the escrow (v) already holds a key burned into BLOCK_KEY0 (record ${state}) of device ${mac}, yet this chip reports that id with the block unused: ` +
          'it may be a clone (a second chip with a copied MAC), so its key is not burned again. Check the chip; a genuine replacement needs a new escrow entry',
      });
    }
    assert.deepEqual(plan(blank, 'esp32s3', BLOCK, rec('escrowed')), { action: 'burn-escrowed', detail: 'BLOCK_KEY0 is unused and a key is escrowed (escrowed): burn that key' });
    const readable = { purpose: 'HMAC_UP', readProtected: false, writeProtected: true, purposeWritable: false, empty: false, unused: false };
    assert.deepEqual(plan(await summaryWith(mac, readable), 'esp32s3', BLOCK, rec('escrowed')), {
      action: 'refuse', code: 'BLOCK_STATE',
      detail: `BLOCK_KEY0 of device ${mac} is purpose HMAC_UP, readable, write-protected, holds data — neither unused nor burned HMAC_UP and read-protected, ` +
        'although a key is escrowed for it (an interrupted burn?). Not touching it: inspect it with espefuse summary',
    });
  });

  it('without a record: a used block is BLOCK_USED naming the escrow (default "the escrow")', async () => {
    assert.deepEqual(plan(await summaryWith(mac, burned), 'esp32s3', BLOCK, undefined), {
      action: 'refuse', code: 'BLOCK_USED',
      detail: `BLOCK_KEY0 of device ${mac} is already used (purpose HMAC_UP, read-protected, write-protected) and the escrow has no key for it. ` +
        'A used block is never burned again; if its key is escrowed elsewhere, add it with `efuse-attest escrow import`',
    });
    assert.deepEqual(plan(await summaryWith(mac), 'esp32s3', BLOCK, undefined), { action: 'burn-new', detail: 'BLOCK_KEY0 is unused: make a key, escrow it, burn it' });
  });

  it('--master: a burned or verified record of this id in any block refuses it, listing them; escrowed ones and other ids do not', async () => {
    const blank = await summaryWith(mac);
    const entry = (deviceId: string, block: string, state: EscrowState): EscrowEntry => {
      const { key: _k, ...e } = { ...newRecord({ deviceId, chip: 'esp32s3', block, purpose: 'HMAC_UP', key: new Uint8Array(32) }), state };
      return e;
    };
    const records = [entry(mac, 'BLOCK_KEY1', 'burned'), entry(mac, 'BLOCK_KEY2', 'escrowed'), entry('02aabbccdd02', 'BLOCK_KEY3', 'verified'), entry(mac, 'BLOCK_KEY4', 'verified')];
    assert.deepEqual(plan(blank, 'esp32s3', BLOCK, undefined, 'the escrow (v)', { master: true, deviceRecords: records }), {
      action: 'refuse', code: 'ESCROW_POSSIBLE_CLONE',
      detail: `the escrow (v) already holds a key burned into BLOCK_KEY1 (record burned), BLOCK_KEY4 (record verified) of device ${mac}, yet this chip reports that id with the block unused: ` +
        'it may be a clone (a second chip with a copied MAC), so its key is not burned again. Check the chip; a genuine replacement needs a new escrow entry',
    });
    assert.equal(plan(blank, 'esp32s3', BLOCK, undefined, 'e', { master: true, deviceRecords: [records[1]!, records[2]!] }).action, 'burn-new');
    assert.equal(plan(blank, 'esp32s3', BLOCK, undefined, 'e', { master: true }).action, 'burn-new');
    assert.equal(plan(blank, 'esp32s3', BLOCK, undefined, 'e', { master: false, deviceRecords: records }).action, 'burn-new', 'a random key: other blocks do not matter');
  });
});

describe('provisionDevice: results, audit lines and escrow on each path', () => {
  const challengeOk = async () => {};

  it('a new device: every field of the result and of each audit line; the claim taken and released', async () => {
    const ef = new MemoryEfuse({ chip: 'esp32c3', label: 'mem c3' });
    const store = new MapStore({ claims: true });
    const audit = new MemoryAudit();
    const targets: [ChallengeTarget, string][] = [];
    const steps: string[] = [];
    const r = await provisionDevice({
      efuse: ef, store, audit, block: 'BLOCK_KEY2', run: 'run-1', challenge: async (t, key) => { targets.push([t, hex(key)]); },
      onStep: (step, outcome) => steps.push(`${step} ${outcome}`),
    });
    const key = ef.keyIn('BLOCK_KEY2')!;
    assert.equal(targets.length, 1);
    assert.deepEqual({ ...targets[0]![0], efuse: undefined }, { efuse: undefined, chip: 'esp32c3', deviceId: ef.mac, block: 'BLOCK_KEY2', slot: 2 });
    assert.equal(targets[0]![0].efuse, ef);
    assert.equal(targets[0]![1], hex(key), 'the challenge gets the key burned');
    assert.deepEqual({ ...r, ms: 0, steps: r.steps.map((s) => ({ ...s, ms: 0 })) }, {
      target: 'mem c3', chip: 'esp32c3', block: 'BLOCK_KEY2', deviceId: ef.mac, outcome: 'provisioned', state: 'verified', derived: false, burned: true, ms: 0,
      steps: [
        { step: 'read', outcome: 'ok', ms: 0, detail: 'BLOCK_KEY2 is unused: make a key, escrow it, burn it' },
        { step: 'keygen', outcome: 'ok', ms: 0, detail: 'random' },
        { step: 'escrow', outcome: 'ok', ms: 0, detail: 'map://test' },
        { step: 'burn', outcome: 'ok', ms: 0, detail: 'burn-key BLOCK_KEY2 HMAC_UP' },
        { step: 'check', outcome: 'ok', ms: 0, detail: 'purpose HMAC_UP, read-protected, write-protected' },
        { step: 'mark-burned', outcome: 'ok', ms: 0 },
        { step: 'challenge', outcome: 'ok', ms: 0 },
        { step: 'mark-verified', outcome: 'ok', ms: 0 },
      ],
    });
    assert.ok(r.ms >= 0 && r.steps.every((s) => s.ms >= 0));
    assert.deepEqual(steps, ['read ok', 'keygen ok', 'escrow ok', 'burn ok', 'check ok', 'mark-burned ok', 'challenge ok', 'mark-verified ok']);
    assert.deepEqual(audit.entries.map((e) => ({ ...e, time: '', ms: 0 })), r.steps.map((s) => ({
      time: '', run: 'run-1', deviceId: ef.mac, chip: 'esp32c3', block: 'BLOCK_KEY2', target: 'mem c3', step: s.step, outcome: 'ok', ms: 0, ...(s.detail ? { detail: s.detail } : {}),
    })));
    assert.ok(audit.entries.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.time)));
    assert.deepEqual(store.calls, [
      `claim ${ef.mac} BLOCK_KEY2`, `get ${ef.mac} BLOCK_KEY2`, `put ${ef.mac} BLOCK_KEY2`, `get ${ef.mac} BLOCK_KEY2`,
      `setState ${ef.mac} BLOCK_KEY2 burned`, `setState ${ef.mac} BLOCK_KEY2 verified`, `release ${ef.mac} BLOCK_KEY2`,
    ]);
    const rec = store.records.get(`${ef.mac}/BLOCK_KEY2`)!;
    assert.deepEqual([rec.state, rec.chip, rec.purpose, hex(rec.key), rec.derivation], ['verified', 'esp32c3', 'HMAC_UP', hex(key), undefined]);
  });

  it('without a run id, one is made: 12 hex digits, the same on every line', async () => {
    const audit = new MemoryAudit();
    await provisionDevice({ efuse: new MemoryEfuse(), store: new MapStore(), audit, block: BLOCK });
    assert.match(audit.entries[0]!.run, /^[0-9a-f]{12}$/);
    assert.equal(new Set(audit.entries.map((e) => e.run)).size, 1);
  });

  it('an all-zero MAC: refused at read, nothing claimed or asked of the escrow', async () => {
    const ef = new MemoryEfuse({ mac: '000000000000' });
    const store = new MapStore({ claims: true });
    const audit = new MemoryAudit();
    const r = await provisionDevice({ efuse: ef, store, audit, block: BLOCK, run: 'z' });
    assert.deepEqual([r.outcome, r.error, r.state, r.deviceId, r.burned], ['refused', {
      code: 'NO_DEVICE_ID', message: 'the factory MAC reads as all zeros, so the device has no id', exitCode: EXIT.ESPEFUSE,
    }, undefined, '000000000000', false]);
    assert.deepEqual(store.calls, []);
    assert.deepEqual(audit.entries.map((e) => ({ ...e, time: '', ms: 0 })), [{
      time: '', run: 'z', deviceId: '000000000000', chip: 'esp32s3', block: BLOCK, target: ef.label, step: 'read', outcome: 'refuse', ms: 0,
      error: 'the factory MAC reads as all zeros, so the device has no id', code: 'NO_DEVICE_ID',
    }]);
    assert.equal(ef.burns, 0);
  });

  it('a refusal of the escrow (ESCROW_POSSIBLE_CLONE) has exit ESCROW; the state reported is the record\'s', async () => {
    const ef = new MemoryEfuse();
    const store = new MapStore();
    store.records.set(`${ef.mac}/${BLOCK}`, record(ef, { state: 'burned' }));
    const r = await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK });
    assert.deepEqual([r.outcome, r.error?.code, r.error?.exitCode, r.state], ['refused', 'ESCROW_POSSIBLE_CLONE', EXIT.ESCROW, 'burned']);
    assert.match(r.error!.message, /^the escrow \(map:\/\/test\) already holds a key burned into BLOCK_KEY0 \(record burned\)/);
    assert.equal(ef.burns, 0);
  });

  it('a failure after the escrow: failed, its step on the line with fail, code and exit; the state then read from the store', async () => {
    const ef = new MemoryEfuse();
    ef.failNextBurn('refuse');
    const store = new MapStore({ claims: true });
    const audit = new MemoryAudit();
    const r = await provisionDevice({ efuse: ef, store, audit, block: BLOCK, challenge: challengeOk });
    assert.deepEqual([r.outcome, r.state, r.burned, r.error?.code, r.error?.exitCode], ['failed', 'escrowed', false, 'ESPEFUSE_FAILED', EXIT.ESPEFUSE]);
    const last = audit.entries.at(-1)!;
    assert.deepEqual([last.step, last.outcome, last.code, last.error], ['burn', 'fail', 'ESPEFUSE_FAILED', `espefuse burn-key on ${ef.label} failed (exit 2): injected failure`]);
    assert.deepEqual(r.steps.at(-1), { step: 'burn', outcome: 'fail', ms: r.steps.at(-1)!.ms });
    assert.equal(store.calls.at(-1), `release ${ef.mac} ${BLOCK}`, 'the claim is released after a failure too');
  });

  it('an error that is not the project\'s: USAGE for RangeError and TypeError, FAILURE otherwise, exit 1; key bytes redacted', async () => {
    for (const [make, code] of [[(m: string) => new RangeError(m), 'USAGE'], [(m: string) => new TypeError(m), 'USAGE'], [(m: string) => new Error(m), 'FAILURE']] as const) {
      const ef = new MemoryEfuse();
      const audit = new MemoryAudit();
      const r = await provisionDevice({ efuse: ef, store: new MapStore(), audit, block: BLOCK, challenge: async (_t, key) => { throw make(`bad answer for ${hex(key)}`); } });
      assert.deepEqual([r.outcome, r.error, r.state], ['failed', { code, message: 'bad answer for [key]', exitCode: EXIT.FAILURE }, 'burned']);
      assert.deepEqual(audit.entries.at(-1), { ...audit.entries.at(-1)!, step: 'challenge', outcome: 'fail', error: 'bad answer for [key]', code });
    }
    const r = await provisionDevice({ efuse: new MemoryEfuse(), store: new MapStore(), audit: new MemoryAudit(), block: BLOCK, challenge: async () => { throw 'a string'; } });
    assert.deepEqual(r.error, { code: 'FAILURE', message: 'a string', exitCode: EXIT.FAILURE });
  });

  it('a store that fails when asked for the state after a failure: no state, the result still returned', async () => {
    const ef = new MemoryEfuse();
    const store = new MapStore();
    const r = await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK, challenge: async () => { store.failGet = true; throw new Error('no answer'); } });
    assert.deepEqual([r.outcome, r.state, r.error?.message], ['failed', undefined, 'no answer']);
  });

  it('the error on the audit line is redacted too, its code kept', async () => {
    const ef = new MemoryEfuse();
    const audit = new MemoryAudit();
    const store = new MapStore();
    await provisionDevice({ efuse: ef, store, audit, block: BLOCK, challenge: async (_t, key) => { throw new EfuseAttestError(`mac ${Buffer.from(key).toString('base64')}`, 'X_CODE', 5); } });
    const last = audit.entries.at(-1)!;
    assert.deepEqual([last.error, last.code], ['mac [key]', 'X_CODE']);
  });

  it('a store that reads back another key, or nothing: ESCROW_READBACK before any burn', async () => {
    for (const back of [(r: EscrowRecord) => ({ ...r, key: new Uint8Array(32).fill(7) }), () => undefined]) {
      const ef = new MemoryEfuse();
      const store = new MapStore();
      store.readBack = back;
      const r = await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK });
      assert.deepEqual([r.outcome, r.error?.code, r.error?.exitCode, r.error?.message, ef.burns], [
        'failed', 'ESCROW_READBACK', EXIT.ESCROW, `the escrow does not return the key just stored for device ${ef.mac} ${BLOCK}; not burning`, 0,
      ]);
      assert.deepEqual(r.steps.map((s) => `${s.step} ${s.outcome}`), ['read ok', 'keygen ok', 'escrow fail']);
    }
  });

  it('a burn whose summary names another device: BURN_UNCONFIRMED at check', async () => {
    const ef = new MemoryEfuse();
    const burnKey = ef.burnKey.bind(ef);
    ef.burnKey = async (b, k) => ({ ...(await burnKey(b, k)), mac: '02ffffffffff' });
    const r = await provisionDevice({ efuse: ef, store: new MapStore(), audit: new MemoryAudit(), block: BLOCK });
    assert.deepEqual([r.outcome, r.error?.code, r.error?.message], ['failed', 'BURN_UNCONFIRMED', 'BLOCK_KEY0 of device 02ffffffffff is purpose HMAC_UP, read-protected, write-protected, not HMAC_UP and read-protected']);
    assert.equal(r.steps.at(-1)!.step, 'check');
  });

  it('no challenge: burned-unverified, state burned; a record already verified stays verified: already-provisioned', async () => {
    const ef = new MemoryEfuse();
    const store = new MapStore();
    const audit = new MemoryAudit();
    const r = await provisionDevice({ efuse: ef, store, audit, block: BLOCK, challenge: null });
    assert.deepEqual([r.outcome, r.state, r.steps.at(-1)], ['burned-unverified', 'burned', { step: 'challenge', outcome: 'skip', ms: r.steps.at(-1)!.ms, detail: 'no challenge: the record stays "burned"' }]);
    store.records.get(`${ef.mac}/${BLOCK}`)!.state = 'verified';
    const again = await provisionDevice({ efuse: ef, store, audit, block: BLOCK });
    assert.deepEqual([again.outcome, again.state, again.burned], ['already-provisioned', 'verified', false]);
    assert.deepEqual(again.steps.slice(1).map((s) => [s.step, s.outcome, s.detail]), [
      ['keygen', 'skip', 'using the escrowed key'], ['escrow', 'skip', 'already escrowed (verified)'], ['burn', 'skip', 'already burned'],
      ['check', 'ok', again.steps[4]!.detail], ['mark-burned', 'ok', undefined], ['challenge', 'skip', 'no challenge: verified by an earlier run'],
    ]);
  });

  it('a record escrowed: resumed; verified: already-provisioned; burned HMAC_UP needs no burn', async () => {
    const ef = new MemoryEfuse();
    const store = new MapStore();
    const rec = record(ef);
    store.records.set(`${ef.mac}/${BLOCK}`, rec);
    const r = await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK, challenge: challengeOk });
    assert.deepEqual([r.outcome, r.state, r.burned, hex(ef.keyIn(BLOCK)!)], ['resumed', 'verified', true, hex(rec.key)]);
    const again = await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK, challenge: challengeOk });
    assert.deepEqual([again.outcome, again.state, again.burned, ef.burns], ['already-provisioned', 'verified', false, 1]);
    store.records.get(`${ef.mac}/${BLOCK}`)!.state = 'burned';
    assert.equal((await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK, challenge: challengeOk })).outcome, 'resumed');
  });

  it('--master: the derived key escrowed with its derivation; an escrowed key that is not the derived one is ESCROW_CONFLICT', async () => {
    const master = new Uint8Array(64).fill(9);
    const ef = new MemoryEfuse();
    const store = new MapStore();
    const r = await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK, master, challenge: challengeOk });
    const want = deriveKey(master, ef.mac);
    assert.deepEqual([r.outcome, r.derived, hex(ef.keyIn(BLOCK)!)], ['provisioned', true, hex(want.key)]);
    assert.deepEqual(store.records.get(`${ef.mac}/${BLOCK}`)!.derivation, { scheme: DERIVATION_SCHEME, registrationId: ef.mac, masterId: masterId(master) });
    assert.equal(r.steps[1]!.detail, `derived (${DERIVATION_SCHEME})`);
    assert.ok(store.calls.includes('list'), 'nothing escrowed for the block: the listing is read');

    // The same master again: the escrowed key is the derived one; derived says what the record says.
    store.calls.length = 0;
    const again = await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK, master, challenge: challengeOk });
    assert.deepEqual([again.outcome, again.derived], ['already-provisioned', true]);
    assert.ok(!store.calls.includes('list'), 'a record for the block: the listing is not read');

    // An escrowed random key and --master: refused, nothing burned.
    const other = new MemoryEfuse();
    store.records.set(`${other.mac}/${BLOCK}`, record(other));
    const refused = await provisionDevice({ efuse: other, store, audit: new MemoryAudit(), block: BLOCK, master });
    assert.deepEqual([refused.outcome, refused.error?.code, refused.error?.exitCode, refused.error?.message, other.burns], ['refused', 'ESCROW_CONFLICT', EXIT.ESCROW,
      `the key escrowed for device ${other.mac} BLOCK_KEY0 is not the one derived from this master; an escrowed key is never replaced — provision it without --master, or with the master it came from`, 0]);
    assert.equal(refused.steps.at(-1)!.step, 'keygen');

    // An escrowed random key without --master: derived false.
    const plain = await provisionDevice({ efuse: other, store, audit: new MemoryAudit(), block: BLOCK });
    assert.deepEqual([plain.outcome, plain.derived], ['burned-unverified', false]);
  });

  it('--master on a device whose id is burned in another block: refused as a clone; the listing is read', async () => {
    const master = new Uint8Array(64).fill(3);
    const ef = new MemoryEfuse();
    const store = new MapStore();
    store.records.set(`${ef.mac}/BLOCK_KEY3`, record(ef, { block: 'BLOCK_KEY3', state: 'verified' }));
    const r = await provisionDevice({ efuse: ef, store, audit: new MemoryAudit(), block: BLOCK, master });
    assert.deepEqual([r.outcome, r.error?.code, ef.burns], ['refused', 'ESCROW_POSSIBLE_CLONE', 0]);
    assert.match(r.error!.message, /BLOCK_KEY3 \(record verified\) of device/);
    assert.ok(store.calls.includes('list'));
  });
});

describe('provisionBatch: the pool', () => {
  const common = () => ({ store: new MapStore(), audit: new MemoryAudit(), block: BLOCK, challenge: null });

  it('parallel bounds: 1 and 16 run, 0 and 17 are RangeErrors with the exact message; not a number is a TypeError', async () => {
    assert.equal(MAX_PARALLEL, 16);
    await assert.rejects(provisionBatch({ ...common(), targets: [], parallel: 17 }), { name: 'RangeError', message: 'parallel must be 1..16, got 17' });
    await assert.rejects(provisionBatch({ ...common(), targets: [], parallel: 0 }), { name: 'RangeError', message: 'parallel must be 1..16, got 0' });
    await assert.rejects(provisionBatch({ ...common(), targets: [], parallel: 2.5 }), { name: 'TypeError', message: 'parallel must be a whole number' });
    await assert.rejects(provisionBatch({ ...common(), targets: {} as never }), { name: 'TypeError', message: 'targets must be an array of EfuseController' });
    assert.deepEqual(await provisionBatch({ ...common(), targets: [], parallel: 16 }), []);
    const one = await provisionBatch({ ...common(), targets: [new MemoryEfuse()], parallel: 16 });
    assert.deepEqual(one.map((r) => r.outcome), ['burned-unverified']);
  });

  it('at most `parallel` devices at once (default 1); each callback gets its index; results in target order', async () => {
    for (const [parallel, most] of [[undefined, 1], [2, 2], [16, 5]] as const) {
      const targets = Array.from({ length: 5 }, () => new MemoryEfuse());
      let busy = 0;
      let peak = 0;
      const seen: string[] = [];
      const results = await provisionBatch({
        ...common(), targets, ...(parallel ? { parallel } : {}),
        challenge: async () => { busy++; peak = Math.max(peak, busy); await new Promise((r) => setTimeout(r, 5)); busy--; },
        onStep: (i, step, outcome) => { if (step === 'read') seen.push(`${i} ${outcome}`); },
        onDevice: (i, r) => seen.push(`${i} ${r.outcome} ${r.target === targets[i]!.label}`),
      });
      assert.equal(peak, most, `parallel ${parallel}`);
      assert.deepEqual(results.map((r) => r.target), targets.map((t) => t.label));
      assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4].flatMap((i) => [`${i} ok`, `${i} provisioned true`]).sort());
    }
  });
});

describe('reports: CSV cells, JSON, the file written, the counts', () => {
  const dev = (fields: Partial<ProvisionResult>): ProvisionResult => ({
    target: 'virt a.bin', chip: 'esp32s3', block: BLOCK, deviceId: '02aabbccdd01', outcome: 'provisioned', state: 'verified',
    derived: false, burned: true, steps: [], ms: 12, ...fields,
  });
  const report = (devices: ProvisionResult[]): Report => ({
    run: 'r', startedAt: 'a', finishedAt: 'b', escrow: 'e', audit: 'l', counts: countOutcomes(devices), devices,
  });

  it('one header, one row per device, every column; absent fields empty', () => {
    assert.deepEqual([...CSV_COLUMNS], ['target', 'deviceId', 'chip', 'block', 'outcome', 'state', 'derived', 'burned', 'ms', 'errorCode', 'error']);
    const csv = reportCsv(report([dev({}), dev({ target: 'port x', deviceId: undefined, outcome: 'failed', state: undefined, derived: true, burned: false, ms: 0, error: { code: 'E', message: 'boom', exitCode: 1 } })]));
    assert.equal(csv, 'target,deviceId,chip,block,outcome,state,derived,burned,ms,errorCode,error\n' +
      'virt a.bin,02aabbccdd01,esp32s3,BLOCK_KEY0,provisioned,verified,false,true,12,,\n' +
      'port x,,esp32s3,BLOCK_KEY0,failed,,true,false,0,E,boom\n');
    assert.equal(reportCsv(report([])), CSV_COLUMNS.join(',') + '\n');
    // null (a report read back from JSON, say) is an empty cell too, never "null".
    assert.equal(reportCsv(report([dev({ deviceId: null as never, state: null as never })])).split('\n')[1], 'virt a.bin,,esp32s3,BLOCK_KEY0,provisioned,,false,true,12,,');
  });

  it('cells a spreadsheet would run as a formula get a quote; commas, quotes and line breaks are quoted', () => {
    const cells = ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', 'a,b', 'say "hi"', 'two\nlines', 'a\rb', 'plain-text=ok', "'already"];
    // A cell with a line break spans lines: each error cell runs from its code to the row's end.
    const csv = reportCsv(report(cells.map((message) => dev({ error: { code: 'C', message, exitCode: 1 } }))));
    assert.deepEqual(csv.split(',C,').slice(1).map((s) => s.slice(0, s.lastIndexOf('\n'))), [
      "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "\"'\rx\"", '"a,b"', '"say ""hi"""', '"two\nlines"', '"a\rb"', 'plain-text=ok', "'already",
    ]);
  });

  it('JSON: the report with two-space indent and a final newline', () => {
    const r = report([dev({})]);
    assert.equal(reportJson(r), JSON.stringify(r, null, 2) + '\n');
    assert.match(reportJson(r), /^\{\n {2}"run": "r",\n/);
  });

  it('writeReport: CSV for .csv in any case, JSON otherwise; mode 0644', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'efa-report-'));
    try {
      const r = report([dev({})]);
      for (const name of ['a.csv', 'b.CSV']) {
        await writeReport(join(dir, name), r);
        assert.equal(readFileSync(join(dir, name), 'utf8'), reportCsv(r));
        assert.equal(statSync(join(dir, name)).mode & 0o777, 0o644);
      }
      for (const name of ['c.json', 'd.csv.txt', 'e']) {
        await writeReport(join(dir, name), r);
        assert.equal(readFileSync(join(dir, name), 'utf8'), reportJson(r));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('countOutcomes: one count per outcome present', () => {
    assert.deepEqual(countOutcomes([]), {});
    assert.deepEqual(countOutcomes([dev({}), dev({ outcome: 'failed' }), dev({})]), { provisioned: 2, failed: 1 });
  });
});

describe('audit log: files, chain lines and checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'efa-audit-m-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const entry = (i: number): AuditEntry => ({ time: '2026-12-03T00:00:00.000Z', run: 'r', chip: 'esp32s3', block: BLOCK, target: 't', step: 'read', outcome: 'ok', ms: i });

  it('a path must be a non-empty string', () => {
    assert.throws(() => new AuditLog(''), { name: 'TypeError', message: 'audit log path must be a non-empty string' });
    assert.throws(() => new AuditLog(3 as never), { name: 'TypeError', message: 'audit log path must be a non-empty string' });
  });

  it('chainLine: the line with prev, then the hash of the line up to prev, closed', () => {
    const prev = 'ab'.repeat(32);
    const body = `{"a":1,"prev":"${prev}"}`;
    assert.equal(chainLine('{"a":1}', prev), `{"a":1,"prev":"${prev}","hash":"${sha256(body)}"}`);
  });

  it('a new log in a new directory: the directory 0700, the file 0600, the first prev the hash of nothing', async () => {
    const path = join(dir, `d${++n}`, 'sub', 'audit.jsonl');
    const log = new AuditLog(path);
    await log.append(entry(0));
    await log.append(entry(1));
    assert.equal(statSync(join(dir, `d${n}`, 'sub')).mode & 0o777, 0o700);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    assert.equal(lines[0], chainLine(JSON.stringify(entry(0)), sha256('')));
    const first = JSON.parse(lines[0]!) as { hash: string };
    assert.equal(lines[1], chainLine(JSON.stringify(entry(1)), first.hash));
    assert.ok(!existsSync(path + '.lock'), 'the lock is released');
    const chain = await verifyAuditFile(path);
    assert.deepEqual(chain, { entries: 2, unchained: 0, head: (JSON.parse(lines[1]!) as { hash: string }).hash, ok: true });
  });

  it('a directory that cannot be made, a file that cannot be opened: AUDIT_IO naming the log', async () => {
    const file = join(dir, `f${++n}`);
    writeFileSync(file, 'x');
    const under = join(file, 'audit.jsonl');
    await assert.rejects(new AuditLog(under).append(entry(0)), (e: EfuseAttestError) => e.code === 'AUDIT_IO' && e.message.startsWith(`cannot write the audit log ${under}: `) &&
      ['EEXIST', 'ENOTDIR'].includes((e.cause as NodeJS.ErrnoException).code!));
    const asDir = join(dir, `g${++n}`);
    mkdirSync(asDir);
    const log = new AuditLog(asDir);
    await assert.rejects(log.append(entry(0)), (e: EfuseAttestError) => e.code === 'AUDIT_IO' && e.message.startsWith(`cannot write the audit log ${asDir}: `) &&
      (e.cause as NodeJS.ErrnoException).code === 'EISDIR');
    // A failed append does not stop the next one.
    const ok = new AuditLog(join(dir, `h${n}.jsonl`));
    await Promise.allSettled([ok.append(entry(0)), ok.append(entry(1))]);
    assert.equal((await verifyAuditFile(ok.path)).entries, 2);
  });

  it('a last line longer than the 64 KiB tail is still found; one before chaining makes prev the hash of all bytes', async () => {
    const path = join(dir, `long${++n}.jsonl`);
    const log = new AuditLog(path);
    const big = { ...entry(2), detail: 'x'.repeat(70 * 1024) };
    await log.append(entry(0));
    await log.append(entry(1));
    await log.append(big);
    await log.append(entry(3));
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines[3], chainLine(JSON.stringify(entry(3)), (JSON.parse(lines[2]!) as { hash: string }).hash), 'prev is the long line\'s own hash');
    assert.deepEqual([(await verifyAuditFile(path)).entries, (await verifyAuditFile(path)).ok], [4, true]);

    // Many chained lines, the last short: the tail holds it.
    const many = join(dir, `many${++n}.jsonl`);
    const m = new AuditLog(many);
    await m.append({ ...entry(0), detail: 'y'.repeat(80 * 1024) });
    for (let i = 1; i < 4; i++) await m.append(entry(i));
    assert.deepEqual([(await verifyAuditFile(many)).entries, (await verifyAuditFile(many)).ok], [4, true]);

    const old = join(dir, `old${++n}.jsonl`);
    const before = `${JSON.stringify(entry(0))}\n${JSON.stringify({ ...entry(1), detail: 'z'.repeat(70 * 1024) })}\n`;
    writeFileSync(old, before);
    await new AuditLog(old).append(entry(2));
    assert.equal(readFileSync(old, 'utf8').split('\n')[2], chainLine(JSON.stringify(entry(2)), sha256(before)));
    assert.deepEqual(await verifyAuditFile(old), { entries: 1, unchained: 2, head: (JSON.parse(readFileSync(old, 'utf8').split('\n')[2]!) as { hash: string }).hash, ok: true });
  });

  it('verifyAuditFile: a missing file is AUDIT_IO; an empty one is an empty chain; unchained lines only: the head is the hash of all bytes', async () => {
    const missing = join(dir, 'missing.jsonl');
    await assert.rejects(verifyAuditFile(missing), (e: EfuseAttestError) => e.code === 'AUDIT_IO' && e.message.startsWith(`cannot read the audit log ${missing}: `) &&
      (e.cause as NodeJS.ErrnoException).code === 'ENOENT');
    const empty = join(dir, `e${++n}.jsonl`);
    writeFileSync(empty, '');
    assert.deepEqual(await verifyAuditFile(empty), { entries: 0, unchained: 0, head: sha256(''), ok: true });
    const plain = join(dir, `p${++n}.jsonl`);
    writeFileSync(plain, 'one\ntwo\n');
    assert.deepEqual(await verifyAuditFile(plain), { entries: 0, unchained: 2, head: sha256('one\ntwo\n'), ok: true });
  });

  it('verifyAuditFile: a chained line that is not JSON; a broken chain keeps the head of nothing', async () => {
    const path = join(dir, `j${++n}.jsonl`);
    const log = new AuditLog(path);
    await log.append(entry(0));
    await log.append(entry(1));
    const lines = readFileSync(path, 'utf8').split('\n');
    const bad = lines[1]!.replace('{"time"', '{time');
    writeFileSync(path, `${lines[0]}\n${bad}\n`);
    assert.deepEqual(await verifyAuditFile(path), { entries: 1, unchained: 0, head: sha256(''), ok: false, broken: { line: 2, reason: 'the line is not valid JSON' } });
  });

  it('verifyAuditFile: each break named in-process, with its line and reason; ok false and no head', async () => {
    const path = join(dir, `t${++n}.jsonl`);
    const log = new AuditLog(path);
    for (let i = 0; i < 3; i++) await log.append(entry(i));
    const good = readFileSync(path, 'utf8').split('\n').slice(0, 3);
    const check = async (lines: string[], line: number, reason: string) => {
      writeFileSync(path, lines.join('\n') + '\n');
      assert.deepEqual(await verifyAuditFile(path), { entries: line - 1, unchained: 0, head: sha256(''), ok: false, broken: { line, reason } });
    };
    await check([good[0]!, JSON.stringify(entry(9)), good[1]!], 2, 'the line is not chained (inserted, or its hash fields were removed)');
    await check([good[0]!, good[2]!], 2, 'its prev hash is not the hash of the line before it (a line before it was edited, removed or inserted)');
    await check([good[0]!, good[1]!.replace('"ms":1', '"ms":7'), good[2]!], 2, 'its content does not match its hash (the line was edited)');
  });

  it('MemoryAudit keeps a copy of each entry', async () => {
    const a = new MemoryAudit();
    const e = entry(0);
    await a.append(e);
    e.step = 'changed';
    assert.equal(a.entries[0]!.step, 'read');
  });
});

describe('survey with a master, plansBurn', () => {
  it('plansBurn: a burn-new or a burn-escrowed row alone is a planned burn; verify, refuse and unknown are not', () => {
    const row = (plan: SurveyRow['plan']): SurveyRow => ({ target: 't', block: BLOCK, plan, detail: '', commands: [] });
    assert.equal(plansBurn([row('burn-new')]), true);
    assert.equal(plansBurn([row('verify'), row('burn-escrowed')]), true);
    assert.equal(plansBurn([row('verify'), row('refuse'), row('unknown')]), false);
    assert.equal(plansBurn([]), false);
  });


  it('the listing is read once and each device sees only its own id\'s records; key bytes wiped', async () => {
    const store = new MapStore();
    const a = new MemoryEfuse();
    const b = new MemoryEfuse();
    store.records.set(`${a.mac}/BLOCK_KEY2`, record(a, { block: 'BLOCK_KEY2', state: 'burned' }));
    const rows = await survey([a, b], { chip: 'esp32s3', block: BLOCK, escrow: { kind: 'store', store }, master: true });
    assert.deepEqual(rows.map((r) => [r.deviceId, r.plan]), [[a.mac, 'refuse'], [b.mac, 'burn-new']]);
    assert.match(rows[0]!.detail, /^the escrow \(map:\/\/test\) already holds a key burned into BLOCK_KEY2 \(record burned\)/);
    assert.deepEqual(store.calls.filter((c) => c === 'list'), ['list']);
    const noMaster = new MapStore();
    noMaster.records.set(`${a.mac}/BLOCK_KEY2`, record(a, { block: 'BLOCK_KEY2', state: 'burned' }));
    const plain = await survey([a], { chip: 'esp32s3', block: BLOCK, escrow: { kind: 'store', store: noMaster } });
    assert.deepEqual([plain[0]!.plan, noMaster.calls.includes('list')], ['burn-new', false]);
    const truthy = await survey([a], { chip: 'esp32s3', block: BLOCK, escrow: { kind: 'store', store: noMaster }, master: 1 as never });
    assert.equal(truthy[0]!.plan, 'burn-new', 'only master === true counts');
  });

  it('an escrowed record: its key wiped after the plan; the plan burn-escrowed with the commands of a burn', async () => {
    const store = new MapStore();
    const a = new MemoryEfuse();
    const rec = record(a);
    store.records.set(`${a.mac}/${BLOCK}`, rec);
    let got: EscrowRecord | undefined;
    const get = store.get.bind(store);
    store.get = async (d, b) => (got = await get(d, b));
    const rows = await survey([a] as EfuseController[], { chip: 'esp32s3', block: BLOCK, escrow: { kind: 'store', store } });
    assert.deepEqual([rows[0]!.plan, rows[0]!.commands], ['burn-escrowed', ['summary', 'burn-key BLOCK_KEY0 <key> HMAC_UP', 'summary']]);
    assert.ok(got && got.key.every((x) => x === 0), 'the key read for the plan is wiped');
  });
});

describe('defaultChallenge: the device proves the key just burned', () => {
  /** A burned in-memory chip whose device links are counted open and closed. */
  const chip = (block: string) => {
    const key = new Uint8Array(randomBytes(32));
    const ef = new MemoryEfuse({ keys: { [block]: [key, 'HMAC_UP'] } });
    let closed = 0;
    const open = ef.openDevice.bind(ef);
    ef.openDevice = async () => { const link = await open(); return { ...link, close: async () => { closed++; await link.close(); } }; };
    const target = (slot: number): ChallengeTarget => ({ efuse: ef, chip: ef.chip, deviceId: ef.mac, block: `BLOCK_KEY${slot}`, slot });
    return { ef, key, target, closed: () => closed };
  };

  it('a key block: an attestation verified with the key; another key is MAC (not retried as a token); the link closed either way', async () => {
    const c = chip('BLOCK_KEY0');
    const challenge = defaultChallenge({ timeoutMs: 1000, retries: 0 });
    await challenge(c.target(0), c.key);
    assert.equal(c.closed(), 1);
    await assert.rejects(challenge(c.target(0), new Uint8Array(32).fill(1)), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');
    assert.deepEqual([c.ef.opened, c.closed()], [2, 2]);
    // The device id the answer must carry is the target's.
    await assert.rejects(challenge({ ...c.target(0), deviceId: '02ffffffffff' }, c.key), (e: unknown) => e instanceof VerificationError && e.reason === 'DEVICE');
  });

  it('a port: opened at the link\'s baud, else the one given (a baud out of range is refused before any port is opened); the link closed', async () => {
    for (const [linkBaud, optBaud, got] of [[5, 9600, 5], [undefined, 7, 7]] as const) {
      let closed = 0;
      const ef = new MemoryEfuse();
      ef.openDevice = async () => ({ path: '/nonexistent/tty-efa', ...(linkBaud ? { baud: linkBaud } : {}), close: async () => { closed++; } });
      await assert.rejects(defaultChallenge({ baud: optBaud })({ efuse: ef, chip: ef.chip, deviceId: ef.mac, block: BLOCK, slot: 0 }, new Uint8Array(32)),
        { name: 'RangeError', message: `baud must be 300..5000000, got ${got}` });
      assert.equal(closed, 1);
    }
  });

  it('a block without an HMAC_UP key: the device\'s KEY_PURPOSE error is the challenge\'s, the link closed', async () => {
    const c = chip('BLOCK_KEY0');
    await assert.rejects(defaultChallenge({ timeoutMs: 1000, retries: 0 })(c.target(2), c.key), (e: unknown) => e instanceof DeviceError && e.statusName === 'KEY_PURPOSE' &&
      e.message === 'device error KEY_PURPOSE: ESP_FAIL: key block BLOCK_KEY2 purpose is USER (0), not HMAC_UP (8)');
    assert.equal(c.closed(), 1);
  });

  it('the token block (the device answers KEY_ROLE): a token for this device, valid now, verified with the key; another key is SIGNATURE', async () => {
    const c = chip('BLOCK_KEY1');
    const challenge = defaultChallenge({ timeoutMs: 1000, retries: 0 });
    await challenge(c.target(1), c.key);
    await assert.rejects(challenge(c.target(1), new Uint8Array(32).fill(1)), (e: unknown) => e instanceof VerificationError && e.reason === 'SIGNATURE');
    assert.equal(c.closed(), 2);
  });
});
