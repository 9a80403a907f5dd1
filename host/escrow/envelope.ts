// Envelope encryption of escrowed device keys (docs/provisioning.md §3.5): each record's key is
// encrypted under its own random data key (AES-256-GCM), and the data key is wrapped by a
// key-encryption key (KEK) — derived from the passphrase with scrypt, or held in a PKCS#11 token
// (pkcs11.ts). Rotating the KEK re-wraps data keys only: the device key's ciphertext never changes.
// The record's identity (device, block, chip) is the additional data of both layers, so a sealed key
// moved to another record does not open.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { EscrowError } from '../errors.js';
import { KEY_SIZE, keyBytes } from '../../protocol/keyblock.js';

/** A key-encryption key. `id` names it in stored records (never secret). */
export interface Kek {
  readonly id: string;
  wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** A device key under envelope encryption: `ct` = nonce ‖ ciphertext ‖ tag under the data key. */
export interface Sealed {
  kek: string;
  wrappedKey: Uint8Array;
  ct: Uint8Array;
}

const NONCE = 12;
const TAG = 16;

export function gcmSeal(key: Uint8Array, plain: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  c.setAAD(aad);
  return Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
}

/** undefined when the tag does not verify (wrong key or altered bytes). */
export function gcmOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  if (sealed.length < NONCE + TAG) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE), { authTagLength: TAG });
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    return Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
  } catch {
    return undefined;
  }
}

/** The additional data that binds a sealed key to its record. */
export function recordAad(deviceId: string, block: string, chip: string): Uint8Array {
  return Buffer.from(`efuse-attest escrow key\0${deviceId}\0${block}\0${chip}`, 'utf8');
}

export async function seal(kek: Kek, key: Uint8Array, aad: Uint8Array): Promise<Sealed> {
  keyBytes(key, 'key');
  const dk = randomBytes(32);
  try {
    const ct = gcmSeal(dk, key, aad);
    return { kek: kek.id, wrappedKey: await kek.wrap(dk, aad), ct };
  } finally {
    dk.fill(0);
  }
}

export async function unseal(kek: Kek, s: Sealed, aad: Uint8Array, where: string): Promise<Uint8Array> {
  if (s.kek !== kek.id) {
    throw new EscrowError(`${where} is wrapped by key-encryption key ${s.kek}, not by the one given (${kek.id}); nothing was changed`, 'ESCROW_KEK');
  }
  const dk = await kek.unwrap(s.wrappedKey, aad);
  try {
    const key = gcmOpen(dk, s.ct, aad);
    if (!key || key.length !== KEY_SIZE) throw new EscrowError(`${where} failed its integrity check: it was altered or moved; nothing was changed`, 'ESCROW_TAMPERED');
    const out = new Uint8Array(key);
    key.fill(0);
    return out;
  } finally {
    dk.fill(0);
  }
}

/** Re-wraps the data key under `to`; the device key's ciphertext is kept as it is. */
export async function rewrap(from: Kek, to: Kek, s: Sealed, aad: Uint8Array): Promise<Sealed> {
  const dk = await from.unwrap(s.wrappedKey, aad);
  try {
    return { kek: to.id, wrappedKey: await to.wrap(dk, aad), ct: s.ct };
  } finally {
    dk.fill(0);
  }
}

export interface ScryptParams { log2N: number; r: number; p: number }
const CHECK_MESSAGE = 'efuse-attest kek passphrase check';

/** What a store keeps to re-derive a passphrase KEK: parameters, salt and a check value (not secret). */
export interface PassphraseKekInfo { kdf: ScryptParams; salt: Uint8Array; check: Uint8Array }

/** A KEK stretched from a passphrase with scrypt; its id is derived from the check value. */
export class PassphraseKek implements Kek {
  readonly id: string;
  private readonly key: Buffer;
  readonly info: PassphraseKekInfo;

  private constructor(key: Buffer, info: PassphraseKekInfo) {
    this.key = key;
    this.info = info;
    this.id = 'scrypt:' + Buffer.from(info.check).subarray(0, 8).toString('hex');
  }

  /** Derives the KEK; with `info` from a store, a wrong passphrase is ESCROW_PASSPHRASE. */
  static derive(passphrase: string | Uint8Array, info?: PassphraseKekInfo, kdf: ScryptParams = { log2N: 15, r: 8, p: 1 }): PassphraseKek {
    let pass: Buffer;
    if (typeof passphrase === 'string') pass = Buffer.from(passphrase.normalize('NFC'), 'utf8');
    else if (passphrase instanceof Uint8Array) pass = Buffer.from(passphrase);
    else throw new TypeError('passphrase must be a string or a Uint8Array');
    if (pass.length === 0) throw new RangeError('passphrase must not be empty');
    const params = info?.kdf ?? kdf;
    const salt = info?.salt ?? randomBytes(32);
    const out = scryptSync(pass, salt, 64, { N: 2 ** params.log2N, r: params.r, p: params.p, maxmem: 600 * 1024 * 1024 });
    pass.fill(0);
    const key = Buffer.from(out.subarray(0, 32));
    const check = createHmac('sha256', out.subarray(32, 64)).update(CHECK_MESSAGE).digest().subarray(0, 16);
    out.fill(0);
    if (info && !timingSafeEqual(check, Buffer.from(info.check))) {
      key.fill(0);
      throw new EscrowError('wrong passphrase for the escrow (its key-encryption key does not match); nothing was changed', 'ESCROW_PASSPHRASE');
    }
    return new PassphraseKek(key, { kdf: { ...params }, salt: Uint8Array.from(salt), check: Uint8Array.from(check) });
  }

  async wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    return gcmSeal(this.key, dataKey, aad);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const dk = gcmOpen(this.key, wrapped, aad);
    if (!dk) throw new EscrowError(`a data key does not unwrap with key-encryption key ${this.id}: the record was altered or moved; nothing was changed`, 'ESCROW_TAMPERED');
    return dk;
  }

  async close(): Promise<void> { this.key.fill(0); }
}
