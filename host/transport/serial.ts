// Serial transport over the `serialport` package: a USB-serial bridge or the emulator's
// pseudo-terminal, opened the same way. hupcl is off so that opening and closing the port does not
// pulse DTR/RTS, which resets most ESP32 boards through their auto-reset circuit.
import { SerialPortStream } from '@serialport/stream';
import { binding } from './binding.js';
import { TransportError } from '../errors.js';
import type { Transport } from './transport.js';

export interface SerialOptions {
  baud?: number;
  /** How long opening may take before it is abandoned, in ms. */
  openTimeoutMs?: number;
}

export const DEFAULT_BAUD = 115200;

export class SerialTransport implements Transport {
  readonly name: string;
  private dataHandler: (bytes: Uint8Array) => void = () => {};
  private closeHandler: (err?: Error) => void = () => {};
  private closing = false;

  private constructor(private readonly port: SerialPortStream) {
    this.name = port.path;
    port.on('data', (chunk: Buffer) => this.dataHandler(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    port.on('close', (err?: Error & { disconnected?: boolean }) => {
      this.closeHandler(this.closing ? undefined : new TransportError(`serial port ${this.name} closed${err?.disconnected ? ': device unplugged' : ''}`));
    });
    port.on('error', () => { /* surfaced through write/close results */ });
  }

  static async open(path: string, opts: SerialOptions = {}): Promise<SerialTransport> {
    if (typeof path !== 'string' || path === '') throw new TypeError('port path must be a non-empty string');
    const baudRate = opts.baud ?? DEFAULT_BAUD;
    if (!Number.isInteger(baudRate) || baudRate < 300 || baudRate > 5_000_000) throw new RangeError(`baud must be 300..5000000, got ${baudRate}`);
    const port = new SerialPortStream({ binding, path, baudRate, hupcl: false, autoOpen: false });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TransportError(`opening ${path} timed out`)), opts.openTimeoutMs ?? 5000);
      port.open((err) => {
        clearTimeout(timer);
        if (err) reject(new TransportError(`cannot open serial port ${path}: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
    return new SerialTransport(port);
  }

  get isOpen(): boolean { return this.port.isOpen; }

  write(bytes: Uint8Array): Promise<void> {
    if (!this.port.isOpen) return Promise.reject(new TransportError(`serial port ${this.name} is not open`));
    return new Promise((resolve, reject) => {
      this.port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) => {
        if (err) { reject(new TransportError(`write to ${this.name} failed: ${err.message}`, { cause: err })); return; }
        this.port.drain((e) => (e ? reject(new TransportError(`write to ${this.name} failed: ${e.message}`, { cause: e })) : resolve()));
      });
    });
  }

  onData(handler: (bytes: Uint8Array) => void): void { this.dataHandler = handler; }
  onClose(handler: (err?: Error) => void): void { this.closeHandler = handler; }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    this.closing = true;
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}
