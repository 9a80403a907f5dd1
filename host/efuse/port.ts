// A board on a serial port as an EfuseController: every read and burn through the real espefuse
// (host/espefuse/driver.ts), and the challenge over the same port. Opening the port for the challenge
// does not reset the board (host/transport/serial.ts).
import { Espefuse, type EspefuseOptions } from '../espefuse/driver.js';
import type { EfuseSummary } from '../espefuse/summary.js';
import type { DeviceLink, EfuseController } from './controller.js';
import { espefuseCommands } from './commands.js';

export interface PortOptions extends EspefuseOptions {
  /** Baud rate for espefuse and the challenge (default: each one's own). */
  baud?: number;
}

export class PortEfuse implements EfuseController {
  readonly espefuse: Espefuse;
  readonly port: string;
  readonly baud: number | undefined;

  constructor(chip: string, port: string, opts: PortOptions = {}) {
    const { baud, ...espefuseOpts } = opts;
    this.espefuse = new Espefuse(chip, { kind: 'port', port, ...(baud ? { baud } : {}) }, espefuseOpts);
    this.port = port;
    this.baud = baud;
  }

  get chip(): string { return this.espefuse.chip; }
  get label(): string { return this.espefuse.label; }

  summary(): Promise<EfuseSummary> { return this.espefuse.summary(); }

  burnKey(block: string, key: Uint8Array): Promise<EfuseSummary> { return this.espefuse.burnKey(block, key); }

  async openDevice(): Promise<DeviceLink> {
    return { path: this.port, ...(this.baud ? { baud: this.baud } : {}), close: async () => {} };
  }

  plannedCommands(block: string, burn: boolean): string[] { return espefuseCommands(this.espefuse, block, burn); }

  close(): Promise<void> { return this.espefuse.close(); }
}
