// The PostgreSQL escrow store (docs/provisioning.md §3.6): the same contract as the file vault, for
// several stations at once. (device, block) is the primary key, so two stations escrowing keys for
// one device cannot both succeed — the second gets ESCROW_CONFLICT before its burn. Keys are stored
// under envelope encryption (envelope.ts), never in clear. Every change is one transaction that also
// appends a hash-chained audit row; triggers refuse an update that changes a stored key or moves a
// state backwards, and any delete, so the database itself keeps the promises, not only this code.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import pg from 'pg';
import { equalBytes } from '../../protocol/index.js';
import { EscrowError } from '../errors.js';
import { parseDeviceId } from '../../protocol/deviceid.js';
import { auditRowHash, GENESIS, LOCK_AUDIT, LOCK_SCHEMA, type PgAuditRow, SCHEMA } from './pg-schema.js';
import { type Kek, PassphraseKek, type PassphraseKekInfo, recordAad, rewrap, type Sealed, seal, unseal } from './envelope.js';
import { checkRecord, entryOf, type EscrowEntry, type EscrowRecord, type EscrowState, type EscrowStore, mergeRecord, stateRank, STATES } from './store.js';
import { blockName, KEY_SIZE } from '../../protocol/keyblock.js';

export interface PgStoreOptions {
  /** The KEK: a PKCS#11 one (pkcs11.ts), or omitted to derive one from `passphrase`. */
  kek?: Kek;
  passphrase?: string | Uint8Array;
  /** Names this station in the audit (default host:pid). */
  station?: string;
  /** scrypt cost of a NEW database's passphrase KEK (default log2N 15, r 8, p 1). */
  kdf?: { log2N: number; r: number; p: number };
  /** false: create nothing (dry runs); a database without the escrow tables reads as empty. */
  create?: boolean;
  /** A NEW escrow's passphrase must have at least this many characters (the CLI asks 8). */
  newPassphraseMin?: number;
  /** How long a claim on a device lasts without its station (default 10 min); a dead station on this host lapses at once. */
  claimTtlMs?: number;
}

interface Row {
  device_id: string; block: string; chip: string; purpose: string; state: EscrowState; kek: string;
  wrapped_key: Buffer; key_ct: Buffer; created_at: string; updated_at: string; derivation: EscrowRecord['derivation'] | null;
}

/** postgres://user@host:port/db — without a password, for messages and reports. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

function dbError(err: unknown, what: string, location: string): EscrowError {
  if (err instanceof EscrowError) return err;
  const e = err as { code?: string; message?: string };
  const detail = typeof e?.message === 'string' ? e.message : String(err);
  return new EscrowError(`cannot ${what} in the escrow database ${location}: ${detail}; nothing was changed`, 'ESCROW_IO', { cause: err });
}

export { auditRowHash, GENESIS, type PgAuditRow, verifyAuditRows } from './pg-schema.js';

export class PgStore implements EscrowStore {
  readonly location: string;
  readonly station: string;
  private kek!: Kek;
  private readonly pool: pg.Pool;
  /** Opened with create: false on a database that has no escrow yet. */
  private empty = false;
  private claimTtlMs = 600_000;

  private constructor(url: string, station: string | undefined) {
    this.location = redactUrl(url);
    this.station = station ?? `${hostname()}:${process.pid}`;
    this.pool = new pg.Pool({ connectionString: url, max: 4, allowExitOnIdle: true, connectionTimeoutMillis: 10_000 });
    // An idle client's connection dropped by the server: surfaced at its next use, not as a crash.
    this.pool.on('error', () => {});
  }

  /** Connects, creates the schema if needed, and checks the KEK (a wrong passphrase fails here). */
  static async open(url: string, opts: PgStoreOptions): Promise<PgStore> {
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) throw new TypeError('url must be a postgres:// connection string');
    if (!opts.kek && opts.passphrase === undefined) throw new TypeError('opts must give a kek or a passphrase');
    const s = new PgStore(url, opts.station);
    if (opts.claimTtlMs !== undefined) {
      if (!Number.isInteger(opts.claimTtlMs) || opts.claimTtlMs < 1) throw new RangeError('opts.claimTtlMs must be a positive whole number of milliseconds');
      s.claimTtlMs = opts.claimTtlMs;
    }
    try {
      await s.tx(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_SCHEMA]);
        if (opts.create === false) {
          const t = await c.query<{ t: string | null }>("SELECT to_regclass('efa_kek')::text AS t");
          if (t.rows[0]?.t === null) { s.empty = true; return; }
        } else {
          await c.query(SCHEMA);
        }
        const { rows } = await c.query<{ id: string; kind: string; info: { kdf: PassphraseKekInfo['kdf']; salt: string; check: string } }>(
          'SELECT id, kind, info FROM efa_kek WHERE active');
        const active = rows[0];
        if (opts.kek) {
          s.kek = opts.kek;
          if (!active && opts.create === false) s.empty = true;
          else if (!active) await c.query('INSERT INTO efa_kek (id, kind, info, active) VALUES ($1, $2, $3, true)', [s.kek.id, 'external', {}]);
          else if (active.id !== s.kek.id) throw new EscrowError(`the escrow ${s.location} is wrapped by key-encryption key ${active.id}, not ${s.kek.id}; nothing was changed`, 'ESCROW_KEK');
        } else if (active) {
          if (active.kind !== 'scrypt') throw new EscrowError(`the escrow ${s.location} is wrapped by key-encryption key ${active.id} (${active.kind}), not by a passphrase: give --kek`, 'ESCROW_KEK');
          s.kek = PassphraseKek.derive(opts.passphrase!, {
            kdf: active.info.kdf, salt: Buffer.from(active.info.salt, 'hex'), check: Buffer.from(active.info.check, 'hex'),
          });
        } else if (opts.create === false) {
          s.empty = true;
        } else {
          const min = opts.newPassphraseMin ?? 1;
          const len = typeof opts.passphrase === 'string' ? [...opts.passphrase].length : opts.passphrase!.length;
          if (len < min) throw new RangeError(`a new escrow needs a passphrase of at least ${min} characters; nothing was created`);
          const k = PassphraseKek.derive(opts.passphrase!, undefined, opts.kdf);
          await c.query('INSERT INTO efa_kek (id, kind, info, active) VALUES ($1, $2, $3, true)', [k.id, 'scrypt', kekInfoJson(k.info)]);
          s.kek = k;
        }
      });
    } catch (err) {
      await s.pool.end().catch(() => {});
      if (err instanceof RangeError || err instanceof TypeError) throw err;
      throw dbError(err, 'open the escrow', s.location);
    }
    return s;
  }

  get kekId(): string | undefined { return this.empty ? undefined : this.kek.id; }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }

  async get(deviceId: string, block?: string): Promise<EscrowRecord | undefined> {
    const id = parseDeviceId(deviceId);
    const b = block === undefined ? undefined : blockName(block);
    if (this.empty) return undefined;
    let rows: Row[];
    try {
      rows = (b === undefined
        ? await this.pool.query<Row>('SELECT * FROM efa_escrow WHERE device_id = $1 ORDER BY block', [id])
        : await this.pool.query<Row>('SELECT * FROM efa_escrow WHERE device_id = $1 AND block = $2', [id, b])).rows;
    } catch (err) {
      throw dbError(err, 'read', this.location);
    }
    if (rows.length > 1) throw new EscrowError(`device ${id} has ${rows.length} escrowed keys (${rows.map((r) => r.block).join(', ')}); name the block`, 'ESCROW_AMBIGUOUS');
    return rows[0] ? this.toRecord(rows[0]) : undefined;
  }

  async list(): Promise<EscrowEntry[]> {
    if (this.empty) return [];
    try {
      const { rows } = await this.pool.query<Row>('SELECT * FROM efa_escrow ORDER BY device_id, block');
      return rows.map((r) => entryOf({ ...this.fields(r), key: new Uint8Array(KEY_SIZE) }));
    } catch (err) {
      throw dbError(err, 'list', this.location);
    }
  }

  async put(rec: EscrowRecord): Promise<void> {
    const incoming = checkRecord(rec);
    if (this.empty) throw new TypeError('this escrow was opened read-only (create: false)');
    const aad = recordAad(incoming.deviceId, incoming.block, incoming.chip);
    const sealed = await seal(this.kek, incoming.key, aad);
    let conflict: EscrowError | undefined;
    try {
      await this.tx(async (c) => {
        const ins = await c.query(
          `INSERT INTO efa_escrow (device_id, block, chip, purpose, state, kek, wrapped_key, key_ct, created_at, updated_at, derivation)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (device_id, block) DO NOTHING`,
          [incoming.deviceId, incoming.block, incoming.chip, incoming.purpose, incoming.state, sealed.kek, Buffer.from(sealed.wrappedKey),
            Buffer.from(sealed.ct), incoming.createdAt, incoming.updatedAt, incoming.derivation ?? null]);
        if (ins.rowCount === 1) {
          await this.audit(c, incoming.deviceId, incoming.block, 'escrow', null, incoming.state);
          return;
        }
        const { rows } = await c.query<Row>('SELECT * FROM efa_escrow WHERE device_id = $1 AND block = $2 FOR UPDATE', [incoming.deviceId, incoming.block]);
        const existing = await this.toRecord(rows[0]);
        let merged: EscrowRecord;
        try {
          merged = mergeRecord(existing, incoming, equalBytes);
        } catch (err) {
          conflict = err as EscrowError;
          throw err;
        } finally {
          existing.key.fill(0);
        }
        if (merged.state !== existing.state) await this.advance(c, existing, merged.state, merged.updatedAt);
        if (merged.derivation && !existing.derivation) {
          // An incoming derivation fills the gap of a record stored without one (the stored one wins).
          await c.query('UPDATE efa_escrow SET derivation = $3 WHERE device_id = $1 AND block = $2', [existing.deviceId, existing.block, merged.derivation]);
          await this.audit(c, existing.deviceId, existing.block, 'derivation', merged.state, merged.state, `master ${merged.derivation.masterId}`);
        }
      });
    } catch (err) {
      if (conflict) {
        // Rolled back; the refusal itself is worth a line in the audit trail.
        await this.tx((c) => this.audit(c, incoming.deviceId, incoming.block, 'refuse-conflict', null, null, conflict!.message)).catch(() => {});
        throw conflict;
      }
      throw dbError(err, 'escrow a key', this.location);
    }
    await this.readBack(incoming);
  }

  async setState(deviceId: string, block: string, state: EscrowState): Promise<void> {
    const id = parseDeviceId(deviceId);
    const b = blockName(block);
    if (stateRank(state) < 0) throw new RangeError(`state must be ${STATES.join(', ')}, got "${String(state)}"`);
    try {
      await this.tx(async (c) => {
        const { rows } = await c.query<Row>('SELECT * FROM efa_escrow WHERE device_id = $1 AND block = $2 FOR UPDATE', [id, b]);
        if (!rows[0]) throw new EscrowError(`the escrow has no record for device ${id} ${b}`, 'ESCROW_MISSING');
        if (stateRank(state) > stateRank(rows[0].state)) await this.advance(c, this.fields(rows[0]), state, new Date().toISOString());
      });
    } catch (err) {
      throw dbError(err, 'change a record', this.location);
    }
  }

  async claim(deviceId: string, block: string): Promise<void> {
    const id = parseDeviceId(deviceId);
    const b = blockName(block);
    if (this.empty) return;
    const me = { station: this.station, host: hostname(), pid: process.pid, boot: bootId() };
    let busy: EscrowError | undefined;
    try {
      await this.tx(async (c) => {
        const ins = await c.query(
          `INSERT INTO efa_claim (device_id, block, station, host, pid, boot, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 millisecond') ON CONFLICT (device_id, block) DO NOTHING`,
          [id, b, me.station, me.host, me.pid, me.boot, this.claimTtlMs]);
        if (ins.rowCount === 1) return;
        const { rows } = await c.query<{ station: string; host: string; pid: number; boot: string; expires_at: Date; lapsed: boolean }>(
          'SELECT *, expires_at < now() AS lapsed FROM efa_claim WHERE device_id = $1 AND block = $2 FOR UPDATE', [id, b]);
        const o = rows[0]!;
        const mine = o.host === me.host && o.pid === me.pid && o.boot === me.boot;
        const gone = o.host === me.host && (o.boot !== me.boot || !alive(o.pid));
        if (!mine && !o.lapsed && !gone) {
          busy = new EscrowError(`device ${id} ${b} is being provisioned by station ${o.station} (claim until ${o.expires_at.toISOString()}); ` +
            'not touching it — run again when that station is done', 'ESCROW_BUSY');
          throw busy;
        }
        await c.query(`UPDATE efa_claim SET station = $3, host = $4, pid = $5, boot = $6, expires_at = now() + $7 * interval '1 millisecond'
          WHERE device_id = $1 AND block = $2`, [id, b, me.station, me.host, me.pid, me.boot, this.claimTtlMs]);
        if (!mine) await this.audit(c, id, b, 'claim', null, null, `taken over from station ${o.station} (${o.lapsed ? 'its claim lapsed' : 'its process is gone'})`);
      });
    } catch (err) {
      throw busy ?? dbError(err, 'claim a device', this.location);
    }
  }

  async release(deviceId: string, block: string): Promise<void> {
    const id = parseDeviceId(deviceId);
    const b = blockName(block);
    if (this.empty) return;
    try {
      await this.pool.query('DELETE FROM efa_claim WHERE device_id = $1 AND block = $2 AND host = $3 AND pid = $4', [id, b, hostname(), process.pid]);
    } catch (err) {
      throw dbError(err, 'release a device', this.location);
    }
  }

  /** Re-wraps every data key under `to` in one transaction; device-key ciphertexts stay as they are. */
  async rotateKek(to: Kek, info: { kind: string; json: unknown }): Promise<number> {
    let n = 0;
    try {
      await this.tx(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_SCHEMA]);
        const { rows } = await c.query<Row>('SELECT * FROM efa_escrow ORDER BY device_id, block FOR UPDATE');
        await c.query('INSERT INTO efa_kek (id, kind, info, active) VALUES ($1, $2, $3, false) ON CONFLICT (id) DO NOTHING', [to.id, info.kind, info.json]);
        for (const r of rows) {
          const s = await rewrap(this.kek, to, this.sealedOf(r), recordAad(r.device_id, r.block, r.chip));
          await c.query('UPDATE efa_escrow SET kek = $3, wrapped_key = $4 WHERE device_id = $1 AND block = $2', [r.device_id, r.block, s.kek, Buffer.from(s.wrappedKey)]);
          await this.audit(c, r.device_id, r.block, 'rewrap', r.state, r.state, `${this.kek.id} -> ${to.id}`);
          n++;
        }
        await c.query('UPDATE efa_kek SET active = (id = $1)', [to.id]);
      });
    } catch (err) {
      throw dbError(err, 'rotate the key-encryption key', this.location);
    }
    this.kek = to;
    return n;
  }

  /** Each record's envelope as stored (KEK id and the device key's ciphertext; no secrets). */
  async envelopes(): Promise<{ deviceId: string; block: string; kek: string; ct: Uint8Array }[]> {
    if (this.empty) return [];
    try {
      const { rows } = await this.pool.query<Row>('SELECT * FROM efa_escrow ORDER BY device_id, block');
      return rows.map((r) => ({ deviceId: r.device_id, block: r.block, kek: r.kek, ct: new Uint8Array(r.key_ct) }));
    } catch (err) {
      throw dbError(err, 'list', this.location);
    }
  }

  /** The audit rows in order, for `audit verify`. */
  async auditRows(): Promise<PgAuditRow[]> {
    try {
      const { rows } = await this.pool.query<{ seq: string; time: string; station: string; device_id: string; block: string; action: string;
        from_state: string | null; to_state: string | null; detail: string | null; prev: Buffer; hash: Buffer }>('SELECT * FROM efa_escrow_audit ORDER BY seq');
      return rows.map((r) => ({
        seq: Number(r.seq), time: r.time, station: r.station, deviceId: r.device_id, block: r.block, action: r.action,
        fromState: r.from_state, toState: r.to_state, detail: r.detail, prev: new Uint8Array(r.prev), hash: new Uint8Array(r.hash),
      }));
    } catch (err) {
      throw dbError(err, 'read the audit', this.location);
    }
  }

  // ---- internals ----

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  private async advance(c: pg.PoolClient, r: Omit<EscrowRecord, 'key'>, state: EscrowState, updatedAt: string): Promise<void> {
    await c.query('UPDATE efa_escrow SET state = $3, updated_at = $4 WHERE device_id = $1 AND block = $2', [r.deviceId, r.block, state, updatedAt]);
    await this.audit(c, r.deviceId, r.block, 'state', r.state, state);
  }

  /** Appends one hash-chained audit row inside the caller's transaction. */
  private async audit(c: pg.PoolClient, deviceId: string, block: string, action: string, from: string | null, to: string | null, detail: string | null = null): Promise<void> {
    await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_AUDIT]);
    const { rows } = await c.query<{ seq: string; hash: Buffer }>('SELECT seq, hash FROM efa_escrow_audit ORDER BY seq DESC LIMIT 1');
    const prev = rows[0] ? new Uint8Array(rows[0].hash) : GENESIS;
    const row = { seq: rows[0] ? Number(rows[0].seq) + 1 : 1, time: new Date().toISOString(), station: this.station, deviceId, block, action, fromState: from, toState: to, detail };
    const hash = auditRowHash(prev, row);
    await c.query(
      'INSERT INTO efa_escrow_audit (seq, time, station, device_id, block, action, from_state, to_state, detail, prev, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)',
      [row.seq, row.time, row.station, deviceId, block, action, from, to, detail, Buffer.from(prev), Buffer.from(hash)]);
  }

  /** After a commit: a fresh read must return the key just stored. */
  private async readBack(incoming: EscrowRecord): Promise<void> {
    let back: EscrowRecord | undefined;
    try {
      back = await this.get(incoming.deviceId, incoming.block);
    } catch (err) {
      throw new EscrowError(`the escrow database ${this.location} took the record but does not read back (${(err as Error).message}); do not burn until this is resolved`, 'ESCROW_READBACK');
    }
    const same = back !== undefined && equalBytes(back.key, incoming.key);
    back?.key.fill(0);
    if (!same) throw new EscrowError(`the escrow database ${this.location} does not return the key just stored for device ${incoming.deviceId} ${incoming.block}; do not burn`, 'ESCROW_READBACK');
  }

  private sealedOf(r: Row): Sealed {
    return { kek: r.kek, wrappedKey: new Uint8Array(r.wrapped_key), ct: new Uint8Array(r.key_ct) };
  }

  private fields(r: Row): Omit<EscrowRecord, 'key'> {
    return {
      deviceId: r.device_id, chip: r.chip, block: r.block, purpose: r.purpose, state: r.state, createdAt: r.created_at, updatedAt: r.updated_at,
      ...(r.derivation ? { derivation: r.derivation } : {}),
    };
  }

  private async toRecord(r: Row): Promise<EscrowRecord> {
    const key = await unseal(this.kek, this.sealedOf(r), recordAad(r.device_id, r.block, r.chip), `the escrow record for device ${r.device_id} ${r.block}`);
    return checkRecord({ ...this.fields(r), key }, `the escrow record for device ${r.device_id} ${r.block}`);
  }
}

export function kekInfoJson(info: PassphraseKekInfo): unknown {
  return { kdf: info.kdf, salt: Buffer.from(info.salt).toString('hex'), check: Buffer.from(info.check).toString('hex') };
}

let boot: string | undefined;
function bootId(): string {
  if (boot === undefined) {
    try { boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { boot = ''; }
  }
  return boot;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
