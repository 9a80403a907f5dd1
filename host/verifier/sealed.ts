// Sealed challenges: a challenge nonce that carries its own expiry and device binding under a server
// MAC key, so any verifier instance holding the key can tell that the cluster issued it, and until
// when, without any shared state. Only spent nonces need sharing (nonce-store.ts). A flood of
// challenge requests costs no memory at all: nothing is stored when a challenge is issued.
//
//   offset  size  field
//   0       1     format: 0x51 unbound, 0x52 bound to one device
//   1       r     random (r = nonceSize - 33, at least 16)
//   1+r     4     epoch of the nonce store's history when issued (nonce-store.ts)
//   5+r     6     expiry, ms since 1970, big-endian
//   11+r    6     device id the challenge is for (zeros when unbound)
//   17+r    16    HMAC-SHA256(serverKey, "efuse-attest sealed challenge\0" ‖ bytes 0..17+r)[0..16]
//
// Nonce sizes 49..64 fit the device's 16..64-byte host nonce (docs/protocol.md §4.3). The MAC is
// also the challenge's id in the nonce store: unique per challenge and never secret.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { abytes, toHex, utf8Encode } from '../../protocol/index.js';
import { DEVICE_ID_BYTES } from '../../protocol/deviceid.js';

export const SEAL_OVERHEAD = 33;
export const SEAL_RANDOM_MIN = 16;
export const SEALED_MIN = SEAL_OVERHEAD + SEAL_RANDOM_MIN; // 49
export const SEALED_MAX = 64;
export const EPOCH_BYTES = 4;
export const SERVER_KEY_MIN = 32;
const TAG_LEN = 16;
const FORMAT_UNBOUND = 0x51;
const FORMAT_BOUND = 0x52;
const DOMAIN = utf8Encode('efuse-attest sealed challenge\0');
const EXPIRY_MAX = 2 ** 48 - 1;

export interface OpenedChallenge {
  /** Hex of the MAC: the key of this challenge in the nonce store. */
  id: string;
  epoch: Uint8Array;
  expiresAt: number;
  /** Canonical device id the challenge was bound to, or undefined. */
  deviceId: string | undefined;
}

/** Why a nonce is not a challenge this cluster issued. */
export type OpenFailure = 'size' | 'format' | 'mac';

function aserverKey(k: unknown, name: string): Uint8Array {
  return abytes(k, name, SERVER_KEY_MIN, 1024);
}

/**
 * Seals and opens challenges. `keys[0]` seals; every key in `keys` opens, so a key can be rotated
 * without refusing the challenges still outstanding under the previous one.
 */
export class ChallengeSealer {
  readonly size: number;
  private readonly keys: readonly Uint8Array[];

  constructor(keys: Uint8Array | readonly Uint8Array[], size: number = SEALED_MIN) {
    const list = keys instanceof Uint8Array ? [keys] : keys;
    if (!Array.isArray(list) || list.length === 0) throw new TypeError('serverKey must be a Uint8Array or a non-empty array of them');
    this.keys = Object.freeze(list.map((k, i) => aserverKey(k, list.length === 1 ? 'serverKey' : `serverKey[${i}]`).slice()));
    if (typeof size !== 'number' || !Number.isInteger(size)) throw new TypeError('nonceSize must be an integer');
    if (size < SEALED_MIN || size > SEALED_MAX) throw new RangeError(`nonceSize must be ${SEALED_MIN}..${SEALED_MAX} for sealed challenges, got ${size}`);
    this.size = size;
  }

  /** A new challenge nonce. `deviceId` is canonical (12 hex digits) or undefined. */
  seal(epoch: Uint8Array, expiresAt: number, deviceId: string | undefined): Uint8Array {
    const n = new Uint8Array(this.size);
    const r = this.size - SEAL_OVERHEAD;
    n[0] = deviceId === undefined ? FORMAT_UNBOUND : FORMAT_BOUND;
    n.set(random(r), 1);
    n.set(abytes(epoch, 'epoch', EPOCH_BYTES, EPOCH_BYTES), 1 + r);
    if (!Number.isInteger(expiresAt) || expiresAt < 0 || expiresAt > EXPIRY_MAX) throw new RangeError('expiresAt must be a time in ms since 1970');
    writeU48(n, 5 + r, expiresAt);
    if (deviceId !== undefined) for (let i = 0; i < DEVICE_ID_BYTES; i++) n[11 + r + i] = parseInt(deviceId.substr(i * 2, 2), 16);
    n.set(this.tag(this.keys[0]!, n.subarray(0, 17 + r)), 17 + r);
    return n;
  }

  /** The sealed fields of `nonce`, or why it is not a challenge sealed with one of the keys. */
  open(nonce: Uint8Array): OpenedChallenge | OpenFailure {
    if (nonce.length !== this.size) return 'size';
    if (nonce[0] !== FORMAT_UNBOUND && nonce[0] !== FORMAT_BOUND) return 'format';
    const r = this.size - SEAL_OVERHEAD;
    const body = nonce.subarray(0, 17 + r);
    const mac = nonce.subarray(17 + r);
    if (!this.keys.some((k) => timingSafeEqual(this.tag(k, body), mac))) return 'mac';
    const dev = nonce.subarray(11 + r, 17 + r);
    return {
      id: toHex(mac),
      epoch: nonce.slice(1 + r, 5 + r),
      expiresAt: readU48(nonce, 5 + r),
      deviceId: nonce[0] === FORMAT_BOUND ? toHex(dev) : undefined,
    };
  }

  private tag(key: Uint8Array, body: Uint8Array): Uint8Array {
    return new Uint8Array(createHmac('sha256', key).update(DOMAIN).update(body).digest().subarray(0, TAG_LEN));
  }
}

// Random bytes come from a pool filled 4 KiB at a time: one call to the CSPRNG costs more than
// sealing the challenge, and a pool makes it one call per 200 challenges.
const POOL_SIZE = 4096;
let pool = new Uint8Array(0);
let poolAt = 0;
function random(n: number): Uint8Array {
  if (poolAt + n > pool.length) { pool = new Uint8Array(randomBytes(POOL_SIZE)); poolAt = 0; }
  const out = pool.subarray(poolAt, poolAt + n);
  poolAt += n;
  return out;
}

function writeU48(b: Uint8Array, o: number, v: number): void {
  const hi = Math.floor(v / 2 ** 32);
  const lo = v >>> 0;
  b[o] = (hi >>> 8) & 255; b[o + 1] = hi & 255;
  b[o + 2] = lo >>> 24; b[o + 3] = (lo >>> 16) & 255; b[o + 4] = (lo >>> 8) & 255; b[o + 5] = lo & 255;
}

function readU48(b: Uint8Array, o: number): number {
  return ((b[o]! << 8) | b[o + 1]!) * 2 ** 32 + ((b[o + 2]! << 24) >>> 0) + (b[o + 3]! << 16) + (b[o + 4]! << 8) + b[o + 5]!;
}
