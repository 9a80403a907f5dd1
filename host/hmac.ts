// HMAC-SHA256 with a 32-byte key over short messages, for the verifier's hot path
// (docs/performance.md §1). HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)) (RFC 2104); a 32-byte key
// is shorter than SHA-256's 64-byte block, so it is zero-padded and used as it is.
//
// Why not createHmac: for a 100-byte message the SHA-256 work is a few hundred nanoseconds, and most
// of the ~2 µs of createHmac(...).update(...).digest() is the Hmac object, the key's import and the
// Buffer the digest is returned in (memory outside the JS heap, allocated and later finalised per
// call). Here the same HMAC is two one-shot hashes (crypto.hash, Node ≥ 20.12) over buffers kept
// between calls, the digests returned as one-byte strings (plain heap strings) and copied into those
// buffers. The message is written straight behind the padded key (no copy); the key's bytes are wiped
// from the buffers after each MAC. Synchronous, so one instance serves every call of a thread. On a
// Node without crypto.hash, createHmac is used.
import * as crypto from 'node:crypto';
import { KEY_SIZE as KEY, MAC_SIZE as DIGEST } from '../protocol/index.js';

/** SHA-256's block size. */
const BLOCK = 64;

type OneShot = (algorithm: string, data: Uint8Array, outputEncoding: 'latin1') => string;
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

export class Hmac32 {
  private readonly inner: Uint8Array;
  private readonly outer = new Uint8Array(BLOCK + DIGEST);
  private readonly out = new Uint8Array(DIGEST);
  /** inner[0, BLOCK + n) for each message length n, made once: no view is allocated per MAC. */
  private readonly views: Uint8Array[] = [];
  /** Where the caller writes the message: up to the `maxMessage` given to the constructor. */
  readonly message: Uint8Array;

  constructor(readonly maxMessage: number) {
    this.inner = new Uint8Array(BLOCK + maxMessage);
    this.message = this.inner.subarray(BLOCK);
    // The padding half of each block never changes: the key's zero bytes XOR the pads.
    this.inner.fill(0x36, KEY, BLOCK);
    this.outer.fill(0x5c, KEY, BLOCK);
  }

  /**
   * HMAC-SHA256 under `key` (32 bytes, checked by the caller) of message[0, n). The result is a
   * buffer of this instance, overwritten by the next call: compare or copy it before.
   */
  mac(key: Uint8Array, n: number): Uint8Array {
    if (!(n >= 0 && n <= this.maxMessage)) throw new RangeError(`message length must be 0..${this.maxMessage}, got ${n}`);
    if (!oneShot) {
      this.out.set(crypto.createHmac('sha256', key).update(this.message.subarray(0, n)).digest());
      return this.out;
    }
    const inner = this.inner;
    const outer = this.outer;
    for (let i = 0; i < KEY; i++) {
      const k = key[i]!;
      inner[i] = k ^ 0x36;
      outer[i] = k ^ 0x5c;
    }
    const view = this.views[n] ?? (this.views[n] = inner.subarray(0, BLOCK + n));
    const h = oneShot('sha256', view, 'latin1');
    inner.fill(0, 0, KEY);
    for (let i = 0; i < DIGEST; i++) outer[BLOCK + i] = h.charCodeAt(i);
    const mac = oneShot('sha256', outer, 'latin1');
    outer.fill(0, 0, KEY);
    const out = this.out;
    for (let i = 0; i < DIGEST; i++) out[i] = mac.charCodeAt(i);
    return out;
  }
}
