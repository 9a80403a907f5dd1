// A virtual chip as an EfuseController: its eFuses are an image read and burned by the real espefuse
// (--virt --path-efuse-file), its silicon is the side file beside it (host/espefuse/silicon.ts), and
// the device is the emulator (host/emulator.ts) running the firmware on both. A burn writes the key
// into the silicon first, as the chip takes it with the fuses, and takes it out again if the burn
// fails while the block still reads unused (docs/provisioning.md §2).
import { startEmulator } from '../emulator.js';
import { Espefuse, type EspefuseOptions } from '../espefuse/driver.js';
import { EspefuseError, UsageError } from '../errors.js';
import { requireChip, UnsupportedChipError } from '../../protocol/chips.js';
import { blockName } from '../../protocol/keyblock.js';
import { readSilicon, removeSiliconKey, siliconPath, writeSiliconKey } from '../espefuse/silicon.js';
import { type EfuseSummary, keyBlock } from '../espefuse/summary.js';
import type { DeviceLink, EfuseController } from './controller.js';
import { espefuseCommands } from './commands.js';

export interface VirtualChipOptions extends EspefuseOptions {
  /** How long the emulator may take to run the firmware (default: the emulator's). */
  startTimeoutMs?: number;
}

export class VirtualChipEfuse implements EfuseController {
  readonly espefuse: Espefuse;
  readonly image: string;
  private readonly startTimeoutMs: number | undefined;

  constructor(chip: string, image: string, opts: VirtualChipOptions = {}) {
    const { startTimeoutMs, ...espefuseOpts } = opts;
    this.espefuse = new Espefuse(chip, { kind: 'virt', image }, espefuseOpts);
    this.image = image;
    this.startTimeoutMs = startTimeoutMs;
  }

  get chip(): string { return this.espefuse.chip; }
  get label(): string { return this.espefuse.label; }

  summary(): Promise<EfuseSummary> { return this.espefuse.summary(); }

  async burnKey(block: string, key: Uint8Array): Promise<EfuseSummary> {
    const b = blockName(block);
    // A key in the silicon means the block was burned: espefuse would refuse it, and the silicon must
    // keep the key it has, whatever this call is given.
    if ((await readSilicon(this.image))?.keys[b] !== undefined) {
      throw new EspefuseError(`${b} of ${this.label} already holds a key (${siliconPath(this.image)}); a used block is never burned again`, 'BLOCK_USED');
    }
    await writeSiliconKey(this.image, this.chip, b, key);
    try {
      return await this.espefuse.burnKey(b, key);
    } catch (err) {
      // Only if the fuses show nothing was burned: a burned block keeps its key in the silicon.
      const now = await this.espefuse.summary().catch(() => undefined);
      if (now && keyBlock(now, b).unused) await removeSiliconKey(this.image, b).catch(() => {});
      throw err;
    }
  }

  checkDevice(): void {
    try {
      requireChip(this.chip, 'emulated');
    } catch (err) {
      if (!(err instanceof UnsupportedChipError)) throw err;
      throw new UsageError(`${this.label}: the challenge runs a virtual chip in the emulator, which does not run ${this.chip} ` +
        `(it runs ${err.supported.join(', ')}); provision it without the challenge (--no-challenge) and challenge it on a board`);
    }
  }

  async openDevice(): Promise<DeviceLink> {
    const emu = await startEmulator({ chip: this.chip, efuse: this.image, ...(this.startTimeoutMs ? { startTimeoutMs: this.startTimeoutMs } : {}) });
    return { path: emu.path, close: async () => { await emu.stop(); } };
  }

  plannedCommands(block: string, burn: boolean): string[] { return espefuseCommands(this.espefuse, block, burn); }

  close(): Promise<void> { return this.espefuse.close(); }
}
