// The schema of the PostgreSQL escrow (docs/provisioning.md §3.6) and the chain of its audit table
// (§5.1): what pg.ts creates on first use, and how `audit verify` checks the table. The triggers make
// the database keep the store's promises even against plain SQL: no key is replaced, no state moves
// back, no record is deleted, no audit row is changed.
import { createHash } from 'node:crypto';
import { equalBytes } from '../../protocol/index.js';

/** Serializes schema creation and audit appends across every station on the database. */
export const LOCK_SCHEMA = 0x45464131;
export const LOCK_AUDIT = 0x45464132;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS efa_kek (
  id text PRIMARY KEY,
  kind text NOT NULL,
  info jsonb NOT NULL,
  active boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS efa_escrow (
  device_id text NOT NULL CHECK (device_id ~ '^[0-9a-f]{12}$'),
  block text NOT NULL CHECK (block ~ '^BLOCK_KEY[0-5]$'),
  chip text NOT NULL,
  purpose text NOT NULL,
  state text NOT NULL CHECK (state IN ('escrowed', 'burned', 'verified')),
  kek text NOT NULL REFERENCES efa_kek (id),
  wrapped_key bytea NOT NULL,
  key_ct bytea NOT NULL,
  created_at text NOT NULL,
  updated_at text NOT NULL,
  derivation jsonb,
  PRIMARY KEY (device_id, block)
);
CREATE TABLE IF NOT EXISTS efa_escrow_audit (
  seq bigint PRIMARY KEY,
  time text NOT NULL,
  station text NOT NULL,
  device_id text NOT NULL,
  block text NOT NULL,
  action text NOT NULL,
  from_state text,
  to_state text,
  detail text,
  prev bytea NOT NULL,
  hash bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS efa_claim (
  device_id text NOT NULL,
  block text NOT NULL,
  station text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  boot text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (device_id, block)
);
CREATE OR REPLACE FUNCTION efa_escrow_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'escrow records are never deleted' USING ERRCODE = 'P0001';
  END IF;
  IF NEW.device_id <> OLD.device_id OR NEW.block <> OLD.block OR NEW.chip <> OLD.chip OR NEW.key_ct <> OLD.key_ct THEN
    RAISE EXCEPTION 'an escrowed key is never replaced' USING ERRCODE = 'P0001';
  END IF;
  IF array_position(ARRAY['escrowed','burned','verified'], NEW.state) < array_position(ARRAY['escrowed','burned','verified'], OLD.state) THEN
    RAISE EXCEPTION 'an escrow state only moves forward' USING ERRCODE = 'P0001';
  END IF;
  RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER efa_escrow_guard BEFORE UPDATE OR DELETE ON efa_escrow FOR EACH ROW EXECUTE FUNCTION efa_escrow_guard();
CREATE OR REPLACE FUNCTION efa_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the escrow audit is append-only' USING ERRCODE = 'P0001';
END $$;
CREATE OR REPLACE TRIGGER efa_audit_guard BEFORE UPDATE OR DELETE ON efa_escrow_audit FOR EACH ROW EXECUTE FUNCTION efa_audit_guard();
`;

/** One audit row of the table, as `audit verify` checks it. */
export interface PgAuditRow {
  seq: number; time: string; station: string; deviceId: string; block: string; action: string;
  fromState: string | null; toState: string | null; detail: string | null; prev: Uint8Array; hash: Uint8Array;
}

export const GENESIS = new Uint8Array(32);

/** hash = SHA-256(prev ‖ canonical JSON of the row without its hashes). */
export function auditRowHash(prev: Uint8Array, r: Omit<PgAuditRow, 'prev' | 'hash'>): Uint8Array {
  const body = JSON.stringify([r.seq, r.time, r.station, r.deviceId, r.block, r.action, r.fromState, r.toState, r.detail]);
  return new Uint8Array(createHash('sha256').update(prev).update(body, 'utf8').digest());
}

/** Checks the chain of the audit table: seq 1, 2, 3…, each prev the hash before, each hash its row's. */
export function verifyAuditRows(rows: PgAuditRow[]): { entries: number; head: string; ok: boolean; broken?: { seq: number; reason: string } } {
  let prev: Uint8Array = GENESIS;
  let entries = 0;
  for (const [i, r] of rows.entries()) {
    const fail = (reason: string) => ({ entries, head: Buffer.from(prev).toString('hex'), ok: false, broken: { seq: r.seq, reason } });
    if (r.seq !== i + 1) return fail(`expected entry ${i + 1} here (an entry was removed or inserted)`);
    if (!equalBytes(r.prev, prev)) return fail('its prev hash is not the hash of the entry before it');
    if (!equalBytes(r.hash, auditRowHash(prev, r))) return fail('its content does not match its hash (the entry was edited)');
    prev = r.hash;
    entries++;
  }
  return { entries, head: Buffer.from(prev).toString('hex'), ok: true };
}

