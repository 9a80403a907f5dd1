// A fault-injecting transport for reliability tests: wraps another transport and, with a seeded
// PRNG (reproducible runs), drops, duplicates or flips bytes, delays chunks, or cuts a chunk
// short, in either direction. Per-byte fault rates; `cut` is per chunk.
import type { Transport } from './transport.js';

export interface FaultRates {
  drop?: number;
  duplicate?: number;
  flip?: number;
  /** Probability a chunk loses its tail (the link cut mid-frame). */
  cut?: number;
  /** Probability a chunk is held back by up to `maxDelayMs`. */
  delay?: number;
  maxDelayMs?: number;
}

export interface FaultStats { dropped: number; duplicated: number; flipped: number; cut: number; delayed: number }

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

export class FaultyTransport implements Transport {
  readonly name: string;
  readonly stats: FaultStats = { dropped: 0, duplicated: 0, flipped: 0, cut: 0, delayed: 0 };
  private readonly rnd: () => number;
  private dataHandler: (bytes: Uint8Array) => void = () => {};

  constructor(private readonly inner: Transport, public rates: { tx?: FaultRates; rx?: FaultRates }, seed = 1) {
    this.name = `${inner.name} (faulty)`;
    this.rnd = prng(seed);
    inner.onData((bytes) => this.deliver(this.mangle(bytes, this.rates.rx), this.rates.rx, (b) => this.dataHandler(b)));
  }

  get isOpen(): boolean { return this.inner.isOpen; }

  private mangle(bytes: Uint8Array, r: FaultRates | undefined): Uint8Array {
    if (!r) return bytes;
    const out: number[] = [];
    let end = bytes.length;
    if (r.cut && this.rnd() < r.cut) { end = Math.floor(this.rnd() * bytes.length); this.stats.cut++; }
    for (let i = 0; i < end; i++) {
      let b = bytes[i];
      if (r.drop && this.rnd() < r.drop) { this.stats.dropped++; continue; }
      if (r.flip && this.rnd() < r.flip) { b ^= 1 << Math.floor(this.rnd() * 8); this.stats.flipped++; }
      out.push(b);
      if (r.duplicate && this.rnd() < r.duplicate) { out.push(b); this.stats.duplicated++; }
    }
    return Uint8Array.from(out);
  }

  private deliver(bytes: Uint8Array, r: FaultRates | undefined, to: (b: Uint8Array) => void | Promise<void>): void {
    if (bytes.length === 0) return;
    if (r?.delay && this.rnd() < r.delay) {
      this.stats.delayed++;
      setTimeout(() => void to(bytes), Math.floor(this.rnd() * (r.maxDelayMs ?? 100)));
    } else {
      void to(bytes);
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    const m = this.mangle(bytes, this.rates.tx);
    this.deliver(m, this.rates.tx, (b) => this.inner.write(b).catch(() => {}));
  }

  onData(handler: (bytes: Uint8Array) => void): void { this.dataHandler = handler; }
  onClose(handler: (err?: Error) => void): void { this.inner.onClose(handler); }
  close(): Promise<void> { return this.inner.close(); }
}
