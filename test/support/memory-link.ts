// The in-memory device: the firmware's service and device logic on a soft chip, at the far end of a
// MemoryTransport pair. One wiring for every in-memory test: `answer` sees each frame the device
// sends (to tamper with it, or count it), `receive` each chunk the host sends, `reset()` replaces the device as a reboot does (its state
// lost, ROM text on the line).
import { MemoryTransport } from '../../host/transport/memory.js';
import { AttestService } from '../../device/src/service.js';
import { createDevice } from '../../device/src/device.js';
import { softChip, type SoftChipOptions } from './soft-chip.js';
import { TEST_KEY } from './keys.js';

export interface MemoryLink {
  /** The host's end of the link. */
  host: MemoryTransport;
  readonly service: AttestService;
  /** A device reboot: a fresh service on a fresh device, and the ROM's boot text on the line. */
  reset(): void;
}

export interface MemoryLinkOptions {
  /** The soft chip (default: BLOCK_KEY0 and BLOCK_KEY1 hold TEST_KEY, HMAC_UP, read-protected). */
  chip?: SoftChipOptions;
  /** Sends the device's frames on (default: as they are). */
  answer?: (frame: Uint8Array, send: (bytes: Uint8Array) => void) => void;
  /** Hands the host's bytes to the device (default: as they are). */
  receive?: (bytes: Uint8Array, deliver: (bytes: Uint8Array) => void) => void;
  name?: string;
}

export const ROM_BOOT_TEXT = 'ESP-ROM:esp32s3-20210327\r\nrst:0xc (RTC_SW_CPU_RST),boot:0x8\r\n';

export function memoryLink(opts: MemoryLinkOptions = {}): MemoryLink {
  const [host, dev] = MemoryTransport.pair(opts.name ?? 'memory');
  const send = (bytes: Uint8Array) => { void dev.write(bytes); };
  const chip = opts.chip ?? { keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } };
  const make = () => new AttestService(createDevice(softChip(chip)), (f) => (opts.answer ? opts.answer(f, send) : send(f)));
  let service = make();
  const deliver = (b: Uint8Array) => service.receive(b);
  dev.onData((b) => (opts.receive ? opts.receive(b, deliver) : deliver(b)));
  return {
    host,
    get service() { return service; },
    reset() {
      service = make();
      send(new TextEncoder().encode(ROM_BOOT_TEXT));
    },
  };
}
