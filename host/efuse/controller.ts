// The eFuse side of provisioning behind one interface (STYLE.md §6), as serialport's bindings put a
// port behind one: the provisioning sequence (host/provision/sequence.ts) and its challenge are
// written against EfuseController alone. Implementations: a board on a serial port (port.ts), a
// virtual chip — espefuse --virt, its silicon side file and the emulator (virtual-chip.ts) — and, for
// tests, an in-memory eFuse (test/support/memory-efuse.ts). One contract suite
// (test/efuse-contract.test.ts) holds them to the same behaviour.
import type { Transport } from '../transport/transport.js';
import type { EfuseSummary } from '../espefuse/summary.js';

/** Where the device answers its serial protocol, open until close(). */
export interface DeviceLink {
  /** A serial device to open (a port, the emulator's pty), or a name when `transport` is given. */
  readonly path: string;
  /** Baud rate for `path`, when the target names one. */
  readonly baud?: number;
  /** An already connected byte pipe to the device (in-memory targets); `path` is then only a name. */
  readonly transport?: Transport;
  /** Releases the device (stops the emulator); idempotent. */
  close(): Promise<void>;
}

export interface EfuseController {
  /** "esp32s3", "esp32c3", …: the chip the eFuses are read as. */
  readonly chip: string;
  /** "port /dev/ttyUSB0", "virt chip.bin", …: for messages, progress and reports. */
  readonly label: string;
  /** Reads the eFuses afresh. */
  summary(): Promise<EfuseSummary>;
  /**
   * Burns `key` into `block` with purpose HMAC_UP (read- and write-protected) and returns the fresh
   * summary that proves it; EspefuseError BURN_UNCONFIRMED when the fuses do not show it. Does not
   * check the block first: callers run checkBurnable() (preflight.ts) on a summary just read.
   * Whatever stands for the silicon beside the fuses takes the key too, and gives it back if the burn
   * fails while the block still reads unused.
   */
  burnKey(block: string, key: Uint8Array): Promise<EfuseSummary>;
  /** Opens the device for its protocol (the challenge): the port, or the emulator on this chip. */
  openDevice(): Promise<DeviceLink>;
  /**
   * Throws if openDevice() cannot work for this target whatever the fuses say (a virtual chip of a
   * model the emulator does not run), so a run that would challenge it is refused before anything
   * is escrowed or burned. Optional: a controller without it can always open its device.
   */
  checkDevice?(): void;
  /**
   * The commands reading (and, with `burn`, burning) would run, as a user would type them, key
   * files shown as placeholders: what a dry run prints.
   */
  plannedCommands(block: string, burn: boolean): string[];
  /** Releases what the controller holds (espefuse processes); idempotent. */
  close(): Promise<void>;
}
