// The UART attestation service: bytes in, frames out (docs/protocol.md §3–4). It owns a push-style
// FrameDecoder, answers each request with exactly one response (or ERROR), and never throws out of
// receive(): garbage, oversize and partial frames are dropped and counted, and it keeps answering.
// Output goes through `send`, which main.ts connects to the serial port's write budget.
import {
  decodeHeader, decodeRequest, encodeFrame, encodeResponse, FrameDecoder, type FrameEvent, MalformedError, MsgType,
  type Request, type Response, Status, type StatusName, VERSION,
} from '../../protocol/index.js';
import { type DeviceApi, DeviceFault } from './device.js';

export interface ServiceStats {
  requests: number;
  errors: number;
  dropped: number;
}

/** Silence after which a partial frame counts as cut (docs/protocol.md §2.1), in ms. */
export const IDLE_MS = 50;

export class AttestService {
  readonly stats: ServiceStats = { requests: 0, errors: 0, dropped: 0 };
  private readonly decoder = new FrameDecoder();
  private readonly device: DeviceApi;
  private readonly send: (frame: Uint8Array) => void;
  private readonly clock: () => number;
  private last = 0;

  constructor(device: DeviceApi, send: (frame: Uint8Array) => void, clock: () => number = Date.now) {
    this.device = device;
    this.send = send;
    this.clock = clock;
  }

  get decoderStats() { return this.decoder.stats; }

  receive(bytes: Uint8Array): void {
    // No timer needed: a partial frame followed by silence was cut, and it is given up when the next
    // bytes arrive, before they are scanned, so the frame the host sends next is found.
    const now = this.clock();
    if (this.decoder.pending > 0 && now - this.last > IDLE_MS) this.dispatch(this.decoder.flush());
    this.last = now;
    let events;
    try {
      events = this.decoder.push(bytes);
    } catch {
      this.decoder.reset();
      this.stats.dropped++;
      return;
    }
    this.dispatch(events);
  }

  private dispatch(events: FrameEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'frame') this.handle(ev.payload);
      else if (ev.type === 'error') this.stats.dropped++;
      // Log text from the host side is ignored: only frames are requests.
    }
  }

  private handle(payload: Uint8Array): void {
    let id = 0;
    let response: Response;
    try {
      const h = decodeHeader(payload);
      id = h.id;
      if (h.version === VERSION && (h.type & MsgType.RESPONSE || h.type === MsgType.ERROR)) {
        // A response echoed back to us (e.g. a loopback): never answer it, or two ends would ping-pong.
        this.stats.dropped++;
        return;
      }
      const req = decodeRequest(payload);
      this.stats.requests++;
      response = this.answer(req);
    } catch (err) {
      response = this.error(id, err);
    }
    let out: Uint8Array;
    try {
      out = encodeFrame(encodeResponse(response));
    } catch (err) {
      out = encodeFrame(encodeResponse(this.error(id, err)));
    }
    this.send(out);
  }

  private answer(req: Request): Response {
    switch (req.type) {
      case 'ping':
        return { type: 'ping', id: req.id, data: req.data };
      case 'info':
        return { type: 'info', id: req.id, info: this.device.deviceInfo() };
      case 'attest':
        return { type: 'attest', id: req.id, attestation: this.device.attest(req.nonce, req.slot) };
      case 'token':
        return { type: 'token', id: req.id, token: this.device.token(req.resource, req.expiry, { slot: req.slot, keyName: req.keyName }) };
    }
  }

  private error(id: number, err: unknown): Response {
    this.stats.errors++;
    let status: StatusName = 'INTERNAL';
    let espErr = 0;
    let detail = err instanceof Error ? err.message : String(err);
    if (err instanceof DeviceFault) { status = err.status; espErr = err.espErr; }
    else if (err instanceof MalformedError) status = err.status;
    else if (err instanceof RangeError || err instanceof TypeError) status = 'MALFORMED';
    if (detail.length > 160) detail = detail.slice(0, 160);
    return { type: 'error', id, status: Status[status], espErr, detail };
  }
}
