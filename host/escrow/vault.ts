// The default escrow store: one encrypted file (docs/provisioning.md §3 has the format byte by byte).
// Format 2 (written now): a random file key encrypts the whole content with AES-256-GCM, and every
// record's device key is sealed again under its own data key (envelope.ts); the file key and the
// data keys are wrapped by a key-encryption key — stretched from the passphrase with scrypt, or an
// AES key inside a PKCS#11 token. Rotating the KEK re-wraps those keys and leaves every device key's
// ciphertext as it was. Format 1 (the whole file under the scrypt key, keys in clear inside) is still
// read, and upgraded at the next write. The header (and the wrapped file key) are the GCM additional
// data, so no byte of the file can change unnoticed. Writes are read-merge-write under an exclusive
// lock file, replace the file atomically and are read back and decrypted before they count as done;
// an older generation than one already written here is refused. A failed open or write leaves the
// file as it was.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { equalBytes, toHex } from '../../protocol/index.js';
import { describeIoError, writeFileAtomic } from '../atomic.js';
import { EscrowError } from '../errors.js';
import { parseDeviceId } from '../../protocol/deviceid.js';
import { type Kek, PassphraseKek, recordAad, rewrap, type Sealed, seal } from './envelope.js';
import { cleanLeftovers } from './leftovers.js';
import {
  canonical, CHECK_MESSAGE, DEFAULT_KDF, encodeHeader, FILE_KEY_AAD, FORMAT, FORMAT_1, type Header, HEADER_SIZE, KDF_LIMITS, kdfInLimits, type KdfParams,
  KEK_PKCS11, KEK_SCRYPT, kekCheck, keyOf, MAX_SCRYPT_MEM, parseRecords, readHeader, sortedRecords, TAG_SIZE, WRAPPED_KEY_LENGTH,
} from './vault-format.js';
import { FileLock, type LockOptions } from './lock.js';
import { checkRecord, entryOf, type EscrowEntry, type EscrowRecord, type EscrowState, type EscrowStore, mergeRecord, stateRank } from './store.js';
import { blockName } from '../../protocol/keyblock.js';

export interface VaultOptions extends LockOptions {
  /** The passphrase (scrypt KEK). Not needed when `kek` is given. */
  passphrase?: string | Uint8Array;
  /** A KEK held elsewhere (a PKCS#11 token, pkcs11.ts) instead of the passphrase. */
  kek?: Kek;
  /** scrypt cost of a NEW vault; an existing vault keeps the parameters in its header. */
  kdf?: Partial<KdfParams>;
}

interface Loaded {
  header: Header;
  records: Map<string, EscrowRecord>;
  /** Format 2: the file key, and each record's sealed key as stored (kept as is when unchanged). */
  fileKey?: Buffer;
  sealed: Map<string, Sealed>;
}

export { DEFAULT_KDF, FORMAT, FORMAT_1, HEADER_SIZE, KDF_SCRYPT, type KdfParams, KEK_PKCS11, KEK_SCRYPT, MAGIC, TAG_SIZE } from './vault-format.js';

/** The vault file's bytes, or undefined when there is none. */
async function readVaultFile(location: string): Promise<Buffer | undefined> {
  try {
    return await readFile(location);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EscrowError(`cannot read the vault ${location}: ${describeIoError(err)}`, 'ESCROW_IO', { cause: err });
  }
}

export class FileVault implements EscrowStore {
  readonly location: string;
  private pass: Buffer | undefined;
  private kek: Kek | undefined;
  private readonly newKdf: KdfParams;
  private readonly lockOpts: LockOptions;
  /** scrypt output per (parameters, salt): the expensive step runs once per vault per process. */
  private readonly derived = new Map<string, { enc: Buffer; check: Buffer }>();
  private readonly passKeks = new Map<string, PassphraseKek>();
  /** The highest generation this instance has seen: an older file is never accepted silently. */
  private seen = 0;

  constructor(path: string, opts: VaultOptions) {
    if (typeof path !== 'string' || path === '') throw new TypeError('vault path must be a non-empty string');
    this.location = resolve(path);
    const p = opts.passphrase;
    if (p === undefined && opts.kek === undefined) throw new TypeError('opts.passphrase must be a string or a Uint8Array (or give opts.kek)');
    if (typeof p === 'string') this.pass = Buffer.from(p.normalize('NFC'), 'utf8');
    else if (p instanceof Uint8Array) this.pass = Buffer.from(p);
    else if (p !== undefined) throw new TypeError('passphrase must be a string or a Uint8Array');
    if (this.pass?.length === 0) throw new RangeError('passphrase must not be empty');
    this.kek = opts.kek;
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

  /** The generation watermark beside the vault (§3.3): the highest generation written here. */
  get watermarkPath(): string { return this.location + '.generation'; }

  async exists(): Promise<boolean> {
    return (await this.readRaw()) !== undefined;
  }

  /** Whether there is a vault at `path` yet, asked without a passphrase (nothing is decrypted). */
  static async exists(path: string): Promise<boolean> {
    if (typeof path !== 'string' || path === '') throw new TypeError('vault path must be a non-empty string');
    return (await readVaultFile(resolve(path))) !== undefined;
  }

  /** The format and KEK of the file on disk (undefined: no vault yet). */
  async describe(): Promise<{ format: number; kek: string; generation: number } | undefined> {
    const loaded = await this.load();
    if (!loaded) return undefined;
    const h = loaded.header;
    return { format: h.format, kek: h.kekKind === KEK_PKCS11 ? (this.kek?.id ?? 'pkcs11') : 'scrypt', generation: h.generation };
  }

  /** Each record's envelope as stored (KEK id and the device key's ciphertext; no secrets). */
  async envelopes(): Promise<{ deviceId: string; block: string; kek: string; ct: Uint8Array }[]> {
    const loaded = await this.load();
    if (!loaded) return [];
    return sortedRecords(loaded.records).flatMap((r) => {
      const s = loaded.sealed.get(keyOf(r.deviceId, r.block));
      return s ? [{ deviceId: r.deviceId, block: r.block, kek: s.kek, ct: s.ct }] : [];
    });
  }

  async get(deviceId: string, block?: string): Promise<EscrowRecord | undefined> {
    const id = parseDeviceId(deviceId);
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
    return sortedRecords(loaded.records).map(entryOf);
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
    const id = parseDeviceId(deviceId);
    const b = blockName(block);
    if (stateRank(state) < 0) throw new RangeError(`state must be escrowed, burned or verified, got "${String(state)}"`);
    await this.update((records) => {
      const r = records.get(keyOf(id, b));
      if (!r) throw new EscrowError(`the escrow has no record for device ${id} ${b}`, 'ESCROW_MISSING');
      if (stateRank(state) > stateRank(r.state)) records.set(keyOf(id, b), { ...r, state, updatedAt: new Date().toISOString() });
    });
  }

  /**
   * Re-wraps the file key and every data key under a new KEK (`to`: a PKCS#11 KEK, or a passphrase
   * for a new scrypt KEK). The device keys' ciphertexts are not touched. Returns how many records.
   */
  async rotateKek(to: { kek: Kek } | { passphrase: string | Uint8Array }): Promise<number> {
    let n = 0;
    const was = { kek: this.kek, pass: this.pass };
    try {
      await this.rotate(to, () => n++);
    } catch (err) {
      this.kek = was.kek;
      this.pass = was.pass;
      throw err;
    }
    return n;
  }

  private async rotate(to: { kek: Kek } | { passphrase: string | Uint8Array }, count: () => void): Promise<void> {
    await this.update(() => {}, async (loaded) => {
      const from = await this.kekFor(loaded.header);
      const next = 'kek' in to
        ? { kek: to.kek, kind: KEK_PKCS11, kdf: { log2N: 0, r: 0, p: 0 }, salt: randomBytes(32), check: kekCheck(to.kek.id) }
        : (() => {
          const k = PassphraseKek.derive(to.passphrase, undefined, this.newKdf);
          this.passKeks.set(toHex(k.info.salt), k);
          return { kek: k as Kek, kind: KEK_SCRYPT, kdf: k.info.kdf, salt: k.info.salt, check: k.info.check };
        })();
      for (const [id, r] of loaded.records) {
        const aad = recordAad(r.deviceId, r.block, r.chip);
        const s = loaded.sealed.get(id) ?? await seal(from, r.key, aad);
        loaded.sealed.set(id, await rewrap(from, next.kek, s, aad));
        count();
      }
      loaded.header = { ...loaded.header, format: FORMAT, kekKind: next.kind, kdf: next.kdf, salt: next.salt, check: next.check };
      // From here on this instance opens the vault with the new KEK (read-back included).
      if ('kek' in to) this.kek = to.kek;
      else this.pass = typeof to.passphrase === 'string' ? Buffer.from(to.passphrase.normalize('NFC'), 'utf8') : Buffer.from(to.passphrase);
      return next.kek;
    });
  }

  // ---- reading ----

  private readRaw(): Promise<Buffer | undefined> {
    return readVaultFile(this.location);
  }

  private async load(): Promise<Loaded | undefined> {
    const raw = await this.readRaw();
    if (raw === undefined) return undefined;
    const loaded = await this.decode(raw);
    await this.checkGeneration(loaded);
    return loaded;
  }

  /** Format 1: the scrypt output is the file key. */
  private keys(kdf: KdfParams, salt: Uint8Array): { enc: Buffer; check: Buffer } {
    const id = `${kdf.log2N}/${kdf.r}/${kdf.p}/${toHex(salt)}`;
    let k = this.derived.get(id);
    if (!k) {
      const out = scryptSync(this.needPass(), salt, 64, { N: 2 ** kdf.log2N, r: kdf.r, p: kdf.p, maxmem: MAX_SCRYPT_MEM + 16 * 1024 * 1024 });
      const enc = Buffer.from(out.subarray(0, 32));
      const check = createHmac('sha256', out.subarray(32, 64)).update(CHECK_MESSAGE).digest().subarray(0, 16);
      out.fill(0);
      k = { enc, check: Buffer.from(check) };
      this.derived.set(id, k);
    }
    return k;
  }

  private needPass(): Buffer {
    if (!this.pass) throw new EscrowError(`the vault ${this.location} is wrapped by a passphrase; give the passphrase, not --kek`, 'ESCROW_KEK');
    return this.pass;
  }

  /** Format 2: the KEK named by the header (the passphrase's, checked; or the token's, matched). */
  private async kekFor(h: Header): Promise<Kek> {
    if (h.kekKind === KEK_PKCS11) {
      if (!this.kek) throw new EscrowError(`the vault ${this.location} is wrapped by a key in a PKCS#11 token; give --kek pkcs11:…`, 'ESCROW_KEK');
      if (!timingSafeEqual(kekCheck(this.kek.id), Buffer.from(h.check))) {
        throw new EscrowError(`the vault ${this.location} is wrapped by another key-encryption key than ${this.kek.id}; nothing was changed`, 'ESCROW_KEK');
      }
      return this.kek;
    }
    const salt = toHex(h.salt);
    let k = this.passKeks.get(salt);
    if (!k) {
      try {
        k = PassphraseKek.derive(this.needPass(), { kdf: h.kdf, salt: h.salt, check: h.check });
      } catch (err) {
        if ((err as EscrowError).code !== 'ESCROW_PASSPHRASE') throw err;
        throw new EscrowError(`wrong passphrase for the vault ${this.location} (or its header was altered); nothing was changed`, 'ESCROW_PASSPHRASE');
      }
      this.passKeks.set(salt, k);
    }
    return k;
  }

  private async decode(raw: Uint8Array): Promise<Loaded> {
    const where = `the vault ${this.location}`;
    const header = readHeader(raw, this.location);
    const format = header.format;
    const kdf = header.kdf;
    const tampered = () => new EscrowError(`${where} failed its integrity check: it was altered or damaged (the ${header.kekKind === KEK_PKCS11 && format === FORMAT ? 'token key' : 'passphrase'} is right); nothing was changed — restore it from a backup`, 'ESCROW_TAMPERED');
    let fileKey: Buffer;
    let bodyStart = HEADER_SIZE;
    let kek: Kek | undefined;
    if (format === FORMAT_1) {
      const k = this.keys(kdf, header.salt);
      if (!timingSafeEqual(k.check, header.check)) {
        throw new EscrowError(`wrong passphrase for the vault ${this.location} (or its header was altered); nothing was changed`, 'ESCROW_PASSPHRASE');
      }
      fileKey = k.enc;
    } else {
      kek = await this.kekFor(header);
      if (raw.length < HEADER_SIZE + 2 + TAG_SIZE) throw tampered();
      const w = (raw[HEADER_SIZE]! << 8) | raw[HEADER_SIZE + 1]!;
      bodyStart = HEADER_SIZE + 2 + w;
      if (w < WRAPPED_KEY_LENGTH[0] || raw.length < bodyStart + TAG_SIZE) throw tampered();
      try {
        fileKey = Buffer.from(await kek.unwrap(raw.subarray(HEADER_SIZE + 2, bodyStart), FILE_KEY_AAD(raw)));
      } catch {
        throw tampered();
      }
    }
    let plain: Buffer;
    try {
      const d = createDecipheriv('aes-256-gcm', fileKey, header.nonce, { authTagLength: TAG_SIZE });
      d.setAAD(raw.subarray(0, bodyStart));
      d.setAuthTag(raw.subarray(raw.length - TAG_SIZE));
      plain = Buffer.concat([d.update(raw.subarray(bodyStart, raw.length - TAG_SIZE)), d.final()]);
    } catch {
      throw tampered();
    }
    try {
      const { records, sealed } = await parseRecords(plain, format, kek, this.location);
      return { header, records, sealed, ...(format === FORMAT ? { fileKey } : {}) };
    } finally {
      plain.fill(0);
    }
  }

  /**
   * Refuses a vault older than one already written here (ESCROW_ROLLBACK): a backup or a stale copy
   * put back would silently lose the keys escrowed since — keys that may be burned. The generation
   * carries on across format upgrades and KEK rotations, so the watermark needs no key: a higher
   * mark is never trusted to accept anything, only to refuse; removing it is the operator's
   * deliberate "accept this older vault".
   */
  private async checkGeneration(loaded: Loaded): Promise<void> {
    const h = loaded.header;
    let mark = this.seen;
    try {
      const w = JSON.parse(await readFile(this.watermarkPath, 'utf8')) as { generation?: unknown };
      if (typeof w.generation === 'number' && Number.isSafeInteger(w.generation)) mark = Math.max(mark, w.generation);
    } catch { /* none, or unreadable: proves nothing */ }
    if (h.generation < mark) {
      throw new EscrowError(`the vault ${this.location} is generation ${h.generation}, but generation ${mark} was already written here: ` +
        `an older copy was put back, and keys escrowed since would be lost; nothing was changed (if this is deliberate, remove ${this.watermarkPath})`, 'ESCROW_ROLLBACK');
    }
    this.seen = Math.max(mark, h.generation);
  }

  // ---- writing ----

  /** A new vault's header and KEK: the token's when one was given, else the passphrase's. */
  private freshHeader(): { header: Header; kek: Kek } {
    const nonce = randomBytes(12);
    if (this.kek) {
      return { header: { format: FORMAT, kekKind: KEK_PKCS11, kdf: { log2N: 0, r: 0, p: 0 }, salt: randomBytes(32), check: kekCheck(this.kek.id), nonce, generation: 0 }, kek: this.kek };
    }
    const k = PassphraseKek.derive(this.needPass(), undefined, this.newKdf);
    this.passKeks.set(toHex(k.info.salt), k);
    return { header: { format: FORMAT, kekKind: KEK_SCRYPT, kdf: k.info.kdf, salt: k.info.salt, check: k.info.check, nonce, generation: 0 }, kek: k };
  }

  private async encode(loaded: Loaded, kek: Kek): Promise<{ bytes: Buffer; header: Header }> {
    const header: Header = { ...loaded.header, format: FORMAT, nonce: randomBytes(12), generation: (loaded.header.generation + 1) >>> 0 };
    const head = encodeHeader(header);
    const fileKey = loaded.fileKey ?? randomBytes(32);
    const wrapped = Buffer.from(await kek.wrap(fileKey, FILE_KEY_AAD(head)));
    const [min, max] = WRAPPED_KEY_LENGTH;
    if (wrapped.length < min || wrapped.length > max) {
      // Refused before anything is written: such a file would not read back, and the old one would be gone.
      throw new EscrowError(`the key-encryption key ${kek.id} wrapped the vault's file key into ${wrapped.length} bytes, outside ${min}..${max}; nothing was written`, 'ESCROW_KEK');
    }
    const lenBytes = Buffer.of(wrapped.length >> 8, wrapped.length & 0xff);
    const list = [];
    for (const r of sortedRecords(loaded.records)) {
      const id = keyOf(r.deviceId, r.block);
      // A record whose key was sealed before keeps its sealed form: its ciphertext never changes.
      let s = loaded.sealed.get(id);
      if (!s || s.kek !== kek.id) s = await seal(kek, r.key, recordAad(r.deviceId, r.block, r.chip));
      loaded.sealed.set(id, s);
      const { key: _key, ...fields } = r;
      list.push({ ...fields, sealed: { kek: s.kek, wrappedKey: toHex(s.wrappedKey), ct: toHex(s.ct) } });
    }
    const plain = Buffer.from(JSON.stringify({ format: FORMAT, records: list }), 'utf8');
    try {
      const aad = Buffer.concat([head, lenBytes, wrapped]);
      const c = createCipheriv('aes-256-gcm', fileKey, header.nonce, { authTagLength: TAG_SIZE });
      c.setAAD(aad);
      const body = Buffer.concat([c.update(plain), c.final()]);
      return { bytes: Buffer.concat([aad, body, c.getAuthTag()]), header };
    } finally {
      plain.fill(0);
    }
  }

  /**
   * Read-merge-write under the lock; `mutate` may throw to abandon the write. `rekey` (KEK rotation)
   * may change the header and sealed forms and returns the KEK to write with.
   */
  private async update(mutate: (records: Map<string, EscrowRecord>) => void, rekey?: (loaded: Loaded) => Promise<Kek>): Promise<void> {
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
      let loaded = await this.load();
      let kek: Kek;
      if (loaded && loaded.header.format === FORMAT_1) {
        // Upgrade at this write: format 2 under the same passphrase (a new salt and scrypt run).
        const fresh = this.freshHeader();
        loaded = { ...loaded, header: { ...fresh.header, generation: loaded.header.generation } };
        kek = fresh.kek;
      } else if (loaded) {
        kek = await this.kekFor(loaded.header);
      } else {
        const fresh = this.freshHeader();
        loaded = { header: fresh.header, records: new Map(), sealed: new Map() };
        kek = fresh.kek;
      }
      const existed = loaded.header.generation > 0 && (await this.exists());
      const before = canonical(loaded.records);
      const wasFormat1 = !loaded.fileKey && existed;
      mutate(loaded.records);
      if (rekey) kek = await rekey(loaded);
      else if (existed && !wasFormat1 && before.equals(canonical(loaded.records))) return; // nothing changed: no write
      const { bytes } = await this.encode(loaded, kek);
      try {
        await writeFileAtomic(this.location, bytes, { mode: 0o600 });
      } catch (err) {
        throw new EscrowError(`cannot write the vault ${this.location}: ${describeIoError(err)}; the vault is unchanged`, 'ESCROW_IO', { cause: err });
      }
      const back = await this.verifyOnDisk(bytes, loaded.records);
      this.seen = Math.max(this.seen, back.header.generation);
      // After the vault: a crash in between leaves the mark lower, which is never refused.
      await writeFileAtomic(this.watermarkPath, JSON.stringify({ generation: back.header.generation }) + '\n', { mode: 0o600 }).catch(() => {});
    } finally {
      await lock.release();
    }
  }

  /** What is on disk now must be exactly what was written, and must decrypt to the same records. */
  private async verifyOnDisk(written: Buffer, records: Map<string, EscrowRecord>): Promise<Loaded> {
    const fail = (why: string) => new EscrowError(
      `the vault ${this.location} was written but does not read back (${why}); do not burn until this is resolved`, 'ESCROW_READBACK');
    // readRaw's ESCROW_IO error carries the file system's error as its cause: name that one.
    const raw = await this.readRaw().catch((err: unknown) => { throw fail(describeIoError((err as Error).cause ?? err)); });
    if (!raw || !raw.equals(written)) throw fail('its bytes differ from what was written');
    let back: Loaded;
    try { back = await this.decode(raw); } catch (err) { throw fail((err as Error).message); }
    if (!canonical(back.records).equals(canonical(records))) throw fail('its records differ');
    return back;
  }
}
