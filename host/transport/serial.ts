// Serial transport over the platform binding of @serialport/bindings-cpp (binding.ts): a USB-serial
// bridge or the emulator's pseudo-terminal, opened the same way. hupcl is off so that opening and
// closing the port does not pulse DTR/RTS, which resets most ESP32 boards through their auto-reset
// circuit. Bytes move through port-io.ts: straight on the port's descriptor where the binding has
// one (Linux, macOS), through the binding's read/write elsewhere.
import { binding } from './binding.js';
import { BindingIo, type BindingPort, isPolledPort, PollIo, type PortIo } from './port-io.js';
import { TransportError } from '../errors.js';
import { DEFAULT_BAUD, type Transport } from './transport.js';

export interface SerialOptions {
  baud?: number;
  /** How long opening may take before it is abandoned, in ms. */
  openTimeoutMs?: number;
}

export { DEFAULT_BAUD } from './transport.js';

export class SerialTransport implements Transport {
  readonly name: string;
  readonly baud: number;
  private dataHandler: (bytes: Uint8Array) => void = () => {};
  private closeHandler: (err?: Error) => void = () => {};
  private open = true;

  private constructor(path: string, baud: number, private readonly io: PortIo) {
    this.name = path;
    this.baud = baud;
    io.start((bytes) => this.dataHandler(bytes), () => {
      if (!this.open) return;
      this.open = false;
      void io.close();
      this.closeHandler(new TransportError(`serial port ${this.name} closed: device unplugged`));
    });
  }

  static async open(path: string, opts: SerialOptions = {}): Promise<SerialTransport> {
    if (typeof path !== 'string' || path === '') throw new TypeError('port path must be a non-empty string');
    const baudRate = opts.baud ?? DEFAULT_BAUD;
    if (!Number.isInteger(baudRate) || baudRate < 300 || baudRate > 5_000_000) throw new RangeError(`baud must be 300..5000000, got ${baudRate}`);
    let timer: NodeJS.Timeout | undefined;
    const opening = binding.open({ path, baudRate, hupcl: false });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TransportError(`opening ${path} timed out`)), opts.openTimeoutMs ?? 5000);
    });
    let port;
    try {
      port = await Promise.race([opening, timeout]);
    } catch (err) {
      // A port that opens after the timeout is closed again, not leaked.
      opening.then((p) => p.close(), () => {});
      if (err instanceof TransportError) throw err;
      throw new TransportError(`cannot open serial port ${path}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    const io = isPolledPort(port) ? new PollIo(port, path) : new BindingIo(port as unknown as BindingPort, path);
    return new SerialTransport(path, baudRate, io);
  }

  get isOpen(): boolean { return this.open; }

  write(bytes: Uint8Array): Promise<void> {
    if (!this.open) return Promise.reject(new TransportError(`serial port ${this.name} is not open`));
    return this.io.write(bytes);
  }

  onData(handler: (bytes: Uint8Array) => void): void { this.dataHandler = handler; }
  onClose(handler: (err?: Error) => void): void { this.closeHandler = handler; }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.io.close();
    this.closeHandler();
  }
}
