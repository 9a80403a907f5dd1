// Framing (docs/protocol.md §2): SYNC(A5 5A) | LEN u16le | ~LEN u16le | payload | CRC-32 u32le.
// FrameDecoder is push-style and incremental: feed it whatever bytes arrived, get back events.
// Bytes outside frames (boot ROM text, logs) come back as log lines; a frame whose header or CRC is
// wrong is reported and dropped, and scanning resumes one byte after its SYNC, so a good frame
// hidden inside a broken one is still found. Memory is bounded: a buffer of MAX_FRAME + 256 bytes
// (after a scan at most MAX_FRAME - 1 bytes of a frame in progress remain, so a push always progresses).
// Work is bounded too (§2.1): the decoder keeps the running CRC after each buffered byte
// (lazily, as far as a candidate needs it), so a candidate frame's CRC costs the same whatever its
// length and no byte goes through the CRC twice — input crafted as back-to-back valid headers costs
// a small constant per byte.
import { abytes, utf8Decode } from './bytes.js';
import { crc32Fill } from './crc32-loop.js';
import { crc32, crc32Slice } from './crc32.js';

export const SYNC0 = 0xa5;
export const SYNC1 = 0x5a;
export const HEADER_SIZE = 6;
export const TRAILER_SIZE = 4;
/** Largest payload a frame may carry (§2). */
export const MAX_PAYLOAD = 1024;
export const MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + TRAILER_SIZE;
/** A log line longer than this is cut and emitted in pieces (§2.3). */
export const MAX_LOG_LINE = 256;
/** Room for new bytes beside the longest frame in progress (each push copies at most this much per scan). */
const FILL = 256;

export function encodeFrame(payload: Uint8Array): Uint8Array {
  abytes(payload, 'payload', 1, MAX_PAYLOAD);
  const n = payload.length;
  const out = new Uint8Array(HEADER_SIZE + n + TRAILER_SIZE);
  out[0] = SYNC0;
  out[1] = SYNC1;
  out[2] = n & 0xff;
  out[3] = n >> 8;
  out[4] = ~n & 0xff;
  out[5] = (~n >> 8) & 0xff;
  out.set(payload, HEADER_SIZE);
  const c = crc32(payload);
  const o = HEADER_SIZE + n;
  out[o] = c & 0xff;
  out[o + 1] = (c >>> 8) & 0xff;
  out[o + 2] = (c >>> 16) & 0xff;
  out[o + 3] = c >>> 24;
  return out;
}

export type FrameErrorReason = 'oversize' | 'crc' | 'truncated';

export type FrameEvent =
  | { type: 'frame'; payload: Uint8Array }
  | { type: 'log'; text: string }
  | { type: 'error'; reason: FrameErrorReason; detail: string };

export interface DecoderStats {
  frames: number;
  crcErrors: number;
  oversize: number;
  truncated: number;
  logLines: number;
  bytes: number;
  /**
   * Steps of work done: bytes looked at by the scan, bytes run through the CRC and bytes moved in
   * the buffer. A count, not a time, so tests can bound the work per input byte exactly.
   */
  work: number;
}

export class FrameDecoder {
  private readonly buf = new Uint8Array(MAX_FRAME + FILL);
  /**
   * run[k] for runFrom ≤ k ≤ runTo: the CRC-32 of buf[runFrom, k), continued from an arbitrary
   * start value (crc32Fill); see crc32Slice. Filled lazily, only as far as a candidate frame needs
   * it, so text between frames costs no CRC work, and each buffered byte is run through the CRC at
   * most once.
   */
  private readonly run = new Uint32Array(MAX_FRAME + FILL + 1);
  private runFrom = 0;
  private runTo = 0;
  private len = 0;
  private line = new Uint8Array(MAX_LOG_LINE);
  private lineLen = 0;
  readonly stats: DecoderStats = { frames: 0, crcErrors: 0, oversize: 0, truncated: 0, logLines: 0, bytes: 0, work: 0 };

  /** Feeds bytes; returns the events they complete, in order. */
  push(chunk: Uint8Array): FrameEvent[] {
    abytes(chunk, 'chunk');
    const events: FrameEvent[] = [];
    this.stats.bytes += chunk.length;
    const b = this.buf;
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, b.length - this.len);
      b.set(chunk.subarray(off, off + n), this.len);
      this.len += n;
      off += n;
      this.scan(events, false);
    }
    return events;
  }

  /** The CRC of buf[p, p + n), from the running CRCs (extended to p + n first). */
  private sliceCrc(p: number, n: number): number {
    const run = this.run;
    if (this.runTo < p || this.runFrom > p) { this.runFrom = this.runTo = p; run[p] = 0; }
    if (this.runTo < p + n) {
      crc32Fill(this.buf, this.runTo, p + n, run);
      this.stats.work += p + n - this.runTo;
      this.runTo = p + n;
    }
    return crc32Slice(run[p], run[p + n], n);
  }

  /**
   * The link went idle (or closed): a frame still incomplete now was cut (its bytes arrive
   * back-to-back on a UART), so it is reported as truncated and the bytes after its SYNC are scanned
   * again — a whole frame sent after a reset is found there. Emits a pending partial log line too.
   * One pass over the buffer, like push().
   */
  flush(): FrameEvent[] {
    const events: FrameEvent[] = [];
    this.scan(events, true);
    this.endLine(events);
    return events;
  }

  /** Bytes held for a frame still in progress. */
  get pending(): number { return this.len; }

  /** Drops any partial frame and text, e.g. after the device was reset. */
  reset(): void {
    this.len = 0;
    this.lineLen = 0;
    this.runFrom = this.runTo = 0;
  }

  /** `cut`: the input has ended (flush), so a candidate that is still incomplete is truncated. */
  private scan(events: FrameEvent[], cut: boolean): void {
    const b = this.buf;
    let i = 0;
    let steps = 0;
    while (i < this.len) {
      steps++;
      if (b[i] !== SYNC0) { this.text(b[i++], events); continue; }
      if (this.len - i < HEADER_SIZE) {
        // A SYNC1 mismatch can be decided early; otherwise wait for the rest of the header.
        if (this.len - i >= 2 && b[i + 1] !== SYNC1) { this.text(b[i++], events); continue; }
        if (cut) { this.truncated(i, events); this.text(b[i++], events); continue; }
        break;
      }
      const n = b[i + 2] | (b[i + 3] << 8);
      const check = b[i + 4] | (b[i + 5] << 8);
      if (b[i + 1] !== SYNC1 || (n ^ check) !== 0xffff || n === 0) { this.text(b[i++], events); continue; }
      if (n > MAX_PAYLOAD) {
        this.stats.oversize++;
        events.push({ type: 'error', reason: 'oversize', detail: `frame length ${n} exceeds ${MAX_PAYLOAD}` });
        this.text(b[i++], events);
        continue;
      }
      const total = HEADER_SIZE + n + TRAILER_SIZE;
      if (this.len - i < total) {
        if (cut) { this.truncated(i, events); this.text(b[i++], events); continue; }
        break;
      }
      const p = i + HEADER_SIZE;
      const want = (b[p + n] | (b[p + n + 1] << 8) | (b[p + n + 2] << 16) | (b[p + n + 3] << 24)) >>> 0;
      // The payload's CRC from the running CRCs at its ends: constant work, the body is not re-read.
      if (this.sliceCrc(p, n) !== want) {
        this.stats.crcErrors++;
        events.push({ type: 'error', reason: 'crc', detail: `CRC mismatch in a ${n}-byte frame` });
        this.text(b[i++], events);
        continue;
      }
      this.endLine(events);
      this.stats.frames++;
      events.push({ type: 'frame', payload: b.slice(p, p + n) });
      i += total;
    }
    this.stats.work += steps;
    // Keep only the unconsumed tail (a frame in progress), at most MAX_FRAME - 1 bytes.
    if (i > 0) {
      this.stats.work += this.len - i;
      b.copyWithin(0, i, this.len);
      // The running CRCs from i on stay consistent with one another; those before i are dropped.
      if (this.runTo >= i) {
        const from = Math.max(this.runFrom, i);
        this.run.copyWithin(from - i, from, this.runTo + 1);
        this.runFrom = from - i;
        this.runTo -= i;
      } else {
        this.runFrom = this.runTo = 0;
      }
      this.len -= i;
    }
  }

  private truncated(i: number, events: FrameEvent[]): void {
    this.stats.truncated++;
    events.push({ type: 'error', reason: 'truncated', detail: `incomplete frame abandoned after ${this.len - i} bytes` });
  }

  private text(byte: number, events: FrameEvent[]): void {
    if (byte === 0x0a) { this.endLine(events); return; }
    if (byte === 0x0d) return;
    this.line[this.lineLen++] = byte;
    if (this.lineLen === MAX_LOG_LINE) this.endLine(events);
  }

  private endLine(events: FrameEvent[]): void {
    if (this.lineLen === 0) return;
    this.stats.logLines++;
    events.push({ type: 'log', text: utf8Decode(this.line.subarray(0, this.lineLen)) });
    this.lineLen = 0;
  }
}
