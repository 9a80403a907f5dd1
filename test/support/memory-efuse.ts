// An in-memory eFuse as an EfuseController (host/efuse/controller.ts), for fast provisioning tests:
// six key blocks with purposes, read and write protection and the RD_DIS lock, modelled on what the
// real espefuse does to a virtual chip (test/efuse-contract.test.ts holds both to one contract):
// burn-key HMAC_UP sets the purpose, read-protects the block and write-protects block and purpose;
// a used block is never burned again. The device is the firmware's service in-process (soft-chip.ts)
// over a MemoryTransport, holding exactly the keys burned. Failures can be injected per burn.
import { abytes, hasHmacPeripheral, PURPOSE_HMAC_UP, PURPOSES } from '../../protocol/index.js';
import { AttestService } from '../../device/src/service.js';
import { createDevice } from '../../device/src/device.js';
import type { DeviceLink, EfuseController } from '../../host/efuse/controller.js';
import { EspefuseError } from '../../host/errors.js';
import { blockName, blockSlot } from '../../protocol/keyblock.js';
import { describeBlock, type EfuseSummary, keyBlock, type EfuseKeyBlock } from '../../host/espefuse/summary.js';
import { MemoryTransport } from '../../host/transport/memory.js';
import { softChip } from './soft-chip.js';

interface Block { key: Uint8Array; purpose: number; readProtected: boolean; writeProtected: boolean; purposeWritable: boolean }

/**
 * What the next burn does instead of succeeding: `refuse` throws before any fuse changes (espefuse
 * failing); `unconfirmed` programs the purpose but not the read protection (a burn a fresh summary
 * does not confirm); `lost` burns and then throws (the answer lost, e.g. a timeout).
 */
export type BurnFault = 'refuse' | 'unconfirmed' | 'lost';

export interface MemoryEfuseOptions {
  chip?: string;
  /** Factory MAC, 12 hex digits (default random, locally administered). */
  mac?: string;
  /** Secure boot on: RD_DIS is write-locked, so no key can be read-protected. */
  secureBoot?: boolean;
  /** Blocks burned already: block → [key, purpose name]; read-protected when the purpose is HMAC_*. */
  keys?: Record<string, [Uint8Array, string]>;
  label?: string;
}

let serial = 0;

export class MemoryEfuse implements EfuseController {
  readonly chip: string;
  readonly label: string;
  readonly mac: string;
  readonly secureBoot: boolean;
  /** Burns so far that changed the fuses. */
  burns = 0;
  /** Devices opened (challenges) so far. */
  opened = 0;
  private readonly blocks: Block[];
  private readonly faults: BurnFault[] = [];

  constructor(opts: MemoryEfuseOptions = {}) {
    this.chip = opts.chip ?? 'esp32s3';
    hasHmacPeripheral(this.chip); // RangeError for an unknown chip
    this.mac = opts.mac ?? `02${(0x100000 + serial++).toString(16).padStart(6, '0')}${Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0')}`;
    if (!/^[0-9a-f]{12}$/.test(this.mac)) throw new RangeError(`mac must be 12 lowercase hex digits, got "${this.mac}"`);
    this.label = opts.label ?? `memory ${this.mac}`;
    this.secureBoot = opts.secureBoot === true;
    this.blocks = Array.from({ length: 6 }, () => ({ key: new Uint8Array(32), purpose: 0, readProtected: false, writeProtected: false, purposeWritable: true }));
    for (const [block, [key, purpose]] of Object.entries(opts.keys ?? {})) {
      const code = PURPOSES.indexOf(purpose);
      if (code < 0) throw new RangeError(`unknown purpose ${purpose}`);
      this.program(blockSlot(block), key, code, purpose.startsWith('HMAC') || purpose.startsWith('XTS') || purpose.startsWith('ECDSA'));
    }
  }

  /** Makes the next burns fail, in order, one fault per burn. */
  failNextBurn(...faults: BurnFault[]): void {
    this.faults.push(...faults);
  }

  /** What the silicon holds in `block` (tests only: a real chip never gives it out). */
  keyIn(block: string): Uint8Array | undefined {
    const b = this.blocks[blockSlot(block)]!;
    return b.purpose === 0 && b.key.every((x) => x === 0) ? undefined : Uint8Array.from(b.key);
  }

  async summary(): Promise<EfuseSummary> {
    const keys: EfuseKeyBlock[] = hasHmacPeripheral(this.chip) ? this.blocks.map((b, slot) => {
      const empty = !b.readProtected && b.key.every((x) => x === 0);
      return {
        block: `BLOCK_KEY${slot}`, slot, purpose: PURPOSES[b.purpose] ?? `UNKNOWN(${b.purpose})`, purposeCode: b.purpose,
        readProtected: b.readProtected, writeProtected: b.writeProtected, purposeWritable: b.purposeWritable, empty,
        unused: b.purpose === 0 && !b.readProtected && !b.writeProtected && empty,
      };
    }) : [];
    return { chip: this.chip, mac: this.mac, keys, secureBoot: this.secureBoot, flashEncryption: false, rdDisWritable: !this.secureBoot, revision: { major: 0, minor: 0 } };
  }

  async burnKey(block: string, key: Uint8Array): Promise<EfuseSummary> {
    const b = blockName(block);
    abytes(key, 'key', 32, 32);
    const fault = this.faults.shift();
    if (fault === 'refuse') throw new EspefuseError(`espefuse burn-key on ${this.label} failed (exit 2): injected failure`, 'ESPEFUSE_FAILED');
    const k = keyBlock(await this.summary(), b);
    // espefuse refuses a block that is not empty, or whose purpose is already set.
    if (!k.unused) throw new EspefuseError(`espefuse burn-key on ${this.label} failed (exit 2): ${b} is already used (${describeBlock(k)})`, 'ESPEFUSE_FAILED');
    this.program(k.slot, key, PURPOSE_HMAC_UP, fault !== 'unconfirmed' && !this.secureBoot);
    if (fault === 'lost') throw new EspefuseError(`espefuse burn-key on ${this.label} did not finish within 60 s`, 'ESPEFUSE_TIMEOUT');
    const after = await this.summary();
    const now = keyBlock(after, b);
    if (now.purpose !== 'HMAC_UP' || !now.readProtected) {
      throw new EspefuseError(`espefuse reported success but ${b} of device ${after.mac} is now ${describeBlock(now)}, not HMAC_UP and read-protected`, 'BURN_UNCONFIRMED');
    }
    return after;
  }

  async openDevice(): Promise<DeviceLink> {
    this.opened++;
    const keys: Record<number, { key: Uint8Array; purpose: number; readProtected: boolean; writeProtected: boolean }> = {};
    this.blocks.forEach((b, slot) => { if (b.purpose !== 0) keys[slot] = { key: b.key, purpose: b.purpose, readProtected: b.readProtected, writeProtected: b.writeProtected }; });
    const [host, dev] = MemoryTransport.pair(this.label);
    const service = new AttestService(createDevice(softChip({ model: this.chip, mac: Uint8Array.from(Buffer.from(this.mac, 'hex')), keys })), (f) => { void dev.write(f); });
    dev.onData((bytes) => service.receive(bytes));
    let closed = false;
    return { path: this.label, transport: host, close: async () => { if (!closed) { closed = true; await dev.close(); } } };
  }

  plannedCommands(block: string, burn: boolean): string[] {
    return burn ? ['summary', `burn-key ${blockName(block)} <key> HMAC_UP`, 'summary'] : ['summary'];
  }

  async close(): Promise<void> {}

  private program(slot: number, key: Uint8Array, purpose: number, readProtect: boolean): void {
    const b = this.blocks[slot]!;
    b.key = Uint8Array.from(key);
    b.purpose = purpose;
    b.readProtected = readProtect;
    b.writeProtected = true;
    b.purposeWritable = false;
    this.burns++;
  }
}
