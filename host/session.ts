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

/** A request in flight: its frame (sent again on a retry), tries so far and the current try's deadline. */
interface Pending {
  readonly id: number;
  readonly frame: Uint8Array;
  readonly what: string;
  tries: number;
  deadline: number;
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
  /**
   * One timer for every request's deadline, due at the earliest: a request arms it only when none
   * is due sooner, and an answer leaves it be (unreferenced once nothing waits, so it does not keep
   * the process alive), rather than a timer made and cleared per request.
   */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineAt = 0;
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
        if (this.pending.size === 0) this.deadlineTimer?.unref();
        if (res.type === 'error') p.reject(new DeviceError(res.status, statusName(res.status), res.espErr, res.detail));
        else p.resolve(res);
      }
    }
  }

  private fail(err: Error): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
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

  private exchange(build: (id: number) => Uint8Array, what: string): Promise<Response> {
    if (this.closedError) return Promise.reject(this.closedError);
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    let frame: Uint8Array;
    try {
      frame = encodeFrame(build(id));
    } catch (err) {
      return Promise.reject(err);
    }
    this.nextId = (id + 1) & 0xffff;
    this.stats.requests++;
    return new Promise<Response>((resolve, reject) => {
      const p: Pending = { id, frame, what, tries: 0, deadline: 0, resolve, reject };
      this.pending.set(id, p);
      this.send(p);
    });
  }

  /**
   * Sends (again) and sets the try's deadline: `timeoutMs` after the request has left, which on a
   * UART is its time on the line after the operating system has taken it (10 bits per byte).
   */
  private send(p: Pending): void {
    p.tries++;
    const lineMs = this.transport.baud ? (p.frame.length * 10_000) / this.transport.baud : 0;
    p.deadline = performance.now() + this.timeoutMs + lineMs;
    this.transport.write(p.frame).then(undefined, (err: Error) => {
      if (this.pending.get(p.id) !== p) return;
      this.pending.delete(p.id);
      p.reject(err);
    });
    this.armDeadline(p.deadline);
  }

  private armDeadline(at: number): void {
    if (this.deadlineTimer !== undefined && this.deadlineAt <= at) {
      this.deadlineTimer.ref();
      return;
    }
    clearTimeout(this.deadlineTimer);
    this.deadlineAt = at;
    this.deadlineTimer = setTimeout(this.expire, Math.max(1, Math.ceil(at - performance.now())));
  }

  /** Tries past their deadline are sent again, or fail with TimeoutError after the last one. */
  private readonly expire = (): void => {
    this.deadlineTimer = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const p of this.pending.values()) {
      if (p.deadline <= now) {
        if (p.tries > this.retries) {
          this.pending.delete(p.id);
          this.stats.timeouts++;
          p.reject(new TimeoutError(`no answer to ${p.what} from ${this.transport.name} after ${this.retries + 1} tries of ${this.timeoutMs} ms`));
          continue;
        }
        this.stats.retries++;
        this.send(p);
      }
      if (p.deadline < next) next = p.deadline;
    }
    if (next !== Infinity) this.armDeadline(next);
  };

  /** Answers that arrived for the wrong request type are a protocol violation, reported clearly. */
  expect<T extends Response['type']>(res: Response, type: T): Extract<Response, { type: T }> {
    if (res.type !== type) throw new ProtocolError(`device answered ${res.type.toUpperCase()} to a ${type.toUpperCase()} request`);
    return res as Extract<Response, { type: T }>;
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
