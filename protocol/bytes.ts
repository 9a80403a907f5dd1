// Byte helpers shared by both sides: argument checks (named, typed errors), UTF-8 and hex, a small
// reader/writer. Portable: Uint8Array/DataView only — XS has no Buffer, TextEncoder or atob.

/** Throws TypeError unless `value` is a Uint8Array; RangeError unless its length is in [min, max]. */
export function abytes(value: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length < min || value.length > max) {
    const want = min === max ? `${min}` : `${min}..${max}`;
    throw new RangeError(`${name} must be ${want} bytes, got ${value.length}`);
  }
  return value;
}

/** Throws TypeError unless `value` is an integer; RangeError unless it is in [min, max]. */
export function aint(value: unknown, name: string, min: number, max: number): number {
  // value % 1 is 0 exactly for the finite integers (NaN and ±Infinity give NaN): Number.isInteger without a call.
  if (typeof value !== 'number' || value % 1 !== 0) throw new TypeError(`${name} must be an integer`);
  if (value < min || value > max) throw new RangeError(`${name} must be ${min}..${max}, got ${value}`);
  return value;
}

/** Throws TypeError unless `value` is a string; RangeError if it is shorter than `min` (1: not empty). */
export function astring(value: unknown, name: string, min = 0): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${value === null ? 'null' : typeof value}`);
  if (value.length < min) throw new RangeError(min === 1 ? `${name} must not be empty` : `${name} must be at least ${min} characters`);
  return value;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  // Constant time in the contents for equal lengths: every byte is looked at.
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

const HEX = '0123456789abcdef';
const PAIRS: string[] = [];
for (let i = 0; i < 256; i++) PAIRS.push(HEX[i >> 4] + HEX[i & 15]);
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += PAIRS[bytes[i]];
  return s;
}

export function fromHex(hex: string, name = 'hex'): Uint8Array {
  astring(hex, name);
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError(`${name} must be an even number of hex digits`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

export function utf8Encode(s: string): Uint8Array {
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
  if (ascii) {
    const a = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  }
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // lone surrogate
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/**
 * Decodes UTF-8; malformed sequences become U+FFFD (log text from the wire is never trusted). Code
 * points are gathered and turned into text a chunk at a time: on XS, whose strings are flat, adding one
 * character at a time copies the whole string per character (quadratic time, kilobytes of garbage).
 */
const DECODE_CHUNK = 256;
export function utf8Decode(b: Uint8Array): string {
  const parts: string[] = [];
  const points: number[] = [];
  for (let i = 0; i < b.length;) {
    const c = b[i];
    let cp = 0xfffd;
    let n = 1;
    if (c < 0x80) cp = c;
    else if (c >= 0xc2 && c < 0xe0 && i + 1 < b.length && (b[i + 1] & 0xc0) === 0x80) {
      cp = ((c & 31) << 6) | (b[i + 1] & 63); n = 2;
    } else if (c >= 0xe0 && c < 0xf0 && i + 2 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
      cp = ((c & 15) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63); n = 3;
      if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) cp = 0xfffd;
    } else if (c >= 0xf0 && c < 0xf5 && i + 3 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80) {
      cp = ((c & 7) << 18) | ((b[i + 1] & 63) << 12) | ((b[i + 2] & 63) << 6) | (b[i + 3] & 63); n = 4;
      if (cp < 0x10000 || cp > 0x10ffff) cp = 0xfffd;
    }
    points.push(cp);
    if (points.length === DECODE_CHUNK) {
      parts.push(String.fromCodePoint.apply(null, points));
      points.length = 0;
    }
    i += n;
  }
  if (points.length > 0) parts.push(String.fromCodePoint.apply(null, points));
  return parts.length === 1 ? parts[0] : parts.join('');
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
export function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += B64[n >> 18] + B64[(n >> 12) & 63];
    s += i + 1 < b.length ? B64[(n >> 6) & 63] : '=';
    s += i + 2 < b.length ? B64[n & 63] : '=';
  }
  return s;
}

export function fromBase64(s: string, name = 'base64'): Uint8Array {
  astring(s, name);
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new RangeError(`${name} is not valid base64`);
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) n = (n << 6) | (s[i + j] === '=' ? 0 : B64.indexOf(s[i + j]));
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

// Reader and Writer check room inline and touch the bytes directly (no DataView, no helper call per
// field): the device interprets this code for every request and answer, and a call costs it more
// than the check does. For the same reason Writer keeps its capacity in a field: on XS a typed
// array's length is a getter call.

/** Sequential little-endian reader; every read is bounds-checked and throws MalformedError. */
export class Reader {
  private readonly buf: Uint8Array;
  private pos = 0;
  constructor(bytes: Uint8Array) {
    this.buf = bytes;
  }
  private truncated(what: string): never {
    throw new MalformedError(`truncated ${what}`);
  }
  u8(what: string): number {
    if (this.pos + 1 > this.buf.length) this.truncated(what);
    return this.buf[this.pos++];
  }
  u16(what: string): number {
    const b = this.buf;
    const p = this.pos;
    if (p + 2 > b.length) this.truncated(what);
    this.pos = p + 2;
    return b[p] | (b[p + 1] << 8);
  }
  u32(what: string): number {
    return this.i32(what) >>> 0;
  }
  i32(what: string): number {
    const b = this.buf;
    const p = this.pos;
    if (p + 4 > b.length) this.truncated(what);
    this.pos = p + 4;
    return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
  }
  bytes(n: number, what: string): Uint8Array {
    if (this.pos + n > this.buf.length) this.truncated(what);
    const v = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  /** A u8 length followed by that many bytes, the length within [min, max]. */
  lbytes(min: number, max: number, what: string): Uint8Array {
    const n = this.u8(what + ' length');
    if (n < min || n > max) throw new MalformedError(`${what} length ${n} is outside ${min}..${max}`);
    return this.bytes(n, what);
  }
  end(what: string): void {
    if (this.pos !== this.buf.length) throw new MalformedError(`${this.buf.length - this.pos} trailing bytes after ${what}`);
  }
}

export class Writer {
  private buf: Uint8Array;
  private cap: number;
  private n = 0;
  constructor(capacity = 128) { this.buf = new Uint8Array(capacity); this.cap = capacity; }
  /** Makes room for k more bytes (called only when they do not fit). */
  private grow(k: number): Uint8Array {
    const b = new Uint8Array(Math.max(this.cap * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.cap = b.length;
    return (this.buf = b);
  }
  u8(v: number): this {
    const b = this.n < this.cap ? this.buf : this.grow(1);
    b[this.n++] = v & 255;
    return this;
  }
  u16(v: number): this {
    const b = this.n + 2 <= this.cap ? this.buf : this.grow(2);
    b[this.n++] = v & 255; b[this.n++] = (v >>> 8) & 255;
    return this;
  }
  u32(v: number): this {
    const b = this.n + 4 <= this.cap ? this.buf : this.grow(4);
    b[this.n++] = v & 255; b[this.n++] = (v >>> 8) & 255; b[this.n++] = (v >>> 16) & 255; b[this.n++] = (v >>> 24) & 255;
    return this;
  }
  bytes(v: Uint8Array): this {
    const k = v.length;
    const b = this.n + k <= this.cap ? this.buf : this.grow(k);
    b.set(v, this.n);
    this.n += k;
    return this;
  }
  lbytes(v: Uint8Array): this { return this.u8(v.length).bytes(v); }
  finish(): Uint8Array { return this.buf.slice(0, this.n); }
}

/**
 * A message that does not parse. The only error the decoders throw on wire input; `status` is the
 * device status it maps to (docs/protocol.md §6): MALFORMED, BAD_VERSION or UNKNOWN_TYPE.
 */
export class MalformedError extends Error {
  // A class field, not `this.name = …`: on a device Error.prototype is frozen (xsl freezes the
  // built-ins), and assigning over its read-only `name` throws there.
  override readonly name = 'MalformedError';
  readonly status: 'MALFORMED' | 'BAD_VERSION' | 'UNKNOWN_TYPE' | 'BAD_RESOURCE';
  constructor(message: string, status: 'MALFORMED' | 'BAD_VERSION' | 'UNKNOWN_TYPE' | 'BAD_RESOURCE' = 'MALFORMED') {
    super(message);
    this.status = status;
  }
}
