// The default escrow store: one encrypted file (docs/provisioning.md §3 has the format byte by byte).
// AES-256-GCM under a key stretched from a passphrase with scrypt; the 80-byte header (format, KDF
// parameters, salt, passphrase check, nonce, generation) is the GCM additional data, so no byte of
// the file can change unnoticed. Writes are read-merge-write under an exclusive lock file, replace
// the file atomically (temp file, fsync, rename, fsync dir) and are read back and decrypted before
// they count as done. A failed open or write leaves the file as it was.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { equalBytes, fromHex, toHex } from '../../protocol/index.js';
import { describeIoError, writeFileAtomic } from '../atomic.js';
import { EscrowError } from '../errors.js';
import { normalizeDeviceId } from '../keys.js';
import { cleanLeftovers } from './leftovers.js';
import { FileLock, type LockOptions } from './lock.js';
import {
  blockName, checkRecord, entryOf, type EscrowEntry, type EscrowRecord, type EscrowState, type EscrowStore, mergeRecord, stateRank,
} from './store.js';

export const MAGIC = 'EFAVAULT';
export const FORMAT = 1;
export const KDF_SCRYPT = 1;
export const HEADER_SIZE = 80;
export const TAG_SIZE = 16;
const CHECK_MESSAGE = 'efuse-attest vault passphrase check';

export interface KdfParams { log2N: number; r: number; p: number }
export const DEFAULT_KDF: Readonly<KdfParams> = Object.freeze({ log2N: 15, r: 8, p: 1 });
/** Accepted on read and on create: wide enough for real use, narrow enough that a forged header cannot make us allocate gigabytes. */
const KDF_LIMITS = { log2N: [14, 20], r: [1, 16], p: [1, 4] } as const;
const MAX_SCRYPT_MEM = 512 * 1024 * 1024;

export interface VaultOptions extends LockOptions {
  passphrase: string | Uint8Array;
  /** scrypt cost of a NEW vault; an existing vault keeps the parameters in its header. */
  kdf?: Partial<KdfParams>;
}

interface Header {
  kdf: KdfParams;
  salt: Uint8Array;
  check: Uint8Array;
  nonce: Uint8Array;
  generation: number;
}

interface Loaded { header: Header; records: Map<string, EscrowRecord> }

const keyOf = (deviceId: string, block: string) => `${deviceId}/${block}`;

function kdfInLimits(k: KdfParams): boolean {
  const ok = (v: number, [lo, hi]: readonly [number, number]) => Number.isInteger(v) && v >= lo && v <= hi;
  return ok(k.log2N, KDF_LIMITS.log2N) && ok(k.r, KDF_LIMITS.r) && ok(k.p, KDF_LIMITS.p) && 128 * 2 ** k.log2N * k.r <= MAX_SCRYPT_MEM;
}

function encodeHeader(h: Header): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i);
  out[8] = FORMAT;
  out[9] = KDF_SCRYPT;
  out[10] = h.kdf.log2N;
  out[11] = h.kdf.r;
  out[12] = h.kdf.p;
  // 13..15 reserved, zero
  out.set(h.salt, 16);
  out.set(h.check, 48);
  out.set(h.nonce, 64);
  dv.setUint32(76, h.generation);
  return out;
}

/** The serialized plaintext: canonical JSON, records sorted, keys as lowercase hex. */
function encodeRecords(records: Map<string, EscrowRecord>): Buffer {
  const list = [...records.values()].sort((a, b) => keyOf(a.deviceId, a.block).localeCompare(keyOf(b.deviceId, b.block)));
  return Buffer.from(JSON.stringify({ format: FORMAT, records: list.map((r) => ({ ...r, key: toHex(r.key) })) }), 'utf8');
}

export class FileVault implements EscrowStore {
  readonly location: string;
  private readonly pass: Buffer;
  private readonly newKdf: KdfParams;
  private readonly lockOpts: LockOptions;
  /** scrypt output per (parameters, salt): the expensive step runs once per vault per process. */
  private readonly derived = new Map<string, { enc: Buffer; check: Buffer }>();
  /** The highest generation this process has seen, per salt: an older file is never accepted silently. */
  private readonly seen = new Map<string, number>();

  /** The generation watermark beside the vault (§3.3): the highest generation written here. */
  get watermarkPath(): string { return this.location + '.generation'; }

  constructor(path: string, opts: VaultOptions) {
    if (typeof path !== 'string' || path === '') throw new TypeError('vault path must be a non-empty string');
    this.location = resolve(path);
    const p = opts.passphrase;
    if (typeof p === 'string') this.pass = Buffer.from(p.normalize('NFC'), 'utf8');
    else if (p instanceof Uint8Array) this.pass = Buffer.from(p);
    else throw new TypeError('passphrase must be a string or a Uint8Array');
    if (this.pass.length === 0) throw new RangeError('passphrase must not be empty');
    this.newKdf = { ...DEFAULT_KDF, ...opts.kdf };
    if (!kdfInLimits(this.newKdf)) throw new RangeError(`kdf must have log2N ${KDF_LIMITS.log2N.join('..')}, r ${KDF_LIMITS.r.join('..')}, p ${KDF_LIMITS.p.join('..')}`);
    this.lockOpts = { ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}), ...(opts.unownedStaleMs !== undefined ? { unownedStaleMs: opts.unownedStaleMs } : {}) };
  }

  /** Opens a vault and, if it exists, checks the passphrase and integrity now rather than at first use. */
  static async open(path: string, opts: VaultOptions): Promise<FileVault> {
    const v = new FileVault(path, opts);
    await v.load();
    return v;
  }

  async exists(): Promise<boolean> {
    return (await this.readRaw()) !== undefined;
  }

  async get(deviceId: string, block?: string): Promise<EscrowRecord | undefined> {
    const id = normalizeDeviceId(deviceId);
    const b = block === undefined ? undefined : blockName(block);
    const loaded = await this.load();
    if (!loaded) return undefined;
    if (b !== undefined) return loaded.records.get(keyOf(id, b));
    const mine = [...loaded.records.values()].filter((r) => r.deviceId === id);
    if (mine.length > 1) throw new EscrowError(`device ${id} has ${mine.length} escrowed keys (${mine.map((r) => r.block).join(', ')}); name the block`, 'ESCROW_AMBIGUOUS');
    return mine[0];
  }

  async list(): Promise<EscrowEntry[]> {
    const loaded = await this.load();
    if (!loaded) return [];
    return [...loaded.records.values()].sort((a, b) => keyOf(a.deviceId, a.block).localeCompare(keyOf(b.deviceId, b.block))).map(entryOf);
  }

  async put(rec: EscrowRecord): Promise<void> {
    const incoming = checkRecord(rec);
    await this.update((records) => {
      const k = keyOf(incoming.deviceId, incoming.block);
      const merged = mergeRecord(records.get(k), { ...incoming, key: Uint8Array.from(incoming.key) }, equalBytes);
      records.set(k, merged);
    });
  }

  async setState(deviceId: string, block: string, state: EscrowState): Promise<void> {
    const id = normalizeDeviceId(deviceId);
    const b = blockName(block);
    if (stateRank(state) < 0) throw new RangeError(`state must be escrowed, burned or verified, got "${String(state)}"`);
    await this.update((records) => {
      const r = records.get(keyOf(id, b));
      if (!r) throw new EscrowError(`the escrow has no record for device ${id} ${b}`, 'ESCROW_MISSING');
      if (stateRank(state) > stateRank(r.state)) records.set(keyOf(id, b), { ...r, state, updatedAt: new Date().toISOString() });
    });
  }

  // ---- reading ----

  private async readRaw(): Promise<Buffer | undefined> {
    try {
      return await readFile(this.location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new EscrowError(`cannot read the vault ${this.location}: ${describeIoError(err)}`, 'ESCROW_IO', { cause: err });
    }
  }

  private async load(): Promise<Loaded | undefined> {
    const raw = await this.readRaw();
    if (raw === undefined) return undefined;
    const loaded = this.decode(raw);
    await this.checkGeneration(loaded.header);
    return loaded;
  }

  /**
   * Refuses a vault older than one already written here (ESCROW_ROLLBACK): a backup or a stale copy
   * put back would silently lose the keys escrowed since — keys that may be burned. The watermark
   * is MACed with the vault key, so only a holder of the passphrase can lower it; removing it is
   * the operator's deliberate "accept this older vault".
   */
  private async checkGeneration(h: Header): Promise<void> {
    const salt = toHex(h.salt);
    let mark = this.seen.get(salt) ?? 0;
    let text: string | undefined;
    try { text = await readFile(this.watermarkPath, 'utf8'); } catch { text = undefined; }
    if (text !== undefined) {
      try {
        const w = JSON.parse(text) as { generation?: unknown; salt?: unknown; mac?: unknown };
        if (w.salt === salt.slice(0, 16) && typeof w.generation === 'number' && typeof w.mac === 'string'
          && timingSafeEqual(Buffer.from(w.mac, 'hex'), this.watermarkMac(h, w.generation))) mark = Math.max(mark, w.generation);
      } catch { /* an unreadable watermark proves nothing */ }
    }
    if (h.generation < mark) {
      throw new EscrowError(`the vault ${this.location} is generation ${h.generation}, but generation ${mark} was already written here: ` +
        `an older copy was put back, and keys escrowed since would be lost; nothing was changed (if this is deliberate, remove ${this.watermarkPath})`, 'ESCROW_ROLLBACK');
    }
    this.seen.set(salt, Math.max(mark, h.generation));
  }

  private watermarkMac(h: Header, generation: number): Buffer {
    const mac = createHmac('sha256', this.keys(h.kdf, h.salt).enc).update(`efuse-attest vault generation\0${toHex(h.salt)}\0${generation}`).digest();
    return mac.subarray(0, 16);
  }

  private keys(kdf: KdfParams, salt: Uint8Array): { enc: Buffer; check: Buffer } {
    const id = `${kdf.log2N}/${kdf.r}/${kdf.p}/${toHex(salt)}`;
    let k = this.derived.get(id);
    if (!k) {
      const out = scryptSync(this.pass, salt, 64, { N: 2 ** kdf.log2N, r: kdf.r, p: kdf.p, maxmem: MAX_SCRYPT_MEM + 16 * 1024 * 1024 });
      const enc = Buffer.from(out.subarray(0, 32));
      const check = createHmac('sha256', out.subarray(32, 64)).update(CHECK_MESSAGE).digest().subarray(0, 16);
      out.fill(0);
      k = { enc, check: Buffer.from(check) };
      this.derived.set(id, k);
    }
    return k;
  }

  private decode(raw: Uint8Array): Loaded {
    const where = `the vault ${this.location}`;
    const magicOk = raw.length >= 8 && Buffer.from(raw.subarray(0, 8)).toString('latin1') === MAGIC;
    if (!magicOk) throw new EscrowError(`${this.location} is not an efuse-attest vault (no ${MAGIC} header)`, 'ESCROW_FORMAT');
    if (raw.length < HEADER_SIZE + TAG_SIZE) throw new EscrowError(`${where} is truncated (${raw.length} bytes): it was damaged; nothing was changed`, 'ESCROW_TAMPERED');
    if (raw[8] !== FORMAT) throw new EscrowError(`${where} has format version ${raw[8]}, which this efuse-attest does not read`, 'ESCROW_FORMAT');
    const kdf: KdfParams = { log2N: raw[10], r: raw[11], p: raw[12] };
    if (raw[9] !== KDF_SCRYPT || !kdfInLimits(kdf) || raw[13] !== 0 || raw[14] !== 0 || raw[15] !== 0) {
      throw new EscrowError(`${where} has an invalid header: it was altered or damaged; nothing was changed`, 'ESCROW_TAMPERED');
    }
    const header: Header = {
      kdf,
      salt: raw.slice(16, 48),
      check: raw.slice(48, 64),
      nonce: raw.slice(64, 76),
      generation: new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(76),
    };
    const k = this.keys(kdf, header.salt);
    if (!timingSafeEqual(k.check, header.check)) {
      throw new EscrowError(`wrong passphrase for the vault ${this.location} (or its header was altered); nothing was changed`, 'ESCROW_PASSPHRASE');
    }
    let plain: Buffer;
    try {
      const d = createDecipheriv('aes-256-gcm', k.enc, header.nonce, { authTagLength: TAG_SIZE });
      d.setAAD(raw.subarray(0, HEADER_SIZE));
      d.setAuthTag(raw.subarray(raw.length - TAG_SIZE));
      plain = Buffer.concat([d.update(raw.subarray(HEADER_SIZE, raw.length - TAG_SIZE)), d.final()]);
    } catch {
      throw new EscrowError(`${where} failed its integrity check: it was altered or damaged (the passphrase is right); nothing was changed — restore it from a backup`, 'ESCROW_TAMPERED');
    }
    try {
      return { header, records: this.parsePlain(plain) };
    } finally {
      plain.fill(0);
    }
  }

  private parsePlain(plain: Buffer): Map<string, EscrowRecord> {
    const bad = (why: string) => new EscrowError(`the vault ${this.location} decrypts but its content is invalid (${why})`, 'ESCROW_FORMAT');
    let doc: { format?: unknown; records?: unknown };
    try { doc = JSON.parse(plain.toString('utf8')) as typeof doc; } catch { throw bad('not JSON'); }
    if (doc.format !== FORMAT || !Array.isArray(doc.records)) throw bad('no records list');
    const records = new Map<string, EscrowRecord>();
    doc.records.forEach((r: unknown, i: number) => {
      const o = r as { key?: unknown };
      let rec: EscrowRecord;
      try {
        if (typeof o?.key !== 'string' || !/^[0-9a-f]{64}$/.test(o.key)) throw new RangeError(`record ${i} key is not 64 hex digits`);
        rec = checkRecord({ ...(r as object), key: fromHex(o.key) }, `record ${i}`);
      } catch (err) {
        throw bad((err as Error).message);
      }
      const k = keyOf(rec.deviceId, rec.block);
      if (records.has(k)) throw bad(`two records for ${rec.deviceId} ${rec.block}`);
      records.set(k, rec);
    });
    return records;
  }

  // ---- writing ----

  private encode(records: Map<string, EscrowRecord>, base: Header | undefined): { bytes: Buffer; header: Header } {
    let header: Header;
    if (base) {
      header = { ...base, nonce: randomBytes(12), generation: (base.generation + 1) >>> 0 };
    } else {
      const salt = randomBytes(32);
      header = { kdf: this.newKdf, salt, check: this.keys(this.newKdf, salt).check, nonce: randomBytes(12), generation: 1 };
    }
    const head = encodeHeader(header);
    const plain = encodeRecords(records);
    try {
      const c = createCipheriv('aes-256-gcm', this.keys(header.kdf, header.salt).enc, header.nonce, { authTagLength: TAG_SIZE });
      c.setAAD(head);
      const body = Buffer.concat([c.update(plain), c.final()]);
      return { bytes: Buffer.concat([head, body, c.getAuthTag()]), header };
    } finally {
      plain.fill(0);
    }
  }

  /** Read-merge-write under the lock; `mutate` may throw to abandon the write. */
  private async update(mutate: (records: Map<string, EscrowRecord>) => void): Promise<void> {
    const dir = dirname(this.location);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new EscrowError(`cannot create the vault directory ${dir}: ${describeIoError(err)}`, 'ESCROW_IO', { cause: err });
    }
    const lock = await FileLock.acquire(this.location + '.lock', `the vault ${this.location}`, this.lockOpts);
    try {
      // Temp files of writers killed mid-write (older generations): theirs, dead, regular files only.
      const name = basename(this.location);
      await cleanLeftovers(dir, { names: (t) => t === name || t === name + '.generation' });
      const current = await this.load();
      const records = current?.records ?? new Map<string, EscrowRecord>();
      const before = current ? encodeRecords(records) : undefined;
      mutate(records);
      if (before && before.equals(encodeRecords(records))) return; // nothing changed: no write
      const { bytes } = this.encode(records, current?.header);
      try {
        await writeFileAtomic(this.location, bytes, { mode: 0o600 });
      } catch (err) {
        throw new EscrowError(`cannot write the vault ${this.location}: ${describeIoError(err)}; the vault is unchanged`, 'ESCROW_IO', { cause: err });
      }
      await this.verifyOnDisk(bytes, records);
      const { header } = this.decode(bytes);
      this.seen.set(toHex(header.salt), header.generation);
      // After the vault: a crash in between leaves the mark lower, which is never refused.
      const mark = JSON.stringify({ generation: header.generation, salt: toHex(header.salt).slice(0, 16), mac: this.watermarkMac(header, header.generation).toString('hex') });
      await writeFileAtomic(this.watermarkPath, mark + '\n', { mode: 0o600 }).catch(() => {});
    } finally {
      await lock.release();
    }
  }

  /** What is on disk now must be exactly what was written, and must decrypt to the same records. */
  private async verifyOnDisk(written: Buffer, records: Map<string, EscrowRecord>): Promise<void> {
    const fail = (why: string) => new EscrowError(
      `the vault ${this.location} was written but does not read back (${why}); do not burn until this is resolved`, 'ESCROW_READBACK');
    const raw = await this.readRaw().catch((err: unknown) => { throw fail(describeIoError(err)); });
    if (!raw || !raw.equals(written)) throw fail('its bytes differ from what was written');
    let back: Loaded;
    try { back = this.decode(raw); } catch (err) { throw fail((err as Error).message); }
    if (!encodeRecords(back.records).equals(encodeRecords(records))) throw fail('its records differ');
  }
}
