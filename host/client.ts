// Client: the library's entry point for talking to one device. Layers (STYLE.md §5):
// transport (serial, memory) → session (framing, ids, retries) → commands (one file each).
import type { DeviceInfo } from '../protocol/index.js';
import { attest, type Attestation, type AttestOptions } from './requests/attest.js';
import { info } from './requests/info.js';
import { ping, type PingResult } from './requests/ping.js';
import { token, type TokenOptions } from './requests/token.js';
import { Session, type SessionOptions } from './session.js';
import { SerialTransport } from './transport/serial.js';
import type { Transport } from './transport/transport.js';

export interface OpenOptions extends SessionOptions {
  baud?: number;
}

export class Client {
  readonly session: Session;

  constructor(transport: Transport, opts: SessionOptions = {}) {
    this.session = new Session(transport, opts);
  }

  /** Opens a serial port (USB bridge or the emulator's pseudo-terminal) without resetting the board. */
  static async open(path: string, opts: OpenOptions = {}): Promise<Client> {
    const transport = await SerialTransport.open(path, { baud: opts.baud });
    return new Client(transport, opts);
  }

  ping(data?: Uint8Array): Promise<PingResult> { return ping(this.session, data); }
  info(): Promise<DeviceInfo> { return info(this.session); }
  attest(opts?: AttestOptions): Promise<Attestation> { return attest(this.session, opts); }
  token(opts: TokenOptions): Promise<string> { return token(this.session, opts); }
  close(): Promise<void> { return this.session.close(); }
}
