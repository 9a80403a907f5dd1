// Session: framing + codec + request/response matching over one Transport (docs/protocol.md §3).
// Each request gets a 16-bit id; the answer with the same id completes it. A request that is not
// answered within `timeoutMs` is sent again (same id, so a late answer to any copy is accepted) up to
// `retries` times, then fails with TimeoutError. Text between frames (boot ROM output, device logs)
// and dropped frames are reported through callbacks, never mixed into answers.
import { aint, decodeResponse, encodeFrame, encodeRequest, FrameDecoder, type FrameEvent, MalformedError, type Request, type Response, statusName } from '../protocol/index.js';
import { DeviceError, ProtocolError, TimeoutError, TransportError } from './errors.js';
import type { Transport } from './transport/transport.js';

export interface SessionOptions {
  /** Time to wait for each try, in ms. */
  timeoutMs?: number;
  /** Extra tries after the first. */
  retries?: number;
  /** Silence after which a partial frame counts as cut, in ms (default 50). */
  idleMs?: number;
  onLog?: (line: string) => void;
  /** A frame dropped for a bad CRC or length, or an answer that did not decode. */
  onFrameError?: (detail: string) => void;
}

export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve(res: Response): void;
  reject(err: Error): void;
}

export interface SessionStats {
  requests: number;
  retries: number;
  timeouts: number;
  stale: number;
  badFrames: number;
  logLines: number;
}

/** Longest wait a session accepts (timeoutMs, idleMs): Node's timers hold at most 2^31-1 ms. */
const MAX_WAIT_MS = 0x7fffffff;

export class Session {
  readonly transport: Transport;
  readonly stats: SessionStats = { requests: 0, retries: 0, timeouts: 0, stale: 0, badFrames: 0, logLines: 0 };
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private nextId = Math.floor(Math.random() * 0x10000);
  private closedError: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly opts: SessionOptions;

  constructor(transport: Transport, opts: SessionOptions = {}) {
    this.transport = transport;
    this.opts = opts;
    this.timeoutMs = aint(opts.timeoutMs ?? 1000, 'timeoutMs', 1, MAX_WAIT_MS);
    this.retries = aint(opts.retries ?? 2, 'retries', 0, 100);
    this.idleMs = aint(opts.idleMs ?? 50, 'idleMs', 1, MAX_WAIT_MS);
    transport.onData((bytes) => this.receive(bytes));
    transport.onClose((err) => this.fail(err ?? new TransportError(`${transport.name} closed`)));
  }

  private receive(bytes: Uint8Array): void {
    this.handle(this.decoder.push(bytes));
    // A frame still incomplete when the line goes quiet was cut (reset, unplug): give it up so the
    // bytes behind its SYNC are scanned again (docs/protocol.md §2.1).
    clearTimeout(this.idleTimer);
    if (this.decoder.pending > 0) this.idleTimer = setTimeout(() => this.handle(this.decoder.flush()), this.idleMs).unref();
  }

  private handle(events: FrameEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'log') {
        this.stats.logLines++;
        this.opts.onLog?.(ev.text);
      } else if (ev.type === 'error') {
        this.stats.badFrames++;
        this.opts.onFrameError?.(ev.detail);
      } else {
        let res: Response;
        try {
          res = decodeResponse(ev.payload);
        } catch (err) {
          if (!(err instanceof MalformedError)) throw err;
          this.stats.badFrames++;
          this.opts.onFrameError?.(`undecodable answer: ${err.message}`);
          continue;
        }
        const p = this.pending.get(res.id);
        if (!p) { this.stats.stale++; continue; }
        this.pending.delete(res.id);
        p.resolve(res);
      }
    }
  }

  private fail(err: Error): void {
    clearTimeout(this.idleTimer);
    this.closedError = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Sends a request and resolves with its answer; an ERROR answer rejects with DeviceError. */
  request(body: RequestBody, what = body.type.toUpperCase()): Promise<Response> {
    return this.exchange((id) => encodeRequest({ ...body, id } as Request), what);
  }

  /**
   * Sends a message built by the caller, bypassing the host's own argument checks — for testing how
   * a device treats input this library would never send. `build` gets the request id to use.
   * @internal Not part of the published API: tsconfig's stripInternal leaves it out of the .d.ts.
   */
  requestRaw(build: (id: number) => Uint8Array, what = 'RAW'): Promise<Response> {
    return this.exchange(build, what);
  }

  private async exchange(build: (id: number) => Uint8Array, what: string): Promise<Response> {
    if (this.closedError) throw this.closedError;
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    this.nextId = (id + 1) & 0xffff;
    const frame = encodeFrame(build(id));
    this.stats.requests++;
    const answer = new Promise<Response>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    answer.catch(() => {}); // observed below; avoids an unhandled rejection between tries
    try {
      for (let attempt = 0; attempt <= this.retries; attempt++) {
        if (attempt > 0) this.stats.retries++;
        await this.transport.write(frame);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), this.timeoutMs); });
        const res = await Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
        if (res === 'timeout') continue;
        if (res.type === 'error') {
          const name = statusName(res.status);
          throw new DeviceError(res.status, name, res.espErr, res.detail);
        }
        return res;
      }
      this.stats.timeouts++;
      throw new TimeoutError(`no answer to ${what} from ${this.transport.name} after ${this.retries + 1} tries of ${this.timeoutMs} ms`);
    } finally {
      this.pending.delete(id);
    }
  }

  /** Answers that arrived for the wrong request type are a protocol violation, reported clearly. */
  expect<T extends Response['type']>(res: Response, type: T): Extract<Response, { type: T }> {
    if (res.type !== type) throw new ProtocolError(`device answered ${res.type.toUpperCase()} to a ${type.toUpperCase()} request`);
    return res as Extract<Response, { type: T }>;
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
