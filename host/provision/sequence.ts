// The provisioning sequence for one device (docs/provisioning.md §2):
//   read → keygen (or derive) → escrow → burn → check → mark-burned → challenge → mark-verified
// Each step is appended to the audit log when it ends. The order is the safety argument: a key is
// durably escrowed and read back before espefuse burns it, so a crash at any point never leaves a
// burned key without its escrow record. Running again after a crash resumes from the fuses and the
// escrow (plan()): an escrowed key whose block is unused is burned — that key, never a new one; an
// escrowed key whose block is burned HMAC_UP is verified; a used block without a record is refused.
// An escrowed key is burned only while its record is still `escrowed`: a record already `burned` or
// `verified` means another chip holds that key, so a second chip reporting the same MAC (a clone) is
// refused, and so is a derived (--master) key for a device id the escrow already has burned.
import { randomBytes } from 'node:crypto';
import { equalBytes } from '../../protocol/index.js';
import { EfuseAttestError, ESCROW_CODES, type EscrowCode, EscrowError, type EspefuseCode, EspefuseError, EXIT } from '../errors.js';
import { type EscrowEntry, type EscrowRecord, type EscrowState, type EscrowStore, newRecord } from '../escrow/store.js';
import { blockName, blockSlot } from '../../protocol/keyblock.js';
import { describeBlock, type EfuseSummary, isBurnedHmacUp, keyBlock } from '../espefuse/summary.js';
import type { EfuseController } from '../efuse/controller.js';
import { checkBurnable } from '../efuse/preflight.js';
import { DERIVATION_SCHEME, deriveKey, generateKey, redactKey, wipe } from '../keys.js';
import type { AuditEntry, AuditOutcome, AuditSink } from './audit.js';

export const STEPS = ['read', 'keygen', 'escrow', 'burn', 'check', 'mark-burned', 'challenge', 'mark-verified'] as const;
export type Step = (typeof STEPS)[number];

export interface ChallengeTarget {
  efuse: EfuseController;
  chip: string;
  deviceId: string;
  block: string;
  slot: number;
}

/** Proves the device holds `key` in `slot` (throws otherwise); see challenge.ts for the default. */
export type ChallengeFn = (target: ChallengeTarget, key: Uint8Array) => Promise<void>;

export type Plan =
  | { action: 'burn-new'; detail: string }
  | { action: 'burn-escrowed'; detail: string }
  | { action: 'verify'; detail: string }
  | { action: 'refuse'; code: RefusalCode; detail: string };

/** Why a device is refused: a fact of the escrow (exit ESCROW) or of the eFuses (exit ESPEFUSE). */
export type RefusalCode = EscrowCode | EspefuseCode;

export interface PlanContext {
  /** The key would be derived from a master (--master): it depends on the device id alone. */
  master?: boolean;
  /** Every escrow entry of this device id, any block (listing form, no keys). */
  deviceRecords?: readonly EscrowEntry[];
}

function cloneDetail(mac: string, where: string, escrowName: string): string {
  return `${escrowName} already holds a key burned into ${where} of device ${mac}, yet this chip reports that id with the block unused: ` +
    'it may be a clone (a second chip with a copied MAC), so its key is not burned again. Check the chip; a genuine replacement needs a new escrow entry';
}

/** What to do with this device, from its fuses and its escrow record. Pure: used by dry runs too. */
export function plan(s: EfuseSummary, chip: string, block: string, rec: EscrowRecord | undefined, escrowName = 'the escrow', ctx: PlanContext = {}): Plan {
  const b = blockName(block);
  if (/^0{12}$/.test(s.mac)) return { action: 'refuse', code: 'NO_DEVICE_ID', detail: 'the factory MAC reads as all zeros, so the device has no id' };
  const k = keyBlock(s, b);
  if (rec) {
    if (rec.chip !== chip) return { action: 'refuse', code: 'ESCROW_CHIP_MISMATCH', detail: `${escrowName} holds device ${s.mac} as ${rec.chip}, not ${chip}` };
    if (isBurnedHmacUp(k)) return { action: 'verify', detail: `${b} is burned (${describeBlock(k)}) and its key is escrowed (${rec.state}): verify it` };
    // §2.2: an escrowed key goes into a fuse once. `burned`/`verified` says a chip already holds it.
    if (k.unused && rec.state !== 'escrowed') return { action: 'refuse', code: 'ESCROW_POSSIBLE_CLONE', detail: cloneDetail(s.mac, `${b} (record ${rec.state})`, escrowName) };
    if (k.unused) return { action: 'burn-escrowed', detail: `${b} is unused and a key is escrowed (${rec.state}): burn that key` };
    return {
      action: 'refuse', code: 'BLOCK_STATE',
      detail: `${b} of device ${s.mac} is ${describeBlock(k)} — neither unused nor burned HMAC_UP and read-protected, ` +
        'although a key is escrowed for it (an interrupted burn?). Not touching it: inspect it with espefuse summary',
    };
  }
  if (k.unused && ctx.master) {
    // A derived key depends on the device id only: any block of this id already burned holds it.
    const live = (ctx.deviceRecords ?? []).filter((e) => e.deviceId === s.mac && e.state !== 'escrowed');
    if (live.length > 0) {
      return { action: 'refuse', code: 'ESCROW_POSSIBLE_CLONE', detail: cloneDetail(s.mac, live.map((e) => `${e.block} (record ${e.state})`).join(', '), escrowName) };
    }
  }
  if (k.unused) return { action: 'burn-new', detail: `${b} is unused: make a key, escrow it, burn it` };
  return {
    action: 'refuse', code: 'BLOCK_USED',
    detail: `${b} of device ${s.mac} is already used (${describeBlock(k)}) and ${escrowName} has no key for it. ` +
      'A used block is never burned again; if its key is escrowed elsewhere, add it with `efuse-attest escrow import`',
  };
}

export interface ProvisionOptions {
  efuse: EfuseController;
  store: EscrowStore;
  audit: AuditSink;
  block: string;
  /** Derive the key from this master (keys.ts) instead of generating one. */
  master?: Uint8Array;
  /** Omitted or null: no challenge; the record stays "burned" and the outcome says so. */
  challenge?: ChallengeFn | null;
  /** Groups the audit entries of a batch. */
  run?: string;
  /**
   * Called when a step ends, once its audit line is written (progress). A step counts as done from
   * here on: a process that dies now resumes after this step.
   */
  onStep?: (step: Step, outcome: AuditOutcome) => void;
}

export type Outcome = 'provisioned' | 'resumed' | 'already-provisioned' | 'burned-unverified' | 'refused' | 'failed';

export interface ProvisionResult {
  target: string;
  chip: string;
  block: string;
  deviceId?: string;
  outcome: Outcome;
  /** The escrow record's state at the end. */
  state?: EscrowState;
  derived: boolean;
  /** A burn happened in this run. */
  burned: boolean;
  steps: { step: Step; outcome: AuditOutcome; ms: number; detail?: string }[];
  ms: number;
  error?: { code: string; message: string; exitCode: number };
}

/** The device or the escrow is in a state this sequence will not touch: the error of its cause. */
function refusal(message: string, code: RefusalCode): EscrowError | EspefuseError {
  const err = code in ESCROW_CODES ? new EscrowError(message, code as EscrowCode) : new EspefuseError(message, code as EspefuseCode);
  refusals.add(err);
  return err;
}
const refusals = new WeakSet<Error>();

/** Provisions one device. Never throws: failures are in the result (and the audit log). */
export async function provisionDevice(opts: ProvisionOptions): Promise<ProvisionResult> {
  const ef = opts.efuse;
  const chip = ef.chip;
  const block = blockName(opts.block);
  const slot = blockSlot(block);
  const run = opts.run ?? randomBytes(6).toString('hex');
  const t0 = Date.now();
  const result: ProvisionResult = { target: ef.label, chip, block, outcome: 'failed', derived: opts.master !== undefined, burned: false, steps: [], ms: 0 };
  let key: Uint8Array | undefined;
  let current: Step = 'read';
  let claimed = false; // a store shared by stations: this device is ours until released

  const log = async (step: Step, outcome: AuditOutcome, started: number, extra: Partial<AuditEntry> = {}) => {
    const ms = Date.now() - started;
    const entry: AuditEntry = {
      time: new Date().toISOString(), run, ...(result.deviceId ? { deviceId: result.deviceId } : {}),
      chip, block, target: ef.label, step, outcome, ms, ...extra,
    };
    if (entry.error) entry.error = redactKey(entry.error, key);
    if (entry.detail) entry.detail = redactKey(entry.detail, key);
    await opts.audit.append(entry);
    result.steps.push({ step, outcome, ms, ...(extra.detail ? { detail: entry.detail } : {}) });
    opts.onStep?.(step, outcome);
  };
  const skip = async (step: Step, detail: string) => { current = step; await log(step, 'skip', Date.now(), { detail }); };

  try {
    // read: the fuses say who the device is and what its block holds.
    let started = Date.now();
    // A challenge that cannot run is refused before anything is written (checkDevice).
    if (opts.challenge) ef.checkDevice?.();
    let summary = await ef.summary();
    result.deviceId = summary.mac;
    if (opts.store.claim && !/^0{12}$/.test(summary.mac)) { await opts.store.claim(summary.mac, block); claimed = true; }
    const rec = /^0{12}$/.test(summary.mac) ? undefined : await opts.store.get(summary.mac, block);
    const deviceRecords = opts.master && !rec ? (await opts.store.list()).filter((e) => e.deviceId === summary.mac) : [];
    const p = plan(summary, chip, block, rec, `the escrow (${opts.store.location})`, { master: opts.master !== undefined, deviceRecords });
    if (p.action === 'refuse') throw refusal(p.detail, p.code);
    await log('read', 'ok', started, { detail: p.detail });

    // keygen: a new key only when nothing is escrowed; an escrowed key always wins.
    current = 'keygen';
    started = Date.now();
    const derivedKey = opts.master ? deriveKey(opts.master, summary.mac) : undefined;
    const derived = derivedKey?.key;
    if (rec) {
      key = Uint8Array.from(rec.key);
      wipe(rec.key);
      if (derived && !equalBytes(derived, key)) {
        wipe(derived);
        throw refusal(`the key escrowed for device ${summary.mac} ${block} is not the one derived from this master; ` +
          'an escrowed key is never replaced — provision it without --master, or with the master it came from', 'ESCROW_CONFLICT');
      }
      wipe(derived);
      result.derived = rec.derivation !== undefined;
      await skip('keygen', 'using the escrowed key');
      await skip('escrow', `already escrowed (${rec.state})`);
    } else {
      key = derived ?? generateKey();
      await log('keygen', 'ok', started, { detail: derived ? `derived (${DERIVATION_SCHEME})` : 'random' });

      // escrow: durable and read back before anything irreversible.
      current = 'escrow';
      started = Date.now();
      await opts.store.put(newRecord({
        deviceId: summary.mac, chip, block, purpose: 'HMAC_UP', key,
        ...(derivedKey ? { derivation: derivedKey.derivation } : {}),
      }));
      const back = await opts.store.get(summary.mac, block);
      const same = back !== undefined && equalBytes(back.key, key);
      if (back) wipe(back.key);
      if (!same) throw new EscrowError(`the escrow does not return the key just stored for device ${summary.mac} ${block}; not burning`, 'ESCROW_READBACK');
      await log('escrow', 'ok', started, { detail: opts.store.location });
    }

    // burn: only into an unused block, and only the escrowed key.
    current = 'burn';
    if (p.action === 'verify') {
      await skip('burn', 'already burned');
    } else {
      started = Date.now();
      checkBurnable(chip, summary, block);
      summary = await ef.burnKey(block, key);
      result.burned = true;
      await log('burn', 'ok', started, { detail: `burn-key ${block} HMAC_UP` });
    }

    // check: the fuses show purpose HMAC_UP and read protection, on this device.
    current = 'check';
    started = Date.now();
    const k = keyBlock(summary, block);
    if (!isBurnedHmacUp(k) || summary.mac !== result.deviceId) {
      throw new EspefuseError(`${block} of device ${summary.mac} is ${describeBlock(k)}, not HMAC_UP and read-protected`, 'BURN_UNCONFIRMED');
    }
    await log('check', 'ok', started, { detail: describeBlock(k) });
    await ef.close(); // the fuses are done with: the port is free for the challenge

    current = 'mark-burned';
    started = Date.now();
    await opts.store.setState(summary.mac, block, 'burned');
    await log('mark-burned', 'ok', started);

    current = 'challenge';
    if (!opts.challenge) {
      // A record verified by an earlier run stays verified (states never go back): that device is done.
      const verified = rec?.state === 'verified';
      await skip('challenge', verified ? 'no challenge: verified by an earlier run' : 'no challenge: the record stays "burned"');
      result.state = verified ? 'verified' : 'burned';
      result.outcome = verified ? 'already-provisioned' : 'burned-unverified';
      return result;
    }
    started = Date.now();
    await opts.challenge({ efuse: ef, chip, deviceId: summary.mac, block, slot }, key);
    await log('challenge', 'ok', started);

    current = 'mark-verified';
    started = Date.now();
    await opts.store.setState(summary.mac, block, 'verified');
    await log('mark-verified', 'ok', started);
    result.state = 'verified';
    result.outcome = !rec ? 'provisioned' : rec.state === 'verified' ? 'already-provisioned' : 'resumed';
    return result;
  } catch (err) {
    const e = err instanceof EfuseAttestError ? err : undefined;
    const message = redactKey(err instanceof Error ? err.message : String(err), key);
    const code = e?.code ?? (err instanceof RangeError || err instanceof TypeError ? 'USAGE' : 'FAILURE');
    const refused = err instanceof Error && refusals.has(err);
    result.outcome = refused ? 'refused' : 'failed';
    result.error = { code, message, exitCode: e?.exitCode ?? EXIT.FAILURE };
    await log(current, refused ? 'refuse' : 'fail', Date.now(), { error: message, code }).catch(() => {});
    if (result.deviceId && !/^0{12}$/.test(result.deviceId)) {
      result.state = (await opts.store.get(result.deviceId, block).then((r) => { const s = r?.state; if (r) wipe(r.key); return s; }, () => undefined));
    }
    return result;
  } finally {
    wipe(key);
    await ef.close().catch(() => {});
    if (claimed) await opts.store.release?.(result.deviceId!, block).catch(() => {});
    result.ms = Date.now() - t0;
  }
}
