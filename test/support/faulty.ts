// A fault-injecting transport for reliability tests: wraps another transport and, with a seeded
// PRNG (reproducible runs), drops, duplicates or flips bytes, cuts the link mid-chunk, and delays
// chunks, in either direction. Every rate is per byte, so the same rates mean the same thing over an
// in-memory pair (one chunk per frame) and a serial port (chunks of whatever size the OS reads).
// Delays hold the stream back without reordering it: a UART is late, never out of order.
import { aint } from '../../protocol/index.js';
import type { Transport } from '../../host/transport/transport.js';

/** The longest delay or outage a test can ask for (setTimeout's limit). */
const MAX_MS = 2 ** 31 - 1;

export interface FaultRates {
  /** Probability a byte is lost. */
  drop?: number;
  /** Probability a byte arrives twice. */
  duplicate?: number;
  /** Probability a byte has one bit flipped. */
  flip?: number;
  /** Probability the link is cut at a byte: it and the rest of its chunk are lost. */
  cut?: number;
  /** Probability a chunk (and so everything behind it) is held back by up to `maxDelayMs`. */
  delay?: number;
  maxDelayMs?: number;
}

export interface FaultStats { dropped: number; duplicated: number; flipped: number; cut: number; delayed: number; outageBytes: number }

/** mulberry32: small, fast, good enough for fault patterns, reproducible from a 32-bit seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function arate(value: number | undefined, name: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be a probability 0..1, got ${value}`);
}

function checkRates(r: FaultRates | undefined, dir: string): void {
  if (!r) return;
  for (const k of ['drop', 'duplicate', 'flip', 'cut', 'delay'] as const) arate(r[k], `${dir}.${k}`);
  if (r.maxDelayMs !== undefined) aint(r.maxDelayMs, `${dir}.maxDelayMs`, 0, MAX_MS);
}

/** Delivers chunks in order; a delayed chunk holds back the ones behind it. */
class Lane {
  private readonly queue: { at: number; bytes: Uint8Array; to: (b: Uint8Array) => void | Promise<void> }[] = [];
  private timer: NodeJS.Timeout | undefined;

  send(bytes: Uint8Array, delayMs: number, to: (b: Uint8Array) => void | Promise<void>): void {
    const now = Date.now();
    const last = this.queue.length ? this.queue[this.queue.length - 1].at : 0;
    const at = Math.max(now + delayMs, last);
    if (this.queue.length === 0 && at <= now) { void to(bytes); return; }
    this.queue.push({ at, bytes, to });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue.length && this.queue[0].at <= now) {
        const c = this.queue.shift()!;
        void c.to(c.bytes);
      }
      this.schedule();
    }, Math.max(0, this.queue[0].at - Date.now()));
  }
}

export class FaultyTransport implements Transport {
  readonly name: string;
  readonly stats: FaultStats = { dropped: 0, duplicated: 0, flipped: 0, cut: 0, delayed: 0, outageBytes: 0 };
  private readonly rnd: () => number;
  private dataHandler: (bytes: Uint8Array) => void = () => {};
  private readonly txLane = new Lane();
  private readonly rxLane = new Lane();
  private outageUntil = 0;
  private armed: { dir: 'tx' | 'rx'; left: number; ms: number } | undefined;
  private tap: (dir: 'tx' | 'rx', bytes: Uint8Array) => void = () => {};
  private rates: { tx?: FaultRates; rx?: FaultRates } = {};

  constructor(private readonly inner: Transport, rates: { tx?: FaultRates; rx?: FaultRates }, seed = 1) {
    this.name = `${inner.name} (faulty)`;
    this.rnd = prng(seed);
    this.setRates(rates);
    inner.onData((bytes) => this.pass(bytes, 'rx', this.rxLane, (b) => this.dataHandler(b)));
  }

  /** Changes the fault rates from now on (e.g. a noisy spell in the middle of a run). */
  setRates(rates: { tx?: FaultRates; rx?: FaultRates }): void {
    if (rates === null || typeof rates !== 'object') throw new TypeError('rates must be an object');
    checkRates(rates.tx, 'tx');
    checkRates(rates.rx, 'rx');
    this.rates = rates;
  }

  /** Sees every chunk as it enters the link (before any fault): what the host wrote, what the device sent. */
  onTraffic(handler: (dir: 'tx' | 'rx', bytes: Uint8Array) => void): void { this.tap = handler; }

  /** The link goes dead for `ms`: every byte in either direction is lost until then. */
  outage(ms: number): void {
    aint(ms, 'ms', 0, MAX_MS);
    this.outageUntil = Math.max(this.outageUntil, Date.now() + ms);
  }

  /**
   * Cuts the link mid-stream: `bytes` more bytes pass in direction `dir`, then the link goes dead in
   * both directions for `ms` (a cable pulled in the middle of a frame, then plugged back).
   */
  cutAfter(dir: 'tx' | 'rx', bytes: number, ms: number): void {
    if (dir !== 'tx' && dir !== 'rx') throw new TypeError(`dir must be "tx" or "rx", got ${String(dir)}`);
    aint(bytes, 'bytes', 0, Number.MAX_SAFE_INTEGER);
    aint(ms, 'ms', 0, MAX_MS);
    this.armed = { dir, left: bytes, ms };
  }

  get isOpen(): boolean { return this.inner.isOpen; }

  private mangle(bytes: Uint8Array, r: FaultRates | undefined, dir: 'tx' | 'rx'): Uint8Array {
    const a = this.armed;
    if (a && a.dir === dir) {
      if (bytes.length > a.left) {
        this.armed = undefined;
        this.stats.cut++;
        this.stats.outageBytes += bytes.length - a.left;
        const head = bytes.subarray(0, a.left);
        this.outage(a.ms);
        return r ? this.faults(head, r) : head;
      }
      a.left -= bytes.length;
    }
    if (Date.now() < this.outageUntil) { this.stats.outageBytes += bytes.length; return new Uint8Array(0); }
    return r ? this.faults(bytes, r) : bytes;
  }

  private faults(bytes: Uint8Array, r: FaultRates): Uint8Array {
    const out: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      if (r.cut && this.rnd() < r.cut) { this.stats.cut++; break; }
      let b = bytes[i];
      if (r.drop && this.rnd() < r.drop) { this.stats.dropped++; continue; }
      if (r.flip && this.rnd() < r.flip) { b ^= 1 << Math.floor(this.rnd() * 8); this.stats.flipped++; }
      out.push(b);
      if (r.duplicate && this.rnd() < r.duplicate) { out.push(b); this.stats.duplicated++; }
    }
    return Uint8Array.from(out);
  }

  private pass(bytes: Uint8Array, dir: 'tx' | 'rx', lane: Lane, to: (b: Uint8Array) => void | Promise<void>): void {
    this.tap(dir, bytes);
    const r = this.rates[dir];
    const m = this.mangle(bytes, r, dir);
    if (m.length === 0) return;
    let delayMs = 0;
    if (r?.delay && this.rnd() < r.delay) {
      this.stats.delayed++;
      delayMs = Math.floor(this.rnd() * (r.maxDelayMs ?? 100));
    }
    lane.send(m, delayMs, to);
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.pass(bytes, 'tx', this.txLane, (b) => this.inner.write(b).catch(() => {}));
  }

  onData(handler: (bytes: Uint8Array) => void): void { this.dataHandler = handler; }
  onClose(handler: (err?: Error) => void): void { this.inner.onClose(handler); }
  close(): Promise<void> { return this.inner.close(); }
}
