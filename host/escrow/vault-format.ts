// The vault's file format (docs/provisioning.md §3.1, §3.2): header layout and limits, reading a
// header, and the records' canonical and stored forms. Format 2 (envelope encryption) is written;
// format 1 is still read. No I/O here: vault.ts reads, writes and locks.
import { createHash } from 'node:crypto';
import { fromHex, toHex } from '../../protocol/index.js';
import { EscrowError } from '../errors.js';
import { type Kek, recordAad, type Sealed, unseal } from './envelope.js';
import { checkRecord, type EscrowRecord } from './store.js';
import { KEY_SIZE } from '../../protocol/keyblock.js';

export const MAGIC = 'EFAVAULT';
/** The format written now; FORMAT_1 is still read. */
export const FORMAT = 2;
export const FORMAT_1 = 1;
export const KDF_SCRYPT = 1;
/** Format 2, byte 9: what wraps the file key. */
export const KEK_SCRYPT = 1;
export const KEK_PKCS11 = 2;
export const HEADER_SIZE = 80;
export const TAG_SIZE = 16;
/**
 * Format 2: the wrapped file key's length, in the 16-bit word after the header. At least an AES-GCM
 * nonce and tag (28 bytes); at most what the word holds.
 */
export const WRAPPED_KEY_LENGTH = [28, 0xffff] as const;
export const CHECK_MESSAGE = 'efuse-attest vault passphrase check';

export interface KdfParams { log2N: number; r: number; p: number }
export const DEFAULT_KDF: Readonly<KdfParams> = Object.freeze({ log2N: 15, r: 8, p: 1 });
/** Accepted on read and on create: wide enough for real use, narrow enough that a forged header cannot make us allocate gigabytes. */
export const KDF_LIMITS = { log2N: [14, 20], r: [1, 16], p: [1, 4] } as const;
export const MAX_SCRYPT_MEM = 512 * 1024 * 1024;


export interface Header {
  format: number;
  kekKind: number;
  kdf: KdfParams;
  salt: Uint8Array;
  check: Uint8Array;
  nonce: Uint8Array;
  generation: number;
}


export const keyOf = (deviceId: string, block: string) => `${deviceId}/${block}`;
export const FILE_KEY_AAD = (head: Uint8Array) => Buffer.concat([Buffer.from('efuse-attest vault file key\0'), head.subarray(0, 48)]);

export function kdfInLimits(k: KdfParams): boolean {
  const ok = (v: number, [lo, hi]: readonly [number, number]) => Number.isInteger(v) && v >= lo && v <= hi;
  return ok(k.log2N, KDF_LIMITS.log2N) && ok(k.r, KDF_LIMITS.r) && ok(k.p, KDF_LIMITS.p) && 128 * 2 ** k.log2N * k.r <= MAX_SCRYPT_MEM;
}

export function encodeHeader(h: Header): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i);
  out[8] = h.format;
  out[9] = h.kekKind;
  if (h.kekKind === KEK_SCRYPT) {
    out[10] = h.kdf.log2N;
    out[11] = h.kdf.r;
    out[12] = h.kdf.p;
  }
  // 13..15 reserved, zero
  out.set(h.salt, 16);
  out.set(h.check, 48);
  out.set(h.nonce, 64);
  dv.setUint32(76, h.generation);
  return out;
}

export const sortedRecords = (records: Map<string, EscrowRecord>) =>
  [...records.values()].sort((a, b) => keyOf(a.deviceId, a.block).localeCompare(keyOf(b.deviceId, b.block)));

/** Records with their keys, canonical: what read-back compares and what "unchanged" means. */
export function canonical(records: Map<string, EscrowRecord>): Buffer {
  return Buffer.from(JSON.stringify(sortedRecords(records).map((r) => ({ ...r, key: toHex(r.key) }))), 'utf8');
}

/** The check value of a PKCS#11 KEK in the header: it says which key wraps the vault. */
export const kekCheck = (id: string) => createHash('sha256').update(id).digest().subarray(0, 16);

/** Checks and reads the 80-byte header (magic, length, format, KEK kind, limits); `where` names the file. */
export function readHeader(raw: Uint8Array, location: string): Header {
  const where = `the vault ${location}`;
  const magicOk = raw.length >= 8 && Buffer.from(raw.subarray(0, 8)).toString('latin1') === MAGIC;
  if (!magicOk) throw new EscrowError(`${location} is not an efuse-attest vault (no ${MAGIC} header)`, 'ESCROW_FORMAT');
  if (raw.length < HEADER_SIZE + TAG_SIZE) throw new EscrowError(`${where} is truncated (${raw.length} bytes): it was damaged; nothing was changed`, 'ESCROW_TAMPERED');
  const format = raw[8]!;
  if (format !== FORMAT && format !== FORMAT_1) throw new EscrowError(`${where} has format version ${format}, which this efuse-attest does not read`, 'ESCROW_FORMAT');
  const kekKind = raw[9]!;
  const kdf: KdfParams = { log2N: raw[10]!, r: raw[11]!, p: raw[12]! };
  const kindOk = format === FORMAT_1
    ? kekKind === KDF_SCRYPT && kdfInLimits(kdf)
    : (kekKind === KEK_SCRYPT && kdfInLimits(kdf)) || (kekKind === KEK_PKCS11 && raw[10] === 0 && raw[11] === 0 && raw[12] === 0);
  if (!kindOk || raw[13] !== 0 || raw[14] !== 0 || raw[15] !== 0) {
    throw new EscrowError(`${where} has an invalid header: it was altered or damaged; nothing was changed`, 'ESCROW_TAMPERED');
  }
  return {
    format, kekKind, kdf,
    salt: raw.slice(16, 48),
    check: raw.slice(48, 64),
    nonce: raw.slice(64, 76),
    generation: new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(76),
  };
}

/** The decrypted content: records (keys unsealed with `kek` in format 2) and their sealed forms as stored. */
export async function parseRecords(plain: Buffer, format: number, kek: Kek | undefined, location: string): Promise<{ records: Map<string, EscrowRecord>; sealed: Map<string, Sealed> }> {
  const bad = (why: string) => new EscrowError(`the vault ${location} decrypts but its content is invalid (${why})`, 'ESCROW_FORMAT');
  let doc: { format?: unknown; records?: unknown };
  try { doc = JSON.parse(plain.toString('utf8')) as typeof doc; } catch { throw bad('not JSON'); }
  if (doc.format !== format || !Array.isArray(doc.records)) throw bad('no records list');
  const records = new Map<string, EscrowRecord>();
  const sealedMap = new Map<string, Sealed>();
  for (const [i, r] of (doc.records as unknown[]).entries()) {
    const o = r as { key?: unknown; sealed?: { kek?: unknown; wrappedKey?: unknown; ct?: unknown } };
    let rec: EscrowRecord;
    let sealed: Sealed | undefined;
    try {
      let key: Uint8Array;
      if (format === FORMAT_1) {
        if (typeof o?.key !== 'string' || !/^[0-9a-f]{64}$/.test(o.key)) throw new RangeError(`record ${i} key is not 64 hex digits`);
        key = fromHex(o.key);
      } else {
        const s = o?.sealed;
        if (typeof s?.kek !== 'string' || typeof s.wrappedKey !== 'string' || typeof s.ct !== 'string'
          || !/^([0-9a-f]{2})+$/.test(s.wrappedKey) || !/^([0-9a-f]{2})+$/.test(s.ct)) throw new RangeError(`record ${i} has no sealed key`);
        sealed = { kek: s.kek, wrappedKey: fromHex(s.wrappedKey), ct: fromHex(s.ct) };
        const head = checkRecord({ ...(r as object), sealed: undefined, key: new Uint8Array(KEY_SIZE) }, `record ${i}`);
        key = await unseal(kek!, sealed, recordAad(head.deviceId, head.block, head.chip), `record ${i} of the vault ${location}`);
      }
      const { sealed: _s, ...fields } = r as { sealed?: unknown };
      rec = checkRecord({ ...fields, key }, `record ${i}`);
    } catch (err) {
      if (err instanceof EscrowError) throw err;
      throw bad((err as Error).message);
    }
    const k = keyOf(rec.deviceId, rec.block);
    if (records.has(k)) throw bad(`two records for ${rec.deviceId} ${rec.block}`);
    records.set(k, rec);
    if (sealed) sealedMap.set(k, sealed);
  }
  return { records, sealed: sealedMap };
}
